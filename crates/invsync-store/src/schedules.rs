//! Schedule state for the daemon: `sync_schedules`.
//!
//! Due times live in the database and are compared against the caller's clock reading,
//! which in production is the database's own clock ([`Db::now`], `time`), so daemons on hosts with
//! skewed clocks agree. A slot is claimed by one conditional `UPDATE` (compare-and-set on
//! `next_due_at`, and only while no other daemon holds the schedule's lease): when several
//! daemons race for a slot, exactly one statement matches.
//!
//! Times are stored at millisecond precision (SQLite keeps milliseconds), so a value read
//! back compares equal to the one written.

use crate::db::Db;
use crate::error::{Context, StoreError};
use crate::time::{Ts, truncate};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A `sync_schedules` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleRow {
    pub name: String,
    pub store: String,
    pub cadence: String,
    pub next_due_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_run_id: Option<i64>,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct RawSchedule {
    name: String,
    store: String,
    cadence: String,
    next_due_at: DateTime<Utc>,
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    last_run_id: Option<i64>,
    last_started_at: Option<DateTime<Utc>>,
    last_finished_at: Option<DateTime<Utc>>,
}

impl From<RawSchedule> for ScheduleRow {
    fn from(r: RawSchedule) -> Self {
        ScheduleRow {
            name: r.name,
            store: r.store,
            cadence: r.cadence,
            next_due_at: r.next_due_at,
            lease_owner: r.lease_owner,
            lease_until: r.lease_until,
            last_run_id: r.last_run_id,
            last_started_at: r.last_started_at,
            last_finished_at: r.last_finished_at,
        }
    }
}

impl Db {
    /// Every schedule row, by name.
    pub async fn list_schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        const SQL: &str = "SELECT name, store, cadence, next_due_at, lease_owner, lease_until, \
             last_run_id, last_started_at, last_finished_at FROM sync_schedules ORDER BY name";
        let rows: Vec<RawSchedule> =
            on_pool!(self, |pool| sqlx::query_as(SQL).fetch_all(pool).await)
                .context("list schedules")?;
        Ok(rows.into_iter().map(ScheduleRow::from).collect())
    }

    /// Adds a schedule that is not in the table yet (due at `next_due_at`); an existing row
    /// is left alone. Returns whether it was added.
    pub async fn insert_schedule(
        &self,
        name: &str,
        store: &str,
        cadence: &str,
        next_due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO sync_schedules (name, store, cadence, next_due_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING";
        let affected = on_pool!(self, |pool| sqlx::query(SQL)
            .bind(name)
            .bind(store)
            .bind(cadence)
            .bind(Ts(truncate(next_due_at)))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("add a schedule")?;
        Ok(affected > 0)
    }

    /// A schedule's store or cadence changed in the config: record it, with the due time
    /// recomputed for the new cadence.
    pub async fn update_schedule(
        &self,
        name: &str,
        store: &str,
        cadence: &str,
        next_due_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "UPDATE sync_schedules SET store = $2, cadence = $3, next_due_at = $4 WHERE name = $1";
        on_pool!(self, |pool| sqlx::query(SQL)
            .bind(name)
            .bind(store)
            .bind(cadence)
            .bind(Ts(truncate(next_due_at)))
            .execute(pool)
            .await
            .map(|_| ()))
        .context("update a schedule")
    }

    /// Removes schedules that are no longer configured (their run history stays).
    pub async fn delete_schedule(&self, name: &str) -> Result<bool, StoreError> {
        let affected = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM sync_schedules WHERE name = $1"
        )
        .bind(name)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("remove a schedule")?;
        Ok(affected > 0)
    }

    /// Claims the slot of `name` that was due at `seen_due`, in one statement: moves the
    /// due time to `next_due_at` and takes the lease until `lease_until`. Succeeds only if
    /// the slot is still due at `now`, nobody claimed it since it was read, and no live
    /// lease is held. Returns whether this caller won the slot.
    pub async fn claim_slot(
        &self,
        name: &str,
        seen_due: DateTime<Utc>,
        next_due_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE sync_schedules \
             SET next_due_at = $3, lease_owner = $4, lease_until = $6, last_started_at = $5, updated_at = $5 \
             WHERE name = $1 AND next_due_at = $2 AND next_due_at <= $5 \
               AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < $5)";
        let affected = on_pool!(self, |pool| sqlx::query(SQL)
            .bind(name)
            .bind(Ts(seen_due))
            .bind(Ts(truncate(next_due_at)))
            .bind(owner)
            .bind(Ts(truncate(now)))
            .bind(Ts(truncate(lease_until)))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("claim a schedule slot")?;
        Ok(affected > 0)
    }

    /// Extends the lease of a slot this owner holds. Returns false if it was lost.
    pub async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE sync_schedules SET lease_until = $3 WHERE name = $1 AND lease_owner = $2";
        let affected = on_pool!(self, |pool| sqlx::query(SQL)
            .bind(name)
            .bind(owner)
            .bind(Ts(truncate(lease_until)))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("renew a schedule lease")?;
        Ok(affected > 0)
    }

    /// Releases this owner's lease after its run: the schedule's next slot may now be
    /// claimed (immediately, if it fell due while the run was going).
    pub async fn release_slot(
        &self,
        name: &str,
        owner: &str,
        run_id: Option<i64>,
        finished_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE sync_schedules SET lease_owner = NULL, lease_until = NULL, \
             last_run_id = COALESCE($3, last_run_id), last_finished_at = $4, updated_at = $4 \
             WHERE name = $1 AND lease_owner = $2";
        on_pool!(self, |pool| sqlx::query(SQL)
            .bind(name)
            .bind(owner)
            .bind(run_id)
            .bind(Ts(truncate(finished_at)))
            .execute(pool)
            .await
            .map(|_| ()))
        .context("release a schedule slot")
    }
}
