//! `invsync daemon`: run the schedules until SIGTERM (see `invsync-daemon`).

use crate::{CliError, CmdResult};
use invsync_daemon::{DaemonError, DaemonOptions, Signal};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::path::Path;
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

pub async fn run(config: Option<&Path>) -> CmdResult {
    let config_path = invsync_config::resolve_path(config);
    let metrics = install_metrics();
    let (tx, rx) = mpsc::channel(8);
    let signals = tokio::spawn(forward_signals(tx));
    let result = invsync_daemon::run(
        DaemonOptions {
            config_path,
            metrics,
        },
        rx,
    )
    .await;
    signals.abort();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(DaemonError::Config(e)) => Err(CliError::config(e)),
        Err(DaemonError::Store(e)) => Err(CliError::database(e)),
        Err(e) => Err(CliError::other(e)),
    }
}

/// The process-wide metrics recorder behind `/metrics`. Run durations, start delays and the
/// order watch's delays are histograms with buckets that fit syncs (seconds to an hour).
fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("invsync_run_duration_seconds".into()),
            &[
                0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
            ],
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("invsync_slot_start_delay_seconds".into()),
                &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0],
            )
        })
        .and_then(|b| {
            // An order's first sighting → the last store written: about one watch
            // period when all is well, up to the next schedule when it is not.
            b.set_buckets_for_metric(
                Matcher::Full("invsync_order_watch_delay_seconds".into()),
                &[
                    5.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0,
                ],
            )
        });
    match builder.and_then(|b| b.install_recorder()) {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "metrics are disabled");
            None
        }
    }
}

async fn forward_signals(tx: mpsc::Sender<Signal>) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot listen for signals");
        return;
    };
    loop {
        let signal = tokio::select! {
            _ = term.recv() => Signal::Shutdown,
            _ = int.recv() => Signal::Shutdown,
            _ = hup.recv() => Signal::Reload,
        };
        if tx.send(signal).await.is_err() {
            return;
        }
    }
}
