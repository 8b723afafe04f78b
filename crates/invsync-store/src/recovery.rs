//! Settling runs that recovery marked `interrupted` (issue 13, item 1): their write
//! intents become items of unknown outcome, then the run is counted from its items.
//!
//! Marking a run is one cheap `UPDATE` ([`Db::mark_interrupted`] sets
//! `sync_runs.recovery_pending`). Settling is proportional to the run's writes, and a run
//! can hold millions of them, so it is done in steps ([`Db::settle_step`]): each is one
//! short transaction over at most [`SETTLE_CHUNK`] intents, each intent matched against
//! the run's items through the `(run_id, sku, field)` index — the whole run costs time
//! linear in its intents and items, and no step holds the database (SQLite's single
//! writer, a Postgres row lock) or its caller for long. Callers loop over steps within
//! their own budget (a CLI command) or until told to stop (the daemon's background task).
//! A process stopped between steps leaves the flag set; the next recovery goes on from
//! there. The step that finds no intent left counts the run from its items and clears the
//! flag, in one transaction: once the flag is clear, the counts are final.

use crate::db::Db;
use crate::error::{Context, StoreError};
use crate::intents::UNKNOWN_OUTCOME;
use crate::runs::RawCounts;
use invsync_core::{IN_ORDERS_ITEM_PREFIX, ItemSummary, RunCounts};

/// Intents per settling step: one step of this many is a few tens of milliseconds on
/// Postgres and SQLite (docs/benchmarks.md, "Recovery").
pub const SETTLE_CHUNK: i64 = 10_000;

/// What one [`Db::settle_step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleStep {
    /// The run it worked on.
    pub run_id: i64,
    /// Items of unknown outcome it added.
    pub items_added: u64,
    /// Whether the run is now settled: no intent left, counted from its items.
    pub finished: bool,
    /// The last intent key it settled: the next step of the same run starts after it, so
    /// no step walks over the index entries of intents deleted before (Postgres keeps
    /// them until vacuum).
    last_key: Option<String>,
}

/// Turns the intents of run `$1` in this step's key range (`{range}`, over `$3` and `$4`)
/// that no item records into `failed` items of unknown outcome (`$2` is
/// [`UNKNOWN_OUTCOME`]).
/// `{fence}` is `OFFSET 0` on Postgres, which keeps the `NOT EXISTS` a per-intent index
/// lookup: without it the planner may turn it into a hash anti-join that reads all of
/// the run's items at every step. SQLite always looks up per row.
fn settle_insert(range: &str, fence: &str) -> String {
    format!(
        "INSERT INTO sync_run_items \
           (run_id, sku, field, old_value, new_value, outcome, error) \
         SELECT i.run_id, i.sku, i.field, i.old_value, i.new_value, 'failed', \
           $2 || ': invsync stopped after sending this write (idempotency key ' \
           || i.key || '); the next run reads the value again and plans it afresh' \
         FROM sync_write_intents i \
         WHERE i.run_id = $1 AND {range} AND NOT EXISTS ( \
           SELECT 1 FROM sync_run_items t WHERE t.run_id = i.run_id AND t.sku = i.sku \
             AND t.field = i.field AND t.old_value = i.old_value \
             AND t.new_value = i.new_value {fence}) \
         ORDER BY i.key"
    )
}

/// The key range of a step: after parameter `$first`, up to `$first + 1` (the whole rest
/// when the step is the run's last). Both bounds keep each statement on the
/// `(run_id, key)` primary key.
fn step_range(last: bool, alias: &str, first: usize) -> String {
    if last {
        format!("{alias}key > ${first}")
    } else {
        format!("{alias}key > ${first} AND {alias}key <= ${}", first + 1)
    }
}

/// Per product (SKU) of run `$1`: which outcomes its items have; grouped, so at most 16
/// rows come back however large the run. `$2` matches the error of an in-orders skip.
const RECOUNT: &str = "SELECT failed, updated, skipped_other, skipped_in_orders, \
       CAST(COUNT(*) AS BIGINT) AS products FROM ( \
       SELECT sku, \
         MAX(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed, \
         MAX(CASE WHEN outcome = 'updated' THEN 1 ELSE 0 END) AS updated, \
         MAX(CASE WHEN outcome = 'skipped' AND (error IS NULL OR error NOT LIKE $2) \
             THEN 1 ELSE 0 END) AS skipped_other, \
         MAX(CASE WHEN outcome = 'skipped' AND error LIKE $2 THEN 1 ELSE 0 END) \
             AS skipped_in_orders \
       FROM sync_run_items WHERE run_id = $1 GROUP BY sku) AS p \
     GROUP BY failed, updated, skipped_other, skipped_in_orders";

/// One row of [`RECOUNT`].
#[derive(sqlx::FromRow)]
struct ProductGroup {
    failed: i32,
    updated: i32,
    skipped_other: i32,
    skipped_in_orders: i32,
    products: i64,
}

impl Db {
    /// Runs whose recovery is not finished yet (`recovery_pending`), oldest first.
    pub async fn runs_pending_recovery(&self) -> Result<Vec<i64>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM sync_runs WHERE recovery_pending ORDER BY id")
                .fetch_all(pool)
                .await
        })
        .context("list runs whose recovery is not finished")
    }

    /// How many write intents the runs pending recovery still hold (for messages).
    pub async fn intents_pending_recovery(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM sync_write_intents i \
                 JOIN sync_runs r ON r.id = i.run_id WHERE r.recovery_pending",
            )
            .fetch_one(pool)
            .await
        })
        .context("count the write intents left to settle")
    }

    /// One bounded step of settling the oldest run pending recovery (see the module
    /// docs); `None` when no run is pending. Pass the previous step, if any, so that the
    /// next one starts where it ended. Safe to call from several processes at once: each
    /// step locks its run (Postgres `FOR UPDATE`; SQLite's writer lock) and re-checks the
    /// flag.
    pub async fn settle_step(
        &self,
        previous: Option<&SettleStep>,
    ) -> Result<Option<SettleStep>, StoreError> {
        let Some(run_id) = on_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT id FROM sync_runs WHERE recovery_pending ORDER BY id LIMIT 1",
            )
            .fetch_optional(pool)
            .await
        })
        .context("find a run to settle")?
        else {
            return Ok(None);
        };
        self.settle_run_step(run_id, previous).await.map(Some)
    }

    /// One bounded step of settling run `run_id` (a run not pending recovery comes back
    /// `finished` at once). Pass the previous step of this run, if any.
    pub async fn settle_run_step(
        &self,
        run_id: i64,
        previous: Option<&SettleStep>,
    ) -> Result<SettleStep, StoreError> {
        let after = previous
            .filter(|p| p.run_id == run_id && !p.finished)
            .and_then(|p| p.last_key.clone())
            .unwrap_or_default();
        let fence = match self.backend() {
            crate::Backend::Postgres => "OFFSET 0",
            crate::Backend::Sqlite => "",
        };
        let step = on_pool!(self,
            pg: "SELECT checked, in_sync, updated, skipped_in_orders, skipped_base, unmapped, \
                   failed, conflicts, skipped_other FROM sync_runs \
                 WHERE id = $1 AND recovery_pending FOR UPDATE",
            sqlite: "SELECT checked, in_sync, updated, skipped_in_orders, skipped_base, unmapped, \
                   failed, conflicts, skipped_other FROM sync_runs \
                 WHERE id = $1 AND recovery_pending",
            |pool, lock| async {
                let mut tx = crate::db::begin(pool, None).await?;
                let Some(stored) = sqlx::query_as::<_, RawCounts>(lock)
                    .bind(run_id)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    // Another process settled it meanwhile, or its real outcome arrived.
                    return Ok(SettleStep {
                        run_id,
                        items_added: 0,
                        finished: true,
                        last_key: None,
                    });
                };
                // The key that ends this step's chunk; none when the rest fits in it.
                let last_key: Option<String> = sqlx::query_scalar(
                    "SELECT key FROM sync_write_intents WHERE run_id = $1 AND key > $2 \
                     ORDER BY key LIMIT 1 OFFSET $3",
                )
                .bind(run_id)
                .bind(&after)
                .bind(SETTLE_CHUNK - 1)
                .fetch_optional(&mut *tx)
                .await?;
                let finished = last_key.is_none();
                let insert = settle_insert(&step_range(finished, "i.", 3), fence);
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(insert))
                    .bind(run_id)
                    .bind(UNKNOWN_OUTCOME)
                    .bind(&after);
                if let Some(last) = &last_key {
                    insert = insert.bind(last.as_str());
                }
                let items_added = insert.execute(&mut *tx).await?.rows_affected();
                let delete = format!(
                    "DELETE FROM sync_write_intents WHERE run_id = $1 AND {}",
                    step_range(finished, "", 2)
                );
                let mut delete = sqlx::query(sqlx::AssertSqlSafe(delete))
                    .bind(run_id)
                    .bind(&after);
                if let Some(last) = &last_key {
                    delete = delete.bind(last.as_str());
                }
                delete.execute(&mut *tx).await?;
                if finished {
                    let groups: Vec<ProductGroup> = sqlx::query_as(RECOUNT)
                        .bind(run_id)
                        .bind(format!("{IN_ORDERS_ITEM_PREFIX}%"))
                        .fetch_all(&mut *tx)
                        .await?;
                    let counts = RunCounts::from(stored).recount_from_items(groups.iter().map(|g| {
                        (
                            ItemSummary {
                                failed: g.failed != 0,
                                updated: g.updated != 0,
                                skipped_other: g.skipped_other != 0,
                                skipped_in_orders: g.skipped_in_orders != 0,
                            },
                            g.products,
                        )
                    }));
                    sqlx::query(
                        "UPDATE sync_runs SET recovery_pending = FALSE, checked = $2, \
                           updated = $3, failed = $4, skipped_other = $5, skipped_in_orders = $6 \
                         WHERE id = $1",
                    )
                    .bind(run_id)
                    .bind(counts.checked)
                    .bind(counts.updated)
                    .bind(counts.failed)
                    .bind(counts.skipped_other)
                    .bind(counts.skipped_in_orders)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(SettleStep {
                    run_id,
                    items_added,
                    finished,
                    last_key,
                })
            }
            .await
        )
        .context("settle the write intents of an interrupted run")?;
        if step.finished {
            tracing::info!(
                run.id = run_id,
                "recovery of an interrupted run finished: its counts are those of its items"
            );
        }
        Ok(step)
    }

    /// Settles every run pending recovery, step after step, until none is left or
    /// `stop()` says so (checked between steps). Returns whether all are settled.
    ///
    /// With `only`, settles just those runs (a daemon settling the runs it interrupted
    /// itself as it stops, ahead of older ones).
    pub async fn settle_pending(
        &self,
        only: Option<&[i64]>,
        stop: impl Fn() -> bool,
    ) -> Result<bool, StoreError> {
        let mut previous: Option<SettleStep> = None;
        let mut runs = only.map(|ids| ids.iter().copied());
        loop {
            if stop() {
                return Ok(false);
            }
            let step = match &mut runs {
                None => self.settle_step(previous.as_ref()).await?,
                Some(ids) => {
                    let run_id = match &previous {
                        Some(p) if !p.finished => Some(p.run_id),
                        _ => ids.next(),
                    };
                    match run_id {
                        Some(id) => Some(self.settle_run_step(id, previous.as_ref()).await?),
                        None => None,
                    }
                }
            };
            match step {
                Some(step) => previous = Some(step),
                None => return Ok(true),
            }
        }
    }
}
