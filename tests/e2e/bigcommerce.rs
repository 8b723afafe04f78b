//! End to end: the built `invsync` binary syncs a BigCommerce store (the fake, in this
//! process, over loopback HTTP) from a file accounting master, and records the run.

use crate::support::{self, json, report};
use invsync_test_support::bigcommerce::{
    BigFake, BigOptions, BigOrder, BigOrderLine, BigProduct, BigVariant, Item,
};
use invsync_test_support::fake;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const TOKEN: &str = "bc-SENTINEL-e2e-token";

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

const ACCOUNTING: &str = "sku,name,price,quantity,kind\n\
     SKU-1,Mug,10.00,5,inventory\n\
     SKU-2,Plate,20.50,8,inventory\n\
     SKU-3,Bowl,7.00,9,inventory\n\
     SHIRT-S,Shirt S,25.00,3,inventory\n\
     GIFT,Gift card,50.00,0,inventory\n";

/// The `[stores.big]` table, with `extra` lines.
fn store(base_url: &str, extra: &str) -> String {
    format!(
        r#"[stores.big]
kind = "bigcommerce"
store_hash = "abc123"
access_token = {{ env = "E2E_BC_TOKEN" }}
base_url = "{base_url}"
{extra}"#
    )
}

fn setup(dir: &Path, base_url: &str) {
    support::write_config(dir, DATABASE, ACCOUNTING, &store(base_url, ""));
}

const DATABASE: &str = "sqlite://invsync.db";

fn fake_store() -> BigFake {
    let fake = BigFake::new(BigOptions {
        access_token: TOKEN.into(),
        inventory_delay: Duration::from_millis(300),
        ..BigOptions::default()
    });
    fake.insert(BigProduct::simple(1, "SKU-1", dec("9")), 1, 5);
    fake.insert(BigProduct::simple(2, "sku-2", dec("20.5")), 1, 2);
    fake.insert(BigProduct::simple(3, "SKU-3", dec("7")), 1, 1);
    fake.insert(
        BigProduct {
            id: 10,
            name: "Shirt".into(),
            sku: "SHIRT".into(),
            price: dec("24"),
            inventory_tracking: "variant".into(),
            variants: vec![BigVariant {
                id: 101,
                sku: "SHIRT-S".into(),
                option_values: vec!["S".into()],
                ..BigVariant::default()
            }],
            ..BigProduct::default()
        },
        1,
        1,
    );
    let mut gift = BigProduct::simple(20, "GIFT", dec("50"));
    gift.inventory_tracking = "none".into();
    fake.insert(gift, 1, 0);
    fake.state().orders.push(BigOrder {
        id: 900,
        status_id: 11,
        lines: vec![BigOrderLine {
            product_id: 3,
            variant_id: 30,
            sku: "SKU-3".into(),
            quantity: 1,
            quantity_shipped: 0,
        }],
    });
    fake
}

/// `invsync ARGS` on the config in `dir`, with `token` as the store's access token.
async fn run(dir: &Path, token: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = support::with_config(&dir.join("invsync.toml"), args);
    cmd.env("E2E_BC_TOKEN", token);
    support::output(cmd).await
}

const STATUS: &[&str] = &["status", "--store", "big", "--format", "json"];

const SYNC: &[&str] = &[
    "sync",
    "--store",
    "big",
    "--update",
    "store",
    "--fields",
    "price,quantity",
    "--format",
    "json",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_a_bigcommerce_store_from_a_file_master_and_records_the_run() {
    let fake = fake_store();
    let server = fake::serve(fake.router()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), &fake.base_url(&server));

    let out = run(dir.path(), TOKEN, SYNC).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["status"], "succeeded");
    // The run was recorded after the adjustments showed: nothing is pending any more.
    {
        let state = fake.state();
        assert_eq!(state.pending(), 0);
        assert_eq!(state.products[&1].variants[0].price, Some(dec("10")));
        assert_eq!(state.quantity(1, Item::Product(2)), 8);
        assert_eq!(
            state.quantity(1, Item::Product(3)),
            1,
            "in an open order: held back"
        );
        assert_eq!(state.quantity(1, Item::Variant(101)), 3);
        assert_eq!(state.products[&10].variants[0].price, Some(dec("25")));
        assert_eq!(
            state.products[&20].variants[0].price, None,
            "untracked, its price already right: not written"
        );
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let runs = json(&run(dir.path(), TOKEN, &["runs", "--format", "json"]).await);
    let first = &runs[0];
    assert_eq!(first["status"], "succeeded");
    let count = |key: &str| first["counts"][key].as_i64().expect(key);
    assert_eq!(count("updated"), 3, "SKU-1, sku-2, SHIRT-S");
    assert_eq!(count("skipped_in_orders"), 1);
    assert_eq!(
        count("skipped_base"),
        0,
        "the gift card without tracking is sold: its price is compared"
    );
    assert_eq!(
        count("in_sync"),
        1,
        "the gift card: 50 = 50, stock not tracked"
    );
    assert_eq!(count("failed"), 0);

    let again = json(&run(dir.path(), TOKEN, SYNC).await);
    assert_eq!(again["changes"], Value::Array(vec![]), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_the_run_with_a_clear_message_and_no_secret() {
    let fake = fake_store();
    let server = fake::serve(fake.router()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), &fake.base_url(&server));
    let wrong = "bc-wrong-SENTINEL";
    let out = run(dir.path(), wrong, SYNC).await;
    assert_eq!(out.status.code(), Some(1));
    let runs = json(&run(dir.path(), wrong, &["runs", "--format", "json"]).await);
    assert_eq!(runs[0]["status"], "failed");
    let error = runs[0]["error"].as_str().expect("error");
    assert!(
        error.contains("401") && error.contains("access_token"),
        "{error}"
    );
    let all = format!(
        "{}{}{runs}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("SENTINEL"), "{all}");
}

/// A store with the listing of issue 12 (`price` 3.35 and `sale_price` 3.35 on its variant)
/// and a gift card without inventory tracking; the accounting side asks 3.60 and 45.
fn sale_store() -> BigFake {
    let fake = BigFake::new(BigOptions {
        access_token: TOKEN.into(),
        ..BigOptions::default()
    });
    let mut can = BigProduct::simple(1, "CAN", dec("3.35"));
    can.variants[0].price = Some(dec("3.35"));
    can.variants[0].sale_price = Some(dec("3.35"));
    fake.insert(can, 1, 126);
    let mut card = BigProduct::simple(2, "CARD", dec("50"));
    card.inventory_tracking = "none".into();
    fake.insert(card, 1, 0);
    fake
}

fn setup_sales(dir: &Path, base_url: &str, sale_price: Option<&str>) {
    support::write_config(
        dir,
        DATABASE,
        "sku,name,price,quantity,kind\n\
         CAN,Lager can,3.60,126,inventory\n\
         CARD,Gift card,45.00,7,inventory\n",
        &store(base_url, &support::sale_price_line(sale_price)),
    );
}

/// The storefront price of a product's first variant, as BigCommerce computes it.
fn storefront_price(fake: &BigFake, product: u64) -> Decimal {
    let state = fake.state();
    let p = &state.products[&product];
    p.calculated_price(&p.variants[0])
}

/// Issue 12: a listing on sale is held back with the sale as the reason (not `updated`, not
/// in sync) under the default `sale_price = "hold"`; an untracked listing's price is synced
/// and its quantity never written; `sale_price = "clear"` makes the storefront charge the
/// accounting price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_on_sale_is_held_back_and_clear_makes_the_storefront_price_right() {
    let fake = sale_store();
    let server = fake::serve(fake.router()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup_sales(dir.path(), &fake.base_url(&server), None);

    let mut dry = SYNC.to_vec();
    dry.push("--dry-run");
    let preview = json(&run(dir.path(), TOKEN, &dry).await);
    let held = |report: &Value| report::held_reason(report, "CAN", "price");
    let reason = held(&preview);
    assert!(
        reason.contains("on sale in the store at 3.35"),
        "the dry run names the sale: {reason}"
    );

    let report = json(&run(dir.path(), TOKEN, SYNC).await);
    assert_eq!(report["status"], "succeeded", "{report}");
    let changes = report["changes"].as_array().expect("changes");
    assert!(
        changes.iter().all(|c| c["sku"] != "CAN"),
        "nothing written to the listing on sale: {report}"
    );
    assert_eq!(
        report::change(&report, "CARD", "price").map(|c| &c["outcome"]),
        Some(&json!("updated")),
        "an untracked listing's price is synced: {report}"
    );
    assert!(changes.iter().all(|c| c["field"] != "quantity"), "{report}");
    assert!(held(&report).contains("on sale in the store at 3.35"));
    assert_eq!(storefront_price(&fake, 1), dec("3.35"));
    assert_eq!(storefront_price(&fake, 2), dec("45"));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let status = json(&run(dir.path(), TOKEN, STATUS).await);
    let can = report::status_of(&status, "CAN");
    assert_eq!(can["status"], "out-of-sync", "{can}");
    assert!(
        can["detail"]
            .as_str()
            .is_some_and(|d| d.contains("on sale in the store at 3.35")),
        "{can}"
    );
    assert_eq!(report::status_of(&status, "CARD")["status"], "in-sync");

    // The merchant lets invsync end the sale: the storefront then charges 3.60.
    setup_sales(dir.path(), &fake.base_url(&server), Some("clear"));
    let report = json(&run(dir.path(), TOKEN, SYNC).await);
    assert_eq!(report["status"], "succeeded", "{report}");
    let written = report::change(&report, "CAN", "price").expect("CAN written");
    assert_eq!(
        (&written["old"], &written["new"], &written["outcome"]),
        (&json!("3.35"), &json!("3.60"), &json!("updated"))
    );
    assert_eq!(storefront_price(&fake, 1), dec("3.6"));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let status = json(&run(dir.path(), TOKEN, STATUS).await);
    assert_eq!(
        report::status_of(&status, "CAN")["status"],
        "in-sync",
        "{status}"
    );
}
