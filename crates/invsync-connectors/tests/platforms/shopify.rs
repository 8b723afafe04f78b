//! Contract tests: the Shopify connection over real HTTP on loopback against the fake of
//! `invsync-test-support`, which validates every document against the real schema and
//! enforces the documented limits.

#![allow(unused_imports)]
use invsync_config::ShopifyConnectionConfig;
use invsync_connectors::http::{Backoff, Timeouts};
use invsync_connectors::shopify::{ShopifyConnection, documents};
use invsync_connectors::{
    Catalog, Connection, ConnectorError, ErrorKind, OrderFeed, RecordRef, Reject, Write,
    WriteOutcome,
};
use invsync_core::{Field, FieldValue, ItemKind, Record};
use invsync_test_support::fake::FakeServer;
use invsync_test_support::shopify::{FakeShopify, Fault, Limits, ShopStatus};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TOKEN: &str = "shpat_SENTINEL-7f3a9c";

fn config(server: &FakeServer, token: &str, bulk_above: u64) -> ShopifyConnectionConfig {
    ShopifyConnectionConfig {
        shop: "example.myshopify.com".into(),
        access_token: SecretString::from(token.to_owned()),
        base_url: reqwest::Url::parse(&server.base_url()).expect("url"),
        api_version: invsync_config::DEFAULT_SHOPIFY_API_VERSION.into(),
        location: None,
        bulk_above,
        bulk_write_above: invsync_config::DEFAULT_SHOPIFY_BULK_WRITE_ABOVE,
        full_read_every: invsync_config::DEFAULT_SHOPIFY_FULL_READ_EVERY,
        http: Default::default(),
    }
}

async fn start(limits: Limits) -> (FakeShopify, FakeServer) {
    let fake = FakeShopify::new(TOKEN, limits);
    let server = fake.serve().await;
    (fake, server)
}

fn connect(server: &FakeServer, bulk_above: u64) -> ShopifyConnection {
    ShopifyConnection::new("shop", config(server, TOKEN, bulk_above)).expect("connection")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn quantity_write(id: &str, sku: &str, old: i64, new: i64, n: usize) -> Write {
    Write {
        id: id.into(),
        sku: sku.into(),
        field: Field::Quantity,
        old: FieldValue::Quantity(old),
        new: FieldValue::Quantity(new),
        key: format!("invsync-run-1-change-{n}"),
        sale: None,
    }
}

fn price_write(id: &str, sku: &str, old: &str, new: &str, n: usize) -> Write {
    Write {
        id: id.into(),
        sku: sku.into(),
        field: Field::Price,
        old: FieldValue::Price(dec(old)),
        new: FieldValue::Price(dec(new)),
        key: format!("invsync-run-1-change-{n}"),
        sale: None,
    }
}

/// Reads one variant again by id (what the engine does for a stale write).
async fn read_again(shop: &ShopifyConnection, variant: &str, sku: &str) -> Vec<Record> {
    shop.read_records(&[RecordRef {
        id: variant.into(),
        sku: sku.into(),
    }])
    .await
    .expect("re-read")
    .expect("supported")
}

/// Nothing the connector sent was invalid, every API call carried the token, and no bulk
/// download did.
fn assert_clean(fake: &FakeShopify) {
    assert_eq!(fake.invalid_documents(), Vec::<String>::new());
    for r in fake.requests() {
        if r.path.starts_with("/admin/api/") {
            assert!(r.had_token, "{} without a token", r.path);
        } else {
            assert!(!r.had_token, "the token went to {}", r.path);
        }
    }
}

#[test]
fn every_document_is_valid_against_the_real_schema() {
    for (name, document) in documents::all() {
        if let Err(e) = invsync_test_support::shopify::validate(&document) {
            panic!("{name}.graphql is not valid against the Shopify schema:\n{e}");
        }
    }
}

async fn shop_with_catalog(fake: &FakeShopify) -> Vec<invsync_test_support::shopify::VariantIds> {
    let mut ids = Vec::new();
    for i in 0..230 {
        ids.push(fake.add_variant(&format!("SKU-{i:04}"), "12.50", i));
    }
    ids.extend(fake.add_product("T-shirt", &[("TEE-S", "19.99", 3), ("TEE-M", "19.99", 4)]));
    fake.add_variant("GIFT-CARD", "25.00", 0);
    fake.set_tracked("GIFT-CARD", false);
    fake.add_variant("BUNDLE-1", "40.00", 1);
    fake.set_bundle("BUNDLE-1");
    fake.add_variant("ELSEWHERE", "5.00", 1);
    fake.unstock("ELSEWHERE");
    ids
}

fn check_catalog(catalog: &Catalog) {
    assert_eq!(catalog.records.len(), 230 + 2 + 3, "every variant");
    let by_sku = |sku: &str| {
        catalog
            .records
            .iter()
            .find(|r| r.sku == sku)
            .unwrap_or_else(|| panic!("{sku} missing"))
    };
    let tee = by_sku("TEE-M");
    assert!(tee.id.starts_with("gid://shopify/ProductVariant/"));
    assert_eq!(tee.price, Some(dec("19.99")));
    assert_eq!(tee.quantity, Some(4));
    assert_eq!(tee.kind, ItemKind::Inventory);
    assert_eq!(tee.name, "T-shirt - Variant TEE-M");
    assert_eq!(by_sku("SKU-0229").quantity, Some(229));
    let gift = by_sku("GIFT-CARD");
    assert_eq!(
        (gift.kind, gift.price, gift.quantity),
        (ItemKind::Untracked, Some(dec("25.00")), None),
        "untracked: its price syncs, it has no stock"
    );
    let bundle = by_sku("BUNDLE-1");
    assert_eq!(
        (bundle.kind, bundle.quantity),
        (ItemKind::Base, None),
        "a bundle"
    );
    let elsewhere = by_sku("ELSEWHERE");
    assert_eq!(
        (elsewhere.kind, elsewhere.price, elsewhere.quantity),
        (ItemKind::NotStocked, Some(dec("5.00")), None),
        "tracked but not stocked at the location: a listing, not a reject"
    );
    assert_eq!(catalog.rejects, Vec::<Reject>::new());
}

#[tokio::test]
async fn reads_the_catalog_in_pages_of_at_most_250() {
    let (fake, server) = start(Limits::unlimited()).await;
    shop_with_catalog(&fake).await;
    let shop = connect(&server, 10_000);
    let catalog = shop.read_catalog().await.expect("catalog");
    check_catalog(&catalog);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("VariantsPage"))
        })
        .count();
    assert_eq!(
        pages, 2,
        "235 variants: 100, then as many as fit in 1000 points (199)"
    );
    let sizes: Vec<i64> = fake
        .requests()
        .iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("VariantsPage"))
        })
        .filter_map(|r| r.variables.as_ref().and_then(|v| v["first"].as_i64()))
        .collect();
    assert_eq!(sizes, vec![100, 199]);
    assert_clean(&fake);
}

#[tokio::test]
async fn pages_shrink_when_shopify_prices_them_over_the_limit() {
    let (fake, server) = start(Limits {
        max_query_cost: 600,
        ..Limits::unlimited()
    })
    .await;
    shop_with_catalog(&fake).await;
    let shop = connect(&server, 10_000);
    let catalog = shop.read_catalog().await.expect("catalog");
    check_catalog(&catalog);
    let sizes: Vec<i64> = fake
        .requests()
        .iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("VariantsPage"))
        })
        .filter_map(|r| r.variables.as_ref().and_then(|v| v["first"].as_i64()))
        .collect();
    assert_eq!(
        sizes,
        vec![100, 199, 99, 99],
        "refused at 997 points, halved"
    );
}

#[tokio::test]
async fn reads_a_big_catalog_with_one_bulk_operation() {
    let (fake, server) = start(Limits::unlimited()).await;
    shop_with_catalog(&fake).await;
    fake.set_bulk_polls(3);
    let shop = connect(&server, 100);
    let catalog = shop.read_catalog().await.expect("catalog");
    check_catalog(&catalog);
    let requests = fake.requests();
    assert!(
        requests.iter().any(|r| r.path.starts_with("/bulk/")),
        "downloaded the JSONL result"
    );
    assert!(
        !requests.iter().any(|r| r
            .query
            .as_deref()
            .is_some_and(|q| q.contains("VariantsPage"))),
        "no paging"
    );
    assert_clean(&fake);
}

#[tokio::test]
async fn open_orders_are_the_unfulfilled_units_of_open_orders() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("MUG", "9.00", 10);
    fake.add_variant("CAP", "15.00", 10);
    fake.add_order(&[("MUG", 2, 2), ("CAP", 3, 1)], false, false);
    fake.add_order(&[("MUG", 5, 0)], false, false); // fulfilled
    fake.add_order(&[("MUG", 7, 7)], true, false); // closed
    fake.add_order(&[("CAP", 4, 4)], false, true); // cancelled
    // More line items than the first page holds.
    let many: Vec<(String, i64, i64)> = (0..45).map(|i| (format!("L-{i}"), 1, 1)).collect();
    let many_ref: Vec<(&str, i64, i64)> =
        many.iter().map(|(s, a, b)| (s.as_str(), *a, *b)).collect();
    fake.add_order(&many_ref, false, false);
    let shop = connect(&server, 10_000);
    let lines = crate::open_lines(&shop)
        .await
        .expect("orders")
        .expect("a Shopify store has orders");
    let mug: Vec<_> = lines.iter().filter(|l| l.sku == "MUG").collect();
    assert_eq!(mug.len(), 1);
    assert_eq!(mug[0].quantity, 2);
    assert_eq!(mug[0].store, "shop");
    assert_eq!(mug[0].order, "#1001");
    let cap: i64 = lines
        .iter()
        .filter(|l| l.sku == "CAP")
        .map(|l| l.quantity)
        .sum();
    assert_eq!(cap, 1, "the unfulfilled unit of the open order only");
    assert_eq!(lines.iter().filter(|l| l.sku.starts_with("L-")).count(), 45);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_sale_between_read_and_write_is_never_overwritten() {
    let (fake, server) = start(Limits::unlimited()).await;
    let a = fake.add_variant("A", "1.00", 10);
    let b = fake.add_variant("B", "1.00", 10);
    let c = fake.add_variant("C", "1.00", 10);
    let shop = connect(&server, 10_000);
    shop.read_catalog().await.expect("catalog");
    fake.sell_before_next_write("B", 3);
    let writes = [
        quantity_write(&a.variant, "A", 10, 20, 0),
        quantity_write(&b.variant, "B", 10, 20, 1),
        quantity_write(&c.variant, "C", 10, 20, 2),
    ];
    let outcomes = shop.write(&writes).await.expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Stale(m) if m.contains("no longer 10")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2], WriteOutcome::Applied);
    assert_eq!(fake.variant("A").expect("A").available, 20);
    assert_eq!(
        fake.variant("B").expect("B").available,
        7,
        "the sale stands"
    );
    assert_eq!(fake.variant("C").expect("C").available, 20);

    // Re-reading the stale record gives the engine the fresh value.
    let fresh = read_again(&shop, &b.variant, "B").await;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].quantity, Some(7));
    let lines = crate::open_lines(&shop)
        .await
        .expect("orders")
        .expect("some");
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].sku.as_str(), lines[0].quantity), ("B", 3));

    // Every quantity carried changeFromQuantity and the call an idempotency key.
    let sets: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("SetQuantities"))
        })
        .collect();
    assert_eq!(sets.len(), 2, "the batch, then the batch without B");
    for r in &sets {
        let vars = r.variables.as_ref().expect("variables");
        assert!(
            vars["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("invsync-run-1-change-"))
        );
        for q in vars["input"]["quantities"].as_array().expect("quantities") {
            assert_eq!(q["changeFromQuantity"], 10);
        }
    }
    assert_ne!(
        sets[0].variables.as_ref().expect("v")["key"],
        sets[1].variables.as_ref().expect("v")["key"]
    );
    assert_clean(&fake);
}

#[tokio::test]
async fn before_2026_01_quantities_compare_with_compare_quantity() {
    let (fake, server) = start(Limits::unlimited()).await;
    let a = fake.add_variant("A", "1.00", 10);
    let b = fake.add_variant("B", "1.00", 10);
    let mut cfg = config(&server, TOKEN, 10_000);
    cfg.api_version = "2025-10".into();
    let shop = ShopifyConnection::new("shop", cfg).expect("connection");
    shop.read_catalog().await.expect("catalog");
    fake.sell_before_next_write("B", 2);
    let writes = [
        quantity_write(&a.variant, "A", 10, 15, 0),
        quantity_write(&b.variant, "B", 10, 15, 1),
    ];
    let outcomes = shop.write(&writes).await.expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(outcomes[1], WriteOutcome::Stale(_)),
        "{outcomes:?}"
    );
    assert_eq!(
        fake.variant("B").expect("B").available,
        8,
        "the sale stands"
    );
    // A replay of an applied call (a lost answer): the compare fails, nothing applies twice.
    let again = shop.write(&writes[..1]).await.expect("again");
    assert!(matches!(again[0], WriteOutcome::Stale(_)), "{again:?}");
    assert_eq!(fake.variant("A").expect("A").available, 15);
    for r in fake.requests() {
        assert!(r.path.contains("/2025-10/"), "{}", r.path);
        if let Some(q) = r
            .query
            .as_deref()
            .filter(|q| q.contains("inventorySetQuantities"))
        {
            assert!(!q.contains("@idempotent"), "no directive before 2026-01");
            let vars = r.variables.as_ref().expect("variables");
            for q in vars["input"]["quantities"].as_array().expect("quantities") {
                assert!(q.get("changeFromQuantity").is_none());
                assert!(q["compareQuantity"].is_i64());
            }
        }
    }
    assert_clean(&fake);
}

#[tokio::test]
async fn a_retried_write_replays_instead_of_applying_twice() {
    let (fake, server) = start(Limits::unlimited()).await;
    let a = fake.add_variant("A", "1.00", 10);
    let shop = connect(&server, 10_000);
    shop.read_catalog().await.expect("catalog");
    let writes = [quantity_write(&a.variant, "A", 10, 4, 0)];
    assert_eq!(
        shop.write(&writes).await.expect("write"),
        vec![WriteOutcome::Applied]
    );
    // The same call again (a retry after a lost answer): without the key it would be
    // stale (the quantity is 4 now); with it Shopify returns the first result.
    assert_eq!(
        shop.write(&writes).await.expect("replay"),
        vec![WriteOutcome::Applied]
    );
    assert_eq!(fake.variant("A").expect("A").available, 4);
    assert_clean(&fake);
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_idempotency_key() {
    let (fake, server) = start(Limits::unlimited()).await;
    let a = fake.add_variant("A", "1.00", 10);
    let mut shop = connect(&server, 10_000);
    shop.set_backoff(invsync_connectors::http::Backoff {
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
        attempts: 4,
    });
    shop.read_catalog().await.expect("catalog");
    for _ in 0..2 {
        fake.inject_fault(Fault {
            status: 503,
            body: "{\"errors\":\"Service Unavailable\"}".into(),
            retry_after: None,
        });
    }
    let writes = [quantity_write(&a.variant, "A", 10, 12, 0)];
    assert_eq!(
        shop.write(&writes).await.expect("write"),
        vec![WriteOutcome::Applied]
    );
    assert_eq!(fake.variant("A").expect("A").available, 12);
}

#[tokio::test]
async fn a_call_still_running_under_the_same_key_is_waited_for_and_replayed() {
    let (fake, server) = start(Limits::unlimited()).await;
    let a = fake.add_variant("A", "1.00", 10);
    let shop = connect(&server, 10_000);
    shop.read_catalog().await.expect("catalog");
    fake.inject_fault(Fault {
        status: 200,
        body: r#"{"data":{"inventorySetQuantities":{"inventoryAdjustmentGroup":null,"userErrors":[{"code":"IDEMPOTENCY_CONCURRENT_REQUEST","field":null,"message":"A request with this idempotency key is currently being processed."}]}}}"#.into(),
        retry_after: None,
    });
    let writes = [quantity_write(&a.variant, "A", 10, 6, 0)];
    assert_eq!(
        shop.write(&writes).await.expect("write"),
        vec![WriteOutcome::Applied]
    );
    assert_eq!(fake.variant("A").expect("A").available, 6);
    let keys: Vec<_> = fake
        .requests()
        .into_iter()
        .filter_map(|r| r.variables.and_then(|v| v.get("key").cloned()))
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the same key again");
}

#[tokio::test]
async fn prices_are_written_per_product_as_decimal_strings() {
    let (fake, server) = start(Limits::unlimited()).await;
    let tee = fake.add_product("T-shirt", &[("TEE-S", "19.99", 3), ("TEE-M", "19.99", 4)]);
    let mug = fake.add_variant("MUG", "9.00", 1);
    let shop = connect(&server, 10_000);
    shop.read_catalog().await.expect("catalog");
    let writes = [
        price_write(&tee[0].variant, "TEE-S", "19.99", "21.10", 0),
        price_write(&mug.variant, "MUG", "9.00", "-1.00", 1),
        price_write(&tee[1].variant, "TEE-M", "19.99", "0.30", 2),
    ];
    let outcomes = shop.write(&writes).await.expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Failed(m) if m.contains("NEGATIVE_PRICE_VALUE")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2], WriteOutcome::Applied);
    assert_eq!(fake.variant("TEE-S").expect("v").price, dec("21.10"));
    assert_eq!(fake.variant("TEE-M").expect("v").price, dec("0.30"));
    assert_eq!(fake.variant("MUG").expect("v").price, dec("9.00"));
    let calls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.query.as_deref().is_some_and(|q| q.contains("SetPrices")))
        .collect();
    assert_eq!(calls.len(), 2, "one call per product");
    let first = calls[0].variables.as_ref().expect("variables");
    assert_eq!(
        first["variants"][0]["price"], "21.10",
        "a string, never a float"
    );
    assert_clean(&fake);
}

#[tokio::test]
async fn prices_of_untracked_and_unstocked_variants_are_written() {
    let (fake, server) = start(Limits::unlimited()).await;
    let gift = fake.add_untracked_variant("GIFT", "25.00");
    let elsewhere = fake.add_unstocked_variant("ELSEWHERE", "5.00");
    let shop = connect(&server, 10_000);
    let catalog = shop.read_catalog().await.expect("catalog");
    let kinds: Vec<ItemKind> = catalog.records.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [ItemKind::Untracked, ItemKind::NotStocked]);
    let outcomes = shop
        .write(&[
            price_write(&gift.variant, "GIFT", "25.00", "27.50", 0),
            price_write(&elsewhere.variant, "ELSEWHERE", "5.00", "5.25", 1),
        ])
        .await
        .expect("write");
    assert_eq!(outcomes, [WriteOutcome::Applied, WriteOutcome::Applied]);
    assert_eq!(fake.variant("GIFT").expect("v").price, dec("27.50"));
    assert_eq!(fake.variant("ELSEWHERE").expect("v").price, dec("5.25"));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_variant_unstocked_between_read_and_write_is_stale_and_reads_back_not_stocked() {
    let (fake, server) = start(Limits::unlimited()).await;
    let a = fake.add_variant("A", "1.00", 10);
    let b = fake.add_variant("B", "1.00", 10);
    let shop = connect(&server, 10_000);
    shop.read_catalog().await.expect("catalog");
    // Someone removes B from the location after invsync read it.
    fake.unstock("B");
    let outcomes = shop
        .write(&[
            quantity_write(&a.variant, "A", 10, 12, 0),
            quantity_write(&b.variant, "B", 10, 12, 1),
        ])
        .await
        .expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Stale(m) if m.contains("no longer stocked")),
        "{outcomes:?}"
    );
    assert!(!fake.variant("B").expect("B").stocked);
    // The engine reads it again: the fresh record holds its quantity back.
    let fresh = read_again(&shop, &b.variant, "B").await;
    assert_eq!(
        fresh
            .iter()
            .map(|r| (r.kind, r.quantity))
            .collect::<Vec<_>>(),
        [(ItemKind::NotStocked, None)]
    );
    // A write sent after that fresh read is refused before it reaches Shopify.
    let outcomes = shop
        .write(&[quantity_write(&b.variant, "B", 10, 12, 2)])
        .await
        .expect("write");
    assert!(
        matches!(&outcomes[0], WriteOutcome::Failed(m) if m.contains("change the store's `location`")),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_full_batch_is_one_call_of_250() {
    let (fake, server) = start(Limits::unlimited()).await;
    let ids: Vec<_> = (0..250)
        .map(|i| fake.add_variant(&format!("S-{i}"), "1.00", 1))
        .collect();
    let shop = connect(&server, 10_000);
    assert_eq!(shop.write_batch_size(), 250);
    shop.read_catalog().await.expect("catalog");
    let writes: Vec<Write> = ids
        .iter()
        .enumerate()
        .map(|(i, v)| quantity_write(&v.variant, &format!("S-{i}"), 1, 5, i))
        .collect();
    let outcomes = shop.write(&writes).await.expect("write");
    assert!(outcomes.iter().all(|o| *o == WriteOutcome::Applied));
    assert_eq!(fake.variant("S-249").expect("v").available, 5);
    assert_clean(&fake);
}

#[tokio::test]
async fn the_client_keeps_within_the_cost_bucket() {
    // Bucket 1000, 2000 points/s: 12 pages of 502 points need the bucket to refill.
    let (fake, server) = start(Limits {
        bucket: 1000.0,
        restore_rate: 2000.0,
        max_query_cost: 1000,
        throttle_status: 200,
    })
    .await;
    for i in 0..1150 {
        fake.add_variant(&format!("S-{i}"), "1.00", 1);
    }
    let shop = connect(&server, 10_000);
    let catalog = shop.read_catalog().await.expect("catalog");
    assert_eq!(catalog.records.len(), 1150);
    let stats = fake.stats();
    assert!(stats.throttled <= 1, "paced by throttleStatus: {stats:?}");
    assert_clean(&fake);
}

#[tokio::test]
async fn throttled_answers_are_waited_out_200_or_429() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("A", "1.00", 1);
    let throttled = r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":502,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":490,"restoreRate":1000.0}}}}"#;
    fake.inject_fault(Fault {
        status: 200,
        body: throttled.into(),
        retry_after: None,
    });
    fake.inject_fault(Fault {
        status: 429,
        body: throttled.into(),
        retry_after: Some("0.05".into()),
    });
    let shop = connect(&server, 10_000);
    let catalog = shop.read_catalog().await.expect("catalog");
    assert_eq!(catalog.records.len(), 1);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..2], &[200, 429]);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error_that_says_what_to_do_and_never_shows_the_token() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("A", "1.00", 1);
    let wrong = "shpat_WRONG-SENTINEL-123";
    let shop = ShopifyConnection::new("shop", config(&server, wrong, 10_000)).expect("connection");
    let e = shop.read_catalog().await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.status, Some(401));
    let text = e.to_string();
    assert!(
        text.contains("access_token") && text.contains("Develop apps"),
        "{text}"
    );
    assert!(!text.contains("SENTINEL"), "{text}");
}

#[tokio::test]
async fn frozen_and_locked_shops_say_what_the_owner_must_do() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("A", "1.00", 1);
    let shop = connect(&server, 10_000);
    fake.set_status(ShopStatus::Frozen);
    let e = shop.read_catalog().await.expect_err("frozen");
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Auth, Some(402), false)
    );
    assert!(
        e.message.contains("frozen") && e.message.contains("pay"),
        "{e}"
    );
    fake.set_status(ShopStatus::Locked);
    let e = shop.read_catalog().await.expect_err("locked");
    assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(423)));
    assert!(
        e.message.contains("locked") && e.message.contains("Shopify support"),
        "{e}"
    );
}

#[tokio::test]
async fn the_token_never_reaches_logs_or_errors() {
    use std::sync::{Arc, Mutex as StdMutex};
    #[derive(Clone, Default)]
    struct Buffer(Arc<StdMutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (fake, server) = start(Limits::unlimited()).await;
    let a = fake.add_variant("A", "1.00", 1);
    fake.inject_fault(Fault {
        status: 500,
        body: "{}".into(),
        retry_after: None,
    });
    let mut shop = connect(&server, 0);
    shop.set_backoff(invsync_connectors::http::Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
        attempts: 3,
    });
    shop.read_catalog().await.expect("catalog");
    fake.sell_before_next_write("A", 1);
    let outcomes = shop
        .write(&[
            quantity_write(&a.variant, "A", 1, 3, 0),
            price_write(&a.variant, "A", "1.00", "-2", 1),
        ])
        .await
        .expect("write");
    fake.set_status(ShopStatus::Locked);
    let e = crate::open_lines(&shop).await.expect_err("locked");
    let logs = String::from_utf8(buffer.0.lock().expect("logs").clone()).expect("utf-8");
    assert!(!logs.is_empty(), "debug logs were captured");
    for text in [
        logs,
        format!("{outcomes:?}"),
        format!("{e:?}"),
        e.to_string(),
    ] {
        assert!(!text.contains("SENTINEL"), "the token leaked: {text}");
    }
}

mod bulk_writes;
mod catalog;
mod fixtures;
mod orders;
