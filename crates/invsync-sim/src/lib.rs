//! A seeded randomized simulation of shared stock (issue 7): three stores sell from one
//! accounting stock while the real [`Engine`] syncs their quantities on every tick,
//! against a real run-history database. Between and *during* ticks customers buy in the
//! stores, the shop sells at the till (POS, on the accounting side), the merchant posts
//! orders, stock arrives, and connector calls fail.
//!
//! The same demand, replayed against a naive sync (copy the accounting quantity to every
//! store each tick), shows what invsync saves: [`SimReport`] counts oversold sales under
//! both. While it runs, every write the engine makes is checked against the invariants:
//!
//! * `reserve`: no store is ever told it may sell more than the merchant could still sell
//!   when the run began (plus stock that arrived since);
//! * `skip`: no SKU is written while an order that existed when the run began still holds
//!   it unposted;
//! * no sale is overwritten: a write whose expected quantity is no longer the store's comes
//!   back stale and is not applied (the stores here are strict compare-and-set);
//! * no run is left `running`.
//!
//! With [`SimConfig::watch_passes`] the daemon's order watch runs between ticks too
//! ([`Engine::watch_orders`], then a quantity-only push of the moved SKUs to every store),
//! under the same invariants.
//!
//! Used by `tests/simulation.rs` (seconds, in CI) and `invsync-bench simulate` (longer).

mod connections;
pub mod world;

use anyhow::Context as _;
use connections::{Shared, SimAccounting, SimStore};
use invsync_config::{ConnectionConfig, LoadOptions};
use invsync_connectors::{Connection, ConnectorError, OpenContext};
use invsync_core::{FieldSet, InOrdersMode, Selection, Side, Trigger};
use invsync_engine::{Engine, NoProgress, Opener, SyncRequest};
use invsync_store::{Db, PoolOptions, RunFilter};
use rand::Rng;
use rand::rngs::StdRng;
use secrecy::ExposeSecret as _;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
pub use world::{Event, SalesStats, World};

/// The three stores, as named in the simulated config. `store-c` lists its open orders
/// as a file does (a snapshot; a posted order leaves it); the other two are read
/// incrementally with a cursor and learn about postings from the accounting side.
pub const STORES: [&str; 3] = ["store-a", "store-b", "store-c"];

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub ticks: u32,
    pub skus: usize,
    /// Starting accounting quantity of every SKU.
    pub stock: i64,
    pub mode: InOrdersMode,
    /// Events between two ticks.
    pub events_per_tick: u32,
    /// Chance that a connector call is preceded by an event (sales during a run).
    pub event_rate: f64,
    /// Chance that a connector call fails (a 5xx after retries, a timeout).
    pub failure_rate: f64,
    /// Run history here instead of a fresh SQLite file (e.g. a Postgres URL).
    pub database_url: Option<String>,
    /// Order watch passes between two ticks (`reserve` only; 0: no watch). A tick is a
    /// 15-minute schedule slot, so 15 is a 1-minute `order_watch`: a tick's events are
    /// spread over the passes, each pass seeing those before it.
    pub watch_passes: u32,
}

impl SimConfig {
    pub fn new(seed: u64, mode: InOrdersMode) -> SimConfig {
        SimConfig {
            seed,
            ticks: 60,
            skus: 12,
            stock: 12,
            mode,
            events_per_tick: 12,
            event_rate: 0.3,
            failure_rate: 0.03,
            database_url: None,
            watch_passes: 0,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimReport {
    pub seed: u64,
    pub mode: String,
    pub ticks: u32,
    /// Sales as they happened with invsync syncing.
    pub invsync: SalesStats,
    /// The same demand with the naive sync.
    pub naive: SalesStats,
    /// Runs by their recorded status (`succeeded`, `partial`, `failed`, …).
    pub runs: BTreeMap<String, u64>,
    pub events: u64,
    /// Events that landed while a run was reading or writing.
    pub events_during_runs: u64,
    pub injected_failures: u64,
    pub writes_applied: u64,
    /// Writes refused because the store's quantity had changed since it was read.
    pub writes_stale: u64,
    /// Order watch passes, and those that found order changes to push.
    pub watch_passes: u64,
    pub watch_pushing_passes: u64,
    /// Broken invariants, each with what was seen. Empty on a correct engine.
    pub violations: Vec<String>,
    /// invsync's oversold sales by what the selling store's listing had not been told
    /// since it was last written.
    pub oversold_causes: BTreeMap<String, u64>,
}

impl SimConfig {
    /// The policy's name: `skip`, `reserve`, or `reserve+watch`.
    pub fn policy(&self) -> String {
        if self.watch_passes > 0 {
            format!("{}+watch", self.mode.as_str())
        } else {
            self.mode.as_str().to_owned()
        }
    }
}

/// Runs one simulation.
pub async fn simulate(sim: &SimConfig) -> anyhow::Result<SimReport> {
    let dir = tempfile::tempdir().context("create a temp dir")?;
    let database = match &sim.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}/sim.db", dir.path().display()),
    };
    let toml = format!(
        r#"[database]
url = "{database}"

[inventory]
in_orders = "{mode}"
order_watch = "{watch}"

[accounting]
kind = "file"
path = "accounting.csv"

[stores.store-a]
kind = "file"
path = "a.csv"
buffer = 1

[stores.store-b]
kind = "file"
path = "b.csv"
share = 60

[stores.store-c]
kind = "file"
path = "c.csv"
orders = "c-orders.csv"
max_quantity = 8

[[schedules]]
store = "store-a"
every = "15m"
update = "store"
fields = ["quantity"]

[[schedules]]
store = "store-b"
every = "15m"
update = "store"
fields = ["quantity"]

[[schedules]]
store = "store-c"
every = "15m"
update = "store"
fields = ["quantity"]
"#,
        mode = sim.mode.as_str(),
        watch = if sim.watch_passes > 0 { "1m" } else { "off" },
    );
    let path = dir.path().join("invsync.toml");
    std::fs::write(&path, toml).context("write the simulated config")?;
    let config = invsync_config::load_with(
        &path,
        &LoadOptions {
            env: Some(Default::default()),
            now: None,
        },
    )
    .context("load the simulated config")?;
    let db = Db::connect(config.database.url.expose_secret(), &PoolOptions::default())
        .await
        .context("open the run history")?;
    db.migrate().await.context("migrate the run history")?;

    let stock = vec![sim.stock; sim.skus];
    let shared = Arc::new(Mutex::new(Shared::new(sim, &stock, STORES.len())));
    let opener: Opener = {
        let shared = Arc::clone(&shared);
        Arc::new(
            move |name: &str,
                  _: &ConnectionConfig,
                  _: &OpenContext|
                  -> Result<Box<dyn Connection>, ConnectorError> {
                let shared = Arc::clone(&shared);
                Ok(match STORES.iter().position(|s| *s == name) {
                    Some(index) => Box::new(SimStore::new(shared, index, name)),
                    None => Box::new(SimAccounting::new(shared)),
                })
            },
        )
    };
    let engine = Engine::new(Arc::new(config), db.clone()).with_opener(opener);
    let cancel = CancellationToken::new();
    let mut runs: BTreeMap<String, u64> = BTreeMap::new();

    let (mut watch_passes, mut watch_pushing_passes) = (0, 0);
    for _tick in 0..sim.ticks {
        let passes = sim.watch_passes.max(1);
        for pass in 0..passes {
            let events =
                sim.events_per_tick * (pass + 1) / passes - sim.events_per_tick * pass / passes;
            for _ in 0..events {
                lock(&shared).next_event();
            }
            if sim.watch_passes > 0 {
                watch_passes += 1;
                if watch_pass(&engine, &shared, &cancel, &mut runs).await {
                    watch_pushing_passes += 1;
                }
            }
        }
        for (index, store) in STORES.iter().enumerate() {
            lock(&shared).begin_run(index);
            let result = engine
                .sync(
                    &SyncRequest {
                        store: (*store).to_owned(),
                        update: Side::Store,
                        fields: FieldSet::QUANTITY,
                        selection: Selection::All,
                        dry_run: false,
                        trigger: Trigger::Schedule,
                        schedule: Some(format!("{store}-quantity")),
                        scheduled_for: None,
                    },
                    &NoProgress,
                    &cancel,
                )
                .await;
            lock(&shared).end_run();
            let status = match result {
                Ok(report) => report.status.to_string(),
                Err(e) => format!("error: {e}"),
            };
            *runs.entry(status).or_default() += 1;
        }
    }

    let running = db
        .list_runs(&RunFilter {
            store: None,
            limit: 100_000,
        })
        .await
        .context("read the run history")?
        .into_iter()
        .filter(|r| r.status == invsync_core::RunStatus::Running)
        .count();
    db.close().await;
    let mut shared = lock(&shared);
    shared.catch_up_naive();
    if running > 0 {
        shared
            .violations
            .push(format!("{running} run(s) left `running`"));
    }
    Ok(SimReport {
        seed: sim.seed,
        mode: sim.policy(),
        watch_passes,
        watch_pushing_passes,
        ticks: sim.ticks,
        invsync: shared.world.stats,
        naive: shared.naive.stats,
        runs,
        events: shared.log.len() as u64,
        events_during_runs: shared.events_during_runs,
        injected_failures: shared.injected_failures,
        writes_applied: shared.writes_applied,
        writes_stale: shared.writes_stale,
        violations: shared.violations.clone(),
        oversold_causes: shared.world.oversold_causes.clone(),
    })
}

/// One order watch pass, as the daemon makes it: read every store's orders, push the
/// moved SKUs' quantities to every store, forget the changes once all were written.
/// Whether it pushed anything.
async fn watch_pass(
    engine: &Engine,
    shared: &Mutex<Shared>,
    cancel: &CancellationToken,
    runs: &mut BTreeMap<String, u64>,
) -> bool {
    lock(shared).watching = true;
    let pushed = match engine.watch_orders().await {
        Err(_) => {
            *runs.entry("watch read failed".to_owned()).or_default() += 1;
            false
        }
        Ok(watch) if watch.is_quiet() => false,
        Ok(mut watch) => {
            for store in watch.targets.clone() {
                let index = STORES.iter().position(|s| *s == store).unwrap_or(0);
                lock(shared).begin_push(index);
                let result = engine
                    .sync(
                        &SyncRequest::order_push(&store, &watch.skus),
                        &NoProgress,
                        cancel,
                    )
                    .await;
                lock(shared).end_run();
                let status = match &result {
                    Ok(report) => format!("order {}", report.status),
                    Err(e) => format!("order error: {e}"),
                };
                *runs.entry(status).or_default() += 1;
                watch.account(&result);
            }
            if engine.acknowledge_order_changes(&watch).await.is_err() {
                *runs
                    .entry("watch acknowledge failed".to_owned())
                    .or_default() += 1;
            }
            true
        }
    };
    lock(shared).watching = false;
    pushed
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding the lock (a bug in a fake) poisons it; the state is still the
    // best account of what happened, so keep going and let the report show it.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Draws the next event of the demand stream.
pub(crate) fn draw_event(rng: &mut StdRng, skus: usize, stores: usize) -> Event {
    let sku = rng.random_range(0..skus.max(1));
    match rng.random_range(0..100u32) {
        0..55 => Event::StoreSale {
            store: rng.random_range(0..stores.max(1)),
            sku,
            quantity: rng.random_range(1..=3),
        },
        55..70 => Event::PosSale {
            sku,
            quantity: rng.random_range(1..=2),
        },
        70..95 => Event::Post { pick: rng.random() },
        _ => Event::Restock {
            sku,
            quantity: rng.random_range(3..=10),
        },
    }
}
