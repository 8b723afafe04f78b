//! The fixtures of `tests/fixtures/shopify/` (answers in the 2025-01 schema's shape, see
//! its README): checked against the schema, decoded through the connector, and served by
//! the fake; and the fake's own answers for the same kinds of listing checked the same way.

use super::*;
use compact_str::CompactString;
use invsync_test_support::shopify::{check_answer, check_bulk_line};
use serde_json::Value;

const PAGE: &str = include_str!("../../../tests/fixtures/shopify/variants_page.json");
const BULK: &str = include_str!("../../../tests/fixtures/shopify/bulk_variants.jsonl");
const BY_ID: &str = include_str!("../../../tests/fixtures/shopify/variants_by_id.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture JSON")
}

/// The kinds, prices and quantities the fixtures' variants must decode into.
fn check_fixture_records(records: &[Record]) {
    let by_sku = |sku: &str| {
        records
            .iter()
            .find(|r| r.sku == sku)
            .unwrap_or_else(|| panic!("{sku} missing"))
    };
    let expect = [
        ("MUG-STONE-1", ItemKind::Inventory, "12.50", Some(14)),
        ("GIFT-CARD-25", ItemKind::Untracked, "25.00", None),
        ("POSTER-A2", ItemKind::Untracked, "18.00", None),
        ("TEE-BLK-M", ItemKind::NotStocked, "19.99", None),
        ("GIFT-SET-1", ItemKind::Base, "39.00", None),
        ("TEE-BLK-L", ItemKind::Inventory, "19.99", Some(-2)),
    ];
    assert_eq!(records.len(), expect.len());
    for (sku, kind, price, quantity) in expect {
        let r = by_sku(sku);
        assert_eq!(
            (r.kind, r.price, r.quantity),
            (kind, Some(dec(price)), quantity),
            "{sku}"
        );
        assert_eq!(r.sale, None, "{sku}: Shopify's price is what shoppers pay");
    }
    assert_eq!(
        by_sku("TEE-BLK-M").id,
        "gid://shopify/ProductVariant/44927383470134"
    );
}

#[test]
fn the_fixtures_have_the_shape_of_the_2025_01_schema() {
    check_answer(documents::VARIANTS_PAGE, Some("VariantsPage"), &json(PAGE))
        .expect("variants_page.json");
    check_answer(
        documents::VARIANTS_BY_ID,
        Some("VariantsById"),
        &json(BY_ID),
    )
    .expect("variants_by_id.json");
    let bulk = documents::all()
        .into_iter()
        .find_map(|(name, document)| (name == "bulk_variants").then_some(document))
        .expect("the bulk query, at location gid://shopify/Location/1");
    for (i, line) in BULK.lines().enumerate() {
        check_bulk_line(&bulk, &json(line)).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
    }
    // The checker does catch a wrong shape: a null where the schema says non-null.
    let mut wrong = json(PAGE);
    wrong["productVariants"]["nodes"][0]["inventoryItem"]["tracked"] = Value::Null;
    assert!(check_answer(documents::VARIANTS_PAGE, Some("VariantsPage"), &wrong).is_err());
}

#[tokio::test]
async fn a_page_decodes_into_kinds_prices_and_quantities() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.answer_next("VariantsPage", json(PAGE));
    let shop = connect(&server, 10_000);
    let catalog = shop.read_catalog().await.expect("catalog");
    assert_eq!(catalog.rejects, Vec::<Reject>::new());
    check_fixture_records(&catalog.records);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_bulk_result_decodes_the_same() {
    let (fake, server) = start(Limits::unlimited()).await;
    // One variant, so the count (1) is above bulk_above (0) and the read is a bulk one.
    fake.add_variant("ANY", "1.00", 1);
    fake.answer_next_bulk(BULK);
    let shop = connect(&server, 0);
    let catalog = shop.read_catalog().await.expect("catalog");
    assert!(
        fake.requests().iter().any(|r| r.path.starts_with("/bulk/")),
        "read in bulk"
    );
    assert_eq!(catalog.rejects, Vec::<Reject>::new());
    check_fixture_records(&catalog.records);
}

#[tokio::test]
async fn variants_read_again_by_id_keep_their_kind_and_a_deleted_one_is_left_out() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.answer_next("VariantsById", json(BY_ID));
    let shop = connect(&server, 10_000);
    let refs: Vec<RecordRef> = [44927383470134_u64, 1, 44927383404598]
        .iter()
        .map(|n| RecordRef {
            id: format!("gid://shopify/ProductVariant/{n}").into(),
            sku: CompactString::default(),
        })
        .collect();
    let records = shop
        .read_records(&refs)
        .await
        .expect("read")
        .expect("supported");
    let kinds: Vec<(&str, ItemKind, Option<i64>)> = records
        .iter()
        .map(|r| (r.sku.as_str(), r.kind, r.quantity))
        .collect();
    assert_eq!(
        kinds,
        [
            ("TEE-BLK-M", ItemKind::NotStocked, None),
            ("GIFT-CARD-25", ItemKind::Untracked, None)
        ]
    );
}

#[tokio::test]
async fn quantities_of_untracked_unstocked_and_bundle_listings_are_refused_per_item() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.answer_next("VariantsPage", json(PAGE));
    let shop = connect(&server, 10_000);
    let catalog = shop.read_catalog().await.expect("catalog");
    let id = |sku: &str| {
        catalog
            .records
            .iter()
            .find(|r| r.sku == sku)
            .map(|r| r.id.to_string())
            .unwrap_or_else(|| panic!("{sku}"))
    };
    let from = fake.requests().len();
    let outcomes = shop
        .write(&[
            quantity_write(&id("GIFT-CARD-25"), "GIFT-CARD-25", 0, 5, 0),
            quantity_write(&id("TEE-BLK-M"), "TEE-BLK-M", 0, 5, 1),
            quantity_write(&id("GIFT-SET-1"), "GIFT-SET-1", 3, 5, 2),
        ])
        .await
        .expect("write");
    let failed = |o: &WriteOutcome, what: &str| {
        assert!(
            matches!(o, WriteOutcome::Failed(m) if m.contains(what)),
            "{o:?} should fail with {what}"
        );
    };
    failed(&outcomes[0], "stock not tracked");
    failed(&outcomes[1], "not stocked at the store's location");
    failed(&outcomes[1], "`location`");
    failed(&outcomes[2], "bundle");
    assert!(
        !fake.requests().iter().skip(from).any(|r| r
            .query
            .as_deref()
            .is_some_and(|q| q.contains("inventorySetQuantities"))),
        "nothing was sent"
    );
}

/// The fake's answer to `document` (operation `operation`) for `variables`.
async fn fake_answer(server: &FakeServer, document: &str, variables: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/admin/api/2026-04/graphql.json",
            server.base_url()
        ))
        .header("X-Shopify-Access-Token", TOKEN)
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "query": document, "variables": variables }).to_string())
        .send()
        .await
        .expect("send");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn the_fake_answers_in_the_same_shape() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("STOCKED", "12.50", 14);
    fake.add_untracked_variant("UNTRACKED", "25.00");
    fake.add_unstocked_variant("UNSTOCKED", "19.99");
    fake.add_variant("BUNDLE", "39.00", 3);
    fake.set_bundle("BUNDLE");
    let location = fake.primary_location();
    let page = fake_answer(
        &server,
        documents::VARIANTS_PAGE,
        serde_json::json!({ "first": 10, "locationId": location }),
    )
    .await;
    check_answer(documents::VARIANTS_PAGE, Some("VariantsPage"), &page).expect("fake's page");
    let unstocked = page["productVariants"]["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|v| v["sku"] == "UNSTOCKED"))
        .expect("UNSTOCKED");
    assert_eq!(unstocked["inventoryItem"]["inventoryLevel"], Value::Null);
    assert_eq!(unstocked["inventoryItem"]["tracked"], true);
    let ids: Vec<String> = ["UNSTOCKED", "UNTRACKED"]
        .iter()
        .map(|s| fake.variant(s).expect("variant").id)
        .collect();
    let by_id = fake_answer(
        &server,
        documents::VARIANTS_BY_ID,
        serde_json::json!({ "ids": ids, "locationId": location }),
    )
    .await;
    check_answer(documents::VARIANTS_BY_ID, Some("VariantsById"), &by_id).expect("fake's nodes");
}
