//! A run opens each connection once (issue 14, item 3) and hands it to every step that
//! needs it: the catalog reads, every store's orders, the posted-order lookups, the
//! re-plan's re-reads and orders, and the writes. A second connection to one store would
//! spend a rate budget of its own beside the first one's.

mod support;

use invsync_config::ConnectionConfig;
use invsync_connectors::OpenContext;
use invsync_core::{FieldSet, RunStatus};
use invsync_engine::{Engine, NoProgress, Opener, Progress, SyncRequest};
use invsync_store::PoolOptions;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// How often each connection was opened, by name.
type Opens = Arc<Mutex<BTreeMap<String, usize>>>;

struct World {
    dir: tempfile::TempDir,
    engine: Engine,
    opens: Opens,
}

impl World {
    /// Two stores with open orders, `shop` and `pos`; `master` is `[inventory] master`.
    async fn new(master: &str) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| support::write(dir.path(), name, text);
        write(
            "accounting.csv",
            "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,5\nC,C,3.00,5\n",
        );
        write(
            "shop.csv",
            "sku,name,price,quantity\nA,A,1.50,0\nB,B,2.50,0\nC,C,3.00,0\n",
        );
        write(
            "pos.csv",
            "sku,name,price,quantity\nA,A,1.00,4\nB,B,2.00,4\nC,C,3.00,4\n",
        );
        write("shop-orders.csv", "order,sku,quantity\n");
        write("pos-orders.csv", "order,sku,quantity\nP1,C,1\n");
        write(
            "invsync.toml",
            &format!(
                "[database]\nurl = \"sqlite://invsync.db\"\n\
                 [inventory]\nmaster = \"{master}\"\n\
                 [accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\
                 [stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\norders = \"shop-orders.csv\"\n\
                 [stores.pos]\nkind = \"file\"\npath = \"pos.csv\"\norders = \"pos-orders.csv\"\n"
            ),
        );
        let config = support::load_config(dir.path());
        let db = support::open_db(&config, &PoolOptions::default()).await;
        let opens: Opens = Arc::default();
        let opener: Opener = {
            let opens = Arc::clone(&opens);
            Arc::new(move |name: &str, c: &ConnectionConfig, ctx: &OpenContext| {
                *opens
                    .lock()
                    .expect("lock")
                    .entry(name.to_owned())
                    .or_default() += 1;
                invsync_connectors::open(name, c, ctx)
            })
        };
        let engine = Engine::new(Arc::new(config), db).with_opener(opener);
        World { dir, engine, opens }
    }

    fn opens(&self) -> Vec<(String, usize)> {
        let opens = std::mem::take(&mut *self.opens.lock().expect("lock"));
        opens.into_iter().collect()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).expect("read")
    }
}

fn once(names: &[&str]) -> Vec<(String, usize)> {
    let mut once: Vec<(String, usize)> = names.iter().map(|n| ((*n).to_owned(), 1)).collect();
    once.sort();
    once
}

fn request(fields: FieldSet) -> SyncRequest {
    support::request("shop", fields)
}

/// When the first writes are about to go, restocks B in the shop file: its quantity write
/// finds B changed since it was read (stale), and the run re-reads, re-plans and writes it
/// again.
struct RestockBeforeWrites {
    shop: PathBuf,
    done: AtomicBool,
}

impl RestockBeforeWrites {
    fn new(dir: &Path) -> RestockBeforeWrites {
        RestockBeforeWrites {
            shop: dir.join("shop.csv"),
            done: AtomicBool::new(false),
        }
    }
}

impl Progress for RestockBeforeWrites {
    fn start_writes(&self, _total: u64) {
        if !self.done.swap(true, Ordering::SeqCst) {
            let text = std::fs::read_to_string(&self.shop).expect("read");
            std::fs::write(&self.shop, text.replace("B,B,2.50,0", "B,B,2.50,7")).expect("restock");
        }
    }
}

/// The real run's whole path — catalogs, both stores' orders, posted-order lookups, writes,
/// and a re-plan that re-reads a stale record and every store's orders — opens the
/// accounting side and each store once.
#[tokio::test]
async fn a_run_with_a_replan_opens_each_connection_once() {
    let world = World::new("accounting").await;
    let restock = RestockBeforeWrites::new(world.dir.path());
    let report = world
        .engine
        .sync(
            &request(FieldSet::BOTH),
            &restock,
            &CancellationToken::new(),
        )
        .await
        .expect("sync");
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let run = report.run_id.expect("recorded");
    let items = world.engine.db().run_items(run).await.expect("items");
    assert!(
        items
            .iter()
            .any(|i| i.sku == "B" && i.outcome.as_str() == "skipped"),
        "B's first write came back stale: {items:?}"
    );
    assert!(
        world.read("shop.csv").contains("B,B,2.00,5\n"),
        "and its re-planned write went out: {}",
        world.read("shop.csv")
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.sku == "C" && s.reason.contains("pos:P1")),
        "pos's orders were read through its connection: {:?}",
        report.skipped
    );
    assert_eq!(world.opens(), once(&["accounting", "pos", "shop"]));
}

/// Another store as the master: its catalog (the quantities) and its orders come through
/// one connection.
#[tokio::test]
async fn the_master_store_is_opened_once_for_its_catalog_and_its_orders() {
    let world = World::new("pos").await;
    let report = world
        .engine
        .sync(
            &request(FieldSet::QUANTITY),
            &NoProgress,
            &CancellationToken::new(),
        )
        .await
        .expect("sync");
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert!(
        world.read("shop.csv").contains("A,A,1.50,4\n"),
        "the master's quantity: {}",
        world.read("shop.csv")
    );
    assert_eq!(world.opens(), once(&["accounting", "pos", "shop"]));
}

/// A dry run and `status` read on the same path: once each too; without quantity, the
/// other store is not opened at all.
#[tokio::test]
async fn dry_runs_and_status_open_each_connection_once() {
    let world = World::new("accounting").await;
    let dry = SyncRequest {
        dry_run: true,
        ..request(FieldSet::BOTH)
    };
    let report = world
        .engine
        .sync(&dry, &NoProgress, &CancellationToken::new())
        .await
        .expect("dry run");
    assert!(!report.changes.is_empty());
    assert_eq!(world.opens(), once(&["accounting", "pos", "shop"]));

    world.engine.status("shop").await.expect("status");
    assert_eq!(world.opens(), once(&["accounting", "pos", "shop"]));

    let prices = SyncRequest {
        dry_run: true,
        ..request(FieldSet::PRICE)
    };
    world
        .engine
        .sync(&prices, &NoProgress, &CancellationToken::new())
        .await
        .expect("dry run");
    assert_eq!(world.opens(), once(&["accounting", "shop"]));
}
