//! The simulated connections the engine syncs through, and the state they share: the
//! world, the demand stream, the injected faults and the invariant checks made at every
//! write.

use crate::world::{Event, World};
use crate::{SimConfig, draw_event};
use async_trait::async_trait;
use compact_str::{CompactString, format_compact};
use invsync_connectors::{
    Absent, Catalog, Connection, ConnectorError, ErrorKind, OrderFeed, RecordRef, Write,
    WriteOutcome,
};
use invsync_core::{
    FieldValue, InOrdersMode, ItemKind, OrderLine, Record, StoreOrder, StoreOrderLine,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use std::sync::{Arc, Mutex, MutexGuard};

/// Everything the simulated connections share.
pub(crate) struct Shared {
    pub world: World,
    /// The same demand under the naive sync, replayed from `log`.
    pub naive: World,
    naive_at: usize,
    /// Every event drawn, in order.
    pub log: Vec<Event>,
    demand: StdRng,
    chaos: StdRng,
    mode: InOrdersMode,
    event_rate: f64,
    failure_rate: f64,
    skus: usize,
    stores: usize,
    /// The run in progress: its store, and per SKU the quantity the merchant could still
    /// sell when it began.
    run: Option<RunView>,
    pub events_during_runs: u64,
    /// While the order watch reads or pushes: calls inject failures but no events, so
    /// every policy meets the same demand (a pass takes a second or two of a minute).
    pub watching: bool,
    pub injected_failures: u64,
    pub writes_applied: u64,
    pub writes_stale: u64,
    pub violations: Vec<String>,
}

struct RunView {
    store: usize,
    sellable: Vec<i64>,
    /// Orders up to this id existed when the run began.
    last_order: u64,
}

impl Shared {
    pub fn new(sim: &SimConfig, stock: &[i64], stores: usize) -> Shared {
        Shared {
            world: World::new(stock, stores),
            naive: World::new(stock, stores),
            naive_at: 0,
            log: Vec::new(),
            demand: StdRng::seed_from_u64(sim.seed),
            chaos: StdRng::seed_from_u64(sim.seed.rotate_left(32) ^ 0xC4A0_5EED),
            mode: sim.mode,
            event_rate: sim.event_rate.clamp(0.0, 1.0),
            failure_rate: sim.failure_rate.clamp(0.0, 1.0),
            skus: stock.len(),
            stores,
            run: None,
            events_during_runs: 0,
            watching: false,
            injected_failures: 0,
            writes_applied: 0,
            writes_stale: 0,
            violations: Vec::new(),
        }
    }

    /// Draws the next event of the demand stream and lets it happen.
    pub fn next_event(&mut self) {
        let event = draw_event(&mut self.demand, self.skus, self.stores);
        self.log.push(event);
        self.world.apply(event);
    }

    /// Replays the demand the naive world has not seen yet.
    pub fn catch_up_naive(&mut self) {
        while let Some(event) = self.log.get(self.naive_at) {
            self.naive.apply(*event);
            self.naive_at += 1;
        }
    }

    /// A sync of `store` starts: the naive sync of that store happens at the same point of
    /// the demand stream, and the invariants' bounds are taken.
    pub fn begin_run(&mut self, store: usize) {
        self.catch_up_naive();
        self.naive.naive_sync(store);
        self.begin_push(store);
    }

    /// An order watch push to `store` starts: the invariants' bounds are taken (the naive
    /// sync has no watch).
    pub fn begin_push(&mut self, store: usize) {
        self.world.restocked.iter_mut().for_each(|r| *r = 0);
        self.run = Some(RunView {
            store,
            sellable: (0..self.skus).map(|k| self.world.sellable(k)).collect(),
            last_order: self.world.last_order_id(),
        });
    }

    pub fn end_run(&mut self) {
        self.run = None;
    }

    /// Before every connector call: maybe something happens in the world meanwhile, and
    /// maybe the call fails.
    fn on_call(&mut self, connection: &str, what: &str) -> Result<(), ConnectorError> {
        if self.chaos.random_bool(self.event_rate) && !self.watching {
            self.next_event();
            self.events_during_runs += 1;
        }
        if self.chaos.random_bool(self.failure_rate) {
            self.injected_failures += 1;
            return Err(ConnectorError::new(
                connection,
                ErrorKind::Unavailable,
                format!("{what}: injected failure (HTTP 503 after retries)"),
            ));
        }
        Ok(())
    }

    /// Checks one quantity write against the invariants, then applies it if the store
    /// still shows what the engine read (compare-and-set).
    fn write_quantity(&mut self, store: usize, sku: usize, old: i64, new: i64) -> WriteOutcome {
        let Some(current) = self
            .world
            .listings
            .get(store)
            .and_then(|l| l.get(sku))
            .copied()
        else {
            return WriteOutcome::Failed(format!("no listing {sku}"));
        };
        if current != old {
            self.writes_stale += 1;
            return WriteOutcome::Stale(format!("quantity is {current}, not {old}"));
        }
        if let Some(run) = &self.run {
            if run.store != store {
                self.violations.push(format!(
                    "a run of store {} wrote to store {store}",
                    run.store
                ));
            }
            // Stock that arrived during the run may be offered too.
            let restocked = self.world.restocked.get(sku).copied().unwrap_or(0);
            let bound = run.sellable.get(sku).copied().unwrap_or(0) + restocked;
            if self.mode == InOrdersMode::Reserve && new > bound.max(0) {
                self.violations.push(format!(
                    "reserve: store {store} told it may sell {new} of SKU {sku}, but only {bound} could still be sold when the run began"
                ));
            }
            if self.mode == InOrdersMode::Skip
                && let Some(order) = self
                    .world
                    .orders
                    .iter()
                    .find(|o| o.sku == sku && !o.posted && o.id <= run.last_order)
            {
                self.violations.push(format!(
                    "skip: store {store} SKU {sku} written ({old} → {new}) while order {} of store {} holds it unposted",
                    order.id, order.store
                ));
            }
        }
        if let Some(slot) = self
            .world
            .listings
            .get_mut(store)
            .and_then(|l| l.get_mut(sku))
        {
            *slot = new;
        }
        self.world.listing_written(store, sku);
        self.writes_applied += 1;
        WriteOutcome::Applied
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sku_name(sku: usize) -> CompactString {
    format_compact!("SKU-{sku:03}")
}

fn sku_index(sku: &str) -> Option<usize> {
    sku.strip_prefix("SKU-")?.parse().ok()
}

fn order_number(store: usize, id: u64) -> CompactString {
    format_compact!(
        "{}-{id}",
        crate::STORES.get(store).copied().unwrap_or("store")
    )
}

fn record(sku: usize, quantity: i64) -> Record {
    Record {
        id: format_compact!("{sku}"),
        sku: sku_name(sku),
        name: format_compact!("Product {sku}"),
        kind: ItemKind::Inventory,
        price: Some(Decimal::new(1000, 2)),
        quantity: Some(quantity),
        sale: None,
    }
}

/// The accounting side: the master quantities, and which orders are posted (as
/// QuickBooks Online answers by DocNumber).
pub(crate) struct SimAccounting {
    shared: Arc<Mutex<Shared>>,
}

impl SimAccounting {
    pub fn new(shared: Arc<Mutex<Shared>>) -> Self {
        SimAccounting { shared }
    }
}

#[async_trait]
impl Connection for SimAccounting {
    fn name(&self) -> &str {
        "accounting"
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let mut shared = lock(&self.shared);
        shared.on_call("accounting", "read items")?;
        Ok(Catalog {
            records: shared
                .world
                .accounting
                .iter()
                .enumerate()
                .map(|(sku, q)| record(sku, *q))
                .collect(),
            rejects: Vec::new(),
        })
    }

    /// Like a file or QuickBooks Desktop's kept snapshot.
    fn cheap_to_watch(&self) -> bool {
        true
    }

    fn write_batch_size(&self) -> usize {
        50
    }

    async fn posted_orders(
        &self,
        orders: &[OrderLine],
    ) -> Result<Option<Vec<bool>>, ConnectorError> {
        let mut shared = lock(&self.shared);
        shared.on_call("accounting", "look up posted orders")?;
        Ok(Some(
            orders
                .iter()
                .map(|line| {
                    shared
                        .world
                        .orders
                        .iter()
                        .any(|o| o.posted && order_number(o.store, o.id) == line.order.as_str())
                })
                .collect(),
        ))
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        Ok(writes
            .iter()
            .map(|_| {
                WriteOutcome::Failed("the simulation never updates the accounting side".into())
            })
            .collect())
    }
}

/// One store: listings with compare-and-set quantity writes, and its orders.
pub(crate) struct SimStore {
    shared: Arc<Mutex<Shared>>,
    index: usize,
    name: String,
}

impl SimStore {
    pub fn new(shared: Arc<Mutex<Shared>>, index: usize, name: &str) -> Self {
        SimStore {
            shared,
            index,
            name: name.to_owned(),
        }
    }

    /// `store-c` keeps its orders like an orders file: only unposted ones, read whole.
    fn lists_only_unposted(&self) -> bool {
        self.index == 2
    }

    fn records(&self, shared: &Shared) -> Vec<Record> {
        shared
            .world
            .listings
            .get(self.index)
            .map(|l| {
                l.iter()
                    .enumerate()
                    .map(|(sku, q)| record(sku, *q))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[async_trait]
impl Connection for SimStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let mut shared = lock(&self.shared);
        shared.on_call(&self.name, "read listings")?;
        Ok(Catalog {
            records: self.records(&shared),
            rejects: Vec::new(),
        })
    }

    /// `store-c`: a snapshot of its unposted orders. The others: the orders created or
    /// changed since the cursor (a change counter), like `updated_at:>` on a platform;
    /// their orders stay open in the store after posting, so only the accounting side can
    /// say they are posted.
    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        let mut shared = lock(&self.shared);
        shared.on_call(&self.name, "read orders")?;
        let since: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let snapshot = self.lists_only_unposted();
        let orders = shared
            .world
            .orders
            .iter()
            .filter(|o| o.store == self.index)
            .filter(|o| {
                if snapshot {
                    !o.posted
                } else {
                    o.changed > since
                }
            })
            .map(|o| StoreOrder {
                id: order_number(o.store, o.id),
                number: order_number(o.store, o.id),
                open: true,
                updated_at: None,
                lines: vec![StoreOrderLine {
                    sku: sku_name(o.sku),
                    quantity: o.quantity,
                }],
            })
            .collect();
        Ok(Some(OrderFeed {
            orders,
            snapshot: snapshot.then_some(Absent::Posted),
            cursor: (!snapshot).then(|| shared.world.changes.to_string()),
        }))
    }

    fn write_batch_size(&self) -> usize {
        50
    }

    async fn read_records(
        &self,
        records: &[RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        let mut shared = lock(&self.shared);
        shared.on_call(&self.name, "read listings again")?;
        let all = self.records(&shared);
        Ok(Some(
            records
                .iter()
                .filter_map(|r| sku_index(&r.sku).and_then(|k| all.get(k).cloned()))
                .collect(),
        ))
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut shared = lock(&self.shared);
        shared.on_call(&self.name, "write quantities")?;
        Ok(writes
            .iter()
            .map(|w| match (sku_index(&w.sku), w.old, w.new) {
                (Some(sku), FieldValue::Quantity(old), FieldValue::Quantity(new)) => {
                    shared.write_quantity(self.index, sku, old, new)
                }
                _ => WriteOutcome::Failed(format!("unexpected write {w:?}")),
            })
            .collect())
    }
}
