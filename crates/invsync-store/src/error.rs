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

    /// A query failed; `op` says what the store was doing.
    #[error("database error while trying to {op}")]
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

/// Attaches "what were we doing" to driver errors.
pub(crate) trait Context<T> {
    fn context(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { op, source })
    }
}
