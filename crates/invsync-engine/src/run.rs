//! One run of a request, end to end: the context every step shares ([`Run`]), the one
//! read-and-plan path of dry and real runs, and the life of a recorded run — its row,
//! heartbeat, writes, re-plan and final record.

use crate::connections::Connections;
use crate::error::error_chain;
use crate::record::{DB_PATIENCE, Heartbeat, Patience, Recorder, reject_items, skip_item};
use crate::report::{RunReport, report_changes, report_skips, selects_nothing};
use crate::snapshot::{Snapshot, SnapshotNeeds};
use crate::write::Written;
use crate::{Engine, EngineError, Progress, SyncRequest};
use futures::FutureExt as _;
use invsync_connectors::KeyRound;
use invsync_core::{Plan, PlanRequest, RunCounts, RunStatus, Side, SkuKey};
use invsync_store::{NewRun, NewRunItem, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What every step of one run needs: the engine, the request and what it needs read, and
/// how to report progress and hear a stop request.
pub(crate) struct Run<'a> {
    pub engine: &'a Engine,
    pub request: &'a SyncRequest,
    pub needs: SnapshotNeeds,
    pub progress: &'a dyn Progress,
    pub cancel: &'a CancellationToken,
}

/// What a run read and planned, with the connections it opened for it (each once).
pub(crate) struct Planned {
    pub connections: Connections,
    pub snapshot: Snapshot,
    pub plan: Plan,
    pub unknown_skus: Vec<SkuKey>,
}

/// What reading and planning came to.
enum Read {
    Planned(Box<Planned>),
    /// Every requested SKU (these) is on neither side: nothing to do.
    NothingSelected(Vec<SkuKey>),
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
        let status = match &e {
            // Data older than the accounting side allows (QuickBooks Desktop's snapshot
            // past max_age): nothing is written from it, and the run says why.
            EngineError::Connector(c) if c.kind == invsync_connectors::ErrorKind::Outdated => {
                RunStatus::Skipped
            }
            _ => RunStatus::Failed,
        };
        RunFailure {
            status,
            ..RunFailure::new(error_chain(&e), input)
        }
    }

    /// A panic inside the run, caught so that the row is still finalised.
    fn panicked(panic: Box<dyn std::any::Any + Send>) -> Self {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        RunFailure::new(format!("internal error (panic): {what}"), false)
    }
}

impl<'a> Run<'a> {
    /// A run of `request`, refused before anything happens if the rules forbid it.
    pub fn new(
        engine: &'a Engine,
        request: &'a SyncRequest,
        progress: &'a dyn Progress,
        cancel: &'a CancellationToken,
    ) -> Result<Run<'a>, EngineError> {
        if !engine.config().stores.contains_key(&request.store) {
            return Err(EngineError::UnknownStore(request.store.clone()));
        }
        let needs = SnapshotNeeds::for_request(engine.config(), &request.store, request.fields);
        invsync_core::validate_request(needs.master_quantities(), &plan_request(request))?;
        Ok(Run {
            engine,
            request,
            needs,
            progress,
            cancel,
        })
    }

    /// A dry run: reads and plans like a real run, reports, records and writes nothing.
    pub async fn dry(&self) -> Result<RunReport, EngineError> {
        let planned = match self.read_and_plan().await? {
            Read::Planned(planned) => planned,
            Read::NothingSelected(unknown) => {
                self.progress.finish();
                return Ok(RunReport::nothing_selected(self.request, unknown));
            }
        };
        let written = Written::pending(planned.plan.changes.len());
        let report = planned.report(self.request, &written, Some(RunStatus::Succeeded), None);
        self.progress.finish();
        Ok(report)
    }

    /// Opens the connections, reads everything the request needs and plans it. Reading
    /// and planning can take long (big catalogs, slow platforms); a stop request ends it
    /// at once ([`EngineError::Interrupted`]), as nothing has been written yet.
    async fn read_and_plan(&self) -> Result<Read, EngineError> {
        self.progress.phase("reading");
        let work = async {
            let connections = Connections::open(self.engine, &self.request.store, &self.needs)?;
            let snapshot =
                Snapshot::read(self.engine, &connections, &self.request.store, &self.needs).await?;
            self.progress.phase("planning");
            let (plan, snapshot) = plan_off_thread(snapshot, plan_request(self.request)).await?;
            Ok::<_, EngineError>((connections, plan, snapshot))
        };
        let (connections, plan, snapshot) = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Err(EngineError::Interrupted),
            result = work => result?,
        };
        let unknown_skus = snapshot.unknown_skus(&self.request.selection);
        if selects_nothing(&self.request.selection, &unknown_skus) {
            return Ok(Read::NothingSelected(unknown_skus));
        }
        Ok(Read::Planned(Box::new(Planned {
            connections,
            snapshot,
            plan,
            unknown_skus,
        })))
    }

    /// A recorded run: its row first (so even a failed read is on record), then the run,
    /// then its outcome — recorded, or handed back when the database is away.
    pub async fn recorded(&self) -> Result<RunReport, EngineError> {
        let mut recorder = self.start().await?;
        let run_id = recorder.run_id();
        let heartbeat = Heartbeat::start(self.engine.db().clone(), run_id);
        // A panic inside the run must still finalise the row: catch it and record it.
        let outcome = std::panic::AssertUnwindSafe(self.execute(&mut recorder))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(RunFailure::panicked(panic)));
        heartbeat.stop().await;

        // Nothing asked for exists: an empty run on record is noise. If it cannot be
        // deleted (the database is away), it is recorded `skipped` below instead.
        if let Ok(report) = &outcome
            && selects_nothing(&self.request.selection, &report.unknown_skus)
        {
            match self.engine.db().discard_run(run_id).await {
                Ok(true) => {
                    info!("no requested SKU is on either side; the run is not kept");
                    self.progress.finish();
                    return Ok(report.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    warn!(error = %error_chain(&e), "could not discard a run with nothing to do; recording it as skipped")
                }
            }
        }

        let mut report = match outcome {
            Ok(mut report) => {
                report.run_id = Some(run_id);
                report
            }
            Err(failure) => {
                RunReport::ended(run_id, failure.status, failure.message, failure.input_error)
            }
        };
        let mut pending = recorder.outcome(report.status, report.counts, report.error.clone());
        // A database that is briefly away gets a few seconds; a longer outage leaves the
        // record with the caller (the daemon retries it until the database is back).
        let mut patience = Patience::new(DB_PATIENCE);
        loop {
            match self.engine.record_late(&mut pending).await {
                Ok(()) => break,
                Err(e) if !patience.wait().await => {
                    warn!(error = %error_chain(&e), "the run's outcome could not be recorded; keeping it to retry");
                    report.unrecorded = Some(pending);
                    break;
                }
                Err(_) => {}
            }
        }
        match &report.error {
            Some(e) => warn!(status = %report.status, error = %e, "run finished"),
            None => {
                info!(status = %report.status, updated = report.counts.updated, failed = report.counts.failed, "run finished")
            }
        }
        self.progress.finish();
        Ok(report)
    }

    /// Settles what dead runs left within the engine's budget, then writes the run's row
    /// (`running`): the run exists from here on, and its span carries its id.
    async fn start(&self) -> Result<Recorder, EngineError> {
        let (engine, request) = (self.engine, self.request);
        engine
            .recover(engine.recovery_budget)
            .await
            .map_err(|e| match e {
                EngineError::Store(e) => EngineError::NotStarted(e),
                other => other,
            })?;
        // What sets this database's idempotency keys apart from any other's (ADR 0018).
        let installation = engine
            .db()
            .installation_id()
            .await
            .map_err(EngineError::NotStarted)?;
        let run_id = engine
            .db()
            .start_run(&NewRun {
                schedule: request.schedule.clone(),
                store: request.store.clone(),
                trigger: request.trigger,
                update_side: request.update,
                fields: request.fields,
                owner: engine.me.clone(),
                scheduled_for: request.scheduled_for,
            })
            .await
            .map_err(|e| match e {
                e @ StoreError::RunInProgress { .. } => EngineError::Store(e),
                e => EngineError::NotStarted(e),
            })?;
        tracing::Span::current().record("run.id", run_id);
        info!(update = %request.update, fields = %request.fields, "run started");
        Ok(Recorder::new(engine.db().clone(), run_id, installation))
    }

    /// The run between its row and its final record: read and plan, record what is held
    /// back, write, re-plan what came back stale, count.
    async fn execute(&self, recorder: &mut Recorder) -> Result<RunReport, RunFailure> {
        let mut planned = match self.read_and_plan().await {
            Ok(Read::Planned(planned)) => planned,
            Ok(Read::NothingSelected(unknown)) => {
                return Ok(RunReport::nothing_selected(self.request, unknown));
            }
            Err(EngineError::Interrupted) => {
                return Err(RunFailure::interrupted(
                    "interrupted while reading, before anything was written",
                ));
            }
            Err(e) => return Err(RunFailure::from_engine(e)),
        };
        // Differences held back and products that could not be read go on record first.
        recorder.record(planned.held_back(self.request)).await;

        self.progress
            .start_writes(planned.plan.changes.len() as u64);
        let mut written = self
            .write(
                recorder,
                planned.connections.side(self.request.update),
                &planned.plan.changes,
                &planned.snapshot,
                KeyRound::Change,
            )
            .await;

        // Writes that found their target changed since it was read (a sale landed in
        // between) are never forced: see `replan`.
        let stale = written.stale();
        if !stale.is_empty() && written.run_error.is_none() && !written.interrupted {
            match self
                .replan_stale(recorder, &mut planned, &mut written, &stale)
                .await
            {
                Ok(n) => info!(
                    stale = stale.len(),
                    replanned = n,
                    "re-planned writes whose target changed since it was read"
                ),
                Err(e) => {
                    warn!(error = %error_chain(&e), "could not re-read stale records; they are left for the next run")
                }
            }
        }

        // What this run wrote to the store will show as changes to its next catalog read
        // (ADR 0017): counted, so a read facing many of them reads whole at once.
        let applied = written.applied();
        if self.request.update == Side::Store
            && applied > 0
            && let Err(e) = self
                .engine
                .db()
                .count_catalog_writes(&self.request.store, applied)
                .await
        {
            warn!(error = %error_chain(&e), "could not count this run's writes on the kept catalog");
        }
        let (status, error) = match (&written.run_error, written.interrupted) {
            (_, true) => (
                Some(RunStatus::Interrupted),
                Some((
                    "interrupted: stopped before all changes were written".to_owned(),
                    false,
                )),
            ),
            (Some(e), false) => (Some(RunStatus::Failed), Some(e.clone())),
            (None, false) => (None, None),
        };
        Ok(planned.report(self.request, &written, status, error))
    }
}

impl Planned {
    /// What goes on record before any write: each difference held back, and each product
    /// that could not be read (once per field the run syncs).
    fn held_back(&self, request: &SyncRequest) -> Vec<NewRunItem> {
        let mut items: Vec<NewRunItem> = report_skips(&self.plan, &self.snapshot)
            .into_iter()
            .map(skip_item)
            .collect();
        items.extend(reject_items(&self.snapshot, request.fields));
        items
    }

    /// The report of this plan with what became of its changes, and the run-level error
    /// (`(message, is input error)`) if any. `status` `None`: the one the counts give.
    fn report(
        &self,
        request: &SyncRequest,
        written: &Written,
        status: Option<RunStatus>,
        error: Option<(String, bool)>,
    ) -> RunReport {
        // Every product that could not be read was checked, and failed.
        let mut counts = RunCounts::tally(&self.plan, &written.results);
        counts.failed += self.snapshot.rejects.len() as i64;
        counts.checked += self.snapshot.rejects.len() as i64;
        let (error, input_error) = match error {
            Some((e, input)) => (Some(e), input),
            None => (None, false),
        };
        RunReport {
            run_id: None,
            dry_run: request.dry_run,
            status: status.unwrap_or_else(|| RunStatus::from_counts(&counts)),
            counts,
            changes: report_changes(
                &self.plan,
                &self.snapshot,
                &written.results,
                &written.errors,
            ),
            skipped: report_skips(&self.plan, &self.snapshot),
            error,
            input_error,
            unrecorded: None,
            unknown_skus: self.unknown_skus.clone(),
        }
    }
}

/// The planning half of a request.
fn plan_request(request: &SyncRequest) -> PlanRequest {
    PlanRequest {
        update: request.update,
        fields: request.fields,
        selection: request.selection.clone(),
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
