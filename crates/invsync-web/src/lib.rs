//! The "Synchronize Products" web page and its companions (runs, schedules, mappings),
//! served by the daemon on `[daemon] listen` (issue 16; docs/adr/0090-web-page.md).
//!
//! Server-rendered HTML ([maud]) with vendored htmx for progressive enhancement (boosted
//! links and forms, progress polling): every page works without JavaScript. Everything
//! it shows and does goes through the engine's public entry points — `Engine::status`
//! for the product table, `Engine::sync` (with `trigger = web`) for Preview, Synchronize
//! and Run now — and the run-history database, exactly as `invsync status`, `sync`,
//! `runs` and `map` do; so every rule `sync` obeys (sides, fields, base, in-orders, the
//! store's one running run, run history) holds for the page too.
//!
//! * [`auth`]: sessions, login, CSRF, the host check.
//! * [`products`]: the product table: one status read per store, kept in memory, then
//!   filtered and paged per request.
//! * [`jobs`]: Preview, Synchronize and Run now run in the background; the page polls.
//! * [`history`]: runs, schedules, mappings.

pub mod auth;
mod history;
mod jobs;
mod pages;
mod products;

pub use auth::{Password, Sessions};

use auth::CurrentSession;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use invsync_config::Config;
use invsync_store::Db;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

/// Paths the listener serves without the password: the login page and what it needs.
pub const OPEN_PATHS: &[&str] = &[
    "/login",
    "/static/htmx.min.js",
    "/static/app.css",
    "/static/app.js",
];

/// Where a browser without a session is sent.
pub const LOGIN_PATH: &str = "/login";

/// Everything the page's handlers share. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The daemon's current config (a reload replaces it).
    config: Arc<RwLock<Arc<Config>>>,
    db: Db,
    sessions: Sessions,
    catalog: products::Catalog,
    jobs: jobs::Jobs,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl WebState {
    /// `password` is the listener's; `tls` whether it serves HTTPS (cookies get `Secure`).
    pub fn new(
        config: Arc<RwLock<Arc<Config>>>,
        db: Db,
        password: Arc<dyn Password>,
        tls: bool,
    ) -> WebState {
        WebState {
            inner: Arc::new(Inner {
                config,
                db,
                sessions: Sessions::new(password, tls),
                catalog: products::Catalog::default(),
                jobs: jobs::Jobs::default(),
                tasks: TaskTracker::new(),
                stop: CancellationToken::new(),
            }),
        }
    }

    /// The login sessions, for the listener ([`Sessions::logged_in`]).
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    pub(crate) fn config(&self) -> Arc<Config> {
        self.inner
            .config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The engine over the current config, as `invsync sync` builds it. Runs pending
    /// recovery are settled by the daemon in the background, so none here.
    pub(crate) fn engine(&self) -> invsync_engine::Engine {
        invsync_engine::Engine::new(self.config(), self.inner.db.clone())
            .with_recovery_budget(Duration::ZERO)
    }

    /// Stops runs started from the page (they end `interrupted` between write batches)
    /// and waits for them, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            warn!("runs started from the web page are still going; stopping them");
            self.inner.stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), self.inner.tasks.wait()).await;
        }
    }
}

/// The page's routes, behind [`guard`].
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(products::page))
        .route("/products", get(products::page))
        .route("/products/reload", post(products::reload))
        .route("/sync", post(jobs::start_sync))
        .route("/jobs/{id}", get(jobs::page))
        .route("/runs", get(history::runs))
        .route("/runs/{id}", get(history::run))
        .route("/schedules", get(history::schedules))
        .route("/schedules/run", post(jobs::run_now))
        .route("/mappings", get(history::mappings))
        .route("/mappings/add", post(history::add_mapping))
        .route("/mappings/remove", post(history::remove_mapping))
        .route(LOGIN_PATH, get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/htmx.min.js", get(htmx))
        .route("/static/app.css", get(app_css))
        .route("/static/app.js", get(app_js))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The strict policy every answer carries: scripts and styles from this origin only (no
/// inline script or style, no eval), forms post here only, never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Before every route: the host check, the session (made for a browser that is in but
/// has none), and the security headers on the answer.
async fn guard(State(state): State<WebState>, mut request: Request, next: Next) -> Response {
    let sessions = state.sessions();
    let password = sessions.password().required();
    let path = request.uri().path().to_owned();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    // Without a password the listener is on loopback; a request naming another host came
    // through a name that resolves here (DNS rebinding) and is refused.
    if !password && !auth::is_local_host(host) {
        warn!(
            trigger = "web",
            host, "web: a request for another host name was refused"
        );
        return with_headers(pages::problem(
            StatusCode::MISDIRECTED_REQUEST,
            "Wrong address",
            "This page answers on localhost or 127.0.0.1 only.",
            "",
        ));
    }
    debug!(trigger = "web", method = %request.method(), path = %path, "web: request");
    let mut new_cookie = None;
    let open = OPEN_PATHS.contains(&path.as_str());
    match sessions.current(request.headers()) {
        Some(session) => {
            request.extensions_mut().insert(session);
        }
        None if !open => {
            // The listener let the request in: no password is set, or it sent it (Basic).
            // Served without the listener (tests), only when no password is set.
            let authenticated = request
                .extensions()
                .get::<Authenticated>()
                .map_or(!password, |a| a.0);
            if !authenticated {
                return with_headers(to_login(request.method(), &path));
            }
            let (session, cookie) = sessions.create(true);
            request.extensions_mut().insert(session);
            new_cookie = Some(cookie);
        }
        None => {}
    }
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    with_headers(response)
}

/// Whether the listener let the request in with the password (true when none is set).
/// The daemon, which mounts the page, puts it on each request from its listener's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated(pub bool);

fn to_login(method: &Method, path: &str) -> Response {
    if method == Method::GET {
        let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        Redirect::to(&format!("{LOGIN_PATH}?next={next}")).into_response()
    } else {
        pages::problem(
            StatusCode::UNAUTHORIZED,
            "Log in first",
            "This needs the password.",
            "",
        )
    }
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn htmx() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../static/htmx.min.js"),
    )
}

async fn app_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_bytes!("../static/app.css"),
    )
}

async fn app_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../static/app.js"),
    )
}

/// Where to go after logging in: a path on this site, else `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let sessions = state.sessions();
    let next = safe_next(query.next.as_deref());
    if !sessions.password().required() || sessions.logged_in(&headers) {
        return Redirect::to(&next).into_response();
    }
    let token = auth::random_token();
    let cookie = sessions.cookie_header(auth::LOGIN_COOKIE, &token, Some(600));
    (
        [(header::SET_COOKIE, cookie)],
        pages::login_page(&token, &next, None),
    )
        .into_response()
}

async fn login(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let sessions = state.sessions();
    let form = auth::form_pairs(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let next = safe_next(field("next"));
    if !sessions.password().required() {
        return Redirect::to(&next).into_response();
    }
    // The login form's token (double-submit: its cookie and its field), so another site
    // cannot log a browser in to this one.
    let token_ok = matches!(
        (auth::cookie(&headers, auth::LOGIN_COOKIE), field("csrf")),
        (Some(a), Some(b)) if auth::same_token(a, b)
    );
    if !token_ok {
        warn!(
            trigger = "web",
            "web: a login form without its token was refused"
        );
        return auth::Refused("the login form carries no valid CSRF token").into_response();
    }
    let password = field("password").unwrap_or("");
    if !sessions.password().verify(password.as_bytes()) {
        warn!(trigger = "web", "web: a login with a wrong password");
        // Slows guessing down; the connection cap bounds guesses in parallel.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let token = auth::random_token();
        let cookie = sessions.cookie_header(auth::LOGIN_COOKIE, &token, Some(600));
        return (
            StatusCode::UNAUTHORIZED,
            [(header::SET_COOKIE, cookie)],
            pages::login_page(&token, &next, Some("That is not the password.")),
        )
            .into_response();
    }
    let (_, cookie) = sessions.create(true);
    info!(trigger = "web", "web: logged in");
    let clear = sessions.cookie_header(auth::LOGIN_COOKIE, "", Some(0));
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response.headers_mut().append(header::SET_COOKIE, clear);
    response
}

async fn logout(State(state): State<WebState>, posted: auth::Posted) -> Response {
    let sessions = state.sessions();
    sessions.end(&posted.session.id);
    info!(trigger = "web", "web: logged out");
    let clear = sessions.cookie_header(auth::SESSION_COOKIE, "", Some(0));
    let mut response = Redirect::to(LOGIN_PATH).into_response();
    response.headers_mut().append(header::SET_COOKIE, clear);
    response
}

/// The session a handler runs under (the guard put it there).
pub(crate) fn session_of(extensions: &axum::http::Extensions) -> Option<CurrentSession> {
    extensions.get::<CurrentSession>().cloned()
}
