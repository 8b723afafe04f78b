//! `invsync daemon`: runs every `[[schedules]]` entry through the engine, on time, once.
//!
//! * Due times live in the database (`sync_schedules.next_due_at`), judged by the
//!   database's clock: restarts never reset a schedule, downtime costs one catch-up run
//!   (not one per missed slot), and several daemons on one Postgres run each slot exactly
//!   once — a slot is claimed by a single conditional `UPDATE`.
//! * A slot holds a lease while it runs, so a run longer than its interval delays the next
//!   slot instead of overlapping it; a daemon that dies stops renewing and the schedule
//!   goes on elsewhere (its run row becomes `interrupted`).
//! * SIGTERM: stop claiming, give runs in flight `shutdown_grace`, record what is left as
//!   `interrupted`, exit 0. SIGHUP: reload the config; a broken one is logged and ignored.
//! * systemd: READY=1 only after config, database and migrations are fine; WATCHDOG=1
//!   from the scheduling loop itself; STOPPING=1; STATUS= lines.
//!
//! Why not tokio-cron-scheduler: docs/adr/0007-daemon-scheduling.md.

mod cadence;
pub mod clock;
pub mod health;
pub mod http;
mod notify;
pub mod scheduler;

pub use clock::{Clock, DbClock, ManualClock};
pub use health::Health;
pub use scheduler::{EngineRunner, Scheduler, SlotRunner};

use invsync_config::{Config, ConfigErrors};
use invsync_store::{Db, PoolOptions, ProcessIdentity, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// What the daemon is told from outside (signals, in the binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP: read the config again.
    Reload,
    /// SIGTERM / SIGINT: stop.
    Shutdown,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("cannot serve /healthz and /metrics on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("run history")]
    Store(#[from] StoreError),
}

pub struct DaemonOptions {
    pub config_path: PathBuf,
    /// Renders `/metrics`; the binary installs the global recorder.
    pub metrics: Option<PrometheusHandle>,
}

/// How often runs whose daemon died are looked for (stale heartbeats).
const RECOVER_EVERY: Duration = Duration::from_secs(60);
/// A scheduling pass that takes longer than this is abandoned (a hung database), so the
/// loop keeps pinging the watchdog and answering signals.
const TICK_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the daemon until [`Signal::Shutdown`] (or the channel closes).
pub async fn run(
    options: DaemonOptions,
    mut signals: mpsc::Receiver<Signal>,
) -> Result<(), DaemonError> {
    notify::status("loading the configuration");
    let config = Arc::new(invsync_config::load(&options.config_path)?);
    let Some(db) = connect(&config, &mut signals).await else {
        return Ok(());
    };
    let me = ProcessIdentity::current();
    // Runs left by dead processes are recovered off this path (issue 13, item 1): a run
    // with a million writes in flight takes a while to settle, and the daemon must be
    // ready, serve /healthz and obey SIGTERM meanwhile.
    let recovery_stop = CancellationToken::new();
    let mut recovery = Some(tokio::spawn(recover_in_background(
        db.clone(),
        me.clone(),
        recovery_stop.clone(),
    )));
    let health = Arc::new(Health::default());
    let clock: Arc<dyn Clock> = Arc::new(DbClock(db.clone()));
    let runner: Arc<dyn SlotRunner> = Arc::new(EngineRunner { db: db.clone() });
    let mut scheduler = Scheduler::new(db.clone(), clock, runner, config.clone(), health.clone());
    scheduler.apply_config(config.clone()).await?;

    let shared_config = Arc::new(RwLock::new(config.clone()));
    let endpoint_stop = CancellationToken::new();
    let endpoint = match config.daemon.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| DaemonError::Listen { addr, source })?;
            let state = http::EndpointState {
                db: db.clone(),
                config: shared_config.clone(),
                health: health.clone(),
                metrics: options.metrics.clone(),
            };
            let stop = endpoint_stop.clone();
            // The bound address: with port 0 the system picked it.
            let addr = listener.local_addr().unwrap_or(addr);
            info!(%addr, "serving /healthz and /metrics");
            Some(tokio::spawn(async move {
                let served = axum::serve(listener, http::router(state))
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(e) = served {
                    error!(error = %e, "the health endpoint stopped");
                }
            }))
        }
        None => None,
    };

    let schedules = config.schedules.len();
    info!(schedules, database = %db.redacted_url(), "daemon ready");
    notify::ready(&format!("running {schedules} schedule(s)"));
    let watchdog = notify::watchdog_interval();
    let mut last_recover = tokio::time::Instant::now();
    let mut last_status = String::new();
    loop {
        // The watchdog is fed from here and only here: if this loop wedges, pings stop and
        // systemd restarts the service.
        if watchdog.is_some() {
            notify::watchdog();
        }
        let poll = {
            let poll = scheduler.config().daemon.poll;
            watchdog.map_or(poll, |w| poll.min(w / 2))
        };
        if last_recover.elapsed() >= RECOVER_EVERY
            && recovery.as_ref().is_none_or(|task| task.is_finished())
        {
            last_recover = tokio::time::Instant::now();
            recovery = Some(tokio::spawn(recover_in_background(
                db.clone(),
                me.clone(),
                recovery_stop.clone(),
            )));
        }
        scheduler.retry_pending().await;
        let sleep = match tokio::time::timeout(TICK_TIMEOUT, scheduler.tick()).await {
            Ok(Ok((now, next))) => {
                health.db_ok();
                next.and_then(|next| (next - now).to_std().ok())
                    .map_or(poll, |until| until.min(poll))
            }
            Ok(Err(e)) => {
                let e = invsync_engine::error_chain(&e);
                warn!(error = %e, "scheduling pass failed; retrying");
                health.db_failed(e);
                poll.min(Duration::from_secs(5))
            }
            Err(_) => {
                warn!("scheduling pass timed out; retrying");
                health.db_failed("the scheduling pass timed out".to_owned());
                poll.min(Duration::from_secs(5))
            }
        };
        let status = format!(
            "{} schedule(s), {} running{}",
            scheduler.config().schedules.len(),
            scheduler.running(),
            match health.db_error() {
                Some(e) => format!("; database problem: {e}"),
                None => String::new(),
            }
        );
        if status != last_status {
            notify::status(&status);
            last_status = status;
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            Some(_) = scheduler.slot_ended() => {}
            signal = signals.recv() => match signal {
                Some(Signal::Reload) => reload(&options, &mut scheduler, &shared_config, &health).await,
                Some(Signal::Shutdown) | None => break,
            },
        }
    }

    let grace = scheduler.config().daemon.shutdown_grace;
    notify::stopping(&format!(
        "stopping: waiting up to {}s for {} run(s)",
        grace.as_secs(),
        scheduler.running()
    ));
    info!("stopping");
    // Recovery stops after the step it is in (one short transaction); the next start goes
    // on where it stopped.
    recovery_stop.cancel();
    scheduler.shutdown(grace).await;
    if let Some(task) = recovery {
        let _ = task.await;
    }
    endpoint_stop.cancel();
    if let Some(endpoint) = endpoint {
        let _ = endpoint.await;
    }
    db.close().await;
    info!("stopped");
    Ok(())
}

/// Connects and migrates, retrying with backoff while the database is unreachable. READY
/// is not sent meanwhile. `None` when asked to stop while waiting.
async fn connect(config: &Config, signals: &mut mpsc::Receiver<Signal>) -> Option<Db> {
    let options = PoolOptions {
        max_connections: config.database.max_connections,
        connect_timeout: config.database.connect_timeout,
    };
    let mut wait = Duration::from_secs(1);
    loop {
        let attempt = async {
            let db = Db::connect(config.database.url.expose_secret(), &options).await?;
            db.migrate().await?;
            Ok::<_, StoreError>(db)
        };
        match attempt.await {
            Ok(db) => return Some(db),
            Err(e) => {
                let e = invsync_engine::error_chain(&e);
                error!(error = %e, retry_in_s = wait.as_secs(), "database not ready; waiting");
                notify::status(&format!("waiting for the database: {e}"));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            signal = signals.recv() => match signal {
                Some(Signal::Reload) => {}
                Some(Signal::Shutdown) | None => return None,
            },
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// Marks runs whose process is gone as `interrupted`, then settles every run pending
/// recovery, one bounded step (one short transaction) after another, until none is left
/// or `stop` is cancelled. Errors are logged; the daemon's loop starts it again later.
async fn recover_in_background(db: Db, me: ProcessIdentity, stop: CancellationToken) {
    match db.mark_interrupted(&me, invsync_engine::STALE_AFTER).await {
        Ok(ids) => {
            for id in ids {
                info!(
                    run.id = id,
                    "a run left running by a process that is gone is now interrupted"
                );
            }
        }
        Err(e) => {
            warn!(error = %invsync_engine::error_chain(&e), "could not look for runs of dead processes");
            return;
        }
    }
    let mut previous = None;
    let mut steps = 0u64;
    loop {
        if stop.is_cancelled() {
            if steps > 0 {
                info!("recovery paused as the daemon stops; the next start goes on with it");
            }
            return;
        }
        match db.settle_step(previous.as_ref()).await {
            Ok(Some(step)) => {
                if steps == 0 {
                    info!(
                        run.id = step.run_id,
                        "recovering interrupted runs in the background"
                    );
                }
                steps += 1;
                previous = Some(step);
            }
            Ok(None) => return,
            Err(e) => {
                warn!(error = %invsync_engine::error_chain(&e), "could not settle an interrupted run; retrying later");
                return;
            }
        }
    }
}

/// SIGHUP: a valid config replaces the old one for runs started from now on; an invalid
/// one is logged, error by error, and the daemon keeps running on the old one.
async fn reload(
    options: &DaemonOptions,
    scheduler: &mut Scheduler,
    shared: &Arc<RwLock<Arc<Config>>>,
    health: &Health,
) {
    info!(config = %options.config_path.display(), "reloading the configuration");
    let config = match invsync_config::load(&options.config_path) {
        Ok(config) => Arc::new(config),
        Err(errors) => {
            for e in errors.iter() {
                error!(error = %e, "config reload rejected");
            }
            let summary = format!(
                "{} problem(s) in {}",
                errors.len(),
                options.config_path.display()
            );
            notify::status(&format!(
                "config reload failed ({summary}); running on the previous config"
            ));
            health.set_config_error(Some(summary));
            return;
        }
    };
    let old = scheduler.config().clone();
    if config.database.url.expose_secret() != old.database.url.expose_secret() {
        warn!("database.url changed: that takes a restart; the daemon keeps its current database");
    }
    match scheduler.apply_config(config.clone()).await {
        Ok(()) => {
            if let Ok(mut s) = shared.write() {
                *s = config.clone();
            }
            health.set_config_error(None);
            info!(schedules = config.schedules.len(), "configuration reloaded");
        }
        Err(e) => {
            error!(error = %invsync_engine::error_chain(&e), "could not apply the reloaded configuration; keeping the previous one");
        }
    }
}
