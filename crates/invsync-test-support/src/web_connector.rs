//! A QuickBooks Web Connector client fake: it speaks SOAP 1.1 over real HTTP to an
//! endpoint the way QBWC does (`serverVersion`, `clientVersion`, `authenticate`, then
//! `sendRequestXML`/`receiveResponseXML` until 100 or an error, `getLastError` after an
//! empty request or a negative progress — waiting and asking again on `NoOp` —
//! `connectionError` when QuickBooks cannot be reached, `closeConnection`), and hands each
//! qbXML request to a closure that plays QuickBooks.
//!
//! It is written independently of invsync's endpoint (its own envelopes, its own reader),
//! and checks every answer's shape: `{operation}Response` and `{operation}Result` in
//! `http://developer.intuit.com/`, `string` items for `authenticate`, an integer for
//! `receiveResponseXML`.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use std::time::Duration;

const INTUIT: &str = "http://developer.intuit.com/";
const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// What a call got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The result element's text.
    Text(String),
    /// `authenticate`'s `string` items.
    Strings(Vec<String>),
    /// A SOAP fault (HTTP status, faultstring).
    Fault(u16, String),
}

/// A call that did not get a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The HTTP exchange failed, or the fake dropped the answer on purpose.
    Transport(String),
    /// The answer is not what the WSDL says.
    Malformed(String),
}

/// How QuickBooks answered one request: the response text, or an HRESULT and message.
pub type QuickBooksAnswer = Result<String, (String, String)>;

/// One session as the fake saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLog {
    /// Every operation called, in order.
    pub calls: Vec<&'static str>,
    pub server_version: String,
    /// `authenticate`'s answer.
    pub auth: Vec<String>,
    /// The qbXML requests received (non-empty `sendRequestXML` answers).
    pub requests: Vec<String>,
    /// `receiveResponseXML`'s answers.
    pub progress: Vec<i32>,
    /// `getLastError`'s answers.
    pub last_errors: Vec<String>,
    /// `closeConnection`'s answer, if it was called.
    pub closed: Option<String>,
    /// `connectionError`'s answer, if it was called.
    pub connection_error: Option<String>,
}

/// The client.
pub struct WebConnectorClient {
    http: reqwest::Client,
    url: String,
    /// What `sendRequestXML` reports QuickBooks supports.
    pub qbxml_version: (u32, u32),
    pub company_file_name: String,
    pub country: String,
    /// How long `NoOp` makes it wait (QBWC waits 5 s; tests less).
    pub noop_wait: Duration,
    /// The most `NoOp`s in a row before it gives up.
    pub max_noops: usize,
    drop_next: std::sync::atomic::AtomicBool,
}

impl WebConnectorClient {
    pub fn new(url: impl Into<String>) -> WebConnectorClient {
        WebConnectorClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            url: url.into(),
            qbxml_version: (13, 0),
            company_file_name:
                "C:\\Users\\Public\\Documents\\Intuit\\QuickBooks\\Company Files\\Shop.qbw".into(),
            country: "US".into(),
            noop_wait: Duration::from_millis(20),
            max_noops: 50,
            drop_next: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Calls through `http` (e.g. one that trusts a test certificate, for HTTPS).
    pub fn with_http(url: impl Into<String>, http: reqwest::Client) -> WebConnectorClient {
        WebConnectorClient {
            http,
            ..WebConnectorClient::new(url)
        }
    }

    /// The next call reaches the endpoint, which answers, but the answer is thrown away
    /// (the connection broke on its way back): the call returns `Transport`.
    pub fn drop_next_answer(&self) {
        self.drop_next
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The request envelope QBWC would send.
    pub fn envelope(operation: &str, params: &[(&str, &str)]) -> String {
        let mut w = Writer::new(Vec::new());
        let _ = (|| -> std::io::Result<()> {
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
            let mut env = BytesStart::new("soap:Envelope");
            env.push_attribute(("xmlns:soap", SOAP));
            env.push_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"));
            env.push_attribute(("xmlns:xsd", "http://www.w3.org/2001/XMLSchema"));
            w.write_event(Event::Start(env))?;
            w.write_event(Event::Start(BytesStart::new("soap:Body")))?;
            let mut op = BytesStart::new(operation);
            op.push_attribute(("xmlns", INTUIT));
            w.write_event(Event::Start(op))?;
            for (name, value) in params {
                w.write_event(Event::Start(BytesStart::new(*name)))?;
                w.write_event(Event::Text(BytesText::new(value)))?;
                w.write_event(Event::End(BytesEnd::new(*name)))?;
            }
            w.write_event(Event::End(BytesEnd::new(operation)))?;
            w.write_event(Event::End(BytesEnd::new("soap:Body")))?;
            w.write_event(Event::End(BytesEnd::new("soap:Envelope")))
        })();
        String::from_utf8(w.into_inner()).unwrap_or_default()
    }

    /// Posts a raw body with the SOAPAction of `operation`.
    pub async fn post(&self, operation: &str, body: String) -> Result<(u16, String), CallError> {
        let response = self
            .http
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{INTUIT}{operation}\""))
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        if self
            .drop_next
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(CallError::Transport("answer dropped".into()));
        }
        Ok((status, text))
    }

    /// Calls `operation` and reads its answer as the WSDL describes it.
    pub async fn call(&self, operation: &str, params: &[(&str, &str)]) -> Result<Reply, CallError> {
        let (status, text) = self
            .post(operation, Self::envelope(operation, params))
            .await?;
        read_answer(operation, status, &text)
    }

    async fn text(&self, operation: &str, params: &[(&str, &str)]) -> Result<String, CallError> {
        match self.call(operation, params).await? {
            Reply::Text(t) => Ok(t),
            other => Err(CallError::Malformed(format!("{operation}: {other:?}"))),
        }
    }

    pub async fn server_version(&self) -> Result<String, CallError> {
        self.text("serverVersion", &[("strVersion", "")]).await
    }

    pub async fn client_version(&self) -> Result<String, CallError> {
        self.text("clientVersion", &[("strVersion", "2.3.0.215")])
            .await
    }

    pub async fn authenticate(&self, user: &str, password: &str) -> Result<Vec<String>, CallError> {
        match self
            .call(
                "authenticate",
                &[("strUserName", user), ("strPassword", password)],
            )
            .await?
        {
            Reply::Strings(items) => Ok(items),
            other => Err(CallError::Malformed(format!("authenticate: {other:?}"))),
        }
    }

    pub async fn send_request_xml(&self, ticket: &str) -> Result<String, CallError> {
        let (major, minor) = (
            self.qbxml_version.0.to_string(),
            self.qbxml_version.1.to_string(),
        );
        self.text(
            "sendRequestXML",
            &[
                ("ticket", ticket),
                ("strHCPResponse", ""),
                ("strCompanyFileName", &self.company_file_name),
                ("qbXMLCountry", &self.country),
                ("qbXMLMajorVers", &major),
                ("qbXMLMinorVers", &minor),
            ],
        )
        .await
    }

    pub async fn receive_response_xml(
        &self,
        ticket: &str,
        response: &str,
        hresult: &str,
        message: &str,
    ) -> Result<i32, CallError> {
        let text = self
            .text(
                "receiveResponseXML",
                &[
                    ("ticket", ticket),
                    ("response", response),
                    ("hresult", hresult),
                    ("message", message),
                ],
            )
            .await?;
        text.trim().parse().map_err(|_| {
            CallError::Malformed(format!("receiveResponseXMLResult `{text}` is not an int"))
        })
    }

    pub async fn connection_error(
        &self,
        ticket: &str,
        hresult: &str,
        message: &str,
    ) -> Result<String, CallError> {
        self.text(
            "connectionError",
            &[
                ("ticket", ticket),
                ("hresult", hresult),
                ("message", message),
            ],
        )
        .await
    }

    pub async fn get_last_error(&self, ticket: &str) -> Result<String, CallError> {
        self.text("getLastError", &[("ticket", ticket)]).await
    }

    pub async fn close_connection(&self, ticket: &str) -> Result<String, CallError> {
        self.text("closeConnection", &[("ticket", ticket)]).await
    }

    /// The start of a session: `serverVersion`, `clientVersion`, `authenticate`.
    pub async fn open(
        &self,
        user: &str,
        password: &str,
        log: &mut SessionLog,
    ) -> Result<Vec<String>, CallError> {
        log.calls.push("serverVersion");
        log.server_version = self.server_version().await?;
        log.calls.push("clientVersion");
        self.client_version().await?;
        log.calls.push("authenticate");
        let auth = self.authenticate(user, password).await?;
        log.auth = auth.clone();
        Ok(auth)
    }

    /// One whole session as QBWC runs it, QuickBooks played by `quickbooks`.
    pub async fn run_session(
        &self,
        user: &str,
        password: &str,
        mut quickbooks: impl FnMut(&str) -> QuickBooksAnswer,
    ) -> Result<SessionLog, CallError> {
        let mut log = SessionLog::default();
        let auth = self.open(user, password, &mut log).await?;
        let (Some(ticket), Some(status)) = (auth.first(), auth.get(1)) else {
            return Err(CallError::Malformed(format!(
                "authenticate answered {auth:?}"
            )));
        };
        if matches!(status.as_str(), "nvu" | "none" | "busy") {
            return Ok(log);
        }
        let mut noops = 0;
        loop {
            log.calls.push("sendRequestXML");
            let request = self.send_request_xml(ticket).await?;
            if request.is_empty() {
                log.calls.push("getLastError");
                let error = self.get_last_error(ticket).await?;
                log.last_errors.push(error.clone());
                if error == "NoOp" && noops < self.max_noops {
                    noops += 1;
                    tokio::time::sleep(self.noop_wait).await;
                    continue;
                }
                break;
            }
            noops = 0;
            log.requests.push(request.clone());
            let progress = match quickbooks(&request) {
                Ok(response) => {
                    log.calls.push("receiveResponseXML");
                    self.receive_response_xml(ticket, &response, "", "").await?
                }
                Err((hresult, message)) => {
                    log.calls.push("receiveResponseXML");
                    self.receive_response_xml(ticket, "", &hresult, &message)
                        .await?
                }
            };
            log.progress.push(progress);
            if progress < 0 {
                log.calls.push("getLastError");
                log.last_errors.push(self.get_last_error(ticket).await?);
                break;
            }
            if progress >= 100 {
                break;
            }
        }
        log.calls.push("closeConnection");
        log.closed = Some(self.close_connection(ticket).await?);
        Ok(log)
    }

    /// A session in which QuickBooks cannot be reached: after `authenticate`, QBWC calls
    /// `connectionError` with the HRESULT instead of `sendRequestXML`.
    pub async fn run_failing_session(
        &self,
        user: &str,
        password: &str,
        hresult: &str,
        message: &str,
    ) -> Result<SessionLog, CallError> {
        let mut log = SessionLog::default();
        let auth = self.open(user, password, &mut log).await?;
        let Some(ticket) = auth.first() else {
            return Err(CallError::Malformed("authenticate answered nothing".into()));
        };
        log.calls.push("connectionError");
        log.connection_error = Some(self.connection_error(ticket, hresult, message).await?);
        Ok(log)
    }
}

/// Reads a SOAP answer of `operation`: HTTP 200 with `{operation}Response/{operation}Result`
/// in the Intuit namespace, or a fault.
pub fn read_answer(operation: &str, status: u16, text: &str) -> Result<Reply, CallError> {
    let malformed =
        |why: String| CallError::Malformed(format!("{operation} (HTTP {status}): {why}: {text}"));
    let mut reader = NsReader::from_str(text);
    let mut path: Vec<(String, bool)> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut fault: Option<String> = None;
    let mut result_seen = false;
    let response = format!("{operation}Response");
    let result = format!("{operation}Result");
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| malformed(format!("not XML: {e}")))?;
        let ns_is = |want: &str| matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == want);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_owned();
                let intuit = ns_is(INTUIT);
                let soap = ns_is(SOAP);
                let depth = path.len();
                let expected = match depth {
                    0 => soap && local == "Envelope",
                    1 => soap && (local == "Body" || local == "Header"),
                    2 => (intuit && local == response) || (soap && local == "Fault"),
                    3 => {
                        (intuit && local == result)
                            || path.last().is_some_and(|(n, _)| n == "Fault")
                    }
                    4 => intuit && local == "string" && operation == "authenticate",
                    _ => false,
                };
                if !expected {
                    return Err(malformed(format!(
                        "unexpected element `{local}` at depth {depth}"
                    )));
                }
                if depth == 3 && local == result {
                    result_seen = true;
                }
                current.clear();
                let empty = matches!(event, Event::Empty(_));
                if empty {
                    if depth == 4 {
                        texts.push(String::new());
                    }
                } else {
                    path.push((local, intuit));
                }
            }
            Event::Text(t) => current.push_str(&t.xml10_content()),
            Event::CData(t) => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .ok_or_else(|| malformed("unknown entity".into()))?
                        .to_owned(),
                };
                current.push_str(&resolved);
            }
            Event::End(_) => {
                let Some((name, _)) = path.pop() else {
                    return Err(malformed("unbalanced".into()));
                };
                let depth = path.len();
                let item = depth == 4 && name == "string";
                let result_text = depth == 3 && name == result && operation != "authenticate";
                if item || result_text {
                    texts.push(std::mem::take(&mut current));
                } else if name == "faultstring" {
                    fault = Some(std::mem::take(&mut current));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(fault) = fault {
        return Ok(Reply::Fault(status, fault));
    }
    if status != 200 {
        return Err(malformed("not 200 and not a fault".into()));
    }
    if !result_seen {
        return Err(malformed(format!("no {result}")));
    }
    if operation == "authenticate" {
        Ok(Reply::Strings(texts))
    } else {
        Ok(Reply::Text(texts.pop().unwrap_or_default()))
    }
}
