//! Reading items: the catalog (every active item, paged) and single items by Id.

use super::json::{ItemJson, decimal};
use super::{Inner, quote};
use crate::http::MAX_PAGES;
use crate::{Catalog, ConnectorError, ErrorKind, RecordRef, Reject};
use compact_str::CompactString;
use invsync_core::{ItemKind, Record};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::Instrument as _;

/// Ids per `where Id in (…)` query.
const IDS_PER_QUERY: usize = 200;

/// One item as the catalog sees it.
pub(super) enum Parsed {
    Record(Record),
    /// `Active: false`: left out of the catalog.
    Inactive,
    Reject(Reject),
}

/// `select * from Item`, every page. The item count comes first so the pages can be
/// fetched concurrently (within the realm's in-flight limit); pages follow one order
/// because each query names its `STARTPOSITION`.
pub(super) async fn read_catalog(inner: &Arc<Inner>) -> Result<Catalog, ConnectorError> {
    let started = std::time::Instant::now();
    let page = inner.tuning.page_size;
    let total = inner
        .query("select count(*) from Item")
        .await?
        .total_count
        .unwrap_or(0);
    let pages = usize::try_from(total)
        .unwrap_or(usize::MAX)
        .div_ceil(page)
        .max(1);
    // Found by fuzzing: a garbled count of 2⁶⁴−1 allocated a slot and a task per page
    // until the process was killed for memory.
    let too_many = |pages: usize| {
        inner.error(
            ErrorKind::InvalidData,
            format!(
                "QuickBooks reports {total} items, {pages} pages of {page}; more than {MAX_PAGES} pages is not a real catalog, so nothing was read"
            ),
        )
    };
    if pages > MAX_PAGES {
        return Err(too_many(pages));
    }
    let mut fetches = JoinSet::new();
    for p in 0..pages {
        // The caller's span (the engine's `run`) goes along: its logs say which run.
        let (inner, span) = (Arc::clone(inner), tracing::Span::current());
        fetches.spawn(async move { (p, fetch_page(&inner, p, page).instrument(span).await) });
    }
    let mut raw_pages: Vec<Vec<Box<RawValue>>> = vec![Vec::new(); pages];
    while let Some(joined) = fetches.join_next().await {
        let (p, items) = joined
            .map_err(|e| inner.error(ErrorKind::Other, format!("a page read failed: {e}")))?;
        let items = items?;
        if let Some(slot) = raw_pages.get_mut(p) {
            *slot = items;
        }
    }
    // Items added since the count: a full last page means there may be more.
    let mut next = pages;
    while raw_pages.last().is_some_and(|last| last.len() == page) {
        if next >= MAX_PAGES {
            return Err(too_many(next + 1));
        }
        raw_pages.push(fetch_page(inner, next, page).await?);
        next += 1;
    }
    let mut catalog = Catalog::default();
    catalog
        .records
        .reserve(raw_pages.iter().map(Vec::len).sum());
    for raw in raw_pages.iter().flatten() {
        match parse_item(inner, raw) {
            Parsed::Record(record) => catalog.records.push(record),
            Parsed::Inactive => {}
            Parsed::Reject(reject) => catalog.rejects.push(reject),
        }
    }
    tracing::debug!(
        connection = %inner.name, items = catalog.records.len(), rejects = catalog.rejects.len(),
        pages = raw_pages.len(), elapsed_ms = started.elapsed().as_millis(), "read QuickBooks Online items"
    );
    Ok(catalog)
}

async fn fetch_page(
    inner: &Inner,
    index: usize,
    page: usize,
) -> Result<Vec<Box<RawValue>>, ConnectorError> {
    // STARTPOSITION is 1-based.
    let query = format!(
        "select * from Item STARTPOSITION {} MAXRESULTS {page}",
        index * page + 1
    );
    Ok(inner.query(&query).await?.items)
}

/// The current state of some items, by Id (`where Id in (…)`), as QuickBooks' JSON.
pub(super) async fn items_by_id(
    inner: &Inner,
    ids: &[&str],
) -> Result<HashMap<String, ItemJson>, ConnectorError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let list: Vec<String> = chunk.iter().map(|id| quote(id)).collect();
        let query = format!(
            "select * from Item where Id in ({}) MAXRESULTS {}",
            list.join(", "),
            super::MAX_RESULTS
        );
        for raw in inner.query(&query).await?.items {
            let Ok(item) = serde_json::from_str::<ItemJson>(raw.get()) else {
                continue;
            };
            inner.remember_item(&item);
            if let Some(id) = item.id.clone() {
                out.insert(id, item);
            }
        }
    }
    Ok(out)
}

/// Reads some records again (after a stale write).
pub(super) async fn read_records(
    inner: &Inner,
    records: &[RecordRef],
) -> Result<Vec<Record>, ConnectorError> {
    let ids: Vec<&str> = records
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let list: Vec<String> = chunk.iter().map(|id| quote(id)).collect();
        let query = format!(
            "select * from Item where Id in ({}) MAXRESULTS {}",
            list.join(", "),
            super::MAX_RESULTS
        );
        for raw in inner.query(&query).await?.items {
            if let Parsed::Record(record) = parse_item(inner, &raw) {
                out.push(record);
            }
        }
    }
    Ok(out)
}

/// One item of a query as a record (remembering its `SyncToken` for updates).
pub(super) fn parse_item(inner: &Inner, raw: &RawValue) -> Parsed {
    let item: ItemJson = match serde_json::from_str(raw.get()) {
        Ok(item) => item,
        Err(e) => {
            return Parsed::Reject(Reject {
                sku: None,
                id: None,
                error: format!("QuickBooks returned an item invsync cannot read: {e}"),
            });
        }
    };
    inner.remember_item(&item);
    to_record(item)
}

/// The kind of an item whose quantity QuickBooks does not track (ADR 0037). Items sold
/// at a price — `NonInventory` and `Service`, and `Inventory` items with
/// `TrackQtyOnHand` off — are `untracked`: their price syncs, their quantity does not
/// apply. Bundles (`Group`, `Bundle`), `Category` (a folder of items), `Assembly` and the
/// bookkeeping types (`Other Charge`, `Discount`, `Tax`, `Subtotal`, `Payment`, …) are
/// `base`: nothing invsync may sync.
fn untracked_kind(item_type: Option<&str>) -> ItemKind {
    match item_type {
        Some("NonInventory" | "Service" | "Inventory") => ItemKind::Untracked,
        _ => ItemKind::Base,
    }
}

fn to_record(item: ItemJson) -> Parsed {
    let reject = |item: &ItemJson, error: String| {
        Parsed::Reject(Reject {
            sku: item.sku.clone().filter(|s| !s.trim().is_empty()),
            id: item.id.clone(),
            error,
        })
    };
    let Some(id) = item.id.clone() else {
        return reject(
            &item,
            "QuickBooks returned an item without an Id".to_owned(),
        );
    };
    // Inactive items are deleted items in QuickBooks' terms: never synced.
    if item.active == Some(false) {
        return Parsed::Inactive;
    }
    let price = match &item.unit_price {
        None => None,
        Some(raw) => match decimal(raw) {
            // JSON numbers lose trailing zeros (12.50 arrives as 12.5); money is shown
            // and written with at least cents.
            Ok(mut p) => {
                if p.scale() < 2 {
                    p.rescale(2);
                }
                Some(p)
            }
            Err(e) => return reject(&item, format!("item {id}: UnitPrice {e}")),
        },
    };
    let (kind, quantity) = if item.tracks_quantity() {
        // QuickBooks returns only properties that have a value; a tracked item without
        // QtyOnHand has none on hand.
        let on_hand = match &item.qty_on_hand {
            None => Decimal::ZERO,
            Some(raw) => match decimal(raw) {
                Ok(q) => q,
                Err(e) => return reject(&item, format!("item {id}: QtyOnHand {e}")),
            },
        };
        // QuickBooks quantities may be fractional; stores sell whole units. Rounding
        // down never offers a store more than is there (ADR 0034).
        match on_hand.floor().to_i64() {
            Some(q) => (ItemKind::Inventory, Some(q)),
            None => {
                return reject(
                    &item,
                    format!("item {id}: QtyOnHand {on_hand} is out of range"),
                );
            }
        }
    } else {
        (untracked_kind(item.item_type.as_deref()), None)
    };
    Parsed::Record(Record {
        id: CompactString::from(id),
        sku: CompactString::from(item.sku.as_deref().unwrap_or("").trim()),
        name: CompactString::from(item.name.as_deref().unwrap_or("")),
        kind,
        price,
        quantity,
        sale: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Parsed {
        to_record(serde_json::from_str(json).expect("item json"))
    }

    fn record(json: &str) -> Record {
        match parse(json) {
            Parsed::Record(r) => r,
            Parsed::Inactive => panic!("inactive"),
            Parsed::Reject(r) => panic!("rejected: {}", r.error),
        }
    }

    #[test]
    fn item_types_map_to_inventory_untracked_or_base() {
        let inv = record(
            r#"{"Id":"1","Name":"Mug","Sku":"MUG-1","Type":"Inventory","TrackQtyOnHand":true,"QtyOnHand":7,"UnitPrice":12.50}"#,
        );
        assert_eq!(inv.kind, ItemKind::Inventory);
        assert_eq!(inv.quantity, Some(7));
        assert_eq!(inv.price, Some(Decimal::new(1250, 2)));
        assert_eq!(inv.id, "1");
        // Sold at a price, stock not counted: the price syncs, the quantity does not apply
        // (a QtyOnHand an untracked item still carries is not stock).
        for untracked in [
            r#"{"Id":"2","Sku":"S","Type":"Service","UnitPrice":5}"#,
            r#"{"Id":"3","Sku":"N","Type":"NonInventory","UnitPrice":5,"TrackQtyOnHand":false}"#,
            r#"{"Id":"6","Sku":"U","Type":"Inventory","TrackQtyOnHand":false,"QtyOnHand":3,"UnitPrice":5}"#,
        ] {
            let r = record(untracked);
            assert_eq!(
                (r.kind, r.price, r.quantity),
                (ItemKind::Untracked, Some(Decimal::new(500, 2)), None),
                "{untracked}"
            );
        }
        // No price: still untracked; the price is missing and held back as such.
        let r = record(r#"{"Id":"7","Sku":"P","Type":"NonInventory"}"#);
        assert_eq!((r.kind, r.price), (ItemKind::Untracked, None));
        for base in [
            r#"{"Id":"4","Sku":"G","Type":"Group"}"#,
            r#"{"Id":"5","Name":"Mugs","Type":"Category"}"#,
            r#"{"Id":"8","Sku":"B","Type":"Bundle","UnitPrice":9}"#,
            r#"{"Id":"9","Sku":"D","Type":"Discount","UnitPrice":1}"#,
            r#"{"Id":"10","Sku":"X"}"#,
        ] {
            let r = record(base);
            assert_eq!(r.kind, ItemKind::Base, "{base}");
            assert_eq!(r.quantity, None, "{base}");
        }
        assert!(matches!(
            parse(
                r#"{"Id":"7","Sku":"X","Active":false,"Type":"Inventory","TrackQtyOnHand":true}"#
            ),
            Parsed::Inactive
        ));
    }

    /// Recorded answers (tests/fixtures/quickbooks_online, with their sources).
    #[test]
    fn recorded_items_decode_into_their_kinds() {
        let item = |text: &str, wrapped: bool| {
            let value: serde_json::Value = serde_json::from_str(text).expect("fixture");
            let item = if wrapped {
                value["Item"].clone()
            } else {
                value
            };
            match to_record(serde_json::from_value(item).expect("item json")) {
                Parsed::Record(r) => r,
                Parsed::Inactive => panic!("inactive"),
                Parsed::Reject(r) => panic!("rejected: {}", r.error),
            }
        };
        let fountain = item(
            include_str!("../../tests/fixtures/quickbooks_online/item_inventory.json"),
            true,
        );
        assert_eq!(
            (
                fountain.id.as_str(),
                fountain.kind,
                fountain.price,
                fountain.quantity
            ),
            (
                "5",
                ItemKind::Inventory,
                Some(Decimal::new(27500, 2)),
                Some(2)
            )
        );
        let concrete = item(
            include_str!("../../tests/fixtures/quickbooks_online/item_service.json"),
            false,
        );
        assert_eq!(
            (
                concrete.name.as_str(),
                concrete.kind,
                concrete.price,
                concrete.quantity
            ),
            (
                "Concrete",
                ItemKind::Untracked,
                Some(Decimal::new(0, 2)),
                None
            ),
            "a service is sold at its price, with no stock"
        );
        let category = item(
            include_str!("../../tests/fixtures/quickbooks_online/item_category.json"),
            true,
        );
        assert_eq!((category.kind, category.price), (ItemKind::Base, None));
    }

    #[test]
    fn numbers_are_read_from_their_text() {
        let r = record(
            r#"{"Id":"1","Sku":"A","Type":"Inventory","TrackQtyOnHand":true,"QtyOnHand":2.75,"UnitPrice":0.1}"#,
        );
        assert_eq!(r.quantity, Some(2), "fractional stock rounds down");
        assert_eq!(r.price, Some(Decimal::new(1, 1)), "no float rounding");
        assert_eq!(
            r.price.map(|p| p.to_string()).as_deref(),
            Some("0.10"),
            "cents"
        );
        let r = record(
            r#"{"Id":"1","Sku":"A","Type":"Inventory","TrackQtyOnHand":true,"QtyOnHand":-1.5,"UnitPrice":1e2}"#,
        );
        assert_eq!(r.quantity, Some(-2));
        assert_eq!(r.price, Some(Decimal::new(100, 0)));
        let r = record(r#"{"Id":"1","Sku":"A","Type":"Inventory","TrackQtyOnHand":true}"#);
        assert_eq!(r.quantity, Some(0));
        assert_eq!(r.price, None);
    }

    #[test]
    fn unreadable_items_are_rejects() {
        let Parsed::Reject(r) = parse(r#"{"Id":"9","Sku":"B","UnitPrice":"12.50"}"#) else {
            panic!("a price in quotes is not a number");
        };
        assert_eq!(r.sku.as_deref(), Some("B"));
        assert_eq!(r.id.as_deref(), Some("9"));
        assert!(r.error.contains("UnitPrice"), "{}", r.error);
        assert!(matches!(parse(r#"{"Sku":"C"}"#), Parsed::Reject(_)));
    }
}
