//! What tracking a store's orders costs in API calls per tick, per platform, measured
//! against the fakes over loopback (ADR 0060): the first read (a snapshot), the next tick
//! (nothing new; it re-reads the overlap before the mark and settles the cursor), a quiet
//! tick after that, and a tick with changes. Numbers are asserted, and printed with
//! `--nocapture` for the docs.

use invsync_config::{BigCommerceConfig, ShopifyConnectionConfig, WooCommerceConfig};
use invsync_connectors::bigcommerce::{BigCommerceConnection, ConfirmPolicy};
use invsync_connectors::http::{Backoff, Timeouts};
use invsync_connectors::shopify::ShopifyConnection;
use invsync_connectors::woocommerce::WooCommerceConnection;
use invsync_connectors::{Connection, OrderClock, OrderFeed};
use invsync_test_support::bigcommerce::{BigFake, BigOptions, BigOrder, BigOrderLine};
use invsync_test_support::fake;
use invsync_test_support::shopify::{FakeShopify, Limits};
use invsync_test_support::woocommerce::{WooFake, WooOptions, WooOrder, WooOrderLine};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Beyond the 5-minute overlap: last tick's orders are not read again.
const A_TICK: Duration = Duration::from_secs(15 * 60);
/// Open orders in each store at the start.
const OPEN: u64 = 60;
/// Orders that change between two ticks: half new, half closed.
const CHANGED: u64 = 10;

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(5),
    }
}

fn backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
        attempts: 3,
    }
}

async fn feed(c: &dyn Connection, cursor: Option<&str>) -> OrderFeed {
    c.read_orders(cursor)
        .await
        .expect("orders")
        .expect("the store has orders")
}

/// Calls of: the first read, the tick after (overlap re-read), a quiet tick, a tick with
/// changes.
type Costs = (usize, usize, usize, usize);

/// invsync's clock, moved by the test.
#[derive(Clone)]
struct OurClock(Arc<Mutex<chrono::DateTime<chrono::Utc>>>);

impl OurClock {
    fn new() -> OurClock {
        OurClock(Arc::new(Mutex::new(chrono::Utc::now())))
    }
    fn advance(&self, by: Duration) {
        let mut t = self.0.lock().expect("clock");
        *t += chrono::Duration::from_std(by).expect("duration");
    }
    fn clock(&self) -> OrderClock {
        let inner = Arc::clone(&self.0);
        Arc::new(move || *inner.lock().expect("clock"))
    }
}

/// Four reads with ticks between them on both clocks; `change` runs before the last one.
/// Returns the calls of each and checks what the quiet and the changed reads returned.
async fn measure(
    c: &dyn Connection,
    ours: &OurClock,
    calls: impl Fn() -> usize,
    tick: impl Fn(),
    change: impl FnOnce(),
) -> Costs {
    let mut costs = [0; 4];
    let mut cursor: Option<String> = None;
    let mut change = Some(change);
    for (i, cost) in costs.iter_mut().enumerate() {
        if i > 0 {
            tick();
            ours.advance(A_TICK);
        }
        if i == 3
            && let Some(f) = change.take()
        {
            f();
        }
        let before = calls();
        let read = feed(c, cursor.as_deref()).await;
        *cost = calls() - before;
        match i {
            0 => assert_eq!(read.orders.len(), OPEN as usize),
            2 => assert_eq!(read.orders.len(), 0, "a quiet tick reads nothing"),
            3 => assert_eq!(read.orders.len(), CHANGED as usize),
            _ => {}
        }
        cursor = read.cursor;
    }
    (costs[0], costs[1], costs[2], costs[3])
}

async fn shopify() -> Costs {
    let shop = FakeShopify::new("t", Limits::unlimited());
    let server = shop.serve().await;
    shop.add_variant("MUG", "9.00", 1_000);
    let orders: Vec<String> = (0..OPEN)
        .map(|_| shop.add_order(&[("MUG", 1, 1)], false, false))
        .collect();
    let c = ShopifyConnection::new(
        "shop",
        ShopifyConnectionConfig {
            http: Default::default(),
            shop: "example.myshopify.com".into(),
            access_token: SecretString::from("t".to_owned()),
            base_url: url::Url::parse(&server.base_url()).expect("url"),
            api_version: invsync_config::DEFAULT_SHOPIFY_API_VERSION.into(),
            location: None,
            bulk_above: 10_000,
            bulk_write_above: invsync_config::DEFAULT_SHOPIFY_BULK_WRITE_ABOVE,
            full_read_every: invsync_config::DEFAULT_SHOPIFY_FULL_READ_EVERY,
        },
    )
    .expect("connection");
    let ours = OurClock::new();
    let c = c.with_order_clock(ours.clock());
    measure(
        &c,
        &ours,
        || shop.requests().len(),
        || shop.advance_clock(A_TICK),
        || {
            for o in orders.iter().take((CHANGED / 2) as usize) {
                shop.fulfill(o, "MUG", 1);
            }
            for _ in 0..CHANGED / 2 {
                shop.add_order(&[("MUG", 1, 1)], false, false);
            }
        },
    )
    .await
}

async fn woocommerce() -> Costs {
    let woo = WooFake::new(WooOptions::default());
    let server = fake::serve(woo.router()).await;
    let order = |id, status: &str| WooOrder {
        id,
        status: status.into(),
        lines: vec![WooOrderLine {
            sku: "MUG".into(),
            product_id: 1,
            variation_id: 0,
            quantity: 1,
        }],
    };
    woo.state()
        .orders
        .extend((1..=OPEN).map(|id| order(id, "processing")));
    let c = WooCommerceConnection::with_policy(
        "woo",
        &WooCommerceConfig {
            http: Default::default(),
            url: url::Url::parse(&server.base_url()).expect("url"),
            consumer_key: "ck_test".to_owned().into(),
            consumer_secret: "cs_test".to_owned().into(),
        },
        timeouts(),
        backoff(),
    )
    .expect("connection");
    let ours = OurClock::new();
    let c = c.with_order_clock(ours.clock());
    measure(
        &c,
        &ours,
        || woo.calls().len(),
        || woo.advance_clock(A_TICK),
        || {
            let mut state = woo.state();
            for o in state.orders.iter_mut().take((CHANGED / 2) as usize) {
                o.status = "completed".into();
            }
            state
                .orders
                .extend((OPEN + 1..=OPEN + CHANGED / 2).map(|id| order(id, "processing")));
        },
    )
    .await
}

async fn bigcommerce() -> Costs {
    let big = BigFake::new(BigOptions {
        quota: 10_000,
        ..BigOptions::default()
    });
    let server = fake::serve(big.router()).await;
    let order = |id, status_id| BigOrder {
        id,
        status_id,
        lines: vec![BigOrderLine {
            product_id: 1,
            variant_id: 10,
            sku: "MUG".into(),
            quantity: 1,
            quantity_shipped: 0,
        }],
    };
    big.state()
        .orders
        .extend((1..=OPEN).map(|id| order(id, 11)));
    let c = BigCommerceConnection::with_policy(
        "big",
        &BigCommerceConfig {
            http: Default::default(),
            store_hash: big.options().store_hash.clone(),
            access_token: big.options().access_token.clone().into(),
            location_id: 1,
            base_url: url::Url::parse(&big.base_url(&server)).expect("url"),
        },
        timeouts(),
        backoff(),
        ConfirmPolicy {
            first_wait: Duration::from_millis(20),
            deadline: Duration::from_secs(5),
        },
    )
    .expect("connection");
    let ours = OurClock::new();
    let c = c.with_order_clock(ours.clock());
    let costs = measure(
        &c,
        &ours,
        || big.calls().len(),
        || big.advance_clock(A_TICK),
        || {
            let mut state = big.state();
            for o in state.orders.iter_mut().take((CHANGED / 2) as usize) {
                o.status_id = 2; // Shipped
                o.lines[0].quantity_shipped = 1;
            }
            state
                .orders
                .extend((OPEN + 1..=OPEN + CHANGED / 2).map(|id| order(id, 11)));
        },
    )
    .await;
    assert!(big.violations().is_empty(), "{:?}", big.violations());
    costs
}

#[tokio::test]
async fn an_incremental_tick_costs_one_call_when_nothing_changed() {
    let shopify = shopify().await;
    let woo = woocommerce().await;
    let big = bigcommerce().await;
    println!("calls per read; {OPEN} open orders, then {CHANGED} changed (5 new, 5 closed):");
    println!(
        "platform     | first (snapshot) | next tick (overlap) | quiet tick | {CHANGED} changed"
    );
    for (name, (first, overlap, quiet, changed)) in [
        ("shopify", shopify),
        ("woocommerce", woo),
        ("bigcommerce", big),
    ] {
        println!("{name:<12} | {first:>16} | {overlap:>19} | {quiet:>10} | {changed:>9}");
    }
    // 60 open orders at 25 a page, stamped within a minute: the overlap re-reads them all
    // once; quiet ticks are one call.
    assert_eq!(shopify, (3, 3, 1, 1));
    // 60 at 100 a page.
    assert_eq!(woo, (1, 1, 1, 1));
    // One list per open status (11, 9, 3) + one products call per open order; the overlap
    // re-read needs their products again; then one list, and products only for orders
    // still open.
    let open = OPEN as usize;
    assert_eq!(big, (3 + open, 1 + open, 1, 1 + (CHANGED / 2) as usize));
}
