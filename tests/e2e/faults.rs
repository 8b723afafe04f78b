//! The fault-injection suite (issue 8, item 1): the built `invsync` binary — `sync` and
//! `daemon` — against the Shopify fake behind the fault layer
//! (`invsync_test_support::faults`) and a real Postgres, one scenario per test. Every
//! scenario asserts the run's status and counts as an operator reads them (SQL on
//! `sync_runs`), the shop's final state, how many times the shop applied each write (never
//! twice), and that no run is left `running`. docs/reliability.md has the table; scenarios
//! covered elsewhere are referenced there.
//!
//! Timeouts and retries are the stores' own config keys (`timeout`, `retries`,
//! `retry_backoff`), set short so the suite stays quick.

use crate::support::daemon::Daemon;
use crate::support::{self, unique, write_config};
use invsync_test_support::fake::FakeServer;
use invsync_test_support::faults::{Fault, Faults, Match};
use invsync_test_support::pg::{TestDatabase, fresh_database};
use invsync_test_support::shopify::{FakeShopify, Limits, Writes};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const TOKEN: &str = "shpat_faults-suite";

/// The accounting export: the truth the shop is synced to.
const ACCOUNTING: &str = "sku,name,price,quantity\n\
    MUG-1,Mug,12.50,10\n\
    TEE-M,T-shirt,19.90,7\n\
    CAP-1,Cap,15.00,3\n\
    BAG-1,Bag,30.00,6\n";

/// One run row as an operator reads it.
#[derive(Debug, Clone)]
struct Run {
    id: i64,
    status: String,
    checked: i64,
    in_sync: i64,
    updated: i64,
    failed: i64,
    error: Option<String>,
}

/// `sync_runs` columns as sqlx decodes them: id, status, checked, in_sync, updated,
/// failed, error.
type RunTuple = (i64, String, i64, i64, i64, i64, Option<String>);

/// A shop that differs from the accounting export — MUG-1 in price and quantity, TEE-M in
/// quantity, BAG-1 in price, CAP-1 in sync — behind the fault layer; a Postgres run
/// history; a config for the binary.
struct Rig {
    dir: tempfile::TempDir,
    accounting: String,
    db: TestDatabase,
    pool: PgPool,
    shop: FakeShopify,
    faults: Faults,
    _server: FakeServer,
}

impl Rig {
    async fn new() -> Rig {
        Rig::with(
            "2026-10",
            "timeout = \"1s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
        )
        .await
    }

    /// `store_keys` are extra keys of `[stores.shop]`.
    async fn with(api_version: &str, store_keys: &str) -> Rig {
        let shop = FakeShopify::new(TOKEN, Limits::standard());
        shop.add_variant("MUG-1", "12.00", 4);
        shop.add_variant("TEE-M", "19.90", 9);
        shop.add_variant("CAP-1", "15.00", 3);
        shop.add_variant("BAG-1", "28.00", 6);
        Rig::build(shop, ACCOUNTING, api_version, store_keys).await
    }

    /// A rig around this shop and accounting export.
    async fn build(
        shop: FakeShopify,
        accounting: &str,
        api_version: &str,
        store_keys: &str,
    ) -> Rig {
        let faults = Faults::new();
        let server = invsync_test_support::fake::serve(faults.layer(shop.router())).await;
        let db = fresh_database().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let rig = Rig {
            pool: PgPool::connect_lazy(db.url()).expect("pool"),
            dir,
            accounting: accounting.to_owned(),
            db,
            shop,
            faults,
            _server: server,
        };
        rig.write_config(rig.db.url(), api_version, store_keys, "");
        rig
    }

    /// (Re)writes the accounting export and the config: run history at `database`, the
    /// daemon's `extra` keys, the shop's API version and `store_keys`, one schedule.
    fn write_config(&self, database: &str, api_version: &str, store_keys: &str, extra: &str) {
        write_config(
            self.dir.path(),
            database,
            &self.accounting,
            &format!(
                "[daemon]\nlisten = \"off\"\npoll = \"200ms\"\n{extra}\n\
                 [stores.shop]\nkind = \"shopify\"\nshop = \"faults.myshopify.com\"\n\
                 access_token = {{ env = \"FAULTS_SHOP_TOKEN\" }}\nbase_url = \"{}\"\n\
                 api_version = \"{api_version}\"\n{store_keys}\n\
                 [[schedules]]\nname = \"shop-sync\"\nstore = \"shop\"\nevery = \"15m\"\n\
                 update = \"store\"\nfields = [\"price\", \"quantity\"]\n",
                self._server.base_url()
            ),
        );
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("invsync.toml")
    }

    /// `invsync --config <the rig's> ARGS…` with the shop's token, logging at `info`.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = support::with_config(&self.config(), args);
        cmd.env("INVSYNC_LOG", "info")
            .env("FAULTS_SHOP_TOKEN", TOKEN);
        cmd
    }

    /// `invsync sync --store shop --update store --fields price,quantity`, off the runtime
    /// (the fake keeps serving meanwhile).
    async fn sync(&self) -> Output {
        support::output(self.command(&[
            "--format",
            "json",
            "sync",
            "--store",
            "shop",
            "--update",
            "store",
            "--fields",
            "price,quantity",
        ]))
        .await
    }

    fn daemon(&self) -> Daemon {
        let log = self.dir.path().join(format!("daemon-{}.log", unique()));
        Daemon::spawn(self.command(&["daemon"]), log)
    }

    /// The database's installation id, which idempotency keys start with.
    async fn installation(&self) -> String {
        sqlx::query_scalar("SELECT id FROM installation")
            .fetch_one(&self.pool)
            .await
            .expect("installation id")
    }

    /// Every run, oldest first, straight from `sync_runs`.
    async fn runs(&self) -> Vec<Run> {
        let rows: Vec<RunTuple> = sqlx::query_as(
            "SELECT id, status, checked, in_sync, updated, failed, error FROM sync_runs ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default();
        rows.into_iter()
            .map(
                |(id, status, checked, in_sync, updated, failed, error)| Run {
                    id,
                    status,
                    checked,
                    in_sync,
                    updated,
                    failed,
                    error,
                },
            )
            .collect()
    }

    /// `(sku, field, outcome)` of one run's items, sorted.
    async fn items(&self, run: i64) -> Vec<(String, String, String)> {
        let mut rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT sku, field, outcome FROM sync_run_items WHERE run_id = $1")
                .bind(run)
                .fetch_all(&self.pool)
                .await
                .expect("items");
        rows.sort();
        rows
    }

    async fn wait_for_runs(&self, what: &str, within: Duration, done: impl Fn(&[Run]) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            let runs = self.runs().await;
            if done(&runs) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; runs: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The shop holds the accounting export's values.
    fn assert_synced(&self) {
        for (sku, price, available) in [
            ("MUG-1", "12.50", 10),
            ("TEE-M", "19.90", 7),
            ("CAP-1", "15.00", 3),
            ("BAG-1", "30.00", 6),
        ] {
            let v = self.shop.variant(sku).expect(sku);
            assert_eq!(
                (v.price.to_string(), v.available),
                (price.to_owned(), available),
                "{sku} in the shop"
            );
        }
    }

    /// The shop is as it was before any sync.
    fn assert_untouched(&self) {
        for sku in ["MUG-1", "TEE-M", "CAP-1", "BAG-1"] {
            assert_eq!(
                self.shop.writes(sku),
                Writes::default(),
                "{sku} was written"
            );
        }
        assert_eq!(self.shop.variant("MUG-1").expect("MUG-1").available, 4);
    }

    /// Each planned write was applied exactly once, nothing else was written.
    fn assert_each_write_applied_once(&self) {
        assert_eq!(
            self.shop.writes("MUG-1"),
            Writes {
                quantity: 1,
                price: 1
            }
        );
        assert_eq!(
            self.shop.writes("TEE-M"),
            Writes {
                quantity: 1,
                price: 0
            }
        );
        assert_eq!(self.shop.writes("CAP-1"), Writes::default());
        assert_eq!(
            self.shop.writes("BAG-1"),
            Writes {
                quantity: 0,
                price: 1
            }
        );
        assert_eq!(self.shop.stats().quantity_calls_applied, 1);
        assert_eq!(self.shop.invalid_documents(), Vec::<String>::new());
    }

    /// One run, finished with this status and the full counts of a complete sync.
    async fn assert_one_complete_run(&self) -> Run {
        let runs = self.runs().await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        let run = runs[0].clone();
        assert_eq!(
            (
                run.status.as_str(),
                run.checked,
                run.in_sync,
                run.updated,
                run.failed
            ),
            ("succeeded", 4, 1, 3, 0),
            "{run:?}"
        );
        assert_eq!(
            self.items(run.id).await,
            vec![
                ("BAG-1".into(), "price".into(), "updated".into()),
                ("MUG-1".into(), "price".into(), "updated".into()),
                ("MUG-1".into(), "quantity".into(), "updated".into()),
                ("TEE-M".into(), "quantity".into(), "updated".into()),
            ]
        );
        run
    }

    async fn assert_none_running(&self) {
        let running: Vec<Run> = self
            .runs()
            .await
            .into_iter()
            .filter(|r| r.status == "running")
            .collect();
        assert!(running.is_empty(), "runs left running: {running:?}");
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------
// The platform misbehaves.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_burst_is_retried_and_nothing_is_applied_twice() {
    let rig = Rig::new().await;
    rig.faults.next(3, Match::Any, Fault::status(503));
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rig.faults.injected().get("503"), Some(&3));
    rig.assert_one_complete_run().await;
    rig.assert_synced();
    rig.assert_each_write_applied_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_outage_longer_than_the_retries_fails_the_run_then_the_next_run_catches_up() {
    let rig = Rig::new().await;
    rig.faults.sometimes(1.0, Match::Any, Fault::status(502));
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "failed", "{runs:?}");
    let error = runs[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("502") && error.contains("shop"),
        "the run says why: {error}"
    );
    // Each read gets its first attempt and 3 retries (the reads run concurrently; the
    // first to give up ends the run), then the run gives up: no endless loop.
    let requests = rig.faults.requests();
    assert!((4..=16).contains(&requests), "{requests} requests");
    assert_eq!(rig.faults.injected().get("502"), Some(&requests));
    rig.assert_untouched();

    rig.faults.clear();
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs = rig.runs().await;
    assert_eq!(
        runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        ["failed", "succeeded"]
    );
    assert_eq!((runs[1].updated, runs[1].in_sync), (3, 1));
    rig.assert_synced();
    rig.assert_each_write_applied_once();
    rig.assert_none_running().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_as_retry_after_says() {
    let rig = Rig::new().await;
    // Three 429s in a row on the quantity write: its retries wait as told, one after
    // the other.
    rig.faults.next(
        3,
        Match::body("inventorySetQuantities"),
        Fault::throttled("1"),
    );
    let started = Instant::now();
    let out = rig.sync().await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        took >= Duration::from_secs(3),
        "three Retry-After: 1 answers are three seconds of waiting, not {took:?}"
    );
    assert_eq!(rig.faults.injected().get("429"), Some(&3));
    assert_eq!(rig.faults.pending(), 0);
    rig.assert_one_complete_run().await;
    rig.assert_synced();
    rig.assert_each_write_applied_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_connection_times_out_and_is_retried() {
    let rig = Rig::new().await;
    // The first read and the quantity write each hang far longer than the 1 s timeout.
    rig.faults
        .next(1, Match::Any, Fault::Hang(Duration::from_secs(3600)));
    rig.faults.next(
        1,
        Match::body("inventorySetQuantities"),
        Fault::Hang(Duration::from_secs(3600)),
    );
    let started = Instant::now();
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_secs(2), "two timeouts");
    assert_eq!(rig.faults.injected().get("hang"), Some(&2));
    rig.assert_one_complete_run().await;
    rig.assert_synced();
    rig.assert_each_write_applied_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_that_never_answers_fails_the_run_within_its_timeouts() {
    let rig = Rig::new().await;
    rig.faults
        .sometimes(1.0, Match::Any, Fault::Hang(Duration::from_secs(3600)));
    let started = Instant::now();
    let out = rig.sync().await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        took < Duration::from_secs(30),
        "4 attempts of 1 s and short backoffs, not a hung run: {took:?}"
    );
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "failed");
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{runs:?}"
    );
    rig.assert_untouched();
    rig.assert_none_running().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_applied_whose_response_is_lost_is_replayed_by_its_idempotency_key() {
    let rig = Rig::new().await;
    rig.faults.next(
        1,
        Match::body("inventorySetQuantities"),
        Fault::ApplyThenDrop,
    );
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rig.faults.injected().get("apply-then-drop"), Some(&1));
    let stats = rig.shop.stats();
    assert_eq!(
        stats.idempotent_replays, 1,
        "the retry carried the same key: Shopify answered it from the first call"
    );
    rig.assert_one_complete_run().await;
    rig.assert_synced();
    rig.assert_each_write_applied_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_before_idempotency_keys_comes_back_stale_and_is_not_applied_twice() {
    // API 2025-01: compareQuantity, no idempotency key. The retry of the applied call
    // finds the quantity already changed; the engine re-reads and finds nothing to do.
    let rig = Rig::with(
        "2025-01",
        "timeout = \"1s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
    )
    .await;
    rig.faults.next(
        1,
        Match::body("inventorySetQuantities"),
        Fault::ApplyThenDrop,
    );
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rig.shop.stats().idempotent_replays, 0);
    rig.assert_synced();
    rig.assert_each_write_applied_once();
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run.status, "succeeded", "{run:?}");
    assert_eq!((run.checked, run.failed), (4, 0), "{run:?}");
    // The two quantity writes are on record: applied by the first call, confirmed by the
    // re-read (the retry itself came back stale and was not forced).
    let items = rig.items(run.id).await;
    for sku in ["MUG-1", "TEE-M"] {
        assert!(
            items.iter().any(|(s, f, _)| s == sku && f == "quantity"),
            "{sku} quantity is on record: {items:?}"
        );
    }
    assert_eq!(run.updated + run.in_sync, 4, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_price_response_is_sent_again_with_the_same_absolute_value() {
    // Shopify has no compare-and-set or idempotency key for prices (ADR 0014): the retry
    // sets the same absolute price a second time. Harmless, and counted here so a change
    // of that policy shows.
    let rig = Rig::new().await;
    rig.faults.next(
        1,
        Match::body("productVariantsBulkUpdate"),
        Fault::ApplyThenDrop,
    );
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    rig.assert_one_complete_run().await;
    rig.assert_synced();
    let prices = rig.shop.writes("MUG-1").price + rig.shop.writes("BAG-1").price;
    assert_eq!(prices, 3, "two price calls, one of them sent twice");
    assert_eq!(rig.shop.stats().quantity_calls_applied, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_between_read_and_write_stands_on_postgres() {
    // The same race as `shopify` (SQLite), here with Postgres and write counts.
    let rig = Rig::new().await;
    rig.shop.sell_before_next_write("TEE-M", 1);
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tee = rig.shop.variant("TEE-M").expect("TEE-M");
    assert_eq!(tee.available, 8, "9 − 1 sold; never overwritten with 7");
    assert_eq!(
        rig.shop.writes("TEE-M").quantity,
        0,
        "the stale write was not forced"
    );
    assert_eq!(
        rig.shop.writes("MUG-1"),
        Writes {
            quantity: 1,
            price: 1
        }
    );
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "succeeded", "{runs:?}");
    assert_eq!(runs[0].failed, 0);
    let items = rig.items(runs[0].id).await;
    assert!(
        items.contains(&("TEE-M".into(), "quantity".into(), "skipped".into())),
        "{items:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The run history's database goes away.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_mid_run_the_run_goes_on_and_is_recorded_when_it_returns() {
    let rig = Rig::new().await;
    let (proxy, through) = invsync_test_support::proxy::postgres(rig.db.url()).await;
    rig.write_config(
        &through,
        "2026-10",
        "timeout = \"5s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
        "",
    );
    // The price calls are slow: the run is mid-write while the database is away.
    rig.faults.next(
        2,
        Match::body("productVariantsBulkUpdate"),
        Fault::Hang(Duration::from_secs(2)),
    );
    let mut daemon = rig.daemon();
    // Mid-write: the quantity call has reached the shop, the price calls are on their way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rig.shop.stats().quantity_calls_applied == 0 {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every connection of the daemon is reset and new ones are refused: to the client this
    // is a Postgres restart (or a network cut) in the middle of the run.
    proxy.cut();
    let cut_at = Instant::now();
    let writes_done = Instant::now() + Duration::from_secs(30);
    while rig.shop.variant("BAG-1").expect("BAG-1").price.to_string() != "30.00" {
        assert!(
            Instant::now() < writes_done,
            "the run's writes went ahead during the outage; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still_open: Vec<Run> = rig.runs().await;
    assert!(
        still_open.iter().all(|r| r.status == "running"),
        "nothing could be recorded while the database was away: {still_open:?}"
    );
    proxy.restore();
    rig.wait_for_runs("the run to be recorded", Duration::from_secs(60), |runs| {
        runs.len() == 1 && runs[0].status != "running"
    })
    .await;
    assert!(cut_at.elapsed() > Duration::from_secs(1));
    rig.assert_one_complete_run().await;
    rig.assert_synced();
    rig.assert_each_write_applied_once();
    daemon.stop(Duration::from_secs(30));
    assert!(
        daemon.log().contains("database"),
        "the log says what happened:\n{}",
        daemon.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_while_the_run_reads_fails_it_without_writing_and_records_it() {
    // Manual mappings are read from the database with the catalogs: without them the plan
    // could match the wrong products, so the run fails rather than guess.
    let rig = Rig::new().await;
    let (proxy, through) = invsync_test_support::proxy::postgres(rig.db.url()).await;
    rig.write_config(
        &through,
        "2026-10",
        "timeout = \"5s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
        "",
    );
    rig.faults.set_delay(Duration::from_millis(1500));
    let mut daemon = rig.daemon();
    rig.wait_for_runs("the run to start", Duration::from_secs(30), |runs| {
        runs.iter().any(|r| r.status == "running")
    })
    .await;
    proxy.cut();
    // Long enough to cover the database work of the whole read (each answer of the shop
    // takes 1.5 s): 3 s could end before the run next needed the database, which then
    // read on and succeeded — the outcome hung on which read came first.
    tokio::time::sleep(Duration::from_secs(8)).await;
    proxy.restore();
    rig.faults.set_delay(Duration::ZERO);
    rig.wait_for_runs("the run to be recorded", Duration::from_secs(60), |runs| {
        !runs.is_empty() && runs.iter().all(|r| r.status != "running")
    })
    .await;
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "failed", "{runs:?}");
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("database")),
        "{runs:?}"
    );
    rig.assert_untouched();
    daemon.stop(Duration::from_secs(30));
}

// ---------------------------------------------------------------------------------------
// The process is stopped.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_the_next_run_finishes_the_job_without_writing_twice() {
    let rig = Rig::new().await;
    rig.write_config(
        rig.db.url(),
        "2026-10",
        "timeout = \"30s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
        "",
    );
    // The price calls hang: the run is held after its quantity call, for as long as the
    // test needs.
    rig.faults.next(
        2,
        Match::body("productVariantsBulkUpdate"),
        Fault::Hang(Duration::from_secs(20)),
    );
    let mut daemon = rig.daemon();
    // Killed after the quantity write reached the shop, before the run was finished.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rig.shop.stats().quantity_calls_applied == 0 {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10));
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "running", "the dead run, not yet noticed");
    let dead = runs[0].id;
    let intents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sync_write_intents WHERE run_id = $1")
            .bind(dead)
            .fetch_one(&rig.pool)
            .await
            .expect("intents");
    assert_eq!(
        intents, 4,
        "the batch it was writing when killed is on record as write intents"
    );
    // The next command notices the dead owner, then syncs what is still different.
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].status, "interrupted", "{runs:?}");
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no longer running")),
        "{runs:?}"
    );
    assert_eq!(runs[1].status, "succeeded", "{runs:?}");
    assert_eq!(runs[1].failed, 0);
    // Recovery turned the intents into items of unknown outcome that name their keys.
    let unknown: Vec<String> = sqlx::query_scalar(
        "SELECT error FROM sync_run_items WHERE run_id = $1 AND outcome = 'failed'",
    )
    .bind(dead)
    .fetch_all(&rig.pool)
    .await
    .expect("items");
    assert_eq!(unknown.len(), 4, "{unknown:?}");
    let installation = rig.installation().await;
    assert!(
        unknown.iter().all(|e| e.starts_with("outcome unknown")
            && e.contains(&format!("invsync-{installation}-run-{dead}-change-"))),
        "{unknown:?}"
    );
    // Counts are per product (ADR 0004): the 4 writes are of 3 products. (Before issue
    // 13 recovery added one per item, 4, and never counted what the items said.)
    assert_eq!((runs[0].failed, runs[0].checked), (3, 3), "{runs:?}");
    rig.assert_synced();
    rig.assert_each_write_applied_once();
    rig.assert_none_running().await;
}

/// Issue 17 (ADR 0110): `kill -9` while the run's bulk price write runs at Shopify. The
/// operation goes on without invsync; the batch is on record as write intents, which
/// recovery turns into items of unknown outcome; the next run sees what the operation did
/// and sends nothing again — one operation, each price set once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_a_bulk_price_write_runs_the_next_run_does_not_send_it_again() {
    let rig = Rig::with(
        "2025-01",
        "timeout = \"30s\"\nretries = 3\nretry_backoff = \"50ms\"\nbulk_write_above = 0\n",
    )
    .await;
    // Shopify holds the operation RUNNING until the test lets it go.
    rig.shop.set_bulk_mutation_rate(0.0);
    let mut daemon = rig.daemon();
    let deadline = Instant::now() + Duration::from_secs(30);
    while rig.shop.bulk_mutations().is_empty() {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(
        rig.shop.stats().quantity_calls_applied,
        1,
        "the quantities went first"
    );
    assert_eq!(
        rig.shop.variant("MUG-1").expect("MUG-1").price.to_string(),
        "12.00"
    );
    let dead = rig.runs().await[0].id;
    let intents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sync_write_intents WHERE run_id = $1")
            .bind(dead)
            .fetch_one(&rig.pool)
            .await
            .expect("intents");
    assert_eq!(
        intents, 4,
        "the batch is on record before the operation started"
    );
    // Shopify finishes the operation after invsync died; then the next command.
    rig.shop.set_bulk_mutation_rate(1e9);
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].status, "interrupted", "{runs:?}");
    assert_eq!(
        (runs[1].status.as_str(), runs[1].failed),
        ("succeeded", 0),
        "{runs:?}"
    );
    let unknown: Vec<String> = sqlx::query_scalar(
        "SELECT error FROM sync_run_items WHERE run_id = $1 AND outcome = 'failed'",
    )
    .bind(dead)
    .fetch_all(&rig.pool)
    .await
    .expect("items");
    assert_eq!(unknown.len(), 4, "{unknown:?}");
    assert!(
        unknown.iter().all(|e| e.starts_with("outcome unknown")),
        "{unknown:?}"
    );
    assert_eq!(rig.shop.bulk_mutations().len(), 1, "no second operation");
    rig.assert_synced();
    rig.assert_each_write_applied_once();
    rig.assert_none_running().await;
}

/// Issue 13, item 1: a run killed after some of its batches were recorded. Recovery turns
/// the intents of the batch in flight into items of unknown outcome, and the interrupted
/// run's counts are those of its items: products with an `updated` item count as updated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_some_batches_the_recovered_run_counts_what_its_items_say() {
    // 750 products whose quantity differs: three batches of 250 quantity writes.
    let shop = FakeShopify::new(TOKEN, Limits::standard());
    let mut accounting = String::from("sku,name,price,quantity\n");
    for n in 0..750 {
        let sku = format!("SKU-{n:04}");
        shop.add_variant(&sku, "5.00", 1);
        accounting.push_str(&format!("{sku},Item {n},5.00,{}\n", 2 + n % 7));
    }
    let rig = Rig::build(
        shop,
        &accounting,
        "2026-10",
        "timeout = \"30s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
    )
    .await;
    // Every quantity call takes 1.5 s to reach the shop: time to kill the run after a batch
    // is on record and while the next one is in flight.
    rig.faults.next(
        10,
        Match::body("inventorySetQuantities"),
        Fault::Hang(Duration::from_millis(1500)),
    );
    let mut daemon = rig.daemon();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (items, intents): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sync_run_items WHERE outcome = 'updated'), \
                    (SELECT count(*) FROM sync_write_intents)",
        )
        .fetch_one(&rig.pool)
        .await
        .unwrap_or((0, 0));
        if items > 0 && intents > items {
            break;
        }
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10));

    // `invsync runs` notices the dead owner and shows the run as it is.
    let mut cmd = rig.command(&["--format", "json", "runs"]);
    let out = tokio::task::block_in_place(|| cmd.output().expect("runs"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let run = &runs[0];
    assert_eq!(run["status"], "interrupted", "{run}");
    let id = run["id"].as_i64().expect("id");
    let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_write_intents")
        .fetch_one(&rig.pool)
        .await
        .expect("intents");
    assert_eq!(remaining, 0, "recovery settled every intent");

    // What its items say, product by product (ADR 0004's precedence).
    let items: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT sku, outcome, error FROM sync_run_items WHERE run_id = $1")
            .bind(id)
            .fetch_all(&rig.pool)
            .await
            .expect("items");
    let mut by_sku: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (sku, outcome, _) in &items {
        by_sku.entry(sku).or_default().push(outcome);
    }
    let failed = by_sku.values().filter(|o| o.contains(&"failed")).count() as i64;
    let updated = by_sku
        .values()
        .filter(|o| !o.contains(&"failed") && o.contains(&"updated"))
        .count() as i64;
    assert!(
        updated >= 250 && failed >= 250,
        "a batch on record, one in flight: {updated} updated, {failed} failed"
    );
    assert!(
        items.iter().any(|(_, o, e)| o == "failed"
            && e.as_deref()
                .is_some_and(|e| e.starts_with("outcome unknown"))),
        "the batch in flight is on record as unknown"
    );
    assert_eq!(
        (
            run["counts"]["updated"].as_i64(),
            run["counts"]["failed"].as_i64()
        ),
        (Some(updated), Some(failed)),
        "the counts are those of the items: {run}"
    );
    assert!(
        run["counts"]["checked"].as_i64() >= Some(updated + failed),
        "{run}"
    );
    rig.assert_none_running().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_lets_the_run_finish_within_the_grace() {
    let rig = Rig::new().await;
    rig.write_config(
        rig.db.url(),
        "2026-10",
        "timeout = \"5s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
        "shutdown_grace = \"20s\"\n",
    );
    rig.faults.set_delay(Duration::from_millis(300));
    let mut daemon = rig.daemon();
    rig.wait_for_runs("the run to start", Duration::from_secs(30), |runs| {
        runs.iter().any(|r| r.status == "running")
    })
    .await;
    daemon.stop(Duration::from_secs(40));
    rig.assert_one_complete_run().await;
    rig.assert_synced();
    rig.assert_each_write_applied_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_past_the_grace_records_interrupted_with_what_was_written() {
    let rig = Rig::new().await;
    rig.write_config(
        rig.db.url(),
        "2026-10",
        "timeout = \"20s\"\nretries = 3\nretry_backoff = \"50ms\"\n",
        "shutdown_grace = \"1s\"\n",
    );
    // The price writes hang (within the 20 s timeout) past the grace and the 5 s the
    // daemon then gives a batch in flight.
    rig.faults.next(
        2,
        Match::body("productVariantsBulkUpdate"),
        Fault::Hang(Duration::from_secs(8)),
    );
    let mut daemon = rig.daemon();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rig.faults.injected().contains_key("hang") {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.stop(Duration::from_secs(30));
    let runs = rig.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "interrupted", "{runs:?}");
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("shutdown grace")),
        "{runs:?}"
    );
    // The batch cut off in flight is on record — its quantity call reached the shop
    // before the price calls hung — with what it was going to write and why its outcome
    // is unknown.
    let items: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT sku, field, error FROM sync_run_items WHERE run_id = $1 AND outcome = 'failed' ORDER BY sku, field",
    )
    .bind(runs[0].id)
    .fetch_all(&rig.pool)
    .await
    .expect("items");
    let written: Vec<(&str, &str)> = items
        .iter()
        .map(|(s, f, _)| (s.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        written,
        [
            ("BAG-1", "price"),
            ("MUG-1", "price"),
            ("MUG-1", "quantity"),
            ("TEE-M", "quantity")
        ]
    );
    let installation = rig.installation().await;
    assert!(
        items
            .iter()
            .all(|(_, _, e)| e.starts_with("outcome unknown")
                && e.contains(&format!(
                    "invsync-{installation}-run-{}-change-",
                    runs[0].id
                ))),
        "{items:?}"
    );
    assert_eq!(
        rig.shop.writes("MUG-1").quantity,
        1,
        "the quantity call was applied"
    );
    // Whatever reached the shop was applied once; nothing is left running.
    for sku in ["MUG-1", "TEE-M", "BAG-1", "CAP-1"] {
        let w = rig.shop.writes(sku);
        assert!(w.quantity <= 1 && w.price <= 1, "{sku}: {w:?}");
    }
    rig.assert_none_running().await;

    // The next run finishes the job.
    let out = rig.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    rig.assert_synced();
    for sku in ["MUG-1", "TEE-M", "BAG-1", "CAP-1"] {
        let w = rig.shop.writes(sku);
        assert!(w.quantity <= 1 && w.price <= 2, "{sku}: {w:?}");
    }
    rig.assert_none_running().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_racing_for_one_slot_run_it_once() {
    let rig = Rig::new().await;
    rig.faults.set_delay(Duration::from_millis(50));
    let a = rig.daemon();
    let b = rig.daemon();
    rig.wait_for_runs("the first slot", Duration::from_secs(30), |runs| {
        runs.iter().any(|r| r.status == "succeeded")
    })
    .await;
    // The next slot falls due while both daemons watch.
    sqlx::query("UPDATE sync_schedules SET next_due_at = now()")
        .execute(&rig.pool)
        .await
        .expect("due now");
    rig.wait_for_runs("the second slot", Duration::from_secs(30), |runs| {
        runs.iter().filter(|r| r.status == "succeeded").count() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs = rig.runs().await;
    assert_eq!(
        runs.len(),
        2,
        "one run per slot, none skipped or doubled: {runs:?}\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    assert_eq!((runs[0].updated, runs[1].updated), (3, 0));
    assert_eq!(runs[1].in_sync, 4);
    rig.assert_synced();
    rig.assert_each_write_applied_once();
    rig.assert_none_running().await;
}

// ---------------------------------------------------------------------------------------
// The disk is full.

/// A 16 KiB tmpfs: writes beyond it fail with ENOSPC, as on a full disk. Unmounted on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(parent: &Path) -> SmallDisk {
        SmallDisk::mount_sized(parent, "16k")
    }

    /// A tmpfs of `size` (`mount -o size=`, e.g. `2m`).
    fn mount_sized(parent: &Path, size: &str) -> SmallDisk {
        let path = parent.join("small-disk");
        std::fs::create_dir(&path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "this scenario mounts a small tmpfs to get a real ENOSPC and needs root \
             (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { path }
    }

    /// Fills the disk until a write fails with ENOSPC.
    fn fill(&self) {
        use std::io::Write as _;
        let mut filler = std::fs::File::create(self.path.join("filler")).expect("filler");
        let block = [b'x'; 1024];
        loop {
            match filler.write_all(&block).and_then(|()| filler.sync_all()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => return,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Writes the accounting export `accounting` and the config of it and a file store `shop`
/// at `store`, recording into `database`; returns the config's path.
fn file_config(dir: &Path, database: &str, accounting: &str, store: &Path) -> PathBuf {
    write_config(
        dir,
        database,
        accounting,
        &format!(
            "[stores.shop]\nkind = \"file\"\npath = \"{}\"\n",
            store.display()
        ),
    )
}

/// `invsync --config CONFIG ARGS…`, run to its end off the async workers.
fn invsync(config: &Path, args: &[&str]) -> Output {
    let mut cmd = support::with_config(config, args);
    tokio::task::block_in_place(|| cmd.output().expect("run invsync"))
}

/// `sync` of both fields into the store `shop`.
const SYNC_SHOP: [&str; 7] = [
    "sync",
    "--store",
    "shop",
    "--update",
    "store",
    "--fields",
    "price,quantity",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_file_write_and_leaves_the_file_as_it_was() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(dir.path());
    let original = "sku,name,price,quantity,note\n\
        MUG-1,Mug,12.00,4,keep this column\n\
        TEE-M,T-shirt,19.90,9,\n\
        CAP-1,Cap,15.00,3,\n\
        BAG-1,Bag,28.00,6,\n";
    let store = disk.path.join("shop.csv");
    std::fs::write(&store, original).expect("store file");
    disk.fill();
    let config = file_config(dir.path(), db.url(), ACCOUNTING, &store);
    let out = invsync(&config, &SYNC_SHOP);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "a failed run: {all}");
    assert!(all.contains("No space left on device"), "says why: {all}");
    assert_eq!(
        std::fs::read_to_string(&store).expect("store file"),
        original,
        "the store file is untouched"
    );
    let mut left: Vec<String> = std::fs::read_dir(&disk.path)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // Neither a temporary copy nor the connection's lock file (`.shop.csv.lock`, there
    // only while a write holds it: connectors::file::atomic) is left behind.
    assert_eq!(
        left,
        ["filler", "shop.csv"],
        "no temporary or lock file is left"
    );

    let pool = PgPool::connect(db.url()).await.expect("connect");
    let (status, failed, updated, error): (String, i64, i64, Option<String>) =
        sqlx::query_as("SELECT status, failed, updated, error FROM sync_runs")
            .fetch_one(&pool)
            .await
            .expect("the run is recorded");
    assert_eq!((status.as_str(), updated), ("failed", 0), "{error:?}");
    assert!(
        failed >= 1,
        "the items that could not be written count as failed"
    );
    let failed_items: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sync_run_items WHERE outcome = 'failed' AND error LIKE '%No space left on device%'",
    )
    .fetch_one(&pool)
    .await
    .expect("items");
    assert_eq!(
        failed_items, 4,
        "each unwritten change is on record with the cause"
    );
    pool.close().await;
}

/// Issue 13, item 9: the SQLite run history on a full disk. The run cannot be written; the
/// CLI must not point at a run that is not in the database, and must say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_sqlite_run_history_says_the_history_could_not_be_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount_sized(dir.path(), "4m");
    let store = dir.path().join("shop.csv");
    let original = "sku,name,price,quantity\n\
        MUG-1,Mug,12.00,4\n\
        TEE-M,T-shirt,19.90,9\n\
        CAP-1,Cap,15.00,3\n\
        BAG-1,Bag,28.00,6\n";
    std::fs::write(&store, original).expect("store file");
    let database = disk.path.join("invsync.db");
    let config = file_config(
        dir.path(),
        &format!("sqlite://{}", database.display()),
        ACCOUNTING,
        &store,
    );
    let invsync = |args: &[&str]| invsync(&config, args);
    let sync = SYNC_SHOP;
    // Run 1 is recorded while there is room.
    let out = invsync(&[
        "sync", "--store", "shop", "--update", "store", "--fields", "price", "--sku", "BAG-1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Another reader keeps the database open, as a daemon or an operator's sqlite3 would:
    // its write-ahead log stays, and the disk fills up around it.
    let reader = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .expect("open the run history");
    let runs_before: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_runs")
        .fetch_one(&reader)
        .await
        .expect("count");
    assert_eq!(runs_before, 1);
    let before = std::fs::read_to_string(&store).expect("store file");
    disk.fill();
    let out = invsync(&sync);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        !all.contains("runs show") && !all.contains("run 2"),
        "never points at a run that is not in the database: {all}"
    );
    assert!(
        all.contains("the run history could not be written")
            && all.contains("database or disk is full"),
        "says that the history could not be written, and why: {all}"
    );
    assert!(
        !all.contains("unreachable"),
        "a full disk is not an unreachable database: {all}"
    );
    assert_eq!(
        std::fs::read_to_string(&store).expect("store file"),
        before,
        "nothing is written for a run that is not on record"
    );
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM sync_runs ORDER BY id")
        .fetch_all(&reader)
        .await
        .expect("runs");
    assert_eq!(ids, [1]);

    // Room again: the next run is recorded, and its id was never shown before.
    std::fs::remove_file(disk.path.join("filler")).expect("free the disk");
    let out = invsync(&sync);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("Details: invsync runs show 2"), "{all}");
    let (status, updated): (String, i64) =
        sqlx::query_as("SELECT status, updated FROM sync_runs WHERE id = 2")
            .fetch_one(&reader)
            .await
            .expect("run 2 is on record");
    assert_eq!((status.as_str(), updated), ("succeeded", 2));
    reader.close().await;
}

// ---------------------------------------------------------------------------------------
// Values the run history cannot hold.

/// Issue 13, item 4: Postgres refuses a NUL byte in text. A product whose SKU holds one
/// cannot be on record, so it is never written: it fails as an item that says why, and the
/// rest of the run goes on and is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_byte_in_a_sku_fails_that_product_and_the_run_is_recorded_on_postgres() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let accounting = format!("{ACCOUNTING}BAD\u{0}SKU,Bad,5.00,2\n");
    let store = dir.path().join("shop.csv");
    let original = "sku,name,price,quantity\n\
        MUG-1,Mug,12.00,4\n\
        TEE-M,T-shirt,19.90,9\n\
        CAP-1,Cap,15.00,3\n\
        BAG-1,Bag,28.00,6\n\
        BAD\u{0}SKU,Bad,4.00,1\n";
    std::fs::write(&store, original).expect("store file");
    let out = invsync(
        &file_config(dir.path(), db.url(), &accounting, &store),
        &SYNC_SHOP,
    );
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        !all.contains("unreachable"),
        "the database was reachable: {all}"
    );
    assert!(!all.contains("sending the writes anyway"), "{all}");
    assert_eq!(out.status.code(), Some(1), "one product failed: {all}");

    let pool = PgPool::connect(db.url()).await.expect("connect");
    let (id, status, checked, updated, failed, error): (
        i64,
        String,
        i64,
        i64,
        i64,
        Option<String>,
    ) = sqlx::query_as("SELECT id, status, checked, updated, failed, error FROM sync_runs")
        .fetch_one(&pool)
        .await
        .expect("the run is recorded");
    assert_eq!(
        (status.as_str(), checked, updated, failed),
        ("partial", 5, 3, 1),
        "{error:?}"
    );
    let items: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT sku, field, outcome, error FROM sync_run_items WHERE run_id = $1 ORDER BY sku, field",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .expect("items");
    let bad: Vec<_> = items
        .iter()
        .filter(|(s, ..)| s.starts_with("BAD"))
        .collect();
    assert_eq!(
        bad.len(),
        2,
        "price and quantity of the bad product: {items:?}"
    );
    for (sku, _, outcome, error) in &bad {
        assert_eq!(
            sku, "BAD\\0SKU",
            "the SKU as it can be stored, the NUL shown as \\0"
        );
        assert_eq!(outcome, "failed");
        assert!(
            error.as_deref().is_some_and(|e| e.contains("NUL byte")),
            "says why: {error:?}"
        );
    }
    assert_eq!(
        items.iter().filter(|(_, _, o, _)| o == "updated").count(),
        4,
        "{items:?}"
    );
    let now = std::fs::read_to_string(&store).expect("store file");
    assert!(
        now.ends_with("BAD\u{0}SKU,Bad,4.00,1\n") && now.contains("MUG-1,Mug,12.50,10"),
        "the others were written, the bad product was not: {now:?}"
    );
    let running: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_write_intents")
        .fetch_one(&pool)
        .await
        .expect("intents");
    assert_eq!(running, 0);
    pool.close().await;
}
