//! What the platform connectors share for incremental order reads (ADR 0060): the cursor
//! format, the safety overlap, and folding what a read saw into the next cursor.
//!
//! The cursor is the platform's own clock, never ours: the greatest last-modified time of
//! any order the connector has read from the store (its high-water mark). A read with a
//! cursor asks for orders modified since `mark − OVERLAP`, in every status. Once a read
//! made at least the overlap after the mark last moved (measured on invsync's clock, the
//! only use of it) has re-read that window and found nothing newer, the cursor is settled
//! and reads start at the mark: a quiet store then reads nothing, instead of the last
//! burst of changes on every tick. It is kept as `v1:<mark>[;seen=<time>|;settled]`
//! (RFC 3339, UTC); a cursor that does not parse (another version, garbage) makes the
//! connector read a snapshot instead, so a format change never fails a run.

use crate::OrderFeed;
use chrono::{DateTime, SecondsFormat, Utc};
use invsync_core::{Absent, StoreOrder};
use std::collections::HashMap;
use std::sync::Arc;

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
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

const VERSION: &str = "v1:";

/// invsync's clock, read only to measure how long ago the mark last moved (never compared
/// with a platform time). Connections take `Utc::now`; tests pass their own.
pub type OrderClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The clock connections use unless a test gives them another.
pub(crate) fn system_clock() -> OrderClock {
    Arc::new(Utc::now)
}

/// A parsed cursor: the high-water mark, and whether the overlap before it has been read
/// again late enough to be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub mark: DateTime<Utc>,
    pub settle: Settle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The mark moved at this time on invsync's clock (`None`: not known); reads start the
    /// overlap before it.
    Fresh(Option<DateTime<Utc>>),
    /// A read at least the overlap after the mark moved re-read the overlap and found
    /// nothing newer: every change stamped up to the mark has had the whole overlap to
    /// reach the index and was read. Reads start at the mark (exclusive).
    Settled,
}

impl Cursor {
    /// The exclusive lower bound of the next read's modification times.
    pub fn since(&self) -> DateTime<Utc> {
        match self.settle {
            Settle::Fresh(_) => self.mark - OVERLAP,
            Settle::Settled => self.mark,
        }
    }
}

/// `v1:<mark>`, `v1:<mark>;seen=<time>` or `v1:<mark>;settled`; `None` for anything else
/// (another version, garbage): the connector then reads a snapshot.
pub fn parse(cursor: &str) -> Option<Cursor> {
    let rest = cursor.strip_prefix(VERSION)?;
    let (mark, state) = match rest.split_once(';') {
        Some((m, s)) => (m, Some(s)),
        None => (rest, None),
    };
    let time = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let settle = match state {
        None => Settle::Fresh(None),
        Some("settled") => Settle::Settled,
        Some(s) => Settle::Fresh(Some(time(s.strip_prefix("seen=")?)?)),
    };
    Some(Cursor {
        mark: time(mark)?,
        settle,
    })
}

/// The cursor a connection was handed, parsed; one this version cannot read is logged and
/// treated as none (the read is a snapshot, never a failed run).
pub(crate) fn resume(connection: &str, cursor: Option<&str>) -> Option<Cursor> {
    let mark = cursor.and_then(parse);
    if let (Some(c), None) = (cursor, mark) {
        tracing::warn!(
            connection = %connection, cursor = %c,
            "order cursor not understood; reading a snapshot of the open orders"
        );
    }
    mark
}

/// The cursor's text.
pub(crate) fn encode(cursor: Cursor) -> String {
    let mark = cursor.mark.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    match cursor.settle {
        Settle::Fresh(None) => format!("{VERSION}{mark}"),
        Settle::Fresh(Some(seen)) => format!(
            "{VERSION}{mark};seen={}",
            seen.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        Settle::Settled => format!("{VERSION}{mark};settled"),
    }
}

/// One feed from what a read returned: orders deduplicated by id (the newest view wins —
/// paging sorted by modification time, or the overlap, can show an order twice), and the
/// next cursor. Its mark is the greatest `updated_at` seen or, when nothing newer came
/// back, the previous mark; a mark that moved is fresh (`now`); one that did not settles
/// once `now` is the overlap past the time it moved. No mark at all (a snapshot of a
/// store without open orders) gives no cursor, so the next read is a snapshot again (as
/// cheap as an incremental one then).
pub(crate) fn feed(
    orders: Vec<StoreOrder>,
    previous: Option<Cursor>,
    snapshot: bool,
    now: DateTime<Utc>,
) -> OrderFeed {
    let orders = dedupe(orders);
    let newest = orders.iter().filter_map(|o| o.updated_at).max();
    OrderFeed {
        orders,
        snapshot: snapshot.then_some(Absent::Closed),
        cursor: advance(previous, newest, now).map(encode),
    }
}

/// The next cursor after a read that saw modification times up to `newest`: the mark
/// moves to `newest` when that is later (fresh, as of `now`), or stays and settles once
/// `now` is the overlap past the time it last moved. `None` when there is no mark at all.
pub(crate) fn advance(
    previous: Option<Cursor>,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Cursor> {
    match (previous, newest) {
        (Some(p), n) if n.is_none_or(|n| n <= p.mark) => Some(Cursor {
            mark: p.mark,
            settle: match p.settle {
                Settle::Settled => Settle::Settled,
                Settle::Fresh(Some(seen)) if now - seen >= OVERLAP => Settle::Settled,
                Settle::Fresh(Some(seen)) => Settle::Fresh(Some(seen)),
                Settle::Fresh(None) => Settle::Fresh(Some(now)),
            },
        }),
        (_, n) => n.map(|mark| Cursor {
            mark,
            settle: Settle::Fresh(Some(now)),
        }),
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

/// invsync's clock under a test's control, deliberately far from the platforms' fake
/// clocks: the two are never compared.
#[cfg(any(test, feature = "testing"))]
pub(crate) mod testing {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone)]
    pub struct OurClock(Arc<Mutex<DateTime<Utc>>>);

    impl Default for OurClock {
        fn default() -> Self {
            OurClock::new()
        }
    }

    impl OurClock {
        pub fn new() -> OurClock {
            let start = DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default();
            OurClock(Arc::new(Mutex::new(start)))
        }

        pub fn advance(&self, by: std::time::Duration) {
            let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *t += chrono::Duration::from_std(by).unwrap_or_default();
        }

        pub fn clock(&self) -> OrderClock {
            let inner = Arc::clone(&self.0);
            Arc::new(move || *inner.lock().unwrap_or_else(|e| e.into_inner()))
        }
    }
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

    fn fresh(mark: &str, seen: &str) -> Cursor {
        Cursor {
            mark: at(mark),
            settle: Settle::Fresh(Some(at(seen))),
        }
    }

    #[test]
    fn cursors_round_trip_and_anything_else_is_no_cursor() {
        let mark = at("2026-11-28T10:00:00Z");
        for c in [
            Cursor {
                mark,
                settle: Settle::Fresh(None),
            },
            fresh("2026-11-28T10:00:00.250Z", "2026-11-28T10:01:00Z"),
            Cursor {
                mark,
                settle: Settle::Settled,
            },
        ] {
            assert_eq!(parse(&encode(c)), Some(c), "{}", encode(c));
        }
        assert_eq!(
            encode(fresh("2026-11-28T10:00:00Z", "2026-11-28T10:01:00Z")),
            "v1:2026-11-28T10:00:00Z;seen=2026-11-28T10:01:00Z"
        );
        for garbage in [
            "",
            "v1:",
            "v1:yesterday",
            "v1:2026-11-28T10:00:00Z;",
            "v1:2026-11-28T10:00:00Z;seen=now",
            "v1:2026-11-28T10:00:00Z;done",
            "v2:2026-11-28T10:00:00Z",
            "2026-11-28T10:00:00Z",
            "fake-cursor:12",
        ] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
        let c = parse("v1:2026-11-28T10:00:00Z").expect("cursor");
        assert_eq!(c.since(), at("2026-11-28T09:55:00Z"), "the overlap");
        let settled = parse("v1:2026-11-28T10:00:00Z;settled").expect("cursor");
        assert_eq!(settled.since(), mark);
    }

    #[test]
    fn a_feed_keeps_the_newest_view_of_each_order_and_the_greatest_mark() {
        let now = at("2026-11-28T10:06:00Z");
        let f = feed(
            vec![
                order("1", "2026-11-28T10:00:00Z", true),
                order("2", "2026-11-28T10:02:00Z", true),
                order("1", "2026-11-28T10:05:00Z", false),
                order("2", "2026-11-28T09:00:00Z", true),
            ],
            Some(fresh("2026-11-28T10:01:00Z", "2026-11-28T10:01:30Z")),
            false,
            now,
        );
        assert_eq!(f.orders.len(), 2);
        assert_eq!(f.orders[0].id, "1");
        assert!(!f.orders[0].open, "the later view of order 1");
        assert_eq!(f.orders[1].updated_at, Some(at("2026-11-28T10:02:00Z")));
        assert_eq!(
            f.cursor.as_deref(),
            Some("v1:2026-11-28T10:05:00Z;seen=2026-11-28T10:06:00Z"),
            "the mark moved: fresh, seen now"
        );
        assert_eq!(f.snapshot, None);
    }

    #[test]
    fn a_quiet_mark_settles_only_after_the_overlap_on_our_clock() {
        let previous = fresh("2026-11-28T10:00:00Z", "2026-11-28T10:00:30Z");
        let overlap_read = vec![order("1", "2026-11-28T09:58:00Z", true)];
        // Seconds later (a re-plan in the same run): still fresh.
        let soon = feed(
            overlap_read.clone(),
            Some(previous),
            false,
            at("2026-11-28T10:01:00Z"),
        );
        assert_eq!(soon.cursor, Some(encode(previous)));
        // A tick later: the window was re-read the overlap after the mark moved.
        let later = feed(
            overlap_read,
            Some(previous),
            false,
            at("2026-11-28T10:15:00Z"),
        );
        assert_eq!(
            later.cursor.as_deref(),
            Some("v1:2026-11-28T10:00:00Z;settled")
        );
        // Settled stays settled while nothing changes, and a change makes it fresh again.
        let settled = parse("v1:2026-11-28T10:00:00Z;settled");
        let quiet = feed(Vec::new(), settled, false, at("2026-11-28T10:30:00Z"));
        assert_eq!(quiet.cursor, settled.map(encode));
        let moved = feed(
            vec![order("2", "2026-11-28T10:31:00Z", true)],
            settled,
            false,
            at("2026-11-28T10:32:00Z"),
        );
        assert_eq!(
            moved.cursor.as_deref(),
            Some("v1:2026-11-28T10:31:00Z;seen=2026-11-28T10:32:00Z")
        );
        // A cursor without `seen` (written before it existed) starts counting now.
        let bare = parse("v1:2026-11-28T10:00:00Z");
        let f = feed(Vec::new(), bare, false, at("2026-11-28T11:00:00Z"));
        assert_eq!(
            f.cursor.as_deref(),
            Some("v1:2026-11-28T10:00:00Z;seen=2026-11-28T11:00:00Z")
        );
    }

    #[test]
    fn no_mark_is_no_cursor() {
        let empty = feed(Vec::new(), None, true, at("2026-11-28T10:00:00Z"));
        assert_eq!(empty.cursor, None);
        assert_eq!(empty.snapshot, Some(Absent::Closed));
    }
}
