//! The engine: turns a sync request into a recorded run.
//!
//! One run, end to end ([`Engine::sync`], inside a `run` tracing span with `run.id`,
//! `store` and `trigger`, which every log line of the run carries — the connectors' too):
//! 1. refuse a request the rules forbid; settle what dead runs left, for at most the
//!    engine's recovery budget;
//! 2. write the `sync_runs` row (`running`) — before anything is opened or read, so even
//!    a connection that cannot be opened or a failed read is on record — and keep its
//!    heartbeat fresh while the run lasts;
//! 3. open each connection the run needs once (the accounting side, the store and, when
//!    quantity is synced, every other store) and hand it to every step: catalogs, every
//!    store's orders, posted-order lookups, re-plan and writes;
//! 4. read catalogs and open orders concurrently, load manual mappings;
//! 5. match, classify and plan with `invsync-core` (pure, off the async threads);
//! 6. write the planned changes through the connection in batches of its size, each on
//!    record as intents before it is sent and as items once answered; re-read, re-plan
//!    and write once more what came back stale;
//! 7. finalise the row with counts and status.
//!
//! A dry run takes the same path through steps 3–5 and records nothing.
//!
//! Modules, one concern each: `run` (the run's context and life, the one read-and-plan
//! path), `connections` (opened once per run), `snapshot` and `orders` (what a run reads),
//! `write` (batches), `replan` (stale writes), `record` (intents, items, heartbeat, the
//! final record), `report` (what [`Engine::sync`] returns), `recovery` (runs of processes
//! that are gone), `status` (`invsync status`), `watch` (the order watch: what changed
//! since its last pass, and the quantity-only push of those SKUs).

mod connections;
mod desktop_snapshots;
mod error;
mod orders;
mod progress;
mod record;
mod recovery;
mod replan;
mod report;
mod run;
mod snapshot;
mod status;
mod token_vault;
mod watch;
mod write;

pub use desktop_snapshots::{DbSnapshots, snapshot_key};
pub use error::{EngineError, error_chain};
pub use orders::UnreadOrders;
pub use progress::{NoProgress, Progress};
pub use record::PendingRecord;
pub use recovery::{Recovered, recover_dead_runs};
pub use report::{ReportedChange, ReportedSkip, RunReport};
pub use status::{StatusReport, StatusRow, UnknownOrders, UnreadableRow};
pub use token_vault::DbTokenVault;
pub use watch::{ACCOUNTING_BASELINE, OrderWatch, WatchBaseline};

use invsync_config::{Config, ConnectionConfig, ScheduleConfig};
use invsync_connectors::{Connection, ConnectorError, OpenContext};
use invsync_core::{FieldSet, Selection, Side, Trigger};
use invsync_store::{Db, ProcessIdentity};
use run::Run;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// How often a running run refreshes `heartbeat_at`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A `running` run whose heartbeat is older than this is taken to be dead.
pub const STALE_AFTER: Duration = Duration::from_secs(120);
/// How long [`Engine::sync`] (and so `invsync sync`, `invsync runs`) spends settling runs
/// that recovery marked `interrupted` before it goes on; the rest is settled by later
/// commands or the daemon's background recovery (issue 13, item 1).
pub const RECOVERY_BUDGET: Duration = Duration::from_secs(2);

/// A manual or scheduled sync of one store.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub store: String,
    /// The side that is wrong and gets updated.
    pub update: Side,
    pub fields: FieldSet,
    pub selection: Selection,
    /// Plan and report, write nothing, record nothing.
    pub dry_run: bool,
    pub trigger: Trigger,
    /// The schedule's name for scheduled runs.
    pub schedule: Option<String>,
    /// The slot a scheduled run was due at.
    pub scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
}

impl SyncRequest {
    /// What a schedule syncs — its store, side and fields, every product — as a real run
    /// started by `trigger`: the daemon's slots (with the slot's due time) and the web
    /// page's **Run now** (without one) run the same request.
    pub fn of_schedule(
        schedule: &ScheduleConfig,
        trigger: Trigger,
        scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
    ) -> SyncRequest {
        SyncRequest {
            store: schedule.store.clone(),
            update: schedule.update,
            fields: schedule.fields,
            selection: Selection::All,
            dry_run: false,
            trigger,
            schedule: Some(schedule.name.clone()),
            scheduled_for,
        }
    }
}

/// Opens a connection by name and config. The default is [`invsync_connectors::open`];
/// tests and the simulation (`invsync-sim`) substitute their own connections.
pub type Opener = Arc<
    dyn Fn(&str, &ConnectionConfig, &OpenContext) -> Result<Box<dyn Connection>, ConnectorError>
        + Send
        + Sync,
>;

/// Runs syncs against one configuration and one run-history database.
pub struct Engine {
    config: Arc<Config>,
    db: Db,
    me: ProcessIdentity,
    opener: Opener,
    open_context: OpenContext,
    /// How long [`Engine::sync`] settles runs pending recovery before it starts.
    recovery_budget: Duration,
    /// The order watch's accounting baseline as last loaded or saved (ADR 0102): reused
    /// while the database's version of it is the same, so a quiet pass does not parse
    /// every kept record again.
    watch_baseline: Arc<WatchBaseline>,
}

impl Engine {
    pub fn new(config: Arc<Config>, db: Db) -> Engine {
        // Connections with rotating OAuth tokens keep them in this database.
        let vault = Arc::new(DbTokenVault::new(db.clone()));
        let mut open_context = OpenContext::new().with_token_vault(vault);
        // QuickBooks Desktop or POS: the daemon's bridge, which serves Web Connector
        // sessions, or (the CLI) one that only reads the kept snapshot (ADR 0080 §5).
        if let Some((company, dialect, max_age)) =
            invsync_connectors::web_connector_side(&config.accounting)
        {
            use invsync_connectors::quickbooks_desktop::Bridge;
            let bridge = Bridge::registered(&company).unwrap_or_else(|| {
                Bridge::new(
                    company.clone(),
                    dialect,
                    Arc::new(DbSnapshots::new(db.clone())),
                    max_age,
                    false,
                )
            });
            open_context = open_context.with_web_connector(bridge);
        }
        Engine {
            config,
            db,
            me: ProcessIdentity::current(),
            opener: Arc::new(invsync_connectors::open),
            open_context,
            recovery_budget: RECOVERY_BUDGET,
            watch_baseline: Arc::default(),
        }
    }

    /// Sets how long [`Engine::sync`] settles runs pending recovery before it starts: the
    /// daemon, which settles them in the background, passes zero (marking dead runs
    /// `interrupted` still happens, so the store is free to run).
    pub fn with_recovery_budget(mut self, budget: Duration) -> Engine {
        self.recovery_budget = budget;
        self
    }

    /// Connections of kind `quickbooks-desktop` go through this company file's bridge
    /// (ADR 0080): the daemon's serves Web Connector sessions, the CLI's only reads the
    /// kept snapshot.
    pub fn with_web_connector(
        mut self,
        bridge: Arc<invsync_connectors::quickbooks_desktop::Bridge>,
    ) -> Engine {
        self.open_context = self.open_context.with_web_connector(bridge);
        self
    }

    /// Replaces how connections are opened (fault injection in tests, the simulation's
    /// platforms).
    pub fn with_opener(mut self, opener: Opener) -> Engine {
        self.opener = opener;
        self
    }

    /// Opens a connection the way this engine does (its opener, its context).
    pub(crate) fn open(
        &self,
        name: &str,
        config: &ConnectionConfig,
    ) -> Result<Box<dyn Connection>, ConnectorError> {
        (self.opener)(name, config, &self.open_context)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Marks runs left `running` by dead processes as `interrupted`, then settles runs
    /// pending recovery for at most `budget` ([`recover_dead_runs`]). What is left is
    /// settled by the next recovery; [`Recovered::pending`] names those runs.
    pub async fn recover(&self, budget: Duration) -> Result<Recovered, EngineError> {
        let deadline = tokio::time::Instant::now() + budget;
        Ok(recover_dead_runs(&self.db, &self.me, || {
            tokio::time::Instant::now() >= deadline
        })
        .await?)
    }

    /// Runs one sync. `cancel` stops it between write batches; the run then ends
    /// `interrupted`. Errors that happen once the run row exists are recorded in it and
    /// returned inside the report, not as `Err`.
    pub async fn sync(
        &self,
        request: &SyncRequest,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<RunReport, EngineError> {
        // `run.id` is filled in once the run's row exists (never, for a dry run).
        let span = tracing::info_span!(
            "run",
            run.id = tracing::field::Empty,
            store = %request.store,
            trigger = request.trigger.as_str(),
        );
        async {
            let run = Run::new(self, request, progress, cancel)?;
            if request.dry_run {
                run.dry().await
            } else {
                run.recorded().await
            }
        }
        .instrument(span)
        .await
    }

    /// Writes a run's outcome (and any item rows still waiting) to the run history. Used
    /// at the end of every run, and by callers retrying an [`RunReport::unrecorded`]
    /// record once the database is back. A run that a rescuer marked `interrupted` while
    /// the database was away gets its real outcome.
    pub async fn record_late(&self, pending: &mut PendingRecord) -> Result<(), EngineError> {
        record::record_late(&self.db, pending).await
    }

    /// The per-product status table of one store (`invsync status`).
    pub async fn status(&self, store: &str) -> Result<StatusReport, EngineError> {
        status::status(self, store).await
    }
}
