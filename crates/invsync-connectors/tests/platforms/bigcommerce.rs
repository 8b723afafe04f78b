//! Contract tests: the connector against the BigCommerce fake over real HTTP on loopback.
//! Every test ends by asserting the fake saw no request body that breaks BigCommerce's
//! OpenAPI schemas.

#![allow(unused_imports)]
use invsync_config::BigCommerceConfig;
use invsync_connectors::bigcommerce::{BigCommerceConnection, ConfirmPolicy};
use invsync_connectors::http::{Backoff, Timeouts};
use invsync_connectors::{
    Catalog, Connection, ConnectorError, ErrorKind, OrderFeed, RecordRef, Reject, Write,
    WriteOutcome,
};
use invsync_core::{Field, FieldValue, ItemKind, Record};
use invsync_test_support::bigcommerce::{
    BigFake, BigOptions, BigOrder, BigOrderLine, BigProduct, BigVariant, Fault, Item,
};
use invsync_test_support::fake::{self, FakeServer};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SENTINEL_TOKEN: &str = "bc-SENTINEL-token";

fn options() -> BigOptions {
    BigOptions {
        access_token: SENTINEL_TOKEN.into(),
        ..BigOptions::default()
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn connect_with(
    fake: &BigFake,
    server: &FakeServer,
    token: &str,
    location: u64,
    confirm: ConfirmPolicy,
) -> BigCommerceConnection {
    let config = BigCommerceConfig {
        store_hash: fake.options().store_hash.clone(),
        access_token: token.to_owned().into(),
        location_id: location,
        base_url: url::Url::parse(&fake.base_url(server)).expect("url"),
        http: Default::default(),
    };
    BigCommerceConnection::with_policy(
        "big",
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
        confirm,
    )
    .expect("connection")
}

fn fast_confirm() -> ConfirmPolicy {
    ConfirmPolicy {
        first_wait: Duration::from_millis(20),
        deadline: Duration::from_secs(5),
    }
}

fn connect(fake: &BigFake, server: &FakeServer) -> BigCommerceConnection {
    connect_with(fake, server, SENTINEL_TOKEN, 1, fast_confirm())
}

fn variant(id: u64, sku: &str, price: Option<&str>, option: &str) -> BigVariant {
    BigVariant {
        id,
        sku: sku.into(),
        price: price.map(dec),
        option_values: vec![option.into()],
        ..BigVariant::default()
    }
}

/// 600 simple products tracked by product, a shirt tracked by variant, a mug with options
/// tracked by product, and a gift card without inventory tracking.
fn catalog_fake(options: BigOptions) -> BigFake {
    let fake = BigFake::new(options);
    for i in 1..=600u64 {
        fake.insert(
            BigProduct::simple(i, &format!("SKU-{i}"), dec("19.99")),
            1,
            i as i64,
        );
    }
    fake.insert(
        BigProduct {
            id: 1000,
            name: "Shirt".into(),
            sku: "SHIRT".into(),
            price: dec("25"),
            inventory_tracking: "variant".into(),
            variants: vec![
                variant(10001, "SHIRT-S", None, "S"),
                variant(10002, "SHIRT-M", Some("26.5"), "M"),
            ],
            ..BigProduct::default()
        },
        1,
        4,
    );
    fake.insert(
        BigProduct {
            id: 1001,
            name: "Mug".into(),
            sku: "MUG".into(),
            price: dec("9.5"),
            inventory_tracking: "product".into(),
            variants: vec![
                variant(10011, "MUG-RED", None, "Red"),
                variant(10012, "MUG-BLUE", None, "Blue"),
            ],
            ..BigProduct::default()
        },
        1,
        30,
    );
    let mut card = BigProduct::simple(1002, "GIFT", dec("50"));
    card.inventory_tracking = "none".into();
    fake.insert(card, 1, 0);
    fake
}

fn find<'a>(records: &'a [Record], sku: &str) -> &'a Record {
    records
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
async fn reads_every_page_with_variants_and_the_documented_kinds() {
    let fake = catalog_fake(options());
    let server = fake::serve(fake.router()).await;
    let catalog = connect(&fake, &server)
        .read_catalog()
        .await
        .expect("catalog");
    assert!(catalog.rejects.is_empty(), "{:?}", catalog.rejects);
    // 600 + shirt parent + 2 + mug parent + 2 + gift card
    assert_eq!(catalog.records.len(), 607);
    let r = find(&catalog.records, "SKU-7");
    assert_eq!(
        (r.kind, r.price, r.quantity),
        (ItemKind::Inventory, Some(dec("19.99")), Some(7))
    );
    assert_eq!(r.id, "7/70/p");
    assert_eq!(find(&catalog.records, "SHIRT").kind, ItemKind::Base);
    let s = find(&catalog.records, "SHIRT-S");
    assert_eq!(
        (s.kind, s.price, s.quantity),
        (ItemKind::Inventory, Some(dec("25")), Some(4))
    );
    assert_eq!(
        find(&catalog.records, "SHIRT-M").price,
        Some(dec("26.5")),
        "the variant's own price"
    );
    let red = find(&catalog.records, "MUG-RED");
    assert_eq!(
        (red.quantity, red.id.as_str()),
        (Some(30), "1001/10011/p"),
        "the product's stock"
    );
    let gift = find(&catalog.records, "GIFT");
    assert_eq!(
        (gift.kind, gift.price, gift.quantity),
        (ItemKind::Untracked, Some(dec("50")), None),
        "inventory_tracking none: sold without stock, its price syncs"
    );

    let calls = fake.calls();
    assert_eq!(calls.len(), 3, "604 products are 3 pages of 250");
    for c in &calls {
        assert_eq!(c.query.get("limit").map(String::as_str), Some("250"));
        assert_eq!(c.query.get("include").map(String::as_str), Some("variants"));
    }
    assert!(fake.violations().is_empty());
}

#[tokio::test]
async fn prices_go_in_calls_of_50_and_quantities_through_the_inventory_api_confirmed() {
    let mut o = options();
    o.inventory_delay = Duration::from_millis(150);
    let fake = catalog_fake(o);
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    let catalog = conn.read_catalog().await.expect("catalog");
    let mut writes = Vec::new();
    for i in 1..=120 {
        let r = find(&catalog.records, &format!("SKU-{i}"));
        writes.push(write(r, Field::Price, FieldValue::Price(dec("12.34"))));
        writes.push(write(r, Field::Quantity, FieldValue::Quantity(500 + i)));
    }
    let s = find(&catalog.records, "SHIRT-S");
    writes.push(write(s, Field::Quantity, FieldValue::Quantity(9)));
    let red = find(&catalog.records, "MUG-RED");
    writes.push(write(red, Field::Price, FieldValue::Price(dec("11"))));
    writes.push(write(red, Field::Quantity, FieldValue::Quantity(12)));
    fake.clear_calls();
    let started = Instant::now();
    let outcomes = conn.write(&writes).await.expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "waited for the adjustment to show"
    );

    let calls = fake.calls();
    let prices: Vec<usize> = calls
        .iter()
        .filter(|c| c.path == "/v3/catalog/variants")
        .map(|c| c.items)
        .collect();
    assert_eq!(prices, vec![50, 50, 21]);
    let adjustments: Vec<usize> = calls
        .iter()
        .filter(|c| c.path == "/v3/inventory/adjustments/absolute")
        .map(|c| c.items)
        .collect();
    assert_eq!(adjustments, vec![122]);
    assert!(
        calls
            .iter()
            .any(|c| c.path == "/v3/inventory/locations/1/items"),
        "read back"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let state = fake.state();
    assert_eq!(state.quantity(1, Item::Product(42)), 542);
    assert_eq!(state.quantity(1, Item::Variant(10001)), 9);
    assert_eq!(state.quantity(1, Item::Product(1001)), 12);
    assert_eq!(state.products[&42].variants[0].price, Some(dec("12.34")));
    assert_eq!(state.products[&1001].variants[0].price, Some(dec("11")));
}

#[tokio::test]
async fn a_quantity_that_never_shows_fails_its_items() {
    let mut o = options();
    o.inventory_delay = Duration::from_secs(30);
    let fake = catalog_fake(o);
    let server = fake::serve(fake.router()).await;
    let conn = connect_with(
        &fake,
        &server,
        SENTINEL_TOKEN,
        1,
        ConfirmPolicy {
            first_wait: Duration::from_millis(20),
            deadline: Duration::from_millis(300),
        },
    );
    let catalog = conn.read_catalog().await.expect("catalog");
    let outcomes = conn
        .write(&[write(
            find(&catalog.records, "SKU-1"),
            Field::Quantity,
            FieldValue::Quantity(77),
        )])
        .await
        .expect("write");
    assert!(
        matches!(&outcomes[0], WriteOutcome::Failed(m) if m.contains("still shows 1")),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn the_fake_enforces_batch_limits_and_the_real_schemas() {
    let fake = catalog_fake(options());
    let server = fake::serve(fake.router()).await;
    let client = reqwest::Client::new();
    let base = fake.base_url(&server);
    let send = |path: &str, body: Value| {
        client
            .put(format!("{base}{path}"))
            .header("X-Auth-Token", SENTINEL_TOKEN)
            .json(&body)
            .send()
    };
    let too_many: Vec<Value> = (1..=51)
        .map(|i| serde_json::json!({"id": i * 10, "price": 1}))
        .collect();
    let r = send("/v3/catalog/variants", Value::Array(too_many))
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    let items: Vec<Value> = (1..=2001)
        .map(|i| serde_json::json!({"location_id": 1, "product_id": i, "quantity": 1}))
        .collect();
    let r = send(
        "/v3/inventory/adjustments/absolute",
        serde_json::json!({"reason": "x", "items": items}),
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 413);
    let r = send(
        "/v3/catalog/variants",
        serde_json::json!([{"id": 10, "price": "1.00"}]),
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 422, "a price as a string breaks the schema");
    let r = send(
        "/v3/catalog/variants",
        serde_json::json!([{"id": 10, "inventory_level": 3}]),
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 422, "no inventory through the catalog");
    let r = send(
        "/v3/inventory/adjustments/absolute",
        serde_json::json!({"items": [{"location_id": 1, "variant_id": 10, "quantity": 1}]}),
    )
    .await
    .expect("send");
    assert_eq!(
        r.status(),
        422,
        "product-tracked stock is adjusted by product id"
    );
    let r = client
        .get(format!(
            "{base}/v3/catalog/products?include=variants&limit=251"
        ))
        .header("X-Auth-Token", SENTINEL_TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 422, "a page larger than 250");
    assert_eq!(fake.violations().len(), 2);
}

/// A store that takes fewer variants per call than documented answers 413: the write fails
/// with BigCommerce's own words and says the platform took less than it documents, and a
/// 413 is not retried.
#[tokio::test]
async fn a_413_from_the_store_fails_the_write_with_its_reason() {
    let fake = catalog_fake(BigOptions {
        variants_batch_limit: 20,
        ..options()
    });
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    let catalog = conn.read_catalog().await.expect("catalog");
    let writes: Vec<Write> = (1..=30)
        .map(|i| {
            write(
                find(&catalog.records, &format!("SKU-{i}")),
                Field::Price,
                FieldValue::Price(dec("3")),
            )
        })
        .collect();
    fake.clear_calls();
    let e = conn.write(&writes).await.expect_err("413");
    assert_eq!(e.status, Some(413));
    let text = e.to_string();
    assert!(
        text.contains("maximum items allowed in the array is 20")
            && text.contains("fewer items than it documents"),
        "{text}"
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "a 413 is not retried: {calls:?}");
    assert_eq!(calls[0].items, 30);
    assert_eq!(fake.state().products[&1].variants[0].price, None);
}

#[tokio::test]
async fn requests_are_paced_by_the_rate_limit_headers() {
    let o = BigOptions {
        quota: 4,
        window: Duration::from_millis(400),
        ..options()
    };
    let fake = catalog_fake(o);
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    let started = Instant::now();
    let catalog = conn.read_catalog().await.expect("catalog");
    let writes: Vec<Write> = (1..=200)
        .map(|i| {
            write(
                find(&catalog.records, &format!("SKU-{i}")),
                Field::Price,
                FieldValue::Price(dec("1")),
            )
        })
        .collect();
    let outcomes = conn.write(&writes).await.expect("write");
    assert!(outcomes.iter().all(|o| *o == WriteOutcome::Applied));
    let calls = fake.calls();
    let ok = calls.iter().filter(|c| c.status != 429).count();
    assert_eq!(ok, 7, "3 pages + 4 price calls");
    // 7 requests at 4 per 400 ms need one reset.
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    let throttled = calls.iter().filter(|c| c.status == 429).count();
    assert!(
        throttled <= 3,
        "the pacer waits instead of running into 429s: {throttled}"
    );
}

#[tokio::test]
async fn throttles_without_headers_and_server_errors_are_retried() {
    let fake = catalog_fake(options());
    fake.push_fault(Fault {
        status: 429,
        delay: None,
    });
    fake.push_fault(Fault {
        status: 502,
        delay: None,
    });
    fake.push_fault(Fault {
        status: 200,
        delay: Some(Duration::from_secs(3)),
    });
    let server = fake::serve(fake.router()).await;
    let catalog = connect(&fake, &server)
        .read_catalog()
        .await
        .expect("catalog after retries");
    assert_eq!(catalog.records.len(), 607);
}

#[tokio::test]
async fn refused_credentials_fail_with_a_hint_and_never_show_the_token() {
    let fake = catalog_fake(options());
    let server = fake::serve(fake.router()).await;
    let conn = connect_with(&fake, &server, "wrong-SENTINEL", 1, fast_confirm());
    let e = conn.read_catalog().await.expect_err("401");
    assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(401)));
    let text = format!("{e} {e:?}");
    assert!(text.contains("access_token"), "{text}");
    assert!(!text.contains("SENTINEL"), "{text}");
    let e = connect_with(&fake, &server, "wrong-SENTINEL", 1, fast_confirm())
        .write(&[Write {
            id: "1/10/p".into(),
            sku: "SKU-1".into(),
            field: Field::Price,
            old: FieldValue::Price(dec("19.99")),
            new: FieldValue::Price(dec("2")),
            key: "k".into(),
            sale: None,
        }])
        .await
        .expect_err("401");
    assert_eq!(e.kind, ErrorKind::Auth);
}

#[tokio::test]
async fn open_orders_are_the_unshipped_units_of_statuses_11_9_and_3() {
    // One request per order: more than the default 150 a window.
    let fake = catalog_fake(BigOptions {
        quota: 1000,
        ..options()
    });
    let line = |sku: &str, q, shipped| BigOrderLine {
        product_id: 1,
        variant_id: 10,
        sku: sku.into(),
        quantity: q,
        quantity_shipped: shipped,
    };
    {
        let mut state = fake.state();
        state.orders.push(BigOrder {
            id: 100,
            status_id: 11,
            lines: vec![line("SKU-1", 2, 0), line("", 1, 0)],
        });
        state.orders.push(BigOrder {
            id: 101,
            status_id: 9,
            lines: vec![line("SHIRT-S", 1, 0)],
        });
        state.orders.push(BigOrder {
            id: 102,
            status_id: 3,
            lines: vec![line("SKU-2", 5, 3), line("SKU-3", 1, 1)],
        });
        state.orders.push(BigOrder {
            id: 103,
            status_id: 10,
            lines: vec![line("SKU-9", 4, 0)],
        });
        for id in 200..460 {
            state.orders.push(BigOrder {
                id,
                status_id: 11,
                lines: vec![line("SKU-4", 1, 0)],
            });
        }
    }
    let server = fake::serve(fake.router()).await;
    let lines = crate::open_lines(&connect(&fake, &server))
        .await
        .expect("orders")
        .expect("some");
    let of = |sku: &str| {
        lines
            .iter()
            .filter(|l| l.sku == sku)
            .map(|l| l.quantity)
            .sum::<i64>()
    };
    assert_eq!(
        (
            of("SKU-1"),
            of("SHIRT-S"),
            of("SKU-2"),
            of("SKU-3"),
            of("SKU-9")
        ),
        (2, 1, 2, 0, 0)
    );
    assert_eq!(of("SKU-4"), 260, "two pages of status 11");
    assert!(fake.violations().is_empty());
}

#[tokio::test]
async fn another_location_is_read_and_written_through_the_inventory_api() {
    let fake = catalog_fake(options());
    {
        let mut state = fake.state();
        state.stock.insert((2, Item::Product(5)), 55);
        state.stock.insert((2, Item::Variant(10001)), 6);
    }
    let server = fake::serve(fake.router()).await;
    let conn = connect_with(&fake, &server, SENTINEL_TOKEN, 2, fast_confirm());
    let catalog = conn.read_catalog().await.expect("catalog");
    assert_eq!(find(&catalog.records, "SKU-5").quantity, Some(55));
    assert_eq!(find(&catalog.records, "SHIRT-S").quantity, Some(6));
    assert_eq!(
        find(&catalog.records, "SKU-6").quantity,
        Some(0),
        "nothing at location 2"
    );
    let outcomes = conn
        .write(&[write(
            find(&catalog.records, "SKU-5"),
            Field::Quantity,
            FieldValue::Quantity(40),
        )])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    let state = fake.state();
    assert_eq!(
        (
            state.quantity(2, Item::Product(5)),
            state.quantity(1, Item::Product(5))
        ),
        (40, 5)
    );
}

#[tokio::test]
async fn read_records_reads_products_again() {
    let fake = catalog_fake(options());
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    fake.state().stock.insert((1, Item::Product(1001)), 3);
    let fresh = conn
        .read_records(&[
            RecordRef {
                id: "1001/10012/p".into(),
                sku: "MUG-BLUE".into(),
            },
            RecordRef {
                id: "8/80/p".into(),
                sku: "SKU-8".into(),
            },
        ])
        .await
        .expect("read")
        .expect("supported");
    assert_eq!(fresh.len(), 2);
    assert_eq!(
        (fresh[0].sku.as_str(), fresh[0].quantity),
        ("MUG-BLUE", Some(3))
    );
    assert_eq!(fresh[1].quantity, Some(8));
}

mod orders;
mod sales;
