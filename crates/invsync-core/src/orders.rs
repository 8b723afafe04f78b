//! Open store orders that are not posted to the accounting side yet. Their products are
//! `in-orders` (rule 3): the accounting quantity still counts the sold units.

use crate::sku::SkuKey;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One line of an open, unposted store order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The store the order was placed in.
    pub store: CompactString,
    /// The store's order number or id.
    pub order: CompactString,
    pub sku: CompactString,
    pub quantity: i64,
}

/// One store order as a connection reports it: the unit the database tracks (issue 7),
/// from the first time it is seen until it is posted to the accounting side or leaves the
/// store's open orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreOrder {
    /// The platform's stable id (for a file: the order column).
    pub id: CompactString,
    /// The number people and the accounting side know it by (QuickBooks' DocNumber).
    pub number: CompactString,
    /// Still holds stock: not cancelled, closed or fully fulfilled.
    pub open: bool,
    /// The platform's last-modified time, when it has one: an older view of an order never
    /// replaces a newer one.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub lines: Vec<StoreOrderLine>,
}

/// What a snapshot of a store's open orders says about a tracked order missing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Absent {
    /// It left the store's open orders: cancelled, closed or fulfilled.
    Closed,
    /// It was posted: the source lists only unposted orders (an orders file). If it comes
    /// back, it holds stock again.
    Posted,
}

/// One read of a store's orders: what a connection returns and what the run history
/// applies, cursor included, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFeed {
    /// Orders new or changed since the cursor the read was given — closed, cancelled and
    /// fulfilled ones included (`open: false`), so tracked orders are released — or, for a
    /// snapshot, every open order.
    pub orders: Vec<StoreOrder>,
    /// `Some` when `orders` is every open order of the store, and what a tracked order
    /// missing from it means.
    pub snapshot: Option<Absent>,
    /// What to hand the next read. `None`: the connection cannot read incrementally (the
    /// next read is a snapshot again), and a stored cursor is forgotten.
    pub cursor: Option<String>,
}

/// A line of a [`StoreOrder`]: units of one SKU not shipped yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreOrderLine {
    pub sku: CompactString,
    pub quantity: i64,
}

impl StoreOrder {
    /// Groups flat order lines (one store's) into open orders, in first-seen order; the
    /// order column serves as id and number.
    pub fn group(lines: Vec<OrderLine>) -> Vec<StoreOrder> {
        let mut orders: Vec<StoreOrder> = Vec::new();
        let mut index: HashMap<CompactString, usize> = HashMap::new();
        for line in lines {
            let i = *index.entry(line.order.clone()).or_insert_with(|| {
                orders.push(StoreOrder {
                    id: line.order.clone(),
                    number: line.order.clone(),
                    open: true,
                    updated_at: None,
                    lines: Vec::new(),
                });
                orders.len() - 1
            });
            if let Some(order) = orders.get_mut(i) {
                order.lines.push(StoreOrderLine {
                    sku: line.sku,
                    quantity: line.quantity,
                });
            }
        }
        orders
    }
}

/// What unposted orders hold, by SKU, across every store.
#[derive(Debug, Clone, Default)]
pub struct OrderBook {
    by_sku: HashMap<SkuKey, Held, foldhash::fast::RandomState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// Units in unposted orders (the `reserved` of rule 7).
    pub quantity: i64,
    /// `store:order` of every order that holds the SKU, deduplicated, in arrival order.
    pub orders: Vec<CompactString>,
}

impl OrderBook {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, line: &OrderLine) {
        let Some(key) = SkuKey::new(&line.sku) else {
            return;
        };
        let held = self.by_sku.entry(key).or_default();
        held.quantity = held.quantity.saturating_add(line.quantity.max(0));
        let label = CompactString::from(format!("{}:{}", line.store, line.order));
        if !held.orders.contains(&label) {
            held.orders.push(label);
        }
    }

    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a OrderLine>) -> Self {
        let mut book = OrderBook::new();
        for line in lines {
            book.add(line);
        }
        book
    }

    pub fn held(&self, sku: &SkuKey) -> Option<&Held> {
        self.by_sku.get(sku)
    }

    pub fn is_empty(&self) -> bool {
        self.by_sku.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_sku.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(store: &str, order: &str, sku: &str, quantity: i64) -> OrderLine {
        OrderLine {
            store: store.into(),
            order: order.into(),
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn sums_quantities_across_orders_and_stores_by_normalised_sku() {
        let book = OrderBook::from_lines(&[
            line("shop", "1001", "MUG-1", 2),
            line("shop", "1001", "mug-1 ", 1),
            line("pos", "A7", "Mug-1", 3),
            line("shop", "1002", "TEE", 1),
            line("shop", "1003", "", 5),
        ]);
        let mug = book
            .held(&SkuKey::new("MUG-1").expect("sku"))
            .expect("held");
        assert_eq!(mug.quantity, 6);
        assert_eq!(mug.orders, vec!["shop:1001", "pos:A7"]);
        assert_eq!(book.len(), 2, "an order line without a SKU holds nothing");
    }

    #[test]
    fn grouping_keeps_first_seen_order_and_every_line() {
        let orders = StoreOrder::group(vec![
            line("shop", "1001", "A", 2),
            line("shop", "1002", "B", 1),
            line("shop", "1001", "C", 3),
        ]);
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0].id, "1001");
        assert_eq!(orders[0].number, "1001");
        assert!(orders[0].open);
        assert_eq!(
            orders[0]
                .lines
                .iter()
                .map(|l| (l.sku.as_str(), l.quantity))
                .collect::<Vec<_>>(),
            vec![("A", 2), ("C", 3)]
        );
        assert_eq!(orders[1].lines.len(), 1);
    }

    #[test]
    fn a_negative_line_reserves_nothing() {
        let book = OrderBook::from_lines(&[line("shop", "1", "A", -4)]);
        assert_eq!(
            book.held(&SkuKey::new("a").expect("sku"))
                .map(|h| h.quantity),
            Some(0)
        );
    }
}
