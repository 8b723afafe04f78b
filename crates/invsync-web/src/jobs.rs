//! Preview, Synchronize and Run now: each is one `Engine::sync` call with
//! `trigger = web`, run in the background (a sync can outlast a request, and the listener
//! closes connections idle for `idle_timeout`) while the page polls its progress, then
//! shows its report. Nothing is queued: a store that is already running (a schedule, the
//! command line, another page) is refused by the engine's one-running-run rule, and the
//! page says so.

use crate::auth::{CurrentSession, Posted};
use crate::pages::{self, Section};
use crate::products::{Filter, pick_store};
use crate::{WebState, session_of};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use invsync_core::{ChangeResult, Field, FieldSet, Selection, Side, SkuKey, Trigger};
use invsync_engine::{EngineError, Progress, RunReport, SyncRequest};
use invsync_store::StoreError;
use maud::{Markup, html};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

/// Finished jobs kept for their pages.
const KEEP: usize = 200;

#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

impl Jobs {
    fn add(&self, job: impl FnOnce(u64) -> Job) -> Arc<Job> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(job(id));
        if let Ok(mut jobs) = self.jobs.lock() {
            // Drop the oldest finished ones; running ones stay.
            while jobs.len() >= KEEP {
                match jobs.iter().position(|j| j.finished()) {
                    Some(i) => {
                        jobs.remove(i);
                    }
                    None => break,
                }
            }
            jobs.push_back(job.clone());
        }
        job
    }

    fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs.lock().ok()?.iter().find(|j| j.id == id).cloned()
    }
}

pub struct Job {
    id: u64,
    /// What the page says it is.
    title: String,
    store: String,
    request: SyncRequest,
    /// The fields of the form that started it, for "Synchronize these" after a preview.
    form: Vec<(String, String)>,
    started: DateTime<Utc>,
    progress: JobProgress,
    outcome: Mutex<Option<Outcome>>,
}

impl Job {
    fn finished(&self) -> bool {
        self.outcome.lock().map(|o| o.is_some()).unwrap_or(true)
    }
}

#[derive(Default)]
struct JobProgress {
    phase: Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for JobProgress {
    fn phase(&self, name: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = name.to_owned();
        }
    }
    fn start_writes(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.phase("writing");
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

enum Outcome {
    Report(Box<RunReport>),
    /// The engine refused to start (a rule, a busy store): nothing was done.
    Refused(String),
    Failed(String),
}

/// What the form asks for, or why it cannot be done (said to the user, 400).
fn request_from(state: &WebState, posted: &Posted) -> Result<(SyncRequest, String), String> {
    let config = state.config();
    let store = pick_store(&config, posted.get("store"))?;
    let update = match posted.get("update") {
        Some("store") => Side::Store,
        Some("accounting") => Side::Accounting,
        _ => return Err("choose the side that is wrong: Store or Accounting".to_owned()),
    };
    let fields: FieldSet = posted
        .all("field")
        .filter_map(|f| match f {
            "price" => Some(Field::Price),
            "quantity" => Some(Field::Quantity),
            _ => None,
        })
        .collect();
    if fields.is_empty() {
        return Err("choose the fields to update: Price, Quantity or both".to_owned());
    }
    let (selection, described) = if posted.get("all_matching") == Some("1") {
        let filter = Filter::parse(posted.get("status"), posted.get("q"))?;
        if filter.q.is_empty() {
            match filter.status {
                None => (Selection::All, "every product".to_owned()),
                Some(s) => (
                    Selection::Statuses(vec![s]),
                    format!("every {} product", pages::status_label(s)),
                ),
            }
        } else {
            // The search is the page's: the SKUs it matches in the kept read.
            let skus = state.inner.catalog_skus(&store, &filter)?;
            if skus.is_empty() {
                return Err("no product matches the filter and search".to_owned());
            }
            let n = skus.len();
            (
                Selection::Skus(skus),
                format!("the {n} products matching “{}”", filter.q),
            )
        }
    } else {
        let skus: std::collections::HashSet<SkuKey> =
            posted.all("sku").filter_map(SkuKey::new).collect();
        if skus.is_empty() {
            return Err(
                "select products first (their checkboxes, or “Select all … matching”)".to_owned(),
            );
        }
        let n = skus.len();
        (
            Selection::Skus(skus),
            format!("{n} selected product{}", if n == 1 { "" } else { "s" }),
        )
    };
    let request = SyncRequest {
        store: store.clone(),
        update,
        fields,
        selection,
        dry_run: posted.get("action") != Some("sync"),
        trigger: Trigger::Web,
        schedule: None,
        scheduled_for: None,
    };
    let title = format!(
        "{} — store {store}: {described}, update the {} side ({})",
        if request.dry_run {
            "Preview"
        } else {
            "Synchronize"
        },
        update,
        pages::fields(fields)
    );
    Ok((request, title))
}

impl crate::Inner {
    fn catalog_skus(
        &self,
        store: &str,
        filter: &Filter,
    ) -> Result<std::collections::HashSet<SkuKey>, String> {
        self.catalog
            .kept(store)
            .map(|loaded| {
                loaded
                    .matching(filter)
                    .filter_map(|r| SkuKey::new(r.sku.as_str()))
                    .collect()
            })
            .ok_or_else(|| "the store's products are being read again; try in a moment".to_owned())
    }
}

/// `POST /sync`: Preview (`action=preview`) or Synchronize (`action=sync`).
pub async fn start_sync(State(state): State<WebState>, posted: Posted) -> Response {
    let (request, title) = match request_from(&state, &posted) {
        Ok(r) => r,
        Err(e) => {
            return pages::problem(
                StatusCode::BAD_REQUEST,
                "Nothing was done",
                &e,
                "Go back, change the choice and try again.",
            );
        }
    };
    let form = posted
        .fields()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    start(&state, request, title, form)
}

/// `POST /schedules/run`: the schedule's sync, now (recorded as a web run naming it).
pub async fn run_now(State(state): State<WebState>, posted: Posted) -> Response {
    let config = state.config();
    let Some(schedule) = config
        .schedules
        .iter()
        .find(|s| Some(s.name.as_str()) == posted.get("schedule"))
    else {
        return pages::problem(
            StatusCode::BAD_REQUEST,
            "Run now",
            "there is no such schedule",
            "",
        );
    };
    let request = SyncRequest::of_schedule(schedule, Trigger::Web, None);
    let title = format!(
        "Run now — schedule {}: store {}, update the {} side ({})",
        schedule.name,
        schedule.store,
        schedule.update,
        pages::fields(schedule.fields)
    );
    start(&state, request, title, Vec::new())
}

fn start(
    state: &WebState,
    request: SyncRequest,
    title: String,
    form: Vec<(String, String)>,
) -> Response {
    let store = request.store.clone();
    let job = state.inner.jobs.add(|id| Job {
        id,
        title,
        store: store.clone(),
        request,
        form,
        started: Utc::now(),
        progress: JobProgress::default(),
        outcome: Mutex::new(None),
    });
    info!(
        trigger = "web",
        job = job.id,
        store = %job.store,
        update = %job.request.update,
        fields = %job.request.fields,
        dry_run = job.request.dry_run,
        schedule = job.request.schedule.as_deref().unwrap_or(""),
        "web: {}", job.title
    );
    let task_state = state.clone();
    let task_job = job.clone();
    state.inner.tasks.spawn(async move {
        let outcome = run(&task_state, &task_job).await;
        if let Ok(mut o) = task_job.outcome.lock() {
            *o = Some(outcome);
        }
    });
    Redirect::to(&format!("/jobs/{}", job.id)).into_response()
}

async fn run(state: &WebState, job: &Job) -> Outcome {
    let engine = state.engine();
    let cancel = state.inner.stop.child_token();
    job.progress.phase("starting");
    let result = engine.sync(&job.request, &job.progress, &cancel).await;
    if !job.request.dry_run {
        // What was written changed the store: the table reads it again.
        state.inner.catalog.invalidate(&job.store);
    }
    match result {
        Ok(mut report) => {
            if let Some(pending) = report.unrecorded.as_mut() {
                // The database was away at the end: retry for a minute, as `sync` does.
                for _ in 0..30 {
                    if engine.record_late(pending).await.is_ok() {
                        report.unrecorded = None;
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
            info!(
                trigger = "web",
                job = job.id,
                store = %job.store,
                run.id = report.run_id,
                status = %report.status,
                updated = report.counts.updated,
                failed = report.counts.failed,
                "web: run ended"
            );
            Outcome::Report(Box::new(report))
        }
        Err(EngineError::Store(StoreError::RunInProgress { store, run_id })) => {
            let message = format!(
                "Store `{store}` is already running (run {run_id}: a schedule, the command line or another page started it). Nothing was done and nothing is queued; try again when run {run_id} has ended."
            );
            warn!(trigger = "web", job = job.id, store = %store, busy_run = run_id, "web: refused, the store is already running");
            Outcome::Refused(message)
        }
        Err(e @ (EngineError::Plan(_) | EngineError::UnknownStore(_))) => {
            warn!(trigger = "web", job = job.id, error = %e, "web: refused by the rules");
            Outcome::Refused(e.to_string())
        }
        Err(e) => {
            let e = invsync_engine::error_chain(&e);
            warn!(trigger = "web", job = job.id, error = %e, "web: the run could not be done");
            Outcome::Failed(e)
        }
    }
}

/// `GET /jobs/{id}`: progress while it runs, then the report.
pub async fn page(
    State(state): State<WebState>,
    Path(id): Path<u64>,
    request: Request,
) -> Response {
    let session = session_of(request.extensions());
    let Some(job) = state.inner.jobs.get(id) else {
        return pages::problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such sync (the daemon may have restarted since).",
            "See Runs for what was recorded.",
        );
    };
    let body = html! {
        div #job {
            (job_body(&job, session.as_ref()))
        }
    };
    pages::layout(&job.title, Section::Products, session.as_ref(), body).into_response()
}

fn job_body(job: &Job, session: Option<&CurrentSession>) -> Markup {
    let outcome = job.outcome.lock();
    let outcome = match &outcome {
        Ok(o) => o.as_ref(),
        Err(_) => None,
    };
    let back = format!("/products?store={}", pages::enc(&job.store));
    match outcome {
        None => {
            let phase = job
                .progress
                .phase
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default();
            let total = job.progress.total.load(Ordering::Relaxed);
            let done = job.progress.done.load(Ordering::Relaxed).min(total);
            html! {
                div.progress hx-get=(format!("/jobs/{}", job.id)) hx-trigger="load delay:500ms" hx-select="#job" hx-target="#job" hx-swap="outerHTML" {
                    p role="status" aria-live="polite" {
                        "Running since " (pages::time(job.started)) ": " (phase)
                        @if total > 0 { " — " (done) " of " (total) " changes written" }
                    }
                    @if total > 0 {
                        progress max=(total) value=(done) { (done) " of " (total) }
                    } @else {
                        progress { "working" }
                    }
                    noscript { p { "This page does not refresh itself without JavaScript: " a href=(format!("/jobs/{}", job.id)) { "refresh" } "." } }
                }
            }
        }
        Some(Outcome::Refused(message)) => html! {
            p.notice.error role="alert" { "Refused: " (message) }
            p { a href=(back) { "Back to the products" } }
        },
        Some(Outcome::Failed(message)) => html! {
            p.notice.error role="alert" { "The run could not be done: " (message) }
            p { a href=(back) { "Back to the products" } " · " a href="/runs" { "Runs" } }
        },
        Some(Outcome::Report(report)) => report_view(job, report, session, &back),
    }
}

fn result_text(change: &invsync_engine::ReportedChange, dry_run: bool) -> String {
    match change.result {
        ChangeResult::Pending if dry_run => "would be written".to_owned(),
        ChangeResult::Pending => "not written (the run stopped first)".to_owned(),
        ChangeResult::Applied => "updated".to_owned(),
        ChangeResult::Failed => format!(
            "failed: {}",
            change.error.as_deref().unwrap_or("no reason given")
        ),
        ChangeResult::Stale => "changed since it was read: not overwritten".to_owned(),
    }
}

fn report_view(
    job: &Job,
    report: &RunReport,
    session: Option<&CurrentSession>,
    back: &str,
) -> Markup {
    let c = &report.counts;
    html! {
        div.summary role="status" {
            @if report.dry_run {
                p { strong { "Preview: nothing was written." } " " (report.changes.len()) " change(s) would be written, " (report.skipped.len()) " held back." }
            } @else {
                p {
                    "Run " @if let Some(id) = report.run_id { a href=(format!("/runs/{id}")) { (id) } } " ended "
                    (pages::run_status_badge(report.status)) "."
                }
                @if report.unrecorded.is_some() {
                    p.notice.error { "The run history database could not be written: the outcome is not on record (the run shows as interrupted)." }
                }
            }
            @if let Some(error) = &report.error {
                p.notice.error role="alert" { (error) }
            }
            (pages::counts(c))
            @if !report.unknown_skus.is_empty() {
                p.notice.warn { "On neither side: " (report.unknown_skus.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>().join(", ")) }
            }
        }
        @if report.dry_run && !report.changes.is_empty() {
            @if let Some(session) = session {
                form.sync method="post" action="/sync" {
                    (pages::csrf(session))
                    @for (k, v) in &job.form {
                        input type="hidden" name=(k) value=(v);
                    }
                    button.primary type="submit" name="action" value="sync" { "Synchronize these" }
                    " "
                    a href=(back) { "Change the selection" }
                }
            }
        }
        h2 { @if report.dry_run { "Changes that would be written" } @else { "Changes" } }
        @if report.changes.is_empty() {
            p { "None." }
        } @else {
            div.scroll {
                table.changes {
                    thead { tr { th scope="col" { "SKU" } th scope="col" { "Name" } th scope="col" { "Field" } th.num scope="col" { "From" } th.num scope="col" { "To" } th scope="col" { "Result" } } }
                    tbody {
                        @for ch in &report.changes {
                            tr {
                                td.sku { (ch.sku) }
                                td { (ch.name) }
                                td { (ch.field) }
                                td.num { (ch.old) }
                                td.num { (ch.new) @if let Some(sale) = &ch.sale { br; span.small { (format!("{sale:?}")) } } }
                                td { (result_text(ch, report.dry_run)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Held back" }
        @if report.skipped.is_empty() {
            p { "Nothing." }
        } @else {
            div.scroll {
                table.held {
                    thead { tr { th scope="col" { "SKU" } th scope="col" { "Field" } th.num scope="col" { "From" } th.num scope="col" { "To" } th scope="col" { "Why not written" } } }
                    tbody {
                        @for s in &report.skipped {
                            tr {
                                td.sku { (s.sku) }
                                td { (s.field) }
                                td.num { @if let Some(v) = &s.old { (v) } }
                                td.num { @if let Some(v) = &s.new { (v) } }
                                td { (s.reason) }
                            }
                        }
                    }
                }
            }
        }
        p { a href=(back) { "Back to the products" } }
    }
}
