//! Contract tests: the connector against the WooCommerce fake over real HTTP on loopback.

#![allow(unused_imports)]
use invsync_config::WooCommerceConfig;
use invsync_connectors::http::{Backoff, Timeouts};
use invsync_connectors::woocommerce::WooCommerceConnection;
use invsync_connectors::{
    Catalog, Connection, ConnectorError, ErrorKind, OrderFeed, RecordRef, Reject, Write,
    WriteOutcome,
};
use invsync_core::{Field, FieldValue, ItemKind, Record};
use invsync_test_support::fake::{self, FakeServer};
use invsync_test_support::woocommerce::{
    Fault, VariationStock, WooFake, WooOptions, WooOrder, WooOrderLine, WooProduct as FakeProduct,
    WooVariation as FakeVariation,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SENTINEL_SECRET: &str = "cs_SENTINEL-do-not-print";

fn options() -> WooOptions {
    WooOptions {
        consumer_key: "ck_test".into(),
        consumer_secret: SENTINEL_SECRET.into(),
        ..WooOptions::default()
    }
}

async fn start(fake: &WooFake) -> FakeServer {
    fake::serve(fake.router()).await
}

fn connect(server: &FakeServer, secret: &str) -> WooCommerceConnection {
    let config = WooCommerceConfig {
        url: url::Url::parse(&server.base_url()).expect("url"),
        consumer_key: "ck_test".to_owned().into(),
        consumer_secret: secret.to_owned().into(),
        http: Default::default(),
    };
    WooCommerceConnection::with_policy(
        "woo",
        &config,
        Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(2),
        },
        Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            attempts: 4,
        },
    )
    .expect("connection")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn variable(id: u64, stock: Option<i64>, variations: Vec<FakeVariation>) -> FakeProduct {
    FakeProduct {
        id,
        kind: "variable".into(),
        sku: format!("PARENT-{id}"),
        name: format!("Shirt {id}"),
        manage_stock: stock.is_some(),
        stock_quantity: stock,
        variations,
        ..FakeProduct::default()
    }
}

fn variation(
    id: u64,
    sku: &str,
    price: &str,
    stock: VariationStock,
    q: Option<i64>,
) -> FakeVariation {
    FakeVariation {
        id,
        sku: sku.into(),
        regular_price: price.into(),
        stock,
        stock_quantity: q,
        ..FakeVariation::default()
    }
}

/// 250 simple products, a variable product with own/none/parent-stock variations (the
/// parent manages stock, so "none" shows "parent" too), a grouped, an external and an
/// unmanaged simple product.
fn catalog_fake() -> WooFake {
    let fake = WooFake::new(options());
    for i in 1..=250u64 {
        fake.insert(FakeProduct::simple(
            i,
            &format!("SKU-{i}"),
            "19.90",
            i as i64,
        ));
    }
    fake.insert(variable(
        1000,
        Some(40),
        vec![
            variation(1001, "SHIRT-S", "25.00", VariationStock::Own, Some(3)),
            variation(1002, "SHIRT-M", "25.00", VariationStock::None, None),
            variation(1003, "SHIRT-L", "26.50", VariationStock::Parent, None),
        ],
    ));
    let mut grouped = FakeProduct::simple(2000, "GROUP", "", 0);
    grouped.kind = "grouped".into();
    grouped.manage_stock = false;
    fake.insert(grouped);
    let mut external = FakeProduct::simple(2001, "EXT", "5.00", 0);
    external.kind = "external".into();
    external.manage_stock = false;
    fake.insert(external);
    let mut unmanaged = FakeProduct::simple(2002, "UNMANAGED", "7.00", 0);
    unmanaged.manage_stock = false;
    fake.insert(unmanaged);
    fake
}

fn find<'a>(catalog: &'a Catalog, sku: &str) -> &'a Record {
    catalog
        .records
        .iter()
        .find(|r| r.sku == sku)
        .unwrap_or_else(|| panic!("{sku} in the catalog"))
}

fn write(record: &Record, field: Field, new: FieldValue) -> Write {
    Write {
        id: record.id.clone(),
        sku: record.sku.clone(),
        field,
        old: record.value(field).expect("a value to replace"),
        new,
        key: format!("k-{}-{field}", record.sku),
        sale: None,
    }
}

#[tokio::test]
async fn reads_every_page_and_variation_with_the_documented_kinds() {
    let fake = catalog_fake();
    let server = start(&fake).await;
    let catalog = connect(&server, SENTINEL_SECRET)
        .read_catalog()
        .await
        .expect("catalog");
    assert!(catalog.rejects.is_empty(), "{:?}", catalog.rejects);
    // 250 + parent + 3 variations + grouped + external + unmanaged = 257
    assert_eq!(catalog.records.len(), 257);

    let simple = find(&catalog, "SKU-7");
    assert_eq!(
        (simple.kind, simple.price, simple.quantity),
        (ItemKind::Inventory, Some(dec("19.90")), Some(7))
    );
    assert_eq!(simple.id, "7");
    let parent = find(&catalog, "PARENT-1000");
    assert_eq!(
        parent.kind,
        ItemKind::Base,
        "variable parents are display-only"
    );
    let s = find(&catalog, "SHIRT-S");
    assert_eq!(
        (s.kind, s.price, s.quantity),
        (ItemKind::Inventory, Some(dec("25.00")), Some(3))
    );
    assert_eq!(s.id, "1000/1001");
    let m = find(&catalog, "SHIRT-M");
    assert_eq!(
        (m.kind, m.quantity, m.id.as_str()),
        (ItemKind::Inventory, Some(40), "1000/1002/parent-stock"),
        "a variation without its own stock under a parent that manages stock shows \"parent\""
    );
    let l = find(&catalog, "SHIRT-L");
    assert_eq!(
        (l.kind, l.quantity),
        (ItemKind::Inventory, Some(40)),
        "takes the parent's stock"
    );
    assert_eq!(l.id, "1000/1003/parent-stock");
    for sku in ["GROUP", "EXT"] {
        let r = find(&catalog, sku);
        assert_eq!((r.kind, r.quantity), (ItemKind::Base, None), "{sku}");
    }
    let unmanaged = find(&catalog, "UNMANAGED");
    assert_eq!(
        (unmanaged.kind, unmanaged.price, unmanaged.quantity),
        (ItemKind::Untracked, Some(dec("7.00")), None),
        "a simple product without stock management is sold: its price syncs"
    );

    let calls = fake.calls();
    let pages: Vec<_> = calls.iter().filter(|c| c.path == "/products").collect();
    assert_eq!(pages.len(), 3, "254 products are 3 pages of 100");
    assert!(
        pages
            .iter()
            .all(|c| c.query.get("per_page").map(String::as_str) == Some("100"))
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path == "/products/1000/variations")
            .count(),
        1
    );
    assert_eq!(calls.len(), 4);
}

#[tokio::test]
async fn unreadable_products_are_rejects_not_run_failures() {
    let fake = catalog_fake();
    fake.state()
        .products
        .get_mut(&3)
        .expect("product 3")
        .regular_price = "twelve".into();
    let server = start(&fake).await;
    let catalog = connect(&server, SENTINEL_SECRET)
        .read_catalog()
        .await
        .expect("catalog");
    assert_eq!(catalog.rejects.len(), 1);
    assert_eq!(catalog.rejects[0].sku.as_deref(), Some("SKU-3"));
    assert!(
        catalog.rejects[0].error.contains("twelve"),
        "{:?}",
        catalog.rejects
    );
    assert_eq!(catalog.records.len(), 256);
}

#[tokio::test]
async fn writes_go_in_batches_of_at_most_100_with_price_and_quantity_in_one_item() {
    let fake = catalog_fake();
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    let mut writes = Vec::new();
    for i in 1..=250 {
        let r = find(&catalog, &format!("SKU-{i}"));
        writes.push(write(r, Field::Price, FieldValue::Price(dec("9.95"))));
        writes.push(write(r, Field::Quantity, FieldValue::Quantity(1000 + i)));
    }
    let s = find(&catalog, "SHIRT-S");
    writes.push(write(s, Field::Price, FieldValue::Price(dec("30"))));
    writes.push(write(s, Field::Quantity, FieldValue::Quantity(9)));
    let l = find(&catalog, "SHIRT-L");
    writes.push(write(l, Field::Price, FieldValue::Price(dec("31.25"))));
    writes.push(write(l, Field::Quantity, FieldValue::Quantity(12)));
    assert!(writes.len() <= conn.write_batch_size());
    fake.clear_calls();

    let outcomes = conn.write(&writes).await.expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );

    let calls = fake.calls();
    let batches: Vec<_> = calls.iter().filter(|c| c.method == "POST").collect();
    assert!(batches.iter().all(|c| c.batch_items <= 100), "{batches:?}");
    let product_batches: Vec<usize> = batches
        .iter()
        .filter(|c| c.path == "/products/batch")
        .map(|c| c.batch_items)
        .collect();
    // 250 products + the parent whose stock SHIRT-L uses = 251 items: 3 calls.
    assert_eq!(product_batches, vec![100, 100, 51]);
    let variation_batches: Vec<usize> = batches
        .iter()
        .filter(|c| c.path == "/products/1000/variations/batch")
        .map(|c| c.batch_items)
        .collect();
    assert_eq!(
        variation_batches,
        vec![2],
        "both variations' prices in one call"
    );
    // One re-read per batch, right before it.
    assert_eq!(calls.iter().filter(|c| c.method == "GET").count(), 4);

    let (_, _, p) = fake.find_sku("SKU-42").expect("SKU-42");
    assert_eq!(
        (p.regular_price.as_str(), p.stock_quantity),
        ("9.95", Some(1042))
    );
    let (_, v, parent) = fake.find_sku("SHIRT-L").expect("SHIRT-L");
    assert_eq!(v.expect("variation").regular_price, "31.25");
    assert_eq!(
        parent.stock_quantity,
        Some(12),
        "parent-stock quantity goes to the parent"
    );
    let (_, v, _) = fake.find_sku("SHIRT-S").expect("SHIRT-S");
    let v = v.expect("variation");
    assert_eq!(
        (v.regular_price.as_str(), v.stock_quantity),
        ("30", Some(9))
    );
}

#[tokio::test]
async fn the_fake_refuses_batches_past_the_limit_and_numbers_for_prices() {
    let fake = catalog_fake();
    let server = start(&fake).await;
    let client = reqwest::Client::new();
    let update: Vec<Value> = (1..=101)
        .map(|i| json!({"id": i, "stock_quantity": 1}))
        .collect();
    let response = client
        .post(format!(
            "{}/wp-json/wc/v3/products/batch",
            server.base_url()
        ))
        .basic_auth("ck_test", Some(SENTINEL_SECRET))
        .json(&json!({ "update": update }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "woocommerce_rest_request_entity_too_large");

    let response = client
        .post(format!(
            "{}/wp-json/wc/v3/products/batch",
            server.base_url()
        ))
        .basic_auth("ck_test", Some(SENTINEL_SECRET))
        .json(&json!({ "update": [{"id": 1, "regular_price": 12.5}] }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["update"][0]["error"]["code"], "rest_invalid_param");

    let response = client
        .get(format!(
            "{}/wp-json/wc/v3/products?per_page=101",
            server.base_url()
        ))
        .basic_auth("ck_test", Some(SENTINEL_SECRET))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
}

/// A site that lowered `woocommerce_rest_batch_items_limit` answers 413 to a full batch:
/// the write fails with the fake's refusal and a hint that names the filter, nothing is
/// half-written, and nothing is retried (a 413 is not transient).
#[tokio::test]
async fn a_site_with_a_lower_batch_limit_fails_the_write_with_a_hint() {
    let fake = WooFake::new(WooOptions {
        batch_limit: 50,
        ..options()
    });
    for i in 1..=60u64 {
        fake.insert(FakeProduct::simple(i, &format!("SKU-{i}"), "5.00", 1));
    }
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    let writes: Vec<Write> = (1..=60)
        .map(|i| {
            write(
                find(&catalog, &format!("SKU-{i}")),
                Field::Quantity,
                FieldValue::Quantity(9),
            )
        })
        .collect();
    fake.clear_calls();
    let e = conn.write(&writes).await.expect_err("413");
    assert_eq!(e.status, Some(413));
    let text = e.to_string();
    assert!(
        text.contains("more than 50 items") && text.contains("woocommerce_rest_batch_items_limit"),
        "{text}"
    );
    let posts: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "a 413 is not retried: {posts:?}");
    assert_eq!(posts[0].batch_items, 60);
    assert_eq!(
        fake.find_sku("SKU-1").expect("SKU-1").2.stock_quantity,
        Some(1)
    );
}

#[tokio::test]
async fn per_item_errors_inside_a_200_fail_only_their_items() {
    let fake = catalog_fake();
    fake.state().refuse_skus.insert("SKU-2".into());
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    let writes = vec![
        write(
            find(&catalog, "SKU-1"),
            Field::Quantity,
            FieldValue::Quantity(50),
        ),
        write(
            find(&catalog, "SKU-2"),
            Field::Quantity,
            FieldValue::Quantity(50),
        ),
        write(
            find(&catalog, "SKU-2"),
            Field::Price,
            FieldValue::Price(dec("1")),
        ),
        write(
            find(&catalog, "SKU-3"),
            Field::Quantity,
            FieldValue::Quantity(50),
        ),
    ];
    let outcomes = conn.write(&writes).await.expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Failed(m) if m.contains("cannot be edited")),
        "{outcomes:?}"
    );
    assert!(matches!(&outcomes[2], WriteOutcome::Failed(_)));
    assert_eq!(outcomes[3], WriteOutcome::Applied);
    assert_eq!(
        fake.find_sku("SKU-3").expect("SKU-3").2.stock_quantity,
        Some(50)
    );
    assert_eq!(
        fake.find_sku("SKU-2").expect("SKU-2").2.stock_quantity,
        Some(2)
    );
}

#[tokio::test]
async fn a_quantity_changed_since_planning_is_stale_and_not_overwritten() {
    let fake = catalog_fake();
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    // A sale lands between planning and writing.
    fake.state().products.get_mut(&5).expect("5").stock_quantity = Some(4);
    let writes = vec![
        write(
            find(&catalog, "SKU-5"),
            Field::Quantity,
            FieldValue::Quantity(80),
        ),
        write(
            find(&catalog, "SKU-5"),
            Field::Price,
            FieldValue::Price(dec("20")),
        ),
        write(
            find(&catalog, "SKU-6"),
            Field::Quantity,
            FieldValue::Quantity(80),
        ),
    ];
    let outcomes = conn.write(&writes).await.expect("write");
    assert!(
        matches!(&outcomes[0], WriteOutcome::Stale(m) if m.contains("5 → 4")),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[1],
        WriteOutcome::Applied,
        "the price did not change: written"
    );
    assert_eq!(outcomes[2], WriteOutcome::Applied);
    let p5 = fake.find_sku("SKU-5").expect("SKU-5").2;
    assert_eq!(
        (p5.stock_quantity, p5.regular_price.as_str()),
        (Some(4), "20")
    );

    // read_records gives the engine the fresh value to re-plan from.
    let fresh = conn
        .read_records(&[
            RecordRef {
                id: "5".into(),
                sku: "SKU-5".into(),
            },
            RecordRef {
                id: "1000/1003/parent-stock".into(),
                sku: "SHIRT-L".into(),
            },
        ])
        .await
        .expect("read")
        .expect("supported");
    assert_eq!(fresh.len(), 2);
    assert_eq!(fresh[0].quantity, Some(4));
    assert_eq!(
        (fresh[1].sku.as_str(), fresh[1].quantity),
        ("SHIRT-L", Some(40))
    );
}

#[tokio::test]
async fn the_residual_race_after_the_check_is_last_write_wins() {
    // Documented in ADR 0021: a sale between the re-read and the batch is overwritten.
    let fake = catalog_fake();
    fake.state().after_include_read = Some(|s| {
        if let Some(p) = s.products.get_mut(&8) {
            p.stock_quantity = Some(7);
        }
    });
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    let outcomes = conn
        .write(&[write(
            find(&catalog, "SKU-8"),
            Field::Quantity,
            FieldValue::Quantity(30),
        )])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    assert_eq!(
        fake.find_sku("SKU-8").expect("SKU-8").2.stock_quantity,
        Some(30)
    );
}

#[tokio::test]
async fn open_orders_are_processing_and_on_hold_line_items() {
    let fake = catalog_fake();
    let line = |sku: &str, q| WooOrderLine {
        sku: sku.into(),
        product_id: 1,
        variation_id: 0,
        quantity: q,
    };
    {
        let mut state = fake.state();
        state.orders.push(WooOrder {
            id: 1,
            status: "processing".into(),
            lines: vec![line("SKU-1", 2), line("", 1)],
        });
        state.orders.push(WooOrder {
            id: 2,
            status: "on-hold".into(),
            lines: vec![line("SHIRT-S", 1)],
        });
        state.orders.push(WooOrder {
            id: 3,
            status: "completed".into(),
            lines: vec![line("SKU-9", 5)],
        });
        for id in 4..=130 {
            state.orders.push(WooOrder {
                id,
                status: "processing".into(),
                lines: vec![line("SKU-2", 1)],
            });
        }
    }
    let server = start(&fake).await;
    let lines = crate::open_lines(&connect(&server, SENTINEL_SECRET))
        .await
        .expect("orders")
        .expect("some");
    assert_eq!(lines.len(), 129);
    let first = lines.iter().find(|l| l.order == "1").expect("order 1");
    assert_eq!((first.sku.as_str(), first.quantity), ("SKU-1", 2));
    assert!(
        lines.iter().all(|l| l.sku != "SKU-9"),
        "completed orders are posted"
    );
    assert!(lines.iter().all(|l| l.store == "woo"));
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "129 orders are 2 pages");
    assert!(
        calls
            .iter()
            .all(|c| c.query.get("status").map(String::as_str) == Some("processing,on-hold"))
    );
}

#[tokio::test]
async fn throttling_with_retry_after_is_honoured_and_server_errors_are_retried() {
    let fake = catalog_fake();
    fake.push_fault(Fault {
        status: 429,
        retry_after: Some(1),
        delay: None,
    });
    fake.push_fault(Fault::status(503));
    fake.push_fault(Fault {
        status: 200,
        retry_after: None,
        delay: Some(Duration::from_secs(3)),
    });
    let server = start(&fake).await;
    let started = Instant::now();
    let catalog = connect(&server, SENTINEL_SECRET)
        .read_catalog()
        .await
        .expect("catalog after retries");
    assert_eq!(catalog.records.len(), 257);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    let statuses: Vec<u16> = fake.calls().iter().take(3).map(|c| c.status).collect();
    assert_eq!(statuses[..2], [429, 503]);
}

#[tokio::test]
async fn refused_credentials_fail_with_a_hint_and_never_show_the_secret() {
    let fake = catalog_fake();
    let server = start(&fake).await;
    let conn = connect(&server, "cs_wrong-SENTINEL");
    let e = conn.read_catalog().await.expect_err("401");
    assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(401)));
    let text = e.to_string();
    assert!(
        text.contains("Consumer key is invalid") && text.contains("consumer_secret"),
        "{text}"
    );
    assert!(
        !text.contains("SENTINEL") && !text.contains("cs_wrong"),
        "{text}"
    );
    assert!(!format!("{e:?}").contains("SENTINEL"));
    assert_eq!(fake.calls().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn a_site_in_a_subfolder_keeps_its_path() {
    let fake = catalog_fake();
    let router = axum::Router::new().nest("/shop", fake.router());
    let server = fake::serve(router).await;
    let config = WooCommerceConfig {
        url: url::Url::parse(&format!("{}/shop", server.base_url())).expect("url"),
        consumer_key: "ck_test".to_owned().into(),
        consumer_secret: SENTINEL_SECRET.to_owned().into(),
        http: Default::default(),
    };
    let conn = WooCommerceConnection::new("woo", &config).expect("connection");
    assert_eq!(
        conn.read_catalog().await.expect("catalog").records.len(),
        257
    );
}

mod orders;
mod sales;
