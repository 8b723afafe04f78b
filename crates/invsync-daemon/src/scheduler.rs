//! The scheduling core: keeps `sync_schedules` in step with the config, claims due slots
//! (one statement per slot, so several daemons run each slot exactly once), runs each
//! claimed slot through the engine while renewing its lease, and records what happened.
//!
//! Time comes from a [`Clock`] (the database's clock in production), and runs from a
//! [`SlotRunner`], so tests drive both.

use crate::cadence;
use crate::clock::Clock;
use crate::health::Health;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use invsync_config::{Config, ScheduleConfig};
use invsync_core::{RunStatus, Trigger};
use invsync_engine::{Engine, EngineError, NoProgress, PendingRecord, RunReport, SyncRequest};
use invsync_store::{Db, NewRun, ProcessIdentity, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

/// How long a claimed slot's lease lasts without renewal. A daemon that dies mid-run stops
/// renewing; its lease lapses and the schedule goes on (the run row itself becomes
/// `interrupted` once its heartbeat is this stale).
pub const LEASE: TimeDelta = TimeDelta::seconds(120);
/// How often a running slot renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(15);

/// Runs one slot. Production: the engine; tests: runs that take as long as they say.
#[async_trait]
pub trait SlotRunner: Send + Sync + 'static {
    async fn run(
        &self,
        config: Arc<Config>,
        request: SyncRequest,
        cancel: CancellationToken,
    ) -> Result<RunReport, EngineError>;
}

/// Runs slots through [`Engine::sync`], exactly as `invsync sync` runs manual syncs.
pub struct EngineRunner {
    pub db: Db,
}

#[async_trait]
impl SlotRunner for EngineRunner {
    async fn run(
        &self,
        config: Arc<Config>,
        request: SyncRequest,
        cancel: CancellationToken,
    ) -> Result<RunReport, EngineError> {
        // Dead runs are settled by the daemon's background recovery, not before each run.
        Engine::new(config, self.db.clone())
            .with_recovery_budget(std::time::Duration::ZERO)
            .sync(&request, &NoProgress, &cancel)
            .await
    }
}

/// A slot won by a claim whose pass was abandoned.
struct Won {
    schedule: ScheduleConfig,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// A slot that ended (sent by its task to the loop).
#[derive(Debug)]
pub struct SlotDone {
    pub schedule: String,
    pub status: Option<RunStatus>,
}

pub struct Scheduler {
    db: Db,
    me: ProcessIdentity,
    /// `host:pid:start`: who holds a lease.
    owner: String,
    clock: Arc<dyn Clock>,
    runner: Arc<dyn SlotRunner>,
    config: Arc<Config>,
    /// Schedules with a slot running in this process, and how to stop it.
    running: HashMap<String, CancellationToken>,
    tracker: TaskTracker,
    done_tx: mpsc::UnboundedSender<SlotDone>,
    done_rx: mpsc::UnboundedReceiver<SlotDone>,
    /// Slots this daemon won after the pass that claimed them was abandoned (the loop's
    /// timeout dropped it mid-claim): the next pass starts them, so no won slot goes unrun.
    won_tx: mpsc::UnboundedSender<Won>,
    won_rx: mpsc::UnboundedReceiver<Won>,
    /// Run outcomes the database could not take yet.
    pending: Arc<Mutex<Vec<PendingRecord>>>,
    health: Arc<Health>,
}

impl Scheduler {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        runner: Arc<dyn SlotRunner>,
        config: Arc<Config>,
        health: Arc<Health>,
    ) -> Scheduler {
        let me = ProcessIdentity::current();
        let owner = format!("{}:{}:{}", me.host, me.pid, me.start_marker);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (won_tx, won_rx) = mpsc::unbounded_channel();
        Scheduler {
            db,
            me,
            owner,
            clock,
            runner,
            config,
            running: HashMap::new(),
            tracker: TaskTracker::new(),
            done_tx,
            done_rx,
            won_tx,
            won_rx,
            pending: Arc::new(Mutex::new(Vec::new())),
            health,
        }
    }

    /// A second identity in the same process (tests run two "daemons" side by side).
    #[cfg(feature = "testing")]
    pub fn with_owner(mut self, owner: &str) -> Scheduler {
        self.owner = owner.to_owned();
        self
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Makes `sync_schedules` match `config` and uses it for runs started from now on
    /// (runs in flight keep the config they started with). New schedules are due now; a
    /// schedule whose store or cadence changed is re-timed from its last start; schedules
    /// no longer configured are removed (their run history stays).
    pub async fn apply_config(&mut self, config: Arc<Config>) -> Result<(), StoreError> {
        let now = self.clock.now().await?;
        let rows = self.db.list_schedules().await?;
        for schedule in &config.schedules {
            let cadence = schedule.cadence.describe();
            match rows.iter().find(|r| r.name == schedule.name) {
                None => {
                    if self
                        .db
                        .insert_schedule(&schedule.name, &schedule.store, &cadence, now)
                        .await?
                    {
                        info!(schedule = %schedule.name, store = %schedule.store, %cadence, "schedule added; due now");
                    }
                }
                Some(row) if row.cadence != cadence || row.store != schedule.store => {
                    let due = cadence::first_due(&schedule.cadence, row.last_started_at, now);
                    self.db
                        .update_schedule(&schedule.name, &schedule.store, &cadence, due)
                        .await?;
                    info!(schedule = %schedule.name, %cadence, next_due = %due, "schedule changed");
                }
                Some(_) => {}
            }
        }
        for row in &rows {
            if !config.schedules.iter().any(|s| s.name == row.name)
                && self.db.delete_schedule(&row.name).await?
            {
                info!(schedule = %row.name, "schedule removed");
            }
        }
        self.config = config;
        Ok(())
    }

    /// Claims and starts every due slot. Returns the database time it looked at and when
    /// the next slot of a configured schedule falls due (for the loop to sleep until).
    pub async fn tick(&mut self) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), StoreError> {
        self.reap();
        while let Ok(won) = self.won_rx.try_recv() {
            warn!(schedule = %won.schedule.name, due = %won.due, "starting a slot whose claim outlived an abandoned scheduling pass");
            self.start(won.schedule, won.due, won.now);
        }
        let now = self.clock.now().await?;
        let rows = self.db.list_schedules().await?;
        let mut next_wake: Option<DateTime<Utc>> = None;
        for row in rows {
            let Some(schedule) = self
                .config
                .schedules
                .iter()
                .find(|s| s.name == row.name)
                .cloned()
            else {
                continue;
            };
            metrics::gauge!("invsync_schedule_next_due_timestamp_seconds", "schedule" => row.name.clone())
                .set(row.next_due_at.timestamp() as f64);
            if self.running.contains_key(&row.name) {
                continue;
            }
            let leased =
                row.lease_owner.is_some() && row.lease_until.is_some_and(|until| until >= now);
            if row.next_due_at > now || leased {
                // Another daemon's run ends by its lease at the latest.
                let wake = if leased {
                    row.lease_until
                        .unwrap_or(row.next_due_at)
                        .max(row.next_due_at)
                } else {
                    row.next_due_at
                };
                next_wake = Some(next_wake.map_or(wake, |w| w.min(wake)));
                continue;
            }
            let next = cadence::next_due(&schedule.cadence, row.next_due_at, now);
            if self.claim(schedule, row.next_due_at, next, now).await? {
                next_wake = Some(next_wake.map_or(next, |w| w.min(next)));
            }
        }
        Ok((now, next_wake))
    }

    /// Claims the slot of `schedule` due at `due` and starts it if this daemon won it.
    ///
    /// The claim runs on its own task: if this pass is dropped while the `UPDATE` is in
    /// flight (the loop abandons a pass that takes too long), the statement may still
    /// commit. The task then hands the won slot to the next pass instead of losing it —
    /// a slot claimed but never started would otherwise be skipped silently.
    async fn claim(
        &mut self,
        schedule: ScheduleConfig,
        due: DateTime<Utc>,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
        let db = self.db.clone();
        let owner = self.owner.clone();
        let won_tx = self.won_tx.clone();
        let slot = schedule.clone();
        tokio::spawn(async move {
            let won = db
                .claim_slot(&slot.name, due, next, &owner, now, now + LEASE)
                .await;
            if let Err(Ok(true)) = answer_tx.send(won) {
                let _ = won_tx.send(Won {
                    schedule: slot,
                    due,
                    now,
                });
            }
        });
        match answer_rx.await {
            Ok(Ok(true)) => {
                self.start(schedule, due, now);
                Ok(true)
            }
            Ok(Ok(false)) => Ok(false),
            Ok(Err(e)) => Err(e),
            // The claim task died without answering (a panic): nothing was started.
            Err(_) => Ok(false),
        }
    }

    fn start(&mut self, schedule: ScheduleConfig, due: DateTime<Utc>, now: DateTime<Utc>) {
        let cancel = CancellationToken::new();
        self.running.insert(schedule.name.clone(), cancel.clone());
        let delay = (now - due).to_std().unwrap_or_default();
        metrics::histogram!("invsync_slot_start_delay_seconds").record(delay.as_secs_f64());
        info!(schedule = %schedule.name, store = %schedule.store, due = %due, "slot claimed; starting run");
        let task = SlotTask {
            db: self.db.clone(),
            me: self.me.clone(),
            owner: self.owner.clone(),
            clock: self.clock.clone(),
            runner: self.runner.clone(),
            config: self.config.clone(),
            done: self.done_tx.clone(),
            pending: self.pending.clone(),
            health: self.health.clone(),
        };
        self.tracker.spawn(task.run(schedule, due, cancel));
    }

    /// Forgets slots whose task ended; returns them.
    pub fn reap(&mut self) -> Vec<SlotDone> {
        let mut done = Vec::new();
        while let Ok(slot) = self.done_rx.try_recv() {
            self.running.remove(&slot.schedule);
            done.push(slot);
        }
        done
    }

    /// Waits until some running slot ends (for the loop's `select!`).
    pub async fn slot_ended(&mut self) -> Option<SlotDone> {
        let slot = self.done_rx.recv().await?;
        self.running.remove(&slot.schedule);
        Some(slot)
    }

    /// Waits for every running slot (tests).
    #[cfg(feature = "testing")]
    pub async fn wait_idle(&mut self) {
        while !self.running.is_empty() {
            if self.slot_ended().await.is_none() {
                break;
            }
        }
    }

    /// Retries run outcomes that could not be recorded; returns how many still wait.
    pub async fn retry_pending(&self) -> usize {
        let mut waiting = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return 0,
        };
        if waiting.is_empty() {
            return 0;
        }
        let engine = Engine::new(self.config.clone(), self.db.clone());
        let mut still = Vec::new();
        for mut record in waiting.drain(..) {
            match engine.record_late(&mut record).await {
                Ok(()) => {
                    info!(run.id = record.run_id, status = %record.status, "recorded a run outcome that had waited for the database")
                }
                Err(_) => still.push(record),
            }
        }
        let left = still.len();
        if let Ok(mut p) = self.pending.lock() {
            p.extend(still);
        }
        self.health.set_pending_records(left);
        left
    }

    /// Graceful stop: let running slots finish within `grace`; then ask them to stop
    /// between write batches and give them a few more seconds; whatever is still running
    /// is recorded `interrupted` so no run stays `running`.
    pub async fn shutdown(&mut self, grace: Duration) {
        self.tracker.close();
        while let Ok(won) = self.won_rx.try_recv() {
            warn!(schedule = %won.schedule.name, due = %won.due, "a slot claimed as the daemon stopped is not run; its lease lapses on its own");
        }
        let running = self.running.len();
        if running > 0 {
            info!(
                running,
                grace_ms = grace.as_millis() as u64,
                "waiting for runs in flight"
            );
        }
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                running = self.running.len(),
                "shutdown grace elapsed; stopping runs in flight"
            );
            for cancel in self.running.values() {
                cancel.cancel();
            }
            if tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
                .await
                .is_err()
            {
                let reason = format!(
                    "interrupted: the daemon stopped and the run did not finish within the shutdown grace ({})",
                    humantime_short(grace)
                );
                match self.db.interrupt_runs_of(&self.me, &reason).await {
                    Ok(ids) => {
                        for id in &ids {
                            warn!(run.id = id, "run marked interrupted at shutdown");
                        }
                        // Their batches in flight go on record now, within a bound; what
                        // is left waits for the next recovery.
                        let until = tokio::time::Instant::now() + SHUTDOWN_SETTLE;
                        if let Err(e) = self
                            .db
                            .settle_pending(Some(&ids), || tokio::time::Instant::now() >= until)
                            .await
                        {
                            warn!(error = %e, "could not settle the runs interrupted at shutdown; the next start will");
                        }
                    }
                    Err(e) => {
                        error!(error = %e, "could not mark the runs in flight as interrupted; the next daemon start will")
                    }
                }
            }
        }
        self.reap();
        if self.retry_pending().await > 0
            && let Ok(p) = self.pending.lock()
        {
            for record in p.iter() {
                error!(
                    run.id = record.run_id,
                    status = %record.status,
                    updated = record.counts.updated,
                    failed = record.counts.failed,
                    items = record.items.len(),
                    "run outcome could not be recorded before exit; the run will show as interrupted"
                );
            }
        }
    }
}

/// How long a stopping daemon spends putting the batches in flight of the runs it
/// interrupted on record (intents → items of unknown outcome) before it exits.
const SHUTDOWN_SETTLE: Duration = Duration::from_secs(5);

fn humantime_short(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Everything a running slot needs, moved into its task.
struct SlotTask {
    db: Db,
    me: ProcessIdentity,
    owner: String,
    clock: Arc<dyn Clock>,
    runner: Arc<dyn SlotRunner>,
    config: Arc<Config>,
    done: mpsc::UnboundedSender<SlotDone>,
    pending: Arc<Mutex<Vec<PendingRecord>>>,
    health: Arc<Health>,
}

impl SlotTask {
    async fn run(self, schedule: ScheduleConfig, due: DateTime<Utc>, cancel: CancellationToken) {
        let renewer = tokio::spawn(renew_lease(
            self.db.clone(),
            self.clock.clone(),
            schedule.name.clone(),
            self.owner.clone(),
        ));
        let request = SyncRequest::of_schedule(&schedule, Trigger::Schedule, Some(due));
        let started = std::time::Instant::now();
        let mut result = self
            .runner
            .run(self.config.clone(), request.clone(), cancel.clone())
            .await;
        // The order watch's push (a few SKUs' quantities) is short: a slot that finds the
        // store busy with one waits for it rather than being skipped until the next slot.
        let waited_since = tokio::time::Instant::now();
        while let Err(EngineError::Store(StoreError::RunInProgress { run_id, .. })) = &result
            && waited_since.elapsed() < crate::watch::BUSY_WAIT
            && !cancel.is_cancelled()
            && self
                .db
                .get_run(*run_id)
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.trigger == Trigger::Order)
        {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            result = self
                .runner
                .run(self.config.clone(), request.clone(), cancel.clone())
                .await;
        }
        renewer.abort();
        let (run_id, status) = self
            .account(&schedule, due, result, started.elapsed())
            .await;
        let now = match self.clock.now().await {
            Ok(now) => now,
            Err(_) => Utc::now(),
        };
        if let Err(e) = self
            .db
            .release_slot(&schedule.name, &self.owner, run_id, now)
            .await
        {
            warn!(schedule = %schedule.name, error = %e, "could not release the schedule's lease; it lapses on its own");
        }
        let _ = self.done.send(SlotDone {
            schedule: schedule.name,
            status,
        });
    }

    /// Metrics, logs and records for one finished slot.
    async fn account(
        &self,
        schedule: &ScheduleConfig,
        due: DateTime<Utc>,
        result: Result<RunReport, EngineError>,
        took: Duration,
    ) -> (Option<i64>, Option<RunStatus>) {
        let store = schedule.store.clone();
        match result {
            Ok(mut report) => {
                metrics::counter!("invsync_runs_total", "store" => store.clone(), "schedule" => schedule.name.clone(), "status" => report.status.as_str())
                    .increment(1);
                metrics::counter!("invsync_items_updated_total", "store" => store.clone())
                    .increment(report.counts.updated.max(0) as u64);
                metrics::histogram!("invsync_run_duration_seconds", "store" => store)
                    .record(took.as_secs_f64());
                if let Some(record) = report.unrecorded.take() {
                    warn!(run.id = record.run_id, schedule = %schedule.name, "run outcome waits for the database");
                    if let Ok(mut p) = self.pending.lock() {
                        p.push(record);
                        self.health.set_pending_records(p.len());
                    }
                }
                (report.run_id, Some(report.status))
            }
            Err(EngineError::Store(StoreError::RunInProgress {
                store: busy,
                run_id,
            })) => {
                // Another run (manual, or another schedule) holds the store: record the
                // skipped slot so the history has no silent gap.
                let reason =
                    format!("skipped: store `{busy}` already had a run in progress (run {run_id})");
                metrics::counter!("invsync_runs_total", "store" => store, "schedule" => schedule.name.clone(), "status" => "skipped").increment(1);
                let run = NewRun {
                    schedule: Some(schedule.name.clone()),
                    store: schedule.store.clone(),
                    trigger: Trigger::Schedule,
                    update_side: schedule.update,
                    fields: schedule.fields,
                    owner: self.me.clone(),
                    scheduled_for: Some(due),
                };
                match self.db.record_skipped_run(&run, due, &reason).await {
                    Ok(id) => {
                        info!(run.id = id, schedule = %schedule.name, %reason, "slot skipped");
                        (Some(id), Some(RunStatus::Skipped))
                    }
                    Err(e) => {
                        warn!(schedule = %schedule.name, error = %e, %reason, "could not record a skipped slot");
                        (None, Some(RunStatus::Skipped))
                    }
                }
            }
            Err(e) => {
                // Nothing was written to the platforms: the run could not start (the database
                // went away between claim and start, or the request is invalid).
                metrics::counter!("invsync_runs_total", "store" => store, "schedule" => schedule.name.clone(), "status" => "not_started").increment(1);
                error!(schedule = %schedule.name, error = %invsync_engine::error_chain(&e), "scheduled run could not start");
                (None, None)
            }
        }
    }
}

async fn renew_lease(db: Db, clock: Arc<dyn Clock>, name: String, owner: String) {
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = match clock.now().await {
            Ok(now) => now,
            Err(e) => {
                warn!(schedule = %name, error = %e, "cannot renew the schedule lease (database clock)");
                continue;
            }
        };
        match db.renew_lease(&name, &owner, now + LEASE).await {
            Ok(true) => {}
            Ok(false) => {
                warn!(schedule = %name, "the schedule lease was taken over; this run continues, the schedule may run elsewhere")
            }
            Err(e) => warn!(schedule = %name, error = %e, "cannot renew the schedule lease"),
        }
    }
}
