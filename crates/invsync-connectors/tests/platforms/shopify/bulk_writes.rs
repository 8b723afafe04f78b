//! Prices above `bulk_write_above` as one bulk mutation (issue 17, ADR 0110): staged upload,
//! `bulkOperationRunMutation`, a result line per product; operations that fail, are
//! cancelled, expire or outlive the run; one bulk mutation per shop before 2026-01.

use super::*;
use invsync_test_support::shopify::{BulkEnding, VariantIds};

/// A connection on API version 2025-01 (one bulk mutation per shop at a time) that writes
/// more than `above` prices in bulk and waits `wait` for the operation.
fn bulk_connect(server: &FakeServer, above: u64, wait: Duration) -> ShopifyConnection {
    let mut c = config(server, TOKEN, 10_000);
    c.api_version = "2025-01".into();
    c.bulk_write_above = above;
    ShopifyConnection::new("shop", c)
        .expect("connection")
        .with_bulk_write_wait(wait)
}

/// Four products: one with two variants (`A-1`, `A-2`), then `B`, `C`, all at 1.00.
fn catalog(fake: &FakeShopify) -> Vec<VariantIds> {
    let mut ids = fake.add_product("A", &[("A-1", "1.00", 1), ("A-2", "1.00", 1)]);
    ids.push(fake.add_variant("B", "1.00", 1));
    ids.push(fake.add_variant("C", "1.00", 1));
    ids
}

fn raise(ids: &[VariantIds]) -> Vec<Write> {
    ["A-1", "A-2", "B", "C"]
        .iter()
        .zip(ids)
        .enumerate()
        .map(|(n, (sku, v))| price_write(&v.variant, sku, "1.00", "2.50", n))
        .collect()
}

fn per_call_price_requests(fake: &FakeShopify) -> usize {
    fake.requests()
        .iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("mutation SetPrices"))
        })
        .count()
}

#[tokio::test]
async fn prices_above_the_threshold_go_as_one_bulk_mutation_with_an_outcome_per_line() {
    let (fake, server) = start(Limits::standard()).await;
    let ids = catalog(&fake);
    let shop = bulk_connect(&server, 3, Duration::from_secs(30));
    shop.read_catalog().await.expect("catalog");
    assert_eq!(
        shop.write_batch_size_for(Field::Price, 4),
        4,
        "all in one batch"
    );
    assert_eq!(
        shop.write_batch_size_for(Field::Price, 3),
        250,
        "at the threshold: per call"
    );
    assert_eq!(shop.write_batch_size_for(Field::Quantity, 4_000), 250);
    let mut writes = raise(&ids);
    writes[2] = price_write(&ids[2].variant, "B", "1.00", "-1.00", 2);
    let spent = fake.stats().points_spent;
    let outcomes = shop.write(&writes).await.expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert_eq!(outcomes[1], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[2], WriteOutcome::Failed(m) if m.contains("NEGATIVE_PRICE_VALUE")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[3], WriteOutcome::Applied);
    assert_eq!(fake.variant("A-2").expect("v").price, dec("2.50"));
    assert_eq!(fake.variant("B").expect("v").price, dec("1.00"));
    assert_eq!(per_call_price_requests(&fake), 0, "no per-product calls");
    let ops = fake.bulk_mutations();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].lines, 3, "one line per product");
    assert!(
        ops[0]
            .client_identifier
            .as_deref()
            .is_some_and(|c| c.starts_with("invsync-prices:invsync-run-1-change-0+4-")),
        "named by the batch's write keys: {ops:?}"
    );
    let uploads: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/staged-uploads")
        .collect();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].status, 201);
    // Stage, run and a few polls: a handful of points, not ~11 a product.
    assert!(
        fake.stats().points_spent - spent < 60.0,
        "{}",
        fake.stats().points_spent - spent
    );
    assert_clean(&fake);
}

#[tokio::test]
async fn at_or_below_the_threshold_prices_go_one_call_per_product() {
    let (fake, server) = start(Limits::unlimited()).await;
    let ids = catalog(&fake);
    let shop = bulk_connect(&server, 4, Duration::from_secs(30));
    shop.read_catalog().await.expect("catalog");
    let outcomes = shop.write(&raise(&ids)).await.expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );
    assert_eq!(per_call_price_requests(&fake), 3);
    assert!(fake.bulk_mutations().is_empty());
    assert_clean(&fake);
}

#[tokio::test]
async fn a_failed_or_cancelled_bulk_write_fails_what_its_partial_data_does_not_confirm() {
    for (ending, status) in [
        (
            BulkEnding::Fail {
                after_lines: 1,
                code: "TIMEOUT",
            },
            "FAILED (TIMEOUT)",
        ),
        (BulkEnding::Cancel { after_lines: 1 }, "CANCELED"),
    ] {
        let (fake, server) = start(Limits::unlimited()).await;
        let ids = catalog(&fake);
        let shop = bulk_connect(&server, 0, Duration::from_secs(30));
        shop.read_catalog().await.expect("catalog");
        fake.end_next_bulk_mutation(ending);
        let outcomes = shop.write(&raise(&ids)).await.expect("write");
        assert_eq!(
            outcomes[0],
            WriteOutcome::Applied,
            "line 0 is in the partial data"
        );
        assert_eq!(outcomes[1], WriteOutcome::Applied);
        for o in &outcomes[2..] {
            assert!(
                matches!(o, WriteOutcome::Failed(m) if m.contains(status) && m.contains("next run")),
                "{status}: {outcomes:?}"
            );
        }
        assert_eq!(fake.variant("B").expect("v").price, dec("1.00"));
        assert_clean(&fake);
    }
}

#[tokio::test]
async fn nothing_is_reported_updated_that_no_result_file_confirms() {
    let (fake, server) = start(Limits::unlimited()).await;
    let ids = catalog(&fake);
    let shop = bulk_connect(&server, 0, Duration::from_secs(30));
    shop.read_catalog().await.expect("catalog");
    // Shopify applied every line, but the result file is gone.
    fake.end_next_bulk_mutation(BulkEnding::Expire);
    let outcomes = shop.write(&raise(&ids)).await.expect("write");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Failed(m) if m.contains("EXPIRED"))),
        "{outcomes:?}"
    );
    assert_eq!(fake.variant("C").expect("v").price, dec("2.50"));
}

#[tokio::test]
async fn quantities_go_before_a_bulk_price_write_and_never_wait_for_it() {
    let (fake, server) = start(Limits::unlimited()).await;
    let ids = catalog(&fake);
    fake.set_bulk_mutation_rate(0.0);
    let shop = bulk_connect(&server, 0, Duration::from_millis(300));
    shop.read_catalog().await.expect("catalog");
    let mut writes = vec![quantity_write(&ids[3].variant, "C", 1, 7, 9)];
    writes.extend(raise(&ids));
    let outcomes = shop.write(&writes).await.expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert_eq!(fake.variant("C").expect("v").available, 7);
    let paths: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.query.clone())
        .filter(|q| q.contains("mutation"))
        .collect();
    assert!(paths[0].contains("inventorySetQuantities"), "{paths:?}");
    // The operation is still running: its prices are not confirmed, not failed for good.
    for o in &outcomes[1..] {
        assert!(
            matches!(o, WriteOutcome::Failed(m) if m.contains("not confirmed yet") && m.contains("still running")),
            "{outcomes:?}"
        );
    }
}

#[tokio::test]
async fn the_next_run_reads_a_running_bulk_write_instead_of_sending_it_again() {
    let (fake, server) = start(Limits::unlimited()).await;
    let ids = catalog(&fake);
    fake.set_bulk_mutation_rate(0.0);
    // A run starts the bulk write and ends (or dies) while it runs.
    let first = bulk_connect(&server, 0, Duration::from_millis(200));
    first.read_catalog().await.expect("catalog");
    let outcomes = first.write(&raise(&ids)).await.expect("write");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Failed(_)))
    );
    assert_eq!(fake.bulk_mutations()[0].status, "RUNNING");
    drop(first);

    // The next run (a new process: nothing in memory) still sees the old prices, plans the
    // same writes, and finds the operation: while it runs, nothing is sent.
    let second = bulk_connect(&server, 0, Duration::from_millis(200));
    second.read_catalog().await.expect("catalog");
    let outcomes = second.write(&raise(&ids)).await.expect("write");
    assert!(
        outcomes.iter().all(|o| matches!(o, WriteOutcome::Failed(m) if m.contains("not sent") && m.contains("still running"))),
        "{outcomes:?}"
    );
    assert_eq!(fake.bulk_mutations().len(), 1, "no second operation");

    // Once it completes, a later run reads its result: confirmed, not sent again.
    let third = bulk_connect(&server, 0, Duration::from_secs(30));
    third.read_catalog().await.expect("catalog");
    fake.set_bulk_mutation_rate(1e9);
    let outcomes = third.write(&raise(&ids)).await.expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );
    assert_eq!(fake.bulk_mutations().len(), 1, "still one operation");
    for sku in ["A-1", "A-2", "B", "C"] {
        assert_eq!(fake.writes(sku).price, 1, "{sku} applied once");
        assert_eq!(fake.variant(sku).expect("v").price, dec("2.50"));
    }
    assert_eq!(per_call_price_requests(&fake), 0);
    assert_clean(&fake);
}

#[tokio::test]
async fn another_bulk_mutation_in_progress_on_2025_01_leaves_the_prices_unsent() {
    let (fake, server) = start(Limits::unlimited()).await;
    let ids = catalog(&fake);
    fake.set_bulk_mutation_rate(0.0);
    let shop = bulk_connect(&server, 0, Duration::from_secs(30));
    shop.read_catalog().await.expect("catalog");
    // Another tool with this app's token runs its own bulk mutation.
    let stage = invsync_connectors::shopify::testing::graphql(
        &shop,
        "StageUpload",
        documents::STAGE_UPLOAD,
        json!({"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "x", "mimeType": "text/jsonl", "httpMethod": "POST"}]}),
    )
    .await
    .expect("stage");
    let target = &stage["stagedUploadsCreate"]["stagedTargets"][0];
    let key = target["parameters"][0]["value"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_eq!(
        invsync_test_support::shopify::upload_staged(target, "{}").await,
        201
    );
    let other = "mutation($product: ProductUpdateInput) { productUpdate(product: $product) { userErrors { message } } }";
    let ran = invsync_connectors::shopify::testing::graphql(
        &shop,
        "BulkRunMutation",
        documents::BULK_RUN_MUTATION,
        json!({"mutation": other, "path": key}),
    )
    .await
    .expect("run");
    assert_eq!(
        ran["bulkOperationRunMutation"]["userErrors"],
        json!([]),
        "{ran}"
    );

    let outcomes = shop.write(&raise(&ids)).await.expect("write");
    assert!(
        outcomes.iter().all(|o| matches!(o, WriteOutcome::Failed(m) if m.contains("not sent: another bulk mutation") && m.contains("2025-01"))),
        "{outcomes:?}"
    );
    assert_eq!(fake.variant("A-1").expect("v").price, dec("1.00"));
}

#[tokio::test]
async fn a_bulk_write_that_ended_before_the_read_confirms_nothing() {
    let (fake, server) = start(Limits::unlimited()).await;
    let ids = catalog(&fake);
    let first = bulk_connect(&server, 0, Duration::from_secs(30));
    first.read_catalog().await.expect("catalog");
    let outcomes = first.write(&raise(&ids)).await.expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );
    // The merchant puts one price back by hand; the next run must write it again, whatever
    // the old operation's result says.
    fake.set_price("A-1", "1.00");
    let second = bulk_connect(&server, 0, Duration::from_secs(30));
    second.read_catalog().await.expect("catalog");
    let outcomes = second
        .write(&[price_write(&ids[0].variant, "A-1", "1.00", "2.50", 0)])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    assert_eq!(fake.writes("A-1").price, 2, "written again");
    assert_eq!(fake.bulk_mutations().len(), 2);
    assert_eq!(fake.variant("A-1").expect("v").price, dec("2.50"));
}
