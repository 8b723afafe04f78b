//! The Web Connector endpoint through real HTTP, driven by the Web Connector client fake
//! (invsync_test_support::web_connector): call order, tickets, none/nvu/busy, versions,
//! progress, NoOp, connectionError, dropped answers, one session per company file (across
//! two endpoints on one Postgres), faults, the support page, and the WSDL's names.

use invsync_config::QbType;
use invsync_store::{Db, PoolOptions};
use invsync_test_support::fake::{FakeServer, serve};
use invsync_test_support::web_connector::{CallError, Reply, WebConnectorClient};
use invsync_test_support::{pg, specs};
use invsync_webconnector::soap::{INTUIT_NS, OPERATIONS};
use invsync_webconnector::{
    CloseReason, CompanySetup, Endpoint, EndpointOptions, QbxmlVersion, QueueEvent, QueueWork,
};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "shop-qb";
const PASSWORD: &str = "correct horse battery";

struct Harness {
    endpoint: Endpoint,
    server: FakeServer,
    db: Db,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn client(&self) -> WebConnectorClient {
        WebConnectorClient::new(format!("{}/qbwc", self.server.base_url()))
    }
}

fn requests(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?><QBXML><QBXMLMsgsRq onError=\"continueOnError\"><ItemInventoryQueryRq requestID=\"{i}\"/></QBXMLMsgsRq></QBXML>"))
        .collect()
}

fn company(work: Arc<QueueWork>, company_file: Option<&str>, qb_type: QbType) -> CompanySetup {
    CompanySetup {
        username: USER.into(),
        password: SecretString::from(PASSWORD),
        company_file: company_file.map(str::to_owned),
        qb_type,
        work,
    }
}

async fn endpoint_on(
    db: Db,
    companies: Vec<CompanySetup>,
    timeout: Duration,
) -> (Endpoint, FakeServer) {
    let endpoint = Endpoint::new(
        companies,
        EndpointOptions {
            db,
            session_timeout: timeout,
            owner: format!("test:{}", std::process::id()),
            app_name: "invsync <test>".into(),
        },
    );
    let server = serve(endpoint.router()).await;
    (endpoint, server)
}

/// A new pool on `database`, migrated: each is what one daemon would hold.
async fn postgres(database: &pg::TestDatabase) -> Db {
    let db = Db::connect(database.url(), &PoolOptions::default())
        .await
        .expect("postgres");
    db.migrate().await.expect("migrate");
    db
}

async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(
        &format!("sqlite://{}/invsync.db", dir.path().display()),
        &PoolOptions::default(),
    )
    .await
    .expect("sqlite");
    db.migrate().await.expect("migrate");
    (db, dir)
}

async fn harness_with(companies: Vec<CompanySetup>, timeout: Duration) -> Harness {
    let (db, dir) = sqlite().await;
    let (endpoint, server) = endpoint_on(db.clone(), companies, timeout).await;
    Harness {
        endpoint,
        server,
        db,
        _dir: dir,
    }
}

async fn harness(work: Arc<QueueWork>) -> Harness {
    harness_with(
        vec![company(work, None, QbType::Desktop)],
        Duration::from_secs(600),
    )
    .await
}

fn answer_ok(request: &str) -> Result<String, (String, String)> {
    Ok(format!(
        "<QBXML><!-- answer to {} bytes --></QBXML>",
        request.len()
    ))
}

#[tokio::test]
async fn a_session_runs_in_the_web_connectors_order() {
    let work = Arc::new(QueueWork::new(requests(3)));
    let h = harness(work.clone()).await;
    let client = h.client();
    let log = client
        .run_session(USER, PASSWORD, answer_ok)
        .await
        .expect("session");
    assert_eq!(
        log.calls,
        [
            "serverVersion",
            "clientVersion",
            "authenticate",
            "sendRequestXML",
            "receiveResponseXML",
            "sendRequestXML",
            "receiveResponseXML",
            "sendRequestXML",
            "receiveResponseXML",
            "closeConnection"
        ]
    );
    assert!(
        log.server_version.starts_with("invsync "),
        "{}",
        log.server_version
    );
    // Always four slots: ticket, "" (the open company file), two numbers.
    assert_eq!(log.auth.len(), 4, "{:?}", log.auth);
    assert_eq!(log.auth[0].len(), 36, "a GUID-like ticket: {:?}", log.auth);
    assert_eq!(&log.auth[1..], ["", "0", "0"]);
    assert_eq!(log.requests, requests(3));
    // Real progress: below 100 while work remains, 100 at the end.
    assert_eq!(log.progress, [33, 66, 100]);
    assert_eq!(log.closed.as_deref(), Some("invsync: 3 request(s); done"));
    assert_eq!(work.remaining(), 0);
    let events = work.events();
    assert!(matches!(
        events.last(),
        Some(QueueEvent::Closed {
            reason: CloseReason::Closed,
            ..
        })
    ));
    assert!(events.iter().all(|e| match e {
        QueueEvent::Sent { version, .. } => *version == Some(QbxmlVersion::new(13, 0)),
        _ => true,
    }));

    let stats = h.endpoint.stats(USER).expect("stats");
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.sessions.get("opened"), Some(&1));
    assert_eq!(stats.sessions.get("closed"), Some(&1));
    assert!(stats.last_seen.is_some() && !stats.open);
    let row = h.db.web_connector_file(USER).await.expect("row");
    assert_eq!(row.sessions, 1);
    assert!(row.session_owner.is_none() && row.last_seen_at.is_some() && row.last_error.is_none());
}

#[tokio::test]
async fn none_nvu_and_busy_always_in_four_slots() {
    let work = Arc::new(QueueWork::new(Vec::new()));
    let h = harness(work.clone()).await;
    let client = h.client();
    let auth = client.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(auth.len(), 4);
    assert_eq!(auth[1], "none", "no work: {auth:?}");
    for (user, password) in [(USER, "wrong"), ("somebody", PASSWORD), ("", "")] {
        let auth = client.authenticate(user, password).await.expect("auth");
        assert_eq!(auth.len(), 4);
        assert_eq!(auth[1], "nvu", "{user}/{password}: {auth:?}");
        // A refused login's ticket opens nothing.
        assert_eq!(client.send_request_xml(&auth[0]).await.expect("send"), "");
    }
    work.push(requests(1)[0].clone());
    let first = client.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(first[1], "");
    let second = client.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(second.len(), 4);
    assert_eq!(second[1], "busy", "{second:?}");
    client.close_connection(&first[0]).await.expect("close");
    let third = client.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(third[1], "", "free again after closeConnection: {third:?}");
    let stats = h.endpoint.stats(USER).expect("stats");
    assert_eq!(stats.sessions.get("none"), Some(&1));
    assert_eq!(
        stats.sessions.get("nvu"),
        Some(&1),
        "only the known user's refusals count"
    );
    assert_eq!(stats.sessions.get("busy"), Some(&1));
    assert_eq!(stats.sessions.get("opened"), Some(&2));
}

#[tokio::test]
async fn the_configured_company_file_and_the_version_the_client_offers() {
    for (qb_type, offered, chosen) in [
        (QbType::Desktop, (16, 0), (13, 0)),
        (QbType::Desktop, (13, 0), (13, 0)),
        (QbType::Desktop, (8, 0), (8, 0)),
        (QbType::PointOfSale, (4, 0), (3, 0)),
        (QbType::PointOfSale, (2, 0), (2, 0)),
    ] {
        let work = Arc::new(QueueWork::new(requests(1)));
        let h = harness_with(
            vec![company(
                work.clone(),
                Some("C:\\Shop & Co\\shop.qbw"),
                qb_type,
            )],
            Duration::from_secs(600),
        )
        .await;
        let mut client = h.client();
        client.qbxml_version = offered;
        let log = client
            .run_session(USER, PASSWORD, answer_ok)
            .await
            .expect("session");
        assert_eq!(log.auth[1], "C:\\Shop & Co\\shop.qbw");
        match &work.events()[0] {
            QueueEvent::Sent { version, .. } => {
                assert_eq!(
                    *version,
                    Some(QbxmlVersion::new(chosen.0, chosen.1)),
                    "{offered:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn tickets_unknown_reused_and_expired() {
    let work = Arc::new(QueueWork::new(requests(2)));
    let h = harness_with(
        vec![company(work.clone(), None, QbType::Desktop)],
        Duration::from_millis(300),
    )
    .await;
    let client = h.client();
    // Unknown.
    assert_eq!(
        client
            .send_request_xml("no-such-ticket")
            .await
            .expect("send"),
        ""
    );
    assert!(
        client
            .get_last_error("no-such-ticket")
            .await
            .expect("err")
            .contains("unknown or has ended")
    );
    assert_eq!(
        client
            .receive_response_xml("no-such-ticket", "<QBXML/>", "", "")
            .await
            .expect("recv"),
        -1
    );
    // Reused after its session closed.
    let auth = client.authenticate(USER, PASSWORD).await.expect("auth");
    let ticket = auth[0].clone();
    assert!(
        !client
            .send_request_xml(&ticket)
            .await
            .expect("send")
            .is_empty()
    );
    client.close_connection(&ticket).await.expect("close");
    assert_eq!(client.send_request_xml(&ticket).await.expect("send"), "");
    assert!(
        client
            .close_connection(&ticket)
            .await
            .expect("close")
            .contains("already ended")
    );
    // Expired: silent for longer than session_timeout.
    let auth = client.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(auth[1], "");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.send_request_xml(&auth[0]).await.expect("send"), "");
    assert!(matches!(
        work.events().last(),
        Some(QueueEvent::Closed {
            reason: CloseReason::Expired,
            ..
        })
    ));
    // The company file is free for a new session (the lease expired too).
    let again = client.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(again[1], "", "{again:?}");
    assert_ne!(again[0], auth[0], "every session gets a new ticket");
    let stats = h.endpoint.stats(USER).expect("stats");
    assert_eq!(stats.sessions.get("expired"), Some(&1));
}

#[tokio::test]
async fn fatal_errors_are_negative_and_explained_hresults_reach_the_work() {
    let work = Arc::new(QueueWork::new(requests(3)));
    let h = harness(work.clone()).await;
    let client = h.client();
    let mut answers = 0;
    // First response fails the work: the session ends with its words.
    work.fail_next_response("QuickBooks rejected the price write of SKU MUG-1: check the item");
    let log = client
        .run_session(USER, PASSWORD, |_| {
            answers += 1;
            Err((
                "0x80040400".into(),
                "QuickBooks found an error when parsing the provided XML text stream.".into(),
            ))
        })
        .await
        .expect("session");
    assert_eq!(answers, 1);
    assert_eq!(log.progress, [-1]);
    assert_eq!(
        log.last_errors,
        ["invsync: QuickBooks rejected the price write of SKU MUG-1: check the item"]
    );
    assert!(
        log.closed
            .as_deref()
            .is_some_and(|c| c.contains("ended with an error")),
        "{log:?}"
    );
    let received = work.events().into_iter().find_map(|e| match e {
        QueueEvent::Received { response, .. } => Some(response),
        _ => None,
    });
    let error = received.expect("received").expect_err("an HRESULT");
    assert_eq!(error.code, "0x80040400");
    assert!(
        error.describe().contains("bug in invsync"),
        "{}",
        error.describe()
    );
    let stats = h.endpoint.stats(USER).expect("stats");
    assert_eq!(stats.sessions.get("failed"), Some(&1));
    let row = h.db.web_connector_file(USER).await.expect("row");
    assert!(row.last_error.is_some_and(|e| e.contains("price write")));
    // The request whose answer failed is still queued for the next session.
    assert_eq!(work.remaining(), 3);
}

#[tokio::test]
async fn noop_while_work_remains_but_nothing_is_ready() {
    let work = Arc::new(QueueWork::new(requests(2)));
    work.pause(true);
    let h = harness(work.clone()).await;
    let client = h.client();
    let resume = {
        let work = work.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            work.pause(false);
        })
    };
    let log = client
        .run_session(USER, PASSWORD, answer_ok)
        .await
        .expect("session");
    resume.await.expect("resume");
    assert!(
        !log.last_errors.is_empty() && log.last_errors.iter().all(|e| e == "NoOp"),
        "{log:?}"
    );
    assert_eq!(log.requests.len(), 2);
    assert_eq!(log.progress.last(), Some(&100));
}

#[tokio::test]
async fn connection_error_ends_the_session_and_is_recorded_with_its_reason() {
    let work = Arc::new(QueueWork::new(requests(1)));
    let h = harness(work.clone()).await;
    let client = h.client();
    for (hresult, message, said) in [
        (
            "0x80040408",
            "Could not start QuickBooks.",
            "start QuickBooks as the same Windows user",
        ),
        (
            "0x80040420",
            "The QuickBooks user has denied access.",
            "Integrated Applications",
        ),
    ] {
        let log = client
            .run_failing_session(USER, PASSWORD, hresult, message)
            .await
            .expect("session");
        assert_eq!(log.connection_error.as_deref(), Some("done"));
        let row = h.db.web_connector_file(USER).await.expect("row");
        let recorded = row.last_error.expect("recorded");
        for part in [hresult, message, said] {
            assert!(recorded.contains(part), "`{part}` in {recorded}");
        }
        assert!(row.session_owner.is_none(), "the lease is released");
        let events = work.events();
        let n = events.len();
        assert!(
            matches!(&events[n - 2], QueueEvent::ConnectionError { error, .. } if error.code == hresult)
        );
        assert!(matches!(
            &events[n - 1],
            QueueEvent::Closed {
                reason: CloseReason::ConnectionError,
                ..
            }
        ));
    }
    let stats = h.endpoint.stats(USER).expect("stats");
    assert_eq!(stats.sessions.get("connection_error"), Some(&2));
    // Nothing was sent; the work is still there for a session that reaches QuickBooks.
    let log = client
        .run_session(USER, PASSWORD, answer_ok)
        .await
        .expect("session");
    assert_eq!(log.progress, [100]);
}

#[tokio::test]
async fn a_dropped_answer_is_answered_again_never_twice_applied() {
    let work = Arc::new(QueueWork::new(requests(2)));
    let h = harness(work.clone()).await;
    let client = h.client();
    let auth = client.authenticate(USER, PASSWORD).await.expect("auth");
    let ticket = &auth[0];
    client.drop_next_answer();
    assert!(matches!(
        client.send_request_xml(ticket).await,
        Err(CallError::Transport(_))
    ));
    let request = client.send_request_xml(ticket).await.expect("asked again");
    assert_eq!(
        request,
        requests(2)[0],
        "the same request, not the next one"
    );
    client.drop_next_answer();
    assert!(matches!(
        client
            .receive_response_xml(ticket, "<QBXML>1</QBXML>", "", "")
            .await,
        Err(CallError::Transport(_))
    ));
    let progress = client
        .receive_response_xml(ticket, "<QBXML>1</QBXML>", "", "")
        .await
        .expect("sent again");
    assert_eq!(progress, 50);
    let sent = work
        .events()
        .iter()
        .filter(|e| matches!(e, QueueEvent::Sent { .. }))
        .count();
    let received = work
        .events()
        .iter()
        .filter(|e| matches!(e, QueueEvent::Received { .. }))
        .count();
    assert_eq!((sent, received), (1, 1), "{:?}", work.events());
    // A different response with no request outstanding is an error, not a second apply.
    assert_eq!(
        client
            .receive_response_xml(ticket, "<QBXML>other</QBXML>", "", "")
            .await
            .expect("recv"),
        -1
    );
    assert_eq!(work.remaining(), 1);
}

#[tokio::test]
async fn one_session_per_company_file_across_daemons() {
    let database = pg::fresh_database().await;
    let connect = || postgres(&database);
    let (a_db, b_db) = (connect().await, connect().await);
    let other = CompanySetup {
        username: "other-file".into(),
        password: SecretString::from("pw-2"),
        company_file: None,
        qb_type: QbType::Desktop,
        work: Arc::new(QueueWork::new(requests(1))),
    };
    let (_a, a_server) = endpoint_on(
        a_db,
        vec![company(
            Arc::new(QueueWork::new(requests(2))),
            None,
            QbType::Desktop,
        )],
        Duration::from_secs(600),
    )
    .await;
    let (_b, b_server) = endpoint_on(
        b_db,
        vec![
            company(Arc::new(QueueWork::new(requests(2))), None, QbType::Desktop),
            other,
        ],
        Duration::from_secs(600),
    )
    .await;
    let a = WebConnectorClient::new(format!("{}/qbwc", a_server.base_url()));
    let b = WebConnectorClient::new(format!("{}/qbwc", b_server.base_url()));
    let at_a = a.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(at_a[1], "");
    let at_b = b.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(
        at_b[1], "busy",
        "the other daemon holds this company file: {at_b:?}"
    );
    // Another company file is not held up.
    let other_at_b = b.authenticate("other-file", "pw-2").await.expect("auth");
    assert_eq!(other_at_b[1], "");
    // A ticket of one daemon means nothing to the other.
    assert_eq!(b.send_request_xml(&at_a[0]).await.expect("send"), "");
    a.close_connection(&at_a[0]).await.expect("close");
    let at_b = b.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(at_b[1], "", "free once the first session closed: {at_b:?}");
}

#[tokio::test]
async fn malformed_requests_get_soap_faults() {
    let h = harness(Arc::new(QueueWork::new(requests(1)))).await;
    let client = h.client();
    for body in [
        "not xml at all".to_owned(),
        "<a><b>".to_owned(),
        WebConnectorClient::envelope("deleteEverything", &[]),
        WebConnectorClient::envelope("authenticate", &[("strUserName", "u"), ("unexpected", "x")]),
        WebConnectorClient::envelope(
            "sendRequestXML",
            &[
                ("ticket", "t"),
                ("qbXMLMajorVers", "thirteen"),
                ("qbXMLMinorVers", "0"),
            ],
        ),
    ] {
        let (status, text) = client
            .post("authenticate", body.clone())
            .await
            .expect("post");
        match invsync_test_support::web_connector::read_answer("authenticate", status, &text) {
            Ok(Reply::Fault(500, message)) => assert!(!message.is_empty()),
            other => panic!("{body}: {other:?}"),
        }
    }
    // SOAPAction naming another operation than the body.
    let (status, _) = client
        .post(
            "closeConnection",
            WebConnectorClient::envelope("getLastError", &[("ticket", "t")]),
        )
        .await
        .expect("post");
    assert_eq!(status, 500);
    // Too large a body is refused before it is read whole.
    let huge = "x".repeat(invsync_webconnector::endpoint::MAX_BODY + 1);
    let (status, _) = client.post("authenticate", huge).await.expect("post");
    assert_eq!(status, 413);
    // Still serving.
    assert!(client.server_version().await.is_ok());
}

#[tokio::test]
async fn the_support_page_answers_200() {
    let h = harness(Arc::new(QueueWork::new(Vec::new()))).await;
    for path in ["/qbwc/support", "/qbwc"] {
        let response = reqwest_get(&format!("{}{path}", h.server.base_url())).await;
        assert_eq!(response.0, 200, "{path}");
        assert!(
            response.1.contains("Web Connector"),
            "{path}: {}",
            response.1
        );
    }
    let page = reqwest_get(&format!("{}/qbwc/support", h.server.base_url()))
        .await
        .1;
    assert!(
        page.contains("invsync &lt;test&gt;"),
        "escaped app name: {page}"
    );
}

async fn reqwest_get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("get");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Every operation, parameter and result the endpoint answers is the WSDL's.
#[test]
fn the_operations_match_the_wsdl() {
    let wsdl = std::fs::read_to_string(specs::path("quickbooks-desktop/QBWebConnectorSvc.wsdl"))
        .expect("read the WSDL");
    // Top-level schema elements → the names of their sequence's elements.
    let mut elements: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut actions: BTreeMap<String, String> = BTreeMap::new();
    let mut target_ns = String::new();
    let mut reader = Reader::from_str(&wsdl);
    let mut stack: Vec<String> = Vec::new();
    let mut top: Option<String> = None;
    let mut operation: Option<String> = None;
    loop {
        let event = reader.read_event().expect("WSDL parses");
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(_) => {
                let name = stack.pop();
                if name.as_deref() == Some("element")
                    && stack.iter().filter(|n| *n == "element").count() == 0
                {
                    top = None;
                }
                if name.as_deref() == Some("operation") {
                    operation = None;
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let Some(start) = start else { continue };
        let local = start.local_name().as_ref().to_owned();
        let attr = |name: &str| {
            start
                .attributes()
                .flatten()
                .find(|a| a.key.as_ref() == name)
                .map(|a| a.value.to_string())
        };
        if local == "definitions" {
            target_ns = attr("targetNamespace").unwrap_or_default();
        }
        let in_schema = stack.iter().any(|n| n == "schema");
        if local == "element" && in_schema {
            let name = attr("name").expect("element name");
            match &top {
                None => {
                    elements.insert(name.clone(), Vec::new());
                    if !empty {
                        top = Some(name);
                    }
                }
                Some(parent) => elements.entry(parent.clone()).or_default().push(name),
            }
        }
        if local == "operation"
            && stack.iter().any(|n| n == "binding")
            && let Some(name) = attr("name")
        {
            operation = Some(name);
        }
        if local == "operation"
            && let (Some(op), Some(action)) = (&operation, attr("soapAction"))
        {
            actions.insert(op.clone(), action);
        }
        if !empty {
            stack.push(local);
        }
    }
    assert_eq!(target_ns, INTUIT_NS);
    assert_eq!(
        elements.get("ArrayOfString"),
        None,
        "a complexType, not an element"
    );
    for op in OPERATIONS {
        assert_eq!(
            elements.get(op.name).map(Vec::as_slice),
            Some(
                op.params
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .as_slice()
            ),
            "{}'s parameters",
            op.name
        );
        assert_eq!(
            elements.get(&format!("{}Response", op.name)),
            Some(&vec![op.result.to_owned()]),
            "{}'s result",
            op.name
        );
        assert_eq!(
            actions.get(op.name).map(String::as_str),
            Some(format!("{INTUIT_NS}{}", op.name).as_str()),
            "{}'s SOAPAction",
            op.name
        );
    }
    let operations_in_wsdl: Vec<&String> = elements
        .keys()
        .filter(|k| !k.ends_with("Response") && elements.contains_key(&format!("{k}Response")))
        .collect();
    assert_eq!(
        operations_in_wsdl.len(),
        OPERATIONS.len(),
        "{operations_in_wsdl:?}"
    );
    // authenticate's items are `string`.
    assert!(wsdl.contains("name=\"string\""));
}

/// The lease is moved on only now and then (a quarter of the timeout), yet a session that
/// keeps calling never loses its company file to another daemon; one that falls silent does.
#[tokio::test]
async fn a_session_that_keeps_calling_keeps_its_lease_across_daemons() {
    let database = pg::fresh_database().await;
    let connect = || postgres(&database);
    let timeout = Duration::from_millis(800);
    let a_work = Arc::new(QueueWork::new(requests(100)));
    let (_a, a_server) = endpoint_on(
        connect().await,
        vec![company(a_work, None, QbType::Desktop)],
        timeout,
    )
    .await;
    let (_b, b_server) = endpoint_on(
        connect().await,
        vec![company(
            Arc::new(QueueWork::new(requests(1))),
            None,
            QbType::Desktop,
        )],
        timeout,
    )
    .await;
    let a = WebConnectorClient::new(format!("{}/qbwc", a_server.base_url()));
    let b = WebConnectorClient::new(format!("{}/qbwc", b_server.base_url()));
    let ticket = a.authenticate(USER, PASSWORD).await.expect("auth")[0].clone();
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!a.send_request_xml(&ticket).await.expect("send").is_empty());
        let progress = a
            .receive_response_xml(&ticket, "<QBXML/>", "", "")
            .await
            .expect("recv");
        assert!((0..100).contains(&progress), "{progress}");
        let at_b = b.authenticate(USER, PASSWORD).await.expect("auth");
        assert_eq!(
            at_b[1], "busy",
            "1.8 s of calls, a 0.8 s timeout: still A's"
        );
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let at_b = b.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(
        at_b[1], "",
        "A fell silent longer than the timeout: {at_b:?}"
    );
    assert_eq!(a.send_request_xml(&ticket).await.expect("send"), "");
}

/// A daemon that dies with a session open (kill -9) leaves its lease behind; the next
/// daemon on this host takes it over at once instead of answering `busy` for the timeout.
/// One that stops cleanly frees it and tells the work.
#[tokio::test]
async fn leases_of_a_dead_daemon_are_taken_over_and_a_clean_stop_frees_them() {
    let work = Arc::new(QueueWork::new(requests(2)));
    let h = harness(work.clone()).await;
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    let host = invsync_store::ProcessIdentity::current().host;
    assert!(
        h.db.claim_web_connector_session(
            USER,
            "dead-ticket",
            &format!("{host}:{pid}:gone"),
            Duration::from_secs(600)
        )
        .await
        .expect("claim")
    );
    let client = h.client();
    let auth = client.authenticate(USER, PASSWORD).await.expect("auth");
    assert_eq!(auth[1], "", "taken over from the dead daemon: {auth:?}");
    assert!(
        !client
            .send_request_xml(&auth[0])
            .await
            .expect("send")
            .is_empty()
    );

    h.endpoint.close_all().await;
    assert!(matches!(
        work.events().last(),
        Some(QueueEvent::Closed {
            reason: CloseReason::Shutdown,
            ..
        })
    ));
    let row = h.db.web_connector_file(USER).await.expect("row");
    assert!(row.session_owner.is_none(), "freed on a clean stop");
    assert_eq!(client.send_request_xml(&auth[0]).await.expect("send"), "");
    assert_eq!(
        h.endpoint
            .stats(USER)
            .expect("stats")
            .sessions
            .get("shutdown"),
        Some(&1)
    );
}
