//! invsync's database: run history (`sync_runs`, `sync_run_items`), manual mappings
//! (`mappings`), rotating OAuth tokens (`oauth_tokens`, encrypted by the connectors), the
//! installation id its idempotency keys start with (`installation`), the Web Connector's
//! company files and session leases (`web_connector_files`) and the migrations that create them, on **Postgres** (production; several
//! daemons may share one) or **SQLite** (the embedded default, one file).
//!
//! Operators read these tables directly with `psql`/`sqlite3` (product.md, "Run-history
//! contract"), so table and column names are part of the product, and both backends get
//! the same names. Everything goes through [`Db`], which hides which backend is in use.
//!
//! Queries are runtime `sqlx::query` calls with bound parameters (not the `query!` macros,
//! which would need a live database at compile time). Each query is written once per
//! backend where SQL differs (clocks, bulk inserts) and once for both where it does not,
//! and every one is tested against both real databases.
//!
//! Clocks: Postgres timestamps are `timestamptz` from the database's `now()`; SQLite
//! timestamps are UTC text `YYYY-MM-DDTHH:MM:SS.sssZ`, which sorts as it reads. In fleet
//! mode every daemon compares heartbeats against the one database clock, so skewed host
//! clocks cannot make a live run look stale.

/// Runs `$body` with `$pool` bound to the concrete pool of a [`Db`]. The body is compiled
/// once per backend, so one piece of code serves both. The second form also binds `$sql`
/// to the backend's variant of a statement.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Postgres($pool) => $body,
            $crate::db::Pool::Sqlite($pool) => $body,
        }
    };
    ($db:expr, pg: $pg:expr, sqlite: $sqlite:expr, |$pool:ident, $sql:ident| $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Postgres($pool) => {
                let $sql = $pg;
                $body
            }
            $crate::db::Pool::Sqlite($pool) => {
                let $sql = $sqlite;
                $body
            }
        }
    };
}

mod catalogs;
mod db;
mod error;
mod installation;
mod intents;
mod mappings;
mod order_watch;
mod orders;
mod process;
mod recovery;
mod redact;
mod runs;
mod schedules;
mod text;
mod time;
mod tokens;
mod web_connector;

pub use catalogs::{CatalogSaved, StoredCatalog};
pub use db::{Backend, Db, PoolOptions};
pub use error::{Failure, StoreError};
pub use intents::WriteIntent;
pub use invsync_core::Absent;
pub use mappings::MappingRow;
pub use order_watch::OrderChange;
pub use orders::{FeedApplied, OrderCursor, OrderFeed, OrderFilter, OrderRow};
pub use process::ProcessIdentity;
pub use recovery::{SETTLE_CHUNK, SettleStep};
pub use redact::redact_url;
pub use runs::{NewRun, NewRunItem, RunFilter, RunItemRow, RunRow};
pub use schedules::ScheduleRow;
pub use text::{storable, unstorable};
pub use time::truncate as truncate_timestamp;
pub use tokens::{TOKEN_LOCK_WAIT, TokenDecision, TokenRow, TokenStatus, TokenWrite};
pub use web_connector::WebConnectorFileRow;
