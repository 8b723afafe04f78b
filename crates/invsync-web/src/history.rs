//! Runs (as `invsync runs` / `runs show`), schedules (with Run now) and manual mappings
//! (as `invsync map`), read from and written to the run-history database the CLI uses.

use crate::auth::Posted;
use crate::pages::{self, Section};
use crate::{WebState, session_of};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use invsync_config::Cadence;
use invsync_core::RunStatus;
use invsync_store::{RunFilter, StoreError};
use maud::html;
use tracing::{info, warn};

/// Runs the history page looks through (newest first) for its filters.
const RUNS_SCANNED: i64 = 500;
/// Item rows a run's page shows; the rest are a command away.
const ITEMS_SHOWN: usize = 2_000;

#[derive(serde::Deserialize, Default)]
pub struct RunsQuery {
    store: Option<String>,
    status: Option<String>,
}

fn database_error(what: &str, e: &StoreError) -> Response {
    let e = invsync_engine::error_chain(e);
    warn!(trigger = "web", error = %e, "web: {what}");
    pages::problem(
        StatusCode::SERVICE_UNAVAILABLE,
        what,
        &format!("The run-history database: {e}"),
        "Try again in a moment.",
    )
}

/// `GET /runs`: the newest runs, by store and status.
pub async fn runs(
    State(state): State<WebState>,
    Query(query): Query<RunsQuery>,
    request: Request,
) -> Response {
    let session = session_of(request.extensions());
    let config = state.config();
    let store = query.store.filter(|s| !s.is_empty());
    let status: Option<RunStatus> = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok());
    let rows = match state
        .db()
        .list_runs(&RunFilter {
            store: store.clone(),
            limit: RUNS_SCANNED,
        })
        .await
    {
        Ok(rows) => rows,
        Err(e) => return database_error("Runs", &e),
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| status.is_none_or(|s| r.status == s))
        .collect();
    let stores: Vec<String> = config.stores.keys().cloned().collect();
    let current = store.unwrap_or_default();
    let body = html! {
        form.picker method="get" action="/runs" {
            label for="store" { "Store" }
            select #store name="store" {
                option value="" selected[current.is_empty()] { "All stores" }
                @for s in &stores { option value=(s) selected[*s == current] { (s) } }
            }
            label for="status" { "Status" }
            select #status name="status" {
                option value="" selected[status.is_none()] { "Any status" }
                @for s in RunStatus::ALL { option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) } }
            }
            button type="submit" { "Show" }
        }
        p.hint { "The newest " (RUNS_SCANNED) " runs" @if !current.is_empty() { " of store " code { (current) } } ", as " code { "invsync runs" } " lists them." }
        div.scroll {
            table.runs {
                thead {
                    tr {
                        th.num scope="col" { "Run" }
                        th scope="col" { "Started" }
                        th scope="col" { "Store" }
                        th scope="col" { "Trigger" }
                        th scope="col" { "Update" }
                        th scope="col" { "Status" }
                        th.num scope="col" { "Checked" }
                        th.num scope="col" { "Updated" }
                        th.num scope="col" { "Failed" }
                        th.num scope="col" { "In orders" }
                        th scope="col" { "Error" }
                    }
                }
                tbody {
                    @if rows.is_empty() { tr { td colspan="11" { "No run yet." } } }
                    @for r in &rows {
                        tr {
                            td.num { a href=(format!("/runs/{}", r.id)) aria-label=(format!("Run {}", r.id)) { (r.id) } }
                            td { (pages::time(r.started_at)) }
                            td { (r.store) }
                            td { (r.trigger.as_str()) @if let Some(s) = &r.schedule { br; span.small { (s) } } }
                            td { (r.update_side) " (" (r.fields) ")" }
                            td { (pages::run_status_badge(r.status)) }
                            td.num { (r.counts.checked) }
                            td.num { (r.counts.updated) }
                            td.num { (r.counts.failed) }
                            td.num { (r.counts.skipped_in_orders) }
                            td.notes { @if let Some(e) = &r.error { (e) } }
                        }
                    }
                }
            }
        }
    };
    pages::layout("Runs", Section::Runs, session.as_ref(), body).into_response()
}

/// `GET /runs/{id}`: one run and its items (`invsync runs show ID`).
pub async fn run(State(state): State<WebState>, Path(id): Path<i64>, request: Request) -> Response {
    let session = session_of(request.extensions());
    let run = match state.db().get_run(id).await {
        Ok(Some(run)) => run,
        Ok(None) => {
            return pages::problem(
                StatusCode::NOT_FOUND,
                "Run",
                &format!("There is no run {id}."),
                "",
            );
        }
        Err(e) => return database_error("Run", &e),
    };
    let items = match state.db().run_items(id).await {
        Ok(items) => items,
        Err(e) => return database_error("Run", &e),
    };
    let c = &run.counts;
    let body = html! {
        dl.facts {
            div { dt { "Store" } dd { (run.store) } }
            dt { "Trigger" } dd { (run.trigger.as_str()) @if let Some(s) = &run.schedule { " (schedule " (s) ")" } }
            div { dt { "Updated side" } dd { (run.update_side) } }
            div { dt { "Fields" } dd { (run.fields) } }
            dt { "Status" } dd { (pages::run_status_badge(run.status)) @if run.recovery_pending { " (recovery still settling it)" } }
            div { dt { "Started" } dd { (pages::time(run.started_at)) } }
            div { dt { "Finished" } dd { (pages::opt_time(run.finished_at)) } }
            @if let Some(e) = &run.error { div { dt { "Error" } dd { (e) } } }
        }
        (pages::counts(c))
        h2 { "Items" }
        @if items.len() > ITEMS_SHOWN {
            p.hint { "The first " (ITEMS_SHOWN) " of " (items.len()) "; " code { "invsync runs show " (id) } " lists every one." }
        }
        div.scroll {
            table.items {
                thead { tr { th scope="col" { "SKU" } th scope="col" { "Field" } th.num scope="col" { "Old" } th.num scope="col" { "New" } th scope="col" { "Outcome" } th scope="col" { "Error" } } }
                tbody {
                    @if items.is_empty() { tr { td colspan="6" { "No items." } } }
                    @for item in items.iter().take(ITEMS_SHOWN) {
                        tr {
                            td.sku { (item.sku) }
                            td { (item.field) }
                            td.num { @if let Some(v) = &item.old_value { (v) } }
                            td.num { @if let Some(v) = &item.new_value { (v) } }
                            td { span class=(format!("badge o-{}", item.outcome.as_str())) { (item.outcome.as_str()) } }
                            td.notes { @if let Some(e) = &item.error { (e) } }
                        }
                    }
                }
            }
        }
        p { a href="/runs" { "All runs" } }
    };
    pages::layout(&format!("Run {id}"), Section::Runs, session.as_ref(), body).into_response()
}

fn cadence_text(cadence: &Cadence) -> String {
    match cadence {
        Cadence::Every(d) => format!("every {}", humanize(*d)),
        Cadence::Cron { expr, timezone } => format!("cron {expr} ({timezone})"),
    }
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `GET /schedules`: each schedule, its last run and next due time, and Run now.
pub async fn schedules(State(state): State<WebState>, request: Request) -> Response {
    let session = session_of(request.extensions());
    let config = state.config();
    let rows = match state.db().list_schedules().await {
        Ok(rows) => rows,
        Err(e) => return database_error("Schedules", &e),
    };
    let now = state.db().now().await.ok();
    let mut lines = Vec::new();
    for schedule in &config.schedules {
        let row = rows.iter().find(|r| r.name == schedule.name);
        let last = match row.and_then(|r| r.last_run_id) {
            Some(id) => state.db().get_run(id).await.ok().flatten(),
            None => None,
        };
        lines.push((schedule, row, last));
    }
    let body = html! {
        p.hint { "Schedules come from the config file; " strong { "Run now" } " starts the schedule's sync at once, recorded with trigger " code { "web" } ". A store that is already running is refused, never queued." }
        div.scroll {
            table.schedules {
                thead {
                    tr {
                        th scope="col" { "Schedule" }
                        th scope="col" { "Store" }
                        th scope="col" { "Cadence" }
                        th scope="col" { "Update" }
                        th scope="col" { "Last run" }
                        th scope="col" { "Next due" }
                        th scope="col" { span.visually-hidden { "Action" } }
                    }
                }
                tbody {
                    @if lines.is_empty() { tr { td colspan="7" { "No schedule is configured." } } }
                    @for (schedule, row, last) in &lines {
                        tr {
                            td { (schedule.name) }
                            td { (schedule.store) }
                            td { (cadence_text(&schedule.cadence)) }
                            td { (schedule.update) " (" (schedule.fields) ")" }
                            td {
                                @match last {
                                    Some(run) => {
                                        a href=(format!("/runs/{}", run.id)) { "Run " (run.id) } " "
                                        (pages::run_status_badge(run.status)) br;
                                        span.small { (pages::time(run.started_at)) }
                                    }
                                    None => { "never" }
                                }
                            }
                            td {
                                @match row {
                                    Some(row) => {
                                        (pages::time(row.next_due_at))
                                        @if row.lease_until.zip(now).is_some_and(|(until, now)| until >= now) { br; span.small { "running now" } }
                                    }
                                    None => { "when the daemon next looks" }
                                }
                            }
                            td {
                                @if let Some(session) = &session {
                                    form.inline method="post" action="/schedules/run" {
                                        (pages::csrf(session))
                                        input type="hidden" name="schedule" value=(schedule.name);
                                        button type="submit" aria-label=(format!("Run {} now", schedule.name)) { "Run now" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    pages::layout("Schedules", Section::Schedules, session.as_ref(), body).into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct MappingsQuery {
    store: Option<String>,
    done: Option<String>,
}

/// `GET /mappings`: the manual mappings, with add and remove (`invsync map`).
pub async fn mappings(
    State(state): State<WebState>,
    Query(query): Query<MappingsQuery>,
    request: Request,
) -> Response {
    let session = session_of(request.extensions());
    let config = state.config();
    let store = query.store.filter(|s| !s.is_empty());
    let rows = match state.db().list_mappings(store.as_deref()).await {
        Ok(rows) => rows,
        Err(e) => return database_error("Mappings", &e),
    };
    let stores: Vec<String> = config.stores.keys().cloned().collect();
    let current = store.unwrap_or_default();
    let body = html! {
        p.hint { "A manual mapping links a store SKU to an accounting SKU and overrides matching by SKU." }
        @if let Some(done) = &query.done { p.notice.ok role="status" { (done) } }
        (pages::store_picker("/mappings", &stores, &current, true))
        div.scroll {
            table.mappings {
                thead { tr { th scope="col" { "Store" } th scope="col" { "Store SKU" } th scope="col" { "Accounting SKU" } th scope="col" { "Created" } th scope="col" { span.visually-hidden { "Action" } } } }
                tbody {
                    @if rows.is_empty() { tr { td colspan="5" { "No manual mapping." } } }
                    @for m in &rows {
                        tr {
                            td { (m.store) }
                            td.sku { (m.store_sku) }
                            td.sku { (m.accounting_sku) }
                            td { (pages::time(m.created_at)) }
                            td {
                                @if let Some(session) = &session {
                                    form.inline method="post" action="/mappings/remove" {
                                        (pages::csrf(session))
                                        input type="hidden" name="store" value=(m.store);
                                        input type="hidden" name="store_sku" value=(m.store_sku);
                                        button type="submit" aria-label=(format!("Remove the mapping of {} in {}", m.store_sku, m.store)) { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(session) = &session {
            h2 { "Add a mapping" }
            form.add method="post" action="/mappings/add" {
                (pages::csrf(session))
                label for="map-store" { "Store" }
                select #map-store name="store" {
                    @for s in &stores { option value=(s) selected[*s == current] { (s) } }
                }
                label for="store-sku" { "Store SKU" }
                input #store-sku type="text" name="store_sku" required;
                label for="accounting-sku" { "Accounting SKU" }
                input #accounting-sku type="text" name="accounting_sku" required;
                button type="submit" { "Add mapping" }
            }
        }
    };
    pages::layout("Mappings", Section::Mappings, session.as_ref(), body).into_response()
}

fn back_to_mappings(store: &str, done: &str) -> Response {
    Redirect::to(&format!(
        "/mappings?store={}&done={}",
        pages::enc(store),
        pages::enc(done)
    ))
    .into_response()
}

fn refused(title: &str, message: &str) -> Response {
    pages::problem(
        StatusCode::BAD_REQUEST,
        title,
        message,
        "Go back and try again.",
    )
}

/// `POST /mappings/add` (`invsync map add`).
pub async fn add_mapping(State(state): State<WebState>, posted: Posted) -> Response {
    let config = state.config();
    let store = posted.get("store").unwrap_or("").trim().to_owned();
    if !config.stores.contains_key(&store) {
        return refused(
            "Add a mapping",
            &format!("`{store}` is not a configured store"),
        );
    }
    let store_sku = posted.get("store_sku").unwrap_or("").trim().to_owned();
    let accounting_sku = posted.get("accounting_sku").unwrap_or("").trim().to_owned();
    match state
        .db()
        .add_mapping(&store, &store_sku, &accounting_sku)
        .await
    {
        Ok(()) => {
            info!(trigger = "web", store = %store, store_sku = %store_sku, accounting_sku = %accounting_sku, "web: mapping added");
            // The product table matches differently now.
            state.inner.catalog.invalidate(&store);
            back_to_mappings(
                &store,
                &format!("Store SKU `{store_sku}` now maps to accounting SKU `{accounting_sku}`."),
            )
        }
        Err(e @ StoreError::EmptySku { .. }) => refused("Add a mapping", &e.to_string()),
        Err(e) => database_error("Add a mapping", &e),
    }
}

/// `POST /mappings/remove` (`invsync map remove`).
pub async fn remove_mapping(State(state): State<WebState>, posted: Posted) -> Response {
    let store = posted.get("store").unwrap_or("").trim().to_owned();
    let store_sku = posted.get("store_sku").unwrap_or("").trim().to_owned();
    match state.db().remove_mapping(&store, &store_sku).await {
        Ok(true) => {
            info!(trigger = "web", store = %store, store_sku = %store_sku, "web: mapping removed");
            state.inner.catalog.invalidate(&store);
            back_to_mappings(
                &store,
                &format!(
                    "Removed the mapping of store SKU `{store_sku}`; it matches by SKU again."
                ),
            )
        }
        Ok(false) => refused(
            "Remove a mapping",
            &format!("{store}: store SKU `{store_sku}` has no manual mapping"),
        ),
        Err(e) => database_error("Remove a mapping", &e),
    }
}
