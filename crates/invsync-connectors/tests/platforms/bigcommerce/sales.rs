//! Sale prices and untracked inventory (issue 12): captured payloads decoded, the fake
//! serving them, and price writes that end a sale or set the sale price.

use super::*;
use invsync_connectors::bigcommerce::testing::{records_of, variant_of};
use invsync_connectors::testing::price_write;
use invsync_core::{Sale, SaleAction};
use std::collections::BTreeMap;

/// A captured payload (tests/fixtures/README.md names every source).
fn fixture(name: &str) -> Value {
    invsync_connectors::testing::fixture("bigcommerce", name)
}

/// The product of a captured payload: `{"data": {...}}` or the product itself.
fn product_of(payload: &Value) -> Value {
    if payload["data"].is_object() {
        payload["data"].clone()
    } else {
        payload.clone()
    }
}

fn decode(product: &Value) -> Vec<Record> {
    records_of(product).expect("records")
}

fn sale(price: &str) -> Option<Box<Sale>> {
    Some(Box::new(Sale {
        price: dec(price),
        until: None,
    }))
}

/// What the storefront charges (`calculated_price`) is what each sold record says shoppers
/// pay.
fn assert_charged_as_the_store_says(product: &Value, records: &[Record]) {
    let calculated: BTreeMap<u64, Decimal> = product["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().expect("id"),
                v["calculated_price"].to_string().parse().expect("a price"),
            )
        })
        .collect();
    for r in records.iter().filter(|r| r.kind != ItemKind::Base) {
        let variant = variant_of(&r.id).expect("a variant record");
        assert_eq!(r.charged_price(), Some(calculated[&variant]), "{}", r.sku);
    }
}

/// Truinc/beerstore-admin-oms-api @ abd78464 : src/component/serverOrder/
/// server-order.service.ts — a live store's product: every variant's sale price equals its
/// price (issue 12: `price` 3.35, `sale_price` 3.35).
#[test]
fn a_live_stores_variants_are_on_sale_at_their_sale_price_even_when_it_equals_the_price() {
    let product = product_of(&fixture("beerstore-product-2979965.json"));
    let records = decode(&product);
    assert_eq!(records.len(), 6, "the parent and five variants");
    assert_eq!(
        (
            records[0].sku.as_str(),
            records[0].kind,
            records[0].sale.clone()
        ),
        ("1712_2410", ItemKind::Base, None)
    );
    let can = find(&records, "3142004_2410");
    assert_eq!(
        (can.kind, can.price, can.quantity, can.sale.clone()),
        (
            ItemKind::Inventory,
            Some(dec("3.35")),
            Some(126),
            sale("3.35")
        ),
        "writing `price` alone leaves shoppers at the sale price 3.35"
    );
    assert_eq!(can.id, "2979965/13879107/v");
    assert!(records[1..].iter().all(|r| r.sale.clone().is_some()));
    assert_charged_as_the_store_says(&product, &records);
}

/// isabella232/template-bigcommerce @ 2f74fab7 : tests/__mocks__/product.mock.ts — a product
/// of BigCommerce's sample catalog without inventory tracking.
#[test]
fn a_sample_product_without_inventory_tracking_is_sold_at_its_inherited_price() {
    let product = product_of(&fixture("template-bigcommerce-product-77.json"));
    let records = decode(&product);
    assert_eq!(records.len(), 46, "the parent and 45 variants");
    assert_eq!(
        (records[0].kind, records[0].price),
        (ItemKind::Base, Some(dec("49")))
    );
    for r in &records[1..] {
        assert_eq!(
            (r.kind, r.price, r.quantity, r.sale.clone()),
            (ItemKind::Untracked, Some(dec("49")), None, None),
            "{}: price and sale price null inherit the product's 49 and 0",
            r.sku
        );
    }
    assert_charged_as_the_store_says(&product, &records);
}

#[tokio::test]
async fn the_fake_serves_the_captured_products_as_the_store_did() {
    let fake = BigFake::new(options());
    let mut expected = Vec::new();
    for name in [
        "beerstore-product-2979965.json",
        "template-bigcommerce-product-77.json",
    ] {
        let product = product_of(&fixture(name));
        fake.insert_payload(&product).expect(name);
        expected.extend(decode(&product));
    }
    let server = fake::serve(fake.router()).await;
    let catalog = connect(&fake, &server)
        .read_catalog()
        .await
        .expect("catalog");
    assert!(catalog.rejects.is_empty(), "{:?}", catalog.rejects);
    let by_id = |records: Vec<Record>| -> BTreeMap<String, Record> {
        records.into_iter().map(|r| (r.id.to_string(), r)).collect()
    };
    assert_eq!(by_id(catalog.records), by_id(expected));
}

/// A product on sale as a whole (its variants inherit the sale), a variant with a sale of
/// its own, the shape (sale price = price) and a product without tracking.
fn sales_fake() -> BigFake {
    let fake = BigFake::new(options());
    let mut shirt = BigProduct {
        id: 1,
        name: "Shirt".into(),
        sku: "SHIRT".into(),
        price: dec("25"),
        sale_price: dec("20"),
        inventory_tracking: "variant".into(),
        variants: vec![
            variant(11, "SHIRT-S", None, "S"),
            variant(12, "SHIRT-M", Some("26"), "M"),
        ],
    };
    shirt.variants[1].sale_price = Some(dec("21.5"));
    fake.insert(shirt, 1, 4);
    let mut can = BigProduct::simple(2, "CAN", dec("3.35"));
    can.variants[0].price = Some(dec("3.35"));
    can.variants[0].sale_price = Some(dec("3.35"));
    fake.insert(can, 1, 126);
    let mut card = BigProduct::simple(3, "CARD", dec("50"));
    card.inventory_tracking = "none".into();
    fake.insert(card, 1, 0);
    fake
}

/// What the storefront charges for a variant now, as the fake computes `calculated_price`.
fn calculated(fake: &BigFake, product: u64, variant: u64) -> Decimal {
    let state = fake.state();
    let p = &state.products[&product];
    let v = p
        .variants
        .iter()
        .find(|v| v.id == variant)
        .expect("variant");
    p.calculated_price(v)
}

#[tokio::test]
async fn sales_are_read_from_the_variant_or_the_product() {
    let fake = sales_fake();
    let server = fake::serve(fake.router()).await;
    let catalog = connect(&fake, &server)
        .read_catalog()
        .await
        .expect("catalog");
    let s = find(&catalog.records, "SHIRT-S");
    assert_eq!(
        (s.price, s.sale.clone()),
        (Some(dec("25")), sale("20")),
        "the product's sale"
    );
    let m = find(&catalog.records, "SHIRT-M");
    assert_eq!(
        (m.price, m.sale.clone()),
        (Some(dec("26")), sale("21.5")),
        "its own"
    );
    let can = find(&catalog.records, "CAN");
    assert_eq!(
        (can.price, can.sale.clone()),
        (Some(dec("3.35")), sale("3.35"))
    );
    let card = find(&catalog.records, "CARD");
    assert_eq!(
        (card.kind, card.price, card.quantity, card.sale.clone()),
        (ItemKind::Untracked, Some(dec("50")), None, None)
    );
}

/// The failure: writing `price` alone to a variant on sale is accepted and changes
/// nothing shoppers pay, so the listing must never read as synced afterwards.
#[tokio::test]
async fn a_price_written_under_a_running_sale_leaves_the_storefront_price() {
    let fake = sales_fake();
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    let catalog = conn.read_catalog().await.expect("catalog");
    let can = find(&catalog.records, "CAN");
    let outcomes = conn
        .write(&[price_write(can, "3.6", None)])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    assert_eq!(calculated(&fake, 2, 20), dec("3.35"));
    let again = conn.read_catalog().await.expect("catalog");
    let can = find(&again.records, "CAN");
    assert_eq!(
        (can.price, can.charged_price()),
        (Some(dec("3.6")), Some(dec("3.35"))),
        "the next read still shows shoppers paying 3.35"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn clear_writes_the_price_and_a_sale_price_of_0() {
    let fake = sales_fake();
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    let catalog = conn.read_catalog().await.expect("catalog");
    let writes = vec![
        price_write(find(&catalog.records, "CAN"), "3.6", Some(SaleAction::End)),
        // An inherited sale ends for this variant only: the product keeps its sale price.
        price_write(
            find(&catalog.records, "SHIRT-S"),
            "24",
            Some(SaleAction::End),
        ),
    ];
    let outcomes = conn.write(&writes).await.expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied; 2]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    assert_eq!(calculated(&fake, 2, 20), dec("3.6"));
    assert_eq!(calculated(&fake, 1, 11), dec("24"));
    {
        let state = fake.state();
        let can = &state.products[&2].variants[0];
        assert_eq!(
            (can.price, can.sale_price),
            (Some(dec("3.6")), Some(Decimal::ZERO))
        );
        assert_eq!(state.products[&1].sale_price, dec("20"));
    }
    let again = conn.read_catalog().await.expect("catalog");
    for (sku, price) in [("CAN", "3.6"), ("SHIRT-S", "24")] {
        let r = find(&again.records, sku);
        assert_eq!(
            (r.price, r.sale.clone(), r.charged_price()),
            (Some(dec(price)), None, Some(dec(price))),
            "{sku}"
        );
    }
    assert_eq!(find(&again.records, "SHIRT-M").sale.clone(), sale("21.5"));
}

#[tokio::test]
async fn write_sets_the_sale_price_and_leaves_the_price() {
    let fake = sales_fake();
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    let catalog = conn.read_catalog().await.expect("catalog");
    let outcomes = conn
        .write(&[price_write(
            find(&catalog.records, "SHIRT-M"),
            "19.99",
            Some(SaleAction::Set),
        )])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let again = conn.read_catalog().await.expect("catalog");
    let m = find(&again.records, "SHIRT-M");
    assert_eq!((m.price, m.sale.clone()), (Some(dec("26")), sale("19.99")));
    assert_eq!(calculated(&fake, 1, 12), dec("19.99"));
}

#[tokio::test]
async fn untracked_inventory_syncs_its_price_and_never_its_quantity() {
    let fake = sales_fake();
    let server = fake::serve(fake.router()).await;
    let conn = connect(&fake, &server);
    let catalog = conn.read_catalog().await.expect("catalog");
    let card = find(&catalog.records, "CARD");
    let quantity = Write {
        id: card.id.clone(),
        sku: card.sku.clone(),
        field: Field::Quantity,
        old: FieldValue::Quantity(0),
        new: FieldValue::Quantity(5),
        key: "k-card-quantity".into(),
        sale: None,
    };
    let outcomes = conn
        .write(&[
            write(card, Field::Price, FieldValue::Price(dec("45"))),
            quantity,
        ])
        .await
        .expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Failed(m) if m.contains("refused")),
        "BigCommerce keeps no stock for it: {outcomes:?}"
    );
    let state = fake.state();
    assert_eq!(state.products[&3].variants[0].price, Some(dec("45")));
    assert_eq!(state.quantity(1, Item::Product(3)), 0);
    assert_eq!(state.quantity(1, Item::Variant(30)), 0);
}
