//! Catalog reads that keep what they read (ADR 0017) against the fake shop: a whole read
//! first, then only what changed since the cursor — prices, tracking, and stock changed by
//! hand, which a variant's own `updatedAt` does not show — and a whole read again when the
//! cache cannot be trusted.

use super::*;
use invsync_connectors::testing::OurClock;
use invsync_connectors::{CachedCatalog, CatalogRead};
use std::time::Duration;

/// A tick later: past the 5-minute overlap, on both clocks.
const A_TICK: Duration = Duration::from_secs(15 * 60);

struct Setup {
    fake: FakeShopify,
    server: FakeServer,
    shop: ShopifyConnection,
    ours: OurClock,
}

impl Setup {
    async fn new() -> Setup {
        let (fake, server) = start(Limits::unlimited()).await;
        shop_with_catalog(&fake).await;
        // The catalog was made a while ago: a first incremental read re-reads only the
        // changes of the 5-minute overlap before the whole read's marks.
        fake.advance_clock(Duration::from_secs(3600));
        let ours = OurClock::new();
        let shop = connect(&server, 10_000).with_order_clock(ours.clock());
        Setup {
            fake,
            server,
            shop,
            ours,
        }
    }

    fn tick(&self) {
        self.fake.advance_clock(A_TICK);
        self.ours.advance(A_TICK);
    }

    /// Reads with the previous read as the cache; returns the read and the operations
    /// it sent.
    async fn read(&self, previous: Option<&CatalogRead>) -> (CatalogRead, Vec<String>) {
        let from = self.fake.requests().len();
        let cached = previous.and_then(|p| {
            Some(CachedCatalog {
                records: p.catalog.records.clone(),
                cursor: p.cursor.clone()?,
                writes_since: 0,
            })
        });
        let read = self.shop.read_catalog_since(cached).await.expect("catalog");
        let operations = self
            .fake
            .requests()
            .into_iter()
            .skip(from)
            .filter_map(|r| {
                let q = r.query?;
                let at = q.find("query ")?;
                let op = q[at + 6..].split(['(', ' ', '{']).next()?.to_owned();
                Some(op)
            })
            .collect();
        (read, operations)
    }

    /// What a whole read says now, for comparison.
    async fn truth(&self) -> Catalog {
        self.shop.read_catalog().await.expect("catalog")
    }
}

fn sorted(mut catalog: Catalog) -> (Vec<Record>, Vec<Reject>) {
    catalog.records.sort_by(|a, b| a.id.cmp(&b.id));
    catalog.rejects.sort_by(|a, b| a.id.cmp(&b.id));
    (catalog.records, catalog.rejects)
}

fn by_sku<'a>(catalog: &'a Catalog, sku: &str) -> &'a Record {
    catalog
        .records
        .iter()
        .find(|r| r.sku == sku)
        .unwrap_or_else(|| panic!("{sku} missing"))
}

#[tokio::test]
async fn a_quiet_shop_costs_counts_and_three_empty_pages() {
    let s = Setup::new().await;
    let (first, ops) = s.read(None).await;
    assert!(!first.incremental);
    check_catalog(&first.catalog);
    assert!(ops.contains(&"VariantsPage".to_owned()), "{ops:?}");
    let cursor = first.cursor.clone().expect("a cursor after a whole read");
    assert!(!cursor.contains(TOKEN));

    s.tick();
    let (second, ops) = s.read(Some(&first)).await;
    assert!(second.incremental);
    assert_eq!(
        ops,
        [
            "CatalogCounts",
            "VariantsChanged",
            "ItemsChanged",
            "LevelsChanged"
        ]
    );
    check_catalog(&second.catalog);
    assert_eq!(
        sorted(second.catalog.clone()),
        sorted(first.catalog.clone())
    );
    assert_clean(&s.fake);
}

#[tokio::test]
async fn changes_of_price_tracking_and_stock_by_hand_are_read_incrementally() {
    let s = Setup::new().await;
    let (first, _) = s.read(None).await;
    s.tick();
    s.fake.set_price("SKU-0001", "13.75");
    // Stock raised by hand: the variant's own updatedAt does not move, its level's does.
    s.fake.set_available("SKU-0002", 500);
    s.fake.sell("SKU-0003", 2);
    s.fake.set_tracked("SKU-0004", false);
    // Tracking turned on: the gift card's stock counts from now on.
    s.fake.set_tracked("GIFT-CARD", true);
    s.fake.add_variant("NEW-1", "3.00", 7);
    // Stocked at the location now: its quantity syncs from now on.
    s.fake.set_available("ELSEWHERE", 4);
    s.tick();

    let (second, ops) = s.read(Some(&first)).await;
    assert!(second.incremental, "{ops:?}");
    let c = &second.catalog;
    assert_eq!(by_sku(c, "SKU-0001").price, Some(dec("13.75")));
    assert_eq!(by_sku(c, "SKU-0002").quantity, Some(500));
    assert_eq!(by_sku(c, "SKU-0003").quantity, Some(1));
    let untracked = by_sku(c, "SKU-0004");
    assert_eq!(
        (untracked.kind, untracked.price, untracked.quantity),
        (ItemKind::Untracked, Some(dec("12.50")), None)
    );
    let gift = by_sku(c, "GIFT-CARD");
    assert_eq!((gift.kind, gift.quantity), (ItemKind::Inventory, Some(0)));
    assert_eq!(by_sku(c, "NEW-1").quantity, Some(7));
    let stocked = by_sku(c, "ELSEWHERE");
    assert_eq!(
        (stocked.kind, stocked.quantity),
        (ItemKind::Inventory, Some(4))
    );
    assert!(c.rejects.is_empty(), "{:?}", c.rejects);
    assert_eq!(sorted(second.catalog.clone()), sorted(s.truth().await));

    // Read again a tick later: nothing new, and the same catalog.
    s.tick();
    let (third, _) = s.read(Some(&second)).await;
    assert!(third.incremental);
    assert_eq!(
        sorted(third.catalog.clone()),
        sorted(second.catalog.clone())
    );
    // A stock change after that is still seen: the marks moved with what was read.
    s.fake.set_available("SKU-0002", 499);
    s.tick();
    let (fourth, _) = s.read(Some(&third)).await;
    assert!(fourth.incremental);
    assert_eq!(by_sku(&fourth.catalog, "SKU-0002").quantity, Some(499));
    assert_clean(&s.fake);
}

#[tokio::test]
async fn a_variant_leaving_the_location_is_not_stocked_and_an_unreadable_one_stays_reported() {
    let s = Setup::new().await;
    let (first, _) = s.read(None).await;
    assert_eq!(first.catalog.rejects, Vec::<Reject>::new());
    s.tick();
    // SKU-0005 leaves the location (and its price changes, so the variant shows as
    // changed): its record is `not-stocked` now, with the new price.
    s.fake.unstock("SKU-0005");
    s.fake.set_price("SKU-0005", "1.00");
    s.tick();
    let (second, _) = s.read(Some(&first)).await;
    assert!(second.incremental);
    let gone = by_sku(&second.catalog, "SKU-0005");
    assert_eq!(
        (gone.kind, gone.price, gone.quantity),
        (ItemKind::NotStocked, Some(dec("1.00")), None)
    );
    assert_eq!(sorted(second.catalog.clone()), sorted(s.truth().await));

    // Shopify sends SKU-0006 in a shape invsync cannot use: it leaves the cached
    // catalog, and is reported on every later read until it changes again.
    s.tick();
    let id = by_sku(&second.catalog, "SKU-0006").id.to_string();
    s.fake.answer_next(
        "VariantsChanged",
        serde_json::json!({
            "productVariants": {
                "pageInfo": {"hasNextPage": false, "endCursor": null},
                "nodes": [{
                    "id": id, "sku": "SKU-0006", "displayName": "Product SKU-0006",
                    "price": "not a price", "requiresComponents": false,
                    "updatedAt": "2026-11-28T12:00:00Z",
                    "product": {"id": "gid://shopify/Product/1"},
                    "inventoryItem": {
                        "id": "gid://shopify/InventoryItem/1", "tracked": true,
                        "updatedAt": "2026-11-28T12:00:00Z", "inventoryLevel": null
                    }
                }]
            }
        }),
    );
    let (third, _) = s.read(Some(&second)).await;
    assert!(third.incremental);
    assert!(!third.catalog.records.iter().any(|r| r.sku == "SKU-0006"));
    let rejected =
        |c: &Catalog| -> Vec<String> { c.rejects.iter().filter_map(|r| r.sku.clone()).collect() };
    assert_eq!(rejected(&third.catalog), ["SKU-0006"]);
    assert!(third.catalog.rejects[0].error.contains("not a price"));
    s.tick();
    let (fourth, _) = s.read(Some(&third)).await;
    assert!(fourth.incremental);
    assert_eq!(rejected(&fourth.catalog), ["SKU-0006"], "still reported");
}

#[tokio::test]
async fn a_cursor_of_the_old_format_reads_whole_once() {
    let s = Setup::new().await;
    let (first, _) = s.read(None).await;
    let cursor = first.cursor.clone().expect("cursor");
    assert!(cursor.contains("\"v\":2"), "{cursor}");
    // A version-1 cursor: its records called untracked variants `base` and left variants
    // not stocked at the location out as rejects.
    let old = CachedCatalog {
        records: first.catalog.records.clone(),
        cursor: cursor.replace("\"v\":2", "\"v\":1"),
        writes_since: 0,
    };
    let read = s.shop.read_catalog_since(Some(old)).await.expect("catalog");
    assert!(!read.incremental);
    check_catalog(&read.catalog);
}

#[tokio::test]
async fn a_deleted_variant_makes_the_read_whole() {
    let s = Setup::new().await;
    let (first, _) = s.read(None).await;
    s.tick();
    s.fake.delete_variant("SKU-0007");
    s.tick();
    let (second, ops) = s.read(Some(&first)).await;
    assert!(!second.incremental, "the count shows the deletion: {ops:?}");
    assert!(!second.catalog.records.iter().any(|r| r.sku == "SKU-0007"));
    assert_eq!(sorted(second.catalog.clone()), sorted(s.truth().await));
}

#[tokio::test]
async fn whole_reads_come_daily_and_for_another_location_or_a_bad_cursor() {
    let s = Setup::new().await;
    let (first, _) = s.read(None).await;
    let cached = |cursor: &str| CachedCatalog {
        records: first.catalog.records.clone(),
        cursor: cursor.to_owned(),
        writes_since: 0,
    };
    let cursor = first.cursor.clone().expect("cursor");
    for bad in [
        "garbage".to_owned(),
        cursor.replace("gid://shopify/Location/1", "gid://shopify/Location/99"),
        cursor.replace("example.myshopify.com", "other.myshopify.com"),
    ] {
        let read = s
            .shop
            .read_catalog_since(Some(cached(&bad)))
            .await
            .expect("catalog");
        assert!(!read.incremental, "{bad}");
        check_catalog(&read.catalog);
    }
    s.fake.advance_clock(Duration::from_secs(25 * 3600));
    s.ours.advance(Duration::from_secs(25 * 3600));
    let (read, _) = s.read(Some(&first)).await;
    assert!(!read.incremental, "a day after the last whole read");
    let (next, _) = s.read(Some(&read)).await;
    assert!(next.incremental, "and incremental again after it");
}

#[tokio::test]
async fn more_changes_than_bulk_above_or_a_page_read_the_catalog_whole() {
    let (fake, server) = start(Limits::unlimited()).await;
    shop_with_catalog(&fake).await;
    let ours = OurClock::new();
    let shop = connect(&server, 50).with_order_clock(ours.clock());
    let first = shop.read_catalog_since(None).await.expect("catalog");
    assert!(!first.incremental);
    fake.advance_clock(A_TICK);
    ours.advance(A_TICK);
    for i in 0..230 {
        fake.set_price(&format!("SKU-{i:04}"), "1.00");
    }
    for sku in ["TEE-S", "TEE-M", "GIFT-CARD", "BUNDLE-1"] {
        fake.set_available(sku, 9);
    }
    for i in 0..30 {
        fake.set_available(&format!("SKU-{i:04}"), 1);
    }
    let second = shop
        .read_catalog_since(Some(CachedCatalog {
            records: first.catalog.records.clone(),
            cursor: first.cursor.clone().expect("cursor"),
            writes_since: 0,
        }))
        .await
        .expect("catalog");
    assert!(
        !second.incremental,
        "264 changes > 250 (bulk_above 50, but never below a page)"
    );
    assert_eq!(by_sku(&second.catalog, "SKU-0100").price, Some(dec("1.00")));
}

#[tokio::test]
async fn full_read_every_zero_keeps_no_cursor() {
    let (fake, server) = start(Limits::unlimited()).await;
    fake.add_variant("MUG", "9.00", 10);
    let mut config = config(&server, TOKEN, 10_000);
    config.full_read_every = Duration::ZERO;
    let shop = ShopifyConnection::new("shop", config).expect("connection");
    let read = shop.read_catalog_since(None).await.expect("catalog");
    assert_eq!(read.cursor, None);
    assert!(!read.incremental);
}

#[tokio::test]
async fn more_changed_variants_than_the_limit_read_whole_without_paging_them() {
    let s = Setup::new().await;
    let (first, _) = s.read(None).await;
    s.tick();
    for i in 0..25 {
        s.fake.add_variant(&format!("MORE-{i}"), "2.00", 1);
    }
    for i in 0..230 {
        s.fake.set_price(&format!("SKU-{i:04}"), "3.00");
    }
    s.tick();
    // bulk_above 10,000 on this connection: lower it to the floor of one page (250).
    let mut config = config(&s.server, TOKEN, 0);
    config.bulk_above = 0;
    let shop = ShopifyConnection::new("shop", config)
        .expect("connection")
        .with_order_clock(s.ours.clock());
    let from = s.fake.requests().len();
    let read = shop
        .read_catalog_since(Some(CachedCatalog {
            records: first.catalog.records.clone(),
            cursor: first.cursor.clone().expect("cursor"),
            writes_since: 0,
        }))
        .await
        .expect("catalog");
    assert!(
        !read.incremental,
        "255 variants changed, over the floor of 250"
    );
    let paged_changes = s
        .fake
        .requests()
        .into_iter()
        .skip(from)
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("VariantsChanged"))
        })
        .count();
    assert_eq!(paged_changes, 0, "the count said so before any page");
    assert_eq!(by_sku(&read.catalog, "SKU-0100").price, Some(dec("3.00")));
    assert_eq!(by_sku(&read.catalog, "MORE-3").quantity, Some(1));
}

#[tokio::test]
async fn many_writes_since_the_read_make_it_whole_without_paging() {
    let s = Setup::new().await;
    let (first, _) = s.read(None).await;
    s.tick();
    let from = s.fake.requests().len();
    let read = s
        .shop
        .read_catalog_since(Some(CachedCatalog {
            records: first.catalog.records.clone(),
            cursor: first.cursor.clone().expect("cursor"),
            // The last run wrote more values than bulk_above (10,000): they all changed.
            writes_since: 10_001,
        }))
        .await
        .expect("catalog");
    assert!(!read.incremental);
    assert!(
        !s.fake
            .requests()
            .into_iter()
            .skip(from)
            .any(|r| r.query.as_deref().is_some_and(|q| q.contains("Changed("))),
        "no page of changes was read"
    );
    check_catalog(&read.catalog);
}
