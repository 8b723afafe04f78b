//! The daemon's order watch (issue 18) on file stores and a real SQLite database: a pass
//! is quiet when no order changed, pushes only the moved SKUs' quantities when one did,
//! waits for a store that is busy (and leaves the changes for the next pass if it stays
//! busy), and never runs while another daemon's pass holds the lease.

use invsync_config::{Config, LoadOptions};
use invsync_core::{FieldSet, RunCounts, RunStatus, Side, Trigger};
use invsync_daemon::watch::{OrderWatcher, PassOutcome};
use invsync_store::{Db, NewRun, PoolOptions, ProcessIdentity, RunFilter};
use secrecy::ExposeSecret as _;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const CATALOG: &str = "sku,name,price,quantity\nMUG,Mug,12.50,10\nTEE,Tee,20.00,10\n";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read")
}

async fn setup(dir: &Path) -> (Arc<Config>, Db) {
    write(dir, "accounting.csv", CATALOG);
    let mut toml = String::from(
        "[database]\nurl = \"sqlite://invsync.db\"\n[inventory]\nin_orders = \"reserve\"\norder_watch = \"30s\"\n\
         [accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n",
    );
    for store in ["a", "b"] {
        write(dir, &format!("{store}.csv"), CATALOG);
        write(dir, &format!("{store}-orders.csv"), "order,sku,quantity\n");
        toml.push_str(&format!(
            "[stores.{store}]\nkind = \"file\"\npath = \"{store}.csv\"\norders = \"{store}-orders.csv\"\n\
             [[schedules]]\nstore = \"{store}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n"
        ));
    }
    write(dir, "invsync.toml", &toml);
    let config = invsync_config::load_with(
        &dir.join("invsync.toml"),
        &LoadOptions {
            env: Some(Default::default()),
            now: None,
        },
    )
    .expect("config");
    let db = Db::connect(config.database.url.expose_secret(), &PoolOptions::default())
        .await
        .expect("db");
    db.migrate().await.expect("migrate");
    (Arc::new(config), db)
}

#[tokio::test]
async fn a_pass_pushes_moved_skus_waits_for_busy_stores_and_holds_the_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, db) = setup(dir.path()).await;
    let watcher = OrderWatcher::new(
        db.clone(),
        Arc::new(RwLock::new(config.clone())),
        "me:1:1".into(),
    )
    .with_busy_wait(Duration::from_secs(2));
    let (stop, cancel) = (CancellationToken::new(), CancellationToken::new());
    let pass = || watcher.pass(config.clone(), &stop, &cancel);

    assert_eq!(pass().await, PassOutcome::Quiet);

    // A sale in `a`; `b` is busy with another run the whole time the push may wait.
    write(
        dir.path(),
        "a-orders.csv",
        "order,sku,quantity\nA-1,MUG,4\n",
    );
    let busy = db
        .start_run(&NewRun {
            schedule: None,
            store: "b".into(),
            trigger: Trigger::Manual,
            update_side: Side::Store,
            fields: FieldSet::QUANTITY,
            owner: ProcessIdentity::current(),
            scheduled_for: None,
        })
        .await
        .expect("a run in progress");
    assert_eq!(pass().await, PassOutcome::Incomplete);
    assert!(read(dir.path(), "a.csv").contains("MUG,Mug,12.50,6"));
    assert_eq!(
        read(dir.path(), "b.csv"),
        CATALOG,
        "never written while busy"
    );
    assert!(
        !db.order_changes().await.expect("changes").is_empty(),
        "kept"
    );

    // The other run ends: the next pass pushes what is left.
    db.finish_run(busy, RunStatus::Succeeded, &RunCounts::default(), None)
        .await
        .expect("finish");
    assert_eq!(pass().await, PassOutcome::Pushed);
    assert_eq!(
        read(dir.path(), "b.csv"),
        CATALOG.replace("MUG,Mug,12.50,10", "MUG,Mug,12.50,6")
    );
    assert!(db.order_changes().await.expect("changes").is_empty());
    let runs = db
        .list_runs(&RunFilter {
            store: None,
            limit: 20,
        })
        .await
        .expect("runs");
    assert!(
        runs.iter()
            .filter(|r| r.id != busy)
            .all(|r| r.trigger == Trigger::Order),
        "{runs:?}"
    );
    assert_eq!(pass().await, PassOutcome::Quiet);

    // Another daemon's pass holds the lease.
    let now = db.now().await.expect("now");
    assert!(
        db.claim_order_watch("other:2:2", now, now + chrono::Duration::minutes(5))
            .await
            .expect("claim")
    );
    write(
        dir.path(),
        "a-orders.csv",
        "order,sku,quantity\nA-1,MUG,4\nA-2,TEE,1\n",
    );
    assert_eq!(pass().await, PassOutcome::Elsewhere);
    assert_eq!(
        read(dir.path(), "b.csv"),
        CATALOG.replace("MUG,Mug,12.50,10", "MUG,Mug,12.50,6")
    );
    db.release_order_watch("other:2:2").await.expect("release");
    assert_eq!(pass().await, PassOutcome::Pushed);
    assert!(read(dir.path(), "b.csv").contains("TEE,Tee,20.00,9"));
}

/// ADR 0102 through the daemon's pass: the first pass is quiet and still keeps the
/// accounting baseline, so a till sale before any store order reaches the stores.
#[tokio::test]
async fn a_till_sale_reaches_the_stores_though_no_order_came_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, db) = setup(dir.path()).await;
    let watcher = OrderWatcher::new(
        db.clone(),
        Arc::new(RwLock::new(config.clone())),
        "me:1:1".into(),
    );
    let (stop, cancel) = (CancellationToken::new(), CancellationToken::new());
    let pass = || watcher.pass(config.clone(), &stop, &cancel);

    assert_eq!(pass().await, PassOutcome::Quiet);
    assert!(
        db.stored_catalog(invsync_engine::ACCOUNTING_BASELINE)
            .await
            .expect("read")
            .is_some(),
        "a quiet first pass keeps the baseline"
    );
    assert_eq!(pass().await, PassOutcome::Quiet);

    let till = CATALOG.replace("MUG,Mug,12.50,10", "MUG,Mug,12.50,7");
    write(dir.path(), "accounting.csv", &till);
    assert_eq!(pass().await, PassOutcome::Pushed);
    assert_eq!(read(dir.path(), "a.csv"), till);
    assert_eq!(read(dir.path(), "b.csv"), till);
    assert_eq!(pass().await, PassOutcome::Quiet);
}
