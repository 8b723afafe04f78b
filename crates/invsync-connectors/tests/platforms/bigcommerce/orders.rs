//! Incremental order reads (ADR 0060) against the BigCommerce fake: a snapshot first, then
//! every order modified since the cursor, in any status, on the store's clock. The fake
//! checks every order-list query against the parameters BigCommerce's spec declares.

use super::*;
use chrono::SecondsFormat;
use invsync_connectors::testing::{OurClock, order_feed};
use invsync_core::{Absent, StoreOrder};

/// A tick later: past the 5-minute overlap, on both clocks.
const A_TICK: Duration = Duration::from_secs(15 * 60);

/// The high-water mark in a cursor.
fn mark(cursor: &str) -> chrono::DateTime<chrono::Utc> {
    order_feed::parse(cursor).expect("a v1 cursor").mark
}

fn line(sku: &str, quantity: i64, shipped: i64) -> BigOrderLine {
    BigOrderLine {
        product_id: 1,
        variant_id: 10,
        sku: sku.into(),
        quantity,
        quantity_shipped: shipped,
    }
}

fn order(id: u64, status_id: u32, lines: Vec<BigOrderLine>) -> BigOrder {
    BigOrder {
        id,
        status_id,
        lines,
    }
}

fn change(fake: &BigFake, id: u64, f: impl FnOnce(&mut BigOrder)) {
    let mut state = fake.state();
    f(state.orders.iter_mut().find(|o| o.id == id).expect("order"));
}

fn by_id<'a>(feed: &'a OrderFeed, id: &str) -> &'a StoreOrder {
    feed.orders
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("order {id} is not in the feed: {:?}", feed.orders))
}

fn ids(feed: &OrderFeed) -> Vec<&str> {
    let mut ids: Vec<&str> = feed.orders.iter().map(|o| o.id.as_str()).collect();
    ids.sort_unstable_by_key(|id| id.parse::<u64>().unwrap_or(0));
    ids
}

async fn read(big: &BigCommerceConnection, cursor: Option<&str>) -> OrderFeed {
    big.read_orders(cursor)
        .await
        .expect("orders")
        .expect("a BigCommerce store has orders")
}

fn order_lists(fake: &BigFake) -> Vec<invsync_test_support::bigcommerce::Call> {
    fake.calls()
        .into_iter()
        .filter(|c| c.path == "/v2/orders")
        .collect()
}

#[tokio::test]
async fn a_snapshot_first_then_only_what_changed_in_any_status() {
    let fake = BigFake::new(options());
    {
        let mut state = fake.state();
        state.orders.push(order(100, 11, vec![line("MUG", 2, 0)]));
        state.orders.push(order(101, 10, vec![line("MUG", 7, 7)])); // completed
        state
            .orders
            .push(order(102, 3, vec![line("CAP", 5, 3), line("MUG", 1, 1)]));
        state.orders.push(order(103, 9, vec![line("CAP", 1, 0)]));
    }
    let server = fake::serve(fake.router()).await;
    let ours = OurClock::new();
    let big = connect(&fake, &server).with_order_clock(ours.clock());
    let tick = || {
        fake.advance_clock(A_TICK);
        ours.advance(A_TICK);
    };

    let first = read(&big, None).await;
    assert_eq!(first.snapshot, Some(Absent::Closed));
    assert_eq!(ids(&first), ["100", "102", "103"]);
    let partly = by_id(&first, "102");
    assert_eq!(partly.number, "102");
    assert!(partly.open);
    assert_eq!(
        partly
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect::<Vec<_>>(),
        [("CAP", 2)],
        "only what has not shipped"
    );
    let newest = fake.state().order_modified(103).expect("stamped");
    assert_eq!(partly.updated_at, fake.state().order_modified(102));
    let cursor = first.cursor.clone().expect("cursor");
    assert_eq!(mark(&cursor), newest, "the store's time");

    // Nothing changed, a tick later: the list re-reads the overlap before the mark (the
    // products of the open orders in it too), and the cursor settles.
    tick();
    fake.clear_calls();
    let overlap = read(&big, Some(&cursor)).await;
    assert_eq!(overlap.snapshot, None);
    assert_eq!(ids(&overlap), ["100", "101", "102", "103"]);
    assert!(!by_id(&overlap, "101").open);
    assert_eq!(by_id(&overlap, "101").lines, Vec::new());
    let lists = order_lists(&fake);
    assert_eq!(lists.len(), 1, "one list call");
    let since = (newest - order_feed::OVERLAP + chrono::Duration::seconds(1))
        .to_rfc3339_opts(SecondsFormat::Secs, false);
    assert_eq!(lists[0].query.get("min_date_modified"), Some(&since));
    assert_eq!(lists[0].query.get("status_id"), None, "every status");
    let settled = overlap.cursor.clone().expect("cursor");
    assert!(settled.ends_with(";settled"), "{settled}");

    // Still nothing: an empty feed for one call, the cursor re-issued.
    tick();
    fake.clear_calls();
    let quiet = read(&big, Some(&settled)).await;
    assert_eq!(quiet.orders, Vec::new());
    assert_eq!(quiet.cursor.as_deref(), Some(settled.as_str()));
    assert_eq!(fake.calls().len(), 1, "a quiet store: one call");

    // A new order, one shipped in full, one cancelled, one partly shipped.
    fake.state()
        .orders
        .push(order(104, 11, vec![line("MUG", 4, 0)]));
    change(&fake, 100, |o| {
        o.status_id = 2; // Shipped
        o.lines[0].quantity_shipped = 2;
    });
    change(&fake, 103, |o| o.status_id = 5); // Cancelled
    change(&fake, 102, |o| o.lines[0].quantity_shipped = 4);
    let changed = read(&big, Some(&settled)).await;
    assert_eq!(ids(&changed), ["100", "102", "103", "104"]);
    assert!(!by_id(&changed, "100").open, "shipped");
    assert!(!by_id(&changed, "103").open, "cancelled");
    assert_eq!(
        by_id(&changed, "102")
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect::<Vec<_>>(),
        [("CAP", 1)]
    );
    assert!(by_id(&changed, "104").open);
    let cursor2 = changed.cursor.clone().expect("cursor");

    // Straight away again: the four changes once each, the cursor unchanged.
    let again = read(&big, Some(&cursor2)).await;
    assert_eq!(ids(&again), ["100", "102", "103", "104"]);
    assert_eq!(again.cursor.as_deref(), Some(cursor2.as_str()));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_cursor_it_cannot_read_falls_back_to_a_snapshot() {
    let fake = BigFake::new(options());
    fake.state()
        .orders
        .push(order(100, 11, vec![line("MUG", 1, 0)]));
    fake.state()
        .orders
        .push(order(101, 10, vec![line("MUG", 1, 1)]));
    let server = fake::serve(fake.router()).await;
    let big = connect(&fake, &server);
    for garbage in ["v0:2026-11-28T10:00:00Z", "v1:Tue, 20 Nov 2012", "🦀"] {
        let feed = read(&big, Some(garbage)).await;
        assert_eq!(feed.snapshot, Some(Absent::Closed), "{garbage:?}");
        assert_eq!(ids(&feed), ["100"]);
        assert!(feed.cursor.is_some());
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn many_changed_orders_are_read_across_pages_once_each() {
    let fake = BigFake::new(BigOptions {
        quota: 1000,
        ..options()
    });
    fake.state()
        .orders
        .push(order(100, 11, vec![line("MUG", 1, 0)]));
    let server = fake::serve(fake.router()).await;
    let big = connect(&fake, &server);
    let cursor = read(&big, None).await.cursor.expect("cursor");
    fake.advance_clock(A_TICK);
    {
        let mut state = fake.state();
        // 300 changes (250 a page: 2 pages), most of them closed (no products call).
        for id in 1000..1299 {
            let status = if id % 10 == 0 { 11 } else { 10 };
            state
                .orders
                .push(order(id, status, vec![line("MUG", 1, 0)]));
        }
    }
    change(&fake, 100, |o| o.status_id = 5);
    fake.clear_calls();
    let feed = read(&big, Some(&cursor)).await;
    assert_eq!(feed.orders.len(), 300, "every order once");
    assert!(!by_id(&feed, "100").open);
    assert_eq!(feed.orders.iter().filter(|o| o.open).count(), 30);
    assert_eq!(order_lists(&fake).len(), 2);
    assert_eq!(
        fake.calls().len(),
        2 + 30,
        "products of the open orders only"
    );
    let newest = fake.state().order_modified(1298);
    assert!(
        newest > fake.state().order_modified(100),
        "stamped in list order"
    );
    assert_eq!(feed.cursor.as_deref().map(mark), newest);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}
