//! Every run is a `run` tracing span with `run.id`, `store` and `trigger` (issue 14, item
//! 7), entered for the whole run — connector calls included — so a connector's log lines
//! (a retry after a 503, here) say which run they belong to, and the engine's own lines
//! need not pass `run.id` by hand.
//!
//! One test in this binary: it installs the process-wide subscriber.

mod support;

use invsync_core::{FieldSet, RunStatus};
use invsync_engine::{Engine, NoProgress};
use invsync_store::PoolOptions;
use invsync_test_support::woocommerce::{Fault, WooFake, WooProduct};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Log lines as the JSON formatter writes them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn events(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON log line"))
            .collect()
    }
}

/// The `run` span an event was logged in, if any.
fn run_span(event: &Value) -> Option<&Value> {
    event["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == "run")
}

#[tokio::test(flavor = "multi_thread")]
async fn connector_and_engine_log_lines_of_a_run_carry_its_id_store_and_trigger() {
    let captured = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(captured.clone())
            .finish(),
    )
    .expect("the only subscriber of this test binary");

    let woo = WooFake::new(Default::default());
    woo.insert(WooProduct::simple(1, "A", "1.50", 5));
    woo.insert(WooProduct::simple(2, "B", "2.00", 3));
    // The first catalog request fails; the connector retries it and logs that it does.
    woo.push_fault(Fault::status(503));
    let server = invsync_test_support::fake::serve(woo.router()).await;

    let dir = tempfile::tempdir().expect("tempdir");
    support::write(
        dir.path(),
        "accounting.csv",
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,3\n",
    );
    support::write(
        dir.path(),
        "invsync.toml",
        &format!(
            "[database]\nurl = \"sqlite://invsync.db\"\n\
             [accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\
             [stores.shop]\nkind = \"woocommerce\"\nurl = \"{}\"\nconsumer_key = \"ck_test\"\n\
             consumer_secret = \"cs_test\"\nretry_backoff = \"10ms\"\n",
            server.base_url()
        ),
    );
    let config = support::load_config(dir.path());
    let db = support::open_db(&config, &PoolOptions::default()).await;
    let engine = Engine::new(Arc::new(config), db);
    let report = engine
        .sync(
            &support::request("shop", FieldSet::PRICE),
            &NoProgress,
            &CancellationToken::new(),
        )
        .await
        .expect("sync");
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(report.counts.updated, 1, "A's price");
    let run_id = report.run_id.expect("recorded");
    server.stop().await;

    let events = captured.events();
    let connector: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("invsync_connectors"))
        })
        .collect();
    assert!(
        connector
            .iter()
            .any(|e| e["fields"]["connection"] == "shop"),
        "the WooCommerce connection logged its retry after the 503: {connector:#?}"
    );
    for event in &connector {
        let span = run_span(event).unwrap_or_else(|| panic!("outside the run span: {event}"));
        assert_eq!(span["run.id"], run_id, "{event}");
        assert_eq!(span["store"], "shop", "{event}");
        assert_eq!(span["trigger"], "manual", "{event}");
    }

    // The engine's own lines get the id from the span, never again by hand.
    let finished = events
        .iter()
        .find(|e| e["fields"]["message"] == "run finished")
        .expect("the run's last line");
    assert_eq!(
        run_span(finished).map(|s| &s["run.id"]),
        Some(&Value::from(run_id)),
        "{finished}"
    );
    for event in events.iter().filter(|e| run_span(e).is_some()) {
        assert!(
            event["fields"].get("run.id").is_none(),
            "run.id passed by hand inside the run's span: {event}"
        );
    }
}
