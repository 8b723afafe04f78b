//! Incremental order reads (ADR 0060) against the fake shop: a snapshot first, then only
//! what changed since the cursor, in any status, on Shopify's clock.

use super::*;
use chrono::SecondsFormat;
use invsync_connectors::shopify::testing::{ORDER_PAGE, graphql};
use invsync_connectors::testing::{OurClock, order_feed};
use invsync_core::{Absent, StoreOrder};
use std::time::Duration;

/// A tick later: past the 5-minute overlap, on both clocks.
const A_TICK: Duration = Duration::from_secs(15 * 60);

/// The high-water mark in a cursor.
fn mark(cursor: &str) -> chrono::DateTime<chrono::Utc> {
    order_feed::parse(cursor).expect("a v1 cursor").mark
}

/// The `updated_at` filter a read with this cursor sends.
fn filter(cursor: &str) -> String {
    let since = order_feed::parse(cursor).expect("a v1 cursor").since();
    format!(
        "updated_at:>'{}'",
        since.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

fn by_number<'a>(feed: &'a OrderFeed, number: &str) -> &'a StoreOrder {
    feed.orders
        .iter()
        .find(|o| o.number == number)
        .unwrap_or_else(|| panic!("{number} is not in the feed: {:?}", feed.orders))
}

fn lines(order: &StoreOrder) -> Vec<(&str, i64)> {
    order
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect()
}

/// GraphQL calls answered since `from` (an index into the request log).
fn calls_since(fake: &FakeShopify, from: usize) -> Vec<invsync_test_support::shopify::RequestLog> {
    fake.requests().into_iter().skip(from).collect()
}

async fn read(shop: &ShopifyConnection, cursor: Option<&str>) -> OrderFeed {
    shop.read_orders(cursor)
        .await
        .expect("orders")
        .expect("a Shopify store has orders")
}

#[tokio::test]
async fn a_snapshot_first_then_only_what_changed_in_any_status() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("MUG", "9.00", 10);
    fake.add_variant("CAP", "15.00", 10);
    let partly = fake.add_order(&[("MUG", 2, 2), ("CAP", 1, 1)], false, false); // #1001
    fake.add_order(&[("MUG", 7, 7)], true, false); // #1002, closed
    let to_fulfil = fake.add_order(&[("CAP", 3, 3)], false, false); // #1003
    let to_cancel = fake.add_order(&[("MUG", 1, 1)], false, false); // #1004
    fake.advance_clock(Duration::from_secs(3600));
    fake.add_order(&[("CAP", 2, 2)], false, false); // #1005, an hour later
    let ours = OurClock::new();
    let shop = connect(&server, 10_000).with_order_clock(ours.clock());
    let tick = || {
        fake.advance_clock(A_TICK);
        ours.advance(A_TICK);
    };

    // First read: every open order, as a snapshot, with a cursor on Shopify's clock.
    let first = read(&shop, None).await;
    assert_eq!(first.snapshot, Some(Absent::Closed));
    let mut numbers: Vec<&str> = first.orders.iter().map(|o| o.number.as_str()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, ["#1001", "#1003", "#1004", "#1005"]);
    let o = by_number(&first, "#1001");
    assert_eq!(o.id, partly, "id: the order's GID");
    assert!(o.open);
    assert_eq!(lines(o), [("MUG", 2), ("CAP", 1)]);
    let newest = first.orders.iter().filter_map(|o| o.updated_at).max();
    let cursor = first.cursor.clone().expect("a cursor");
    assert_eq!(Some(mark(&cursor)), newest, "Shopify's time");

    // Nothing changed, a tick later: one call, which re-reads what changed in the overlap
    // before the mark (#1005, never the older orders); that settles the cursor.
    tick();
    let before = fake.requests().len();
    let overlap = read(&shop, Some(&cursor)).await;
    assert_eq!(overlap.snapshot, None);
    assert_eq!(
        overlap
            .orders
            .iter()
            .map(|o| o.number.as_str())
            .collect::<Vec<_>>(),
        ["#1005"]
    );
    let calls = calls_since(&fake, before);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].variables.as_ref().expect("variables")["query"],
        json!(filter(&cursor)),
        "the filter starts the overlap before the mark"
    );
    let settled = overlap.cursor.clone().expect("cursor");
    assert_eq!(mark(&settled), mark(&cursor));
    assert!(settled.ends_with(";settled"), "{settled}");

    // Still nothing: an empty feed for one call, and the cursor re-issued.
    tick();
    let before = fake.requests().len();
    let quiet = read(&shop, Some(&settled)).await;
    assert_eq!(quiet.orders, Vec::new());
    assert_eq!(quiet.cursor.as_deref(), Some(settled.as_str()));
    assert_eq!(
        calls_since(&fake, before).len(),
        1,
        "a quiet store: one call"
    );

    // A new order, a partly fulfilled one, a fully fulfilled one and a cancelled one.
    fake.add_order(&[("MUG", 4, 4)], false, false); // #1006
    fake.fulfill(&partly, "MUG", 1);
    fake.fulfill(&to_fulfil, "CAP", 3);
    fake.cancel_order(&to_cancel);
    let last_change = fake.now() - chrono::Duration::seconds(1);
    let changed = read(&shop, Some(&settled)).await;
    assert_eq!(
        changed.snapshot, None,
        "an incremental read is not a snapshot"
    );
    let mut numbers: Vec<&str> = changed.orders.iter().map(|o| o.number.as_str()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, ["#1001", "#1003", "#1004", "#1006"]);
    let new = by_number(&changed, "#1006");
    assert!(new.open);
    assert_eq!(lines(new), [("MUG", 4)]);
    let partly_read = by_number(&changed, "#1001");
    assert!(partly_read.open, "units are still to ship");
    assert_eq!(lines(partly_read), [("MUG", 1), ("CAP", 1)]);
    let fulfilled = by_number(&changed, "#1003");
    assert!(!fulfilled.open, "fully fulfilled: holds nothing");
    assert_eq!(lines(fulfilled), []);
    assert!(!by_number(&changed, "#1004").open, "cancelled");
    let cursor2 = changed.cursor.clone().expect("cursor");
    assert_eq!(mark(&cursor2), last_change, "Shopify's time");
    assert!(
        !cursor2.ends_with(";settled"),
        "the mark moved: the overlap is back"
    );

    // Read again at once (a re-plan in the same run): the overlap re-reads the four
    // changes, each once, with the same views, and the cursor stays where it was.
    let again = read(&shop, Some(&cursor2)).await;
    let mut numbers: Vec<&str> = again.orders.iter().map(|o| o.number.as_str()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, ["#1001", "#1003", "#1004", "#1006"]);
    for o in &again.orders {
        assert_eq!(Some(o), changed.orders.iter().find(|c| c.id == o.id));
    }
    assert_eq!(again.cursor.as_deref(), Some(cursor2.as_str()));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_cursor_it_cannot_read_falls_back_to_a_snapshot() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("MUG", "9.00", 10);
    fake.add_order(&[("MUG", 2, 2)], false, false);
    fake.add_order(&[("MUG", 1, 1)], true, false);
    let shop = connect(&server, 10_000);
    for garbage in ["v9:whatever", "2026-11-28T10:00:00Z", "v1:not a time", ""] {
        let feed = read(&shop, Some(garbage)).await;
        assert_eq!(feed.snapshot, Some(Absent::Closed), "{garbage:?}");
        assert_eq!(feed.orders.len(), 1, "the open order only");
        assert!(feed.cursor.as_deref().is_some_and(|c| c.starts_with("v1:")));
    }
    assert_clean(&fake);
}

#[tokio::test]
async fn a_store_without_orders_snapshots_until_it_has_one() {
    let (fake, server) = start(Limits::unlimited()).await;
    let shop = connect(&server, 10_000);
    let feed = read(&shop, None).await;
    assert_eq!(feed.snapshot, Some(Absent::Closed));
    assert_eq!(feed.orders, Vec::new());
    assert_eq!(feed.cursor, None, "no Shopify time seen yet: no cursor");
    assert_eq!(
        fake.requests().len(),
        1,
        "one call, like an incremental read"
    );
}

#[tokio::test]
async fn many_changed_orders_are_read_across_pages_once_each() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("MUG", "9.00", 1_000);
    let first_order = fake.add_order(&[("MUG", 1, 1)], false, false);
    let shop = connect(&server, 10_000);
    let cursor = read(&shop, None).await.cursor.expect("cursor");
    fake.advance_clock(A_TICK);
    // 60 orders change (25 a page: 3 pages); one of them has more lines than the first
    // line-item page holds.
    let mut ids = Vec::new();
    for i in 0..59 {
        ids.push(fake.add_order(&[("MUG", 1 + i % 3, 1 + i % 3)], false, false));
    }
    fake.cancel_order(&first_order);
    for i in 0..40 {
        fake.add_order_line(&ids[0], &format!("L-{i}"), 1);
    }
    let before = fake.requests().len();
    let feed = read(&shop, Some(&cursor)).await;
    assert_eq!(feed.orders.len(), 60);
    let mut seen: Vec<&str> = feed.orders.iter().map(|o| o.id.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 60, "every order once");
    assert!(!feed.orders.iter().any(|o| o.id == first_order && o.open));
    let long = feed
        .orders
        .iter()
        .find(|o| o.id == ids[0])
        .expect("the long order");
    assert_eq!(long.lines.len(), 41);
    let calls = calls_since(&fake, before);
    let pages = calls
        .iter()
        .filter(|c| {
            c.query
                .as_deref()
                .is_some_and(|q| q.contains("ChangedOrders"))
        })
        .count();
    assert_eq!(pages, 3, "60 orders at 25 a page");
    assert_eq!(
        calls.len(),
        4,
        "3 pages + the rest of one long order's lines"
    );
    let newest = feed.orders.iter().filter_map(|o| o.updated_at).max();
    assert_eq!(feed.cursor.as_deref().map(mark), newest);
    assert_clean(&fake);
}

#[tokio::test]
async fn an_order_changing_while_the_read_pages_is_read_again_not_skipped() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("MUG", "9.00", 1_000);
    let seed = fake.add_order(&[("MUG", 1, 1)], false, false);
    let shop = connect(&server, 10_000);
    let cursor = read(&shop, None).await.cursor.expect("cursor");
    fake.advance_clock(A_TICK);
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(fake.add_order(&[("MUG", 1, 1)], false, false));
    }
    // The first page is served, then the first order read is fulfilled: it moves to the
    // end of the UPDATED_AT order, and keyset cursors meet it again on page 2.
    let first_page = graphql(
        &shop,
        "ChangedOrders",
        documents::CHANGED_ORDERS,
        json!({
            "first": ORDER_PAGE,
            "after": null,
            "query": filter(&cursor),
        }),
    )
    .await
    .expect("page");
    let end = first_page["orders"]["pageInfo"]["endCursor"].clone();
    fake.fulfill(&ids[0], "MUG", 1);
    let second_page = graphql(
        &shop,
        "ChangedOrders",
        documents::CHANGED_ORDERS,
        json!({ "first": ORDER_PAGE, "after": end, "query": "updated_at:>'2026-11-28T09:00:00Z'" }),
    )
    .await
    .expect("page");
    let later: Vec<&str> = second_page["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert!(later.contains(&ids[0].as_str()), "met again further on");
    // And the connector's own read keeps the newest view of it, once.
    let feed = read(&shop, Some(&cursor)).await;
    let views: Vec<&StoreOrder> = feed.orders.iter().filter(|o| o.id == ids[0]).collect();
    assert_eq!(views.len(), 1);
    assert!(!views[0].open);
    assert!(feed.orders.iter().all(|o| o.id != seed || o.open));
    assert_clean(&fake);
}
