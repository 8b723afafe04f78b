//! The Web Connector's SOAP service (`/qbwc`) and its support page (`/qbwc/support`), as an
//! axum `Router` the daemon serves through its listener (ADR 0070, ADR 0080).
//!
//! Sessions: `authenticate` checks the user and password (the password's SHA-256 compared
//! in constant time), answers a random ticket and claims the company file's lease in the
//! database — one session per company file across daemons; the session lives in this
//! process until `closeConnection`, `connectionError` or `session_timeout` of silence.
//! Tickets are known only as their SHA-256, here and in the database.

use crate::soap::{self, Answer, Call, Operation};
use crate::work::{CloseReason, CompanyWork, HResult, Progress, QbxmlVersion, SessionInfo};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use invsync_config::{QbType, WebConnectorConfig};
use invsync_store::Db;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tracing::{info, warn};

/// The endpoint's path.
pub const PATH: &str = "/qbwc";
/// The support page's path (the `.qwc`'s AppSupport by default).
pub const SUPPORT_PATH: &str = "/qbwc/support";
/// The largest request body taken: a `receiveResponseXML` carries a whole qbXML response
/// (500 items of a trimmed read are well under 1 MiB; a first `sendRequestXML` carries the
/// company's host, company and preferences answers).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// The qbXML version asked for when QuickBooks Desktop supports it.
pub const QBXML_VERSION: QbxmlVersion = QbxmlVersion::new(13, 0);
/// The qbposXML version asked for when QuickBooks POS supports it.
pub const QBPOSXML_VERSION: QbxmlVersion = QbxmlVersion::new(3, 0);

/// One company file the endpoint serves.
pub struct CompanySetup {
    /// The Web Connector user; also the company file's name in the database and metrics.
    pub username: String,
    pub password: SecretString,
    /// `authenticate`'s answer when there is work; `None`: the file open in QuickBooks.
    pub company_file: Option<String>,
    pub qb_type: QbType,
    pub work: Arc<dyn CompanyWork>,
}

impl CompanySetup {
    pub fn from_config(config: &WebConnectorConfig, work: Arc<dyn CompanyWork>) -> CompanySetup {
        CompanySetup {
            username: config.username.clone(),
            password: config.password.clone(),
            company_file: config.company_file.clone(),
            qb_type: config.qb_type,
            work,
        }
    }
}

/// What the endpoint needs besides its companies.
pub struct EndpointOptions {
    pub db: Db,
    /// A session silent this long ends.
    pub session_timeout: Duration,
    /// Who holds leases (`host:pid:start`), written into `web_connector_files`.
    pub owner: String,
    /// The name the support page shows (`[web_connector] app_name`).
    pub app_name: String,
}

/// Per company file, since this process started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyStats {
    /// Sessions by how `authenticate` answered (`opened`, `none`, `busy`) and how opened
    /// ones ended (`closed`, `failed`, `connection_error`, `expired`); logins refused for a
    /// wrong password count as `nvu`.
    pub sessions: BTreeMap<&'static str, u64>,
    /// qbXML requests handed to the Web Connector.
    pub requests: u64,
    /// The last call of the Web Connector for this company file.
    pub last_seen: Option<DateTime<Utc>>,
    /// Whether a session is open now.
    pub open: bool,
}

/// The endpoint; cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

struct Inner {
    companies: Vec<Company>,
    options: EndpointOptions,
    next_session: AtomicU64,
}

struct Company {
    username: String,
    password: [u8; 32],
    company_file: Option<String>,
    qb_type: QbType,
    work: Arc<dyn CompanyWork>,
    session: tokio::sync::Mutex<Option<Session>>,
    stats: Mutex<CompanyStats>,
}

struct Session {
    ticket: [u8; 32],
    info: SessionInfo,
    expires: Instant,
    /// When the lease in the database was last moved on. It is moved on once a quarter of
    /// `session_timeout` has passed, not on every call: two queries a round trip were most
    /// of the endpoint's own time (docs/benchmarks.md), and the lease still outlives the
    /// session's silence by three quarters of the timeout at least.
    renewed: Instant,
    /// The request handed out whose response has not come: asked again (the answer was
    /// lost), the same request is answered, never a second one.
    outstanding: Option<String>,
    /// The digest of the last response taken and the progress answered: a response sent
    /// again (our answer was lost) gets the same progress, and the work sees it once.
    last_response: Option<([u8; 32], i32)>,
    last_error: Option<String>,
    /// The next `getLastError` answers `NoOp` (work remains, nothing ready).
    noop: bool,
    failed: bool,
    requests: u64,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 128 random bits from the OS generator, written like a GUID (what Web Connector logs show).
fn new_ticket() -> String {
    let v = hex(&rand::random::<u128>().to_be_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &v[0..8],
        &v[8..12],
        &v[12..16],
        &v[16..20],
        &v[20..32]
    )
}

/// The version a session uses: the target when QuickBooks supports it, else the newest it
/// supports — never newer than it offers.
pub fn choose_version(qb_type: QbType, offered: QbxmlVersion) -> QbxmlVersion {
    let target = match qb_type {
        QbType::Desktop => QBXML_VERSION,
        QbType::PointOfSale => QBPOSXML_VERSION,
    };
    offered.min(target)
}

const UNKNOWN_TICKET: &str = "invsync: this Web Connector session is unknown or has ended (a session ends after web_connector.session_timeout of silence, or when the daemon restarts); the next run of the Web Connector starts a new one";

impl Endpoint {
    pub fn new(companies: Vec<CompanySetup>, options: EndpointOptions) -> Endpoint {
        let companies = companies
            .into_iter()
            .map(|c| Company {
                password: sha256(c.password.expose_secret().as_bytes()),
                username: c.username,
                company_file: c.company_file,
                qb_type: c.qb_type,
                work: c.work,
                session: tokio::sync::Mutex::new(None),
                stats: Mutex::new(CompanyStats::default()),
            })
            .collect();
        Endpoint {
            inner: Arc::new(Inner {
                companies,
                options,
                next_session: AtomicU64::new(1),
            }),
        }
    }

    /// `/qbwc` (POST: SOAP; GET: a short page) and `/qbwc/support`.
    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, get(landing).post(soap_call))
            .route(SUPPORT_PATH, get(support))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(self.clone())
    }

    /// The statistics of the company file whose Web Connector user is `username`.
    pub fn stats(&self, username: &str) -> Option<CompanyStats> {
        self.inner
            .companies
            .iter()
            .find(|c| c.username == username)
            .map(|c| c.stats_snapshot())
    }

    /// Ends every open session (the daemon stops): the works are told, the leases freed,
    /// so the Web Connector is not told `busy` after a restart.
    pub async fn close_all(&self) {
        for company in &self.inner.companies {
            let mut slot = company.session.lock().await;
            self.end(company, &mut slot, CloseReason::Shutdown, None)
                .await;
        }
    }

    async fn call(&self, call: &Call) -> Answer {
        let text = Answer::Text;
        match call.operation.name {
            "serverVersion" => text(format!("invsync {}", env!("CARGO_PKG_VERSION"))),
            // "" accepts every Web Connector version.
            "clientVersion" => text(String::new()),
            "authenticate" => Answer::Strings(
                self.authenticate(call.param("strUserName"), call.param("strPassword"))
                    .await,
            ),
            "sendRequestXML" => text(self.send_request(call).await),
            "receiveResponseXML" => Answer::Int(self.receive_response(call).await),
            "connectionError" => text(self.connection_error(call).await),
            "getLastError" => text(self.last_error(call.param("ticket")).await),
            "closeConnection" => text(self.close(call.param("ticket")).await),
            _ => text(String::new()),
        }
    }

    async fn authenticate(&self, username: &str, password: &str) -> Vec<String> {
        let ticket = new_ticket();
        // The two numbers after the status: seconds to postpone the next update and the
        // shortest run interval the Web Connector may use; 0 leaves both to its settings.
        let answer = |status: &str| vec![ticket.clone(), status.to_owned(), "0".into(), "0".into()];
        let sent = sha256(password.as_bytes());
        let company = self.inner.companies.iter().find(|c| c.username == username);
        // The digest comparison runs whether or not the user exists, in constant time.
        let expected = company.map(|c| c.password).unwrap_or([0; 32]);
        let password_ok: bool = expected.ct_eq(&sent).into();
        let Some(company) = company.filter(|_| password_ok) else {
            match company {
                Some(c) => c.count("nvu"),
                // An unknown user name is not a label: it could be anything, even a typo'd
                // password.
                None => metrics::counter!("invsync_web_connector_sessions_total", "company" => "unknown", "outcome" => "nvu").increment(1),
            }
            warn!(
                known_user = company.is_some(),
                "Web Connector login refused: wrong user name or password"
            );
            return answer("nvu");
        };
        company.seen();
        if !company.work.has_work().await {
            company.count("none");
            return answer("none");
        }
        let mut slot = company.session.lock().await;
        if let Some(open) = slot.as_ref()
            && open.expires <= Instant::now()
        {
            self.end(company, &mut slot, CloseReason::Expired, None)
                .await;
        }
        if slot.is_some() {
            company.count("busy");
            return answer("busy");
        }
        let ticket_hash = sha256(ticket.as_bytes());
        let opts = &self.inner.options;
        let ticket_hex = hex(&ticket_hash);
        let claim = || {
            opts.db.claim_web_connector_session(
                &company.username,
                &ticket_hex,
                &opts.owner,
                opts.session_timeout,
            )
        };
        match claim().await {
            Ok(true) => {}
            Ok(false) => {
                // A daemon of this host that died with the session open holds it: free it
                // rather than make the Web Connector wait out the timeout.
                let retaken = match opts
                    .db
                    .release_dead_web_connector_session(&company.username)
                    .await
                {
                    Ok(true) => claim().await.unwrap_or(false),
                    _ => false,
                };
                if !retaken {
                    company.count("busy");
                    return answer("busy");
                }
                info!(web_connector.company = %company.username, "took over the Web Connector session of a daemon that is gone");
            }
            Err(e) => {
                warn!(web_connector.company = %company.username, error = %e, "cannot record a Web Connector session; answering busy");
                company.count("busy");
                return answer("busy");
            }
        }
        let id = self.inner.next_session.fetch_add(1, Ordering::Relaxed);
        *slot = Some(Session {
            ticket: ticket_hash,
            info: SessionInfo {
                id,
                company: company.username.clone(),
                version: None,
                company_file_name: String::new(),
                country: String::new(),
            },
            expires: Instant::now() + opts.session_timeout,
            renewed: Instant::now(),
            outstanding: None,
            last_response: None,
            last_error: None,
            noop: false,
            failed: false,
            requests: 0,
        });
        company.count("opened");
        company.set_open(true);
        info!(web_connector.company = %company.username, web_connector.session = id, "Web Connector session opened");
        answer(company.company_file.as_deref().unwrap_or(""))
    }

    /// The company and its locked session slot holding `ticket`, if a live session does.
    /// An expired session met on the way is ended.
    async fn find(
        &self,
        ticket: &str,
    ) -> Option<(&Company, tokio::sync::MutexGuard<'_, Option<Session>>)> {
        let hash = sha256(ticket.as_bytes());
        for company in &self.inner.companies {
            let mut slot = company.session.lock().await;
            let Some(session) = slot.as_ref() else {
                continue;
            };
            if !bool::from(session.ticket.ct_eq(&hash)) {
                continue;
            }
            company.seen();
            if session.expires <= Instant::now() {
                self.end(company, &mut slot, CloseReason::Expired, None)
                    .await;
                return None;
            }
            let opts = &self.inner.options;
            let renew = session.renewed.elapsed() >= opts.session_timeout / 4;
            let touched = if renew {
                opts.db
                    .touch_web_connector_session(
                        &company.username,
                        &hex(&hash),
                        opts.session_timeout,
                    )
                    .await
            } else {
                Ok(true)
            };
            match touched {
                Ok(true) => {}
                Ok(false) => {
                    // The lease expired and another session took it.
                    self.end(company, &mut slot, CloseReason::Expired, None)
                        .await;
                    return None;
                }
                Err(e) => {
                    warn!(web_connector.company = %company.username, error = %e, "cannot renew the Web Connector session's lease");
                }
            }
            if let Some(session) = slot.as_mut() {
                session.expires = Instant::now() + opts.session_timeout;
                if renew {
                    session.renewed = Instant::now();
                }
            }
            return Some((company, slot));
        }
        None
    }

    async fn send_request(&self, call: &Call) -> String {
        let Some((company, mut slot)) = self.find(call.param("ticket")).await else {
            return String::new();
        };
        let Some(session) = slot.as_mut() else {
            return String::new();
        };
        let offered = QbxmlVersion::new(
            call.param("qbXMLMajorVers").trim().parse().unwrap_or(0),
            call.param("qbXMLMinorVers").trim().parse().unwrap_or(0),
        );
        session.info.version = Some(choose_version(company.qb_type, offered));
        session.info.company_file_name = call.param("strCompanyFileName").to_owned();
        session.info.country = call.param("qbXMLCountry").to_owned();
        if session.failed {
            return String::new();
        }
        if let Some(request) = &session.outstanding {
            return request.clone();
        }
        match company.work.next_request(&session.info).await {
            Ok(Some(request)) => {
                session.outstanding = Some(request.clone());
                session.requests += 1;
                company.count_request();
                request
            }
            Ok(None) if company.work.has_work().await => {
                session.noop = true;
                String::new()
            }
            Ok(None) => {
                session.last_error = Some("invsync: nothing left to do in this session".into());
                String::new()
            }
            Err(e) => {
                session.failed = true;
                session.last_error = Some(format!("invsync: {e}"));
                String::new()
            }
        }
    }

    async fn receive_response(&self, call: &Call) -> i32 {
        let Some((company, mut slot)) = self.find(call.param("ticket")).await else {
            return -1;
        };
        let Some(session) = slot.as_mut() else {
            return -1;
        };
        let digest = sha256(
            format!(
                "{}\u{0}{}\u{0}{}",
                call.param("response"),
                call.param("hresult"),
                call.param("message")
            )
            .as_bytes(),
        );
        if session.outstanding.is_none() {
            if let Some((last, progress)) = session.last_response
                && last == digest
            {
                return progress;
            }
            session.failed = true;
            session.last_error =
                Some("invsync: a response came for no request of this session".into());
            return -1;
        }
        let hresult = call.param("hresult").trim();
        let response = if hresult.is_empty() {
            Ok(call.param("response").to_owned())
        } else {
            Err(HResult {
                code: hresult.to_owned(),
                message: call.param("message").to_owned(),
            })
        };
        session.outstanding = None;
        let progress = match company.work.receive_response(&session.info, response).await {
            Ok(Progress::Done) => 100,
            Ok(Progress::Working(p)) => i32::from(p.min(99)),
            Err(e) => {
                session.failed = true;
                session.last_error = Some(format!("invsync: {e}"));
                -1
            }
        };
        session.last_response = Some((digest, progress));
        progress
    }

    async fn connection_error(&self, call: &Call) -> String {
        let Some((company, mut slot)) = self.find(call.param("ticket")).await else {
            return "done".into();
        };
        let error = HResult {
            code: call.param("hresult").trim().to_owned(),
            message: call.param("message").trim().to_owned(),
        };
        if let Some(session) = slot.as_ref() {
            company.work.connection_error(&session.info, &error).await;
        }
        let described = error.describe();
        warn!(web_connector.company = %company.username, error = %described, "the Web Connector could not reach QuickBooks");
        self.end(
            company,
            &mut slot,
            CloseReason::ConnectionError,
            Some(described),
        )
        .await;
        "done".into()
    }

    async fn last_error(&self, ticket: &str) -> String {
        let Some((_, mut slot)) = self.find(ticket).await else {
            return UNKNOWN_TICKET.into();
        };
        let Some(session) = slot.as_mut() else {
            return UNKNOWN_TICKET.into();
        };
        if std::mem::take(&mut session.noop) {
            return "NoOp".into();
        }
        session
            .last_error
            .clone()
            .unwrap_or_else(|| "invsync: no error in this session".into())
    }

    async fn close(&self, ticket: &str) -> String {
        let Some((company, mut slot)) = self.find(ticket).await else {
            return "invsync: this session had already ended".into();
        };
        let (requests, error) = match slot.as_ref() {
            Some(s) => (s.requests, s.failed.then(|| s.last_error.clone()).flatten()),
            None => (0, None),
        };
        let said = match &error {
            Some(e) => format!("invsync: {requests} request(s); ended with an error: {e}"),
            None => format!("invsync: {requests} request(s); done"),
        };
        self.end(company, &mut slot, CloseReason::Closed, error)
            .await;
        said
    }

    /// Ends the session in `slot`: the work is told, the lease released (with the error,
    /// if it ended badly), the statistics counted.
    async fn end(
        &self,
        company: &Company,
        slot: &mut Option<Session>,
        reason: CloseReason,
        error: Option<String>,
    ) {
        let Some(session) = slot.take() else {
            return;
        };
        let outcome = match (&reason, session.failed) {
            (CloseReason::ConnectionError, _) => "connection_error",
            (CloseReason::Expired, _) => "expired",
            (CloseReason::Shutdown, _) => "shutdown",
            (CloseReason::Closed, true) => "failed",
            (CloseReason::Closed, false) => "closed",
        };
        company.work.close(&session.info, reason).await;
        if let Err(e) = self
            .inner
            .options
            .db
            .end_web_connector_session(&company.username, &hex(&session.ticket), error.as_deref())
            .await
        {
            warn!(web_connector.company = %company.username, error = %e, "cannot record the end of a Web Connector session (its lease expires by itself)");
        }
        company.count(outcome);
        company.set_open(false);
        info!(web_connector.company = %company.username, web_connector.session = session.info.id, outcome, "Web Connector session ended");
    }
}

impl Company {
    fn with_stats(&self, f: impl FnOnce(&mut CompanyStats)) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut stats);
    }

    fn stats_snapshot(&self) -> CompanyStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, outcome: &'static str) {
        self.with_stats(|s| *s.sessions.entry(outcome).or_default() += 1);
        metrics::counter!("invsync_web_connector_sessions_total", "company" => self.username.clone(), "outcome" => outcome).increment(1);
    }

    fn count_request(&self) {
        self.with_stats(|s| s.requests += 1);
        metrics::counter!("invsync_web_connector_requests_total", "company" => self.username.clone()).increment(1);
    }

    fn seen(&self) {
        let now = Utc::now();
        self.with_stats(|s| s.last_seen = Some(now));
        #[allow(clippy::cast_precision_loss)]
        let seconds = now.timestamp_millis() as f64 / 1000.0;
        metrics::gauge!("invsync_web_connector_last_seen_timestamp_seconds", "company" => self.username.clone()).set(seconds);
    }

    fn set_open(&self, open: bool) {
        self.with_stats(|s| s.open = open);
        metrics::gauge!("invsync_web_connector_session_open", "company" => self.username.clone())
            .set(if open { 1.0 } else { 0.0 });
    }
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn soap_fault(message: &str) -> Response {
    xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        soap::fault(true, message),
    )
}

async fn soap_call(State(endpoint): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return soap_fault("the request is not UTF-8");
    };
    let call = match soap::parse_call(text) {
        Ok(call) => call,
        Err(e) => return soap_fault(&format!("not a Web Connector SOAP request: {e}")),
    };
    // SOAPAction, when sent, must name the operation in the body.
    if let Some(action) = headers.get("soapaction") {
        let action = action.to_str().unwrap_or("").trim().trim_matches('"');
        let expected = format!("{}{}", soap::INTUIT_NS, call.operation.name);
        if !action.is_empty() && action != expected {
            return soap_fault(&format!(
                "SOAPAction `{action}` does not match the operation in the body ({expected})"
            ));
        }
    }
    for required in ["qbXMLMajorVers", "qbXMLMinorVers"] {
        if call.operation.params.contains(&required)
            && call.param(required).trim().parse::<u32>().is_err()
        {
            return soap_fault(&format!("{required} must be a whole number"));
        }
    }
    let operation: &Operation = call.operation;
    let answer = endpoint.call(&call).await;
    xml(StatusCode::OK, soap::response(operation, &answer))
}

async fn landing() -> Html<&'static str> {
    Html(
        "<!doctype html><title>invsync — QuickBooks Web Connector</title><p>This is invsync's endpoint for the QuickBooks Web Connector (SOAP). Load the .qwc file made by <code>invsync web-connector qwc</code> into the Web Connector; see <a href=\"/qbwc/support\">support</a>.</p>",
    )
}

async fn support(State(endpoint): State<Endpoint>) -> Html<String> {
    let name = html_escape(&endpoint.inner.options.app_name);
    Html(format!(
        "<!doctype html><title>{name} — support</title><h1>{name}: QuickBooks Web Connector</h1>\
         <p>{name} keeps prices and stock in sync between QuickBooks and your online stores. \
         The Web Connector calls it every few minutes; each session reads QuickBooks' inventory \
         items and applies what invsync planned.</p>\
         <ul><li>If a session ends with an error, the Web Connector's status column and \
         <code>invsync runs</code> on the server say why.</li>\
         <li>Password: the one in the server's <code>[web_connector] password</code>.</li>\
         <li>QuickBooks must allow the application: Edit &gt; Preferences &gt; Integrated \
         Applications &gt; Company Preferences.</li></ul>"
    ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
