//! The QuickBooks Web Connector's company files (`web_connector_files`, migration 0011;
//! docs/adr/0080): the `.qwc`'s stable OwnerID and FileID, and the lease that allows one
//! Web Connector session per company file across every daemon sharing the database.
//! Times are the database's clock, like the schedules' leases.

use crate::db::Db;
use crate::error::{Context, StoreError};
use crate::time::{Ts, truncate};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// A `web_connector_files` row as operators see it (the ticket hash stays inside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WebConnectorFileRow {
    pub company: String,
    pub owner_id: String,
    pub file_id: String,
    pub session_owner: Option<String>,
    pub session_started_at: Option<DateTime<Utc>>,
    pub session_expires_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub sessions: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// A GUID in braces, upper case, as `.qwc` files carry them: `{6F1E…-…}`.
fn guid() -> String {
    let v = rand::random::<u128>().to_be_bytes();
    let hex: String = v.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

impl Db {
    /// The company file's row, made the first time (with new random OwnerID and FileID —
    /// concurrent callers agree on one pair: the first insert wins).
    pub async fn web_connector_file(
        &self,
        company: &str,
    ) -> Result<WebConnectorFileRow, StoreError> {
        let (owner_id, file_id) = (guid(), guid());
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO web_connector_files (company, owner_id, file_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (company) DO NOTHING",
            )
            .bind(company)
            .bind(&owner_id)
            .bind(&file_id)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .context("record a Web Connector company file")?;
        self.find_web_connector_file(company)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
            .context("read the Web Connector company file just recorded")
    }

    /// The company file's row, if it was ever recorded.
    pub async fn find_web_connector_file(
        &self,
        company: &str,
    ) -> Result<Option<WebConnectorFileRow>, StoreError> {
        const SQL: &str = "SELECT company, owner_id, file_id, session_owner, session_started_at, \
             session_expires_at, last_seen_at, sessions, last_error, last_error_at \
             FROM web_connector_files WHERE company = $1";
        on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(company)
            .fetch_optional(pool)
            .await)
        .context("read a Web Connector company file")
    }

    /// Takes the company file's session lease for `ticket_hash` when no session holds it or
    /// the one that did has expired. False: another session (of this daemon or another)
    /// holds it — the Web Connector is told `busy`.
    pub async fn claim_web_connector_session(
        &self,
        company: &str,
        ticket_hash: &str,
        owner: &str,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        self.web_connector_file(company).await?;
        let now = self.now().await?;
        const SQL: &str = "UPDATE web_connector_files \
             SET session_ticket_hash = $2, session_owner = $3, session_started_at = $4, \
                 session_expires_at = $5, last_seen_at = $4, sessions = sessions + 1 \
             WHERE company = $1 \
               AND (session_ticket_hash IS NULL OR session_expires_at IS NULL OR session_expires_at < $4)";
        let affected = on_pool!(self, |pool| sqlx::query(SQL)
            .bind(company)
            .bind(ticket_hash)
            .bind(owner)
            .bind(Ts(now))
            .bind(Ts(truncate(later(now, timeout))))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("claim a Web Connector session")?;
        Ok(affected > 0)
    }

    /// Frees the company file's lease when the daemon holding it was a process of this host
    /// that is gone (a crash, `kill -9`, a restart before the session ended): its session
    /// cannot go on, and waiting out `session_timeout` would keep QuickBooks unsynced for
    /// nothing. The holder is named `host:pid:start marker` (as schedule leases are); a
    /// holder on another host, or one whose liveness cannot be told, keeps its lease until
    /// it expires. True when a lease was freed.
    pub async fn release_dead_web_connector_session(
        &self,
        company: &str,
    ) -> Result<bool, StoreError> {
        let Some(row) = self.find_web_connector_file(company).await? else {
            return Ok(false);
        };
        let Some(owner) = row.session_owner else {
            return Ok(false);
        };
        let mut parts = owner.splitn(3, ':');
        let (Some(host), Some(pid), marker) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(false);
        };
        let Ok(pid) = pid.parse::<u32>() else {
            return Ok(false);
        };
        if host != crate::ProcessIdentity::current().host
            || crate::process::liveness(pid, marker.unwrap_or("")) != crate::process::Liveness::Dead
        {
            return Ok(false);
        }
        const SQL: &str = "UPDATE web_connector_files \
             SET session_ticket_hash = NULL, session_owner = NULL, session_expires_at = NULL \
             WHERE company = $1 AND session_owner = $2";
        let affected = on_pool!(self, |pool| sqlx::query(SQL)
            .bind(company)
            .bind(&owner)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("free a dead daemon's Web Connector session")?;
        Ok(affected > 0)
    }

    /// Moves the session's expiry on after a call (and `last_seen_at`). False: the lease
    /// is no longer this session's (it expired and another session took it).
    pub async fn touch_web_connector_session(
        &self,
        company: &str,
        ticket_hash: &str,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.now().await?;
        const SQL: &str = "UPDATE web_connector_files \
             SET session_expires_at = $3, last_seen_at = $4 \
             WHERE company = $1 AND session_ticket_hash = $2";
        let affected = on_pool!(self, |pool| sqlx::query(SQL)
            .bind(company)
            .bind(ticket_hash)
            .bind(Ts(truncate(later(now, timeout))))
            .bind(Ts(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("renew a Web Connector session")?;
        Ok(affected > 0)
    }

    /// Ends the session holding the lease with `ticket_hash` (if it still does), recording
    /// `error` — why it ended badly — when there is one.
    pub async fn end_web_connector_session(
        &self,
        company: &str,
        ticket_hash: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = self.now().await?;
        const SQL: &str = "UPDATE web_connector_files \
             SET session_ticket_hash = NULL, session_owner = NULL, session_expires_at = NULL, \
                 last_seen_at = $3, \
                 last_error = COALESCE($4, last_error), \
                 last_error_at = CASE WHEN $4 IS NULL THEN last_error_at ELSE $3 END \
             WHERE company = $1 AND session_ticket_hash = $2";
        on_pool!(self, |pool| sqlx::query(SQL)
            .bind(company)
            .bind(ticket_hash)
            .bind(Ts(now))
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ()))
        .context("end a Web Connector session")
    }
}
