//! `invsync status`: every product of one store with its status, both sides' values and
//! why it is (not) synced.

use crate::connections::Connections;
use crate::snapshot::{Snapshot, SnapshotNeeds};
use crate::{Engine, EngineError};
use invsync_core::{
    Field, FieldSet, FieldValue, InOrdersMode, PlanRequest, QuantityRules, Sale, Selection, Side,
    SkipReason, Status,
};
use rust_decimal::Decimal;
use serde::Serialize;

/// One product of a store.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    /// The accounting SKU, or the store SKU for a listing without an accounting item.
    pub sku: String,
    /// The listing's SKU when it differs from `sku` (manual mappings, case).
    pub store_sku: Option<String>,
    pub name: String,
    pub status: Status,
    /// The fields that differ.
    pub differs: Vec<Field>,
    pub accounting_price: Option<Decimal>,
    /// The listing's regular price.
    pub store_price: Option<Decimal>,
    /// The listing's active sale, when it is on sale: what shoppers pay instead of
    /// `store_price`, and until when.
    pub store_sale: Option<Sale>,
    pub accounting_quantity: Option<i64>,
    pub store_quantity: Option<i64>,
    /// The quantity this store should show under the master and the store's rules.
    pub offered_quantity: Option<i64>,
    /// Units of the product in unposted orders across every store (the `reserved` of
    /// rule 7), when any.
    pub held_quantity: Option<i64>,
    /// Unposted orders (`store:order`) holding the product.
    pub orders: Vec<String>,
    /// Why: how it was matched or not, and any difference that is held back.
    pub detail: String,
}

/// A store whose open orders could not be read: quantities are not compared.
#[derive(Debug, Clone, Serialize)]
pub struct UnknownOrders {
    pub store: String,
    /// Why, as the connection said it.
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub store: String,
    /// Stores whose open orders could not be read. When any is listed, quantities are not
    /// compared (every store's orders decide what a store may be offered) and `sync` does
    /// not write quantities; prices are compared as usual. Empty when all were read.
    pub orders_unknown: Vec<UnknownOrders>,
    /// `[inventory] in_orders`: whether held units are skipped or reserved.
    pub in_orders: InOrdersMode,
    /// The store's `buffer`, `max_quantity` and `share`, which shape `offered_quantity`.
    pub rules: QuantityRules,
    pub rows: Vec<StatusRow>,
    /// Products that are never synced until their data is fixed: read from a connection
    /// that could not understand them, or with a negative price or quantity.
    pub unreadable: Vec<UnreadableRow>,
}

/// A product left out of the status (and of every sync) until its data is fixed.
#[derive(Debug, Clone, Serialize)]
pub struct UnreadableRow {
    pub sku: Option<String>,
    /// `accounting` or the store whose data is at fault.
    pub connection: String,
    pub error: String,
}

impl StatusReport {
    pub fn count(&self, status: Status) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

pub(crate) async fn status(engine: &Engine, store: &str) -> Result<StatusReport, EngineError> {
    let config = engine.config();
    if !config.stores.contains_key(store) {
        return Err(EngineError::UnknownStore(store.to_owned()));
    }
    let mut needs = SnapshotNeeds::for_request(config, store, FieldSet::BOTH);
    needs.tolerate_unread_orders = true;
    let this_store_is_master = matches!(needs.master, crate::snapshot::MasterSource::ThisStore);
    // The same read as a run's, through connections opened once each.
    let connections = Connections::open(engine, store, &needs)?;
    let snapshot = Snapshot::read(engine, &connections, store, &needs).await?;
    // Without every store's orders, quantities cannot be judged: prices only.
    let quantities_known = snapshot.unread_orders.is_empty();
    let unknown_note = (!quantities_known).then(|| {
        let stores: Vec<String> = snapshot
            .unread_orders
            .iter()
            .map(|u| format!("`{}`", u.store))
            .collect();
        format!(
            "quantity not compared: open orders of store {} unknown",
            stores.join(", ")
        )
    });
    // Store direction for price (and quantity, unless this store is the master); when it
    // is, quantity is compared in the direction it flows: store → accounting.
    let store_fields = if this_store_is_master || !quantities_known {
        FieldSet::PRICE
    } else {
        FieldSet::BOTH
    };
    let main = snapshot.plan(&PlanRequest {
        update: Side::Store,
        fields: store_fields,
        selection: Selection::All,
    })?;
    let to_accounting = if this_store_is_master && quantities_known {
        Some(snapshot.plan(&PlanRequest {
            update: Side::Accounting,
            fields: FieldSet::QUANTITY,
            selection: Selection::All,
        })?)
    } else {
        None
    };

    let mut rows = Vec::with_capacity(main.products.len());
    for (index, product) in main.products.iter().enumerate() {
        let acct = product
            .accounting
            .and_then(|i| snapshot.accounting.get(i as usize));
        let listing = product.store.and_then(|j| snapshot.store.get(j as usize));
        let mut status = product.status;
        let mut differs = Vec::new();
        let mut notes = vec![product.pair.describe().to_owned()];
        let mut offered = None;
        let plans = std::iter::once(&main).chain(to_accounting.as_ref());
        for plan in plans {
            let Some(p) = plan.products.get(index) else {
                continue;
            };
            status = merge(status, p.status);
            for ch in plan.changes.iter().filter(|c| c.product as usize == index) {
                differs.push(ch.field);
                if let (Side::Store, FieldValue::Quantity(q)) = (ch.side, ch.new) {
                    offered = Some(q);
                }
            }
            for s in plan.skipped.iter().filter(|s| s.product as usize == index) {
                if s.old != s.new && s.reason.is_difference() {
                    differs.push(s.field);
                }
                if s.reason != SkipReason::InOrders {
                    notes.push(format!("{}: {}", s.field, s.reason));
                } else if let Some(FieldValue::Quantity(q)) = s.new {
                    notes.push(format!(
                        "quantity not written (would be {q}) until the orders are posted"
                    ));
                }
                if let (
                    SkipReason::InOrders | SkipReason::NotStocked(_),
                    Some(FieldValue::Quantity(q)),
                ) = (s.reason, s.new)
                {
                    offered = Some(q);
                }
            }
        }
        differs.sort();
        differs.dedup();
        if let (Some(note), Some(_), Some(_)) = (
            &unknown_note,
            acct.and_then(|a| a.quantity),
            listing.and_then(|l| l.quantity),
        ) {
            notes.push(note.clone());
        }
        if offered.is_none()
            && status == Status::InSync
            && !this_store_is_master
            && quantities_known
        {
            offered = listing.and_then(|l| l.quantity);
        }
        let held = snapshot.held(product);
        let orders = held
            .map(|h| h.orders.iter().map(|o| o.to_string()).collect())
            .unwrap_or_default();
        let sku = acct
            .or(listing)
            .map(|r| r.sku.to_string())
            .unwrap_or_default();
        let store_sku = match (acct, listing) {
            (Some(a), Some(l)) if a.sku != l.sku => Some(l.sku.to_string()),
            _ => None,
        };
        rows.push(StatusRow {
            sku,
            store_sku,
            name: acct
                .or(listing)
                .map(|r| r.name.to_string())
                .unwrap_or_default(),
            status,
            differs,
            accounting_price: acct.and_then(|a| a.price),
            store_price: listing.and_then(|l| l.price),
            store_sale: listing.and_then(|l| l.sale.as_deref().copied()),
            accounting_quantity: acct.and_then(|a| a.quantity),
            store_quantity: listing.and_then(|l| l.quantity),
            offered_quantity: offered,
            held_quantity: held.map(|h| h.quantity),
            orders,
            detail: notes.join("; "),
        });
    }
    Ok(StatusReport {
        store: store.to_owned(),
        orders_unknown: snapshot
            .unread_orders
            .iter()
            .map(|u| UnknownOrders {
                store: u.store.clone(),
                error: u.error.message.clone(),
            })
            .collect(),
        in_orders: snapshot.in_orders,
        rules: snapshot.rules,
        rows,
        unreadable: snapshot
            .rejects
            .iter()
            .map(|r| UnreadableRow {
                sku: r.sku.clone(),
                connection: r.connection.clone(),
                error: r.error.clone(),
            })
            .collect(),
    })
}

/// The status shown when two plans (store-direction price, accounting-direction quantity)
/// judge the same product.
fn merge(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::InSync => 0,
        Status::OutOfSync => 1,
        Status::InOrders => 2,
        Status::Base | Status::Unmapped | Status::Conflict => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}
