//! Engine tests: real file connections (optionally wrapped to fail, stall or panic on
//! purpose) and a real run-history database — every scenario on SQLite and on Postgres.

mod support;

use async_trait::async_trait;
use invsync_config::{Config, ConnectionConfig};
use invsync_connectors::{
    Catalog, Connection, ConnectorError, ErrorKind, OpenContext, Reject, Write, WriteOutcome,
};
use invsync_core::{FieldSet, RunStatus, Selection, Side, Trigger};
use invsync_engine::{Engine, EngineError, NoProgress, Opener, RunReport, SyncRequest};
use invsync_store::{Db, PoolOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const ACCOUNTING: &str = "sku,name,price,quantity\nA,A,1.00,1\nB,B,2.00,2\nC,C,3.00,3\nD,D,4.00,4\nE,E,5.00,5\nF,F,6.00,6\n";
/// Every product but F differs in quantity; A and B also in price.
const SHOP: &str = "sku,name,price,quantity\nA,A,1.50,0\nB,B,2.50,0\nC,C,3.00,0\nD,D,4.00,0\nE,E,5.00,0\nF,F,6.00,6\n";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Setup {
    dir: tempfile::TempDir,
    config: Arc<Config>,
    db: Db,
    _pg: Option<invsync_test_support::pg::TestDatabase>,
}

impl Setup {
    async fn new(backend: Backend) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("accounting.csv"), ACCOUNTING).expect("write");
        std::fs::write(dir.path().join("shop.csv"), SHOP).expect("write");
        std::fs::write(dir.path().join("orders.csv"), "order,sku,quantity\n").expect("write");
        let pg = match backend {
            Backend::Postgres => Some(invsync_test_support::pg::fresh_database().await),
            Backend::Sqlite => None,
        };
        let url = match &pg {
            Some(pg) => pg.url().to_owned(),
            None => "sqlite://invsync.db".to_owned(),
        };
        std::fs::write(
            dir.path().join("invsync.toml"),
            format!("[database]\nurl = \"{url}\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\norders = \"orders.csv\"\n"),
        )
        .expect("config");
        let config = support::load_config(dir.path());
        let db = support::open_db(
            &config,
            &PoolOptions {
                max_connections: 4,
                connect_timeout: std::time::Duration::from_secs(10),
            },
        )
        .await;
        Setup {
            dir,
            config: Arc::new(config),
            db,
            _pg: pg,
        }
    }

    fn engine(&self, fault: Option<Arc<Fault>>) -> Engine {
        let engine = Engine::new(self.config.clone(), self.db.clone());
        match fault {
            None => engine,
            Some(fault) => {
                let opener: Opener = Arc::new(
                    move |name: &str, config: &ConnectionConfig, ctx: &OpenContext| {
                        let inner = invsync_connectors::open(name, config, ctx)?;
                        if name == "shop" {
                            Ok(Box::new(Faulty {
                                inner,
                                fault: fault.clone(),
                            }) as Box<dyn Connection>)
                        } else {
                            Ok(inner)
                        }
                    },
                );
                engine.with_opener(opener)
            }
        }
    }

    fn shop(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shop.csv")).expect("read")
    }
}

fn request(fields: FieldSet) -> SyncRequest {
    support::request("shop", fields)
}

/// What the wrapped store connection does wrong.
#[derive(Default)]
struct Fault {
    batch_size: Option<usize>,
    /// Take every price change left in a row as one batch (as Shopify's bulk price write
    /// does above `bulk_write_above`).
    prices_in_one_batch: bool,
    /// Fail the nth write call (0-based) as a whole with this kind.
    fail_call: Option<(usize, ErrorKind)>,
    /// Report the first write of these SKUs as stale.
    stale_skus: Vec<&'static str>,
    /// Before reporting a stale write, record a sale of that SKU in the store file and an
    /// open order for it (what a real concurrent sale looks like).
    sale_on_stale: Option<std::path::PathBuf>,
    staled: Mutex<Vec<String>>,
    panic_on_write: bool,
    /// Cancel this token after the first write call.
    cancel_after_first: Option<CancellationToken>,
    /// The nth write call (0-based) never answers: the process dies with it in flight.
    hang_on_call: Option<usize>,
    /// Add a product that could not be read.
    reject: bool,
    /// Close this run-history pool once the first write call returns: the database is
    /// gone for the rest of the run.
    close_db_after_first: Option<Db>,
    calls: AtomicUsize,
    sizes: Mutex<Vec<usize>>,
    /// The idempotency key of every write sent.
    keys: Mutex<Vec<String>>,
    /// The SKUs of every write that reached the connection.
    skus: Mutex<Vec<String>>,
}

struct Faulty {
    inner: Box<dyn Connection>,
    fault: Arc<Fault>,
}

#[async_trait]
impl Connection for Faulty {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let mut catalog = self.inner.read_catalog().await?;
        if self.fault.reject {
            catalog.rejects.push(Reject {
                sku: Some("BROKEN-1".into()),
                id: Some("42".into()),
                error: "price is not a number".into(),
            });
        }
        Ok(catalog)
    }
    async fn read_orders(
        &self,
        cursor: Option<&str>,
    ) -> Result<Option<invsync_connectors::OrderFeed>, ConnectorError> {
        self.inner.read_orders(cursor).await
    }
    async fn read_records(
        &self,
        records: &[invsync_connectors::RecordRef],
    ) -> Result<Option<Vec<invsync_core::Record>>, ConnectorError> {
        self.inner.read_records(records).await
    }
    fn write_batch_size(&self) -> usize {
        self.fault
            .batch_size
            .unwrap_or_else(|| self.inner.write_batch_size())
    }
    fn write_batch_size_for(&self, field: invsync_core::Field, pending: usize) -> usize {
        if self.fault.prices_in_one_batch && field == invsync_core::Field::Price {
            pending.max(1000)
        } else {
            self.write_batch_size()
        }
    }
    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let call = self.fault.calls.fetch_add(1, Ordering::SeqCst);
        self.fault.sizes.lock().expect("lock").push(writes.len());
        (self.fault.keys.lock().expect("lock")).extend(writes.iter().map(|w| w.key.clone()));
        self.fault
            .skus
            .lock()
            .expect("lock")
            .extend(writes.iter().map(|w| w.sku.to_string()));
        if call == 0
            && let Some(db) = &self.fault.close_db_after_first
        {
            db.close().await;
        }
        if let Some(token) = &self.fault.cancel_after_first {
            token.cancel();
        }
        assert!(!self.fault.panic_on_write, "the platform client blew up");
        if self.fault.hang_on_call == Some(call) {
            std::future::pending::<()>().await;
        }
        if let Some((n, kind)) = self.fault.fail_call
            && n == call
        {
            return Err(ConnectorError::new(
                "shop",
                kind,
                "HTTP 503: upstream unavailable",
            ));
        }
        let (stale, rest): (Vec<&Write>, Vec<&Write>) = writes.iter().partition(|w| {
            let mut staled = self.fault.staled.lock().expect("lock");
            let first = self.fault.stale_skus.contains(&w.sku.as_str())
                && !staled.contains(&w.sku.to_string());
            if first {
                staled.push(w.sku.to_string());
            }
            first
        });
        if let Some(dir) = &self.fault.sale_on_stale {
            for w in &stale {
                let shop = dir.join("shop.csv");
                let text = std::fs::read_to_string(&shop).expect("read");
                let sold = text.replace(
                    &format!("{},{},2.50,0", w.sku, w.sku),
                    &format!("{},{},2.50,-1", w.sku, w.sku),
                );
                std::fs::write(&shop, sold).expect("sale");
                let orders = dir.join("orders.csv");
                let mut text = std::fs::read_to_string(&orders).expect("read");
                text.push_str(&format!("#77,{},1\n", w.sku));
                std::fs::write(&orders, text).expect("order");
            }
        }
        let rest: Vec<Write> = rest.into_iter().cloned().collect();
        let mut applied = self.inner.write(&rest).await?.into_iter();
        Ok(writes
            .iter()
            .map(|w| {
                if stale.iter().any(|s| s.sku == w.sku && s.field == w.field) {
                    WriteOutcome::Stale("changed since it was read (now 7); not overwritten".into())
                } else {
                    applied
                        .next()
                        .unwrap_or(WriteOutcome::Failed("missing outcome".into()))
                }
            })
            .collect())
    }
}

async fn sync(
    setup: &Setup,
    fault: Option<Arc<Fault>>,
    fields: FieldSet,
    cancel: &CancellationToken,
) -> RunReport {
    setup
        .engine(fault)
        .sync(&request(fields), &NoProgress, cancel)
        .await
        .expect("sync")
}

async fn items(setup: &Setup, run: i64) -> Vec<(String, String, String)> {
    setup
        .db
        .run_items(run)
        .await
        .expect("items")
        .into_iter()
        .map(|i| (i.sku, i.field.to_string(), i.outcome.as_str().to_owned()))
        .collect()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name(super::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name(super::Backend::Postgres).await } )*
        }
    };
}

on_both_backends!(
    writes_in_batches_and_records_every_item,
    a_connection_takes_a_runs_prices_as_one_batch_after_its_quantities,
    a_failed_batch_fails_its_items_and_the_run_is_partial,
    an_auth_failure_stops_the_run_at_once,
    stale_items_are_re_read_re_planned_and_written_once,
    a_sale_between_read_and_write_is_never_overwritten,
    a_panic_is_recorded_as_a_failed_run,
    a_stop_request_between_batches_ends_the_run_interrupted,
    one_run_per_store_at_a_time,
    unreadable_products_fail_as_items_not_the_run,
    a_dry_run_records_and_writes_nothing,
    a_crash_with_a_batch_in_flight_leaves_its_writes_on_record_as_unknown,
    skus_on_neither_side_are_reported_and_none_matching_records_no_run,
    a_sku_the_run_history_cannot_store_is_never_written,
    writes_whose_intents_cannot_be_recorded_are_not_sent,
);

async fn writes_in_batches_and_records_every_item(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        batch_size: Some(2),
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault.clone()),
        FieldSet::BOTH,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(
        *fault.sizes.lock().expect("lock"),
        vec![2, 2, 2, 1],
        "7 changes in batches of 2"
    );
    assert_eq!(
        (
            report.counts.checked,
            report.counts.updated,
            report.counts.in_sync
        ),
        (6, 5, 1)
    );
    let run = report.run_id.expect("recorded");
    assert_eq!(items(&setup, run).await.len(), 7);
    let row = setup.db.get_run(run).await.expect("get").expect("row");
    assert_eq!(row.status, RunStatus::Succeeded);
    assert_eq!(row.counts, report.counts);
    assert!(setup.shop().contains("A,A,1.00,1\n"));
    // Planning again finds nothing to do.
    let again = sync(&setup, None, FieldSet::BOTH, &CancellationToken::new()).await;
    assert!(again.changes.is_empty());
    assert_eq!(again.counts.in_sync, 6);
}

async fn a_connection_takes_a_runs_prices_as_one_batch_after_its_quantities(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        batch_size: Some(2),
        prices_in_one_batch: true,
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault.clone()),
        FieldSet::BOTH,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(
        *fault.sizes.lock().expect("lock"),
        vec![2, 2, 1, 2],
        "5 quantities in batches of 2, cut where the prices start; the 2 prices together"
    );
    let skus = fault.skus.lock().expect("lock").clone();
    assert_eq!(&skus[5..], ["A", "B"], "the prices last: {skus:?}");
    assert_eq!(items(&setup, report.run_id.expect("run")).await.len(), 7);
}

async fn a_failed_batch_fails_its_items_and_the_run_is_partial(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        batch_size: Some(2),
        fail_call: Some((1, ErrorKind::Unavailable)),
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault),
        FieldSet::QUANTITY,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Partial);
    assert_eq!(
        (report.counts.updated, report.counts.failed),
        (3, 2),
        "{:?}",
        report.counts
    );
    let items = items(&setup, report.run_id.expect("run")).await;
    let failed: Vec<&str> = items
        .iter()
        .filter(|i| i.2 == "failed")
        .map(|i| i.0.as_str())
        .collect();
    assert_eq!(failed, ["C", "D"]);
    let row = setup
        .db
        .run_items(report.run_id.expect("run"))
        .await
        .expect("items");
    assert!(
        row.iter()
            .any(|i| i.error.as_deref().is_some_and(|e| e.contains("HTTP 503")))
    );
    assert!(
        setup.shop().contains("C,C,3.00,0\n"),
        "the failed batch wrote nothing"
    );
    assert!(
        setup.shop().contains("E,E,5.00,5\n"),
        "later batches still ran"
    );
}

async fn an_auth_failure_stops_the_run_at_once(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        batch_size: Some(2),
        fail_call: Some((0, ErrorKind::Auth)),
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault.clone()),
        FieldSet::QUANTITY,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        fault.calls.load(Ordering::SeqCst),
        1,
        "no further calls after credentials were refused"
    );
    assert_eq!(report.counts.failed, 5);
    let row = setup
        .db
        .get_run(report.run_id.expect("run"))
        .await
        .expect("get")
        .expect("row");
    assert!(row.error.is_some_and(|e| e.contains("HTTP 503")));
    assert_eq!(
        items(&setup, report.run_id.expect("run")).await.len(),
        5,
        "every change is on record"
    );
    assert_eq!(setup.shop(), SHOP);
}

async fn stale_items_are_re_read_re_planned_and_written_once(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        stale_skus: vec!["B"],
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault.clone()),
        FieldSet::QUANTITY,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        report.status,
        RunStatus::Succeeded,
        "a concurrent change is not a failure"
    );
    // The second round's write has a key of its own, never one of the first round's.
    let installation = setup.db.installation_id().await.expect("installation id");
    let run = report.run_id.expect("run");
    let keys = fault.keys.lock().expect("lock").clone();
    let round = |r: &str| {
        let prefix = format!("invsync-{installation}-run-{run}-{r}-");
        keys.iter().filter(|k| k.starts_with(&prefix)).count()
    };
    assert_eq!(
        (round("change"), round("replan"), keys.len()),
        (5, 1, 6),
        "{keys:?}"
    );
    assert_eq!(
        (report.counts.updated, report.counts.skipped_other),
        (5, 0),
        "{:?}",
        report.counts
    );
    let items = items(&setup, report.run_id.expect("run")).await;
    assert!(
        items.contains(&("B".into(), "quantity".into(), "skipped".into())),
        "the stale write is on record: {items:?}"
    );
    assert!(
        items.contains(&("B".into(), "quantity".into(), "updated".into())),
        "and its re-planned write: {items:?}"
    );
    assert!(setup.shop().contains("B,B,2.50,2\n"));
}

async fn a_sale_between_read_and_write_is_never_overwritten(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        stale_skus: vec!["B"],
        sale_on_stale: Some(setup.dir.path().to_path_buf()),
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault),
        FieldSet::QUANTITY,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(
        (report.counts.updated, report.counts.skipped_in_orders),
        (4, 1),
        "{:?}",
        report.counts
    );
    assert!(
        setup.shop().contains("B,B,2.50,-1\n"),
        "the sale stands: {}",
        setup.shop()
    );
    let rows = setup
        .db
        .run_items(report.run_id.expect("run"))
        .await
        .expect("items");
    assert!(
        rows.iter().any(|i| i.sku == "B"
            && i.error
                .as_deref()
                .is_some_and(|e| e.contains("in-orders") && e.contains("#77"))),
        "{rows:?}"
    );
}

async fn a_panic_is_recorded_as_a_failed_run(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        panic_on_write: true,
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault),
        FieldSet::QUANTITY,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    let row = setup
        .db
        .get_run(report.run_id.expect("run"))
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.status, RunStatus::Failed);
    assert!(
        row.error
            .is_some_and(|e| e.contains("panic") && e.contains("the platform client blew up"))
    );
    // The store is free again: the next run starts.
    let next = sync(&setup, None, FieldSet::QUANTITY, &CancellationToken::new()).await;
    assert_eq!(next.status, RunStatus::Succeeded);
}

async fn a_stop_request_between_batches_ends_the_run_interrupted(backend: Backend) {
    let setup = Setup::new(backend).await;
    let cancel = CancellationToken::new();
    let fault = Arc::new(Fault {
        batch_size: Some(2),
        cancel_after_first: Some(cancel.clone()),
        ..Fault::default()
    });
    let report = sync(&setup, Some(fault.clone()), FieldSet::QUANTITY, &cancel).await;
    assert_eq!(report.status, RunStatus::Interrupted);
    assert_eq!(
        fault.calls.load(Ordering::SeqCst),
        1,
        "the batch in flight finished; no new one started"
    );
    assert_eq!(report.counts.updated, 2);
    let run = report.run_id.expect("run");
    assert_eq!(
        items(&setup, run).await.len(),
        2,
        "what was written is on record"
    );
    let row = setup.db.get_run(run).await.expect("get").expect("row");
    assert_eq!(row.status, RunStatus::Interrupted);
    assert!(row.finished_at.is_some());
}

async fn one_run_per_store_at_a_time(backend: Backend) {
    let setup = Setup::new(backend).await;
    let other = setup
        .db
        .start_run(&invsync_store::NewRun {
            schedule: None,
            store: "shop".into(),
            trigger: Trigger::Manual,
            update_side: Side::Store,
            fields: FieldSet::BOTH,
            owner: invsync_store::ProcessIdentity::current(),
            scheduled_for: None,
        })
        .await
        .expect("start");
    let err = setup
        .engine(None)
        .sync(
            &request(FieldSet::BOTH),
            &NoProgress,
            &CancellationToken::new(),
        )
        .await
        .expect_err("busy");
    let text = invsync_engine::error_chain(&err);
    assert!(matches!(err, EngineError::Store(_)), "{text}");
    assert!(
        text.contains(&format!("already has a run in progress (run {other})")),
        "{text}"
    );
    assert_eq!(setup.shop(), SHOP, "nothing written");
}

async fn unreadable_products_fail_as_items_not_the_run(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        reject: true,
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault),
        FieldSet::PRICE,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        report.status,
        RunStatus::Partial,
        "the rest of the run went ahead"
    );
    assert_eq!(
        (
            report.counts.updated,
            report.counts.failed,
            report.counts.checked
        ),
        (2, 1, 7)
    );
    let rows = setup
        .db
        .run_items(report.run_id.expect("run"))
        .await
        .expect("items");
    let broken = rows
        .iter()
        .find(|i| i.sku == "BROKEN-1")
        .expect("reject recorded");
    assert_eq!(broken.error.as_deref(), Some("shop: price is not a number"));
}

async fn a_dry_run_records_and_writes_nothing(backend: Backend) {
    let setup = Setup::new(backend).await;
    let mut req = request(FieldSet::BOTH);
    req.dry_run = true;
    let report = setup
        .engine(None)
        .sync(&req, &NoProgress, &CancellationToken::new())
        .await
        .expect("dry run");
    assert_eq!(report.run_id, None);
    assert_eq!(report.changes.len(), 7);
    assert_eq!(setup.shop(), SHOP);
    assert!(
        setup
            .db
            .list_runs(&invsync_store::RunFilter::default())
            .await
            .expect("runs")
            .is_empty()
    );
}

/// Write intents: a batch's writes and idempotency keys are recorded before it is sent,
/// so when the process dies with the batch in flight, recovery turns them into `failed`
/// items of unknown outcome instead of losing them from the run history.
async fn a_crash_with_a_batch_in_flight_leaves_its_writes_on_record_as_unknown(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        batch_size: Some(2),
        hang_on_call: Some(1),
        ..Fault::default()
    });
    let engine = setup.engine(Some(fault.clone()));
    let run = tokio::spawn(async move {
        engine
            .sync(
                &request(FieldSet::QUANTITY),
                &NoProgress,
                &CancellationToken::new(),
            )
            .await
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fault.calls.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second batch was never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The "crash": the run's task is gone with its second batch in flight.
    run.abort();
    let _ = run.await;
    let id = setup
        .db
        .list_runs(&invsync_store::RunFilter {
            store: None,
            limit: 1,
        })
        .await
        .expect("runs")
        .first()
        .map(|r| r.id)
        .expect("a run row");
    let intents = setup.db.write_intents(id).await.expect("intents");
    assert_eq!(intents.len(), 4, "both batches were intended: {intents:?}");
    // The keys on record are the keys sent: this database's, this run's, one per write.
    let installation = setup.db.installation_id().await.expect("installation id");
    let prefix = format!("invsync-{installation}-run-{id}-change-");
    let mut sent = fault.keys.lock().expect("lock").clone();
    let mut intended: Vec<String> = intents.iter().map(|i| i.key.clone()).collect();
    sent.sort();
    intended.sort();
    intended.dedup();
    assert_eq!(intended, sent);
    assert!(
        intended.iter().all(|k| k.starts_with(&prefix)),
        "{intended:?}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let marked = setup
        .db
        .recover_interrupted(
            &invsync_store::ProcessIdentity::current(),
            std::time::Duration::ZERO,
        )
        .await
        .expect("recover");
    assert_eq!(marked, vec![id]);
    let rows = setup.db.run_items(id).await.expect("items");
    let outcomes: Vec<(&str, &str)> = rows
        .iter()
        .map(|i| (i.sku.as_str(), i.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("A", "updated"),
            ("B", "updated"),
            ("C", "failed"),
            ("D", "failed")
        ]
    );
    for unknown in &rows[2..] {
        let error = unknown.error.as_deref().unwrap_or_default();
        let key = intents
            .iter()
            .find(|i| i.sku == unknown.sku)
            .map(|i| i.key.as_str())
            .expect("its intent");
        assert!(
            error.starts_with("outcome unknown") && error.contains(key),
            "{error} names {key}"
        );
    }
    let row = setup.db.get_run(id).await.expect("get").expect("row");
    assert_eq!(row.status, RunStatus::Interrupted);
    assert_eq!(
        (row.counts.updated, row.counts.failed, row.counts.checked),
        (2, 2, 4),
        "counted from its items"
    );
    assert!(!row.recovery_pending);
    assert!(
        setup
            .db
            .write_intents(id)
            .await
            .expect("intents")
            .is_empty(),
        "settled"
    );
}

/// `--sku` of SKUs on neither side: the report names them; when none matched there is
/// nothing to do — an input error, and the run row is not kept (no empty runs on record).
async fn skus_on_neither_side_are_reported_and_none_matching_records_no_run(backend: Backend) {
    let setup = Setup::new(backend).await;
    let engine = setup.engine(None);
    let keys = |skus: &[&str]| {
        Selection::Skus(
            skus.iter()
                .filter_map(|s| invsync_core::SkuKey::new(s))
                .collect(),
        )
    };
    let unknown = |report: &RunReport| -> Vec<String> {
        report
            .unknown_skus
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    for dry_run in [true, false] {
        let report = engine
            .sync(
                &SyncRequest {
                    selection: keys(&["NOPE", "zz"]),
                    dry_run,
                    ..request(FieldSet::BOTH)
                },
                &NoProgress,
                &CancellationToken::new(),
            )
            .await
            .expect("sync");
        assert_eq!(unknown(&report), ["nope", "zz"]);
        assert!(report.input_error && report.error.is_some(), "{report:?}");
        assert_eq!((report.run_id, report.status), (None, RunStatus::Skipped));
    }
    let runs = setup.db.list_runs(&Default::default()).await.expect("runs");
    assert!(runs.is_empty(), "no run kept: {runs:?}");

    let report = engine
        .sync(
            &SyncRequest {
                selection: keys(&["a", "NOPE"]),
                ..request(FieldSet::BOTH)
            },
            &NoProgress,
            &CancellationToken::new(),
        )
        .await
        .expect("sync");
    assert_eq!(unknown(&report), ["nope"]);
    assert!(!report.input_error);
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.counts.updated, 1);
    assert!(report.run_id.is_some());
    assert!(setup.shop().contains("A,A,1.00,1\n"), "{}", setup.shop());
}

/// Issue 13, item 4: a SKU with a NUL byte cannot be on record (Postgres refuses it), so
/// its product is never written: it fails as an item saying why, and the rest of the run
/// goes ahead and is recorded.
async fn a_sku_the_run_history_cannot_store_is_never_written(backend: Backend) {
    let setup = Setup::new(backend).await;
    std::fs::write(
        setup.dir.path().join("accounting.csv"),
        format!("{ACCOUNTING}N\0UL,Nul,9.00,9\n"),
    )
    .expect("write");
    std::fs::write(
        setup.dir.path().join("shop.csv"),
        format!("{SHOP}N\0UL,Nul,9.50,0\n"),
    )
    .expect("write");
    let fault = Arc::new(Fault {
        batch_size: Some(3),
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault.clone()),
        FieldSet::BOTH,
        &CancellationToken::new(),
    )
    .await;
    assert!(
        fault
            .skus
            .lock()
            .expect("lock")
            .iter()
            .all(|s| !s.contains('\0')),
        "nothing was sent for the product that cannot be recorded"
    );
    assert_eq!(report.status, RunStatus::Partial);
    assert_eq!(
        (
            report.counts.checked,
            report.counts.updated,
            report.counts.failed
        ),
        (7, 5, 1)
    );
    assert!(report.unrecorded.is_none(), "the run is on record");
    let run = report.run_id.expect("run");
    let row = setup.db.get_run(run).await.expect("get").expect("row");
    assert_eq!(row.counts, report.counts);
    let rows = setup.db.run_items(run).await.expect("items");
    let nul: Vec<_> = rows.iter().filter(|i| i.sku == "N\\0UL").collect();
    assert_eq!(nul.len(), 2, "price and quantity: {rows:?}");
    for item in nul {
        assert_eq!(item.outcome.as_str(), "failed");
        assert_eq!(
            item.error.as_deref(),
            Some("not written: its SKU contains a NUL byte, which the run history cannot store")
        );
    }
    assert!(
        setup.shop().contains("N\0UL,Nul,9.50,0\n"),
        "left as it was"
    );
    assert!(
        setup.shop().contains("A,A,1.00,1\n"),
        "the rest was written"
    );
    assert!(
        setup
            .db
            .write_intents(run)
            .await
            .expect("intents")
            .is_empty()
    );
}

/// Issue 13, item 4 (ADR 0016): invsync never sends a write it could not record first.
/// When the database goes away mid-run, the batches after it are not sent: the run stops
/// writing and fails, saying why, and its outcome waits for the database.
async fn writes_whose_intents_cannot_be_recorded_are_not_sent(backend: Backend) {
    let setup = Setup::new(backend).await;
    let fault = Arc::new(Fault {
        batch_size: Some(2),
        close_db_after_first: Some(setup.db.clone()),
        ..Fault::default()
    });
    let report = sync(
        &setup,
        Some(fault.clone()),
        FieldSet::BOTH,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        fault.calls.load(Ordering::SeqCst),
        1,
        "only the batch on record was sent"
    );
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("stopped writing: invsync records each write before it sends it")
            && error.contains("unreachable"),
        "{error}"
    );
    let results: Vec<(&str, Option<&str>)> = report
        .changes
        .iter()
        .map(|c| (c.sku.as_str(), c.error.as_deref()))
        .collect();
    assert!(results[..2].iter().all(|(_, e)| e.is_none()), "{results:?}");
    assert!(
        results[2..4]
            .iter()
            .all(|(_, e)| e.is_some_and(|e| e.starts_with("not sent: stopped writing"))),
        "{results:?}"
    );
    assert!(
        results[4..]
            .iter()
            .all(|(_, e)| e.is_some_and(|e| e.starts_with("not attempted: stopped writing"))),
        "{results:?}"
    );
    // Quantities first (issue 17): the batch that went out is A's and B's quantities; their
    // prices were not sent, so neither product is fully updated.
    assert_eq!(
        (results[0].0, results[1].0),
        ("A", "B"),
        "the first batch is quantities"
    );
    assert_eq!(
        report.counts.updated, 0,
        "no product had all its changes written"
    );
    let pending = report
        .unrecorded
        .as_ref()
        .expect("the outcome waits for the database");
    assert_eq!(pending.items.len(), 7);
}
