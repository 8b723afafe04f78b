//! Sales and untracked stock (issue 12): captured payloads decoded, the fake serving them,
//! and price writes that end a sale, set the sale price or meet a sale that started since
//! planning.

use super::*;
use chrono::{DateTime, TimeZone, Utc};
use invsync_connectors::testing::price_write;
use invsync_connectors::woocommerce::vendor;
use invsync_core::{Sale, SaleAction};
use invsync_test_support::woocommerce::WooSale;
use std::collections::BTreeMap;

/// A captured payload (tests/fixtures/README.md names every source).
fn fixture(name: &str) -> Value {
    invsync_connectors::testing::fixture("woocommerce", name)
}

/// The products or variations of a payload: a bare list, the WordPress.com proxy's
/// `{"data": [...]}`, or another app's `{"products": [...]}`.
fn items(payload: &Value) -> Vec<Value> {
    payload
        .as_array()
        .or_else(|| payload["data"].as_array())
        .or_else(|| payload["products"].as_array())
        .cloned()
        .expect("a list of products")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

fn price_of(payload: &Value, key: &str) -> Option<Decimal> {
    payload[key]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a decimal"))
}

/// Every product of a captured `GET /products`, decoded as `read_catalog` decodes it.
fn decode_products(name: &str) -> BTreeMap<u64, (Value, Record)> {
    items(&fixture(name))
        .into_iter()
        .map(|p| {
            let product: vendor::WooProduct = serde_json::from_value(p.clone())
                .unwrap_or_else(|e| panic!("{name}: product {}: {e}", p["id"]));
            let record = product
                .record(Utc::now())
                .unwrap_or_else(|e| panic!("{name}: product {}: {e}", p["id"]));
            (product.id, (p, record))
        })
        .collect()
}

/// What shoppers pay, as the site computed it (`price`), is what the record says they pay:
/// the sale price while a sale runs, else the regular price.
fn assert_charged_as_the_site_says(name: &str, decoded: &BTreeMap<u64, (Value, Record)>) {
    for (id, (payload, record)) in decoded {
        if record.kind != ItemKind::Base {
            assert_eq!(
                record.charged_price(),
                price_of(payload, "price"),
                "{name}: product {id}: {record:?}"
            );
        }
    }
}

fn sale(price: &str, until: Option<DateTime<Utc>>) -> Option<Box<Sale>> {
    Some(Box::new(Sale {
        price: dec(price),
        until,
    }))
}

/// woocommerce/woocommerce-ios @ 2077debb : Networking/NetworkingTests/Responses/
/// products-load-all.json — WooCommerce's own app's recorded responses.
#[test]
fn woocommerce_ios_products_decode_into_kinds_prices_and_sales() {
    let name = "woocommerce-ios-products-load-all.json";
    let decoded = decode_products(name);
    let record = |id: u64| &decoded[&id].1;
    let simple_on_sale = record(208);
    assert_eq!(
        (
            simple_on_sale.kind,
            simple_on_sale.price,
            simple_on_sale.quantity,
            simple_on_sale.sale.clone()
        ),
        (
            ItemKind::Untracked,
            Some(dec("279")),
            None,
            sale("216", None)
        ),
        "manage_stock false: sold, its price syncs; on sale at 216 with no end date"
    );
    assert_eq!(
        (record(35).kind, record(35).price, record(35).sale.clone()),
        (ItemKind::Untracked, Some(dec("207")), None)
    );
    for (id, what) in [
        (81, "grouped"),
        (37, "external: sold on another site"),
        (36, "variable parent, on_sale from its variations"),
        (282, "a plugin's booking type"),
    ] {
        assert_eq!(
            (
                record(id).kind,
                record(id).quantity,
                record(id).sale.clone()
            ),
            (ItemKind::Base, None, None),
            "{what}"
        );
    }
    assert_charged_as_the_site_says(name, &decoded);
}

/// hichamboushaba/WCStoreApp @ 59230c87 : app/src/main/java/com/hicham/wcstoreapp/data/
/// source/fake/Products.kt — a live WooCommerce.com staging shop.
#[test]
fn a_live_staging_shops_products_decode_into_kinds_prices_and_sales() {
    let name = "wcstoreapp-products.json";
    let decoded = decode_products(name);
    let record = |id: u64| &decoded[&id].1;
    assert_eq!(
        (record(52).kind, record(52).price, record(52).sale.clone()),
        (ItemKind::Untracked, Some(dec("3")), sale("2", None))
    );
    assert_eq!(
        (
            record(47).sku.as_str(),
            record(47).price,
            record(47).sale.clone()
        ),
        ("woo-hoodie-with-pocket", Some(dec("45")), sale("35", None))
    );
    let grouped = record(61);
    assert_eq!(
        (grouped.kind, grouped.sale.clone()),
        (ItemKind::Base, None),
        "a grouped product's on_sale is its children's"
    );
    assert_eq!(
        record(51).price,
        Some(dec("-1")),
        "what the shop says, even when odd"
    );
    let untracked = decoded
        .values()
        .filter(|(_, r)| r.kind == ItemKind::Untracked)
        .count();
    assert_eq!(
        untracked, 9,
        "every simple product of this shop has manage_stock false"
    );
    assert_charged_as_the_site_says(name, &decoded);
}

/// Harinze/21stCentury-task2 @ bb9d5377 : list-of-products.md — a live shop's products, all
/// on sale, none with stock management.
#[test]
fn a_live_shop_with_every_product_on_sale_decodes_with_its_sales() {
    let name = "21stcentury-task2-list-of-products.json";
    let decoded = decode_products(name);
    assert_eq!(decoded.len(), 10);
    let eggs = &decoded[&36].1;
    assert_eq!(
        (eggs.name.as_str(), eggs.kind, eggs.price, eggs.sale.clone()),
        (
            "Brown Eggs",
            ItemKind::Untracked,
            Some(dec("1300")),
            sale("1299", None)
        )
    );
    assert!(decoded.values().all(|(_, r)| r.sale.clone().is_some()));
    assert_charged_as_the_site_says(name, &decoded);
}

/// woocommerce/woocommerce-ios @ 2077debb : Networking/NetworkingTests/Responses/
/// product-variations-load-all.json — variations of a recorded shop.
#[test]
fn captured_variations_decode_an_ended_sale_as_none() {
    let name = "woocommerce-ios-product-variations-load-all.json";
    let variations = items(&fixture(name));
    // Variation 1275 keeps 16.5 in stock: fractional stock is not a whole-unit quantity, so
    // the variation is a reject (read_catalog reports it), not a guess.
    assert!(serde_json::from_value::<vendor::WooVariation>(variations[0].clone()).is_err());
    // Its prices, with the stock made whole: a dated sale (8, 15 to 27 October 2019) that has
    // ended: on_sale false, price back at the regular 12.
    let mut whole = variations[0].clone();
    whole["stock_quantity"] = json!(16);
    let v: vendor::WooVariation = serde_json::from_value(whole.clone()).expect("variation");
    let r = v.record(205, None, "Nuts", Utc::now()).expect("record");
    assert_eq!(
        (r.kind, r.price, r.quantity, r.sale.clone()),
        (ItemKind::Inventory, Some(dec("12")), Some(16), None)
    );
    // A site whose plugins drop `on_sale` is judged by the dates: on sale inside them.
    let mut no_flag = whole;
    no_flag.as_object_mut().expect("object").remove("on_sale");
    let v: vendor::WooVariation = serde_json::from_value(no_flag).expect("variation");
    assert_eq!(
        v.prices()
            .sale(at("2019-10-20T12:00:00Z"))
            .expect("sale")
            .map(Box::new),
        sale("8", Some(at("2019-10-27T21:29:59Z")))
    );
    assert_eq!(
        v.prices().sale(at("2019-10-28T00:00:00Z")).expect("sale"),
        None
    );
    // The rest: no price, no stock management: sold (untracked), with nothing to compare.
    for item in &variations[1..] {
        let v: vendor::WooVariation = serde_json::from_value(item.clone()).expect("variation");
        let r = v.record(205, None, "", Utc::now()).expect("record");
        assert_eq!(
            (r.kind, r.price, r.quantity, r.sale.clone()),
            (ItemKind::Untracked, None, None, None),
            "{item}"
        );
    }
}

/// The fake, loaded with a captured payload, serves the records the site served: same
/// kinds, prices, stock and sales.
#[tokio::test]
async fn the_fake_serves_the_captured_products_as_the_sites_did() {
    for name in [
        "woocommerce-ios-products-load-all.json",
        "wcstoreapp-products.json",
        "21stcentury-task2-list-of-products.json",
    ] {
        let decoded = decode_products(name);
        let fake = WooFake::new(options());
        for (payload, _) in decoded.values() {
            fake.insert(FakeProduct::from_payload(payload).expect("payload"));
        }
        let server = start(&fake).await;
        let catalog = connect(&server, SENTINEL_SECRET)
            .read_catalog()
            .await
            .expect("catalog");
        assert!(catalog.rejects.is_empty(), "{name}: {:?}", catalog.rejects);
        let served: BTreeMap<u64, Record> = catalog
            .records
            .into_iter()
            .map(|r| (r.id.parse().expect("a product id"), r))
            .collect();
        let expected: BTreeMap<u64, Record> =
            decoded.into_iter().map(|(id, (_, r))| (id, r)).collect();
        assert_eq!(served, expected, "{name}");
    }
}

/// A store with a sale running, a scheduled one, an ended one, untracked stock and a
/// variation on sale under a parent that does not manage stock.
fn sales_fake() -> (WooFake, DateTime<Utc>) {
    let fake = WooFake::new(options());
    let now = fake.state().clock;
    let days = chrono::Duration::days;
    fake.insert(
        FakeProduct::simple(1, "RUNNING", "10.00", 5).on_sale(WooSale {
            sale_price: "8.00".into(),
            from: Some(now - days(2)),
            to: Some(now + days(3)),
        }),
    );
    fake.insert(FakeProduct::untracked(2, "UNTRACKED", "5.00"));
    fake.insert(
        FakeProduct::simple(3, "SCHEDULED", "9.00", 1).on_sale(WooSale {
            sale_price: "6.00".into(),
            from: Some(now + days(1)),
            to: Some(now + days(5)),
        }),
    );
    fake.insert(FakeProduct::simple(4, "ENDED", "7.00", 1).on_sale(WooSale {
        sale_price: "4.00".into(),
        from: Some(now - days(5)),
        to: Some(now - days(1)),
    }));
    let mut parent = variable(
        10,
        None,
        vec![
            variation(11, "V-UNTRACKED", "12.00", VariationStock::None, None),
            variation(12, "V-OWN", "15.00", VariationStock::Own, Some(3)),
        ],
    );
    parent.variations[0].sale = WooSale::at("11.00");
    fake.insert(parent);
    (fake, now)
}

#[tokio::test]
async fn sales_are_read_as_the_site_runs_them_scheduled_and_ended_ones_are_none() {
    let (fake, now) = sales_fake();
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    assert!(catalog.rejects.is_empty(), "{:?}", catalog.rejects);
    let running = find(&catalog, "RUNNING");
    assert_eq!(
        (running.kind, running.price, running.sale.clone()),
        (
            ItemKind::Inventory,
            Some(dec("10.00")),
            sale("8.00", Some(now + chrono::Duration::days(3)))
        ),
        "held back by `hold`: shoppers pay 8.00 until the sale ends"
    );
    assert_eq!(running.charged_price(), Some(dec("8.00")));
    assert_eq!(
        find(&catalog, "SCHEDULED").sale.clone(),
        None,
        "not started"
    );
    assert_eq!(find(&catalog, "ENDED").sale.clone(), None, "ended");
    let v = find(&catalog, "V-UNTRACKED");
    assert_eq!(
        (v.kind, v.price, v.quantity, v.sale.clone(), v.id.as_str()),
        (
            ItemKind::Untracked,
            Some(dec("12.00")),
            None,
            sale("11.00", None),
            "10/11"
        )
    );

    // A day later the scheduled sale runs; a week later it has ended too.
    fake.advance_clock(Duration::from_secs(24 * 3600 + 1));
    let catalog = conn.read_catalog().await.expect("catalog");
    assert_eq!(
        find(&catalog, "SCHEDULED").sale.clone(),
        sale("6.00", Some(now + chrono::Duration::days(5)))
    );
    fake.advance_clock(Duration::from_secs(6 * 24 * 3600));
    let catalog = conn.read_catalog().await.expect("catalog");
    assert_eq!(find(&catalog, "SCHEDULED").sale.clone(), None);
    assert_eq!(find(&catalog, "RUNNING").sale.clone(), None);
}

#[tokio::test]
async fn clear_ends_the_sale_and_writes_the_regular_price() {
    let (fake, _) = sales_fake();
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    let writes = vec![
        price_write(find(&catalog, "RUNNING"), "12", Some(SaleAction::End)),
        price_write(find(&catalog, "V-UNTRACKED"), "13.5", Some(SaleAction::End)),
    ];
    let outcomes = conn.write(&writes).await.expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied; 2]);

    let (_, _, p) = fake.find_sku("RUNNING").expect("RUNNING");
    assert_eq!(
        (p.regular_price.as_str(), p.sale.clone()),
        ("12", WooSale::default()),
        "sale price and both dates cleared"
    );
    let (_, v, _) = fake.find_sku("V-UNTRACKED").expect("V-UNTRACKED");
    let v = v.expect("variation");
    assert_eq!(
        (v.regular_price.as_str(), v.sale.clone()),
        ("13.5", WooSale::default())
    );
    let batch = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST")
        .count();
    assert_eq!(batch, 2, "one batch per endpoint");

    // The next read shows the storefront price: the regular price, no sale.
    let catalog = conn.read_catalog().await.expect("catalog");
    for (sku, price) in [("RUNNING", "12"), ("V-UNTRACKED", "13.5")] {
        let r = find(&catalog, sku);
        assert_eq!(
            (r.price, r.sale.clone(), r.charged_price()),
            (Some(dec(price)), None, Some(dec(price))),
            "{sku}"
        );
    }
}

#[tokio::test]
async fn write_sets_the_sale_price_and_leaves_the_regular_price_and_dates() {
    let (fake, now) = sales_fake();
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    let running = find(&catalog, "RUNNING");
    let outcomes = conn
        .write(&[price_write(running, "7.5", Some(SaleAction::Set))])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    let (_, _, p) = fake.find_sku("RUNNING").expect("RUNNING");
    assert_eq!(
        (p.regular_price.as_str(), p.sale.clone().sale_price.as_str()),
        ("10.00", "7.5")
    );
    let again = conn.read_catalog().await.expect("catalog");
    let r = find(&again, "RUNNING");
    assert_eq!(
        (r.price, r.sale.clone()),
        (
            Some(dec("10.00")),
            sale("7.5", Some(now + chrono::Duration::days(3)))
        )
    );
}

#[tokio::test]
async fn a_price_write_is_checked_against_the_price_shoppers_pay() {
    let (fake, _) = sales_fake();
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    // Planned while no sale ran: the regular price 9.00 was compared and written …
    let scheduled = price_write(find(&catalog, "SCHEDULED"), "9.50", None);
    // … and planned to end a sale at 8.00, whose price the merchant then changed.
    let running = price_write(find(&catalog, "RUNNING"), "12", Some(SaleAction::End));
    fake.advance_clock(Duration::from_secs(24 * 3600 + 1));
    fake.state()
        .products
        .get_mut(&1)
        .expect("RUNNING")
        .sale
        .sale_price = "7.00".into();
    let outcomes = conn.write(&[scheduled, running]).await.expect("write");
    assert!(
        matches!(&outcomes[0], WriteOutcome::Stale(m) if m.contains("9.00 → 6.00")),
        "the sale started: shoppers pay 6.00 now; {outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1], WriteOutcome::Stale(m) if m.contains("8.00 → 7.00")),
        "{outcomes:?}"
    );
    assert_eq!(
        fake.calls().iter().filter(|c| c.method == "POST").count(),
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn untracked_stock_syncs_its_price_and_never_its_quantity() {
    let (fake, _) = sales_fake();
    let server = start(&fake).await;
    let conn = connect(&server, SENTINEL_SECRET);
    let catalog = conn.read_catalog().await.expect("catalog");
    let untracked = find(&catalog, "UNTRACKED");
    assert_eq!(
        (untracked.kind, untracked.price, untracked.quantity),
        (ItemKind::Untracked, Some(dec("5.00")), None)
    );
    // The planner holds untracked quantities back; were one sent anyway, it is not written.
    let quantity = Write {
        id: untracked.id.clone(),
        sku: untracked.sku.clone(),
        field: Field::Quantity,
        old: FieldValue::Quantity(0),
        new: FieldValue::Quantity(9),
        key: "k-untracked-quantity".into(),
        sale: None,
    };
    let outcomes = conn
        .write(&[
            write(untracked, Field::Price, FieldValue::Price(dec("6"))),
            quantity,
        ])
        .await
        .expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Stale(m) if m.contains("not tracked")),
        "a quantity never reaches stock WooCommerce does not keep: {outcomes:?}"
    );
    let (_, _, p) = fake.find_sku("UNTRACKED").expect("UNTRACKED");
    assert_eq!(
        (p.regular_price.as_str(), p.manage_stock, p.stock_quantity),
        ("6", false, None)
    );
}
