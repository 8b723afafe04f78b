//! The QuickBooks Web Connector through the binary (issue 15 items 2 and 4, ADR 0080):
//! `invsync web-connector qwc`, `config check` refusing what the Web Connector refuses,
//! and the daemon serving /qbwc and its support page to the Web Connector client fake.

use crate::support::daemon::Daemon;
use invsync_test_support::web_connector::WebConnectorClient;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const TABLE: &str = "[web_connector]\nlisten = \"127.0.0.1:0\"\nusername = \"shop-qb\"\npassword = { env = \"QBWC_PW\" }\n";

fn setup(web_connector: &str, schedules: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("accounting.csv"),
        "sku,name,price,quantity\nA,A,1.00,5\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("shop.csv"),
        "sku,name,price,quantity\nA,A,1.00,5\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("invsync.toml"),
        format!(
            "[database]\nurl = \"sqlite://invsync.db\"\n{web_connector}\n[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\n{schedules}"
        ),
    )
    .expect("config");
    dir
}

fn schedule(name: &str, every: &str) -> String {
    format!(
        "[[schedules]]\nname = \"{name}\"\nstore = \"shop\"\nevery = \"{every}\"\nupdate = \"store\"\nfields = [\"quantity\"]\n"
    )
}

/// `invsync --config DIR/invsync.toml ARGS`, with the Web Connector's password in the
/// environment.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = crate::support::with_config(&dir.join("invsync.toml"), args);
    cmd.env("QBWC_PW", PASSWORD);
    cmd
}

fn invsync(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("run invsync")
}

/// `invsync --format FORMAT web-connector qwc --out OUT`.
fn write_qwc(dir: &Path, out: &Path, format: &str) -> Output {
    let out = out.to_str().expect("utf-8");
    invsync(
        dir,
        &["--format", format, "web-connector", "qwc", "--out", out],
    )
}

/// The text of `<name>` in a .qwc (a flat file of simple elements).
fn element(qwc: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = qwc.find(&open)? + open.len();
    let end = qwc[start..].find(&format!("</{name}>"))? + start;
    Some(qwc[start..end].to_owned())
}

#[test]
fn qwc_names_the_endpoint_keeps_its_ids_and_runs_as_often_as_the_shortest_schedule() {
    let dir = setup(
        &format!("{TABLE}public_url = \"https://sync.example.com/qbwc\"\nqb_type = \"QBPOS\"\n"),
        &(schedule("slow", "1h") + &schedule("fast", "30m")),
    );
    let out = dir.path().join("invsync.qwc");
    let check = invsync(dir.path(), &["config", "check"]);
    assert!(check.status.success());
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        said.contains("web connector: QBPOS (QuickBooks POS) on 127.0.0.1:0, user shop-qb; AppURL https://sync.example.com/qbwc"),
        "{said}"
    );
    let run = write_qwc(dir.path(), &out, "table");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let qwc = std::fs::read_to_string(&out).expect("written");
    assert!(
        qwc.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{qwc}"
    );
    assert_eq!(element(&qwc, "AppName").as_deref(), Some("invsync"));
    assert_eq!(
        element(&qwc, "AppURL").as_deref(),
        Some("https://sync.example.com/qbwc")
    );
    assert_eq!(
        element(&qwc, "AppSupport").as_deref(),
        Some("https://sync.example.com/qbwc/support")
    );
    assert_eq!(element(&qwc, "UserName").as_deref(), Some("shop-qb"));
    assert_eq!(element(&qwc, "QBType").as_deref(), Some("QBPOS"));
    assert_eq!(element(&qwc, "RunEveryNMinutes").as_deref(), Some("30"));
    let owner = element(&qwc, "OwnerID").expect("OwnerID");
    let file = element(&qwc, "FileID").expect("FileID");
    assert!(owner.starts_with('{') && owner.len() == 38, "{owner}");
    assert_ne!(owner, file);
    assert!(
        !qwc.contains("s3cret-qbwc"),
        "the password never goes into the file"
    );

    // Written again: the same application to the Web Connector.
    let json = write_qwc(dir.path(), &out, "json");
    assert!(json.status.success());
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(report["owner_id"], owner.as_str());
    assert_eq!(report["file_id"], file.as_str());
    let again = std::fs::read_to_string(&out).expect("written");
    assert_eq!(element(&again, "OwnerID"), Some(owner));
    assert_eq!(element(&again, "FileID"), Some(file));
}

#[test]
fn without_the_table_or_with_what_the_web_connector_refuses_it_is_a_config_error() {
    let dir = setup("", &schedule("s", "15m"));
    let out = dir.path().join("x.qwc");
    let run = write_qwc(dir.path(), &out, "table");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("[web_connector]"));
    assert!(!out.exists());

    for (extra, said) in [
        (
            "public_url = \"http://192.168.1.20:9188/qbwc\"\n",
            "QBWC1001",
        ),
        (
            "public_url = \"http://sync.example.com/qbwc\"\n",
            "QBWC1001",
        ),
        (
            "public_url = \"https://sync.example.com/qbwc\"\nsupport_url = \"https://elsewhere.example.com/help\"\n",
            "QBWC1000",
        ),
    ] {
        let dir = setup(&format!("{TABLE}{extra}"), &schedule("s", "15m"));
        let check = invsync(dir.path(), &["config", "check"]);
        assert_eq!(check.status.code(), Some(2), "{extra}");
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(stderr.contains(said), "{extra}: {stderr}");
    }
}

const PASSWORD: &str = "s3cret-qbwc";

/// The daemon on the test's config, with the Web Connector's password in its environment.
fn daemon(dir: &Path) -> Daemon {
    Daemon::start(&dir.join("invsync.toml"), &[("QBWC_PW", PASSWORD)])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_serves_the_web_connector_and_counts_its_sessions() {
    let dir = setup(TABLE, &schedule("s", "15m"));
    let daemon = daemon(dir.path());
    let port = daemon.port("serving the QuickBooks Web Connector");
    let metrics_port = daemon.port("serving /healthz and /metrics");
    let base = format!("http://127.0.0.1:{port}");
    let client = WebConnectorClient::new(format!("{base}/qbwc"));

    // No QuickBooks kind yet: a good login has nothing to do; a bad one is refused.
    let log = client
        .run_session("shop-qb", "s3cret-qbwc", |_| Ok(String::new()))
        .await
        .expect("session");
    assert_eq!(log.auth.len(), 4);
    assert_eq!(log.auth[1], "none", "{log:?}");
    assert!(log.server_version.starts_with("invsync "));
    let refused = client.authenticate("shop-qb", "wrong").await.expect("auth");
    assert_eq!(refused[1], "nvu");

    let support = reqwest::get(format!("{base}/qbwc/support"))
        .await
        .expect("support");
    assert_eq!(support.status().as_u16(), 200);
    assert!(
        support
            .text()
            .await
            .expect("body")
            .contains("Web Connector")
    );

    let page = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    for line in [
        "invsync_web_connector_sessions_total{company=\"shop-qb\",outcome=\"none\"} 1",
        "invsync_web_connector_sessions_total{company=\"shop-qb\",outcome=\"nvu\"} 1",
        "invsync_web_connector_last_seen_timestamp_seconds{company=\"shop-qb\"}",
    ] {
        assert!(page.contains(line), "`{line}` in\n{page}");
    }
    let log = daemon.log();
    assert!(
        !log.contains("s3cret-qbwc"),
        "the password never reaches the log"
    );
}

/// Off loopback the endpoint is served over HTTPS only (rustls, the daemon's listener):
/// a Web Connector trusting the certificate gets its session, plain HTTP gets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn off_loopback_the_web_connector_is_served_over_https() {
    let dir = setup(
        "[web_connector]\nlisten = \"0.0.0.0:0\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\npublic_url = \"https://sync.example.com/qbwc\"\nusername = \"shop-qb\"\npassword = { env = \"QBWC_PW\" }\n",
        &schedule("s", "15m"),
    );
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a certificate");
    let cert = certified.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert).expect("cert");
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .expect("key");
    let daemon = daemon(dir.path());
    let port = daemon.port("serving the QuickBooks Web Connector");
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("pem"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let client = WebConnectorClient::with_http(format!("https://127.0.0.1:{port}/qbwc"), https);
    let log = client
        .run_session("shop-qb", "s3cret-qbwc", |_| Ok(String::new()))
        .await
        .expect("a session over https");
    assert_eq!(log.auth[1], "none");
    let plain = WebConnectorClient::new(format!("http://127.0.0.1:{port}/qbwc"));
    assert!(
        plain.server_version().await.is_err(),
        "plain http is not served"
    );
}

/// `[web_connector]` is set up once, at start: a SIGHUP that changes it is named in a
/// warning and waits for a restart; the endpoint keeps the login it started with.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_changes_the_web_connector_waits_for_a_restart() {
    let dir = setup(TABLE, &schedule("s", "15m"));
    let daemon = daemon(dir.path());
    let port = daemon.port("serving the QuickBooks Web Connector");
    let config = dir.path().join("invsync.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace(
            "password = { env = \"QBWC_PW\" }",
            "password = \"a-new-password\"",
        ),
    )
    .expect("write");
    daemon.signal("HUP");
    daemon.wait_log("the restart warning", Duration::from_secs(30), |log| {
        log.contains("`web_connector` changed; restart to apply")
    });
    let log = daemon.log();
    assert!(!log.contains("a-new-password") && !log.contains(PASSWORD));
    let client = WebConnectorClient::new(format!("http://127.0.0.1:{port}/qbwc"));
    let old = client
        .authenticate("shop-qb", "s3cret-qbwc")
        .await
        .expect("auth");
    assert_eq!(old[1], "none", "the login it started with: {old:?}");
    let new = client
        .authenticate("shop-qb", "a-new-password")
        .await
        .expect("auth");
    assert_eq!(new[1], "nvu");
}
