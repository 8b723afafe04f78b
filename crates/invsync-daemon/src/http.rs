//! The local HTTP endpoint (`[daemon] listen`): `/healthz` and `/metrics`.
//!
//! `/healthz` answers 200 `ok`, or 503 with the reasons: the database is unreachable, a
//! schedule is overdue by more than its interval, run outcomes wait for the database, or
//! the last config reload failed. `/metrics` is the Prometheus text format.

use crate::cadence;
use crate::health::Health;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use invsync_config::Config;
use invsync_store::Db;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone)]
pub struct EndpointState {
    pub db: Db,
    pub config: Arc<RwLock<Arc<Config>>>,
    pub health: Arc<Health>,
    pub metrics: Option<PrometheusHandle>,
}

pub fn router(state: EndpointState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(state): State<EndpointState>) -> Response {
    let mut reasons = Vec::new();
    let now = match tokio::time::timeout(Duration::from_secs(3), state.db.now()).await {
        Ok(Ok(now)) => Some(now),
        Ok(Err(e)) => {
            reasons.push(format!(
                "database unreachable: {}",
                invsync_engine::error_chain(&e)
            ));
            None
        }
        Err(_) => {
            reasons.push("database unreachable: no answer within 3s".to_owned());
            None
        }
    };
    if let Some(now) = now {
        let config = state.config.read().map(|c| c.clone()).ok();
        match (config, state.db.list_schedules().await) {
            (Some(config), Ok(rows)) => {
                for row in rows {
                    let Some(schedule) = config.schedules.iter().find(|s| s.name == row.name)
                    else {
                        continue;
                    };
                    let interval = cadence::interval_near(&schedule.cadence, row.next_due_at);
                    let running = row.lease_until.is_some_and(|until| until >= now);
                    if !running && now - row.next_due_at > interval {
                        reasons.push(format!(
                            "schedule `{}` is overdue: due at {} ({} ago), more than its interval",
                            row.name,
                            row.next_due_at.format("%Y-%m-%d %H:%M:%SZ"),
                            humanize(now - row.next_due_at)
                        ));
                    }
                }
            }
            (_, Err(e)) => reasons.push(format!(
                "database unreachable: {}",
                invsync_engine::error_chain(&e)
            )),
            (None, _) => {}
        }
    } else if let Some(e) = state.health.db_error() {
        reasons.push(format!("last scheduling error: {e}"));
    }
    let pending = state.health.pending_records();
    if pending > 0 {
        reasons.push(format!(
            "{pending} run outcome(s) wait for the database to be recorded"
        ));
    }
    if let Some(e) = state.health.config_error() {
        reasons.push(format!(
            "the last config reload failed (running on the previous config): {e}"
        ));
    }
    if reasons.is_empty() {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok\n",
        )
            .into_response()
    } else {
        let body = json!({ "status": "unhealthy", "reasons": reasons });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn metrics(State(state): State<EndpointState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "metrics are not enabled in this process\n",
        )
            .into_response(),
    }
}

fn humanize(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}
