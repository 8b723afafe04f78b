//! What one run reads, through the connections it opened: the catalogs, every store's
//! orders (`orders`) and the manual mappings.

use crate::connections::Connections;
use crate::orders::{HeldOrder, HeldOrders, UnreadOrders, held_orders};
use crate::{Engine, EngineError};
use invsync_config::{Config, Master};
use invsync_connectors::{CachedCatalog, Catalog, Connection};
use invsync_core::{
    FieldSet, InOrdersMode, ItemKind, Mapping, MasterQuantities, Matching, OrderBook, PairKind,
    Plan, PlanError, PlanInput, PlanRequest, ProductPlan, QuantityRules, Record, SalePolicy,
    Selection, Side, SkuKey, match_catalogs,
};
use invsync_store::Db;
use std::collections::HashSet;

/// Where the master quantity comes from for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MasterSource {
    Accounting,
    ThisStore,
    OtherStore(String),
}

/// What a request needs read, beyond the two catalogs.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotNeeds {
    pub master: MasterSource,
    /// Quantity is synced, so the master's quantities and every store's open orders matter.
    pub quantity: bool,
    /// Price is synced.
    pub price: bool,
    /// Go on when some store's open orders cannot be read (`status`, which then compares
    /// prices only). A run never does: it fails before planning.
    pub tolerate_unread_orders: bool,
}

impl SnapshotNeeds {
    pub fn for_request(config: &Config, store: &str, fields: FieldSet) -> Self {
        let master = match &config.inventory.master {
            Master::Accounting => MasterSource::Accounting,
            Master::Store(m) if m == store => MasterSource::ThisStore,
            Master::Store(m) => MasterSource::OtherStore(m.clone()),
        };
        SnapshotNeeds {
            master,
            quantity: fields.quantity,
            price: fields.price,
            tolerate_unread_orders: false,
        }
    }

    pub fn master_quantities(&self) -> MasterQuantities<'static> {
        match self.master {
            MasterSource::Accounting => MasterQuantities::Accounting,
            MasterSource::ThisStore => MasterQuantities::ThisStore,
            MasterSource::OtherStore(_) => MasterQuantities::OtherStore(&[]),
        }
    }
}

/// A product that a connection returned but could not understand.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotReject {
    pub connection: String,
    pub sku: Option<String>,
    pub error: String,
}

pub(crate) struct Snapshot {
    pub accounting: Vec<Record>,
    pub store: Vec<Record>,
    pub rejects: Vec<SnapshotReject>,
    pub matching: Matching,
    master: MasterSource,
    /// By accounting index, when another store is the master.
    master_quantities: Vec<Option<i64>>,
    /// The orders holding stock when this run read the accounting side, and the book
    /// built from them.
    held: Vec<HeldOrder>,
    pub orders: OrderBook,
    /// Stores whose open orders could not be read (only with `tolerate_unread_orders`).
    pub unread_orders: Vec<UnreadOrders>,
    pub in_orders: InOrdersMode,
    pub rules: QuantityRules,
    /// The store's `sale_price`.
    pub sale_price: SalePolicy,
}

impl Snapshot {
    /// Reads everything the request needs through `connections` (the run's, opened by
    /// [`Connections::open`] for the same `needs`), concurrently.
    pub async fn read(
        engine: &Engine,
        connections: &Connections,
        store: &str,
        needs: &SnapshotNeeds,
    ) -> Result<Snapshot, EngineError> {
        let (config, db) = (engine.config(), engine.db());
        let store_config = config
            .stores
            .get(store)
            .ok_or_else(|| EngineError::UnknownStore(store.to_owned()))?;
        let accounting_connection = connections.accounting();
        let master_connection = match &needs.master {
            MasterSource::OtherStore(m) if needs.quantity => Some((
                m.clone(),
                connections
                    .get(m)
                    .ok_or_else(|| EngineError::UnknownStore(m.clone()))?,
            )),
            _ => None,
        };
        // Orders, with their posted state, are read *before* the accounting catalog. An
        // order posted between the two reads is then still counted as held while the
        // catalog already has its units deducted: held back twice for one run, never
        // re-inflated. The other way round (catalog first), a posting in between would
        // count its units as in stock and not held: an oversell.
        let read_orders_then_accounting = async {
            let held = if needs.quantity {
                held_orders(engine, connections, store, needs.tolerate_unread_orders).await?
            } else {
                HeldOrders::default()
            };
            let catalog = accounting_connection.read_catalog().await?;
            Ok::<_, EngineError>((held, catalog))
        };
        let read_master = async {
            match &master_connection {
                Some((name, c)) => {
                    let catalog = read_kept_catalog(db, name, *c).await?;
                    let mappings = mappings(db, name).await?;
                    Ok::<_, EngineError>(Some((catalog, mappings)))
                }
                None => Ok(None),
            }
        };
        let ((held, mut accounting), mut listings, store_mappings, mut master) = tokio::try_join!(
            read_orders_then_accounting,
            read_kept_catalog(db, store, connections.store()),
            mappings(db, store),
            read_master,
        )?;
        let negative = reject_negative(
            needs,
            store,
            &mut accounting,
            &mut listings,
            &store_mappings,
        );
        if let Some((catalog, _)) = &mut master {
            reject_negative_master(needs, catalog);
        }

        let mut rejects = negative;
        for (connection, catalog) in [("accounting", &accounting), (store, &listings)] {
            rejects.extend(catalog.rejects.iter().map(|r| SnapshotReject {
                connection: connection.to_owned(),
                sku: r.sku.clone(),
                error: r.error.clone(),
            }));
        }

        let matching = match_catalogs(&accounting.records, &listings.records, &store_mappings);
        let master_quantities = match master {
            Some((catalog, maps)) => {
                rejects.extend(catalog.rejects.iter().map(|r| {
                    SnapshotReject {
                        connection: master_connection
                            .as_ref()
                            .map(|(n, _)| n.clone())
                            .unwrap_or_default(),
                        sku: r.sku.clone(),
                        error: r.error.clone(),
                    }
                }));
                quantities_from_master(&accounting.records, &catalog.records, &maps)
            }
            None => Vec::new(),
        };

        Ok(Snapshot {
            accounting: accounting.records,
            store: listings.records,
            rejects,
            matching,
            master: needs.master.clone(),
            master_quantities,
            orders: OrderBook::from_lines(held.held.iter().flat_map(|o| &o.lines)),
            held: held.held,
            unread_orders: held.unread,
            in_orders: config.inventory.in_orders,
            rules: store_config.rules,
            sale_price: store_config.sale_price,
        })
    }

    /// Replaces a record with a fresh read of it (after a stale write).
    pub fn set_record(&mut self, side: Side, index: u32, record: Record) {
        let records = match side {
            Side::Accounting => &mut self.accounting,
            Side::Store => &mut self.store,
        };
        if let Some(slot) = records.get_mut(index as usize) {
            *slot = record;
        }
    }

    /// Reads every store's orders again (a sale may have landed since the first read) and
    /// adds the new ones. Orders that held stock at the first read keep holding it for this
    /// run even if they were posted since: the accounting quantities this run planned from
    /// were read before that posting, so releasing them would re-inflate the stock.
    pub async fn refresh_orders(
        &mut self,
        engine: &Engine,
        connections: &Connections,
        store: &str,
    ) -> Result<(), EngineError> {
        let mut fresh = held_orders(engine, connections, store, false).await?.held;
        for old in &self.held {
            if !fresh
                .iter()
                .any(|o| o.store == old.store && o.order_id == old.order_id)
            {
                fresh.push(old.clone());
            }
        }
        self.orders = OrderBook::from_lines(fresh.iter().flat_map(|o| &o.lines));
        self.held = fresh;
        Ok(())
    }

    pub fn input(&self) -> PlanInput<'_> {
        PlanInput {
            accounting: &self.accounting,
            store: &self.store,
            matching: &self.matching,
            master: match self.master {
                MasterSource::Accounting => MasterQuantities::Accounting,
                MasterSource::ThisStore => MasterQuantities::ThisStore,
                MasterSource::OtherStore(_) => {
                    MasterQuantities::OtherStore(&self.master_quantities)
                }
            },
            orders: &self.orders,
            in_orders: self.in_orders,
            rules: self.rules,
            sale_price: self.sale_price,
        }
    }

    pub fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        invsync_core::plan(&self.input(), request)
    }

    /// The SKUs of a SKU selection that no record on either side carries (a product that
    /// could not be read counts as there), sorted. None for other selections.
    pub fn unknown_skus(&self, selection: &Selection) -> Vec<SkuKey> {
        let Selection::Skus(wanted) = selection else {
            return Vec::new();
        };
        let mut unknown: HashSet<&SkuKey> = wanted.iter().collect();
        let skus = self
            .accounting
            .iter()
            .chain(&self.store)
            .map(|r| r.sku.as_str())
            .chain(self.rejects.iter().filter_map(|r| r.sku.as_deref()));
        for sku in skus {
            if unknown.is_empty() {
                break;
            }
            if let Some(key) = SkuKey::new(sku) {
                unknown.remove(&key);
            }
        }
        let mut unknown: Vec<SkuKey> = unknown.into_iter().cloned().collect();
        unknown.sort_unstable();
        unknown
    }

    pub fn record(&self, side: Side, index: u32) -> Option<&Record> {
        match side {
            Side::Accounting => self.accounting.get(index as usize),
            Side::Store => self.store.get(index as usize),
        }
    }

    /// The unposted orders (`store:order`) that hold a product.
    pub fn orders_of(&self, product: &ProductPlan) -> Option<Vec<String>> {
        let held = self.held(product)?;
        Some(held.orders.iter().map(|o| o.to_string()).collect())
    }

    /// What unposted orders hold of a product: units and orders.
    pub fn held(&self, product: &ProductPlan) -> Option<&invsync_core::orders::Held> {
        let key = product
            .accounting
            .and_then(|i| self.accounting.get(i as usize))
            .or_else(|| product.store.and_then(|j| self.store.get(j as usize)))
            .and_then(|r| SkuKey::new(&r.sku))?;
        self.orders.held(&key)
    }
}

/// What a reject for a negative value tells the operator to do.
const FIX_NEGATIVE: &str = "fix it there (invsync never syncs a negative price or quantity)";

/// Products with a negative price or quantity, read from either side in a field this
/// run syncs (issue 13, item 8: an accounting price of -5.00 was written to the store).
/// No platform means a negative price, and a negative count is a mistake or an oversold
/// product someone must look at: planning from it would write it to the other side or
/// overwrite it unseen. Such a product fails as an item with the value and the side to
/// fix, and is taken out of both catalogs (with its partner, so that it is not counted
/// as unmapped too). Only matched products are looked at: the others are never synced.
fn reject_negative(
    needs: &SnapshotNeeds,
    store: &str,
    accounting: &mut Catalog,
    listings: &mut Catalog,
    mappings: &[Mapping],
) -> Vec<SnapshotReject> {
    // With another store as the master, the accounting quantity is neither read from
    // nor written: only that store's counts (see reject_negative_master).
    let acct_needs = SnapshotNeeds {
        quantity: needs.quantity && !matches!(needs.master, MasterSource::OtherStore(_)),
        ..needs.clone()
    };
    // One pass without allocating first: a catalog of a million products has none.
    if !any_negative(&acct_needs, &accounting.records) && !any_negative(needs, &listings.records) {
        return Vec::new();
    }
    let acct_why = negative_values(&acct_needs, &accounting.records);
    let store_why = negative_values(needs, &listings.records);
    let matching = match_catalogs(&accounting.records, &listings.records, mappings);
    let mut drop_acct = vec![None; accounting.records.len()];
    let mut drop_store = vec![None; listings.records.len()];
    let mut rejects = Vec::new();
    for pair in &matching.pairs {
        let (Some(a), Some(j), PairKind::Matched { .. }) = (pair.accounting, pair.store, pair.kind)
        else {
            continue;
        };
        let (a, j) = (a as usize, j as usize);
        let reasons: Vec<(&str, &String)> =
            [("accounting", acct_why.get(a)), (store, store_why.get(j))]
                .into_iter()
                .filter_map(|(side, why)| Some((side, why?.as_ref()?)))
                .collect();
        let base = [accounting.records.get(a), listings.records.get(j)]
            .into_iter()
            .flatten()
            .any(|r| r.kind == ItemKind::Base);
        let Some((connection, first)) = reasons.first() else {
            continue;
        };
        if base {
            continue; // display-only: never synced either way
        }
        let mut error = (*first).clone();
        for (side, why) in &reasons[1..] {
            error.push_str(&format!("; {side}: {why}"));
        }
        rejects.push(SnapshotReject {
            connection: (*connection).to_owned(),
            sku: accounting.records.get(a).map(|r| r.sku.to_string()),
            error: format!("{error}; {FIX_NEGATIVE}"),
        });
        drop_acct[a] = Some(());
        drop_store[j] = Some(());
    }
    accounting.records = without(std::mem::take(&mut accounting.records), &drop_acct);
    listings.records = without(std::mem::take(&mut listings.records), &drop_store);
    rejects
}

/// The master store's listings with a negative quantity, as rejects of its catalog (its
/// quantities are the truth for this store's; a missing one holds the product's quantity
/// back).
fn reject_negative_master(needs: &SnapshotNeeds, catalog: &mut Catalog) {
    let only_quantity = SnapshotNeeds {
        price: false,
        ..needs.clone()
    };
    if !any_negative(&only_quantity, &catalog.records) {
        return;
    }
    let why = negative_values(&only_quantity, &catalog.records);
    for (record, why) in catalog.records.iter().zip(&why) {
        if let Some(why) = why {
            catalog.rejects.push(invsync_connectors::Reject {
                sku: Some(record.sku.to_string()),
                id: (!record.id.is_empty()).then(|| record.id.to_string()),
                error: format!("{why}; {FIX_NEGATIVE}"),
            });
        }
    }
    catalog.records = without(std::mem::take(&mut catalog.records), &why);
}

/// A record's price (or the sale price it charges), when this run syncs prices and it is
/// negative (display-only records are never synced).
fn negative_price(needs: &SnapshotNeeds, r: &Record) -> Option<rust_decimal::Decimal> {
    r.price
        .into_iter()
        .chain(r.sale.as_ref().map(|s| s.price))
        .find(|p| needs.price && r.kind != ItemKind::Base && p.is_sign_negative() && !p.is_zero())
}

/// A record's quantity, when this run syncs quantities and it is negative.
fn negative_quantity(needs: &SnapshotNeeds, r: &Record) -> Option<i64> {
    r.quantity
        .filter(|q| needs.quantity && r.kind != ItemKind::Base && *q < 0)
}

fn any_negative(needs: &SnapshotNeeds, records: &[Record]) -> bool {
    records
        .iter()
        .any(|r| negative_price(needs, r).is_some() || negative_quantity(needs, r).is_some())
}

/// For each record, why its value in a field this run syncs is negative, if it is
/// (`the price is negative (-5.00)`).
fn negative_values(needs: &SnapshotNeeds, records: &[Record]) -> Vec<Option<String>> {
    records
        .iter()
        .map(|r| {
            let price = negative_price(needs, r).map(|p| format!("the price is negative ({p})"));
            let quantity =
                negative_quantity(needs, r).map(|q| format!("the quantity is negative ({q})"));
            match (price, quantity) {
                (Some(p), Some(q)) => Some(format!("{p} and {q}")),
                (p, q) => p.or(q),
            }
        })
        .collect()
}

/// `records` without those flagged.
fn without<T>(records: Vec<Record>, flags: &[Option<T>]) -> Vec<Record> {
    records
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| flags.get(i).is_none_or(Option::is_none).then_some(r))
        .collect()
}

/// Reads a store's catalog through its kept copy (ADR 0017): the connection gets what the
/// last read gave and may read only what changed; what it returns is kept for the next
/// run. A connection that reads whole catalogs only keeps nothing.
async fn read_kept_catalog(
    db: &Db,
    store: &str,
    connection: &dyn Connection,
) -> Result<Catalog, EngineError> {
    let kept = db.stored_catalog(store).await?;
    let cached = kept.as_ref().map(|k| CachedCatalog {
        records: k.records.clone(),
        cursor: k.cursor.clone(),
        writes_since: k.writes,
    });
    let started = std::time::Instant::now();
    let read = connection.read_catalog_since(cached).await?;
    tracing::debug!(
        store,
        incremental = read.incremental,
        records = read.catalog.records.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "read the store catalog"
    );
    if read.cursor.is_some() || kept.is_some() {
        let saved = db
            .save_catalog(
                store,
                kept.as_ref(),
                &read.catalog.records,
                read.cursor.as_deref(),
                chrono::Utc::now(),
            )
            .await?;
        tracing::debug!(
            store,
            written = saved.written,
            deleted = saved.deleted,
            superseded = saved.superseded,
            "kept the store catalog"
        );
    }
    Ok(read.catalog)
}

pub(crate) async fn mappings(db: &Db, store: &str) -> Result<Vec<Mapping>, EngineError> {
    Ok(db
        .list_mappings(Some(store))
        .await?
        .into_iter()
        .map(|m| Mapping {
            store_sku: m.store_sku,
            accounting_sku: m.accounting_sku,
        })
        .collect())
}

/// The master store's quantity for each accounting item: from its matched listing, when
/// that listing is tracked inventory.
fn quantities_from_master(
    accounting: &[Record],
    master: &[Record],
    maps: &[Mapping],
) -> Vec<Option<i64>> {
    let matching = match_catalogs(accounting, master, maps);
    let mut out = vec![None; accounting.len()];
    for pair in &matching.pairs {
        if let (Some(i), Some(j), PairKind::Matched { .. }) =
            (pair.accounting, pair.store, pair.kind)
            && let Some(listing) = master.get(j as usize)
            && listing.kind == ItemKind::Inventory
            && let Some(slot) = out.get_mut(i as usize)
        {
            *slot = listing.quantity;
        }
    }
    out
}
