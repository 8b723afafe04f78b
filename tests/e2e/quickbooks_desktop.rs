//! QuickBooks Desktop as the accounting side through the binary (issue 15 items 5–9, 12
//! and 14, ADR 0080): the daemon serves the Web Connector, the company fake answers the
//! qbXML the Web Connector client fake carries (`run_session` against the daemon's /qbwc),
//! three stores sync from QuickBooks, and QuickBooks' prices from a store.

use crate::support::daemon::{Daemon, http_get, metric};
use crate::support::{json, runs, wait_for, with_config};
use invsync_test_support::pg;
use invsync_test_support::quickbooks_desktop::{Company, NewItem};
use invsync_test_support::web_connector::{SessionLog, WebConnectorClient};
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "shop-qbd";
pub(crate) const PASSWORD: &str = "qbwc-pass-7731";
pub(crate) const STORES: [&str; 3] = ["web", "outlet", "market"];
pub(crate) const PER_STORE: usize = 8;

pub(crate) fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

/// The company: `PER_STORE` items per store (SKU `{store}-{i}`, price 10.00 + i,
/// quantity 20 + i) and a group item (`base`).
fn company() -> Arc<Company> {
    let company = Company::new();
    for store in STORES {
        for i in 0..PER_STORE {
            company.add_item(NewItem::inventory(
                &format!("{store}-{i}"),
                dec("10.00") + Decimal::from(i),
                20 + i as i64,
            ));
        }
    }
    company.add_item(NewItem::group("gift-box"));
    Arc::new(company)
}

/// Each store's file: its SKUs at price 1.00 and quantity 0 — except `web`, whose prices
/// are the ones QuickBooks is to take (`prices-from-web`).
fn setup(pg_url: &str) -> (tempfile::TempDir, PathBuf) {
    setup_for(
        pg_url,
        USER,
        "QBFS",
        "kind = \"quickbooks-desktop\"\nadjustment_account = \"Inventory Adjustments\"\n",
    )
}

/// [`setup`] for a Web Connector `user` opening `qb_type` and these `[accounting]` keys
/// (the POS tests share it).
pub(crate) fn setup_for(
    pg_url: &str,
    user: &str,
    qb_type: &str,
    accounting: &str,
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tables = String::new();
    for store in STORES {
        let mut csv = String::from("sku,name,price,quantity\n");
        for i in 0..PER_STORE {
            let price = if store == "web" {
                format!("{}.50", 30 + i)
            } else {
                "1.00".to_owned()
            };
            csv.push_str(&format!("{store}-{i},{store} {i},{price},0\n"));
        }
        std::fs::write(dir.path().join(format!("{store}.csv")), csv).expect("store file");
        tables.push_str(&format!(
            "[stores.{store}]\nkind = \"file\"\npath = \"{store}.csv\"\n\n"
        ));
    }
    let mut schedules = String::new();
    for store in ["outlet", "market"] {
        schedules.push_str(&format!(
            "[[schedules]]\nname = \"{store}-from-qb\"\nstore = \"{store}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n\n"
        ));
    }
    schedules.push_str(
        "[[schedules]]\nname = \"prices-from-web\"\nstore = \"web\"\nevery = \"15m\"\nupdate = \"accounting\"\nfields = [\"price\"]\n\n",
    );
    let config = dir.path().join("invsync.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{pg_url}\"\n\n\
             [daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n\n\
             [web_connector]\nlisten = \"127.0.0.1:0\"\nusername = \"{user}\"\npassword = \"{PASSWORD}\"\nqb_type = \"{qb_type}\"\n\n\
             [inventory]\nmaster = \"accounting\"\n\n\
             [accounting]\n{accounting}max_age = \"10m\"\nmax_returned = 7\n\n\
             {tables}{schedules}"
        ),
    )
    .expect("config");
    (dir, config)
}

/// One Web Connector session with the company playing QuickBooks.
async fn session(client: &WebConnectorClient, company: &Arc<Company>, name: &str) -> SessionLog {
    let log = client
        .run_session(USER, PASSWORD, |request| {
            company
                .handle(name, request)
                .map_err(|h| (format!("0x{:08X}", h.0), "QuickBooks error".to_owned()))
        })
        .await
        .expect("session");
    company.end_session(name);
    log
}

pub(crate) fn of_schedule<'a>(runs: &'a Value, schedule: &str) -> Vec<&'a Value> {
    runs.as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["schedule"] == schedule)
        .collect()
}

pub(crate) async fn wait_runs(
    config: &Path,
    what: &str,
    done: impl Fn(&Value) -> bool + Send + 'static,
) {
    let config = config.to_owned();
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || {
        wait_for(&what, Duration::from_secs(60), || done(&runs(&config)))
    })
    .await
    .expect("wait");
}

pub(crate) fn store_file(dir: &Path, store: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{store}.csv"))).expect("store file")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_syncs_three_stores_from_quickbooks_desktop_and_its_prices_from_a_store() {
    let pg = pg::fresh_database().await;
    let (dir, config) = setup(pg.url());
    let company = company();
    let mut daemon = Daemon::start(&config, &[]);
    let port = daemon.port("serving the QuickBooks Web Connector");
    let http = daemon.http_port();
    let client = WebConnectorClient::new(format!("http://127.0.0.1:{port}/qbwc"));

    // Nothing was read yet: the first slots are skipped, saying why, and write nothing.
    wait_runs(&config, "the first slots, skipped", |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|r| r["status"] == "skipped"))
    })
    .await;
    let first = runs(&config);
    let reason = first[0]["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("has not been read yet") && reason.contains("Web Connector"),
        "{reason}"
    );
    assert!(store_file(dir.path(), "outlet").contains("outlet-0,outlet 0,1.00,0"));

    // A session: authenticate answers work, the read goes page by page (7 a page) through
    // every list, the snapshot is kept, and the session ends at 100 %.
    let log = session(&client, &company, "s1").await;
    assert_eq!(log.auth[1], "", "work: use the open company file ({log:?})");
    assert_eq!(log.progress.last(), Some(&100), "{log:?}");
    let pages = log
        .requests
        .iter()
        .filter(|r| r.contains("ItemInventoryQueryRq"))
        .count();
    assert_eq!(pages, (STORES.len() * PER_STORE).div_ceil(7), "{log:?}");
    assert!(
        log.requests
            .iter()
            .any(|r| r.contains("ItemInventoryAssemblyQueryRq"))
    );

    // Between sessions: a sale entered in QuickBooks (stock moves, EditSequence does not)
    // and a price edited there. Only the next session's read sees them.
    let sold = company.item_named("outlet-1").expect("item").list_id;
    company.enter_sales_receipt("R-1", &[(&sold, 5)]);
    let edited = company.item_named("web-2").expect("item").list_id;
    company.edit_in_quickbooks(&edited, |item| item.sales_price = dec("99.00"));

    // Every slot again: the store runs plan from the snapshot; the QuickBooks run waits.
    let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
    sqlx::query("UPDATE sync_schedules SET next_due_at = now()")
        .execute(&pool)
        .await
        .expect("due now");
    wait_runs(&config, "the store runs from the snapshot", |r| {
        ["outlet-from-qb", "market-from-qb"]
            .iter()
            .all(|s| of_schedule(r, s).iter().any(|r| r["status"] == "succeeded"))
    })
    .await;
    let outlet = store_file(dir.path(), "outlet");
    assert!(outlet.contains("outlet-0,outlet 0,10.00,20"), "{outlet}");
    assert!(
        outlet.contains("outlet-1,outlet 1,11.00,21"),
        "the snapshot predates the sale: {outlet}"
    );
    daemon.wait_log(
        "the QuickBooks run waiting",
        Duration::from_secs(30),
        |log| log.contains("waiting for the Web Connector's next session"),
    );
    let (code, health) = http_get(http, "/healthz");
    assert_eq!(code, 503, "{health}");
    assert!(
        health.contains("wait for the QuickBooks Web Connector"),
        "{health}"
    );
    let listed = runs(&config);
    let waiting = of_schedule(&listed, "prices-from-web")
        .into_iter()
        .find(|r| r["status"] == "running")
        .expect("the waiting run");
    assert!(
        waiting["waiting"]
            .as_str()
            .is_some_and(|w| w.contains("Web Connector")),
        "{waiting}"
    );
    let (_, page) = http_get(http, "/metrics");
    assert_eq!(
        metric(
            &page,
            "invsync_web_connector_waiting_runs{company=\"shop-qbd\"}"
        ),
        Some(1.0),
        "{page}"
    );

    // The next session reads again, then writes the waiting run's prices: several mods per
    // message set, each with the EditSequence of this session's read. The item edited in
    // QuickBooks comes back stale from the compare-and-set and is planned again.
    let before = company.stats();
    let log = session(&client, &company, "s2").await;
    // The session stays while the run is attached (its re-plan comes back in it), then
    // ends when the run is done: nothing left, no error.
    assert!(log.progress.iter().all(|p| *p >= 0), "{log:?}");
    assert!(
        log.closed.as_deref().is_some_and(|c| c.ends_with("done")),
        "{log:?}"
    );
    let mods: Vec<&String> = log
        .requests
        .iter()
        .filter(|r| r.contains("ItemInventoryModRq"))
        .collect();
    assert!(!mods.is_empty(), "{log:?}");
    assert!(
        mods[0].matches("<ItemInventoryModRq").count() > 1,
        "several mods per message set"
    );
    wait_runs(&config, "the QuickBooks run", |r| {
        of_schedule(r, "prices-from-web")
            .iter()
            .any(|r| r["status"] == "succeeded")
    })
    .await;
    for i in 0..PER_STORE {
        let item = company.item_named(&format!("web-{i}")).expect("item");
        assert_eq!(
            item.sales_price,
            dec(&format!("{}.50", 30 + i)),
            "web-{i} took the store's price"
        );
    }
    let after = company.stats();
    assert_eq!(
        after.price_mods - before.price_mods,
        PER_STORE as u64,
        "one mod per item: the stale one was re-planned, not sent blindly twice"
    );
    // No other store's item was touched.
    assert_eq!(
        company.item_named("outlet-0").expect("item").sales_price,
        dec("10.00")
    );

    // The sale shows once the store runs plan from the new snapshot.
    sqlx::query("UPDATE sync_schedules SET next_due_at = now() WHERE name = 'outlet-from-qb'")
        .execute(&pool)
        .await
        .expect("due now");
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        wait_for("the sale in the outlet", Duration::from_secs(60), || {
            store_file(&dir_path, "outlet").contains("outlet-1,outlet 1,11.00,16")
        })
    })
    .await
    .expect("wait");

    // `status` plans from the snapshot too (no daemon needed for reads).
    let out = with_config(
        &config,
        &["status", "--store", "market", "--format", "json"],
    )
    .output()
    .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = json(&out);
    // A manual run that would write QuickBooks is refused, saying what to do instead.
    let out = with_config(
        &config,
        &[
            "sync",
            "--store",
            "web",
            "--update",
            "accounting",
            "--fields",
            "price",
        ],
    )
    .output()
    .expect("sync");
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("Web Connector") && said.contains("schedule"),
        "{said}"
    );

    assert!(
        !daemon.log().contains(PASSWORD),
        "the password never reaches the log"
    );
    daemon.stop(Duration::from_secs(30));
}

/// How a session driven by hand stops short.
#[derive(Clone, Copy)]
enum Break {
    /// The Web Connector never gets the message set after the read (its answer is dropped
    /// on the way: `drop_next_answer`): QuickBooks never sees it.
    Dropped,
    /// QuickBooks does the first message set that carries `InventoryAdjustmentAddRq`, and
    /// then the Web Connector dies before it reports the answer.
    AfterQuickBooks,
}

/// A session that breaks off as `how` says; the endpoint ends it when it expires.
async fn broken_session(client: &WebConnectorClient, company: &Company, name: &str, how: Break) {
    let mut log = SessionLog::default();
    let auth = client.open(USER, PASSWORD, &mut log).await.expect("open");
    assert_eq!(auth[1], "", "{auth:?}");
    let ticket = &auth[0];
    let mut read_done = false;
    loop {
        if read_done && matches!(how, Break::Dropped) {
            client.drop_next_answer();
            assert!(client.send_request_xml(ticket).await.is_err(), "dropped");
            return;
        }
        let request = client.send_request_xml(ticket).await.expect("request");
        assert!(!request.is_empty(), "the session has work");
        let answer = company.handle(name, &request).expect("answer");
        if request.contains("InventoryAdjustmentAddRq") {
            assert!(matches!(how, Break::AfterQuickBooks));
            return;
        }
        read_done |= request.contains("ItemGroupQueryRq");
        client
            .receive_response_xml(ticket, &answer, "", "")
            .await
            .expect("progress");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quantities_from_a_master_store_are_adjusted_in_quickbooks_exactly_once_across_lost_answers()
 {
    let pg = pg::fresh_database().await;
    let (dir, config) = setup(pg.url());
    // `web` is the master: QuickBooks' quantities come from it, as inventory adjustments.
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text
        .replace("master = \"accounting\"", "master = \"web\"")
        .replace("qb_type = \"QBFS\"\n", "qb_type = \"QBFS\"\nsession_timeout = \"1s\"\n")
        .replace(
            "name = \"prices-from-web\"\nstore = \"web\"\nevery = \"15m\"\nupdate = \"accounting\"\nfields = [\"price\"]",
            "name = \"stock-from-web\"\nstore = \"web\"\nevery = \"15m\"\nupdate = \"accounting\"\nfields = [\"quantity\"]",
        );
    std::fs::write(&config, text).expect("config");
    let set_web = |quantity: usize| {
        let mut csv = String::from("sku,name,price,quantity\n");
        for i in 0..PER_STORE {
            csv.push_str(&format!("web-{i},web {i},1.00,{}\n", quantity + i));
        }
        std::fs::write(dir.path().join("web.csv"), csv).expect("web");
    };
    set_web(5);
    let company = company();
    let mut daemon = Daemon::start(&config, &[]);
    let port = daemon.port("serving the QuickBooks Web Connector");
    let client = WebConnectorClient::new(format!("http://127.0.0.1:{port}/qbwc"));
    wait_runs(&config, "the first slots, skipped", |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|r| r["status"] == "skipped"))
    })
    .await;
    session(&client, &company, "s1").await;
    let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
    let due = || async {
        sqlx::query("UPDATE sync_schedules SET next_due_at = now() WHERE name = 'stock-from-web'")
            .execute(&pool)
            .await
            .expect("due now");
    };
    let succeeded = |n: usize| {
        move |r: &Value| {
            of_schedule(r, "stock-from-web")
                .iter()
                .filter(|r| r["status"] == "succeeded")
                .count()
                == n
        }
    };
    let quantity = |i: usize| {
        company
            .item_named(&format!("web-{i}"))
            .expect("item")
            .quantity_on_hand
    };

    // 1. The message set of adjustments is lost on its way to QuickBooks: the next session
    //    finds none of their markers and sends them once, computed from its own read.
    due().await;
    daemon.wait_log("the run waiting", Duration::from_secs(30), |log| {
        log.contains("waiting for the Web Connector's next session")
    });
    broken_session(&client, &company, "s2", Break::Dropped).await;
    assert!(company.adjustments().is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = session(&client, &company, "s3").await;
    assert!(
        log.requests[0].contains("InventoryAdjustmentQueryRq"),
        "{log:?}"
    );
    wait_runs(&config, "the first stock run", succeeded(1)).await;
    assert_eq!(company.adjustments().len(), PER_STORE, "one per item");
    assert_eq!(quantity(3), Decimal::from(5 + 3));

    // 2. QuickBooks does the adjustments, and the answer is lost on the way back: the next
    //    session finds their markers and sends nothing again.
    set_web(40);
    due().await;
    let before = company.adjustments().len();
    daemon.wait_log("the second run waiting", Duration::from_secs(30), |log| {
        log.matches("waiting for the Web Connector's next session")
            .count()
            >= 2
    });
    broken_session(&client, &company, "s4", Break::AfterQuickBooks).await;
    assert_eq!(company.adjustments().len(), before + PER_STORE);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = session(&client, &company, "s5").await;
    assert!(
        log.requests[0].contains("InventoryAdjustmentQueryRq"),
        "{log:?}"
    );
    assert!(
        !log.requests
            .iter()
            .any(|r| r.contains("InventoryAdjustmentAddRq")),
        "never sent twice: {log:?}"
    );
    wait_runs(&config, "the second stock run", succeeded(2)).await;
    assert_eq!(
        company.adjustments().len(),
        before + PER_STORE,
        "exactly once"
    );
    assert_eq!(quantity(3), Decimal::from(40 + 3));
    let adjustment = company.adjustments().pop().expect("one");
    assert_eq!(adjustment.account.as_deref(), Some("Inventory Adjustments"));
    daemon.stop(Duration::from_secs(30));
}
