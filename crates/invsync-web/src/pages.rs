//! The page frame and the small pieces every page uses. maud escapes every value it
//! renders; nothing here writes raw HTML from data.

use crate::auth::CurrentSession;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use invsync_core::{RunStatus, Status};
use maud::{DOCTYPE, Markup, html};
use rust_decimal::Decimal;

/// Which section of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Products,
    Runs,
    Schedules,
    Mappings,
    None,
}

/// htmx settings the CSP needs: no inline indicator styles, no eval, no script tags
/// from answers.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}"#;

/// A whole page: navigation, the title as `h1`, and `body`.
pub fn layout(
    title: &str,
    section: Section,
    session: Option<&CurrentSession>,
    body: Markup,
) -> Html<String> {
    let nav = [
        (Section::Products, "/", "Synchronize Products"),
        (Section::Runs, "/runs", "Runs"),
        (Section::Schedules, "/schedules", "Schedules"),
        (Section::Mappings, "/mappings", "Mappings"),
    ];
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="htmx-config" content=(HTMX_CONFIG);
                    title { (title) " — invsync" }
                    link rel="stylesheet" href="/static/app.css";
                    script src="/static/htmx.min.js" defer {}
                    script src="/static/app.js" defer {}
                }
                body hx-boost="true" {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        span.brand { "invsync" }
                        nav aria-label="Main" {
                            ul {
                                @for (s, href, label) in nav {
                                    li {
                                        @if s == section {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        @if let Some(session) = session.filter(|s| s.can_log_out) {
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                    main #main {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// A page that only says something (errors, refusals).
pub fn message_page(title: &str, message: &str, hint: &str) -> Html<String> {
    layout(
        title,
        Section::None,
        None,
        html! {
            p.notice.error role="alert" { (message) }
            @if !hint.is_empty() { p { (hint) } }
            p { a href="/" { "Back to Synchronize Products" } }
        },
    )
}

/// An answer with `status` that only says something.
pub fn problem(status: StatusCode, title: &str, message: &str, hint: &str) -> Response {
    (status, message_page(title, message, hint)).into_response()
}

pub fn login_page(token: &str, next: &str, error: Option<&str>) -> Html<String> {
    layout(
        "Log in",
        Section::None,
        None,
        html! {
            @if let Some(error) = error {
                p.notice.error role="alert" { (error) }
            }
            form.login method="post" action="/login" hx-boost="false" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required autofocus;
                button type="submit" { "Log in" }
            }
            p.hint { "The password is the daemon's " code { "[daemon] password" } "." }
        },
    )
}

/// The hidden CSRF field of a form.
pub fn csrf(session: &CurrentSession) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// The label a product status has on the page (and on its filter button).
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::OutOfSync => "Out of Sync",
        Status::InOrders => "In Orders",
        Status::Base => "Base",
        Status::InSync => "In Sync",
        Status::Unmapped => "Unmapped",
        Status::Conflict => "Conflict",
    }
}

/// A status as a badge: the colour comes with the words, never alone.
pub fn status_badge(status: Status) -> Markup {
    html! { span class=(format!("badge s-{}", status.as_str())) { (status_label(status)) } }
}

pub fn run_status_badge(status: RunStatus) -> Markup {
    html! { span class=(format!("badge r-{}", status.as_str())) { (status.as_str()) } }
}

/// A run's counts, each product in one of them (ADR 0004).
pub fn counts(c: &invsync_core::RunCounts) -> Markup {
    let counts = [
        ("Checked", c.checked),
        ("In sync", c.in_sync),
        ("Updated", c.updated),
        ("Failed", c.failed),
        ("In orders", c.skipped_in_orders),
        ("Base", c.skipped_base),
        ("Unmapped", c.unmapped),
        ("Conflict", c.conflicts),
        ("Other held back", c.skipped_other),
    ];
    html! {
        dl.counts {
            @for (label, n) in counts {
                div { dt { (label) } dd { (n) } }
            }
        }
    }
}

/// A field set in words: `price`, `quantity`, `price and quantity`.
pub fn fields(fields: invsync_core::FieldSet) -> String {
    fields.to_list().replace(',', " and ")
}

pub fn money(value: Option<Decimal>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

pub fn count(value: Option<i64>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

pub fn time(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

pub fn opt_time(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        Some(t) => time(t),
        None => html! { "—" },
    }
}

/// A store picker (a GET form); `extra` are hidden fields kept across the change.
pub fn store_picker(action: &str, stores: &[String], current: &str, any: bool) -> Markup {
    html! {
        form.picker method="get" action=(action) {
            label for="store" { "Store" }
            select #store name="store" data-autosubmit {
                @if any {
                    option value="" selected[current.is_empty()] { "All stores" }
                }
                @for s in stores {
                    option value=(s) selected[s == current] { (s) }
                }
            }
            button type="submit" { "Open" }
        }
    }
}

/// Percent-encodes a query value.
pub fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
