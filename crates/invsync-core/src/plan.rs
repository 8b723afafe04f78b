//! Statuses and plans: which products are in sync, and what a sync would change.
//!
//! The rules (product.md):
//! * quantity always flows **out of** the master — never into it from a non-master (rule 1);
//! * `conflict`, `unmapped` and `base` products are never written (rules 2 and 3);
//! * the quantity of an `in-orders` product is not written while `in_orders = "skip"`
//!   (rule 3); with `"reserve"` the store is offered `master − reserved` instead (rule 7);
//! * an accounting-side plan carries exactly one field (rule 6);
//! * a store is never offered more than rule 7 allows.

use crate::matching::{Matching, PairKind};
use crate::model::{
    Field, FieldSet, FieldValue, ItemKind, Record, Sale, SaleAction, SalePolicy, Side,
};
use crate::orders::OrderBook;
use crate::quantity::{QuantityRules, offered_quantity};
use crate::sku::SkuKey;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// Per product and store (product.md, "status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    InSync,
    OutOfSync,
    InOrders,
    Base,
    Unmapped,
    Conflict,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::InSync,
        Status::OutOfSync,
        Status::InOrders,
        Status::Base,
        Status::Unmapped,
        Status::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::InSync => "in-sync",
            Status::OutOfSync => "out-of-sync",
            Status::InOrders => "in-orders",
            Status::Base => "base",
            Status::Unmapped => "unmapped",
            Status::Conflict => "conflict",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a status: use one of {}",
                    Status::ALL.map(Status::as_str).join(", ")
                )
            })
    }
}

/// `[inventory] in_orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InOrdersMode {
    /// Never write the quantity of a SKU that is in an unposted order.
    #[default]
    Skip,
    /// Write `master − quantity in unposted orders` and keep syncing.
    Reserve,
}

impl InOrdersMode {
    /// The config value: `skip` or `reserve`.
    pub fn as_str(self) -> &'static str {
        match self {
            InOrdersMode::Skip => "skip",
            InOrdersMode::Reserve => "reserve",
        }
    }
}

impl std::fmt::Display for InOrdersMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the master quantity of each product comes from.
#[derive(Debug, Clone, Copy)]
pub enum MasterQuantities<'a> {
    /// The accounting side is the master: each item's own quantity.
    Accounting,
    /// The store being synced is the master.
    ThisStore,
    /// Another store is the master: its quantity for each accounting item, by accounting
    /// index (`None` where the master has no usable listing).
    OtherStore(&'a [Option<i64>]),
}

/// Everything a plan is computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub accounting: &'a [Record],
    pub store: &'a [Record],
    pub matching: &'a Matching,
    pub master: MasterQuantities<'a>,
    /// Unposted orders of every store, keyed by accounting SKU.
    pub orders: &'a OrderBook,
    pub in_orders: InOrdersMode,
    /// The synced store's quantity rules.
    pub rules: QuantityRules,
    /// The synced store's `sale_price`: what a price sync does to a listing on sale.
    pub sale_price: SalePolicy,
}

/// Which products a sync looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    #[default]
    All,
    /// Products whose accounting or store SKU is one of these.
    Skus(HashSet<SkuKey>),
    /// Products with one of these statuses.
    Statuses(Vec<Status>),
}

/// What a sync should do: the side that is wrong and must be updated, and which fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    pub update: Side,
    pub fields: FieldSet,
    pub selection: Selection,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no fields to update: choose price, quantity or both")]
    NoFields,
    #[error("an accounting-side update carries exactly one field (price or quantity), not {0}")]
    AccountingNeedsOneField(String),
    #[error(
        "quantity only flows out of the master inventory location; updating the {side} side's quantity from {from} would write it into {master}"
    )]
    QuantityIntoMaster {
        side: Side,
        from: &'static str,
        master: &'static str,
    },
}

/// One product in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductPlan {
    pub accounting: Option<u32>,
    pub store: Option<u32>,
    pub status: Status,
    pub pair: PairKind,
    /// The requested fields that differ.
    pub price_differs: bool,
    pub quantity_differs: bool,
}

/// One field of one record to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedChange {
    /// Index into [`Plan::products`].
    pub product: u32,
    /// The side written.
    pub side: Side,
    /// Index of the written record in that side's records.
    pub record: u32,
    pub field: Field,
    /// The value read. For a price, the price shoppers paid: the sale price of a listing
    /// on sale (compare-and-set compares with that).
    pub old: FieldValue,
    pub new: FieldValue,
    /// For a price write to a listing on sale: end the sale, or write the sale price.
    pub sale: Option<SaleAction>,
}

/// A difference that the plan deliberately does not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedChange {
    pub product: u32,
    pub field: Field,
    pub old: Option<FieldValue>,
    pub new: Option<FieldValue>,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The product is in an unposted order (`in_orders = "skip"`).
    InOrders,
    /// The master has no quantity for this product.
    NoMasterQuantity,
    /// This side has no value for the field.
    MissingValue(Side),
    /// The product's stock is not tracked on this side: its quantity does not apply.
    /// Not a difference: the product can be in sync on its price alone.
    StockNotTracked(Side),
    /// The product is tracked but not stocked at the location this side syncs.
    NotStocked(Side),
    /// The store listing is on sale (`sale_price = "hold"`, or an accounting-side
    /// update): shoppers pay the sale price, whatever the regular price says.
    OnSale(Sale),
    /// `sale_price = "write"`, but the new price is not below the listing's regular
    /// price, so it cannot be a sale price.
    SaleNotBelowRegular { sale: Sale, regular: Decimal },
}

impl SkipReason {
    /// Whether the held-back field really differs between the sides. A quantity that
    /// does not apply (stock not tracked) is no difference: the product is in sync when
    /// everything else is.
    pub fn is_difference(self) -> bool {
        !matches!(self, SkipReason::StockNotTracked(_))
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::InOrders => {
                f.write_str("in-orders: in an order not yet posted to the accounting side")
            }
            SkipReason::NoMasterQuantity => {
                f.write_str("the master inventory location has no quantity for this product")
            }
            SkipReason::MissingValue(side) => write!(f, "the {side} side has no value"),
            SkipReason::StockNotTracked(Side::Store) => {
                f.write_str("stock not tracked in the store")
            }
            SkipReason::StockNotTracked(Side::Accounting) => {
                f.write_str("stock not tracked on the accounting side")
            }
            SkipReason::NotStocked(Side::Store) => f.write_str(
                "not stocked at the store's location: stock it there, or change the store's `location`",
            ),
            SkipReason::NotStocked(Side::Accounting) => {
                f.write_str("not stocked at the accounting side's location")
            }
            SkipReason::OnSale(sale) => write!(
                f,
                "{sale}; shoppers pay the sale price (sale_price = \"hold\"; \"clear\" ends the sale, \"write\" writes the sale price)"
            ),
            SkipReason::SaleNotBelowRegular { sale, regular } => write!(
                f,
                "{sale}; the new price is not below the regular price {regular}, so it cannot be written as the sale price (sale_price = \"write\")"
            ),
        }
    }
}

/// The outcome of planning: one entry per selected product, the writes to make and the
/// differences held back.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub products: Vec<ProductPlan>,
    pub changes: Vec<PlannedChange>,
    pub skipped: Vec<SkippedChange>,
}

impl Plan {
    /// Number of products with each status.
    pub fn status_counts(&self) -> [(Status, usize); 6] {
        Status::ALL.map(|s| (s, self.products.iter().filter(|p| p.status == s).count()))
    }
}

/// Checks a request against the rules before anything is read: fields present, one field
/// on the accounting side, and quantity never flowing into the master.
pub fn validate_request(
    master: MasterQuantities<'_>,
    request: &PlanRequest,
) -> Result<(), PlanError> {
    if request.fields.is_empty() {
        return Err(PlanError::NoFields);
    }
    if request.update == Side::Accounting && request.fields.len() != 1 {
        return Err(PlanError::AccountingNeedsOneField(request.fields.to_list()));
    }
    if request.fields.quantity {
        match (request.update, master) {
            (Side::Store, MasterQuantities::ThisStore) => {
                return Err(PlanError::QuantityIntoMaster {
                    side: Side::Store,
                    from: "the accounting side",
                    master: "this store, which is the master",
                });
            }
            (Side::Accounting, MasterQuantities::Accounting) => {
                return Err(PlanError::QuantityIntoMaster {
                    side: Side::Accounting,
                    from: "a store",
                    master: "the accounting side, which is the master",
                });
            }
            (Side::Accounting, MasterQuantities::OtherStore(_)) => {
                return Err(PlanError::QuantityIntoMaster {
                    side: Side::Accounting,
                    from: "a store that is not the master",
                    master: "the accounting side",
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Computes the plan for one store. Fails only for requests the rules forbid; the same
/// checks are made when the config is loaded, so a valid config never hits them.
pub fn plan(input: &PlanInput<'_>, request: &PlanRequest) -> Result<Plan, PlanError> {
    validate_request(input.master, request)?;
    let mut plan = Plan {
        products: Vec::with_capacity(input.matching.pairs.len()),
        ..Plan::default()
    };
    // SKU keys are only needed to filter by SKU or to look up orders; skipping them saves a
    // large share of the time on big catalogs.
    let need_keys = matches!(request.selection, Selection::Skus(_)) || !input.orders.is_empty();
    for pair in &input.matching.pairs {
        let acct = pair
            .accounting
            .and_then(|i| input.accounting.get(i as usize));
        let listing = pair.store.and_then(|j| input.store.get(j as usize));
        let (acct_key, store_key) = if need_keys {
            (
                acct.and_then(|r| SkuKey::new(&r.sku)),
                listing.and_then(|r| SkuKey::new(&r.sku)),
            )
        } else {
            (None, None)
        };
        if let Selection::Skus(skus) = &request.selection {
            let hit = |k: &Option<SkuKey>| k.as_ref().is_some_and(|k| skus.contains(k));
            if !hit(&acct_key) && !hit(&store_key) {
                continue;
            }
        }
        let product = u32::try_from(plan.products.len()).unwrap_or(u32::MAX);
        let (changes_from, skipped_from) = (plan.changes.len(), plan.skipped.len());
        let status = match (pair.kind, pair.accounting, acct, listing) {
            (PairKind::Conflict(_), ..) => Status::Conflict,
            (PairKind::Unmapped(_), ..) => Status::Unmapped,
            (PairKind::Matched { .. }, Some(i), Some(acct), Some(listing)) => {
                if acct.kind == ItemKind::Base || listing.kind == ItemKind::Base {
                    Status::Base
                } else {
                    let held = acct_key
                        .as_ref()
                        .and_then(|k| input.orders.held(k))
                        .or_else(|| store_key.as_ref().and_then(|k| input.orders.held(k)));
                    let ctx = ProductCtx {
                        input,
                        request,
                        product,
                        acct_index: i,
                        acct,
                        listing,
                        pair_store: pair.store,
                        reserved: held.map_or(0, |h| h.quantity),
                        in_orders: held.is_some(),
                    };
                    ctx.diff(&mut plan.changes, &mut plan.skipped)
                }
            }
            // A matched pair always carries both records; anything else is unmapped.
            (PairKind::Matched { .. }, ..) => Status::Unmapped,
        };
        if let Selection::Statuses(wanted) = &request.selection
            && !wanted.contains(&status)
        {
            plan.changes.truncate(changes_from);
            plan.skipped.truncate(skipped_from);
            continue;
        }
        let new_changes = &plan.changes[changes_from..];
        let new_skips = &plan.skipped[skipped_from..];
        let differs = |field| {
            new_changes.iter().any(|c| c.field == field)
                || new_skips
                    .iter()
                    .any(|s| s.field == field && s.reason.is_difference())
        };
        plan.products.push(ProductPlan {
            accounting: pair.accounting,
            store: pair.store,
            status,
            pair: pair.kind,
            price_differs: differs(Field::Price),
            quantity_differs: differs(Field::Quantity),
        });
    }
    // Quantities first (issue 17): a run writes every quantity before any price, so stock
    // never waits behind a long price change (a season's new prices on a big catalog). The
    // sort is stable: within a field, changes keep the catalog's order.
    plan.changes.sort_by_key(|c| c.field != Field::Quantity);
    Ok(plan)
}

struct ProductCtx<'a, 'b> {
    input: &'b PlanInput<'a>,
    request: &'b PlanRequest,
    product: u32,
    acct_index: u32,
    acct: &'a Record,
    listing: &'a Record,
    pair_store: Option<u32>,
    reserved: i64,
    in_orders: bool,
}

impl ProductCtx<'_, '_> {
    /// The value the updated side should have for `field`, or why there is none.
    fn wanted(&self, field: Field) -> Result<FieldValue, SkipReason> {
        let from = |side: Side, r: &Record| r.value(field).ok_or(SkipReason::MissingValue(side));
        match (self.request.update, field) {
            (Side::Store, Field::Price) => from(Side::Accounting, self.acct),
            (Side::Accounting, Field::Price) => from(Side::Store, self.listing),
            (Side::Store, Field::Quantity) => {
                let master = match self.input.master {
                    MasterQuantities::Accounting => self
                        .acct
                        .quantity
                        .ok_or(SkipReason::MissingValue(Side::Accounting))?,
                    MasterQuantities::OtherStore(q) => q
                        .get(self.acct_index as usize)
                        .copied()
                        .flatten()
                        .ok_or(SkipReason::NoMasterQuantity)?,
                    // Rejected by validate_request.
                    MasterQuantities::ThisStore => return Err(SkipReason::NoMasterQuantity),
                };
                let reserved = match self.input.in_orders {
                    InOrdersMode::Reserve => self.reserved,
                    InOrdersMode::Skip => 0,
                };
                Ok(FieldValue::Quantity(offered_quantity(
                    master,
                    reserved,
                    self.input.rules,
                )))
            }
            // The store is the master (validate_request guarantees it): its quantity is the truth.
            (Side::Accounting, Field::Quantity) => from(Side::Store, self.listing),
        }
    }

    /// Why this product's quantity does not apply on either side (stock not tracked, not
    /// stocked at the synced location), if it does not.
    fn quantity_not_applicable(&self) -> Option<SkipReason> {
        // The updated side first: that is where the write would have gone.
        let (first, second) = match self.request.update {
            Side::Store => ((Side::Store, self.listing), (Side::Accounting, self.acct)),
            Side::Accounting => ((Side::Accounting, self.acct), (Side::Store, self.listing)),
        };
        [first, second]
            .into_iter()
            .find_map(|(side, record)| match record.kind {
                ItemKind::Untracked => Some(SkipReason::StockNotTracked(side)),
                ItemKind::NotStocked => Some(SkipReason::NotStocked(side)),
                ItemKind::Inventory | ItemKind::Base => None,
            })
    }

    /// A price for a store listing on sale: shoppers pay the sale price, so that is what
    /// is compared, and the store's `sale_price` decides what is written (rule 3).
    fn sale_price_change(
        &self,
        sale: Sale,
        new: FieldValue,
    ) -> Result<Option<PlannedChange>, SkippedChange> {
        let FieldValue::Price(price) = new else {
            return Ok(None);
        };
        let old = FieldValue::Price(sale.price);
        if price == sale.price {
            return Ok(None);
        }
        let skip = |reason| SkippedChange {
            product: self.product,
            field: Field::Price,
            old: Some(old),
            new: Some(new),
            reason,
        };
        let action = match self.input.sale_price {
            SalePolicy::Hold => return Err(skip(SkipReason::OnSale(sale))),
            SalePolicy::Clear => match self.listing.price {
                Some(_) => SaleAction::End,
                None => return Err(skip(SkipReason::MissingValue(Side::Store))),
            },
            SalePolicy::Write => match self.listing.price {
                Some(regular) if price < regular => SaleAction::Set,
                Some(regular) => {
                    return Err(skip(SkipReason::SaleNotBelowRegular { sale, regular }));
                }
                None => return Err(skip(SkipReason::MissingValue(Side::Store))),
            },
        };
        Ok(Some(PlannedChange {
            product: self.product,
            side: Side::Store,
            record: self.pair_store.unwrap_or(u32::MAX),
            field: Field::Price,
            old,
            new,
            sale: Some(action),
        }))
    }

    /// Appends this product's changes and held-back differences; returns its status.
    fn diff(&self, changes: &mut Vec<PlannedChange>, skipped: &mut Vec<SkippedChange>) -> Status {
        let (changes_from, skipped_from) = (changes.len(), skipped.len());
        let (target, target_index) = match self.request.update {
            Side::Store => (self.listing, self.pair_store.unwrap_or(u32::MAX)),
            Side::Accounting => (self.acct, self.acct_index),
        };
        for field in self.request.fields.iter() {
            let old = target.value(field);
            let skip = |reason, new| SkippedChange {
                product: self.product,
                field,
                old,
                new,
                reason,
            };
            if field == Field::Quantity
                && let Some(reason) = self.quantity_not_applicable()
            {
                // Not stocked there is a real difference: say what the store would get.
                let new = match reason {
                    SkipReason::NotStocked(_) => self.wanted(field).ok(),
                    _ => None,
                };
                skipped.push(skip(reason, new));
                continue;
            }
            let new = match self.wanted(field) {
                Ok(new) => new,
                Err(reason) => {
                    // A missing value on one side is not a difference invsync can act on,
                    // but the operator should see it.
                    skipped.push(skip(reason, None));
                    continue;
                }
            };
            if field == Field::Price
                && let Some(sale) = self.listing.sale.as_deref().copied()
            {
                match self.request.update {
                    Side::Store => match self.sale_price_change(sale, new) {
                        Ok(Some(change)) => changes.push(change),
                        Ok(None) => {}
                        Err(held) => skipped.push(held),
                    },
                    // The store charges the sale price; its regular price is not what
                    // shoppers pay and the sale price is not the accounting price.
                    Side::Accounting => {
                        if old != Some(FieldValue::Price(sale.price)) {
                            skipped.push(skip(SkipReason::OnSale(sale), Some(new)));
                        }
                    }
                }
                continue;
            }
            let Some(old_value) = old else {
                skipped.push(skip(
                    SkipReason::MissingValue(self.request.update),
                    Some(new),
                ));
                continue;
            };
            if old_value == new {
                continue;
            }
            // Writing the quantity of a SKU in an unposted order would re-inflate stock that
            // is already sold, whichever side is written (rule 3). Reserve mode already
            // subtracted the held units from what a store is offered; an accounting-side
            // write from the master store would still count the sale twice once posted.
            let held_back = field == Field::Quantity
                && self.in_orders
                && (self.input.in_orders == InOrdersMode::Skip
                    || self.request.update == Side::Accounting);
            if held_back {
                skipped.push(skip(SkipReason::InOrders, Some(new)));
            } else {
                changes.push(PlannedChange {
                    product: self.product,
                    side: self.request.update,
                    record: target_index,
                    field,
                    old: old_value,
                    new,
                    sale: None,
                });
            }
        }
        let differs = skipped[skipped_from..]
            .iter()
            .any(|s| s.reason.is_difference());
        if self.in_orders {
            Status::InOrders
        } else if changes.len() == changes_from && !differs {
            Status::InSync
        } else {
            Status::OutOfSync
        }
    }
}

#[cfg(test)]
mod tests;
