//! The store against real databases: every scenario runs on a fresh Postgres database
//! (via `invsync-test-support`) and on a fresh SQLite file. Scenario bodies are written
//! once against [`Db`]; `both!` turns each into a `postgres` and a `sqlite` test.
//!
//! Postgres must be reachable (see `invsync_test_support::pg`): these tests fail, never
//! skip, without it.

use chrono::{DateTime, Utc};
use invsync_core::{Field, FieldSet, ItemOutcome, RunCounts, RunStatus, Side, Trigger};
use invsync_core::{StoreOrder, StoreOrderLine};
use invsync_store::{
    Absent, Backend, Db, NewRun, NewRunItem, OrderFeed, OrderFilter, PoolOptions, ProcessIdentity,
    RunFilter, StoreError, WriteIntent,
};
use invsync_test_support::pg::{TestDatabase, fresh_database};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A migrated (or not) database of one backend, deleted when dropped.
struct Harness {
    db: Db,
    url: String,
    // Dropped after `db`: the database (or its directory) goes away last.
    _postgres: Option<TestDatabase>,
    _dir: Option<TempDir>,
}

async fn harness(backend: Backend, migrate: bool) -> Harness {
    let (url, postgres, dir) = match backend {
        Backend::Postgres => {
            let pg = fresh_database().await;
            (pg.url().to_owned(), Some(pg), None)
        }
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("create a temp dir");
            // A missing parent directory: `connect` must create it.
            let url = format!("sqlite://{}/var/lib/invsync.db", dir.path().display());
            (url, None, Some(dir))
        }
    };
    let db = Db::connect(&url, &PoolOptions::default())
        .await
        .expect("connect to the test database");
    assert_eq!(db.backend(), backend);
    if migrate {
        db.migrate().await.expect("migrate the test database");
    }
    Harness {
        db,
        url,
        _postgres: postgres,
        _dir: dir,
    }
}

/// Declares, for each scenario `name(&Harness)`, a module `name` with one test per backend.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn postgres() {
                let h = harness(Backend::Postgres, true).await;
                super::$name(&h).await;
            }

            #[tokio::test]
            async fn sqlite() {
                let h = harness(Backend::Sqlite, true).await;
                super::$name(&h).await;
            }
        }
    )*};
}

both!(
    migrations_are_idempotent_and_reversible,
    concurrent_migrators_on_a_fresh_database_all_succeed,
    concurrent_openers_of_a_fresh_database_agree_on_one_installation_id,
    a_caller_dropped_mid_transaction_never_poisons_the_pool,
    run_round_trip,
    web_runs_are_recorded_and_the_trigger_migration_keeps_every_item,
    finish_does_not_overwrite_an_interrupted_run,
    one_running_run_per_store,
    only_a_running_run_without_items_is_discarded,
    concurrent_starts_admit_one_run,
    recover_by_stale_heartbeat,
    recover_by_dead_process_on_this_host,
    list_runs_newest_first_with_filter_and_limit,
    run_items_keep_insertion_order_across_chunks,
    mappings_upsert_list_remove_by_normalised_sku,
    orders_follow_feeds_cursors_and_postings,
    order_changes_note_the_skus_a_feed_moved_until_the_watch_pushed_them,
    one_order_watch_pass_at_a_time,
    write_intents_are_cleared_by_a_finish_and_settled_by_recovery,
    recovery_settles_in_bounded_steps_and_counts_the_run_from_its_items,
    a_late_finish_of_a_run_that_is_not_there_is_an_error,
    text_with_nul_bytes_is_stored_with_the_nul_shown,
    order_snapshots_release_absent_orders,
    timestamps_use_one_format_and_decode,
    rows_serialise_for_the_cli,
    kept_catalogs_save_differences_over_the_version_they_loaded,
);

fn new_run(store: &str, owner: ProcessIdentity) -> NewRun {
    NewRun {
        schedule: Some(format!("{store}-store")),
        store: store.to_owned(),
        trigger: Trigger::Schedule,
        update_side: Side::Store,
        fields: FieldSet::BOTH,
        owner,
        scheduled_for: None,
    }
}

fn item(
    sku: &str,
    field: Field,
    old: Option<&str>,
    new: Option<&str>,
    outcome: ItemOutcome,
) -> NewRunItem {
    NewRunItem {
        sku: sku.to_owned(),
        field,
        old_value: old.map(str::to_owned),
        new_value: new.map(str::to_owned),
        outcome,
        error: (outcome != ItemOutcome::Updated).then(|| format!("{sku}: {outcome:?}")),
    }
}

fn up_migrations_on_disk(backend: Backend) -> usize {
    let dir = format!(
        "{}/../../migrations/{}",
        env!("CARGO_MANIFEST_DIR"),
        backend.as_str()
    );
    std::fs::read_dir(&dir)
        .expect("read the migrations directory")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".up.sql"))
        .count()
}

async fn migrations_are_idempotent_and_reversible(h: &Harness) {
    let backend = h.db.backend();
    assert_eq!(h.db.pending_migrations().await.expect("pending"), 0);
    h.db.migrate().await.expect("a second migrate is a no-op");
    assert_eq!(h.db.pending_migrations().await.expect("pending"), 0);

    // A database nobody migrated yet reports every migration pending, and reading it
    // does not create anything.
    let bare = harness(backend, false).await;
    let all = up_migrations_on_disk(backend);
    assert!(all >= 1);
    assert_eq!(
        bare.db
            .pending_migrations()
            .await
            .expect("pending on a bare db"),
        all
    );
    assert_eq!(
        bare.db.pending_migrations().await.expect("pending twice"),
        all
    );
    bare.db.migrate().await.expect("migrate the bare db");
    assert_eq!(
        bare.db
            .pending_migrations()
            .await
            .expect("pending after migrate"),
        0
    );

    // Every migration has a working down: revert all, then apply again.
    match backend {
        Backend::Postgres => {
            let migrator = sqlx::migrate!("../../migrations/postgres");
            let pool = sqlx::PgPool::connect(&bare.url).await.expect("connect");
            migrator.undo(&pool, 0).await.expect("revert all");
            pool.close().await;
        }
        Backend::Sqlite => {
            let migrator = sqlx::migrate!("../../migrations/sqlite");
            let pool = sqlx::SqlitePool::connect(&bare.url).await.expect("connect");
            migrator.undo(&pool, 0).await.expect("revert all");
            pool.close().await;
        }
    }
    assert_eq!(
        bare.db
            .pending_migrations()
            .await
            .expect("pending after revert"),
        all
    );
    bare.db.migrate().await.expect("re-apply after revert");
    assert_eq!(bare.db.pending_migrations().await.expect("pending"), 0);
}

/// Several processes starting at once on a database nobody migrated (a daemon and an
/// `invsync runs` from its operator): each opens its own pool, all migrate at once, and
/// every one succeeds. CI once failed on SQLite with "table sync_runs already exists".
async fn concurrent_migrators_on_a_fresh_database_all_succeed(h: &Harness) {
    let bare = harness(h.db.backend(), false).await;
    // One thread and one runtime per migrator, like separate processes: sqlx's migrate
    // future cannot be spawned on a shared runtime (its `Acquire` bound is not general
    // enough for `Send`), and polling them on one task hides the race.
    let migrators: Vec<_> = (0..6)
        .map(|_| {
            let url = bare.url.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async {
                    let db = Db::connect(&url, &PoolOptions::default())
                        .await
                        .map_err(|e| e.to_string())?;
                    let result = db.migrate().await.map_err(|e| {
                        let mut chain = e.to_string();
                        let mut source = std::error::Error::source(&e);
                        while let Some(s) = source {
                            chain.push_str(&format!(": {s}"));
                            source = s.source();
                        }
                        chain
                    });
                    db.close().await;
                    result
                })
            })
        })
        .collect();
    for migrator in migrators {
        if let Err(e) = migrator.join().expect("migrator thread") {
            panic!("a concurrent migrator failed: {e}");
        }
    }
    assert_eq!(bare.db.pending_migrations().await.expect("pending"), 0);
}

/// The installation id idempotency keys start with (ADR 0016): processes opening a fresh
/// database at once (a daemon and a manual sync, several fleet daemons) all get the same
/// id; another database has another; it never changes once made.
async fn concurrent_openers_of_a_fresh_database_agree_on_one_installation_id(h: &Harness) {
    const OPENERS: usize = 8;
    let start = std::sync::Arc::new(std::sync::Barrier::new(OPENERS));
    // One thread, runtime and pool per opener, like separate processes.
    let openers: Vec<_> = (0..OPENERS)
        .map(|_| {
            let url = h.url.clone();
            let start = start.clone();
            std::thread::spawn(move || -> Result<String, String> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async {
                    let db = Db::connect(&url, &PoolOptions::default())
                        .await
                        .map_err(|e| e.to_string())?;
                    // Connected first, then all ask at once.
                    start.wait();
                    let id = db.installation_id().await.map_err(|e| format!("{e:?}"));
                    db.close().await;
                    id
                })
            })
        })
        .collect();
    let ids: Vec<String> = openers
        .into_iter()
        .map(|t| t.join().expect("opener thread").expect("installation id"))
        .collect();
    let id = &ids[0];
    assert!(ids.iter().all(|i| i == id), "one id for all: {ids:?}");
    assert_eq!(id.len(), 32, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!(&h.db.installation_id().await.expect("again"), id, "stable");

    let other = harness(h.db.backend(), true).await;
    assert_ne!(
        &other.db.installation_id().await.expect("other"),
        id,
        "another database, another id"
    );

    // Only what invsync makes goes into a key.
    execute(&other, "UPDATE installation SET id = 'x-1'").await;
    let err = other.db.installation_id().await.expect_err("a spoilt id");
    assert!(err.to_string().contains("installation.id"), "{err}");
    // A deleted row is made again, new.
    execute(&other, "DELETE FROM installation").await;
    let again = other.db.installation_id().await.expect("made again");
    assert_eq!(again.len(), 32);
    assert_ne!(&again, id);
}

/// Runs one statement the store has no call for on a harness's database.
async fn execute(h: &Harness, sql: &'static str) {
    match h.db.backend() {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&h.url).await.expect("connect");
            sqlx::query(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&h.url).await.expect("connect");
            sqlx::query(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        }
    }
}

/// Callers cancelled while a store call opens its transaction (a run stopped while it
/// reads, a timeout) must not hand the pool a connection stuck inside a transaction: every
/// later statement on it would silently never commit. One connection, so each cancelled
/// call's connection is the next one's; every mapping written afterwards must be visible
/// from another pool at once.
async fn a_caller_dropped_mid_transaction_never_poisons_the_pool(h: &Harness) {
    let one = Db::connect(
        &h.url,
        &PoolOptions {
            max_connections: 1,
            connect_timeout: Duration::from_secs(10),
        },
    )
    .await
    .expect("a one-connection pool");
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().expect("now");
    for i in 0..300u64 {
        let cut = Duration::from_micros(i * 7 % 400);
        let _ = tokio::time::timeout(cut, one.mark_orders_posted("shop", &["1", "2"], now)).await;
        let sku = format!("SKU-{i}");
        one.add_mapping("shop", &sku, "A").await.expect("map");
        let seen = h.db.list_mappings(Some("shop")).await.expect("list");
        assert!(
            seen.iter().any(|m| m.store_sku == sku),
            "iteration {i}: a mapping written after a cancelled call is not visible to others"
        );
    }
    one.close().await;
}

/// Runs `$body` with `$pool`, a plain sqlx pool of the harness's database (outside `Db`).
macro_rules! on_raw_pool {
    ($h:expr, |$pool:ident| $body:expr) => {
        match $h.db.backend() {
            Backend::Postgres => {
                let $pool = sqlx::PgPool::connect(&$h.url).await.expect("connect");
                $body;
                $pool.close().await;
            }
            Backend::Sqlite => {
                let $pool = sqlx::SqlitePool::connect(&$h.url).await.expect("connect");
                $body;
                $pool.close().await;
            }
        }
    };
}

/// Migration 0010 widens `sync_runs.trigger` to take `web`. On SQLite that rebuilds the
/// table, whose children delete on cascade: going down and up again must keep every run,
/// item and write intent (a web run comes back as `manual`), and cascades still work.
async fn web_runs_are_recorded_and_the_trigger_migration_keeps_every_item(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    let web = NewRun {
        schedule: None,
        trigger: Trigger::Web,
        ..new_run("shop", me.clone())
    };
    let id = db.start_run(&web).await.expect("start a web run");
    assert_eq!(
        db.get_run(id).await.expect("get").expect("run").trigger,
        Trigger::Web
    );
    let items = [
        item(
            "A",
            Field::Price,
            Some("1"),
            Some("2"),
            ItemOutcome::Updated,
        ),
        item(
            "B",
            Field::Quantity,
            Some("3"),
            Some("4"),
            ItemOutcome::Skipped,
        ),
    ];
    db.record_items(id, &items).await.expect("items");
    db.finish_run(id, RunStatus::Succeeded, &RunCounts::default(), None)
        .await
        .expect("finish");
    let doomed = db
        .start_run(&new_run("other", me.clone()))
        .await
        .expect("start");
    db.record_items(doomed, &items).await.expect("items");

    let migrator = match db.backend() {
        Backend::Postgres => sqlx::migrate!("../../migrations/postgres"),
        Backend::Sqlite => sqlx::migrate!("../../migrations/sqlite"),
    };
    // Undo back to 0009: 0010 and every migration after it.
    let after_0009 = migrator
        .iter()
        .filter(|m| m.version > 9 && !m.migration_type.is_down_migration())
        .count();
    on_raw_pool!(h, |pool| migrator.undo(&pool, 9).await.expect("undo 0010"));
    let again = Db::connect(&h.url, &PoolOptions::default())
        .await
        .expect("connect");
    assert_eq!(
        again.pending_migrations().await.expect("pending"),
        after_0009
    );
    let run = again.get_run(id).await.expect("get").expect("kept");
    assert_eq!(
        run.trigger,
        Trigger::Manual,
        "a web run goes down as manual"
    );
    assert_eq!(again.run_items(id).await.expect("items").len(), 2);
    again.migrate().await.expect("0010 again");
    assert_eq!(again.run_items(id).await.expect("items").len(), 2);
    assert_eq!(again.run_items(doomed).await.expect("items").len(), 2);
    // The rebuilt tables still refer to each other: deleting a run takes its items along.
    on_raw_pool!(h, |pool| sqlx::query("DELETE FROM sync_runs WHERE id = $1")
        .bind(doomed)
        .execute(&pool)
        .await
        .expect("delete"));
    assert!(again.run_items(doomed).await.expect("items").is_empty());
    let next = again.start_run(&web).await.expect("a new web run");
    assert!(next > doomed, "ids are never reused: {next} after {doomed}");
    again.close().await;
}

async fn run_round_trip(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    let run = NewRun {
        schedule: None,
        trigger: Trigger::Manual,
        update_side: Side::Accounting,
        fields: FieldSet::QUANTITY,
        ..new_run("shop", me.clone())
    };
    let id = db.start_run(&run).await.expect("start");

    let started = db.get_run(id).await.expect("get").expect("the run exists");
    assert_eq!(started.id, id);
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.schedule, None);
    assert_eq!(started.store, "shop");
    assert_eq!(started.trigger, Trigger::Manual);
    assert_eq!(started.update_side, Side::Accounting);
    assert_eq!(started.fields, "quantity");
    assert_eq!(started.finished_at, None);
    assert_eq!(started.counts, RunCounts::default());
    assert_eq!(started.owner_host.as_deref(), Some(me.host.as_str()));
    assert_eq!(started.owner_pid, Some(me.pid));
    assert!(started.heartbeat_at >= started.started_at);

    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        db.heartbeat(id).await.expect("heartbeat"),
        "a running run accepts heartbeats"
    );
    let beaten = db.get_run(id).await.expect("get").expect("exists");
    assert!(
        beaten.heartbeat_at > started.heartbeat_at,
        "heartbeat moves heartbeat_at"
    );

    let items = vec![
        item(
            "MUG-1",
            Field::Quantity,
            Some("3"),
            Some("7"),
            ItemOutcome::Updated,
        ),
        item(
            "CUP-'2'",
            Field::Quantity,
            Some("1"),
            Some("0"),
            ItemOutcome::Failed,
        ),
        item(
            "Äpfel",
            Field::Quantity,
            None,
            Some("5"),
            ItemOutcome::Skipped,
        ),
    ];
    db.record_items(id, &items).await.expect("record");
    db.record_items(id, &[])
        .await
        .expect("recording nothing is fine");

    let counts = RunCounts {
        checked: 10,
        in_sync: 5,
        updated: 1,
        skipped_in_orders: 1,
        skipped_base: 1,
        unmapped: 0,
        failed: 1,
        conflicts: 0,
        skipped_other: 1,
    };
    assert!(
        db.finish_run(id, RunStatus::Partial, &counts, Some("1 product failed"))
            .await
            .expect("finish")
    );

    let done = db.get_run(id).await.expect("get").expect("exists");
    assert_eq!(done.status, RunStatus::Partial);
    assert_eq!(done.counts, counts);
    assert_eq!(done.error.as_deref(), Some("1 product failed"));
    let finished_at = done.finished_at.expect("a finished run has finished_at");
    assert!(finished_at >= done.started_at);

    let rows = db.run_items(id).await.expect("items");
    assert_eq!(rows.len(), items.len());
    for (row, want) in rows.iter().zip(&items) {
        assert_eq!(row.run_id, id);
        assert_eq!(row.sku, want.sku);
        assert_eq!(row.field, want.field);
        assert_eq!(row.old_value, want.old_value);
        assert_eq!(row.new_value, want.new_value);
        assert_eq!(row.outcome, want.outcome);
        assert_eq!(row.error, want.error);
        assert!(row.recorded_at >= done.started_at);
    }

    // A finished run is final.
    assert!(
        !db.heartbeat(id).await.expect("heartbeat"),
        "no heartbeats after finishing"
    );
    assert!(
        !db.finish_run(id, RunStatus::Failed, &RunCounts::default(), None)
            .await
            .expect("finish")
    );
    assert_eq!(
        db.get_run(id).await.expect("get").expect("exists").status,
        RunStatus::Partial
    );

    // Misuse is reported, not stored.
    let err = db
        .finish_run(id, RunStatus::Running, &counts, None)
        .await
        .expect_err("running is not final");
    assert!(matches!(err, StoreError::NotFinal { .. }), "{err:?}");
    let err = db
        .record_items(id + 1000, &items)
        .await
        .expect_err("unknown run");
    assert!(
        matches!(err, StoreError::RunNotFound { run_id } if run_id == id + 1000),
        "{err:?}"
    );
    let err = db
        .start_run(&NewRun {
            fields: FieldSet::default(),
            ..new_run("pos", me.clone())
        })
        .await
        .expect_err("no fields");
    assert!(matches!(err, StoreError::NoFields), "{err:?}");
    assert_eq!(db.get_run(id + 1000).await.expect("get"), None);
    assert!(db.run_items(id + 1000).await.expect("items").is_empty());
}

async fn finish_does_not_overwrite_an_interrupted_run(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    let id = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect("start");
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A rescuer that considers 10 ms without heartbeat fatal.
    assert_eq!(
        db.recover_interrupted(&me, Duration::from_millis(10))
            .await
            .expect("recover"),
        vec![id]
    );

    let counts = RunCounts {
        checked: 1,
        in_sync: 1,
        ..RunCounts::default()
    };
    assert!(
        !db.finish_run(id, RunStatus::Succeeded, &counts, None)
            .await
            .expect("finish")
    );
    let run = db.get_run(id).await.expect("get").expect("exists");
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(run.counts, RunCounts::default());
    assert!(run.finished_at.is_some());
    let error = run.error.expect("an interrupted run says why");
    assert!(error.contains("heartbeat"), "{error}");
    assert!(
        !db.heartbeat(id).await.expect("heartbeat"),
        "the owner learns it was interrupted"
    );
}

async fn one_running_run_per_store(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    let first = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect("start first");

    let err = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect_err("second run of shop");
    match &err {
        StoreError::RunInProgress { store, run_id } => {
            assert_eq!(store, "shop");
            assert_eq!(*run_id, first);
        }
        other => panic!("expected RunInProgress, got {other:?}"),
    }
    assert!(err.to_string().contains(&format!("run {first}")), "{err}");

    let other_store = db
        .start_run(&new_run("pos", me.clone()))
        .await
        .expect("another store may run");
    assert_ne!(other_store, first);

    db.finish_run(first, RunStatus::Succeeded, &RunCounts::default(), None)
        .await
        .expect("finish");
    let next = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect("shop is free again");
    assert!(next > first);
}

/// A run with nothing to do (`--sku` of SKUs on neither side) is deleted, not kept; a run
/// that recorded anything, or finished, never is.
async fn only_a_running_run_without_items_is_discarded(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    let empty = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect("start");
    assert!(db.discard_run(empty).await.expect("discard"));
    assert!(db.get_run(empty).await.expect("get").is_none());
    assert!(!db.discard_run(empty).await.expect("again"), "gone already");

    let with_items = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect("start");
    db.record_items(
        with_items,
        &[item(
            "A",
            Field::Price,
            Some("1"),
            Some("2"),
            ItemOutcome::Updated,
        )],
    )
    .await
    .expect("items");
    assert!(!db.discard_run(with_items).await.expect("discard"));
    db.finish_run(
        with_items,
        RunStatus::Succeeded,
        &RunCounts::default(),
        None,
    )
    .await
    .expect("finish");

    let finished = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect("start");
    db.finish_run(finished, RunStatus::Succeeded, &RunCounts::default(), None)
        .await
        .expect("finish");
    assert!(!db.discard_run(finished).await.expect("discard"));
    for id in [with_items, finished] {
        assert!(
            db.get_run(id).await.expect("get").is_some(),
            "run {id} kept"
        );
    }
}

async fn concurrent_starts_admit_one_run(h: &Harness) {
    // Two daemons (here: two pool connections) racing for the same store.
    let me = ProcessIdentity::current();
    for round in 0..5 {
        let store = format!("shop-{round}");
        let run = new_run(&store, me.clone());
        let (a, b) = tokio::join!(h.db.start_run(&run), h.db.start_run(&run));
        let (won, lost) = match (a, b) {
            (Ok(id), Err(e)) | (Err(e), Ok(id)) => (id, e),
            other => panic!("exactly one start must win, got {other:?}"),
        };
        assert!(
            matches!(&lost, StoreError::RunInProgress { run_id, .. } if *run_id == won),
            "{lost:?}"
        );
    }
}

async fn recover_by_stale_heartbeat(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    // Owned by a process on another host: only its heartbeat can tell us it died.
    let elsewhere = ProcessIdentity {
        host: "another-host".to_owned(),
        pid: 1,
        start_marker: "b:1".to_owned(),
    };
    let stale = db
        .start_run(&new_run("shop", elsewhere.clone()))
        .await
        .expect("start");
    let beating = db
        .start_run(&new_run("pos", elsewhere.clone()))
        .await
        .expect("start");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(db.heartbeat(beating).await.expect("heartbeat"));
    let fresh = db
        .start_run(&new_run("web", elsewhere))
        .await
        .expect("start");

    let marked = db
        .recover_interrupted(&me, Duration::from_secs(1))
        .await
        .expect("recover");
    assert_eq!(marked, vec![stale]);

    let run = db.get_run(stale).await.expect("get").expect("exists");
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(run.finished_at.is_some());
    let error = run.error.expect("says why");
    assert!(
        error.contains("no heartbeat for more than 1.000 s"),
        "{error}"
    );
    assert!(error.contains("another-host pid 1"), "{error}");
    for id in [beating, fresh] {
        assert_eq!(
            db.get_run(id).await.expect("get").expect("exists").status,
            RunStatus::Running
        );
    }
    // Nothing left to do: recovery is idempotent.
    assert!(
        db.recover_interrupted(&me, Duration::from_secs(1))
            .await
            .expect("recover")
            .is_empty()
    );
    // The store is free for a new run.
    db.start_run(&new_run("shop", me))
        .await
        .expect("start after recovery");
}

async fn recover_by_dead_process_on_this_host(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();

    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn `true`");
    // Until it is reaped the child's /proc entry exists, so this cannot miss it.
    let child_identity = ProcessIdentity::of_pid(child.id()).expect("identity of the child");
    assert_eq!(child_identity.host, me.host);
    child.wait().expect("wait for `true`");

    let dead = db
        .start_run(&new_run("shop", child_identity.clone()))
        .await
        .expect("start");
    let alive = db
        .start_run(&new_run("pos", me.clone()))
        .await
        .expect("start");
    // Our pid with another start marker: the recorded process died and its pid was reused.
    let reused_pid = ProcessIdentity {
        start_marker: "another-boot:12345".to_owned(),
        ..me.clone()
    };
    let reused = db
        .start_run(&new_run("web", reused_pid))
        .await
        .expect("start");
    // The same pid on another host says nothing about that host's processes.
    let other_host = ProcessIdentity {
        host: "another-host".to_owned(),
        ..child_identity
    };
    let remote = db
        .start_run(&new_run("b2b", other_host))
        .await
        .expect("start");

    let mut marked = db
        .recover_interrupted(&me, Duration::from_secs(3600))
        .await
        .expect("recover");
    marked.sort_unstable();
    let mut want = vec![dead, reused];
    want.sort_unstable();
    assert_eq!(marked, want);

    for id in [dead, reused] {
        let run = db.get_run(id).await.expect("get").expect("exists");
        assert_eq!(run.status, RunStatus::Interrupted);
        let error = run.error.expect("says why");
        assert!(error.contains("no longer running"), "{error}");
    }
    for id in [alive, remote] {
        assert_eq!(
            db.get_run(id).await.expect("get").expect("exists").status,
            RunStatus::Running
        );
    }
}

async fn list_runs_newest_first_with_filter_and_limit(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    let mut ids = Vec::new();
    for store in ["a", "b", "a", "b", "a"] {
        let id = db
            .start_run(&new_run(store, me.clone()))
            .await
            .expect("start");
        db.finish_run(id, RunStatus::Succeeded, &RunCounts::default(), None)
            .await
            .expect("finish");
        ids.push((store, id));
    }
    let all = db
        .list_runs(&RunFilter {
            store: None,
            limit: 100,
        })
        .await
        .expect("list");
    let got: Vec<i64> = all.iter().map(|r| r.id).collect();
    let mut want: Vec<i64> = ids.iter().map(|(_, id)| *id).collect();
    want.reverse();
    assert_eq!(got, want, "newest first");
    assert!(all.windows(2).all(|w| w[0].started_at >= w[1].started_at));

    let only_a = db
        .list_runs(&RunFilter {
            store: Some("a".to_owned()),
            limit: 100,
        })
        .await
        .expect("list");
    let want_a: Vec<i64> = ids
        .iter()
        .rev()
        .filter(|(s, _)| *s == "a")
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(only_a.iter().map(|r| r.id).collect::<Vec<_>>(), want_a);

    let two = db
        .list_runs(&RunFilter {
            store: Some("a".to_owned()),
            limit: 2,
        })
        .await
        .expect("list");
    assert_eq!(two.iter().map(|r| r.id).collect::<Vec<_>>(), want_a[..2]);
    assert!(
        db.list_runs(&RunFilter {
            store: None,
            limit: 0
        })
        .await
        .expect("list")
        .is_empty()
    );
    assert!(
        db.list_runs(&RunFilter {
            store: None,
            limit: -1
        })
        .await
        .expect("list")
        .is_empty()
    );
    assert!(
        db.list_runs(&RunFilter {
            store: Some("nope".to_owned()),
            limit: 10
        })
        .await
        .expect("list")
        .is_empty()
    );
    assert_eq!(
        db.list_runs(&RunFilter::default())
            .await
            .expect("list")
            .len(),
        5
    );
}

async fn run_items_keep_insertion_order_across_chunks(h: &Harness) {
    let db = &h.db;
    let id = db
        .start_run(&new_run("shop", ProcessIdentity::current()))
        .await
        .expect("start");
    let outcomes = [
        ItemOutcome::Updated,
        ItemOutcome::Failed,
        ItemOutcome::Skipped,
    ];
    // Crosses the SQLite per-statement chunk (142 rows) and the Postgres one (10,000),
    // in two calls; SKUs deliberately not in sorted order.
    let make = |range: std::ops::Range<usize>| -> Vec<NewRunItem> {
        range
            .map(|i| {
                let value = (i % 2 == 0).then(|| i.to_string());
                NewRunItem {
                    sku: format!("SKU-{}", (i * 7919) % 20_011),
                    field: if i % 3 == 0 {
                        Field::Price
                    } else {
                        Field::Quantity
                    },
                    old_value: value.clone(),
                    new_value: Some(format!("{i}.50")),
                    outcome: outcomes[i % 3],
                    error: (i % 5 == 0).then(|| format!("error \"{i}\" 'quoted'")),
                }
            })
            .collect()
    };
    let first = make(0..300);
    let second = make(300..10_321);
    db.record_items(id, &first)
        .await
        .expect("record first batch");
    db.record_items(id, &second)
        .await
        .expect("record second batch");

    let rows = db.run_items(id).await.expect("items");
    let want: Vec<&NewRunItem> = first.iter().chain(&second).collect();
    assert_eq!(rows.len(), want.len());
    for (i, (row, want)) in rows.iter().zip(want).enumerate() {
        assert_eq!(
            (
                &row.sku,
                row.field,
                &row.old_value,
                &row.new_value,
                row.outcome,
                &row.error
            ),
            (
                &want.sku,
                want.field,
                &want.old_value,
                &want.new_value,
                want.outcome,
                &want.error
            ),
            "item {i}"
        );
    }
}

async fn mappings_upsert_list_remove_by_normalised_sku(h: &Harness) {
    let db = &h.db;
    db.add_mapping("shop", "  MUG-1 ", "ACC-MUG")
        .await
        .expect("add");
    let rows = db.list_mappings(Some("shop")).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].store.as_str(),
            rows[0].store_sku.as_str(),
            rows[0].accounting_sku.as_str()
        ),
        ("shop", "MUG-1", "ACC-MUG")
    );
    let created = rows[0].created_at;

    // The same link again keeps its creation time.
    tokio::time::sleep(Duration::from_millis(5)).await;
    db.add_mapping("shop", "MUG-1", "ACC-MUG")
        .await
        .expect("re-add");
    assert_eq!(
        db.list_mappings(Some("shop")).await.expect("list")[0].created_at,
        created
    );

    // The same listing written differently replaces the mapping.
    db.add_mapping("shop", "mug-1", " ACC-CUP ")
        .await
        .expect("upsert");
    let rows = db.list_mappings(Some("shop")).await.expect("list");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].store_sku, "mug-1");
    assert_eq!(rows[0].accounting_sku, "ACC-CUP");
    assert!(rows[0].created_at >= created);

    db.add_mapping("shop", "Äpfel-2", "ACC-APPLE")
        .await
        .expect("add");
    db.add_mapping("pos", "MUG-1", "ACC-MUG")
        .await
        .expect("same SKU, other store");
    let all = db.list_mappings(None).await.expect("list all");
    let keys: Vec<(&str, &str)> = all
        .iter()
        .map(|m| (m.store.as_str(), m.store_sku.as_str()))
        .collect();
    assert_eq!(
        keys,
        [("pos", "MUG-1"), ("shop", "mug-1"), ("shop", "Äpfel-2")]
    );
    let as_core: invsync_core::Mapping = all[0].clone().into();
    assert_eq!(
        as_core,
        invsync_core::Mapping {
            store_sku: "MUG-1".into(),
            accounting_sku: "ACC-MUG".into()
        }
    );

    assert!(db.remove_mapping("shop", " mUg-1\t").await.expect("remove"));
    assert!(
        !db.remove_mapping("shop", "MUG-1")
            .await
            .expect("remove again")
    );
    assert!(
        !db.remove_mapping("shop", "   ")
            .await
            .expect("remove empty")
    );
    assert!(
        db.remove_mapping("shop", "äPFEL-2")
            .await
            .expect("remove non-ASCII")
    );
    assert!(
        db.list_mappings(Some("shop"))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(db.list_mappings(None).await.expect("list").len(), 1);

    let err = db
        .add_mapping("shop", "  ", "ACC")
        .await
        .expect_err("empty store SKU");
    assert!(
        matches!(err, StoreError::EmptySku { what: "store SKU" }),
        "{err:?}"
    );
    let err = db
        .add_mapping("shop", "X", " ")
        .await
        .expect_err("empty accounting SKU");
    assert!(
        matches!(
            err,
            StoreError::EmptySku {
                what: "accounting SKU"
            }
        ),
        "{err:?}"
    );
}

async fn timestamps_use_one_format_and_decode(h: &Harness) {
    let db = &h.db;
    let before = Utc::now();
    let id = db
        .start_run(&new_run("shop", ProcessIdentity::current()))
        .await
        .expect("start");
    db.record_items(
        id,
        &[item(
            "A",
            Field::Price,
            Some("1"),
            Some("2"),
            ItemOutcome::Updated,
        )],
    )
    .await
    .expect("record");
    db.finish_run(id, RunStatus::Succeeded, &RunCounts::default(), None)
        .await
        .expect("finish");
    db.add_mapping("shop", "A", "B").await.expect("map");
    let after = Utc::now();

    // The database clock is this machine's clock here; allow for SQLite's millisecond
    // truncation and a little skew.
    let near = |t: DateTime<Utc>| {
        t >= before - chrono::Duration::seconds(2) && t <= after + chrono::Duration::seconds(2)
    };
    let run = db.get_run(id).await.expect("get").expect("exists");
    for t in [
        run.started_at,
        run.heartbeat_at,
        run.finished_at.expect("finished"),
    ] {
        assert!(near(t), "{t} not within [{before}, {after}]");
    }
    assert!(near(db.run_items(id).await.expect("items")[0].recorded_at));
    assert!(near(
        db.list_mappings(None).await.expect("mappings")[0].created_at
    ));

    // What operators see in psql / sqlite3.
    match db.backend() {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&h.url).await.expect("connect");
            for (table, column) in [
                ("sync_runs", "started_at"),
                ("sync_runs", "finished_at"),
                ("sync_runs", "heartbeat_at"),
                ("sync_run_items", "recorded_at"),
                ("mappings", "created_at"),
            ] {
                let ty: String = sqlx::query_scalar(
                    "SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = $2",
                )
                .bind(table)
                .bind(column)
                .fetch_one(&pool)
                .await
                .expect("column type");
                assert_eq!(ty, "timestamp with time zone", "{table}.{column}");
            }
            pool.close().await;
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&h.url).await.expect("connect");
            let texts: Vec<String> = sqlx::query_scalar(
                "SELECT started_at FROM sync_runs UNION ALL SELECT finished_at FROM sync_runs \
                 UNION ALL SELECT heartbeat_at FROM sync_runs \
                 UNION ALL SELECT recorded_at FROM sync_run_items \
                 UNION ALL SELECT created_at FROM mappings",
            )
            .fetch_all(&pool)
            .await
            .expect("raw timestamps");
            assert_eq!(texts.len(), 5);
            for text in texts {
                // 2026-11-27T21:26:03.123Z
                let b = text.as_bytes();
                let shape_ok = b.len() == 24
                    && b.iter().enumerate().all(|(i, c)| match i {
                        4 | 7 => *c == b'-',
                        10 => *c == b'T',
                        13 | 16 => *c == b':',
                        19 => *c == b'.',
                        23 => *c == b'Z',
                        _ => c.is_ascii_digit(),
                    });
                assert!(
                    shape_ok,
                    "SQLite timestamp `{text}` is not YYYY-MM-DDTHH:MM:SS.sssZ"
                );
                let parsed = DateTime::parse_from_rfc3339(&text).expect("RFC 3339");
                assert!(near(parsed.with_timezone(&Utc)), "{text}");
            }
            pool.close().await;
        }
    }
}

async fn rows_serialise_for_the_cli(h: &Harness) {
    let db = &h.db;
    let id = db
        .start_run(&new_run("shop", ProcessIdentity::current()))
        .await
        .expect("start");
    db.record_items(
        id,
        &[item(
            "A",
            Field::Quantity,
            Some("1"),
            Some("2"),
            ItemOutcome::Updated,
        )],
    )
    .await
    .expect("record");
    let run = db.get_run(id).await.expect("get").expect("exists");
    let json = serde_json::to_value(&run).expect("serialise a run");
    assert_eq!(json["status"], "running");
    assert_eq!(json["trigger"], "schedule");
    assert_eq!(json["update_side"], "store");
    assert_eq!(json["fields"], "price,quantity");
    assert_eq!(json["schedule"], "shop-store");
    assert_eq!(json["counts"]["checked"], 0);
    assert_eq!(json["recovery_pending"], false);
    assert!(
        json["started_at"]
            .as_str()
            .expect("a timestamp string")
            .ends_with('Z')
    );
    let items = db.run_items(id).await.expect("items");
    let json = serde_json::to_value(&items).expect("serialise items");
    assert_eq!(json[0]["outcome"], "updated");
    assert_eq!(json[0]["field"], "quantity");
}

// --- connection behaviour (backend-specific) ---

#[tokio::test]
async fn postgres_connect_errors_never_show_the_password() {
    let opts = PoolOptions {
        max_connections: 1,
        connect_timeout: Duration::from_secs(5),
    };
    for url in [
        // Reaches the server, which rejects the login.
        "postgres://invsync_nobody:Sup3r%40S3cret@127.0.0.1:5432/nowhere",
        // Nothing listens there.
        "postgresql://invsync_nobody:Sup3r%40S3cret@127.0.0.1:1/nowhere",
        // Password as a query parameter.
        "postgres://invsync_nobody@127.0.0.1:1/nowhere?password=Sup3r%40S3cret",
    ] {
        let err = Db::connect(url, &opts).await.expect_err("must not connect");
        let shown = format!("{err} | {err:?} | {:?}", std::error::Error::source(&err));
        assert!(matches!(err, StoreError::Connect { .. }), "{shown}");
        for secret in ["Sup3r", "S3cret"] {
            assert!(!shown.contains(secret), "password leaked: {shown}");
        }
        assert!(
            shown.contains("invsync_nobody"),
            "the user is fine to show: {shown}"
        );
    }
}

#[tokio::test]
async fn a_connected_db_does_not_debug_print_its_password() {
    let pg = fresh_database().await;
    let mut url = url::Url::parse(pg.url()).expect("a URL");
    let secret = match url.password() {
        Some(password) => password.to_owned(),
        None => {
            // The default local socket authenticates by OS user, so this password is
            // sent along but never checked.
            url.query_pairs_mut()
                .append_pair("password", "Hunter2Secret");
            "Hunter2Secret".to_owned()
        }
    };
    let db = Db::connect(url.as_str(), &PoolOptions::default())
        .await
        .expect("connect");
    let shown = format!("{db:?} {}", db.redacted_url());
    assert!(!shown.contains(&secret), "{shown}");
    assert!(shown.contains("****"), "{shown}");
    db.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_rejected() {
    let err = Db::connect("mysql://u:Hunter2Secret@h/db", &PoolOptions::default())
        .await
        .expect_err("mysql");
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err:?}");
    assert!(!err.to_string().contains("Hunter2Secret"), "{err}");
}

#[tokio::test]
async fn sqlite_creates_directories_and_uses_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a/b/invsync.db");
    let db = Db::connect(
        &format!("sqlite://{}", path.display()),
        &PoolOptions::default(),
    )
    .await
    .expect("connect");
    assert!(path.exists(), "the file is created");
    db.migrate().await.expect("migrate");
    db.close().await;

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .expect("pragma");
    assert_eq!(
        mode, "wal",
        "WAL is a property of the file, so a plain connection sees it"
    );
    pool.close().await;

    // Foreign keys are per connection: the store's connections enforce them.
    let db = Db::connect(
        &format!("sqlite://{}", path.display()),
        &PoolOptions::default(),
    )
    .await
    .expect("reconnect");
    let err = db
        .record_items(
            42,
            &[item(
                "A",
                Field::Price,
                None,
                Some("1"),
                ItemOutcome::Updated,
            )],
        )
        .await
        .expect_err("no run 42");
    assert!(
        matches!(err, StoreError::RunNotFound { run_id: 42 }),
        "{err:?}"
    );
}

// --- measurement, not a timed assertion: `cargo test --release -p invsync-store -- --ignored --nocapture`

#[tokio::test]
#[ignore = "measurement: run with --ignored --nocapture"]
async fn measure_recording_100k_items() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let h = harness(backend, true).await;
        let id =
            h.db.start_run(&new_run("shop", ProcessIdentity::current()))
                .await
                .expect("start");
        let items: Vec<NewRunItem> = (0..100_000)
            .map(|i| NewRunItem {
                sku: format!("SKU-{i:06}"),
                field: Field::Quantity,
                old_value: Some((i % 50).to_string()),
                new_value: Some((i % 40).to_string()),
                outcome: ItemOutcome::Updated,
                error: None,
            })
            .collect();
        let start = Instant::now();
        h.db.record_items(id, &items)
            .await
            .expect("record 100k items");
        let elapsed = start.elapsed();
        assert_eq!(h.db.run_items(id).await.expect("items").len(), 100_000);
        println!("{backend}: recorded 100,000 items in {elapsed:.2?}");
    }
}

fn order(id: &str, open: bool, updated: Option<&str>, lines: &[(&str, i64)]) -> StoreOrder {
    StoreOrder {
        id: id.into(),
        number: format!("#{id}").into(),
        open,
        updated_at: updated.map(|t| t.parse().expect("timestamp")),
        lines: lines
            .iter()
            .map(|(sku, quantity)| StoreOrderLine {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
    }
}

/// (store, order id, sku) of each noted change.
fn change_keys(changes: &[invsync_store::OrderChange]) -> Vec<(&str, &str, &str)> {
    changes
        .iter()
        .map(|c| (c.store.as_str(), c.order_id.as_str(), c.sku.as_str()))
        .collect()
}

async fn order_changes_note_the_skus_a_feed_moved_until_the_watch_pushed_them(h: &Harness) {
    let db = &h.db;
    let t0: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().expect("t0");
    let t1 = t0 + chrono::Duration::seconds(30);
    let t2 = t1 + chrono::Duration::seconds(30);
    let file = |orders: &[StoreOrder]| OrderFeed {
        orders: orders.to_vec(),
        snapshot: Some(Absent::Posted),
        cursor: None,
    };
    // Without the watch nothing is noted.
    db.apply_order_feed("pos", &file(&[order("9", true, None, &[("HAT", 1)])]), t0)
        .await
        .expect("feed");
    assert!(db.order_changes().await.expect("changes").is_empty());

    let first = [
        order("1", true, None, &[("MUG", 2), ("TEE", 1)]),
        order("2", true, None, &[("CAP", 1)]),
    ];
    db.apply_order_feed_noting("shop", &file(&first), t0, true)
        .await
        .expect("first feed");
    let changes = db.order_changes().await.expect("changes");
    assert_eq!(
        change_keys(&changes),
        vec![
            ("shop", "1", "MUG"),
            ("shop", "1", "TEE"),
            ("shop", "2", "CAP")
        ]
    );
    assert!(
        changes
            .iter()
            .all(|c| c.seen_at == t0 && c.changed_at == t0)
    );

    // The same snapshot again (an orders file is read whole every time) moves nothing.
    db.apply_order_feed_noting("shop", &file(&first), t1, true)
        .await
        .expect("same feed");
    assert_eq!(db.order_changes().await.expect("changes"), changes);

    // The watch takes them; meanwhile order 1 changes (TEE 1 → 3) and order 2 leaves the
    // file: TEE and CAP change again, MUG does not.
    let taken = db.order_changes().await.expect("changes");
    db.apply_order_feed_noting(
        "shop",
        &file(&[order("1", true, None, &[("MUG", 2), ("TEE", 3)])]),
        t1,
        true,
    )
    .await
    .expect("changed feed");
    let changes = db.order_changes().await.expect("changes");
    let tee = changes.iter().find(|c| c.sku == "TEE").expect("TEE");
    assert_eq!(
        (tee.seen_at, tee.changed_at),
        (t0, t1),
        "first sighting kept"
    );
    let deleted = db.clear_order_changes(&taken).await.expect("clear");
    assert_eq!(
        deleted, 1,
        "only MUG did not change again after it was taken"
    );
    assert_eq!(
        change_keys(&db.order_changes().await.expect("changes")),
        vec![
            ("shop", "1", "MUG"),
            ("shop", "1", "TEE"),
            ("shop", "2", "CAP")
        ]
        .into_iter()
        .filter(|k| k.2 != "MUG")
        .collect::<Vec<_>>()
    );
    let rest = db.order_changes().await.expect("changes");
    assert_eq!(db.clear_order_changes(&rest).await.expect("clear"), 2);

    // An incremental feed: a cancelled order comes back without lines; its old lines are
    // what moved.
    db.apply_order_feed_noting(
        "web",
        &OrderFeed {
            orders: vec![order(
                "5",
                true,
                Some("2026-12-07T09:00:00Z"),
                &[("MUG", 1)],
            )],
            snapshot: None,
            cursor: Some("c1".into()),
        },
        t1,
        true,
    )
    .await
    .expect("web feed");
    let new = db.order_changes().await.expect("changes");
    db.clear_order_changes(&new).await.expect("clear");
    db.apply_order_feed_noting(
        "web",
        &OrderFeed {
            orders: vec![order("5", false, Some("2026-12-07T09:01:00Z"), &[])],
            snapshot: None,
            cursor: Some("c2".into()),
        },
        t2,
        true,
    )
    .await
    .expect("cancelled");
    assert_eq!(
        change_keys(&db.order_changes().await.expect("changes")),
        vec![("web", "5", "MUG")]
    );
    // Pruning forgets changes nobody took.
    db.prune_orders(t2 + chrono::Duration::seconds(1))
        .await
        .expect("prune");
    assert!(db.order_changes().await.expect("changes").is_empty());
}

async fn one_order_watch_pass_at_a_time(h: &Harness) {
    let db = &h.db;
    let t0: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().expect("t0");
    let lease = chrono::Duration::minutes(5);
    assert!(
        db.claim_order_watch("a", t0, t0 + lease)
            .await
            .expect("claim")
    );
    assert!(
        !db.claim_order_watch("b", t0, t0 + lease)
            .await
            .expect("claim")
    );
    // Its owner renews it.
    assert!(
        db.claim_order_watch("a", t0, t0 + lease)
            .await
            .expect("renew")
    );
    // A lease whose daemon died expires.
    let later = t0 + lease + chrono::Duration::seconds(1);
    assert!(
        db.claim_order_watch("b", later, later + lease)
            .await
            .expect("expired")
    );
    // Released by its owner only.
    db.release_order_watch("a").await.expect("release");
    assert!(
        !db.claim_order_watch("a", later, later + lease)
            .await
            .expect("claim")
    );
    db.release_order_watch("b").await.expect("release");
    assert!(
        db.claim_order_watch("a", later, later + lease)
            .await
            .expect("free")
    );
}

/// (store, order number, [(sku, quantity)]) of each order.
type OrderSummary = (String, String, Vec<(String, i64)>);

fn holding_summary(rows: &[invsync_store::OrderRow]) -> Vec<OrderSummary> {
    rows.iter()
        .map(|r| {
            (
                r.store.clone(),
                r.order_number.clone(),
                r.lines
                    .iter()
                    .map(|l| (l.sku.to_string(), l.quantity))
                    .collect(),
            )
        })
        .collect()
}

async fn orders_follow_feeds_cursors_and_postings(h: &Harness) {
    let db = &h.db;
    let t0: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().expect("t0");
    assert_eq!(db.order_cursor("shop").await.expect("cursor"), None);
    let cursor = |c: Option<invsync_store::OrderCursor>| c.map(|c| (c.cursor, c.snapshot_at));

    let first = [
        order(
            "1",
            true,
            Some("2026-11-28T09:00:00Z"),
            &[("MUG", 2), ("TEE", 1)],
        ),
        order("2", true, Some("2026-11-28T09:05:00Z"), &[("MUG", 1)]),
    ];
    let applied = db
        .apply_order_feed(
            "shop",
            &OrderFeed {
                orders: first.to_vec(),
                snapshot: Some(Absent::Closed),
                cursor: Some("c1".into()),
            },
            t0,
        )
        .await
        .expect("first feed");
    assert_eq!((applied.new, applied.updated), (2, 0));
    assert_eq!(
        cursor(db.order_cursor("shop").await.expect("cursor")),
        Some(("c1".to_owned(), t0)),
        "a snapshot with a cursor stamps snapshot_at"
    );

    // A change feed: order 1 lost a line, order 2 was cancelled, order 3 is new; an older
    // view of order 1 arriving later is ignored.
    let t1 = t0 + chrono::Duration::minutes(15);
    let second = [
        order("1", true, Some("2026-11-28T09:30:00Z"), &[("MUG", 2)]),
        order("2", false, Some("2026-11-28T09:31:00Z"), &[("MUG", 1)]),
        order("3", true, None, &[("CAP", 4)]),
    ];
    let applied = db
        .apply_order_feed(
            "shop",
            &OrderFeed {
                orders: second.to_vec(),
                snapshot: None,
                cursor: Some("c2".into()),
            },
            t1,
        )
        .await
        .expect("second feed");
    assert_eq!((applied.new, applied.updated), (1, 2));
    let stale = [order(
        "1",
        true,
        Some("2026-11-28T09:00:00Z"),
        &[("MUG", 9)],
    )];
    let applied = db
        .apply_order_feed(
            "shop",
            &OrderFeed {
                orders: stale.to_vec(),
                snapshot: None,
                cursor: Some("c2".into()),
            },
            t1,
        )
        .await
        .expect("stale feed");
    assert_eq!(applied.older, 1);
    assert_eq!(
        cursor(db.order_cursor("shop").await.expect("cursor")),
        Some(("c2".to_owned(), t0)),
        "change feeds move the cursor, not snapshot_at"
    );

    let holding = db
        .list_orders(OrderFilter::Holding(Some("shop")))
        .await
        .expect("holding");
    assert_eq!(
        holding_summary(&holding),
        vec![
            ("shop".into(), "#1".into(), vec![("MUG".into(), 2)]),
            ("shop".into(), "#3".into(), vec![("CAP".into(), 4)]),
        ]
    );
    assert_eq!(holding[0].first_seen, t0, "first seen survives updates");
    assert_eq!(holding[0].last_seen, t1);

    // The accounting side posts order 1; a later feed still listing it open keeps it posted.
    assert_eq!(
        db.mark_orders_posted("shop", &["1", "nope"], t1)
            .await
            .expect("post"),
        1
    );
    assert_eq!(
        db.mark_orders_posted("shop", &["1"], t1)
            .await
            .expect("post again"),
        0
    );
    db.apply_order_feed(
        "shop",
        &OrderFeed {
            orders: second[..1].to_vec(),
            snapshot: None,
            cursor: None,
        },
        t1,
    )
    .await
    .expect("feed after posting");
    let all = db
        .list_orders(OrderFilter::All(Some("shop")))
        .await
        .expect("all");
    let one = all.iter().find(|o| o.order_id == "1").expect("order 1");
    assert_eq!(
        (one.posted_at, one.posted_by.as_deref()),
        (Some(t1), Some("accounting"))
    );
    let two = all.iter().find(|o| o.order_id == "2").expect("order 2");
    assert_eq!(two.closed_at, Some(t1));
    assert_eq!(
        holding_summary(
            &db.list_orders(OrderFilter::Holding(None))
                .await
                .expect("holding")
        ),
        vec![("shop".into(), "#3".into(), vec![("CAP".into(), 4)])]
    );

    // A read that returns no cursor forgets the stored one: the next read is a snapshot.
    db.apply_order_feed(
        "shop",
        &OrderFeed {
            orders: Vec::new(),
            snapshot: None,
            cursor: None,
        },
        t1,
    )
    .await
    .expect("no cursor");
    assert_eq!(db.order_cursor("shop").await.expect("cursor"), None);

    // Pruning forgets orders released before the cutoff, lines included.
    let pruned = db
        .prune_orders(t1 + chrono::Duration::seconds(1))
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    assert_eq!(
        db.list_orders(OrderFilter::All(None))
            .await
            .expect("all")
            .len(),
        1
    );
}

async fn order_snapshots_release_absent_orders(h: &Harness) {
    let db = &h.db;
    let t0: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().expect("t0");
    let t1 = t0 + chrono::Duration::minutes(15);
    let both = [
        order("A", true, None, &[("MUG", 1)]),
        order("B", true, None, &[("MUG", 2)]),
    ];
    for store in ["file-shop", "platform"] {
        db.apply_order_feed(
            store,
            &OrderFeed {
                orders: both.to_vec(),
                snapshot: Some(Absent::Posted),
                cursor: None,
            },
            t0,
        )
        .await
        .expect("first snapshot");
    }
    // A left the orders file: posted. On a platform snapshot, absence means closed.
    let applied = db
        .apply_order_feed(
            "file-shop",
            &OrderFeed {
                orders: both[1..].to_vec(),
                snapshot: Some(Absent::Posted),
                cursor: None,
            },
            t1,
        )
        .await
        .expect("file snapshot");
    assert_eq!(applied.released, 1);
    db.apply_order_feed(
        "platform",
        &OrderFeed {
            orders: both[1..].to_vec(),
            snapshot: Some(Absent::Closed),
            cursor: None,
        },
        t1,
    )
    .await
    .expect("platform snapshot");
    let all = db.list_orders(OrderFilter::All(None)).await.expect("all");
    let find = |store: &str, id: &str| {
        all.iter()
            .find(|o| o.store == store && o.order_id == id)
            .cloned()
            .expect("tracked")
    };
    let a_file = find("file-shop", "A");
    assert_eq!(
        (a_file.posted_at, a_file.posted_by.as_deref()),
        (Some(t1), Some("absent"))
    );
    let a_platform = find("platform", "A");
    assert_eq!(
        (a_platform.closed_at, a_platform.posted_at),
        (Some(t1), None)
    );
    assert!(find("file-shop", "B").holding());

    // A comes back into the file: it holds stock again.
    db.apply_order_feed(
        "file-shop",
        &OrderFeed {
            orders: both.to_vec(),
            snapshot: Some(Absent::Posted),
            cursor: None,
        },
        t1,
    )
    .await
    .expect("A is back");
    let holding = db
        .list_orders(OrderFilter::Holding(Some("file-shop")))
        .await
        .expect("holding");
    assert_eq!(holding.len(), 2);
}

fn intent(run: i64, n: usize, sku: &str, old: i64, new: i64) -> WriteIntent {
    WriteIntent {
        key: format!("invsync-run-{run}-change-{n}"),
        sku: sku.to_owned(),
        field: Field::Quantity,
        old_value: old.to_string(),
        new_value: new.to_string(),
    }
}

async fn write_intents_are_cleared_by_a_finish_and_settled_by_recovery(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    // A run that finishes: its intents go, its items stay.
    let done = db
        .start_run(&new_run("a", me.clone()))
        .await
        .expect("start");
    db.record_intents(done, &[intent(done, 0, "A", 1, 2)])
        .await
        .expect("intend");
    db.record_intents(done, &[intent(done, 0, "A", 1, 2)])
        .await
        .expect("same key again");
    assert_eq!(db.write_intents(done).await.expect("intents").len(), 1);
    db.record_items(
        done,
        &[item(
            "A",
            Field::Quantity,
            Some("1"),
            Some("2"),
            ItemOutcome::Updated,
        )],
    )
    .await
    .expect("items");
    let counts = RunCounts {
        updated: 1,
        ..RunCounts::default()
    };
    db.finish_run(done, RunStatus::Succeeded, &counts, None)
        .await
        .expect("finish");
    assert!(db.write_intents(done).await.expect("intents").is_empty());

    // A run that dies with two writes in flight (one of them recorded).
    let dead = db
        .start_run(&new_run("b", me.clone()))
        .await
        .expect("start");
    db.record_intents(
        dead,
        &[
            intent(dead, 0, "A", 1, 2),
            intent(dead, 1, "B", 3, 4),
            intent(dead, 2, "C", 5, 6),
        ],
    )
    .await
    .expect("intend");
    db.record_items(
        dead,
        &[item(
            "A",
            Field::Quantity,
            Some("1"),
            Some("2"),
            ItemOutcome::Updated,
        )],
    )
    .await
    .expect("items");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let marked = db
        .recover_interrupted(&me, Duration::ZERO)
        .await
        .expect("recover");
    assert_eq!(marked, vec![dead]);
    let rows = db.run_items(dead).await.expect("items");
    assert_eq!(
        rows.iter()
            .map(|r| (r.sku.as_str(), r.outcome))
            .collect::<Vec<_>>(),
        vec![
            ("A", ItemOutcome::Updated),
            ("B", ItemOutcome::Failed),
            ("C", ItemOutcome::Failed)
        ]
    );
    assert!(
        rows[1]
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("outcome unknown")
                && e.contains(&format!("invsync-run-{dead}-change-1")))
    );
    assert_eq!(
        db.get_run(dead)
            .await
            .expect("get")
            .expect("row")
            .counts
            .failed,
        2
    );
    assert!(db.write_intents(dead).await.expect("intents").is_empty());

    // Its real outcome arrives after all (the database had been away): the real items
    // replace the unknown ones.
    db.record_items(
        dead,
        &[
            item(
                "B",
                Field::Quantity,
                Some("3"),
                Some("4"),
                ItemOutcome::Updated,
            ),
            item(
                "C",
                Field::Quantity,
                Some("5"),
                Some("6"),
                ItemOutcome::Updated,
            ),
        ],
    )
    .await
    .expect("late items");
    let counts = RunCounts {
        updated: 3,
        ..RunCounts::default()
    };
    assert!(
        db.finish_run_late(dead, RunStatus::Succeeded, &counts, None)
            .await
            .expect("late")
    );
    let rows = db.run_items(dead).await.expect("items");
    assert_eq!(
        rows.iter()
            .map(|r| (r.sku.as_str(), r.outcome))
            .collect::<Vec<_>>(),
        vec![
            ("A", ItemOutcome::Updated),
            ("B", ItemOutcome::Updated),
            ("C", ItemOutcome::Updated)
        ]
    );
}

fn listing(id: &str, sku: &str, price: &str, quantity: Option<i64>) -> invsync_core::Record {
    invsync_core::Record {
        id: id.into(),
        sku: sku.into(),
        name: format!("Product {sku}").into(),
        kind: if quantity.is_some() {
            invsync_core::ItemKind::Inventory
        } else {
            invsync_core::ItemKind::Base
        },
        price: Some(price.parse().expect("decimal")),
        quantity,
        sale: None,
    }
}

fn sorted_records(mut records: Vec<invsync_core::Record>) -> Vec<invsync_core::Record> {
    records.sort_by(|a, b| a.id.cmp(&b.id));
    records
}

async fn kept_catalogs_save_differences_over_the_version_they_loaded(h: &Harness) {
    let db = &h.db;
    let now = Utc::now();
    assert_eq!(db.stored_catalog("shop").await.expect("load"), None);
    assert_eq!(db.catalog_version("shop").await.expect("version"), None);

    // A first save keeps every record (1,200: more than one SQLite statement holds), with
    // prices exact to the cent and a base record without quantity.
    let mut records: Vec<_> = (0..1200)
        .map(|i| {
            listing(
                &format!("gid://v/{i}"),
                &format!("SKU-{i}"),
                "19.99",
                Some(i),
            )
        })
        .collect();
    records.push(listing("gid://v/base", "GIFT", "25.10", None));
    let saved = db
        .save_catalog("shop", None, &records, Some("cursor-1"), now)
        .await
        .expect("save");
    assert_eq!(
        (saved.written, saved.deleted, saved.superseded),
        (1201, 0, false)
    );
    db.count_catalog_writes("shop", 3).await.expect("count");
    db.count_catalog_writes("shop", 2).await.expect("count");
    db.count_catalog_writes("no-such-store", 2)
        .await
        .expect("nothing kept: nothing to count");
    let loaded = db
        .stored_catalog("shop")
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(loaded.cursor, "cursor-1");
    assert_eq!(loaded.writes, 5, "writes since the catalog was read");
    assert_eq!(
        sorted_records(loaded.records.clone()),
        sorted_records(records.clone())
    );

    // The next save writes only what changed and deletes what is gone.
    let mut next = loaded.records.clone();
    next.retain(|r| r.id != "gid://v/7");
    for r in next.iter_mut().filter(|r| r.id == "gid://v/3") {
        r.quantity = Some(500);
    }
    next.push(listing("gid://v/new", "NEW", "1.00", Some(1)));
    let saved = db
        .save_catalog("shop", Some(&loaded), &next, Some("cursor-2"), now)
        .await
        .expect("save");
    assert_eq!((saved.written, saved.deleted), (2, 1));
    let again = db
        .stored_catalog("shop")
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(again.cursor, "cursor-2");
    assert_eq!(again.writes, 0, "a save starts the count again");
    assert_eq!(
        (loaded.version, again.version),
        (1, 2),
        "a save moves the version on by one"
    );
    assert_eq!(db.catalog_version("shop").await.expect("version"), Some(2));
    assert_eq!(
        sorted_records(again.records.clone()),
        sorted_records(next.clone())
    );

    // A run still holding the older version is not kept over the newer one.
    let stale = db
        .save_catalog("shop", Some(&loaded), &records, Some("cursor-stale"), now)
        .await
        .expect("save");
    assert!(stale.superseded);
    assert_eq!(
        db.stored_catalog("shop")
            .await
            .expect("load")
            .expect("kept")
            .cursor,
        "cursor-2"
    );
    // Nor is a first save racing one that already landed.
    let racing = db
        .save_catalog("shop", None, &records, Some("cursor-race"), now)
        .await
        .expect("save");
    assert!(racing.superseded);

    // Other stores are separate; no cursor forgets the store's catalog.
    db.save_catalog("other", None, &records[..1], Some("c"), now)
        .await
        .expect("save");
    db.save_catalog("shop", Some(&again), &next, None, now)
        .await
        .expect("forget");
    assert_eq!(db.stored_catalog("shop").await.expect("load"), None);
    assert_eq!(db.catalog_version("shop").await.expect("version"), None);
    assert_eq!(
        db.stored_catalog("other")
            .await
            .expect("load")
            .expect("kept")
            .records
            .len(),
        1
    );

    // A record that no longer parses (another version's format) drops the kept catalog,
    // so the next save over "nothing loaded" keeps a new one instead of losing the race
    // to the unreadable one for ever.
    on_raw_pool!(h, |pool| sqlx::query(
        "UPDATE store_catalog_records SET record = '{\"not\": \"a record\"}' WHERE store = 'other'"
    )
    .execute(&pool)
    .await
    .expect("corrupt"));
    assert_eq!(db.stored_catalog("other").await.expect("load"), None);
    assert_eq!(db.catalog_version("other").await.expect("version"), None);
    let saved = db
        .save_catalog("other", None, &records[..2], Some("c2"), now)
        .await
        .expect("save");
    assert!(!saved.superseded, "kept again: {saved:?}");
    assert_eq!(
        db.stored_catalog("other")
            .await
            .expect("load")
            .expect("kept")
            .records
            .len(),
        2
    );
}

/// Issue 13, item 1: a dead run with more intents than one step settles over several
/// steps, can be resumed by another process between them, and ends counted from its items
/// (ADR 0004's buckets, per product).
async fn recovery_settles_in_bounded_steps_and_counts_the_run_from_its_items(h: &Harness) {
    let db = &h.db;
    let me = ProcessIdentity::current();
    let dead = db
        .start_run(&new_run("shop", me.clone()))
        .await
        .expect("start");
    let writes = invsync_store::SETTLE_CHUNK as usize * 2 + 5;
    let intents: Vec<WriteIntent> = (0..writes)
        .map(|n| intent(dead, n, &format!("SKU-{n:06}"), 1, 2))
        .collect();
    db.record_intents(dead, &intents).await.expect("intend");
    // The first 100 writes came back: 90 applied, 10 failed.
    let mut items: Vec<NewRunItem> = (0..100)
        .map(|n| {
            let outcome = if n < 90 {
                ItemOutcome::Updated
            } else {
                ItemOutcome::Failed
            };
            item(
                &format!("SKU-{n:06}"),
                Field::Quantity,
                Some("1"),
                Some("2"),
                outcome,
            )
        })
        .collect();
    // Held back before the writes: a product in an order, a product whose write came back
    // stale, and one of the applied products whose other field was in an order.
    items.push(NewRunItem {
        error: Some("in-orders: in an order not yet posted to the accounting side (#1001)".into()),
        ..item(
            "HELD",
            Field::Quantity,
            Some("1"),
            Some("2"),
            ItemOutcome::Skipped,
        )
    });
    items.push(NewRunItem {
        error: Some("the value changed since it was read".into()),
        ..item(
            "STALE",
            Field::Price,
            Some("1"),
            Some("2"),
            ItemOutcome::Skipped,
        )
    });
    items.push(NewRunItem {
        error: Some("in-orders: in an order not yet posted to the accounting side".into()),
        ..item(
            "SKU-000000",
            Field::Price,
            Some("1"),
            Some("2"),
            ItemOutcome::Skipped,
        )
    });
    db.record_items(dead, &items).await.expect("items");
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Marking is one cheap step; the run is pending recovery until settled.
    let marked = db
        .mark_interrupted(&me, Duration::ZERO)
        .await
        .expect("mark");
    assert_eq!(marked, vec![dead]);
    let run = db.get_run(dead).await.expect("get").expect("row");
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(run.recovery_pending);

    let first = db
        .settle_step(None)
        .await
        .expect("a step")
        .expect("a run to settle");
    assert_eq!((first.run_id, first.finished), (dead, false));
    assert_eq!(
        db.write_intents(dead).await.expect("intents").len(),
        writes - invsync_store::SETTLE_CHUNK as usize,
        "one step settles one chunk"
    );
    // Another process goes on where the first stopped (no previous step to start from).
    let other = Db::connect(&h.url, &PoolOptions::default())
        .await
        .expect("connect");
    let mut steps = 1;
    let mut added = first.items_added;
    while let Some(step) = other.settle_step(None).await.expect("a step") {
        steps += 1;
        added += step.items_added;
        assert!(steps < 10, "steps never end");
    }
    assert_eq!(
        steps,
        3,
        "{writes} intents in steps of {}",
        invsync_store::SETTLE_CHUNK
    );
    assert_eq!(
        added as usize,
        writes - 100,
        "an unknown item for each write not on record"
    );
    assert!(db.write_intents(dead).await.expect("intents").is_empty());
    let run = db.get_run(dead).await.expect("get").expect("row");
    assert!(!run.recovery_pending);
    assert_eq!(
        run.counts,
        RunCounts {
            checked: writes as i64 + 2,
            updated: 90,
            failed: 10 + (writes as i64 - 100),
            skipped_in_orders: 1,
            skipped_other: 1,
            ..RunCounts::default()
        },
        "counted per product from the items"
    );
    assert_eq!(
        db.settle_step(None).await.expect("step"),
        None,
        "nothing left"
    );
    other.close().await;
}

/// Issue 13, item 9: a run the database does not have is never reported as recorded.
async fn a_late_finish_of_a_run_that_is_not_there_is_an_error(h: &Harness) {
    let err =
        h.db.finish_run_late(4242, RunStatus::Succeeded, &RunCounts::default(), None)
            .await
            .expect_err("no run 4242");
    assert!(
        matches!(err, StoreError::RunNotFound { run_id: 4242 }),
        "{err}"
    );
}

/// Issue 13, item 4: Postgres refuses NUL in text; both backends store it shown as `\0`.
async fn text_with_nul_bytes_is_stored_with_the_nul_shown(h: &Harness) {
    let db = &h.db;
    let id = db
        .start_run(&new_run("shop", ProcessIdentity::current()))
        .await
        .expect("start");
    db.record_intents(id, &[intent(id, 0, "BAD\0SKU", 1, 2)])
        .await
        .expect("an intent with a NUL in its SKU");
    assert_eq!(
        db.write_intents(id).await.expect("intents")[0].sku,
        "BAD\\0SKU"
    );
    db.record_items(
        id,
        &[NewRunItem {
            error: Some("the platform said: no SKU BAD\0SKU".into()),
            ..item(
                "BAD\0SKU",
                Field::Price,
                Some("1\0"),
                None,
                ItemOutcome::Failed,
            )
        }],
    )
    .await
    .expect("an item with NUL bytes");
    let rows = db.run_items(id).await.expect("items");
    assert_eq!(rows[0].sku, "BAD\\0SKU");
    assert_eq!(rows[0].old_value.as_deref(), Some("1\\0"));
    assert_eq!(
        rows[0].error.as_deref(),
        Some("the platform said: no SKU BAD\\0SKU")
    );
    assert_eq!(
        invsync_store::unstorable("BAD\0SKU"),
        Some("contains a NUL byte, which the run history cannot store")
    );
}

/// Issue 13, item 4: a value the database refuses is not an unreachable database.
#[tokio::test]
async fn failures_tell_a_refused_value_from_an_unreachable_or_unwritable_database() {
    use invsync_store::Failure;
    let pg = fresh_database().await;
    let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
    let e = sqlx::query("SELECT CAST($1 AS TEXT)")
        .bind("BAD\0SKU")
        .execute(&pool)
        .await
        .expect_err("Postgres refuses NUL in text");
    assert_eq!(Failure::of_query(&e), Failure::Refused, "{e}");
    let e = sqlx::query("SELECT 1 / 0")
        .execute(&pool)
        .await
        .expect_err("division by zero");
    assert_eq!(Failure::of_query(&e), Failure::Refused, "{e}");
    pool.close().await;
    let e = sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .expect_err("closed");
    assert_eq!(Failure::of_query(&e), Failure::Unreachable, "{e}");

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let sqlite = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
    sqlx::query("CREATE TABLE t (v TEXT CHECK (v <> 'x'))")
        .execute(&sqlite)
        .await
        .expect("create");
    let e = sqlx::query("INSERT INTO t VALUES ('x')")
        .execute(&sqlite)
        .await
        .expect_err("check");
    assert_eq!(Failure::of_query(&e), Failure::Refused, "{e}");
    sqlite.close().await;
    let read_only =
        sqlx::SqlitePool::connect(&format!("sqlite://{}/t.db?mode=ro", dir.path().display()))
            .await
            .expect("read-only");
    let e = sqlx::query("INSERT INTO t VALUES ('y')")
        .execute(&read_only)
        .await
        .expect_err("read-only");
    assert_eq!(Failure::of_query(&e), Failure::Unwritable, "{e}");
    let shown = StoreError::Database {
        op: "record run items",
        source: e,
    }
    .to_string();
    assert_eq!(
        shown,
        "the database cannot be written while trying to record run items"
    );
}
