//! OAuth tokens that rotate (`oauth_tokens`): QuickBooks Online replaces the refresh token
//! as it is used and revokes the old one, so the newest one must be stored, and two
//! processes must never refresh with the same one.
//!
//! The store keeps opaque, already-encrypted bytes (`sealed`): the connector encrypts with
//! the key from its config, so tokens never exist here in the clear and this crate needs
//! no key. What it provides is the lock: [`Db::with_locked_tokens`] runs a refresh while
//! holding the connection's row — `SELECT … FOR UPDATE` in a transaction on Postgres,
//! SQLite's single writer lock (`BEGIN IMMEDIATE`) on SQLite — and stores the new tokens
//! in that same transaction, so one refresh is in flight per connection across every
//! process on the database (reliability-research.md §5.2).

use crate::db::{Db, Pool};
use crate::error::{Context, StoreError};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a refresh waits for another process's refresh of the same connection. A
/// refresh is one HTTP call with its own timeout (well below this).
pub const TOKEN_LOCK_WAIT: Duration = Duration::from_secs(90);
const _: () = assert!(
    TOKEN_LOCK_WAIT.as_secs() == 90,
    "update the Postgres lock_timeout too"
);

/// `oauth_tokens.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    /// The platform refused the refresh token; an operator must connect again.
    NeedsReauth,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::NeedsReauth => "needs_reauth",
        }
    }

    fn parse(text: String) -> Result<TokenStatus, StoreError> {
        match text.as_str() {
            "active" => Ok(TokenStatus::Active),
            "needs_reauth" => Ok(TokenStatus::NeedsReauth),
            _ => Err(StoreError::Corrupt {
                column: "oauth_tokens.status",
                value: text,
            }),
        }
    }
}

/// An `oauth_tokens` row. `Debug` does not show `sealed` (it is encrypted, but there is no
/// reason to print it).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub connection: String,
    /// The tokens, encrypted by the connector; `None` when there are none.
    pub sealed: Option<Vec<u8>>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub status: TokenStatus,
    pub status_reason: Option<String>,
    /// Incremented by every write.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRow")
            .field("connection", &self.connection)
            .field("sealed", &self.sealed.as_ref().map(|s| s.len()))
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("status", &self.status)
            .field("status_reason", &self.status_reason)
            .field("version", &self.version)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// What to store for a connection (the whole row but its key and bookkeeping).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenWrite {
    pub sealed: Option<Vec<u8>>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub status: TokenStatus,
    pub status_reason: Option<String>,
}

impl std::fmt::Debug for TokenWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenWrite")
            .field("sealed", &self.sealed.as_ref().map(|s| s.len()))
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What a locked update decided: keep the row as it is, or write new contents.
#[derive(Debug)]
pub enum TokenDecision<T> {
    Keep(T),
    Write(TokenWrite, T),
}

#[derive(sqlx::FromRow)]
struct RawToken {
    connection: String,
    sealed: Option<Vec<u8>>,
    access_expires_at: Option<DateTime<Utc>>,
    refresh_expires_at: Option<DateTime<Utc>>,
    status: String,
    status_reason: Option<String>,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl RawToken {
    /// `None` for a row that holds nothing yet (created by a lock, never written).
    fn check(self) -> Result<Option<TokenRow>, StoreError> {
        if self.version == 0 {
            return Ok(None);
        }
        Ok(Some(TokenRow {
            connection: self.connection,
            sealed: self.sealed,
            access_expires_at: self.access_expires_at,
            refresh_expires_at: self.refresh_expires_at,
            status: TokenStatus::parse(self.status)?,
            status_reason: self.status_reason,
            version: self.version,
            updated_at: self.updated_at,
        }))
    }
}

/// The columns of [`RawToken`], for every `SELECT`.
macro_rules! token_columns {
    () => {
        "connection, sealed, access_expires_at, refresh_expires_at, status, status_reason, \
         version, updated_at"
    };
}

/// SQLite timestamps: the one sortable text format of the schema.
fn sqlite_time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

impl Db {
    /// The stored tokens of a connection, without locking. `None` when none were ever
    /// stored.
    pub async fn load_tokens(&self, connection: &str) -> Result<Option<TokenRow>, StoreError> {
        let raw: Option<RawToken> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                token_columns!(),
                " FROM oauth_tokens WHERE connection = $1"
            ))
            .bind(connection)
            .fetch_optional(pool)
            .await
        })
        .context("read stored tokens")?;
        Ok(match raw {
            Some(raw) => raw.check()?,
            None => None,
        })
    }

    /// Runs `update` with the connection's row locked against every other process using
    /// this database, and stores what it decides in the same transaction.
    ///
    /// `update` gets the current row (`None` when nothing is stored yet) and may take a
    /// while (an HTTP call to a token endpoint): others wait up to [`TOKEN_LOCK_WAIT`].
    /// When it returns `Err`, nothing is written and the error is handed back inside
    /// `Ok(Err(…))`; `Err(StoreError)` means the database failed (if that happens after
    /// `update` obtained new tokens, they are lost: the caller should say so).
    pub async fn with_locked_tokens<T, E, F, Fut>(
        &self,
        connection: &str,
        update: F,
    ) -> Result<Result<T, E>, StoreError>
    where
        F: FnOnce(Option<TokenRow>) -> Fut + Send,
        Fut: Future<Output = Result<TokenDecision<T>, E>> + Send,
        T: Send,
        E: Send,
    {
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = crate::db::begin(pool, None)
                    .await
                    .context("lock stored tokens")?;
                // Bounded waits: a process stuck while holding the row must not hang
                // every other one forever.
                // (TOKEN_LOCK_WAIT, written out: SET takes no parameters.)
                sqlx::query("SET LOCAL lock_timeout = '90s'")
                    .execute(&mut *tx)
                    .await
                    .context("lock stored tokens")?;
                // Make sure there is a row to lock: a first refresh by two processes at
                // once must serialise too. The second insert waits for the first one's
                // transaction, then does nothing.
                sqlx::query(
                    "INSERT INTO oauth_tokens (connection) VALUES ($1) \
                     ON CONFLICT (connection) DO NOTHING",
                )
                .bind(connection)
                .execute(&mut *tx)
                .await
                .context("lock stored tokens")?;
                let raw: RawToken = sqlx::query_as(concat!(
                    "SELECT ",
                    token_columns!(),
                    " FROM oauth_tokens WHERE connection = $1 FOR UPDATE"
                ))
                .bind(connection)
                .fetch_one(&mut *tx)
                .await
                .context("lock stored tokens")?;
                let decision = match update(raw.check()?).await {
                    Ok(d) => d,
                    Err(e) => {
                        tx.rollback().await.context("release stored tokens")?;
                        return Ok(Err(e));
                    }
                };
                let value = match decision {
                    TokenDecision::Keep(value) => value,
                    TokenDecision::Write(write, value) => {
                        sqlx::query(
                            "UPDATE oauth_tokens SET sealed = $2, access_expires_at = $3, \
                               refresh_expires_at = $4, status = $5, status_reason = $6, \
                               version = version + 1, updated_at = now() \
                             WHERE connection = $1",
                        )
                        .bind(connection)
                        .bind(write.sealed.as_deref())
                        .bind(write.access_expires_at)
                        .bind(write.refresh_expires_at)
                        .bind(write.status.as_str())
                        .bind(write.status_reason.as_deref())
                        .execute(&mut *tx)
                        .await
                        .context("store tokens")?;
                        value
                    }
                };
                tx.commit().await.context("store tokens")?;
                Ok(Ok(value))
            }
            Pool::Sqlite(pool) => {
                // BEGIN IMMEDIATE takes SQLite's write lock now (a deferred BEGIN would
                // take it only at the first write, after two processes had both read
                // the same old token). The busy timeout bounds each attempt; keep
                // trying up to TOKEN_LOCK_WAIT.
                let started = Instant::now();
                let mut tx = loop {
                    match crate::db::begin(pool, Some("BEGIN IMMEDIATE")).await {
                        Ok(tx) => break tx,
                        Err(e) if is_sqlite_busy(&e) && started.elapsed() < TOKEN_LOCK_WAIT => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => {
                            return Err(StoreError::Database {
                                op: "lock stored tokens",
                                source: e,
                            });
                        }
                    }
                };
                let raw: Option<RawToken> = sqlx::query_as(concat!(
                    "SELECT ",
                    token_columns!(),
                    " FROM oauth_tokens WHERE connection = $1"
                ))
                .bind(connection)
                .fetch_optional(&mut *tx)
                .await
                .context("lock stored tokens")?;
                let current = match raw {
                    Some(raw) => raw.check()?,
                    None => None,
                };
                let decision = match update(current).await {
                    Ok(d) => d,
                    Err(e) => {
                        tx.rollback().await.context("release stored tokens")?;
                        return Ok(Err(e));
                    }
                };
                let value = match decision {
                    TokenDecision::Keep(value) => value,
                    TokenDecision::Write(write, value) => {
                        sqlx::query(
                            "INSERT INTO oauth_tokens (connection, sealed, access_expires_at, \
                               refresh_expires_at, status, status_reason, version, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
                             ON CONFLICT (connection) DO UPDATE SET sealed = excluded.sealed, \
                               access_expires_at = excluded.access_expires_at, \
                               refresh_expires_at = excluded.refresh_expires_at, \
                               status = excluded.status, status_reason = excluded.status_reason, \
                               version = oauth_tokens.version + 1, updated_at = excluded.updated_at",
                        )
                        .bind(connection)
                        .bind(write.sealed.as_deref())
                        .bind(sqlite_time(write.access_expires_at))
                        .bind(sqlite_time(write.refresh_expires_at))
                        .bind(write.status.as_str())
                        .bind(write.status_reason.as_deref())
                        .execute(&mut *tx)
                        .await
                        .context("store tokens")?;
                        value
                    }
                };
                tx.commit().await.context("store tokens")?;
                Ok(Ok(value))
            }
        }
    }
}

/// SQLITE_BUSY ("database is locked"): another connection holds the write lock.
fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c == "5" || c == "517") || db.message().contains("locked")
        }
        _ => false,
    }
}
