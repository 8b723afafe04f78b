//! Connecting, pools and migrations.

use crate::error::{Context, StoreError};
use crate::redact::{redact_url, scrub};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a SQLite connection waits for another writer before giving up with "database
/// is locked". A daemon and a CLI command may write at the same time; waits are short.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Production, and the only choice for several daemons sharing one database.
    Postgres,
    /// The embedded default: one file, no server.
    Sqlite,
}

impl Backend {
    /// The backend a URL names by its scheme, if any.
    pub fn from_url(url: &str) -> Option<Backend> {
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())?;
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "sqlite" => Some(Backend::Sqlite),
            _ => None,
        }
    }

    /// `postgres` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pool limits. Explicit timeouts, so an unreachable database fails a command or a run
/// instead of hanging it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Upper bound of open connections.
    pub max_connections: u32,
    /// How long to wait for a connection (including establishing a new one).
    pub connect_timeout: Duration,
}

impl Default for PoolOptions {
    /// Ten connections and a 10 s timeout: enough for a daemon running a few stores at
    /// once, small enough to share a Postgres server.
    fn default() -> Self {
        PoolOptions {
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The concrete pool behind a [`Db`].
#[derive(Clone)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A connection pool to the run-history database, Postgres or SQLite. Cheap to clone
/// (clones share the pool).
#[derive(Clone)]
pub struct Db {
    pub(crate) pool: Pool,
    /// The URL with its password masked, for messages.
    url: Arc<str>,
}

impl fmt::Debug for Db {
    // Hand-written: the pools' own `Debug` prints their connect options, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend())
            .field("url", &self.url)
            .finish()
    }
}

impl Db {
    /// Opens a pool for `url`: `postgres://…`, `postgresql://…` or `sqlite://PATH`.
    ///
    /// For SQLite the file and its parent directories are created when missing, and every
    /// connection uses WAL (readers do not block the writer), `synchronous=NORMAL` (safe
    /// with WAL), a 5 s busy timeout and enforced foreign keys. Errors show the URL with
    /// its password masked.
    pub async fn connect(url: &str, opts: &PoolOptions) -> Result<Db, StoreError> {
        let redacted = redact_url(url);
        let Some(backend) = Backend::from_url(url) else {
            return Err(StoreError::UnsupportedUrl { url: redacted });
        };
        let connect_error = |e: sqlx::Error| StoreError::Connect {
            url: redacted.clone(),
            reason: scrub(&e.to_string(), url),
        };
        let pool = match backend {
            Backend::Postgres => {
                let mut options = PgConnectOptions::from_str(url)
                    .map_err(connect_error)?
                    .application_name("invsync");
                if let Some(user) = default_postgres_user(url) {
                    options = options.username(&user);
                }
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.connect_timeout)
                    .connect_with(options)
                    .await
                    .map_err(connect_error)?;
                Pool::Postgres(pool)
            }
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url).map_err(connect_error)?;
                if !is_sqlite_in_memory(url) {
                    create_parent_dir(options.get_filename()).await?;
                }
                let options = options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.connect_timeout)
                    .connect_with(options)
                    .await
                    .map_err(connect_error)?;
                Pool::Sqlite(pool)
            }
        };
        Ok(Db {
            pool,
            url: redacted.into(),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The database URL with its password masked: safe for logs and messages.
    pub fn redacted_url(&self) -> &str {
        &self.url
    }

    /// Closes every connection, waiting for those in use to be returned. Call it on
    /// shutdown so SQLite checkpoints its WAL and Postgres sees clean disconnects.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }

    /// Applies the embedded migrations that are not applied yet. Idempotent, and safe
    /// when several processes start at once (a daemon and `invsync runs`, say).
    /// Fails when an applied migration differs from the embedded one (edited after
    /// release: see `migrations/README.md`).
    ///
    /// On Postgres sqlx serializes migrators with an advisory lock. On SQLite its lock is
    /// a no-op, so two processes could both read "migration 1 not applied" and the second
    /// would fail with "table already exists". There the whole run, the read of the
    /// applied list included, happens inside one `BEGIN IMMEDIATE` transaction: SQLite's
    /// single writer lock makes the second process wait (busy timeout), then see the
    /// migrations applied. sqlx turns each migration's own transaction into a savepoint.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS
                .run(pool)
                .await
                .map_err(StoreError::Migrate),
            Pool::Sqlite(pool) => {
                let mut tx = begin(pool, Some("BEGIN IMMEDIATE"))
                    .await
                    .context("lock the database for migrating")?;
                SQLITE_MIGRATIONS
                    .run(&mut *tx)
                    .await
                    .map_err(StoreError::Migrate)?;
                tx.commit().await.context("commit the migrations")
            }
        }
    }

    /// How many embedded migrations are not applied yet, without changing anything, so
    /// the CLI can say "run `invsync migrate`" (or migrate itself) before it touches
    /// tables that may not exist.
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        let applied: HashSet<i64> = match &self.pool {
            Pool::Postgres(pool) => {
                let table = POSTGRES_MIGRATIONS.table_name.as_ref();
                let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                    .bind(table)
                    .fetch_one(pool)
                    .await
                    .context("look for the migrations table")?;
                let mut conn = pool.acquire().await.context("check applied migrations")?;
                applied_versions(exists, &mut *conn, table).await?
            }
            Pool::Sqlite(pool) => {
                let table = SQLITE_MIGRATIONS.table_name.as_ref();
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)",
                )
                .bind(table)
                .fetch_one(pool)
                .await
                .context("look for the migrations table")?;
                let mut conn = pool.acquire().await.context("check applied migrations")?;
                applied_versions(exists, &mut *conn, table).await?
            }
        };
        let migrator = match self.backend() {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        Ok(migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .count())
    }
}

async fn applied_versions(
    table_exists: bool,
    conn: &mut impl Migrate,
    table: &str,
) -> Result<HashSet<i64>, StoreError> {
    if !table_exists {
        return Ok(HashSet::new());
    }
    let applied = conn
        .list_applied_migrations(table)
        .await
        .map_err(StoreError::Migrate)?;
    Ok(applied.into_iter().map(|m| m.version).collect())
}

/// The user to connect as when the URL names none: like libpq (and `psql`), `$PGUSER`
/// or else the operating-system user. sqlx itself would fall back to `anonymous` in
/// this build (its `whoami` dependency is built without OS support), which breaks the
/// common `postgres:///invsync?host=/var/run/postgresql` peer-authenticated setup.
/// `None` means the URL's or sqlx's own choice stands.
fn default_postgres_user(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let named = !parsed.username().is_empty() || parsed.query_pairs().any(|(key, _)| key == "user");
    if named {
        return None;
    }
    match std::env::var("PGUSER") {
        Ok(user) if !user.is_empty() => Some(user),
        _ => whoami::username().ok().filter(|user| !user.is_empty()),
    }
}

/// `sqlite::memory:` and `mode=memory` databases have no file, hence no directory.
fn is_sqlite_in_memory(url: &str) -> bool {
    let rest = url.split_once(':').map_or("", |(_, rest)| rest);
    let path = rest.trim_start_matches("//");
    path.starts_with(":memory:") || url.contains("mode=memory")
}

async fn create_parent_dir(file: &std::path::Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })
        }
        _ => Ok(()),
    }
}

/// The id an `INSERT … RETURNING id` gave back, from all of its rows. Such a statement is
/// run with `fetch_all`, never `fetch_one`: on SQLite a statement outside a transaction
/// commits when it runs to its end, and `fetch_one` stops at the first row and leaves
/// sqlx to reset the statement, which ignores the error of that commit. On a full disk
/// (`SQLITE_FULL`) `start_run` so handed out the id of a run that was never written, the
/// run went on, and the CLI pointed at it (issue 13, item 9). `fetch_all` steps the
/// statement to its end, where the commit's error surfaces.
pub(crate) fn the_returned_id(ids: Vec<i64>) -> Result<i64, sqlx::Error> {
    ids.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

/// `pool.begin()` that a cancelled caller cannot leave half-done. sqlx counts a transaction
/// only once `BEGIN` has been answered; a future dropped in between (a run stopped while
/// it reads, a timeout) hands the connection back to the pool inside a server-side
/// transaction sqlx does not know about, and every later statement on it is silently
/// never committed — a finished run's row stays `running`. Running `BEGIN` on its own task
/// lets it complete; if nobody awaits the transaction any more, dropping it rolls back.
///
/// On SQLite every transaction here writes, so it begins `IMMEDIATE` unless told
/// otherwise: a deferred one that reads first and then writes cannot wait for another
/// writer that committed meanwhile (its snapshot is stale) and fails at once with
/// "database is locked", whatever the busy timeout. Two writers in one run (a store's
/// orders and its kept catalog, saved concurrently) showed it.
pub(crate) async fn begin<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    statement: Option<&'static str>,
) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
    let statement = statement.or_else(|| {
        (DB::NAME == <sqlx::Sqlite as sqlx::Database>::NAME).then_some("BEGIN IMMEDIATE")
    });
    let pool = pool.clone();
    tokio::spawn(async move {
        match statement {
            Some(statement) => pool.begin_with(statement).await,
            None => pool.begin().await,
        }
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("the task beginning a transaction failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        let cases = [
            ("postgres://u@h/db", Some(Backend::Postgres)),
            ("postgresql://u@h/db", Some(Backend::Postgres)),
            ("sqlite://var/invsync.db", Some(Backend::Sqlite)),
            ("sqlite::memory:", Some(Backend::Sqlite)),
            ("mysql://h/db", None),
            ("var/invsync.db", None),
        ];
        for (url, want) in cases {
            assert_eq!(Backend::from_url(url), want, "{url}");
        }
    }

    #[test]
    fn in_memory_sqlite_urls() {
        assert!(is_sqlite_in_memory("sqlite::memory:"));
        assert!(is_sqlite_in_memory("sqlite://:memory:"));
        assert!(is_sqlite_in_memory("sqlite://x.db?mode=memory"));
        assert!(!is_sqlite_in_memory("sqlite://var/invsync.db"));
    }
}
