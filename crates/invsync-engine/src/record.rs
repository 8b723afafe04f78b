//! Putting a run on record while it goes: a batch's write intents before it is sent, its
//! items once it is answered, the outcome at the end — and what the database could not
//! take yet, kept until it can.

use crate::error::error_chain;
use crate::report::ReportedSkip;
use crate::snapshot::Snapshot;
use crate::{EngineError, HEARTBEAT_INTERVAL};
use invsync_connectors::{KeyRound, Write, WriteKeys};
use invsync_core::{ChangeResult, FieldSet, ItemOutcome, PlannedChange, RunCounts, RunStatus};
use invsync_store::{Db, Failure, NewRunItem, StoreError, WriteIntent};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, warn};

/// Item rows are written to the database in groups of at most this many.
const ITEM_BATCH: usize = 5_000;

/// How long a run keeps trying while the run history is unreachable — a batch's intents
/// before the run stops writing, the final record before it is handed back as
/// unrecorded: a Postgres restart, a failover.
pub(crate) const DB_PATIENCE: Duration = Duration::from_millis(3_500);

/// A run outcome waiting for the database.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub run_id: i64,
    /// Item rows not written yet.
    pub items: Vec<NewRunItem>,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub error: Option<String>,
}

/// Writes a run's item rows in batches as they come; rows the database refuses (it is
/// unreachable) are kept and written with the next batch or at the end, so a database
/// outage never loses the outcome of writes already sent. Before each batch it records
/// the batch's write intents: a batch whose intents cannot be recorded is not sent
/// (ADR 0016, "Never send what is not on record").
pub(crate) struct Recorder {
    db: Db,
    run_id: i64,
    /// What sets this database's idempotency keys apart from any other's (ADR 0018).
    installation: String,
    pending: Vec<NewRunItem>,
    warned: bool,
}

/// Why a batch was not sent: [`Recorder::intend`] could not put it on record first.
pub(crate) enum NotRecorded {
    /// The database refused a value of this batch; the next batch may go.
    Refused(String),
    /// The database is unreachable or cannot be written: the run stops writing.
    Unavailable(String),
}

impl Recorder {
    pub fn new(db: Db, run_id: i64, installation: String) -> Self {
        Recorder {
            db,
            run_id,
            installation,
            pending: Vec::new(),
            warned: false,
        }
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// The idempotency keys of this run's writes in `round`.
    pub fn keys(&self, round: KeyRound) -> WriteKeys {
        WriteKeys::new(&self.installation, self.run_id, round)
    }

    /// Records the writes of a batch about to be sent, with their idempotency keys, so a
    /// crash before their outcomes are recorded leaves them on record as unknown. An
    /// unreachable database gets [`DB_PATIENCE`] to come back.
    pub async fn intend(&mut self, writes: &[Write]) -> Result<(), NotRecorded> {
        if writes.is_empty() {
            return Ok(());
        }
        let intents: Vec<WriteIntent> = writes
            .iter()
            .map(|w| WriteIntent {
                key: w.key.clone(),
                sku: w.sku.to_string(),
                field: w.field,
                old_value: w.old.to_string(),
                new_value: w.new.to_string(),
            })
            .collect();
        let mut patience = None;
        loop {
            let e = match self.db.record_intents(self.run_id, &intents).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let failure = e.failure();
            let chain = error_chain(&e);
            if failure == Failure::Refused {
                warn!(error = %chain, "the run history refused a batch's write intents; the batch is not sent");
                return Err(NotRecorded::Refused(chain));
            }
            if failure != Failure::Unreachable
                || !patience
                    .get_or_insert_with(|| Patience::new(DB_PATIENCE))
                    .wait()
                    .await
            {
                warn!(error = %chain, "cannot record write intents; the run stops writing (nothing is sent that is not on record)");
                return Err(NotRecorded::Unavailable(chain));
            }
        }
    }

    /// Records item rows, now or — while the database is away — with a later batch.
    pub async fn record(&mut self, items: Vec<NewRunItem>) {
        self.pending.extend(items);
        if let Err(e) = flush(&self.db, self.run_id, &mut self.pending).await
            && !self.warned
        {
            self.warned = true;
            warn!(error = %error_chain(&e), "cannot record items; keeping them and going on with the run");
        }
    }

    /// The run's outcome with the item rows still waiting, ready for the final record.
    pub fn outcome(
        &mut self,
        status: RunStatus,
        counts: RunCounts,
        error: Option<String>,
    ) -> PendingRecord {
        PendingRecord {
            run_id: self.run_id,
            items: std::mem::take(&mut self.pending),
            status,
            counts,
            error,
        }
    }
}

/// Writes item rows in groups of [`ITEM_BATCH`]; what is left on an error stays in `pending`.
pub(crate) async fn flush(
    db: &Db,
    run_id: i64,
    pending: &mut Vec<NewRunItem>,
) -> Result<(), StoreError> {
    while !pending.is_empty() {
        let n = pending.len().min(ITEM_BATCH);
        db.record_items(run_id, &pending[..n]).await?;
        pending.drain(..n);
    }
    Ok(())
}

/// Writes a run's outcome (and any item rows still waiting) to the run history. A run that
/// a rescuer marked `interrupted` while the database was away gets its real outcome.
pub(crate) async fn record_late(db: &Db, pending: &mut PendingRecord) -> Result<(), EngineError> {
    flush(db, pending.run_id, &mut pending.items).await?;
    let done = db
        .finish_run(
            pending.run_id,
            pending.status,
            &pending.counts,
            pending.error.as_deref(),
        )
        .await?;
    if !done {
        let note = "(recorded after the run had been marked interrupted: the database was unreachable when it ended)";
        let error = Some(match &pending.error {
            Some(e) => format!("{e} {note}"),
            None => note.to_owned(),
        });
        db.finish_run_late(
            pending.run_id,
            pending.status,
            &pending.counts,
            error.as_deref(),
        )
        .await?;
    }
    Ok(())
}

/// Waits between attempts against the run history: the connectors' jittered backoff
/// (`invsync_connectors::http::Backoff`), for at most a fixed time in all.
pub(crate) struct Patience {
    attempt: u32,
    deadline: tokio::time::Instant,
}

impl Patience {
    pub fn new(total: Duration) -> Patience {
        Patience {
            attempt: 0,
            deadline: tokio::time::Instant::now() + total,
        }
    }

    /// Waits before the next attempt; `false`, at once, when the time is spent.
    pub async fn wait(&mut self) -> bool {
        let left = self
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let backoff = invsync_connectors::http::Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(2),
            attempts: u32::MAX,
        };
        tokio::time::sleep(backoff.delay(self.attempt).min(left)).await;
        self.attempt = self.attempt.saturating_add(1);
        true
    }
}

/// Keeps a running run's `heartbeat_at` fresh until it is stopped.
pub(crate) struct Heartbeat {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Starts refreshing run `run_id`'s heartbeat every [`HEARTBEAT_INTERVAL`]; its
    /// warnings carry the run's span.
    pub fn start(db: Db, run_id: i64) -> Heartbeat {
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            heartbeat_loop(db, run_id, stop.clone()).instrument(tracing::Span::current()),
        );
        Heartbeat { stop, task }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn heartbeat_loop(db: Db, run_id: i64, stop: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; start_run already set the heartbeat
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = db.heartbeat(run_id).await {
                    warn!(error = %e, "could not refresh the run's heartbeat");
                }
            }
        }
    }
}

/// The run item of a difference that was held back.
pub(crate) fn skip_item(s: ReportedSkip) -> NewRunItem {
    NewRunItem {
        sku: s.sku.to_string(),
        field: s.field,
        old_value: s.old.map(|v| v.to_string()),
        new_value: s.new.map(|v| v.to_string()),
        outcome: ItemOutcome::Skipped,
        error: Some(s.reason),
    }
}

/// The run item of a planned change and what became of it.
pub(crate) fn change_item(
    ch: &PlannedChange,
    snapshot: &Snapshot,
    result: ChangeResult,
    error: Option<String>,
) -> NewRunItem {
    let sku = snapshot
        .record(ch.side, ch.record)
        .map(|r| r.sku.to_string())
        .unwrap_or_default();
    NewRunItem {
        sku,
        field: ch.field,
        old_value: Some(ch.old.to_string()),
        new_value: Some(ch.new.to_string()),
        outcome: match result {
            ChangeResult::Applied => ItemOutcome::Updated,
            ChangeResult::Failed => ItemOutcome::Failed,
            ChangeResult::Stale | ChangeResult::Pending => ItemOutcome::Skipped,
        },
        error,
    }
}

/// The run items of the products that could not be read: one `failed` item per field the
/// run syncs.
pub(crate) fn reject_items(snapshot: &Snapshot, fields: FieldSet) -> Vec<NewRunItem> {
    let mut items = Vec::new();
    for reject in &snapshot.rejects {
        for field in fields.iter() {
            items.push(NewRunItem {
                sku: reject.sku.clone().unwrap_or_default(),
                field,
                old_value: None,
                new_value: None,
                outcome: ItemOutcome::Failed,
                error: Some(format!("{}: {}", reject.connection, reject.error)),
            });
        }
    }
    items
}
