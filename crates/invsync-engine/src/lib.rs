//! The engine: turns a sync request into a recorded run.
//!
//! One run, end to end ([`Engine::sync`]):
//! 1. open the connections it needs (the store, the accounting side, the master store if
//!    that is another store, and every store with an orders source when quantity is synced);
//! 2. write the `sync_runs` row (`running`) — before anything is read, so even a failed
//!    read is on record — and keep its heartbeat fresh while the run lasts;
//! 3. read catalogs and open orders concurrently, load manual mappings;
//! 4. match, classify and plan with `invsync-core` (pure, off the async threads);
//! 5. write the planned changes through the connection in batches of its size, recording
//!    each batch's item outcomes as it completes;
//! 6. finalise the row with counts and status.
//!
//! A dry run does steps 1, 3 and 4 only and records nothing.

mod progress;
mod snapshot;
mod status;
mod token_vault;

pub use progress::{NoProgress, Progress};
pub use status::{StatusReport, StatusRow, UnknownOrders, UnreadableRow};
pub use token_vault::DbTokenVault;

use compact_str::CompactString;
use futures::FutureExt as _;
use invsync_config::{Config, ConnectionConfig};
use invsync_connectors::{
    Connection, ConnectorError, ErrorKind, KeyRound, OpenContext, RecordRef, Write, WriteKeys,
    WriteOutcome,
};
use invsync_core::{
    ChangeResult, Field, FieldSet, FieldValue, ItemOutcome, Plan, PlanRequest, PlannedChange,
    ProductPlan, RunCounts, RunStatus, SaleAction, Selection, Side, SkipReason, SkuKey, Trigger,
};
use invsync_store::{
    Db, Failure, NewRun, NewRunItem, ProcessIdentity, SettleStep, StoreError, WriteIntent,
};
pub use snapshot::UnreadOrders;
use snapshot::{Snapshot, SnapshotNeeds};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often a running run refreshes `heartbeat_at`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A `running` run whose heartbeat is older than this is taken to be dead.
pub const STALE_AFTER: Duration = Duration::from_secs(120);
/// Item rows are written to the database in groups of at most this many.
const ITEM_BATCH: usize = 5_000;
/// Quick retries of a run's final record before it is handed back as unrecorded.
const FINISH_RETRIES: u32 = 3;
/// Quick retries of a batch's write intents while the database is unreachable, before the
/// run stops writing (0.5 + 1 + 2 s: a Postgres restart, a failover).
const INTENT_RETRIES: u32 = 3;
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

/// Why a run could not be done at all (as opposed to a run that had failures).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("`{0}` is not a configured store")]
    UnknownStore(String),
    #[error(transparent)]
    Plan(#[from] invsync_core::PlanError),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("run history")]
    Store(#[from] StoreError),
    /// Quantity needs every store's open orders, and these stores' could not be read.
    /// `synced` is the store the request was for.
    #[error("{}", orders_unknown(synced, stores))]
    OrdersUnknown {
        synced: String,
        stores: Vec<UnreadOrders>,
    },
    /// The run's row could not be written (a full disk, a read-only or unreachable
    /// database): the run did not start, and nothing was read or written.
    #[error(
        "the run history could not be written, so the run did not start and nothing was synced"
    )]
    NotStarted(#[source] StoreError),
    #[error("interrupted before it finished")]
    Interrupted,
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// True when the operator's input (config, request, data files) is at fault rather
    /// than a platform or the database.
    pub fn is_input_error(&self) -> bool {
        match self {
            EngineError::UnknownStore(_) | EngineError::Plan(_) => true,
            EngineError::Connector(e) => is_input(e),
            // Input only when every unread store's problem is one the operator fixes.
            EngineError::OrdersUnknown { stores, .. } => stores.iter().all(|s| is_input(&s.error)),
            EngineError::Store(_)
            | EngineError::NotStarted(_)
            | EngineError::Interrupted
            | EngineError::Internal(_) => false,
        }
    }

    /// What kind of database failure this is, when it is one.
    pub fn store_failure(&self) -> Option<Failure> {
        match self {
            EngineError::Store(e) | EngineError::NotStarted(e) => Some(e.failure()),
            _ => None,
        }
    }
}

/// What [`Engine::recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Runs it marked `interrupted` (their process is gone).
    pub marked: Vec<i64>,
    /// Runs still pending recovery when its budget ran out: their counts are not final
    /// yet, and the next recovery goes on with them.
    pub pending: Vec<i64>,
}

fn is_input(e: &ConnectorError) -> bool {
    matches!(e.kind, ErrorKind::InvalidData | ErrorKind::NotFound)
}

/// "store `pos`: its open orders could not be read (why): quantities are not written while
/// another store's orders are unknown".
fn orders_unknown(synced: &str, stores: &[UnreadOrders]) -> String {
    let mut text = stores
        .iter()
        .map(|s| {
            format!(
                "store `{}`: its open orders could not be read ({})",
                s.store, s.error.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let whose = match stores {
        [one] if one.store == synced => "its",
        [_] => "another store's",
        _ => "these stores'",
    };
    text.push_str(&format!(
        ": quantities are not written while {whose} orders are unknown"
    ));
    text
}

/// One planned change and what became of it.
#[derive(Debug, Clone)]
pub struct ReportedChange {
    pub sku: CompactString,
    pub name: CompactString,
    pub field: Field,
    pub old: FieldValue,
    pub new: FieldValue,
    /// For a price written to a listing on sale: whether the sale was ended or its price
    /// written.
    pub sale: Option<SaleAction>,
    pub result: ChangeResult,
    pub error: Option<String>,
}

/// A difference that was deliberately not written.
#[derive(Debug, Clone)]
pub struct ReportedSkip {
    pub sku: CompactString,
    pub field: Field,
    pub old: Option<FieldValue>,
    pub new: Option<FieldValue>,
    pub reason: String,
}

/// The result of [`Engine::sync`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `None` for a dry run.
    pub run_id: Option<i64>,
    pub dry_run: bool,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub changes: Vec<ReportedChange>,
    pub skipped: Vec<ReportedSkip>,
    /// The run-level error, when the run failed as a whole.
    pub error: Option<String>,
    /// Set when that error is the operator's input (a malformed file, a missing file, SKUs
    /// of which none is on either side).
    pub input_error: bool,
    /// The SKUs of a SKU selection found on neither side (their matching form, sorted).
    /// When that is every one of them there is nothing to do: the report says so as an
    /// input error, status `skipped`, and no run is recorded.
    pub unknown_skus: Vec<SkuKey>,
    /// The run's outcome when it could not be written to the run history (the database
    /// was unreachable at the end). Retry with [`Engine::record_late`]; until then the row
    /// stays `running` and, once its heartbeat is stale, becomes `interrupted`.
    pub unrecorded: Option<PendingRecord>,
}

impl RunReport {
    /// The report of a request whose SKUs are all on neither side: nothing to do.
    fn nothing_selected(request: &SyncRequest, unknown_skus: Vec<SkuKey>) -> RunReport {
        RunReport {
            run_id: None,
            dry_run: request.dry_run,
            status: RunStatus::Skipped,
            counts: RunCounts::default(),
            changes: Vec::new(),
            skipped: Vec::new(),
            error: Some(format!(
                "none of the requested SKUs is on the accounting side or in store `{}`: nothing to do",
                request.store
            )),
            input_error: true,
            unrecorded: None,
            unknown_skus,
        }
    }
}

/// Whether a request selects SKUs of which none is on either side.
fn selects_nothing(selection: &Selection, unknown_skus: &[SkuKey]) -> bool {
    matches!(selection, Selection::Skus(wanted) if wanted.len() == unknown_skus.len())
}

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
struct Recorder {
    db: Db,
    run_id: i64,
    pending: Vec<NewRunItem>,
    warned: bool,
}

/// Why a batch was not sent: [`Recorder::intend`] could not put it on record first.
enum NotRecorded {
    /// The database refused a value of this batch; the next batch may go.
    Refused(String),
    /// The database is unreachable or cannot be written: the run stops writing.
    Unavailable(String),
}

impl Recorder {
    fn new(db: Db, run_id: i64) -> Self {
        Recorder {
            db,
            run_id,
            pending: Vec::new(),
            warned: false,
        }
    }

    /// Records the writes of a batch about to be sent, with their idempotency keys, so a
    /// crash before their outcomes are recorded leaves them on record as unknown. An
    /// unreachable database gets a few seconds to come back.
    async fn intend(&mut self, writes: &[Write]) -> Result<(), NotRecorded> {
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
        let mut attempt = 0;
        loop {
            let e = match self.db.record_intents(self.run_id, &intents).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let failure = e.failure();
            let chain = error_chain(&e);
            if failure == Failure::Refused {
                warn!(run.id = self.run_id, error = %chain, "the run history refused a batch's write intents; the batch is not sent");
                return Err(NotRecorded::Refused(chain));
            }
            if failure != Failure::Unreachable || attempt >= INTENT_RETRIES {
                warn!(run.id = self.run_id, error = %chain, "cannot record write intents; the run stops writing (nothing is sent that is not on record)");
                return Err(NotRecorded::Unavailable(chain));
            }
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            attempt += 1;
        }
    }

    async fn record(&mut self, items: Vec<NewRunItem>) {
        self.pending.extend(items);
        if let Err(e) = flush(&self.db, self.run_id, &mut self.pending).await
            && !self.warned
        {
            self.warned = true;
            warn!(run.id = self.run_id, error = %error_chain(&e), "cannot record items; keeping them and going on with the run");
        }
    }

    fn take(&mut self) -> Vec<NewRunItem> {
        std::mem::take(&mut self.pending)
    }
}

async fn flush(db: &Db, run_id: i64, pending: &mut Vec<NewRunItem>) -> Result<(), StoreError> {
    while !pending.is_empty() {
        let n = pending.len().min(ITEM_BATCH);
        db.record_items(run_id, &pending[..n]).await?;
        pending.drain(..n);
    }
    Ok(())
}

/// Opens a connection by name and config. The default is [`invsync_connectors::open`];
/// tests substitute connections that fail, stall or panic on purpose.
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
}

impl Engine {
    pub fn new(config: Arc<Config>, db: Db) -> Engine {
        // Connections with rotating OAuth tokens keep them in this database.
        let vault = Arc::new(DbTokenVault::new(db.clone()));
        Engine {
            config,
            db,
            me: ProcessIdentity::current(),
            opener: Arc::new(invsync_connectors::open),
            open_context: OpenContext::new().with_token_vault(vault),
            recovery_budget: RECOVERY_BUDGET,
        }
    }

    /// Sets how long [`Engine::sync`] settles runs pending recovery before it starts: the
    /// daemon, which settles them in the background, passes zero (marking dead runs
    /// `interrupted` still happens, so the store is free to run).
    pub fn with_recovery_budget(mut self, budget: Duration) -> Engine {
        self.recovery_budget = budget;
        self
    }

    /// Replaces how connections are opened (fault injection in tests).
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
    /// pending recovery (their write intents become items, their counts those of their
    /// items) for at most `budget`, one bounded step after another. What is left is
    /// settled by the next recovery; [`Recovered::pending`] names those runs.
    pub async fn recover(&self, budget: Duration) -> Result<Recovered, EngineError> {
        let marked = self.db.mark_interrupted(&self.me, STALE_AFTER).await?;
        for id in &marked {
            warn!(
                run.id = id,
                "marked a run left running by a process that is gone as interrupted"
            );
        }
        let deadline = tokio::time::Instant::now() + budget;
        let mut previous: Option<SettleStep> = None;
        while tokio::time::Instant::now() < deadline {
            match self.db.settle_step(previous.as_ref()).await? {
                Some(step) => previous = Some(step),
                None => break,
            }
        }
        let pending = self.db.runs_pending_recovery().await?;
        Ok(Recovered { marked, pending })
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
        if !self.config.stores.contains_key(&request.store) {
            return Err(EngineError::UnknownStore(request.store.clone()));
        }
        let plan_request = PlanRequest {
            update: request.update,
            fields: request.fields,
            selection: request.selection.clone(),
        };
        let needs = SnapshotNeeds::for_request(
            &self.config,
            &request.store,
            request.update,
            request.fields,
        );
        // Refuse a request the rules forbid before anything is recorded.
        invsync_core::validate_request(needs.master_quantities(), &plan_request)?;

        if request.dry_run {
            progress.phase("reading");
            let read_and_plan = async {
                let snapshot = Snapshot::read(self, &request.store, &needs).await?;
                progress.phase("planning");
                plan_off_thread(snapshot, plan_request).await
            };
            let (plan, snapshot) = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(EngineError::Interrupted),
                result = read_and_plan => result?,
            };
            let unknown_skus = snapshot.unknown_skus(&request.selection);
            if selects_nothing(&request.selection, &unknown_skus) {
                progress.finish();
                return Ok(RunReport::nothing_selected(request, unknown_skus));
            }
            let changes = report_changes(
                &plan,
                &snapshot,
                &vec![ChangeResult::Pending; plan.changes.len()],
                &[],
            );
            let skipped = report_skips(&plan, &snapshot);
            let mut counts =
                RunCounts::tally(&plan, &vec![ChangeResult::Pending; plan.changes.len()]);
            counts.failed += snapshot.rejects.len() as i64;
            counts.checked += snapshot.rejects.len() as i64;
            progress.finish();
            return Ok(RunReport {
                run_id: None,
                dry_run: true,
                status: RunStatus::Succeeded,
                counts,
                changes,
                skipped,
                error: None,
                input_error: false,
                unrecorded: None,
                unknown_skus,
            });
        }

        self.recover(self.recovery_budget)
            .await
            .map_err(|e| match e {
                EngineError::Store(e) => EngineError::NotStarted(e),
                other => other,
            })?;
        // What sets this database's idempotency keys apart from any other's (ADR 0018).
        let installation = self
            .db
            .installation_id()
            .await
            .map_err(EngineError::NotStarted)?;
        let run_id = self
            .db
            .start_run(&NewRun {
                schedule: request.schedule.clone(),
                store: request.store.clone(),
                trigger: request.trigger,
                update_side: request.update,
                fields: request.fields,
                owner: self.me.clone(),
                scheduled_for: request.scheduled_for,
            })
            .await
            .map_err(|e| match e {
                e @ StoreError::RunInProgress { .. } => EngineError::Store(e),
                e => EngineError::NotStarted(e),
            })?;
        info!(run.id = run_id, store = %request.store, update = %request.update, fields = %request.fields, "run started");

        let heartbeat_stop = CancellationToken::new();
        let heartbeat = tokio::spawn(heartbeat_loop(
            self.db.clone(),
            run_id,
            heartbeat_stop.clone(),
        ));
        // Item rows that could not be written yet (database unreachable) wait here.
        let mut recorder = Recorder::new(self.db.clone(), run_id);
        // A panic inside the run must still finalise the row: catch it and record it.
        let outcome = std::panic::AssertUnwindSafe(self.run(
            request,
            &installation,
            &needs,
            plan_request,
            progress,
            cancel,
            &mut recorder,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(RunFailure::new(
                format!("internal error (panic): {what}"),
                false,
            ))
        });
        heartbeat_stop.cancel();
        let _ = heartbeat.await;

        // Nothing asked for exists: an empty run on record is noise. If it cannot be
        // deleted (the database is away), it is recorded `skipped` below instead.
        if let Ok(report) = &outcome
            && selects_nothing(&request.selection, &report.unknown_skus)
        {
            match self.db.discard_run(run_id).await {
                Ok(true) => {
                    info!(
                        run.id = run_id,
                        "no requested SKU is on either side; the run is not kept"
                    );
                    progress.finish();
                    return Ok(report.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    warn!(run.id = run_id, error = %error_chain(&e), "could not discard a run with nothing to do; recording it as skipped")
                }
            }
        }

        let mut report = match outcome {
            Ok(mut report) => {
                report.run_id = Some(run_id);
                report
            }
            Err(failure) => RunReport {
                run_id: Some(run_id),
                dry_run: false,
                status: failure.status,
                counts: RunCounts::default(),
                changes: Vec::new(),
                skipped: Vec::new(),
                error: Some(failure.message),
                input_error: failure.input_error,
                unrecorded: None,
                unknown_skus: Vec::new(),
            },
        };
        let mut pending = PendingRecord {
            run_id,
            items: recorder.take(),
            status: report.status,
            counts: report.counts,
            error: report.error.clone(),
        };
        // A database that is briefly away gets a few seconds; a longer outage leaves the
        // record with the caller (the daemon retries it until the database is back).
        let mut attempt = 0;
        loop {
            match self.record_late(&mut pending).await {
                Ok(()) => break,
                Err(e) if attempt >= FINISH_RETRIES => {
                    warn!(run.id = run_id, error = %error_chain(&e), "the run's outcome could not be recorded; keeping it to retry");
                    report.unrecorded = Some(pending);
                    break;
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                    attempt += 1;
                }
            }
        }
        match &report.error {
            Some(e) => warn!(run.id = run_id, status = %report.status, error = %e, "run finished"),
            None => {
                info!(run.id = run_id, status = %report.status, updated = report.counts.updated, failed = report.counts.failed, "run finished")
            }
        }
        progress.finish();
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        request: &SyncRequest,
        installation: &str,
        needs: &SnapshotNeeds,
        plan_request: PlanRequest,
        progress: &dyn Progress,
        cancel: &CancellationToken,
        recorder: &mut Recorder,
    ) -> Result<RunReport, RunFailure> {
        let run_id = recorder.run_id;
        progress.phase("reading");
        // Reading and planning can take long (big catalogs, slow platforms); a stop request
        // ends the run right away, as nothing has been written yet.
        let read_and_plan = async {
            let snapshot = Snapshot::read(self, &request.store, needs).await?;
            progress.phase("planning");
            plan_off_thread(snapshot, plan_request).await
        };
        let (plan, snapshot) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RunFailure::interrupted("interrupted while reading, before anything was written")),
            result = read_and_plan => result.map_err(RunFailure::from_engine)?,
        };
        let unknown_skus = snapshot.unknown_skus(&request.selection);
        if selects_nothing(&request.selection, &unknown_skus) {
            return Ok(RunReport::nothing_selected(request, unknown_skus));
        }

        // Differences held back and products that could not be read go on record first.
        let mut pre_items: Vec<NewRunItem> = report_skips(&plan, &snapshot)
            .into_iter()
            .map(skip_item)
            .collect();
        for reject in &snapshot.rejects {
            for field in request.fields.iter() {
                pre_items.push(NewRunItem {
                    sku: reject.sku.clone().unwrap_or_default(),
                    field,
                    old_value: None,
                    new_value: None,
                    outcome: ItemOutcome::Failed,
                    error: Some(format!("{}: {}", reject.connection, reject.error)),
                });
            }
        }
        recorder.record(pre_items).await;

        let target: &dyn Connection = match request.update {
            Side::Store => snapshot.store_connection.as_ref(),
            Side::Accounting => snapshot.accounting_connection.as_ref(),
        };
        progress.start_writes(plan.changes.len() as u64);
        let keys = WriteKeys::new(installation, run_id, KeyRound::Change);
        let written = write_changes(
            target,
            &plan.changes,
            &snapshot,
            &keys,
            recorder,
            progress,
            cancel,
        )
        .await;
        let Written {
            mut results,
            mut errors,
            run_error,
            interrupted,
        } = written;

        // Writes that found their target changed since it was read (a sale landed in
        // between) are never forced: re-read those records and the open orders, plan the
        // products again from fresh values, and write what is still wanted — once.
        let stale: Vec<usize> = (0..results.len())
            .filter(|&i| results[i] == ChangeResult::Stale)
            .collect();
        let (mut plan, mut snapshot) = (plan, snapshot);
        if !stale.is_empty() && run_error.is_none() && !interrupted {
            let mut state = Replan {
                plan: &mut plan,
                results: &mut results,
                errors: &mut errors,
                snapshot: &mut snapshot,
            };
            let keys = WriteKeys::new(installation, run_id, KeyRound::Replan);
            match self
                .replan_stale(
                    request, &keys, &mut state, &stale, recorder, progress, cancel,
                )
                .await
            {
                Ok(n) => info!(
                    run.id = run_id,
                    stale = stale.len(),
                    replanned = n,
                    "re-planned writes whose target changed since it was read"
                ),
                Err(e) => {
                    warn!(run.id = run_id, error = %error_chain(&e), "could not re-read stale records; they are left for the next run")
                }
            }
        }

        // What this run wrote to the store will show as changes to its next catalog read
        // (ADR 0017): counted, so a read facing many of them reads whole at once.
        let applied = results
            .iter()
            .filter(|r| **r == ChangeResult::Applied)
            .count() as u64;
        if request.update == Side::Store
            && applied > 0
            && let Err(e) = self.db.count_catalog_writes(&request.store, applied).await
        {
            warn!(run.id = run_id, error = %error_chain(&e), "could not count this run's writes on the kept catalog");
        }
        let mut counts = RunCounts::tally(&plan, &results);
        counts.failed += snapshot.rejects.len() as i64;
        counts.checked += snapshot.rejects.len() as i64;
        let (status, error, input_error) = match (&run_error, interrupted) {
            (_, true) => (
                RunStatus::Interrupted,
                Some("interrupted: stopped before all changes were written".to_owned()),
                false,
            ),
            (Some((e, input)), false) => (RunStatus::Failed, Some(e.clone()), *input),
            (None, false) => (RunStatus::from_counts(&counts), None, false),
        };
        let changes = report_changes(&plan, &snapshot, &results, &errors);
        let skipped = report_skips(&plan, &snapshot);
        Ok(RunReport {
            run_id: Some(run_id),
            dry_run: false,
            status,
            counts,
            changes,
            skipped,
            error,
            input_error,
            unrecorded: None,
            unknown_skus,
        })
    }

    /// Re-reads the records whose writes came back stale, refreshes the open orders (when
    /// quantity is synced), plans those products again and writes what is still wanted.
    /// The merged plan replaces the stale changes with the new ones, so counts reflect what
    /// finally happened. Returns how many changes the second round planned.
    #[allow(clippy::too_many_arguments)]
    async fn replan_stale(
        &self,
        request: &SyncRequest,
        write_keys: &WriteKeys,
        state: &mut Replan<'_>,
        stale: &[usize],
        recorder: &mut Recorder,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<usize, EngineError> {
        let side = request.update;
        let mut refs: Vec<RecordRef> = Vec::new();
        let mut indexes: Vec<u32> = Vec::new();
        for &i in stale {
            let ch = state.plan.changes[i];
            if let Some(r) = state.snapshot.record(ch.side, ch.record)
                && !indexes.contains(&ch.record)
            {
                indexes.push(ch.record);
                refs.push(RecordRef {
                    id: r.id.clone(),
                    sku: r.sku.clone(),
                });
            }
        }
        let fresh = match side {
            Side::Store => state.snapshot.store_connection.read_records(&refs).await?,
            Side::Accounting => {
                state
                    .snapshot
                    .accounting_connection
                    .read_records(&refs)
                    .await?
            }
        };
        let Some(fresh) = fresh else {
            return Ok(0);
        };
        for record in fresh {
            // Match by the connection's id where it has one, else by SKU.
            let slot = indexes.iter().copied().find(|&i| {
                state.snapshot.record(side, i).is_some_and(|r| {
                    if r.id.is_empty() {
                        SkuKey::new(&r.sku) == SkuKey::new(&record.sku)
                    } else {
                        r.id == record.id
                    }
                })
            });
            if let Some(i) = slot {
                state.snapshot.set_record(side, i, record);
            }
        }
        if request.fields.quantity {
            state.snapshot.refresh_orders(self, &request.store).await?;
        }
        let keys: std::collections::HashSet<SkuKey> = stale
            .iter()
            .filter_map(|&i| {
                let product = state
                    .plan
                    .products
                    .get(state.plan.changes[i].product as usize)?;
                let record = product
                    .accounting
                    .and_then(|a| state.snapshot.accounting.get(a as usize))
                    .or_else(|| {
                        product
                            .store
                            .and_then(|s| state.snapshot.store.get(s as usize))
                    })?;
                SkuKey::new(&record.sku)
            })
            .collect();
        let again = state.snapshot.plan(&PlanRequest {
            update: side,
            fields: request.fields,
            selection: Selection::Skus(keys),
        })?;
        // Held-back differences of the second round (e.g. the sale made it in-orders).
        let skips: Vec<NewRunItem> = report_skips(&again, state.snapshot)
            .into_iter()
            .map(skip_item)
            .collect();
        recorder.record(skips).await;
        progress.start_writes(again.changes.len() as u64);
        let snapshot: &Snapshot = state.snapshot;
        let target: &dyn Connection = match side {
            Side::Store => snapshot.store_connection.as_ref(),
            Side::Accounting => snapshot.accounting_connection.as_ref(),
        };
        let written = write_changes(
            target,
            &again.changes,
            snapshot,
            write_keys,
            recorder,
            progress,
            cancel,
        )
        .await;
        let planned = again.changes.len();
        merge_replan(state, stale, again, written);
        Ok(planned)
    }

    /// Writes a run's outcome (and any item rows still waiting) to the run history. Used
    /// at the end of every run, and by callers retrying an [`RunReport::unrecorded`]
    /// record once the database is back. A run that a rescuer marked `interrupted` while
    /// the database was away gets its real outcome.
    pub async fn record_late(&self, pending: &mut PendingRecord) -> Result<(), EngineError> {
        flush(&self.db, pending.run_id, &mut pending.items).await?;
        let done = self
            .db
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
            self.db
                .finish_run_late(
                    pending.run_id,
                    pending.status,
                    &pending.counts,
                    error.as_deref(),
                )
                .await?;
        }
        Ok(())
    }

    /// The per-product status table of one store (`invsync status`).
    pub async fn status(&self, store: &str) -> Result<StatusReport, EngineError> {
        status::status(self, store).await
    }
}

/// A run that failed (or was stopped) as a whole after its row was written.
struct RunFailure {
    status: RunStatus,
    message: String,
    input_error: bool,
}

impl RunFailure {
    fn new(message: String, input_error: bool) -> Self {
        RunFailure {
            status: RunStatus::Failed,
            message,
            input_error,
        }
    }

    fn interrupted(message: &str) -> Self {
        RunFailure {
            status: RunStatus::Interrupted,
            message: message.to_owned(),
            input_error: false,
        }
    }

    fn from_engine(e: EngineError) -> Self {
        let input = e.is_input_error();
        RunFailure::new(error_chain(&e), input)
    }
}

/// An error and its causes on one line, `outer: inner: root`, as stored in `sync_runs.error`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Transparent wrappers repeat their inner message; say it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
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
                    warn!(run.id = run_id, error = %e, "could not refresh the run's heartbeat");
                }
            }
        }
    }
}

/// Planning a million products takes a noticeable fraction of a second: keep it off the
/// async worker threads so heartbeats and signals stay responsive.
async fn plan_off_thread(
    snapshot: Snapshot,
    request: PlanRequest,
) -> Result<(Plan, Snapshot), EngineError> {
    tokio::task::spawn_blocking(move || {
        let plan = snapshot.plan(&request);
        plan.map(|p| (p, snapshot))
    })
    .await
    .map_err(|e| EngineError::Internal(format!("planning task failed: {e}")))?
    .map_err(EngineError::from)
}

/// The first round's plan and outcomes, updated in place by a re-plan.
struct Replan<'a> {
    plan: &'a mut Plan,
    results: &'a mut Vec<ChangeResult>,
    errors: &'a mut Vec<Option<String>>,
    snapshot: &'a mut Snapshot,
}

/// Replaces the stale changes of the first round with the second round's plan: products are
/// matched by their (accounting, store) records; their status becomes the fresh one.
fn merge_replan(state: &mut Replan<'_>, stale: &[usize], again: Plan, written: Written) {
    let keep: Vec<bool> = (0..state.plan.changes.len())
        .map(|i| !stale.contains(&i))
        .collect();
    let mut changes = Vec::with_capacity(state.plan.changes.len());
    let mut results = Vec::with_capacity(state.plan.changes.len());
    let mut errors = Vec::with_capacity(state.plan.changes.len());
    for (i, ch) in state.plan.changes.iter().enumerate() {
        if keep[i] {
            changes.push(*ch);
            results.push(state.results[i]);
            errors.push(state.errors[i].clone());
        }
    }
    let product_of = |p: &ProductPlan| {
        state
            .plan
            .products
            .iter()
            .position(|q| q.accounting == p.accounting && q.store == p.store)
    };
    let mut remap = Vec::with_capacity(again.products.len());
    for p in &again.products {
        remap.push(product_of(p));
    }
    for (p, target) in again.products.iter().zip(&remap) {
        if let Some(t) = target
            && let Some(q) = state.plan.products.get_mut(*t)
        {
            q.status = p.status;
        }
    }
    for ((ch, result), error) in again
        .changes
        .into_iter()
        .zip(written.results)
        .zip(written.errors)
    {
        if let Some(Some(t)) = remap.get(ch.product as usize) {
            changes.push(PlannedChange {
                product: u32::try_from(*t).unwrap_or(u32::MAX),
                ..ch
            });
            results.push(result);
            errors.push(error);
        }
    }
    for skip in again.skipped {
        if let Some(Some(t)) = remap.get(skip.product as usize) {
            state.plan.skipped.push(invsync_core::SkippedChange {
                product: u32::try_from(*t).unwrap_or(u32::MAX),
                ..skip
            });
        }
    }
    state.plan.changes = changes;
    *state.results = results;
    *state.errors = errors;
}

/// What [`write_changes`] did: one result and error per change, whether a connection-wide
/// error ended it (`(message, is input error)`), and whether a stop request did.
struct Written {
    results: Vec<ChangeResult>,
    errors: Vec<Option<String>>,
    run_error: Option<(String, bool)>,
    interrupted: bool,
}

/// Writes `changes` through `target` in batches of its size, recording each batch's items
/// as it completes. Change `n` carries `keys`' key for it.
async fn write_changes(
    target: &dyn Connection,
    changes: &[PlannedChange],
    snapshot: &Snapshot,
    keys: &WriteKeys,
    recorder: &mut Recorder,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Written {
    let mut results = vec![ChangeResult::Pending; changes.len()];
    let mut errors: Vec<Option<String>> = vec![None; changes.len()];
    let batch_size = target.write_batch_size().max(1);
    let mut run_error: Option<(String, bool)> = None;
    let mut interrupted = false;
    let mut start = 0;
    while start < changes.len() {
        if cancel.is_cancelled() {
            interrupted = true;
            break;
        }
        let end = start.saturating_add(batch_size).min(changes.len());
        // What cannot be on record is never sent (issue 13, item 4): such a change fails
        // here, and the rest of the batch goes.
        let mut sent: Vec<usize> = Vec::with_capacity(end - start);
        let mut writes: Vec<Write> = Vec::with_capacity(end - start);
        for (i, ch) in changes.iter().enumerate().take(end).skip(start) {
            let record = snapshot.record(ch.side, ch.record);
            let id = record.map(|r| r.id.clone()).unwrap_or_default();
            let sku = record.map(|r| r.sku.clone()).unwrap_or_default();
            if let Some(why) = invsync_store::unstorable(&sku) {
                results[i] = ChangeResult::Failed;
                errors[i] = Some(format!("not written: its SKU {why}"));
                continue;
            }
            sent.push(i);
            let key = keys.key(i, &id, &sku, ch.field, ch.old, ch.new);
            writes.push(Write {
                id,
                sku,
                field: ch.field,
                old: ch.old,
                new: ch.new,
                key,
                sale: ch.sale,
            });
        }
        // `None`: the batch was not sent, its results are set.
        let outcome = match recorder.intend(&writes).await {
            Ok(()) if writes.is_empty() => None,
            Ok(()) => Some(target.write(&writes).await),
            Err(NotRecorded::Refused(why)) => {
                for &i in &sent {
                    results[i] = ChangeResult::Failed;
                    errors[i] = Some(format!(
                        "not sent: the run history refused to record this write first ({why})"
                    ));
                }
                None
            }
            Err(NotRecorded::Unavailable(why)) => {
                let message = format!(
                    "stopped writing: invsync records each write before it sends it, and the \
                     run history could not record them: {why}"
                );
                for &i in &sent {
                    results[i] = ChangeResult::Failed;
                    errors[i] = Some(format!("not sent: {message}"));
                }
                for i in end..changes.len() {
                    results[i] = ChangeResult::Failed;
                    errors[i] = Some(format!("not attempted: {message}"));
                }
                run_error = Some((message, false));
                None
            }
        };
        match outcome {
            None => {}
            Some(Ok(outcomes)) => {
                let mut outcomes = outcomes.into_iter();
                for &i in &sent {
                    let (result, error) = match outcomes.next() {
                        Some(WriteOutcome::Applied) => (ChangeResult::Applied, None),
                        Some(WriteOutcome::Failed(m)) => (ChangeResult::Failed, Some(m)),
                        Some(WriteOutcome::Stale(m)) => (ChangeResult::Stale, Some(m)),
                        None => (
                            ChangeResult::Failed,
                            Some("the connection returned no outcome for this item".to_owned()),
                        ),
                    };
                    results[i] = result;
                    errors[i] = error;
                }
            }
            Some(Err(e)) => {
                let fatal = matches!(
                    e.kind,
                    ErrorKind::Auth
                        | ErrorKind::NotFound
                        | ErrorKind::InvalidData
                        | ErrorKind::Unsupported
                );
                let message = e.to_string();
                for &i in &sent {
                    results[i] = ChangeResult::Failed;
                    errors[i] = Some(message.clone());
                }
                if fatal {
                    // Every further batch would fail the same way: record the cause once.
                    for i in end..changes.len() {
                        results[i] = ChangeResult::Failed;
                        errors[i] = Some(format!("not attempted: {message}"));
                    }
                    run_error = Some((
                        message,
                        matches!(e.kind, ErrorKind::InvalidData | ErrorKind::NotFound),
                    ));
                }
            }
        }
        let finished_to = if run_error.is_some() {
            changes.len()
        } else {
            end
        };
        let items: Vec<NewRunItem> = (start..finished_to)
            .map(|i| change_item(&changes[i], snapshot, results[i], errors[i].clone()))
            .collect();
        recorder.record(items).await;
        progress.advance((finished_to - start) as u64);
        start = finished_to;
    }
    Written {
        results,
        errors,
        run_error,
        interrupted,
    }
}

/// The run item of a difference that was held back.
fn skip_item(s: ReportedSkip) -> NewRunItem {
    NewRunItem {
        sku: s.sku.to_string(),
        field: s.field,
        old_value: s.old.map(|v| v.to_string()),
        new_value: s.new.map(|v| v.to_string()),
        outcome: ItemOutcome::Skipped,
        error: Some(s.reason),
    }
}

fn change_item(
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

fn report_changes(
    plan: &Plan,
    snapshot: &Snapshot,
    results: &[ChangeResult],
    errors: &[Option<String>],
) -> Vec<ReportedChange> {
    plan.changes
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            let record = snapshot.record(ch.side, ch.record);
            ReportedChange {
                sku: record.map(|r| r.sku.clone()).unwrap_or_default(),
                name: record.map(|r| r.name.clone()).unwrap_or_default(),
                field: ch.field,
                old: ch.old,
                new: ch.new,
                sale: ch.sale,
                result: results.get(i).copied().unwrap_or(ChangeResult::Pending),
                error: errors.get(i).cloned().flatten(),
            }
        })
        .collect()
}

fn report_skips(plan: &Plan, snapshot: &Snapshot) -> Vec<ReportedSkip> {
    plan.skipped
        .iter()
        .map(|s| {
            let product = plan.products.get(s.product as usize);
            let sku = product
                .and_then(|p| p.store.and_then(|j| snapshot.store.get(j as usize)))
                .or_else(|| {
                    product.and_then(|p| {
                        p.accounting
                            .and_then(|i| snapshot.accounting.get(i as usize))
                    })
                })
                .map(|r| r.sku.clone())
                .unwrap_or_default();
            let reason = match s.reason {
                SkipReason::InOrders => {
                    let orders = product
                        .and_then(|p| snapshot.orders_of(p))
                        .map(|o| format!(" ({})", o.join(", ")))
                        .unwrap_or_default();
                    format!("{}{orders}", s.reason)
                }
                other => other.to_string(),
            };
            ReportedSkip {
                sku,
                field: s.field,
                old: s.old,
                new: s.new,
                reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{EngineError, UnreadOrders};
    use invsync_connectors::{ConnectorError, ErrorKind};

    fn unread(store: &str, kind: ErrorKind, why: &str) -> UnreadOrders {
        UnreadOrders {
            store: store.to_owned(),
            error: ConnectorError::new(store, kind, why),
        }
    }

    /// Which store, why, and what is held back because of it; exit 2 only when every
    /// cause is the operator's to fix.
    #[test]
    fn unread_orders_name_the_store_and_why() {
        let one = EngineError::OrdersUnknown {
            synced: "shop".into(),
            stores: vec![unread(
                "pos",
                ErrorKind::NotFound,
                "pos.csv: file not found",
            )],
        };
        assert_eq!(
            one.to_string(),
            "store `pos`: its open orders could not be read (pos.csv: file not found): \
             quantities are not written while another store's orders are unknown"
        );
        assert!(one.is_input_error());
        let own = EngineError::OrdersUnknown {
            synced: "pos".into(),
            stores: vec![unread("pos", ErrorKind::NotFound, "gone")],
        };
        assert!(own.to_string().ends_with("while its orders are unknown"));
        let two = EngineError::OrdersUnknown {
            synced: "shop".into(),
            stores: vec![
                unread("pos", ErrorKind::NotFound, "gone"),
                unread("web", ErrorKind::Unavailable, "HTTP 503"),
            ],
        };
        assert_eq!(
            two.to_string(),
            "store `pos`: its open orders could not be read (gone); store `web`: its open \
             orders could not be read (HTTP 503): quantities are not written while these \
             stores' orders are unknown"
        );
        assert!(
            !two.is_input_error(),
            "a platform outage is not the operator's input"
        );
    }
}
