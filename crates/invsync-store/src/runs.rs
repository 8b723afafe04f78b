//! Run history: `sync_runs` and `sync_run_items`.
//!
//! Lifecycle of a run row: [`Db::start_run`] inserts it as `running` →
//! [`Db::heartbeat`] refreshes `heartbeat_at` while it works → [`Db::record_items`] appends
//! what it changed → [`Db::finish_run`] writes the outcome. If the process dies first,
//! [`Db::mark_interrupted`] (before every sync, and by the daemon every minute) marks the
//! row `interrupted`, so no run stays `running` forever (product.md).

use crate::db::{Db, Pool};
use crate::error::{Context, StoreError};
use crate::process::{Liveness, ProcessIdentity, liveness};
use crate::text::{storable, storable_opt};
use crate::time::{Ts, truncate};
use chrono::{DateTime, Utc};
use invsync_core::{Field, FieldSet, ItemOutcome, RunCounts, RunStatus, Side, Trigger};
use serde::Serialize;
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

/// A run about to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The schedule's name; `None` for a manual run.
    pub schedule: Option<String>,
    pub store: String,
    pub trigger: Trigger,
    /// The side that is updated.
    pub update_side: Side,
    /// The fields the run may update; at least one.
    pub fields: FieldSet,
    /// The process running it, so a crash can be told from a long run.
    pub owner: ProcessIdentity,
    /// The slot a scheduled run was due at; `None` for manual runs.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// One change a run made, failed to make, or skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRunItem {
    pub sku: String,
    pub field: Field,
    /// The value before, as text (`12.50`, `7`); `None` when the side had none.
    pub old_value: Option<String>,
    /// The value written (or that would have been).
    pub new_value: Option<String>,
    pub outcome: ItemOutcome,
    /// Why it failed or was skipped.
    pub error: Option<String>,
}

/// Which runs [`Db::list_runs`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this store's runs.
    pub store: Option<String>,
    /// At most this many (newest first); values below 1 return nothing.
    pub limit: i64,
}

impl Default for RunFilter {
    /// All stores, the 50 newest runs: one screen of `invsync runs`.
    fn default() -> Self {
        RunFilter {
            store: None,
            limit: 50,
        }
    }
}

/// A `sync_runs` row. Serialised as the JSON of `invsync runs --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub schedule: Option<String>,
    pub store: String,
    pub trigger: Trigger,
    pub update_side: Side,
    /// As stored: `price`, `quantity` or `price,quantity`.
    pub fields: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub error: Option<String>,
    pub heartbeat_at: DateTime<Utc>,
    pub owner_host: Option<String>,
    pub owner_pid: Option<u32>,
    /// The slot a scheduled run was due at; `None` for manual runs.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Recovery marked the run `interrupted` and is still settling it: its counts are not
    /// final yet (see [`Db::settle_step`]).
    pub recovery_pending: bool,
}

/// A `sync_run_items` row. Serialised as the JSON of `invsync runs show ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunItemRow {
    pub run_id: i64,
    pub sku: String,
    pub field: Field,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub outcome: ItemOutcome,
    pub error: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// Item rows per Postgres statement: each statement sends seven arrays of this length,
/// which keeps a message a few MB at most while needing few round trips.
const PG_ITEMS_PER_STATEMENT: usize = 10_000;

/// Bound parameters per item row on SQLite.
const SQLITE_PARAMS_PER_ITEM: usize = 7;

/// Item rows per SQLite statement. 999 is SQLite's historic default bind-parameter limit
/// (SQLITE_MAX_VARIABLE_NUMBER; newer builds allow 32766): staying under it works with
/// any build, and all statements of one call share one transaction, so this costs little.
const SQLITE_ITEMS_PER_STATEMENT: usize = 999 / SQLITE_PARAMS_PER_ITEM;
const _: () = assert!(SQLITE_ITEMS_PER_STATEMENT * SQLITE_PARAMS_PER_ITEM <= 999);

/// The columns of [`RawRun`], in one place for every `SELECT`.
macro_rules! run_columns {
    () => {
        "id, schedule, store, trigger, update_side, fields, started_at, finished_at, status, \
         checked, in_sync, updated, skipped_in_orders, skipped_base, unmapped, failed, \
         conflicts, skipped_other, error, heartbeat_at, owner_host, owner_pid, scheduled_for, \
         recovery_pending"
    };
}

/// A `sync_runs` row as the driver decodes it; checked into a [`RunRow`].
#[derive(sqlx::FromRow)]
struct RawRun {
    id: i64,
    schedule: Option<String>,
    store: String,
    trigger: String,
    update_side: String,
    fields: String,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    status: String,
    #[sqlx(flatten)]
    counts: RawCounts,
    error: Option<String>,
    heartbeat_at: DateTime<Utc>,
    owner_host: Option<String>,
    owner_pid: Option<i64>,
    scheduled_for: Option<DateTime<Utc>>,
    recovery_pending: bool,
}

impl RawRun {
    fn check(self) -> Result<RunRow, StoreError> {
        let owner_pid = match self.owner_pid {
            None => None,
            Some(pid) => Some(u32::try_from(pid).map_err(|_| StoreError::Corrupt {
                column: "sync_runs.owner_pid",
                value: pid.to_string(),
            })?),
        };
        Ok(RunRow {
            id: self.id,
            schedule: self.schedule,
            store: self.store,
            trigger: parse("sync_runs.trigger", self.trigger)?,
            update_side: parse("sync_runs.update_side", self.update_side)?,
            fields: self.fields,
            started_at: self.started_at,
            finished_at: self.finished_at,
            status: parse("sync_runs.status", self.status)?,
            counts: self.counts.into(),
            error: self.error,
            heartbeat_at: self.heartbeat_at,
            owner_host: self.owner_host,
            owner_pid,
            scheduled_for: self.scheduled_for,
            recovery_pending: self.recovery_pending,
        })
    }
}

/// The count columns of a `sync_runs` row as the driver decodes them.
#[derive(sqlx::FromRow)]
pub(crate) struct RawCounts {
    checked: i64,
    in_sync: i64,
    updated: i64,
    skipped_in_orders: i64,
    skipped_base: i64,
    unmapped: i64,
    failed: i64,
    conflicts: i64,
    skipped_other: i64,
}

impl From<RawCounts> for RunCounts {
    fn from(c: RawCounts) -> RunCounts {
        RunCounts {
            checked: c.checked,
            in_sync: c.in_sync,
            updated: c.updated,
            skipped_in_orders: c.skipped_in_orders,
            skipped_base: c.skipped_base,
            unmapped: c.unmapped,
            failed: c.failed,
            conflicts: c.conflicts,
            skipped_other: c.skipped_other,
        }
    }
}

/// A `sync_run_items` row as the driver decodes it.
#[derive(sqlx::FromRow)]
struct RawRunItem {
    run_id: i64,
    sku: String,
    field: String,
    old_value: Option<String>,
    new_value: Option<String>,
    outcome: String,
    error: Option<String>,
    recorded_at: DateTime<Utc>,
}

impl RawRunItem {
    fn check(self) -> Result<RunItemRow, StoreError> {
        Ok(RunItemRow {
            run_id: self.run_id,
            sku: self.sku,
            field: parse("sync_run_items.field", self.field)?,
            old_value: self.old_value,
            new_value: self.new_value,
            outcome: parse("sync_run_items.outcome", self.outcome)?,
            error: self.error,
            recorded_at: self.recorded_at,
        })
    }
}

fn parse<T: FromStr>(column: &'static str, value: String) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt { column, value })
}

/// A `running` row picked up by recovery.
#[derive(sqlx::FromRow)]
struct RunningOwner {
    id: i64,
    store: String,
    owner_pid: Option<i64>,
    owner_start: Option<String>,
}

/// A row marked `interrupted` by recovery.
#[derive(sqlx::FromRow)]
struct Marked {
    id: i64,
    store: String,
}

impl Db {
    /// Records the start of a run (`status = 'running'`, `started_at` and `heartbeat_at`
    /// from the database clock) and returns its id.
    ///
    /// At most one run per store may be `running` (a unique index enforces it, across
    /// daemons sharing a Postgres): when another one is, this fails with
    /// [`StoreError::RunInProgress`] naming it.
    pub async fn start_run(&self, run: &NewRun) -> Result<i64, StoreError> {
        if run.fields.is_empty() {
            return Err(StoreError::NoFields);
        }
        // The running run may finish between our failed insert and the lookup; then the
        // insert is simply tried again. A few rounds are plenty for that race.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let inserted: Result<i64, sqlx::Error> = on_pool!(self, |pool| {
                sqlx::query_scalar(
                    "INSERT INTO sync_runs \
                       (schedule, store, trigger, update_side, fields, owner_host, owner_pid, owner_start, scheduled_for) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(run.schedule.as_deref())
                .bind(&run.store)
                .bind(run.trigger.as_str())
                .bind(run.update_side.as_str())
                .bind(run.fields.to_list())
                .bind(&run.owner.host)
                .bind(i64::from(run.owner.pid))
                .bind(&run.owner.start_marker)
                .bind(run.scheduled_for.map(|t| Ts(truncate(t))))
                .fetch_all(pool)
                .await
                .and_then(crate::db::the_returned_id)
            });
            let error = match inserted {
                Ok(id) => return Ok(id),
                Err(e) => e,
            };
            let conflict = matches!(&error, sqlx::Error::Database(e) if e.is_unique_violation());
            if conflict && let Some(run_id) = self.running_run(&run.store).await? {
                let store = run.store.clone();
                return Err(StoreError::RunInProgress { store, run_id });
            }
            if !conflict || attempts >= 5 {
                return Err(StoreError::Database {
                    op: "start a run",
                    source: error,
                });
            }
        }
    }

    /// The id of the store's `running` run, if any.
    async fn running_run(&self, store: &str) -> Result<Option<i64>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM sync_runs WHERE store = $1 AND status = 'running'")
                .bind(store)
                .fetch_optional(pool)
                .await
        })
        .context("look up the running run")
    }

    /// Records a scheduled run that did not start (its store already had a run in
    /// progress): a finished `skipped` row with the reason, so the history has no gaps.
    pub async fn record_skipped_run(
        &self,
        run: &NewRun,
        scheduled_for: DateTime<Utc>,
        reason: &str,
    ) -> Result<i64, StoreError> {
        let fields = run.fields.to_list();
        let id: i64 = on_pool!(self,
            pg: "INSERT INTO sync_runs (schedule, store, trigger, update_side, fields, status, finished_at, error, owner_host, owner_pid, owner_start, scheduled_for) \
                 VALUES ($1, $2, $3, $4, $5, 'skipped', now(), $6, $7, $8, $9, $10) RETURNING id",
            sqlite: "INSERT INTO sync_runs (schedule, store, trigger, update_side, fields, status, finished_at, error, owner_host, owner_pid, owner_start, scheduled_for) \
                 VALUES ($1, $2, $3, $4, $5, 'skipped', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), $6, $7, $8, $9, $10) RETURNING id",
            |pool, sql| sqlx::query_scalar(sql)
                .bind(&run.schedule)
                .bind(&run.store)
                .bind(run.trigger.as_str())
                .bind(run.update_side.as_str())
                .bind(&fields)
                .bind(reason)
                .bind(&run.owner.host)
                .bind(i64::from(run.owner.pid))
                .bind(&run.owner.start_marker)
                .bind(Ts(truncate(scheduled_for)))
                .fetch_all(pool)
                .await
                .and_then(crate::db::the_returned_id)
        )
        .context("record a skipped run")?;
        Ok(id)
    }

    /// Refreshes the run's heartbeat, proving its owner is alive. Returns `false` when the
    /// run is no longer `running` (for example recovery marked it `interrupted` after a
    /// long stall): the caller should stop working on it.
    pub async fn heartbeat(&self, run_id: i64) -> Result<bool, StoreError> {
        let affected = on_pool!(self,
            pg: "UPDATE sync_runs SET heartbeat_at = now() WHERE id = $1 AND status = 'running'",
            sqlite: "UPDATE sync_runs SET heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                     WHERE id = $1 AND status = 'running'",
            |pool, sql| sqlx::query(sql).bind(run_id).execute(pool).await.map(|r| r.rows_affected())
        )
        .context("record a heartbeat")?;
        Ok(affected > 0)
    }

    /// Deletes a run that turned out to have nothing to do at all (every SKU it was asked
    /// for is on neither side): an empty run on record is noise. Only while it is still
    /// `running` and has no items; returns whether it was deleted.
    pub async fn discard_run(&self, run_id: i64) -> Result<bool, StoreError> {
        let affected = on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM sync_runs WHERE id = $1 AND status = 'running' \
                 AND NOT EXISTS (SELECT 1 FROM sync_run_items WHERE run_id = $1)",
            )
            .bind(run_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .context("discard a run with nothing to do")?;
        Ok(affected > 0)
    }

    /// Appends items to a run, in order, in one transaction (all or none). Fast enough
    /// for bulk runs: 100,000 items take a fraction of a second on Postgres.
    pub async fn record_items(&self, run_id: i64, items: &[NewRunItem]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let result = match &self.pool {
            Pool::Postgres(pool) => record_items_pg(pool, run_id, items).await,
            Pool::Sqlite(pool) => record_items_sqlite(pool, run_id, items).await,
        };
        match result {
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(StoreError::RunNotFound { run_id })
            }
            other => other.context("record run items"),
        }
    }

    /// Marks every run this process still has `running` as `interrupted` with `reason`
    /// (a daemon whose shutdown grace ran out), pending recovery (see
    /// [`Db::settle_step`]). Returns the ids marked.
    pub async fn interrupt_runs_of(
        &self,
        me: &ProcessIdentity,
        reason: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<Marked> = on_pool!(self,
            pg: "UPDATE sync_runs SET status = 'interrupted', finished_at = now(), error = $4, \
                   recovery_pending = TRUE \
                 WHERE status = 'running' AND owner_host = $1 AND owner_pid = $2 AND owner_start = $3 \
                 RETURNING id, store",
            sqlite: "UPDATE sync_runs SET status = 'interrupted', \
                   finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), error = $4, \
                   recovery_pending = TRUE \
                 WHERE status = 'running' AND owner_host = $1 AND owner_pid = $2 AND owner_start = $3 \
                 RETURNING id, store",
            |pool, sql| sqlx::query_as(sql)
                .bind(&me.host)
                .bind(i64::from(me.pid))
                .bind(&me.start_marker)
                .bind(reason)
                .fetch_all(pool)
                .await
        )
        .context("mark this process's runs as interrupted")?;
        // Their intents and counts are settled by `settle_step` (the caller's, or the next
        // recovery's).
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Writes the outcome of a run whose end could not be recorded in time (the database
    /// was unreachable when it finished). Unlike [`Db::finish_run`] this also replaces an
    /// `interrupted` status a rescuer set meanwhile — the real outcome is now known — and
    /// keeps the original finish time if one was set, and ends any recovery still settling
    /// it. Returns whether a row was updated; fails with [`StoreError::RunNotFound`] when
    /// the database has no such run.
    pub async fn finish_run_late(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.finish(run_id, status, counts, error, true).await
    }

    /// Writes a run's outcome; `late` also replaces an `interrupted` status and keeps an
    /// existing finish time.
    async fn finish(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
        late: bool,
    ) -> Result<bool, StoreError> {
        if !status.is_terminal() {
            return Err(StoreError::NotFinal { status });
        }
        let (pg, sqlite) = if late {
            (
                "UPDATE sync_runs SET finished_at = COALESCE(finished_at, now()), status = $2, \
                   recovery_pending = FALSE, checked = $3, in_sync = $4, updated = $5, skipped_in_orders = $6, \
                   skipped_base = $7, unmapped = $8, failed = $9, conflicts = $10, \
                   skipped_other = $11, error = $12 \
                 WHERE id = $1 AND status IN ('running', 'interrupted')",
                "UPDATE sync_runs SET finished_at = COALESCE(finished_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), \
                   status = $2, recovery_pending = FALSE, checked = $3, in_sync = $4, updated = $5, skipped_in_orders = $6, \
                   skipped_base = $7, unmapped = $8, failed = $9, conflicts = $10, \
                   skipped_other = $11, error = $12 \
                 WHERE id = $1 AND status IN ('running', 'interrupted')",
            )
        } else {
            (
                "UPDATE sync_runs SET finished_at = now(), status = $2, \
                   checked = $3, in_sync = $4, updated = $5, skipped_in_orders = $6, \
                   skipped_base = $7, unmapped = $8, failed = $9, conflicts = $10, \
                   skipped_other = $11, error = $12 \
                 WHERE id = $1 AND status = 'running'",
                "UPDATE sync_runs SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), \
                   status = $2, checked = $3, in_sync = $4, updated = $5, skipped_in_orders = $6, \
                   skipped_base = $7, unmapped = $8, failed = $9, conflicts = $10, \
                   skipped_other = $11, error = $12 \
                 WHERE id = $1 AND status = 'running'",
            )
        };
        let affected = on_pool!(self,
            pg: pg,
            sqlite: sqlite,
            |pool, sql| sqlx::query(sql)
                .bind(run_id)
                .bind(status.as_str())
                .bind(counts.checked)
                .bind(counts.in_sync)
                .bind(counts.updated)
                .bind(counts.skipped_in_orders)
                .bind(counts.skipped_base)
                .bind(counts.unmapped)
                .bind(counts.failed)
                .bind(counts.conflicts)
                .bind(counts.skipped_other)
                .bind(error)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        )
        .context(if late {
            "record a run's outcome late"
        } else {
            "finish a run"
        })?;
        if affected > 0 {
            // Its items now say what happened to every write it sent.
            self.clear_intents(run_id).await?;
        } else if late && self.get_run(run_id).await?.is_none() {
            // Never report a run as recorded that the database does not have (a run whose
            // start was lost: issue 13, item 9).
            return Err(StoreError::RunNotFound { run_id });
        }
        Ok(affected > 0)
    }

    /// Finalises a run: status, counts, error and `finished_at`. Only a `running` row is
    /// updated, so a run that recovery already marked `interrupted` keeps that verdict
    /// (its owner was presumed dead; a late finish must not rewrite history). Returns
    /// whether the row was updated.
    pub async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.finish(run_id, status, counts, error, false).await
    }

    /// Marks `running` runs whose owner is gone as `interrupted` (with `finished_at` and
    /// an `error` saying why), leaves them pending recovery, and returns their ids: one
    /// cheap `UPDATE` per kind of dead owner. A run's owner is gone when
    ///
    /// - its heartbeat is older than `stale_after` (any host: the owner crashed, hangs,
    ///   or lost its database connection), or
    /// - it ran on `me.host` and its process no longer exists, is a zombie, or its pid now
    ///   belongs to another process (start marker differs; see [`ProcessIdentity`]).
    ///
    /// `stale_after` should be several heartbeat intervals, so a briefly slow owner is
    /// not declared dead. Runs on other hosts with fresh heartbeats are left alone.
    ///
    /// Settling the runs marked — writes they sent without recording an outcome become
    /// items of unknown outcome, and they are counted from their items — takes time linear
    /// in their writes: callers settle within their own budget ([`Db::settle_step`],
    /// [`Db::settle_pending`]; the engine's `recover_dead_runs` does both).
    pub async fn mark_interrupted(
        &self,
        me: &ProcessIdentity,
        stale_after: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let mut marked = self.interrupt_stale(stale_after).await?;
        marked.extend(self.interrupt_dead_local(me).await?);
        marked.sort_unstable();
        Ok(marked)
    }

    /// [`Db::mark_interrupted`], then settles every run pending recovery however long that
    /// takes (tests; the product settles within a budget).
    #[cfg(feature = "testing")]
    pub async fn recover_interrupted(
        &self,
        me: &ProcessIdentity,
        stale_after: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let marked = self.mark_interrupted(me, stale_after).await?;
        self.settle_pending(None, || false).await?;
        Ok(marked)
    }

    async fn interrupt_stale(&self, stale_after: Duration) -> Result<Vec<i64>, StoreError> {
        let reason = format!(
            "interrupted: no heartbeat for more than {:.3} s; its process is presumed dead",
            stale_after.as_secs_f64()
        );
        let rows: Vec<Marked> = on_pool!(self,
            pg: "UPDATE sync_runs SET status = 'interrupted', finished_at = now(), \
                   recovery_pending = TRUE, \
                   error = $1 || ' (owner: ' || COALESCE(owner_host, '?') || ' pid ' \
                           || COALESCE(CAST(owner_pid AS TEXT), '?') || ')' \
                 WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $2) \
                 RETURNING id, store",
            sqlite: "UPDATE sync_runs SET status = 'interrupted', \
                   finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), recovery_pending = TRUE, \
                   error = $1 || ' (owner: ' || COALESCE(owner_host, '?') || ' pid ' \
                           || COALESCE(CAST(owner_pid AS TEXT), '?') || ')' \
                 WHERE status = 'running' \
                   AND heartbeat_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%.3f seconds', $2)) \
                 RETURNING id, store",
            |pool, sql| sqlx::query_as(sql)
                .bind(&reason)
                .bind(stale_after.as_secs_f64())
                .fetch_all(pool)
                .await
        )
        .context("mark runs with a stale heartbeat as interrupted")?;
        for run in &rows {
            tracing::warn!(run.id = run.id, store = %run.store, %reason, "run marked interrupted");
        }
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    async fn interrupt_dead_local(&self, me: &ProcessIdentity) -> Result<Vec<i64>, StoreError> {
        let running: Vec<RunningOwner> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, store, owner_pid, owner_start FROM sync_runs \
                 WHERE status = 'running' AND owner_host = $1",
            )
            .bind(&me.host)
            .fetch_all(pool)
            .await
        })
        .context("list this host's running runs")?;

        let mut marked = Vec::new();
        for run in running {
            let Some(pid) = run.owner_pid.and_then(|pid| u32::try_from(pid).ok()) else {
                continue;
            };
            if liveness(pid, run.owner_start.as_deref().unwrap_or("")) != Liveness::Dead {
                continue;
            }
            let reason = format!(
                "interrupted: its process (pid {pid} on {}) is no longer running",
                me.host
            );
            let affected = on_pool!(self,
                pg: "UPDATE sync_runs SET status = 'interrupted', finished_at = now(), error = $2, \
                       recovery_pending = TRUE \
                     WHERE id = $1 AND status = 'running'",
                sqlite: "UPDATE sync_runs SET status = 'interrupted', \
                           finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), error = $2, \
                           recovery_pending = TRUE \
                         WHERE id = $1 AND status = 'running'",
                |pool, sql| sqlx::query(sql)
                    .bind(run.id)
                    .bind(&reason)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            )
            .context("mark a run of a dead process as interrupted")?;
            if affected > 0 {
                tracing::warn!(run.id = run.id, store = %run.store, %reason, "run marked interrupted");
                marked.push(run.id);
            }
        }
        Ok(marked)
    }

    /// Runs, newest first (by `started_at`, then id), optionally of one store.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let raw: Vec<RawRun> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                run_columns!(),
                " FROM sync_runs WHERE (CAST($1 AS TEXT) IS NULL OR store = $1) \
                 ORDER BY started_at DESC, id DESC LIMIT $2"
            ))
            .bind(filter.store.as_deref())
            .bind(filter.limit.max(0))
            .fetch_all(pool)
            .await
        })
        .context("list runs")?;
        raw.into_iter().map(RawRun::check).collect()
    }

    /// One run, or `None` when there is no run with that id.
    pub async fn get_run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        let raw: Option<RawRun> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                run_columns!(),
                " FROM sync_runs WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await
        })
        .context("read a run")?;
        raw.map(RawRun::check).transpose()
    }

    /// A run's items in the order they were recorded (empty for an unknown run).
    pub async fn run_items(&self, run_id: i64) -> Result<Vec<RunItemRow>, StoreError> {
        let raw: Vec<RawRunItem> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT run_id, sku, field, old_value, new_value, outcome, error, recorded_at \
                 FROM sync_run_items WHERE run_id = $1 ORDER BY id",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
        })
        .context("read run items")?;
        raw.into_iter().map(RawRunItem::check).collect()
    }
}

/// An item's text as the run history stores it ([`crate::text::storable`]).
struct StorableItem<'a> {
    sku: Cow<'a, str>,
    field: &'static str,
    old_value: Option<Cow<'a, str>>,
    new_value: Option<Cow<'a, str>>,
    outcome: &'static str,
    error: Option<Cow<'a, str>>,
}

impl<'a> StorableItem<'a> {
    fn of(item: &'a NewRunItem) -> Self {
        StorableItem {
            sku: storable(&item.sku),
            field: item.field.as_str(),
            old_value: storable_opt(item.old_value.as_deref()),
            new_value: storable_opt(item.new_value.as_deref()),
            outcome: item.outcome.as_str(),
            error: storable_opt(item.error.as_deref()),
        }
    }
}

/// Postgres: one `INSERT … SELECT FROM UNNEST(arrays)` per chunk, so each chunk is one
/// round trip and one statement, not one per row. `WITH ORDINALITY … ORDER BY` keeps
/// the ids (and so [`Db::run_items`]) in the caller's order.
async fn record_items_pg(
    pool: &sqlx::PgPool,
    run_id: i64,
    items: &[NewRunItem],
) -> Result<(), sqlx::Error> {
    let mut tx = crate::db::begin(pool, None).await?;
    for chunk in items.chunks(PG_ITEMS_PER_STATEMENT) {
        let chunk: Vec<StorableItem<'_>> = chunk.iter().map(StorableItem::of).collect();
        let skus: Vec<&str> = chunk.iter().map(|i| i.sku.as_ref()).collect();
        let fields: Vec<&str> = chunk.iter().map(|i| i.field).collect();
        let old_values: Vec<Option<&str>> = chunk.iter().map(|i| i.old_value.as_deref()).collect();
        let new_values: Vec<Option<&str>> = chunk.iter().map(|i| i.new_value.as_deref()).collect();
        let outcomes: Vec<&str> = chunk.iter().map(|i| i.outcome).collect();
        let errors: Vec<Option<&str>> = chunk.iter().map(|i| i.error.as_deref()).collect();
        sqlx::query(
            "INSERT INTO sync_run_items (run_id, sku, field, old_value, new_value, outcome, error) \
             SELECT $1, t.sku, t.field, t.old_value, t.new_value, t.outcome, t.error \
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                  WITH ORDINALITY AS t(sku, field, old_value, new_value, outcome, error, ord) \
             ORDER BY t.ord",
        )
        .bind(run_id)
        .bind(skus)
        .bind(fields)
        .bind(old_values)
        .bind(new_values)
        .bind(outcomes)
        .bind(errors)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// SQLite: multi-row `INSERT … VALUES (…), (…)` statements within one transaction (one
/// fsync), each under the bind-parameter limit.
async fn record_items_sqlite(
    pool: &sqlx::SqlitePool,
    run_id: i64,
    items: &[NewRunItem],
) -> Result<(), sqlx::Error> {
    let mut tx = crate::db::begin(pool, None).await?;
    for chunk in items.chunks(SQLITE_ITEMS_PER_STATEMENT) {
        let chunk: Vec<StorableItem<'_>> = chunk.iter().map(StorableItem::of).collect();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sqlite_items_insert(chunk.len())));
        for item in &chunk {
            query = query
                .bind(run_id)
                .bind(item.sku.as_ref())
                .bind(item.field)
                .bind(item.old_value.as_deref())
                .bind(item.new_value.as_deref())
                .bind(item.outcome)
                .bind(item.error.as_deref());
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// `INSERT … VALUES` with `rows` rows of placeholders (no data in the SQL text).
fn sqlite_items_insert(rows: usize) -> String {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?)";
    let mut sql = String::from(
        "INSERT INTO sync_run_items (run_id, sku, field, old_value, new_value, outcome, error) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(ROW);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_insert_stays_under_the_parameter_limit() {
        let sql = sqlite_items_insert(2);
        assert!(
            sql.ends_with("VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)"),
            "{sql}"
        );
        assert_eq!(sql.matches('?').count(), 2 * SQLITE_PARAMS_PER_ITEM);
    }
}
