//! QuickBooks POS as the accounting side through the binary (issue 15 items 11 and 14,
//! ADR 0080, 0081): the daemon serves the Web Connector for a `QBPOS` company, the POS
//! company fake answers the qbposXML the Web Connector client fake carries (and validates
//! every request), three stores sync from POS, and POS's prices from a store.

use crate::quickbooks_desktop::{
    PASSWORD, PER_STORE, STORES, dec, of_schedule, setup_for, store_file, wait_runs,
};
use crate::support::daemon::{Daemon, http_get, metric};
use crate::support::{json, runs, wait_for, with_config};
use invsync_test_support::pg;
use invsync_test_support::quickbooks_pos::{Company, ItemType, NewItem};
use invsync_test_support::web_connector::{SessionLog, WebConnectorClient};
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "shop-pos";

/// The company: `PER_STORE` items per store (ALU `{store}-{i}`, price 10.00 + i,
/// quantity 20 + i at store 1) and a group item (`base`).
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
    company.add_item(NewItem::inventory("gift-box", dec("0"), 0).of_type(ItemType::Group));
    Arc::new(company)
}

/// The stores, schedules and daemon of the Desktop tests, for a POS company.
fn setup(pg_url: &str) -> (tempfile::TempDir, PathBuf) {
    setup_for(pg_url, USER, "QBPOS", "kind = \"quickbooks-pos\"\n")
}

/// One Web Connector session with the company playing QuickBooks POS.
async fn session(client: &WebConnectorClient, company: &Arc<Company>, name: &str) -> SessionLog {
    let log = client
        .run_session(USER, PASSWORD, |request| {
            company
                .handle(name, request)
                .map_err(|h| (format!("0x{:08X}", h.0), "QuickBooks POS error".to_owned()))
        })
        .await
        .expect("session");
    company.end_session(name);
    log
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_syncs_three_stores_from_quickbooks_pos_and_its_prices_from_a_store() {
    let pg = pg::fresh_database().await;
    let (dir, config) = setup(pg.url());
    let company = company();
    let mut daemon = Daemon::start(&config, &[]);
    let port = daemon.port("serving the QuickBooks Web Connector");
    let http = daemon.http_port();
    let mut client = WebConnectorClient::new(format!("http://127.0.0.1:{port}/qbwc"));

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
    // POS's one item list, the snapshot is kept, and the session ends at 100 %. Every
    // request was valid qbposXML 3.0 (the fake answers 0x80040400 otherwise).
    client.qbxml_version = (3, 0);
    let log = session(&client, &company, "s1").await;
    assert_eq!(log.auth[1], "", "work: use the open company ({log:?})");
    assert_eq!(log.progress.last(), Some(&100), "{log:?}");
    assert!(
        log.requests
            .iter()
            .all(|r| r.contains("<?qbposxml version=\"3.0\"?>"))
    );
    let pages = log
        .requests
        .iter()
        .filter(|r| r.contains("ItemInventoryQueryRq"))
        .count();
    assert_eq!(pages, (STORES.len() * PER_STORE + 1).div_ceil(7), "{log:?}");
    assert_eq!(company.stats().rejected, 0);

    // Between sessions: a sale rung up in POS (stock moves, the item does not) and a price
    // edited there. Only the next session's read sees them.
    let sold = company.item_by_alu("outlet-1").expect("item").list_id;
    company.enter_sales_receipt(1, None, None, &[(&sold, 5)]);
    let edited = company.item_by_alu("web-2").expect("item").list_id;
    company.edit_in_pos(&edited, |item| item.price1 = dec("99.00"));

    // Every slot again: the store runs plan from the snapshot; the POS run waits.
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
    daemon.wait_log("the POS run waiting", Duration::from_secs(30), |log| {
        log.contains("waiting for the Web Connector's next session")
    });
    let (_, page) = http_get(http, "/metrics");
    assert_eq!(
        metric(
            &page,
            "invsync_web_connector_waiting_runs{company=\"shop-pos\"}"
        ),
        Some(1.0),
        "{page}"
    );

    // The next session reads again, then writes the waiting run's prices (Price1), several
    // mods per message set. POS has no EditSequence: the item edited there differs from the
    // snapshot the run planned from, so the bridge hands it back stale and the run plans it
    // again from this session's read — one mod per item, never a blind second one.
    let before = company.stats();
    let log = session(&client, &company, "s2").await;
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
    assert!(mods[0].contains("<Price1>"), "{}", mods[0]);
    wait_runs(&config, "the POS run", |r| {
        of_schedule(r, "prices-from-web")
            .iter()
            .any(|r| r["status"] == "succeeded")
    })
    .await;
    for i in 0..PER_STORE {
        let item = company.item_by_alu(&format!("web-{i}")).expect("item");
        assert_eq!(
            item.price1,
            dec(&format!("{}.50", 30 + i)),
            "web-{i} took the store's price"
        );
    }
    let after = company.stats();
    assert_eq!(
        after.price_mods - before.price_mods,
        PER_STORE as u64,
        "one mod per item"
    );
    assert_eq!(after.rejected, 0, "every request valid qbposXML");
    assert_eq!(
        company.item_by_alu("outlet-0").expect("item").price1,
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

    // A manual run that would write POS is refused, saying what to do instead.
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
        said.contains("QuickBooks POS") && said.contains("schedule"),
        "{said}"
    );
    // `status` plans from the snapshot (no daemon needed for reads).
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

    assert!(
        !daemon.log().contains(PASSWORD),
        "the password never reaches the log"
    );
    daemon.stop(Duration::from_secs(30));
}

/// A session in which POS applies the first message set carrying New Quantity Memos and
/// the Web Connector dies before it reports the answer; the endpoint ends it on expiry.
async fn session_lost_after_memos(client: &WebConnectorClient, company: &Company, name: &str) {
    let mut log = SessionLog::default();
    let auth = client.open(USER, PASSWORD, &mut log).await.expect("open");
    assert_eq!(auth[1], "", "{auth:?}");
    let ticket = &auth[0];
    loop {
        let request = client.send_request_xml(ticket).await.expect("request");
        assert!(!request.is_empty(), "the session has work");
        let answer = company.handle(name, &request).expect("answer");
        if request.contains("InventoryQtyAdjustmentAddRq") {
            return;
        }
        client
            .receive_response_xml(ticket, &answer, "", "")
            .await
            .expect("progress");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quantities_from_a_master_store_are_set_in_pos_exactly_once_and_a_later_sale_survives() {
    let pg = pg::fresh_database().await;
    let (dir, config) = setup(pg.url());
    // `web` is the master: POS's quantities come from it, as New Quantity Memos.
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text
        .replace("master = \"accounting\"", "master = \"web\"")
        .replace(
            "qb_type = \"QBPOS\"\n",
            "qb_type = \"QBPOS\"\nsession_timeout = \"1s\"\n",
        )
        .replace(
            "name = \"prices-from-web\"\nstore = \"web\"\nevery = \"15m\"\nupdate = \"accounting\"\nfields = [\"price\"]",
            "name = \"stock-from-web\"\nstore = \"web\"\nevery = \"15m\"\nupdate = \"accounting\"\nfields = [\"quantity\"]",
        );
    std::fs::write(&config, text).expect("config");
    let mut csv = String::from("sku,name,price,quantity\n");
    for i in 0..PER_STORE {
        csv.push_str(&format!("web-{i},web {i},1.00,{}\n", 5 + i));
    }
    std::fs::write(dir.path().join("web.csv"), csv).expect("web");
    let company = company();
    let mut daemon = Daemon::start(&config, &[]);
    let port = daemon.port("serving the QuickBooks Web Connector");
    let mut client = WebConnectorClient::new(format!("http://127.0.0.1:{port}/qbwc"));
    client.qbxml_version = (3, 0);
    wait_runs(&config, "the first slots, skipped", |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|r| r["status"] == "skipped"))
    })
    .await;
    session(&client, &company, "s1").await;
    let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
    sqlx::query("UPDATE sync_schedules SET next_due_at = now() WHERE name = 'stock-from-web'")
        .execute(&pool)
        .await
        .expect("due now");
    daemon.wait_log("the run waiting", Duration::from_secs(30), |log| {
        log.contains("waiting for the Web Connector's next session")
    });

    // POS applies the memos; the answer never reaches invsync. Then a sale is rung up.
    session_lost_after_memos(&client, &company, "s2").await;
    company.end_session("s2");
    assert_eq!(company.adjustments().len(), PER_STORE, "one memo per item");
    let item = company.item_by_alu("web-3").expect("item");
    assert_eq!(item.quantity_on_hand(), Decimal::from(5 + 3));
    assert_eq!(company.adjustments()[0].reason, "invsync");
    company.enter_sales_receipt(1, None, None, &[(&item.list_id, 1)]);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The next session looks the memos up by their markers first and sends none again —
    // sending `NewQuantity` again would undo the sale.
    let log = session(&client, &company, "s3").await;
    assert!(
        log.requests[0].contains("InventoryQtyAdjustmentQueryRq"),
        "{log:?}"
    );
    assert!(
        !log.requests
            .iter()
            .any(|r| r.contains("InventoryQtyAdjustmentAddRq")),
        "never sent twice: {log:?}"
    );
    wait_runs(&config, "the stock run", |r| {
        of_schedule(r, "stock-from-web")
            .iter()
            .any(|r| r["status"] == "succeeded")
    })
    .await;
    assert_eq!(company.adjustments().len(), PER_STORE, "exactly once");
    assert_eq!(
        company
            .item_by_alu("web-3")
            .expect("item")
            .quantity_on_hand(),
        Decimal::from(5 + 3 - 1),
        "the sale rung up after the memo stands"
    );
    assert_eq!(company.stats().rejected, 0, "every request valid qbposXML");
    daemon.stop(Duration::from_secs(30));
}
