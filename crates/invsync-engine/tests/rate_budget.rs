//! One rate budget per platform account per process (issue 14, ADR 0026): every run reads
//! every store's orders, so while a platform store's own run reads its catalog, the runs
//! of two other stores read its orders at the same time, each through a connection of its
//! own. Together they must stay within the store's quota (BigCommerce) or cost bucket
//! (Shopify): the fake never answers 429 or THROTTLED.

mod support;

use invsync_core::{FieldSet, RunStatus};
use invsync_engine::{Engine, NoProgress, SyncRequest};
use invsync_store::PoolOptions;
use invsync_test_support::bigcommerce::{BigFake, BigOptions, BigOrder, BigOrderLine, BigProduct};
use invsync_test_support::fake::{self, FakeServer};
use invsync_test_support::shopify::{FakeShopify, Limits};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const PRODUCTS: u64 = 600;
const OPEN_ORDERS: u64 = 24;
const BIG_TOKEN: &str = "bc-rate-budget-token";
const SHOP_TOKEN: &str = "shpat_rate-budget-token";

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

/// The accounting file: every product of the platform store, at another quantity (so its
/// run writes), and the two file stores' one product.
fn accounting() -> String {
    let mut csv = String::from("sku,name,price,quantity\n");
    for i in 1..=PRODUCTS {
        csv.push_str(&format!("SKU-{i},Product {i},19.99,{}\n", i + 100));
    }
    csv
}

/// A directory with the accounting file, two file stores with orders files, and a
/// config naming them plus `platform_store` (a `[stores.…]` table).
async fn engine(platform_store: &str) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("accounting.csv"), accounting()).expect("accounting");
    for store in ["a", "b"] {
        std::fs::write(
            dir.path().join(format!("{store}.csv")),
            "sku,name,price,quantity\nSKU-1,Product 1,19.99,0\n",
        )
        .expect("store file");
        std::fs::write(
            dir.path().join(format!("{store}-orders.csv")),
            "order,sku,quantity\n",
        )
        .expect("orders file");
    }
    std::fs::write(
        dir.path().join("invsync.toml"),
        format!(
            "[database]\nurl = \"sqlite://invsync.db\"\n\
             [accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\
             [stores.a]\nkind = \"file\"\npath = \"a.csv\"\norders = \"a-orders.csv\"\n\
             [stores.b]\nkind = \"file\"\npath = \"b.csv\"\norders = \"b-orders.csv\"\n\
             {platform_store}"
        ),
    )
    .expect("config");
    let config = support::load_config(dir.path());
    let db = support::open_db(
        &config,
        &PoolOptions {
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
        },
    )
    .await;
    (dir, Engine::new(Arc::new(config), db))
}

fn request(store: &str) -> SyncRequest {
    support::request(store, FieldSet::BOTH)
}

/// The runs of `a`, `b` and `platform` at once; each succeeds.
async fn three_runs_at_once(engine: &Engine, platform: &str) {
    let cancel = CancellationToken::new();
    let run = |store: &'static str| {
        let (engine, cancel) = (engine, &cancel);
        async move {
            let report = engine
                .sync(&request(store), &NoProgress, cancel)
                .await
                .unwrap_or_else(|e| panic!("{store}: {e}"));
            (store, report)
        }
    };
    let platform: &'static str = if platform == "big" { "big" } else { "shop" };
    let (a, b, p) = tokio::join!(run("a"), run("b"), run(platform));
    for (store, report) in [a, b, p] {
        assert_eq!(
            report.status,
            RunStatus::Succeeded,
            "{store}: {:?}",
            report.error
        );
    }
}

#[tokio::test]
async fn concurrent_runs_share_a_bigcommerce_stores_quota() {
    let fake = BigFake::new(BigOptions {
        access_token: BIG_TOKEN.into(),
        // Small enough that three connections pacing apart overshoot it at once.
        quota: 12,
        window: Duration::from_millis(600),
        ..BigOptions::default()
    });
    for i in 1..=PRODUCTS {
        fake.insert(
            BigProduct::simple(i, &format!("SKU-{i}"), dec("19.99")),
            1,
            1,
        );
    }
    for id in 1..=OPEN_ORDERS {
        fake.state().orders.push(BigOrder {
            id,
            status_id: 11,
            lines: vec![BigOrderLine {
                product_id: id,
                variant_id: id,
                sku: format!("SKU-{id}"),
                quantity: 1,
                quantity_shipped: 0,
            }],
        });
    }
    let server: FakeServer = fake::serve(fake.router()).await;
    let (_dir, engine) = engine(&format!(
        "[stores.big]\nkind = \"bigcommerce\"\nstore_hash = \"abc123\"\n\
         access_token = \"{BIG_TOKEN}\"\nbase_url = \"{}\"\n",
        fake.base_url(&server)
    ))
    .await;

    three_runs_at_once(&engine, "big").await;

    let calls = fake.calls();
    let order_reads = calls
        .iter()
        .filter(|c| c.path.starts_with("/v2/orders") && c.query.contains_key("status_id"))
        .count();
    assert_eq!(
        order_reads, 9,
        "three runs read the open orders (3 statuses each)"
    );
    assert!(
        calls.iter().any(|c| c.path == "/v3/catalog/products"),
        "the store's own run read its catalog"
    );
    let throttled: Vec<_> = calls.iter().filter(|c| c.status == 429).collect();
    assert!(
        throttled.is_empty(),
        "{} of {} calls ran into the quota: {throttled:?}",
        throttled.len(),
        calls.len()
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn concurrent_runs_share_a_shopify_shops_bucket() {
    // Three order reads of 25 orders cost about 827 points each: without one bucket for
    // the shop, three connections at once overdraw it.
    let fake = FakeShopify::new(
        SHOP_TOKEN,
        Limits {
            bucket: 1000.0,
            restore_rate: 1000.0,
            ..Limits::standard()
        },
    );
    for i in 1..=PRODUCTS {
        fake.add_variant(&format!("SKU-{i}"), "19.99", 1);
    }
    for i in 1..=OPEN_ORDERS {
        let sku = format!("SKU-{i}");
        fake.add_order(&[(sku.as_str(), 1, 0)], false, false);
    }
    let server = fake.serve().await;
    let (_dir, engine) = engine(&format!(
        "[stores.shop]\nkind = \"shopify\"\nshop = \"example.myshopify.com\"\n\
         access_token = \"{SHOP_TOKEN}\"\nbase_url = \"{}\"\n",
        server.base_url()
    ))
    .await;

    three_runs_at_once(&engine, "shop").await;

    let stats = fake.stats();
    let throttled: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 429 || r.error_codes.iter().any(|c| c == "THROTTLED"))
        .collect();
    assert_eq!(stats.throttled, 0, "{stats:?}: {throttled:?}");
    assert!(throttled.is_empty());
    let order_reads = fake
        .requests()
        .iter()
        .filter(|r| r.query.as_deref().is_some_and(|q| q.contains("OpenOrders")))
        .count();
    assert!(
        order_reads >= 3,
        "three runs read the open orders: {order_reads}"
    );
    assert!(fake.invalid_documents().is_empty());
}
