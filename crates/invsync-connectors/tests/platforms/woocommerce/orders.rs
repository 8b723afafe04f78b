//! Incremental order reads (ADR 0060) against the WooCommerce fake: a snapshot first, then
//! every order modified since the cursor, in any status, on the site's clock in GMT.

use super::*;
use invsync_connectors::testing::{OurClock, order_feed};
use invsync_core::{Absent, StoreOrder};

/// A tick later: past the 5-minute overlap, on both clocks.
const A_TICK: Duration = Duration::from_secs(15 * 60);

/// The high-water mark in a cursor.
fn mark(cursor: &str) -> chrono::DateTime<chrono::Utc> {
    order_feed::parse(cursor).expect("a v1 cursor").mark
}

fn line(sku: &str, quantity: i64) -> WooOrderLine {
    WooOrderLine {
        sku: sku.into(),
        product_id: 1,
        variation_id: 0,
        quantity,
    }
}

fn order(id: u64, status: &str, lines: Vec<WooOrderLine>) -> WooOrder {
    WooOrder {
        id,
        status: status.into(),
        lines,
    }
}

fn set_status(fake: &WooFake, id: u64, status: &str) {
    let mut state = fake.state();
    let o = state.orders.iter_mut().find(|o| o.id == id).expect("order");
    o.status = status.into();
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

async fn read(woo: &WooCommerceConnection, cursor: Option<&str>) -> OrderFeed {
    woo.read_orders(cursor)
        .await
        .expect("orders")
        .expect("a WooCommerce store has orders")
}

#[tokio::test]
async fn a_snapshot_first_then_only_what_changed_in_any_status() {
    let fake = WooFake::new(options());
    {
        let mut state = fake.state();
        state
            .orders
            .push(order(1, "processing", vec![line("MUG", 2), line("", 1)]));
        state
            .orders
            .push(order(2, "completed", vec![line("MUG", 7)]));
        state.orders.push(order(3, "on-hold", vec![line("CAP", 3)]));
        state
            .orders
            .push(order(4, "processing", vec![line("CAP", 1)]));
    }
    let server = start(&fake).await;
    let ours = OurClock::new();
    let woo = connect(&server, SENTINEL_SECRET).with_order_clock(ours.clock());
    let tick = || {
        fake.advance_clock(A_TICK);
        ours.advance(A_TICK);
    };

    let first = read(&woo, None).await;
    assert_eq!(first.snapshot, Some(Absent::Closed));
    assert_eq!(ids(&first), ["1", "3", "4"]);
    let o = by_id(&first, "1");
    assert_eq!(o.number, "1");
    assert!(o.open);
    assert_eq!(
        o.lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect::<Vec<_>>(),
        [("MUG", 2)]
    );
    let newest = fake.state().order_modified(4).expect("stamped");
    assert_eq!(o.updated_at, fake.state().order_modified(1));
    let cursor = first.cursor.clone().expect("cursor");
    assert_eq!(mark(&cursor), newest, "the site's time");

    // Nothing changed, a tick later: one call re-reads the orders changed in the overlap
    // before the mark (here all four, stamped seconds apart), and settles the cursor.
    tick();
    fake.clear_calls();
    let overlap = read(&woo, Some(&cursor)).await;
    assert_eq!(overlap.snapshot, None);
    assert_eq!(ids(&overlap), ["1", "2", "3", "4"]);
    assert!(!by_id(&overlap, "2").open, "completed");
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let q = &calls[0].query;
    assert_eq!(q.get("status").map(String::as_str), Some("any"));
    assert_eq!(q.get("dates_are_gmt").map(String::as_str), Some("true"));
    let since = (newest - order_feed::OVERLAP)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    assert_eq!(q.get("modified_after"), Some(&since));
    let settled = overlap.cursor.clone().expect("cursor");
    assert!(settled.ends_with(";settled"), "{settled}");

    // Still nothing: an empty feed for one call, the cursor re-issued.
    tick();
    fake.clear_calls();
    let quiet = read(&woo, Some(&settled)).await;
    assert_eq!(quiet.orders, Vec::new());
    assert_eq!(quiet.cursor.as_deref(), Some(settled.as_str()));
    assert_eq!(fake.calls().len(), 1, "a quiet store: one call");

    // A new order, a completed one, a cancelled one, one edited.
    let mark_before = fake.state().clock;
    fake.state()
        .orders
        .push(order(5, "processing", vec![line("MUG", 4)]));
    set_status(&fake, 1, "completed");
    set_status(&fake, 3, "cancelled");
    fake.state()
        .orders
        .iter_mut()
        .find(|o| o.id == 4)
        .expect("4")
        .lines
        .push(line("MUG", 1));
    let changed = read(&woo, Some(&settled)).await;
    assert_eq!(ids(&changed), ["1", "3", "4", "5"]);
    assert!(!by_id(&changed, "1").open, "completed");
    assert_eq!(by_id(&changed, "1").lines, Vec::new());
    assert!(!by_id(&changed, "3").open, "cancelled");
    let edited = by_id(&changed, "4");
    assert!(edited.open);
    assert_eq!(edited.lines.len(), 2);
    assert!(by_id(&changed, "5").open);
    let cursor2 = changed.cursor.clone().expect("cursor");
    assert!(mark(&cursor2) >= mark_before, "moved to the newest change");

    // Straight away again: the overlap re-reads the four changes, once each.
    let again = read(&woo, Some(&cursor2)).await;
    assert_eq!(ids(&again), ["1", "3", "4", "5"]);
    assert_eq!(again.cursor.as_deref(), Some(cursor2.as_str()));
}

#[tokio::test]
async fn a_cursor_it_cannot_read_falls_back_to_a_snapshot() {
    let fake = WooFake::new(options());
    fake.state()
        .orders
        .push(order(1, "processing", vec![line("MUG", 1)]));
    fake.state()
        .orders
        .push(order(2, "completed", vec![line("MUG", 1)]));
    let server = start(&fake).await;
    let woo = connect(&server, SENTINEL_SECRET);
    for garbage in ["v2:2026-11-28T10:00:00Z", "v1:soon", "12345"] {
        let feed = read(&woo, Some(garbage)).await;
        assert_eq!(feed.snapshot, Some(Absent::Closed), "{garbage:?}");
        assert_eq!(ids(&feed), ["1"]);
        assert!(feed.cursor.is_some());
    }
}

#[tokio::test]
async fn many_changed_orders_are_read_across_pages_once_each() {
    let fake = WooFake::new(options());
    fake.state()
        .orders
        .push(order(1, "processing", vec![line("MUG", 1)]));
    let server = start(&fake).await;
    let woo = connect(&server, SENTINEL_SECRET);
    let cursor = read(&woo, None).await.cursor.expect("cursor");
    fake.advance_clock(A_TICK);
    {
        let mut state = fake.state();
        for id in 2..=250 {
            state
                .orders
                .push(order(id, "processing", vec![line("MUG", 1)]));
        }
    }
    set_status(&fake, 1, "refunded");
    fake.clear_calls();
    let feed = read(&woo, Some(&cursor)).await;
    assert_eq!(feed.orders.len(), 250, "every order once");
    assert!(!by_id(&feed, "1").open);
    assert_eq!(fake.calls().len(), 3, "100 a page");
    let newest = fake.state().order_modified(250);
    assert_eq!(feed.cursor.as_deref().map(mark), newest);
}

#[tokio::test]
async fn without_dates_are_gmt_the_site_time_zone_would_lose_orders() {
    // The fake holds WordPress to its word: a zone-less date is site time (UTC−05:00)
    // unless `dates_are_gmt=true`. This is why the connector sends it.
    let fake = WooFake::new(options());
    fake.state()
        .orders
        .push(order(1, "processing", vec![line("MUG", 1)]));
    let modified = fake.state().order_modified(1).expect("stamped");
    let server = start(&fake).await;
    let client = reqwest::Client::new();
    let url = format!("{}/wp-json/wc/v3/orders", server.base_url());
    let before = (modified - chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let count = |gmt: bool| {
        let mut query = vec![("modified_after", before.clone())];
        if gmt {
            query.push(("dates_are_gmt", "true".into()));
        }
        let request = client
            .get(&url)
            .basic_auth("ck_test", Some(SENTINEL_SECRET))
            .query(&query);
        async move {
            let body: Vec<serde_json::Value> = request
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            body.len()
        }
    };
    assert_eq!(count(true).await, 1);
    assert_eq!(count(false).await, 0, "read as site time: five hours later");
    let bad = client
        .get(&url)
        .basic_auth("ck_test", Some(SENTINEL_SECRET))
        .query(&[("orderby", "modified_gmt")])
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400, "undocumented orderby values are refused");
}
