//! The daemon's HTTP endpoint (`[daemon] listen`): `/healthz` and `/metrics`, served by
//! [`crate::listener`].
//!
//! `/healthz` answers 200 `ok`; or 503 with the reasons: the database is unreachable, a
//! schedule is overdue by more than its interval, run outcomes wait for the database.
//! What does not stop the daemon from working — the last config reload failed and it
//! runs on the previous config, a changed key waits for a restart — is a warning in a
//! 200 answer: a liveness probe must not restart a working daemon into a broken config.
//! With a password set, callers without it get the status alone (the reasons name
//! schedules, files and database errors). `/metrics` is the Prometheus text format.

use crate::cadence;
use crate::health::{ConfigState, Health};
use crate::listener::Authenticated;
use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
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

/// Paths that answer without the password: liveness probes carry no secrets.
pub const OPEN_PATHS: &[&str] = &["/healthz"];

pub fn router(state: EndpointState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The web page's routes (`invsync_web`), with the listener's mark of who sent the
/// password passed on in the page's own type (the page does not depend on the daemon).
pub fn web_router(page: invsync_web::WebState) -> Router {
    invsync_web::router(page).layer(axum::middleware::map_request(
        |mut request: axum::extract::Request| async move {
            let mark = request.extensions().get::<Authenticated>().map(|a| a.0);
            if let Some(yes) = mark {
                request
                    .extensions_mut()
                    .insert(invsync_web::Authenticated(yes));
            }
            request
        },
    ))
}

async fn healthz(
    State(state): State<EndpointState>,
    authenticated: Option<Extension<Authenticated>>,
) -> Response {
    // Served outside the listener (tests), nobody is asked for a password.
    let authenticated = authenticated.is_none_or(|Extension(Authenticated(yes))| yes);
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
    reasons.extend(web_connector_reasons(&state));
    let pending = state.health.pending_records();
    if pending > 0 {
        reasons.push(format!(
            "{pending} run outcome(s) wait for the database to be recorded"
        ));
    }
    let config = state.health.config();
    let warnings = warnings(&config);
    let (status, word) = if reasons.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    };
    if status == StatusCode::OK && (warnings.is_empty() || !authenticated) {
        return (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok\n",
        )
            .into_response();
    }
    if !authenticated {
        return (status, axum::Json(json!({ "status": word }))).into_response();
    }
    let mut body = json!({
        "status": word,
        "config": {
            "loaded_at": config.loaded_at.map(|t| t.to_rfc3339()),
            "last_reload_successful": config.failed_reload.is_none(),
        },
    });
    if !reasons.is_empty() {
        body["reasons"] = json!(reasons);
    }
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if let Some(failed) = &config.failed_reload {
        body["config"]["last_reload_at"] = json!(failed.at.to_rfc3339());
        body["config"]["last_reload_errors"] = json!(failed.errors);
    }
    if !config.restart_pending.is_empty() {
        body["config"]["restart_pending"] = json!(config.restart_pending);
    }
    (status, axum::Json(body)).into_response()
}

/// QuickBooks Desktop through the Web Connector (ADR 0080): runs that wait for a session,
/// and a snapshot too old for store runs to write from (they are skipped until a session
/// reads QuickBooks again). Both need the Windows side looked at: the Web Connector not
/// running, QuickBooks closed, the machine off.
fn web_connector_reasons(state: &EndpointState) -> Vec<String> {
    let Some(config) = state.config.read().ok().map(|c| c.clone()) else {
        return Vec::new();
    };
    let invsync_config::ConnectionConfig::QuickBooksDesktop(q) = &config.accounting else {
        return Vec::new();
    };
    let Some(bridge) = invsync_connectors::quickbooks_desktop::Bridge::registered(&q.company)
    else {
        return Vec::new();
    };
    let status = bridge.status();
    let now = Utc::now();
    let mut reasons = Vec::new();
    let failed = status
        .last_error
        .as_deref()
        .map(|e| format!("; the last session failed: {e}"))
        .unwrap_or_default();
    if let Some(since) = status.waiting_since {
        reasons.push(format!(
            "{} run job(s) wait for the QuickBooks Web Connector (company file `{}`) since {} ({} ago){failed}",
            status.waiting_jobs,
            q.company,
            since.format("%Y-%m-%d %H:%M:%SZ"),
            humanize(now - since)
        ));
    }
    if let Some(read) = status.last_read_at
        && (now - read).to_std().unwrap_or_default() > q.max_age
    {
        reasons.push(format!(
            "QuickBooks Desktop (company file `{}`) was last read {} ago, longer than accounting.max_age: store runs are skipped until a Web Connector session reads it",
            q.company,
            humanize(now - read)
        ));
    }
    reasons
}

/// What is worth knowing but does not make the daemon unhealthy.
fn warnings(config: &ConfigState) -> Vec<String> {
    let mut warnings = Vec::new();
    let loaded = config.loaded_at.map_or_else(
        || "start".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    );
    if let Some(failed) = &config.failed_reload {
        warnings.push(format!(
            "the last config reload failed at {}, running on the config loaded at {loaded}: {}",
            failed.at.format("%Y-%m-%d %H:%M:%SZ"),
            failed.errors.join("; ")
        ));
    }
    for key in &config.restart_pending {
        warnings.push(format!(
            "`{key}` changed in the config; restart to apply (the daemon still uses the value it started with)"
        ));
    }
    warnings
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
