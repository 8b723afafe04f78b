//! The order watch in the engine (issue 18): a read of every store's orders that costs one
//! call per quiet store, finds the SKUs order changes moved (whichever read applied them),
//! and a quantity-only push of only those SKUs to every store that shares the stock,
//! recorded as `trigger = 'order'` runs.

mod support;

use async_trait::async_trait;
use invsync_config::ConnectionConfig;
use invsync_connectors::{
    Catalog, Connection, ConnectorError, OpenContext, OrderFeed, Write, WriteOutcome,
};
use invsync_core::{FieldSet, OrderLine, RunStatus, SkuKey, Trigger};
use invsync_engine::{Engine, NoProgress, Opener, SyncRequest};
use invsync_store::{PoolOptions, RunFilter};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

type Calls = Arc<Mutex<BTreeMap<(String, &'static str), u32>>>;

/// A connection that counts its calls, by connection and method.
struct Counted {
    inner: Box<dyn Connection>,
    calls: Calls,
}

impl Counted {
    fn count(&self, what: &'static str) {
        *self
            .calls
            .lock()
            .expect("lock")
            .entry((self.inner.name().to_owned(), what))
            .or_default() += 1;
    }
}

#[async_trait]
impl Connection for Counted {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        self.count("read_catalog");
        self.inner.read_catalog().await
    }
    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        self.count("read_orders");
        self.inner.read_orders(cursor).await
    }
    async fn posted_orders(
        &self,
        orders: &[OrderLine],
    ) -> Result<Option<Vec<bool>>, ConnectorError> {
        self.count("posted_orders");
        self.inner.posted_orders(orders).await
    }
    fn write_batch_size(&self) -> usize {
        self.inner.write_batch_size()
    }
    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.count("write");
        self.inner.write(writes).await
    }
}

const STORE: &str =
    "sku,name,price,quantity\nMUG,Mug,12.50,10\nTEE,Tee,20.00,10\nCAP,Cap,9.00,10\n";

fn setup(dir: &Path) {
    let write = |name: &str, text: &str| support::write(dir, name, text);
    write(
        "accounting.csv",
        "sku,name,price,quantity\nMUG,Mug,12.50,10\nTEE,Tee,20.00,10\nCAP,Cap,9.00,10\n",
    );
    let mut toml = String::from(
        "[database]\nurl = \"sqlite://invsync.db\"\n[inventory]\nin_orders = \"reserve\"\norder_watch = \"30s\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n",
    );
    for store in ["a", "b", "c"] {
        write(&format!("{store}.csv"), STORE);
        write(&format!("{store}-orders.csv"), "order,sku,quantity\n");
        toml.push_str(&format!(
            "[stores.{store}]\nkind = \"file\"\npath = \"{store}.csv\"\norders = \"{store}-orders.csv\"\n"
        ));
    }
    // `c` syncs only prices: the watch leaves its quantities alone.
    toml.push_str(
        "[[schedules]]\nstore = \"a\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n\
         [[schedules]]\nstore = \"b\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n\
         [[schedules]]\nstore = \"c\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\"]\n",
    );
    write("invsync.toml", &toml);
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read")
}

#[tokio::test]
async fn a_pass_pushes_only_the_quantities_of_the_skus_orders_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let config = support::load_config(dir.path());
    let db = support::open_db(&config, &PoolOptions::default()).await;
    let calls: Calls = Arc::default();
    let opener: Opener = {
        let calls = Arc::clone(&calls);
        Arc::new(move |name: &str, c: &ConnectionConfig, ctx: &OpenContext| {
            Ok(Box::new(Counted {
                inner: invsync_connectors::open(name, c, ctx)?,
                calls: Arc::clone(&calls),
            }) as Box<dyn Connection>)
        })
    };
    let engine = Engine::new(Arc::new(config), db.clone()).with_opener(opener);
    let cancel = CancellationToken::new();
    assert_eq!(engine.order_watch_targets(), vec!["a", "b"]);

    // Nothing ordered yet: a quiet pass, one order read per store and nothing else.
    let watch = engine.watch_orders().await.expect("watch");
    assert!(watch.is_quiet(), "{watch:?}");
    let quiet: Vec<_> = calls.lock().expect("lock").clone().into_iter().collect();
    assert_eq!(
        quiet,
        vec![
            (("a".to_owned(), "read_orders"), 1),
            (("b".to_owned(), "read_orders"), 1),
            (("c".to_owned(), "read_orders"), 1),
        ]
    );

    // A sale in store `c` (whose quantity invsync does not sync) is seen by a scheduled
    // run of `a` first: the watch still finds it.
    support::write(
        dir.path(),
        "c-orders.csv",
        "order,sku,quantity\nC-1,TEE,3\n",
    );
    let run = engine
        .sync(
            &support::request("a", FieldSet::QUANTITY),
            &NoProgress,
            &cancel,
        )
        .await
        .expect("scheduled run");
    assert_eq!(run.counts.updated, 1, "{run:?}");
    let a_after_run = read(dir.path(), "a.csv");
    assert!(a_after_run.contains("TEE,Tee,20.00,7"), "{a_after_run}");

    let watch = engine.watch_orders().await.expect("watch");
    assert_eq!(watch.skus, vec![SkuKey::new("TEE").expect("sku")]);
    assert_eq!(watch.targets, vec!["a", "b"]);
    assert!(watch.first_seen.is_some());
    let (b_before, c_before) = (read(dir.path(), "b.csv"), read(dir.path(), "c.csv"));
    for store in &watch.targets {
        let report = engine
            .sync(
                &SyncRequest::order_push(store, &watch.skus),
                &NoProgress,
                &cancel,
            )
            .await
            .expect("push");
        assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
        assert_eq!(report.counts.checked, 1, "only TEE: {report:?}");
    }
    engine
        .acknowledge_order_changes(&watch)
        .await
        .expect("acknowledge");
    // `a` was already right; `b` gets TEE lowered and nothing else; `c` is not touched.
    assert_eq!(read(dir.path(), "a.csv"), a_after_run);
    assert_eq!(
        read(dir.path(), "b.csv"),
        b_before.replace("TEE,Tee,20.00,10", "TEE,Tee,20.00,7")
    );
    assert_eq!(read(dir.path(), "c.csv"), c_before);
    let runs = db
        .list_runs(&RunFilter {
            store: None,
            limit: 10,
        })
        .await
        .expect("runs");
    let pushes: Vec<_> = runs
        .iter()
        .filter(|r| r.trigger == Trigger::Order)
        .collect();
    assert_eq!(pushes.len(), 2, "{runs:?}");
    assert!(
        pushes
            .iter()
            .all(|r| r.fields == "quantity" && r.schedule.is_none())
    );

    // Pushed: the next pass is quiet again.
    calls.lock().expect("lock").clear();
    let watch = engine.watch_orders().await.expect("watch");
    assert!(watch.is_quiet(), "{watch:?}");
    let stores_called: u32 = calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|((name, _), _)| name != "accounting")
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(stores_called, 3, "one order read per store");

    // A change the rules reject (a negative accounting quantity, to be fixed at its
    // source) is done once pushed: pushing it again would change nothing.
    let accounting =
        read(dir.path(), "accounting.csv").replace("CAP,Cap,9.00,10", "CAP,Cap,9.00,-1");
    support::write(dir.path(), "accounting.csv", &accounting);
    support::write(
        dir.path(),
        "b-orders.csv",
        "order,sku,quantity\nB-1,CAP,1\n",
    );
    let mut watch = engine.watch_orders().await.expect("watch");
    assert_eq!(watch.skus, vec![SkuKey::new("CAP").expect("sku")]);
    for store in watch.targets.clone() {
        let result = engine
            .sync(
                &SyncRequest::order_push(&store, &watch.skus),
                &NoProgress,
                &cancel,
            )
            .await;
        let report = result.as_ref().expect("push");
        assert_eq!(report.counts.failed, 1, "{report:?}");
        assert!(watch.account(&result), "nothing to retry: {report:?}");
    }
    // A push that could not run (the store was busy) keeps every change.
    let mut busy = engine.watch_orders().await.expect("watch");
    assert!(!busy.account(&Err(invsync_engine::EngineError::Store(
        invsync_store::StoreError::RunInProgress {
            store: "a".into(),
            run_id: 1,
        }
    ))));
    assert!(busy.pushed().is_empty() && !busy.complete());
    assert!(watch.complete());
    engine
        .acknowledge_order_changes(&watch)
        .await
        .expect("acknowledge");
    assert!(engine.watch_orders().await.expect("watch").is_quiet());
}

/// Pushes what one pass found to every target and acknowledges it; the runs' reports.
async fn push_all(engine: &Engine, watch: &mut invsync_engine::OrderWatch) -> Vec<RunStatus> {
    let cancel = CancellationToken::new();
    let mut statuses = Vec::new();
    for store in watch.targets.clone() {
        let result = engine
            .sync(
                &SyncRequest::order_push(&store, &watch.skus),
                &NoProgress,
                &cancel,
            )
            .await;
        statuses.push(result.as_ref().expect("push").status);
        watch.account(&result);
    }
    engine
        .acknowledge_order_changes(watch)
        .await
        .expect("acknowledge");
    statuses
}

#[tokio::test]
async fn a_till_sale_on_a_file_accounting_side_reaches_the_stores_on_the_next_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let config = support::load_config(dir.path());
    let db = support::open_db(&config, &PoolOptions::default()).await;
    let engine = Engine::new(Arc::new(config), db.clone());
    let mug = || SkuKey::new("MUG").expect("sku");

    // The first pass keeps what the accounting side says and pushes nothing.
    let mut watch = engine.watch_orders().await.expect("watch");
    assert!(watch.is_quiet(), "{watch:?}");
    push_all(&engine, &mut watch).await;
    let kept = db
        .stored_catalog(invsync_engine::ACCOUNTING_BASELINE)
        .await
        .expect("read")
        .expect("a baseline is kept");
    assert_eq!(kept.records.len(), 3);

    // Four mugs sold at the till: the next pass pushes MUG, and only MUG, to `a` and `b`.
    let (a, b, c) = (
        read(dir.path(), "a.csv"),
        read(dir.path(), "b.csv"),
        read(dir.path(), "c.csv"),
    );
    let accounting =
        read(dir.path(), "accounting.csv").replace("MUG,Mug,12.50,10", "MUG,Mug,12.50,6");
    support::write(dir.path(), "accounting.csv", &accounting);
    let mut watch = engine.watch_orders().await.expect("watch");
    assert_eq!(watch.skus, vec![mug()]);
    assert!(watch.changes.is_empty(), "no order moved: {watch:?}");
    assert_eq!(
        push_all(&engine, &mut watch).await,
        vec![RunStatus::Succeeded; 2]
    );
    let lowered = |text: &str| text.replace("MUG,Mug,12.50,10", "MUG,Mug,12.50,6");
    assert_eq!(read(dir.path(), "a.csv"), lowered(&a));
    assert_eq!(read(dir.path(), "b.csv"), lowered(&b));
    assert_eq!(
        read(dir.path(), "c.csv"),
        c,
        "c's quantities are not synced"
    );
    assert!(engine.watch_orders().await.expect("watch").is_quiet());

    // A pass whose push could not run keeps the old baseline: the next pass pushes again.
    let accounting =
        read(dir.path(), "accounting.csv").replace("MUG,Mug,12.50,6", "MUG,Mug,12.50,5");
    support::write(dir.path(), "accounting.csv", &accounting);
    let mut busy = engine.watch_orders().await.expect("watch");
    assert_eq!(busy.skus, vec![mug()]);
    assert!(!busy.account(&Err(invsync_engine::EngineError::Store(
        invsync_store::StoreError::RunInProgress {
            store: "a".into(),
            run_id: 1,
        }
    ))));
    engine
        .acknowledge_order_changes(&busy)
        .await
        .expect("acknowledge");
    let mut watch = engine.watch_orders().await.expect("watch");
    assert_eq!(watch.skus, vec![mug()], "still to push");
    push_all(&engine, &mut watch).await;
    assert!(read(dir.path(), "a.csv").contains("MUG,Mug,12.50,5"));

    // An accounting side that cannot be read does not hold back the orders' pushes.
    std::fs::remove_file(dir.path().join("accounting.csv")).expect("remove");
    support::write(
        dir.path(),
        "b-orders.csv",
        "order,sku,quantity\nB-1,TEE,1\n",
    );
    let watch = engine.watch_orders().await.expect("watch");
    assert_eq!(watch.skus, vec![SkuKey::new("TEE").expect("sku")]);
}

/// ADR 0102: each process holds the baseline it last loaded or saved and reuses it while
/// the database's version is the same; a baseline another instance saved is loaded again,
/// so a quantity that moved back to what this process held is still pushed.
#[tokio::test]
async fn a_baseline_another_instance_saved_is_loaded_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let config = Arc::new(support::load_config(dir.path()));
    let db = support::open_db(&config, &PoolOptions::default()).await;
    let (one, two) = (
        Engine::new(config.clone(), db.clone()),
        Engine::new(config, db.clone()),
    );
    let mug = || SkuKey::new("MUG").expect("sku");
    let set_mugs = |from: &str, to: &str| {
        let accounting = read(dir.path(), "accounting.csv").replace(
            &format!("MUG,Mug,12.50,{from}"),
            &format!("MUG,Mug,12.50,{to}"),
        );
        support::write(dir.path(), "accounting.csv", &accounting);
    };

    // `one` keeps the first baseline (10 mugs) and holds it.
    let mut watch = one.watch_orders().await.expect("watch");
    push_all(&one, &mut watch).await;
    assert!(one.watch_orders().await.expect("watch").is_quiet());

    // Four sold at the till; `two` runs the pass and keeps 6 as the baseline.
    set_mugs("10", "6");
    let mut watch = two.watch_orders().await.expect("watch");
    assert_eq!(watch.skus, vec![mug()]);
    push_all(&two, &mut watch).await;
    assert!(read(dir.path(), "a.csv").contains("MUG,Mug,12.50,6"));

    // Returned: 10 again, what `one` held. `one` sees the newer baseline and pushes.
    set_mugs("6", "10");
    let mut watch = one.watch_orders().await.expect("watch");
    assert_eq!(
        watch.skus,
        vec![mug()],
        "the stores say 6, the accounting 10"
    );
    push_all(&one, &mut watch).await;
    assert!(read(dir.path(), "a.csv").contains("MUG,Mug,12.50,10"));
    assert!(one.watch_orders().await.expect("watch").is_quiet());
    assert!(two.watch_orders().await.expect("watch").is_quiet());
    let kept = db
        .stored_catalog(invsync_engine::ACCOUNTING_BASELINE)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.version, 3, "three saves: the first, `two`'s, `one`'s");
}
