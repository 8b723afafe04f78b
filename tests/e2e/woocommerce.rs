//! End to end: the built `invsync` binary syncs a WooCommerce store (the fake, in this
//! process, over loopback HTTP) from a file accounting master, and records the run.

use crate::support::{self, json, report};
use invsync_test_support::fake;
use invsync_test_support::woocommerce::{
    VariationStock, WooFake, WooOptions, WooOrder, WooOrderLine, WooProduct, WooSale, WooVariation,
};
use serde_json::Value;
use std::path::Path;

const SECRET: &str = "cs_SENTINEL-e2e-secret";

const ACCOUNTING: &str = "sku,name,price,quantity,kind\n\
     SKU-1,Mug,10.00,5,inventory\n\
     SKU-2,Plate,20.50,8,inventory\n\
     SKU-3,Bowl,7.00,9,inventory\n\
     SHIRT-S,Shirt S,25.00,3,inventory\n\
     SHIRT-L,Shirt L,27.00,12,inventory\n\
     GROUP,Set,30.00,1,inventory\n";

/// The `[stores.woo]` table, with `extra` lines.
fn store(base_url: &str, extra: &str) -> String {
    format!(
        r#"[stores.woo]
kind = "woocommerce"
url = "{base_url}"
consumer_key = {{ env = "E2E_WOO_KEY" }}
consumer_secret = {{ env = "E2E_WOO_SECRET" }}
{extra}"#
    )
}

fn setup(dir: &Path, base_url: &str) {
    support::write_config(dir, DATABASE, ACCOUNTING, &store(base_url, ""));
}

const DATABASE: &str = "sqlite://invsync.db";

fn fake_store() -> WooFake {
    let fake = WooFake::new(WooOptions {
        consumer_key: "ck_e2e".into(),
        consumer_secret: SECRET.into(),
        ..WooOptions::default()
    });
    fake.insert(WooProduct::simple(1, "SKU-1", "9.00", 5));
    fake.insert(WooProduct::simple(2, "sku-2", "20.50", 2));
    fake.insert(WooProduct::simple(3, "SKU-3", "7.00", 1));
    fake.insert(WooProduct {
        id: 10,
        kind: "variable".into(),
        sku: "SHIRT".into(),
        name: "Shirt".into(),
        manage_stock: true,
        stock_quantity: Some(4),
        variations: vec![
            WooVariation {
                id: 11,
                sku: "SHIRT-S".into(),
                regular_price: "24.00".into(),
                stock: VariationStock::Own,
                stock_quantity: Some(3),
                ..WooVariation::default()
            },
            WooVariation {
                id: 12,
                sku: "SHIRT-L".into(),
                regular_price: "27.00".into(),
                stock: VariationStock::Parent,
                ..WooVariation::default()
            },
        ],
        ..WooProduct::default()
    });
    let mut group = WooProduct::simple(20, "GROUP", "35.00", 0);
    group.kind = "grouped".into();
    group.manage_stock = false;
    fake.insert(group);
    fake.state().orders.push(WooOrder {
        id: 500,
        status: "processing".into(),
        lines: vec![WooOrderLine {
            sku: "SKU-3".into(),
            product_id: 3,
            variation_id: 0,
            quantity: 1,
        }],
    });
    fake
}

/// `invsync ARGS` on the config in `dir`, with `secret` as the store's consumer secret.
async fn run(dir: &Path, secret: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = support::with_config(&dir.join("invsync.toml"), args);
    cmd.env("E2E_WOO_KEY", "ck_e2e")
        .env("E2E_WOO_SECRET", secret);
    support::output(cmd).await
}

const STATUS: &[&str] = &["status", "--store", "woo", "--format", "json"];

const SYNC: &[&str] = &[
    "sync",
    "--store",
    "woo",
    "--update",
    "store",
    "--fields",
    "price,quantity",
    "--format",
    "json",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_a_woocommerce_store_from_a_file_master_and_records_the_run() {
    let fake = fake_store();
    let server = fake::serve(fake.router()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), &server.base_url());

    let out = run(dir.path(), SECRET, SYNC).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["status"], "succeeded", "{report}");

    let (_, _, p1) = fake.find_sku("SKU-1").expect("SKU-1");
    assert_eq!(p1.regular_price, "10", "a decimal string");
    let (_, _, p2) = fake.find_sku("sku-2").expect("sku-2");
    assert_eq!(p2.stock_quantity, Some(8));
    let (_, _, p3) = fake.find_sku("SKU-3").expect("SKU-3");
    assert_eq!(
        p3.stock_quantity,
        Some(1),
        "in an open order: quantity held back"
    );
    let (_, v, parent) = fake.find_sku("SHIRT-S").expect("SHIRT-S");
    assert_eq!(v.expect("variation").regular_price, "25");
    assert_eq!(
        parent.stock_quantity,
        Some(12),
        "SHIRT-L writes its parent's stock"
    );
    let (_, _, group) = fake.find_sku("GROUP").expect("GROUP");
    assert_eq!(
        group.regular_price, "35.00",
        "base products are never written"
    );

    let runs = json(&run(dir.path(), SECRET, &["runs", "--format", "json"]).await);
    let first = &runs[0];
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["store"], "woo");
    let count = |key: &str| first["counts"][key].as_i64().expect(key);
    assert_eq!(count("updated"), 4, "SKU-1, sku-2, SHIRT-S, SHIRT-L");
    assert_eq!(count("skipped_in_orders"), 1);
    assert_eq!(count("skipped_base"), 1, "the grouped product");
    assert_eq!(count("unmapped"), 1, "the variable parent SHIRT");
    assert_eq!(count("failed"), 0);

    // Nothing left to do.
    let again = json(&run(dir.path(), SECRET, SYNC).await);
    assert_eq!(again["changes"], Value::Array(vec![]), "{again}");

    let shown = run(
        dir.path(),
        SECRET,
        &["runs", "show", &first["id"].to_string(), "--format", "json"],
    )
    .await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&shown.stdout),
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(!text.contains("SENTINEL"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_fail_the_run_with_a_clear_message_and_no_secret() {
    let fake = fake_store();
    let server = fake::serve(fake.router()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), &server.base_url());

    let wrong = "cs_wrong-SENTINEL";
    let out = run(dir.path(), wrong, SYNC).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = run(dir.path(), wrong, &["runs", "--format", "json"]).await;
    let runs = json(&runs);
    assert_eq!(runs[0]["status"], "failed");
    let error = runs[0]["error"].as_str().expect("error");
    assert!(
        error.contains("401") && error.contains("consumer_secret"),
        "{error}"
    );
    let all = format!(
        "{}{}{runs}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains("SENTINEL") && !all.contains("cs_wrong"),
        "{all}"
    );
    assert_eq!(
        fake.find_sku("SKU-1").expect("SKU-1").2.regular_price,
        "9.00"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_completed_between_syncs_releases_its_stock_on_the_incremental_read() {
    let fake = fake_store();
    let server = fake::serve(fake.router()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), &server.base_url());

    let first = json(&run(dir.path(), SECRET, SYNC).await);
    assert_eq!(first["status"], "succeeded", "{first}");
    let (_, _, bowl) = fake.find_sku("SKU-3").expect("SKU-3");
    assert_eq!(bowl.stock_quantity, Some(1), "held back by order 500");
    let snapshot_reads: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.path == "/orders")
        .collect();
    assert!(
        snapshot_reads
            .iter()
            .all(|c| !c.query.contains_key("modified_after")),
        "the first read is a snapshot"
    );

    // Later, at the store: order 500 is completed (shipped and posted elsewhere).
    fake.advance_clock(std::time::Duration::from_secs(20 * 60));
    fake.state().orders[0].status = "completed".into();
    fake.clear_calls();

    let second = json(&run(dir.path(), SECRET, SYNC).await);
    assert_eq!(second["status"], "succeeded", "{second}");
    let order_reads: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.path == "/orders")
        .collect();
    assert!(!order_reads.is_empty());
    assert!(
        order_reads
            .iter()
            .all(|c| c.query.contains_key("modified_after")
                && c.query.get("status").map(String::as_str) == Some("any")),
        "later reads only ask for what changed: {order_reads:?}"
    );
    let (_, _, bowl) = fake.find_sku("SKU-3").expect("SKU-3");
    assert_eq!(
        bowl.stock_quantity,
        Some(9),
        "the completed order no longer holds SKU-3 back"
    );
}

/// A product on sale until a date (8.00 instead of 10.00) and one without stock management;
/// the accounting side asks 10.00 and 6.50.
fn sale_store() -> WooFake {
    let fake = WooFake::new(WooOptions {
        consumer_key: "ck_e2e".into(),
        consumer_secret: SECRET.into(),
        ..WooOptions::default()
    });
    let until = fake.state().clock + chrono::Duration::days(10);
    fake.insert(
        WooProduct::simple(1, "RUNNING", "10.00", 5).on_sale(WooSale {
            sale_price: "8.00".into(),
            from: None,
            to: Some(until),
        }),
    );
    fake.insert(WooProduct::untracked(2, "UNTRACKED", "7.00"));
    fake
}

fn setup_sales(dir: &Path, base_url: &str, sale_price: Option<&str>) {
    support::write_config(
        dir,
        DATABASE,
        "sku,name,price,quantity,kind\n\
         RUNNING,Mug,10.00,5,inventory\n\
         UNTRACKED,Poster,6.50,3,inventory\n",
        &store(base_url, &support::sale_price_line(sale_price)),
    );
}

/// What the storefront charges: the sale price while the sale runs, else the regular one.
fn storefront_price(fake: &WooFake, sku: &str) -> String {
    let (_, _, p) = fake.find_sku(sku).expect(sku);
    let now = fake.state().clock;
    if p.sale.is_active(&p.regular_price, now) {
        p.sale.sale_price
    } else {
        p.regular_price
    }
}

/// Issue 12: a listing on sale is held back with the sale as the reason (not `updated`, not
/// in sync) under the default `sale_price = "hold"`; a product without stock management has
/// its price synced and its quantity never written; `sale_price = "clear"` ends the sale so
/// the storefront charges the accounting price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_on_sale_is_held_back_and_clear_makes_the_storefront_price_right() {
    let fake = sale_store();
    let server = fake::serve(fake.router()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup_sales(dir.path(), &server.base_url(), None);

    let held = |report: &Value| report::held_reason(report, "RUNNING", "price");
    let mut dry = SYNC.to_vec();
    dry.push("--dry-run");
    let preview = json(&run(dir.path(), SECRET, &dry).await);
    let reason = held(&preview);
    assert!(
        reason.contains("on sale in the store at 8.00 until"),
        "the dry run names the sale and its end: {reason}"
    );

    let report = json(&run(dir.path(), SECRET, SYNC).await);
    assert_eq!(report["status"], "succeeded", "{report}");
    let changes = report["changes"].as_array().expect("changes");
    assert!(
        changes.iter().all(|c| c["sku"] != "RUNNING"),
        "nothing written to the listing on sale: {report}"
    );
    assert_eq!(
        report::change(&report, "UNTRACKED", "price").map(|c| &c["outcome"]),
        Some(&Value::from("updated")),
        "{report}"
    );
    assert!(changes.iter().all(|c| c["field"] != "quantity"), "{report}");
    assert!(held(&report).contains("on sale in the store at 8.00"));
    assert_eq!(storefront_price(&fake, "RUNNING"), "8.00");
    let (_, _, poster) = fake.find_sku("UNTRACKED").expect("UNTRACKED");
    assert_eq!(
        (poster.regular_price.as_str(), poster.stock_quantity),
        ("6.5", None)
    );

    let status = json(&run(dir.path(), SECRET, STATUS).await);
    let running = report::status_of(&status, "RUNNING");
    assert_eq!(running["status"], "out-of-sync", "{running}");
    assert!(
        running["detail"]
            .as_str()
            .is_some_and(|d| d.contains("on sale in the store at 8.00")),
        "{running}"
    );
    assert_eq!(report::status_of(&status, "UNTRACKED")["status"], "in-sync");

    // With `sale_price = "clear"` the sale ends and shoppers pay the accounting price.
    setup_sales(dir.path(), &server.base_url(), Some("clear"));
    let report = json(&run(dir.path(), SECRET, SYNC).await);
    assert_eq!(report["status"], "succeeded", "{report}");
    let written = report::change(&report, "RUNNING", "price").expect("RUNNING written");
    assert_eq!(
        (&written["old"], &written["new"], &written["outcome"]),
        (
            &Value::from("8.00"),
            &Value::from("10.00"),
            &Value::from("updated")
        ),
        "{report}"
    );
    let (_, _, mug) = fake.find_sku("RUNNING").expect("RUNNING");
    assert_eq!(
        (
            mug.regular_price.as_str(),
            mug.sale.sale_price.as_str(),
            mug.sale.to
        ),
        ("10", "", None),
        "the sale ended"
    );
    assert_eq!(storefront_price(&fake, "RUNNING"), "10");
    let status = json(&run(dir.path(), SECRET, STATUS).await);
    assert_eq!(
        report::status_of(&status, "RUNNING")["status"],
        "in-sync",
        "{status}"
    );
}
