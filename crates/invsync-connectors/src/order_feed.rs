//! What the platform connectors share for incremental order reads (ADR 0060): the cursor
//! format, the safety overlap, and folding what a read saw into the next cursor.
//!
//! The cursor is the platform's own clock, never ours: the greatest last-modified time of
//! any order the connector has read from the store (its high-water mark). A read with a
//! cursor asks for orders modified since `mark − OVERLAP`, in every status. It is kept as
//! `v1:<RFC 3339 UTC>`; a cursor that does not parse (another version, garbage) makes the
//! connector read a snapshot instead, so a format change never fails a run.

use crate::OrderFeed;
use chrono::{DateTime, SecondsFormat, Utc};
use invsync_core::{Absent, StoreOrder};
use std::collections::HashMap;

/// How far before the high-water mark an incremental read starts.
///
/// Platforms index order changes asynchronously (a search can show an order minutes after
/// its `updated_at`), several of their servers stamp times, a snapshot or incremental read
/// pages for a while during which orders change, and some filters are coarser than they
/// look (Shopify's search has been seen matching on the day of a time filter). An order
/// whose change lands in the index after the mark has moved past its time would be lost
/// for good. Reading the last five minutes again costs a few orders per tick and is
/// harmless: the engine upserts by order id and ignores a view older than the one it has
/// (`updated_at`).
pub(crate) const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

const VERSION: &str = "v1:";

/// The high-water mark in a cursor, or `None` when it is not one this version wrote.
pub(crate) fn parse(cursor: &str) -> Option<DateTime<Utc>> {
    let time = cursor.strip_prefix(VERSION)?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The cursor for a high-water mark.
pub(crate) fn encode(mark: DateTime<Utc>) -> String {
    format!(
        "{VERSION}{}",
        mark.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

/// Where a read with this mark starts: the overlap before it.
pub(crate) fn since(mark: DateTime<Utc>) -> DateTime<Utc> {
    mark - OVERLAP
}

/// One feed from what a read returned: orders deduplicated by id (the newest view wins —
/// paging sorted by modification time, or the overlap, can show an order twice), and the
/// next cursor: the greatest `updated_at` seen or, when nothing newer came back, the
/// previous mark. No mark at all (a snapshot of a store without open orders) gives no
/// cursor, so the next read is a snapshot again (as cheap as an incremental one then).
pub(crate) fn feed(
    orders: Vec<StoreOrder>,
    previous: Option<DateTime<Utc>>,
    snapshot: bool,
) -> OrderFeed {
    let orders = dedupe(orders);
    let mark = orders
        .iter()
        .filter_map(|o| o.updated_at)
        .chain(previous)
        .max();
    OrderFeed {
        orders,
        snapshot: snapshot.then_some(Absent::Closed),
        cursor: mark.map(encode),
    }
}

/// One entry per order id, in first-seen order, holding the newest view (the later one on
/// a tie: it was read later).
fn dedupe(orders: Vec<StoreOrder>) -> Vec<StoreOrder> {
    let mut out: Vec<StoreOrder> = Vec::with_capacity(orders.len());
    let mut at: HashMap<compact_str::CompactString, usize> = HashMap::new();
    for order in orders {
        match at.get(&order.id) {
            Some(&i) => {
                if let Some(kept) = out.get_mut(i)
                    && kept.updated_at <= order.updated_at
                {
                    *kept = order;
                }
            }
            None => {
                at.insert(order.id.clone(), out.len());
                out.push(order);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn order(id: &str, updated: &str, open: bool) -> StoreOrder {
        StoreOrder {
            id: id.into(),
            number: id.into(),
            open,
            updated_at: Some(at(updated)),
            lines: Vec::new(),
        }
    }

    #[test]
    fn cursors_round_trip_and_anything_else_is_no_cursor() {
        let mark = at("2026-11-28T10:00:00Z");
        assert_eq!(encode(mark), "v1:2026-11-28T10:00:00Z");
        assert_eq!(parse(&encode(mark)), Some(mark));
        let fine = at("2026-11-28T10:00:00.250Z");
        assert_eq!(parse(&encode(fine)), Some(fine));
        for garbage in [
            "",
            "v1:",
            "v1:yesterday",
            "v2:2026-11-28T10:00:00Z",
            "2026-11-28T10:00:00Z",
            "fake-cursor:12",
        ] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
        assert_eq!(since(mark), at("2026-11-28T09:55:00Z"));
    }

    #[test]
    fn a_feed_keeps_the_newest_view_of_each_order_and_the_greatest_mark() {
        let f = feed(
            vec![
                order("1", "2026-11-28T10:00:00Z", true),
                order("2", "2026-11-28T10:02:00Z", true),
                order("1", "2026-11-28T10:05:00Z", false),
                order("2", "2026-11-28T09:00:00Z", true),
            ],
            Some(at("2026-11-28T10:01:00Z")),
            false,
        );
        assert_eq!(f.orders.len(), 2);
        assert_eq!(f.orders[0].id, "1");
        assert!(!f.orders[0].open, "the later view of order 1");
        assert_eq!(f.orders[1].updated_at, Some(at("2026-11-28T10:02:00Z")));
        assert_eq!(f.cursor.as_deref(), Some("v1:2026-11-28T10:05:00Z"));
        assert_eq!(f.snapshot, None);
    }

    #[test]
    fn nothing_new_keeps_the_previous_mark_and_no_mark_is_no_cursor() {
        let previous = at("2026-11-28T10:00:00Z");
        let f = feed(
            vec![order("1", "2026-11-28T09:58:00Z", true)],
            Some(previous),
            false,
        );
        assert_eq!(f.cursor, Some(encode(previous)));
        let empty = feed(Vec::new(), None, true);
        assert_eq!(empty.cursor, None);
        assert_eq!(empty.snapshot, Some(Absent::Closed));
    }
}
