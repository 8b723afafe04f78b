//! The order watch's loop (issue 18, ADR 0100): every `[inventory] order_watch` (under
//! `in_orders = "reserve"`), one pass — [`Engine::watch_orders`] reads every store's
//! orders, and when order changes moved some SKUs, one quantity-only run
//! (`trigger = 'order'`) per store that shares the stock writes only those SKUs.
//!
//! * Never two passes at once: one task per daemon, passes one after the other, and
//!   across daemons on one database the `order_watch_lease` row.
//! * Never overlapping another run of the same store: a push to a store with a run in
//!   progress waits for it (polling the one-running-run-per-store rule the database
//!   enforces) for up to [`BUSY_WAIT`]; a store still busy then leaves the changes for
//!   the next pass.
//! * Budgets: every request goes through the connectors' pipeline, so the platform
//!   accounts' rate budgets are the ones schedules spend (ADR 0026).
//! * `/metrics`: `invsync_order_watch_passes_total{outcome}`,
//!   `invsync_order_watch_skus_pushed_total{store}` and
//!   `invsync_order_watch_delay_seconds` (an order's first sighting → the last store
//!   written).

use invsync_config::Config;
use invsync_core::SkuKey;
use invsync_engine::{Engine, EngineError, NoProgress, RunReport, SyncRequest, WatchBaseline};
use invsync_store::{Db, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long a push waits for a store's run in progress before the pass leaves that
/// store's changes to the next pass.
pub const BUSY_WAIT: Duration = Duration::from_secs(300);
/// How often a push asks again whether the store is free.
const BUSY_POLL: Duration = Duration::from_secs(1);
/// How often the loop looks again at a config that has the watch off.
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// How a pass ended (the `outcome` label of `invsync_order_watch_passes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassOutcome {
    /// No order changed: nothing was written.
    Quiet,
    /// Every store that shares the stock got the changed SKUs.
    Pushed,
    /// Some store could not be written (busy past [`BUSY_WAIT`], a failed run, a stop):
    /// the changes stay for the next pass.
    Incomplete,
    /// The orders could not be read.
    Failed,
    /// Another daemon's pass was under way.
    Elsewhere,
}

impl PassOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PassOutcome::Quiet => "quiet",
            PassOutcome::Pushed => "pushed",
            PassOutcome::Incomplete => "incomplete",
            PassOutcome::Failed => "failed",
            PassOutcome::Elsewhere => "elsewhere",
        }
    }
}

/// The watch of one daemon.
pub struct OrderWatcher {
    db: Db,
    config: Arc<RwLock<Arc<Config>>>,
    /// `host:pid:start`: who holds the lease.
    owner: String,
    /// [`BUSY_WAIT`], shorter in tests.
    busy_wait: Duration,
    /// The accounting baseline held between passes (each pass has its own engine).
    baseline: Arc<WatchBaseline>,
}

impl OrderWatcher {
    pub fn new(db: Db, config: Arc<RwLock<Arc<Config>>>, owner: String) -> OrderWatcher {
        OrderWatcher {
            db,
            config,
            owner,
            busy_wait: BUSY_WAIT,
            baseline: Arc::default(),
        }
    }

    /// How long a push waits for a busy store (tests).
    #[cfg(feature = "testing")]
    pub fn with_busy_wait(mut self, wait: Duration) -> OrderWatcher {
        self.busy_wait = wait;
        self
    }

    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Runs passes until `stop`; `cancel` stops a push between its write batches (the
    /// daemon cancels it once the shutdown grace is over). The first pass is at once.
    pub async fn run(self, stop: CancellationToken, cancel: CancellationToken) {
        loop {
            let config = self.config();
            let wait = match config.inventory.watches_orders() {
                Some(period) => {
                    let started = tokio::time::Instant::now();
                    let outcome = self.pass(config, &stop, &cancel).await;
                    metrics::counter!("invsync_order_watch_passes_total", "outcome" => outcome.as_str())
                        .increment(1);
                    period.saturating_sub(started.elapsed())
                }
                None => IDLE_CHECK,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass: claim the lease, read, push, forget what was pushed, release.
    pub async fn pass(
        &self,
        config: Arc<Config>,
        stop: &CancellationToken,
        cancel: &CancellationToken,
    ) -> PassOutcome {
        let period = config.inventory.watches_orders().unwrap_or(BUSY_WAIT);
        // The lease outlasts a pass that waits for busy stores; a daemon that dies frees
        // it when it expires.
        let lease = chrono::Duration::from_std(period + self.busy_wait * 2)
            .unwrap_or_else(|_| chrono::Duration::minutes(15));
        let claimed = async {
            let now = self.db.now().await?;
            self.db
                .claim_order_watch(&self.owner, now, now + lease)
                .await
        };
        match claimed.await {
            Ok(true) => {}
            Ok(false) => return PassOutcome::Elsewhere,
            Err(e) => {
                warn!(error = %invsync_engine::error_chain(&e), "order watch: could not claim its lease; trying again next pass");
                return PassOutcome::Failed;
            }
        }
        let engine = Engine::new(config, self.db.clone())
            .with_recovery_budget(Duration::ZERO)
            .with_watch_baseline(self.baseline.clone());
        let outcome = self.read_and_push(&engine, stop, cancel).await;
        if let Err(e) = self.db.release_order_watch(&self.owner).await {
            warn!(error = %invsync_engine::error_chain(&e), "order watch: could not release its lease; it expires");
        }
        outcome
    }

    async fn read_and_push(
        &self,
        engine: &Engine,
        stop: &CancellationToken,
        cancel: &CancellationToken,
    ) -> PassOutcome {
        let mut watch = match engine.watch_orders().await {
            Ok(watch) => watch,
            Err(e) => {
                warn!(error = %invsync_engine::error_chain(&e), "order watch: could not read the stores' orders");
                return PassOutcome::Failed;
            }
        };
        for unread in &watch.unread {
            warn!(store = %unread.store, error = %unread.error, "order watch: could not read this store's orders");
        }
        if watch.is_quiet() {
            // Nothing to push, but a first pass keeps the accounting baseline (ADR 0102).
            if let Err(e) = engine.acknowledge_order_changes(&watch).await {
                warn!(error = %invsync_engine::error_chain(&e), "order watch: could not keep the accounting baseline; the next pass tries again");
            }
            return PassOutcome::Quiet;
        }
        info!(
            skus = watch.skus.len(),
            stores = watch.targets.len(),
            "order watch: orders changed; pushing their quantities"
        );
        let mut complete = true;
        for store in watch.targets.clone() {
            if stop.is_cancelled() {
                return PassOutcome::Incomplete;
            }
            let result = push(engine, &store, &watch.skus, self.busy_wait, cancel).await;
            // The engine's rule of what a push leaves to do: a failed write keeps its
            // SKU's changes (and its old baseline quantity), a push that did not run
            // through keeps every change.
            complete &= watch.account(&result);
        }
        if !complete {
            // What every store got is forgotten; the rest waits for the next pass.
            if let Err(e) = engine.acknowledge_order_changes(&watch).await {
                warn!(error = %invsync_engine::error_chain(&e), "order watch: could not forget the pushed changes; the next pass pushes them again");
            }
            return PassOutcome::Incomplete;
        }
        // Every store is written: the delay of each order is from its first sighting.
        if let Ok(now) = self.db.now().await {
            let mut first_seen: HashMap<(&str, &str), chrono::DateTime<chrono::Utc>> =
                HashMap::new();
            for c in &watch.changes {
                let at = first_seen
                    .entry((c.store.as_str(), c.order_id.as_str()))
                    .or_insert(c.seen_at);
                *at = (*at).min(c.seen_at);
            }
            for seen in first_seen.values() {
                let delay = (now - *seen).to_std().unwrap_or_default();
                metrics::histogram!("invsync_order_watch_delay_seconds")
                    .record(delay.as_secs_f64());
            }
        }
        match engine.acknowledge_order_changes(&watch).await {
            Ok(()) => PassOutcome::Pushed,
            Err(e) => {
                warn!(error = %invsync_engine::error_chain(&e), "order watch: could not forget the pushed changes; the next pass pushes them again");
                PassOutcome::Incomplete
            }
        }
    }
}

/// Pushes `skus` to one store, waiting while another run holds it; the push's outcome
/// for [`invsync_engine::OrderWatch::account`].
async fn push(
    engine: &Engine,
    store: &str,
    skus: &[SkuKey],
    busy_wait: Duration,
    cancel: &CancellationToken,
) -> Result<RunReport, EngineError> {
    let request = SyncRequest::order_push(store, skus);
    let deadline = tokio::time::Instant::now() + busy_wait;
    loop {
        match engine.sync(&request, &NoProgress, cancel).await {
            Ok(report) => {
                let checked = u64::try_from(report.counts.checked).unwrap_or(0);
                metrics::counter!("invsync_order_watch_skus_pushed_total", "store" => store.to_owned())
                    .increment(checked);
                if report.unrecorded.is_some() {
                    // The write happened; its record is left to the stale-heartbeat
                    // recovery (the daemon's scheduler retries only its own runs).
                    warn!(store, "order watch: a push's outcome could not be recorded");
                }
                return Ok(report);
            }
            Err(e) => {
                let busy = matches!(e, EngineError::Store(StoreError::RunInProgress { .. }));
                if busy && tokio::time::Instant::now() < deadline && !cancel.is_cancelled() {
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(e),
                        _ = tokio::time::sleep(BUSY_POLL) => continue,
                    }
                }
                if busy {
                    info!(
                        store,
                        "order watch: the store stayed busy; its push waits for the next pass"
                    );
                } else {
                    warn!(store, error = %invsync_engine::error_chain(&e), "order watch: a push could not start");
                }
                return Err(e);
            }
        }
    }
}
