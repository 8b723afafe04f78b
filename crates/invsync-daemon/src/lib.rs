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
//!   `interrupted`, exit 0. SIGHUP: reload the config; a broken one is logged and ignored
//!   (the daemon stays healthy on the previous one); keys that only take effect at start
//!   (`daemon.listen`, `database.url`, …) are named in a warning and wait for a restart.
//! * `/healthz` and `/metrics` on `[daemon] listen`, through [`listener`]: bounded
//!   connections and timeouts, optional HTTPS and password (docs/adr/0070-http-listener.md);
//!   the soft open-file limit is raised at start and descriptors are kept for runs
//!   ([`descriptors`]).
//! * The order watch ([`watch`], issue 18): under `in_orders = "reserve"`, every
//!   `[inventory] order_watch` every store's orders are read and the quantities of only
//!   the SKUs they moved are pushed to the stores that share the stock, as
//!   `trigger = 'order'` runs.
//! * systemd: READY=1 only after config, database and migrations are fine; WATCHDOG=1
//!   from the scheduling loop itself; STOPPING=1; STATUS= lines.
//!
//! Why not tokio-cron-scheduler: docs/adr/0007-daemon-scheduling.md.

mod cadence;
pub mod clock;
pub mod descriptors;
pub mod health;
pub mod http;
pub mod listener;
mod notify;
pub mod scheduler;
pub mod watch;

#[cfg(feature = "testing")]
pub use clock::ManualClock;
pub use clock::{Clock, DbClock};
pub use health::Health;
pub use scheduler::{EngineRunner, Scheduler, SlotRunner};

use chrono::Utc;
use invsync_config::{Config, ConfigError, ConfigErrors};
use invsync_store::{Db, PoolOptions, ProcessIdentity, StoreError};
use listener::{Access, Limits, ListenError, Listener, ListenerConfig};
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
    #[error("cannot serve /healthz and /metrics")]
    Listen(#[source] ListenError),
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
    // First, before anything holds descriptors: the soft limit up to the hard one.
    let nofile = descriptors::raise();
    notify::status("loading the configuration");
    let config = Arc::new(invsync_config::load(&options.config_path)?);
    let health = Arc::new(Health::default());
    health.config_loaded(Utc::now(), Vec::new());
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
    let clock: Arc<dyn Clock> = Arc::new(DbClock(db.clone()));
    let runner: Arc<dyn SlotRunner> = Arc::new(EngineRunner { db: db.clone() });
    let mut scheduler = Scheduler::new(db.clone(), clock, runner, config.clone(), health.clone());
    scheduler.apply_config(config.clone()).await?;

    let shared_config = Arc::new(RwLock::new(config.clone()));
    let endpoint_stop = CancellationToken::new();
    let mut access = Access::new(config.daemon.password.as_ref(), http::OPEN_PATHS);
    let mut web = None;
    let endpoint = match config.daemon.listen {
        Some(addr) => {
            let state = http::EndpointState {
                db: db.clone(),
                config: shared_config.clone(),
                health: health.clone(),
                metrics: options.metrics.clone(),
            };
            // The web page (issue 16) on the same listener, behind the same password:
            // a browser logs in with it once and then carries a session cookie.
            let open: Vec<&'static str> = http::OPEN_PATHS
                .iter()
                .chain(invsync_web::OPEN_PATHS)
                .copied()
                .collect();
            access = Access::new(config.daemon.password.as_ref(), &open);
            let page = invsync_web::WebState::new(
                shared_config.clone(),
                db.clone(),
                Arc::new(access.clone()),
                config.daemon.tls.is_some(),
            );
            let sessions = page.sessions().clone();
            access = access.with_login(
                invsync_web::LOGIN_PATH,
                Arc::new(move |headers| sessions.logged_in(headers)),
            );
            let listener = bind_endpoint(&config, addr, nofile).await?;
            let app = http::router(state).merge(http::web_router(page.clone()));
            web = Some(page);
            Some(tokio::spawn(listener.serve(
                app,
                access.clone(),
                endpoint_stop.clone(),
            )))
        }
        None => {
            info!(
                nofile = nofile.soft,
                nofile_hard = nofile.hard,
                "descriptors"
            );
            None
        }
    };
    let web_connector = match &config.web_connector {
        Some(wc) => {
            Some(serve_web_connector(&config, wc, &db, &me, nofile, endpoint_stop.clone()).await?)
        }
        None => None,
    };
    // The order watch runs beside the schedules, on the config reloads give it.
    let watch_stop = CancellationToken::new();
    let watch_cancel = CancellationToken::new();
    let mut order_watch = Some(tokio::spawn(
        watch::OrderWatcher::new(
            db.clone(),
            shared_config.clone(),
            format!("{}:{}:{}", me.host, me.pid, me.start_marker),
        )
        .run(watch_stop.clone(), watch_cancel.clone()),
    ));
    let running = Running {
        started_with: config.clone(),
        shared: shared_config,
        health: health.clone(),
        access,
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
                Some(Signal::Reload) => reload(&options, &mut scheduler, &running).await,
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
    // The watch starts no pass or push from here; one in flight gets the same grace.
    watch_stop.cancel();
    let watch_shutdown = async {
        if let Some(task) = order_watch.as_mut()
            && tokio::time::timeout(grace, &mut *task).await.is_err()
        {
            watch_cancel.cancel();
            let _ = task.await;
        }
    };
    tokio::join!(scheduler.shutdown(grace), watch_shutdown);
    // Runs started from the web page get the same grace, then end `interrupted`.
    if let Some(web) = &web {
        web.shutdown(grace).await;
    }
    if let Some(task) = recovery {
        let _ = task.await;
    }
    endpoint_stop.cancel();
    if let Some(endpoint) = endpoint {
        let _ = endpoint.await;
    }
    if let Some((listener, endpoint)) = web_connector {
        let _ = listener.await;
        endpoint.close_all().await;
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

/// Recovers the runs of processes that are gone ([`invsync_engine::recover_dead_runs`]:
/// marks them `interrupted`, then settles them one bounded step after another) until none
/// is left or `stop` is cancelled. Errors are logged; the daemon's loop starts it again
/// later.
async fn recover_in_background(db: Db, me: ProcessIdentity, stop: CancellationToken) {
    match invsync_engine::recover_dead_runs(&db, &me, || stop.is_cancelled()).await {
        Ok(recovered) if !recovered.pending.is_empty() && stop.is_cancelled() => {
            info!("recovery paused as the daemon stops; the next start goes on with it");
        }
        Ok(_) => {}
        Err(e) => {
            warn!(error = %invsync_engine::error_chain(&e), "could not recover the runs of processes that are gone; retrying later");
        }
    }
}

/// Binds `[daemon] listen` with as many connections as the descriptors allow beside the
/// reserve for runs, and logs the numbers.
async fn bind_endpoint(
    config: &Config,
    addr: std::net::SocketAddr,
    nofile: descriptors::NoFile,
) -> Result<Listener, DaemonError> {
    let limits = limits(config, nofile);
    let (reserved, max_connections) = (
        descriptors::reserve(config.database.max_connections),
        limits.max_connections,
    );
    info!(
        nofile = nofile.soft,
        nofile_hard = nofile.hard,
        reserved,
        max_connections,
        "descriptors: the HTTP listener holds at most max_connections, the rest stays for runs"
    );
    if max_connections < usize::try_from(config.daemon.max_connections).unwrap_or(usize::MAX) {
        warn!(
            nofile = nofile.soft,
            max_connections,
            configured = config.daemon.max_connections,
            "the open-file limit lowers daemon.max_connections; raise LimitNOFILE"
        );
    }
    let listener = Listener::bind(ListenerConfig {
        section: "daemon",
        addr,
        tls: config.daemon.tls.as_ref(),
        limits,
    })
    .await
    .map_err(|e| listen_error(config, e))?;
    info!(
        addr = %listener.local_addr(),
        url = %listener.url(),
        password = config.daemon.password.is_some(),
        "serving /healthz and /metrics and the web page"
    );
    Ok(listener)
}

/// What a listener takes on: `[daemon] max_connections` (lowered so the descriptors leave a
/// reserve for runs) and its timeouts; the Web Connector's listener shares them.
fn limits(config: &Config, nofile: descriptors::NoFile) -> Limits {
    let reserved = descriptors::reserve(config.database.max_connections);
    Limits {
        max_connections: descriptors::connection_cap(
            nofile.soft,
            reserved,
            config.daemon.max_connections,
        ),
        header_timeout: config.daemon.header_timeout,
        idle_timeout: config.daemon.idle_timeout,
    }
}

/// Serves the QuickBooks Web Connector's endpoint on `[web_connector] listen` through the
/// same listener as `/healthz` (its limits and TLS; no HTTP password: the Web Connector
/// authenticates in SOAP). Until a QuickBooks Desktop/POS accounting side plugs its work in,
/// the company file has none: `authenticate` answers `none` (ADR 0080).
async fn serve_web_connector(
    config: &Config,
    wc: &invsync_config::WebConnectorConfig,
    db: &Db,
    me: &ProcessIdentity,
    nofile: descriptors::NoFile,
    stop: CancellationToken,
) -> Result<(tokio::task::JoinHandle<()>, invsync_webconnector::Endpoint), DaemonError> {
    let listener = Listener::bind(ListenerConfig {
        section: "web_connector",
        addr: wc.listen,
        tls: wc.tls.as_ref(),
        limits: limits(config, nofile),
    })
    .await
    .map_err(|e| listen_error(config, e))?;
    // QuickBooks Desktop or POS as the accounting side: its sessions read the company and
    // carry the runs' writes (ADR 0080, 0081). Any other accounting side: no work (`none`).
    let work: Arc<dyn invsync_webconnector::CompanyWork> =
        match invsync_connectors::web_connector_side(&config.accounting) {
            Some((company, dialect, max_age)) => {
                let bridge = invsync_connectors::quickbooks_desktop::Bridge::new(
                    company,
                    dialect,
                    Arc::new(invsync_engine::DbSnapshots::new(db.clone())),
                    max_age,
                    true,
                );
                bridge.register();
                Arc::new(invsync_webconnector::BridgeWork(bridge))
            }
            None => Arc::new(invsync_webconnector::NoWork),
        };
    let endpoint = invsync_webconnector::Endpoint::new(
        vec![invsync_webconnector::CompanySetup::from_config(wc, work)],
        invsync_webconnector::EndpointOptions {
            db: db.clone(),
            session_timeout: wc.session_timeout,
            owner: format!("{}:{}:{}", me.host, me.pid, me.start_marker),
            app_name: wc.app_name.clone(),
        },
    );
    info!(
        addr = %listener.local_addr(),
        url = %listener.url(),
        public_url = %wc.public_url,
        "serving the QuickBooks Web Connector at /qbwc"
    );
    let task = tokio::spawn(listener.serve(endpoint.router(), Access::new(None, &[]), stop));
    Ok((task, endpoint))
}

/// A TLS file that cannot be used is a config error (exit 2) naming its key; a port
/// that cannot be bound is not.
fn listen_error(config: &Config, e: ListenError) -> DaemonError {
    match e {
        ListenError::Tls { key, message } => DaemonError::Config(ConfigErrors(vec![ConfigError {
            file: config.source.clone(),
            key: Some(key),
            env: None,
            message,
        }])),
        other => DaemonError::Listen(other),
    }
}

/// What a reload needs besides the scheduler.
struct Running {
    /// The config the daemon started with: keys in [`restart_keys`] keep these values.
    started_with: Arc<Config>,
    /// The config `/healthz` judges schedules by.
    shared: Arc<RwLock<Arc<Config>>>,
    health: Arc<Health>,
    /// The listener's password, which a reload may change.
    access: Access,
}

/// Keys whose values are taken once, at start: the database pool and the listener.
const RESTART_KEYS: &[&str] = &[
    "database.url",
    "database.max_connections",
    "database.connect_timeout",
    "daemon.listen",
    "daemon.tls_cert",
    "daemon.tls_key",
    "daemon.max_connections",
    "daemon.header_timeout",
    "daemon.idle_timeout",
    "web_connector",
    "accounting",
];

/// Whether a QuickBooks Desktop accounting side changed (or appeared, or went): its bridge,
/// which the Web Connector's sessions serve, is made once, at start (ADR 0080 §9). Other
/// accounting kinds reload like the rest of the config.
fn desktop_accounting_changed(
    a: &invsync_config::ConnectionConfig,
    b: &invsync_config::ConnectionConfig,
) -> bool {
    use invsync_config::ConnectionConfig::QuickBooksDesktop;
    match (a, b) {
        (QuickBooksDesktop(a), QuickBooksDesktop(b)) => a != b,
        (QuickBooksDesktop(_), _) | (_, QuickBooksDesktop(_)) => true,
        _ => false,
    }
}

/// Whether `[web_connector]` changed: the endpoint, its login and its listener are set up
/// once, at start.
fn web_connector_changed(
    a: Option<&invsync_config::WebConnectorConfig>,
    b: Option<&invsync_config::WebConnectorConfig>,
) -> bool {
    match (a, b) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            a.listen != b.listen
                || a.tls != b.tls
                || a.username != b.username
                || a.password.expose_secret() != b.password.expose_secret()
                || a.company_file != b.company_file
                || a.qb_type != b.qb_type
                || a.session_timeout != b.session_timeout
                || a.app_name != b.app_name
        }
        _ => true,
    }
}

/// The keys of [`RESTART_KEYS`] whose values in `new` differ from those the daemon runs
/// with (compared as loaded: a default written out is no change).
fn restart_keys(running: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.database, &new.database);
    let (c, d) = (&running.daemon, &new.daemon);
    let cert = |cfg: &invsync_config::DaemonConfig| cfg.tls.as_ref().map(|t| t.cert.clone());
    let key = |cfg: &invsync_config::DaemonConfig| cfg.tls.as_ref().map(|t| t.key.clone());
    let changed = [
        a.url.expose_secret() != b.url.expose_secret(),
        a.max_connections != b.max_connections,
        a.connect_timeout != b.connect_timeout,
        c.listen != d.listen,
        cert(c) != cert(d),
        key(c) != key(d),
        c.max_connections != d.max_connections,
        c.header_timeout != d.header_timeout,
        c.idle_timeout != d.idle_timeout,
        web_connector_changed(running.web_connector.as_ref(), new.web_connector.as_ref()),
        desktop_accounting_changed(&running.accounting, &new.accounting),
    ];
    RESTART_KEYS
        .iter()
        .zip(changed)
        .filter_map(|(k, changed)| changed.then_some(*k))
        .collect()
}

/// The address the daemon listens on, if other hosts can reach it.
fn exposed(config: &Config) -> Option<std::net::SocketAddr> {
    config
        .daemon
        .listen
        .filter(|addr| !invsync_config::is_loopback(addr))
}

/// SIGHUP: a valid config replaces the old one for runs started from now on, except the
/// keys that take a restart (each named in a warning); an invalid one is logged, error by
/// error, and the daemon keeps running, healthy, on the old one.
async fn reload(options: &DaemonOptions, scheduler: &mut Scheduler, running: &Running) {
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
            running
                .health
                .config_reload_failed(Utc::now(), errors.iter().map(ToString::to_string).collect());
            return;
        }
    };
    let restart = restart_keys(&running.started_with, &config);
    for key in &restart {
        warn!(key, "`{key}` changed; restart to apply");
    }
    let under_restart_key = |k: &String| {
        RESTART_KEYS
            .iter()
            .any(|r| k == r || k.starts_with(&format!("{r}.")))
    };
    let previous = scheduler.config().clone();
    let applied: Vec<String> = config
        .changed_keys(&previous)
        .into_iter()
        .filter(|k| !under_restart_key(k))
        .collect();
    match scheduler.apply_config(config.clone()).await {
        Ok(()) => {
            if let Ok(mut s) = running.shared.write() {
                *s = config.clone();
            }
            let mut restart: Vec<String> = restart.iter().map(|k| (*k).to_owned()).collect();
            // The listener keeps the address it started on until a restart: one other hosts
            // can reach never loses its password (the new config may be valid only because
            // its `listen` is loopback).
            match (
                config.daemon.password.as_ref(),
                exposed(&running.started_with),
            ) {
                (None, Some(addr)) => {
                    warn!(
                        %addr,
                        "`daemon.password` removed, but the daemon listens on an address other hosts can reach until it restarts: the previous password stays"
                    );
                    restart.push("daemon.password".to_owned());
                }
                (password, _) => running.access.set_password(password),
            }
            running.health.config_loaded(Utc::now(), restart.clone());
            if applied.is_empty() {
                let what = if restart.is_empty() {
                    "configuration re-read: nothing changed"
                } else {
                    "configuration re-read: nothing else changed, so nothing was applied"
                };
                info!(restart_pending = %restart.join(", "), "{what}");
            } else {
                info!(
                    schedules = config.schedules.len(),
                    changed = %applied.join(", "),
                    restart_pending = %restart.join(", "),
                    "configuration reloaded"
                );
            }
            if !restart.is_empty() {
                notify::status(&format!(
                    "configuration reloaded; restart to apply {}",
                    restart.join(", ")
                ));
            }
        }
        Err(e) => {
            let e = invsync_engine::error_chain(&e);
            error!(error = %e, "could not apply the reloaded configuration; keeping the previous one");
            running
                .health
                .config_reload_failed(Utc::now(), vec![format!("could not apply it: {e}")]);
        }
    }
}
