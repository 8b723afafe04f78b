//! The one error type of this crate.

use invsync_core::RunStatus;
use std::path::PathBuf;

/// Everything that can go wrong in the store. Messages never contain a database password:
/// URLs are shown through [`crate::redact_url`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no backend this build supports.
    #[error("unsupported database URL `{url}`: use postgres://, postgresql:// or sqlite://")]
    UnsupportedUrl { url: String },

    /// The directory that should hold the SQLite file could not be created.
    #[error("cannot create the directory {} for the SQLite database", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Connecting (or parsing the URL) failed. The cause is kept as text with any
    /// password scrubbed, rather than as the driver's error, so that neither `Display`
    /// nor `Debug` can ever leak a secret.
    #[error("cannot connect to the database at {url}: {reason}")]
    Connect { url: String, reason: String },

    /// Applying or inspecting migrations failed (for example an applied migration was
    /// edited, which changes its checksum).
    #[error("database migrations failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),

    /// A query failed; `op` says what the store was doing. The message says which kind
    /// of failure it was ([`StoreError::failure`]).
    #[error("{} while trying to {op}", Failure::of_query(source).what())]
    Database {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// The store already has a run in progress; at most one may run per store.
    #[error("store `{store}` already has a run in progress (run {run_id})")]
    RunInProgress { store: String, run_id: i64 },

    /// Items were recorded for a run id that does not exist.
    #[error("run {run_id} does not exist")]
    RunNotFound { run_id: i64 },

    /// `finish_run` was asked to finish a run as `running`.
    #[error("a run cannot finish with status `{status}`")]
    NotFinal { status: RunStatus },

    /// A run must name at least one field to sync.
    #[error("a run must update at least one field (price and/or quantity)")]
    NoFields,

    /// A mapping's SKU is empty once trimmed; such a SKU can never match.
    #[error("the {what} is empty")]
    EmptySku { what: &'static str },

    /// A row holds a value this version does not know, e.g. a status added by a newer
    /// invsync that wrote to the same database.
    #[error(
        "{column} holds `{value}`, which this version of invsync does not understand \
         (was the database written by a newer version?)"
    )]
    Corrupt { column: &'static str, value: String },
}

/// What a failed database operation means for the caller: whether waiting can help, and
/// what to tell the operator. An unreachable database comes back; a refused value is
/// refused again, however often it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database could not be reached or went away mid-statement (a connection error,
    /// a pool timeout, a server shutting down): retrying later may succeed.
    Unreachable,
    /// The database refused a value: a data error (Postgres SQLSTATE class 22, e.g. 22021
    /// `invalid byte sequence`, a NUL byte in text) or a constraint (class 23; SQLite
    /// `CONSTRAINT`, `TOOBIG`, `MISMATCH`). Sending the same value again fails again.
    Refused,
    /// The database is reachable but cannot take writes: a full disk (Postgres 53100,
    /// SQLite `FULL`), a read-only database (Postgres 25006, SQLite `READONLY`) or a disk
    /// I/O error (SQLite `IOERR`). It needs an operator, not a retry in a second.
    Unwritable,
    /// Anything else (a bug, a missing run, a corrupt row).
    Other,
}

impl Failure {
    /// Classifies a driver error.
    pub fn of_query(e: &sqlx::Error) -> Failure {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Failure::Unreachable,
            sqlx::Error::Database(db) => match db.code() {
                // A database that does not take connections for now
                // (`ALLOW_CONNECTIONS false`, Postgres answers 55000 at login).
                Some(code) if code == "55000" && db.message().contains("accepting connections") => {
                    Failure::Unreachable
                }
                Some(code)
                    if db
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .is_some() =>
                {
                    postgres_failure(&code)
                }
                Some(code) => sqlite_failure(code.parse().unwrap_or(-1)),
                None => Failure::Other,
            },
            _ => Failure::Other,
        }
    }

    /// A few words for messages: "the database refused a value", ….
    pub fn what(self) -> &'static str {
        match self {
            Failure::Unreachable => "the database is unreachable",
            Failure::Refused => "the database refused a value",
            Failure::Unwritable => "the database cannot be written",
            Failure::Other => "database error",
        }
    }
}

/// Postgres SQLSTATE classes (Appendix A of the Postgres manual).
fn postgres_failure(sqlstate: &str) -> Failure {
    match sqlstate {
        "53100" | "25006" => Failure::Unwritable,
        // Admin shutdown, crash shutdown, cannot connect now; too many connections.
        "57P01" | "57P02" | "57P03" | "53300" => Failure::Unreachable,
        _ => match sqlstate.get(..2) {
            Some("08") => Failure::Unreachable,
            Some("22" | "23") => Failure::Refused,
            _ => Failure::Other,
        },
    }
}

/// SQLite result codes (https://sqlite.org/rescode.html); sqlx reports the extended code,
/// whose low byte is the primary one.
fn sqlite_failure(code: i64) -> Failure {
    match code & 0xff {
        // BUSY, LOCKED (the busy timeout ran out), CANTOPEN.
        5 | 6 | 14 => Failure::Unreachable,
        // READONLY, IOERR, FULL.
        8 | 10 | 13 => Failure::Unwritable,
        // TOOBIG, CONSTRAINT, MISMATCH.
        18..=20 => Failure::Refused,
        _ => Failure::Other,
    }
}

impl StoreError {
    /// What this failure means for the caller (see [`Failure`]).
    pub fn failure(&self) -> Failure {
        match self {
            StoreError::Connect { .. } | StoreError::CreateDir { .. } => Failure::Unreachable,
            StoreError::Database { source, .. } => Failure::of_query(source),
            _ => Failure::Other,
        }
    }
}

/// Attaches "what were we doing" to driver errors.
pub(crate) trait Context<T> {
    fn context(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { op, source })
    }
}
