//! The simulated merchant: one accounting stock, three stores' listings, the orders they
//! take, and the bookkeeping that says when a sale was oversold.

use serde::Serialize;

/// Something that happens to the merchant, drawn from the demand stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A customer tries to buy `quantity` of `sku` in `store`; the store accepts when it
    /// advertises at least that many.
    StoreSale {
        store: usize,
        sku: usize,
        quantity: i64,
    },
    /// An in-store sale on the accounting side: only what is physically there and not
    /// promised to a store order can be sold.
    PosSale { sku: usize, quantity: i64 },
    /// The merchant posts one unposted order (picked by `pick`) to the accounting side.
    Post { pick: u32 },
    /// Stock arrives.
    Restock { sku: usize, quantity: i64 },
}

/// One store order. Every order has one line: enough for the stock arithmetic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOrder {
    pub store: usize,
    pub id: u64,
    pub sku: usize,
    pub quantity: i64,
    pub posted: bool,
    /// The change counter when the order was created or last changed (incremental feeds).
    pub changed: u64,
}

/// Sales counted under one sync policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SalesStats {
    /// Store sales accepted.
    pub sales: u64,
    /// Accepted store sales the stock could not cover: oversold.
    pub oversold_sales: u64,
    /// Units of those sales beyond the stock that was left.
    pub oversold_units: u64,
    /// Oversold sales of a SKU whose accounting quantity was negative at the time: the
    /// engine rejects a negative quantity (to be fixed at its source, which nobody does
    /// here), so the stores keep what they last showed.
    pub oversold_while_negative: u64,
    /// Store purchase attempts refused because the store showed too little.
    pub refused: u64,
    pub pos_sales: u64,
    pub postings: u64,
}

/// The whole merchant.
#[derive(Debug, Clone)]
pub struct World {
    /// The accounting (master) quantity per SKU.
    pub accounting: Vec<i64>,
    /// `listings[store][sku]`: what each store advertises.
    pub listings: Vec<Vec<i64>>,
    pub orders: Vec<SimOrder>,
    next_order: u64,
    /// Bumped by every change to an order; incremental feeds read past it.
    pub changes: u64,
    pub stats: SalesStats,
    /// Restocks per SKU since [`World::restocked`] was last reset (invariant bounds).
    pub restocked: Vec<i64>,
    /// `unseen[store][sku]`: what happened to the SKU elsewhere since that listing was
    /// last written ([`Unseen`] bits), to say why a sale was oversold.
    unseen: Vec<Vec<u8>>,
    /// Oversold sales by what their listing had not been told ([`Unseen::describe`]).
    pub oversold_causes: std::collections::BTreeMap<String, u64>,
}

/// What a listing was not told since it was last written (bits of `World::unseen`).
pub struct Unseen;

impl Unseen {
    pub const OTHER_STORE_SALE: u8 = 1;
    pub const POS_SALE: u8 = 2;
    pub const POSTING: u8 = 4;
    pub const RESTOCK: u8 = 8;

    /// `other-store sale + POS sale`, or `nothing (the last write was already too high)`.
    pub fn describe(bits: u8, negative: bool) -> String {
        let mut parts: Vec<&str> = [
            (Self::OTHER_STORE_SALE, "other-store sale"),
            (Self::POS_SALE, "POS sale"),
            (Self::POSTING, "posting"),
            (Self::RESTOCK, "restock"),
        ]
        .into_iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| name)
        .collect();
        if parts.is_empty() {
            parts.push("nothing (the last write was already too high)");
        }
        let mut out = parts.join(" + ");
        if negative {
            out.push_str(" [accounting negative]");
        }
        out
    }
}

impl World {
    pub fn new(stock: &[i64], stores: usize) -> World {
        World {
            accounting: stock.to_vec(),
            listings: vec![stock.to_vec(); stores],
            orders: Vec::new(),
            next_order: 1,
            changes: 0,
            stats: SalesStats::default(),
            restocked: vec![0; stock.len()],
            unseen: vec![vec![0; stock.len()]; stores],
            oversold_causes: Default::default(),
        }
    }

    /// Marks what every listing of `sku` except `except`'s has not been told yet.
    fn unseen_by_all(&mut self, sku: usize, bit: u8, except: Option<usize>) {
        for (store, listing) in self.unseen.iter_mut().enumerate() {
            if Some(store) != except
                && let Some(slot) = listing.get_mut(sku)
            {
                *slot |= bit;
            }
        }
    }

    /// `store`'s listing of `sku` was just written: it knows all until now.
    pub fn listing_written(&mut self, store: usize, sku: usize) {
        if let Some(slot) = self.unseen.get_mut(store).and_then(|l| l.get_mut(sku)) {
            *slot = 0;
        }
    }

    /// Units of `sku` in orders not posted yet.
    pub fn unposted(&self, sku: usize) -> i64 {
        self.orders
            .iter()
            .filter(|o| !o.posted && o.sku == sku)
            .map(|o| o.quantity)
            .sum()
    }

    /// What the merchant can still sell of `sku`: the accounting quantity less what
    /// unposted store orders have already sold.
    pub fn sellable(&self, sku: usize) -> i64 {
        self.accounting.get(sku).copied().unwrap_or(0) - self.unposted(sku)
    }

    pub fn apply(&mut self, event: Event) {
        match event {
            Event::StoreSale {
                store,
                sku,
                quantity,
            } => {
                let Some(listed) = self.listings.get(store).and_then(|l| l.get(sku)).copied()
                else {
                    return;
                };
                if listed < quantity {
                    self.stats.refused += 1;
                    return;
                }
                let sellable = self.sellable(sku);
                self.stats.sales += 1;
                if sellable < quantity {
                    self.stats.oversold_sales += 1;
                    let negative = self.accounting.get(sku).is_some_and(|q| *q < 0);
                    if negative {
                        self.stats.oversold_while_negative += 1;
                    }
                    let bits = self
                        .unseen
                        .get(store)
                        .and_then(|l| l.get(sku))
                        .copied()
                        .unwrap_or(0);
                    *self
                        .oversold_causes
                        .entry(Unseen::describe(bits, negative))
                        .or_default() += 1;
                    self.stats.oversold_units +=
                        u64::try_from(quantity - sellable.max(0)).unwrap_or_default();
                }
                if let Some(slot) = self.listings.get_mut(store).and_then(|l| l.get_mut(sku)) {
                    *slot -= quantity;
                }
                self.unseen_by_all(sku, Unseen::OTHER_STORE_SALE, Some(store));
                self.changes += 1;
                self.orders.push(SimOrder {
                    store,
                    id: self.next_order,
                    sku,
                    quantity,
                    posted: false,
                    changed: self.changes,
                });
                self.next_order += 1;
            }
            Event::PosSale { sku, quantity } => {
                if self.sellable(sku) >= quantity
                    && let Some(slot) = self.accounting.get_mut(sku)
                {
                    *slot -= quantity;
                    self.stats.pos_sales += 1;
                    self.unseen_by_all(sku, Unseen::POS_SALE, None);
                }
            }
            Event::Post { pick } => {
                let unposted: Vec<usize> = (0..self.orders.len())
                    .filter(|i| self.orders.get(*i).is_some_and(|o| !o.posted))
                    .collect();
                if unposted.is_empty() {
                    return;
                }
                let Some(&index) = unposted.get(pick as usize % unposted.len()) else {
                    return;
                };
                self.changes += 1;
                let changes = self.changes;
                if let Some(order) = self.orders.get_mut(index) {
                    // The accounting side records the sale and the order stops holding
                    // stock, in one step.
                    order.posted = true;
                    order.changed = changes;
                    if let Some(slot) = self.accounting.get_mut(order.sku) {
                        *slot -= order.quantity;
                    }
                    self.stats.postings += 1;
                    let sku = order.sku;
                    self.unseen_by_all(sku, Unseen::POSTING, None);
                }
            }
            Event::Restock { sku, quantity } => {
                if let Some(slot) = self.accounting.get_mut(sku) {
                    *slot += quantity;
                }
                if let Some(slot) = self.restocked.get_mut(sku) {
                    *slot += quantity;
                }
                self.unseen_by_all(sku, Unseen::RESTOCK, None);
            }
        }
    }

    /// The naive sync: copy the accounting quantity to every listing of `store`, as the
    /// tools merchants complain about do (no orders, no compare).
    pub fn naive_sync(&mut self, store: usize) {
        if let Some(listing) = self.listings.get_mut(store) {
            for (slot, master) in listing.iter_mut().zip(&self.accounting) {
                *slot = (*master).max(0);
            }
        }
        if let Some(unseen) = self.unseen.get_mut(store) {
            unseen.iter_mut().for_each(|b| *b = 0);
        }
    }

    /// The id of the newest order so far (orders with a larger id are newer).
    pub fn last_order_id(&self) -> u64 {
        self.next_order - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_store_selling_the_same_units_oversells() {
        let mut w = World::new(&[3], 2);
        let sale = |store| Event::StoreSale {
            store,
            sku: 0,
            quantity: 3,
        };
        w.apply(sale(0));
        assert_eq!((w.stats.sales, w.stats.oversold_sales), (1, 0));
        assert_eq!(w.sellable(0), 0);
        w.apply(sale(1));
        assert_eq!((w.stats.sales, w.stats.oversold_sales), (2, 1));
        assert_eq!(w.stats.oversold_units, 3);
        // The store that sold out refuses.
        w.apply(sale(0));
        assert_eq!(w.stats.refused, 1);
    }

    #[test]
    fn posting_moves_units_from_orders_to_accounting_without_changing_sellable() {
        let mut w = World::new(&[10], 1);
        w.apply(Event::StoreSale {
            store: 0,
            sku: 0,
            quantity: 4,
        });
        assert_eq!((w.accounting[0], w.sellable(0)), (10, 6));
        w.apply(Event::Post { pick: 7 });
        assert_eq!((w.accounting[0], w.sellable(0)), (6, 6));
        assert!(w.orders[0].posted);
        // A naive sync after posting is right; before it, it re-inflates.
        w.naive_sync(0);
        assert_eq!(w.listings[0][0], 6);
    }

    #[test]
    fn pos_sales_never_sell_promised_units() {
        let mut w = World::new(&[5], 1);
        w.apply(Event::StoreSale {
            store: 0,
            sku: 0,
            quantity: 4,
        });
        w.apply(Event::PosSale {
            sku: 0,
            quantity: 2,
        });
        assert_eq!((w.accounting[0], w.stats.pos_sales), (5, 0));
        w.apply(Event::PosSale {
            sku: 0,
            quantity: 1,
        });
        assert_eq!((w.accounting[0], w.stats.pos_sales), (4, 1));
    }
}
