//! Schedule state (`sync_schedules`) on a fresh Postgres database and a fresh SQLite file.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use invsync_core::{FieldSet, RunStatus, Side, Trigger};
use invsync_store::{Backend, Db, NewRun, PoolOptions, ProcessIdentity, RunFilter};
use invsync_test_support::pg::{TestDatabase, fresh_database};

struct Harness {
    db: Db,
    _postgres: Option<TestDatabase>,
    _dir: Option<tempfile::TempDir>,
}

async fn harness(backend: Backend) -> Harness {
    let (url, postgres, dir) = match backend {
        Backend::Postgres => {
            let pg = fresh_database().await;
            (pg.url().to_owned(), Some(pg), None)
        }
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            (
                format!("sqlite://{}/invsync.db", dir.path().display()),
                None,
                Some(dir),
            )
        }
    };
    let db = Db::connect(&url, &PoolOptions::default())
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    Harness {
        db,
        _postgres: postgres,
        _dir: dir,
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn postgres() { super::$name(&harness(Backend::Postgres).await.db).await; }
            #[tokio::test]
            async fn sqlite() { super::$name(&harness(Backend::Sqlite).await.db).await; }
        }
    )*};
}

both!(
    the_database_clock_is_close_to_ours,
    schedules_insert_once_update_and_delete,
    a_slot_is_claimed_once,
    a_held_lease_blocks_the_next_slot_until_released_or_lapsed,
    skipped_runs_are_recorded_finished,
    runs_remember_their_slot,
);

fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, h, m, s)
        .single()
        .expect("time")
}

async fn the_database_clock_is_close_to_ours(db: &Db) {
    let now = db.now().await.expect("now");
    assert!((now - Utc::now()).num_seconds().abs() < 5, "{now}");
}

async fn schedules_insert_once_update_and_delete(db: &Db) {
    assert!(
        db.insert_schedule("shop-store", "shop", "every 15m", t(10, 0, 0))
            .await
            .expect("insert")
    );
    assert!(
        !db.insert_schedule("shop-store", "shop", "every 1h", t(11, 0, 0))
            .await
            .expect("again"),
        "an existing row is kept"
    );
    let rows = db.list_schedules().await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].cadence.as_str(), rows[0].next_due_at),
        ("every 15m", t(10, 0, 0))
    );
    db.update_schedule("shop-store", "shop", "every 1h", t(10, 45, 0))
        .await
        .expect("update");
    let rows = db.list_schedules().await.expect("list");
    assert_eq!(
        (rows[0].cadence.as_str(), rows[0].next_due_at),
        ("every 1h", t(10, 45, 0))
    );
    assert!(db.delete_schedule("shop-store").await.expect("delete"));
    assert!(db.list_schedules().await.expect("list").is_empty());
}

async fn a_slot_is_claimed_once(db: &Db) {
    db.insert_schedule("s", "shop", "every 15m", t(10, 0, 0))
        .await
        .expect("insert");
    let now = t(10, 0, 1);
    let lease = now + TimeDelta::minutes(2);
    assert!(
        !db.claim_slot("s", t(10, 0, 0), t(10, 15, 1), "a", t(9, 59, 59), lease)
            .await
            .expect("claim"),
        "not due yet"
    );
    // Two daemons read the same due slot; both try to claim it.
    let (a, b) = tokio::join!(
        db.claim_slot("s", t(10, 0, 0), t(10, 15, 1), "a", now, lease),
        db.claim_slot("s", t(10, 0, 0), t(10, 15, 1), "b", now, lease),
    );
    assert_eq!(
        [a.expect("a"), b.expect("b")]
            .iter()
            .filter(|won| **won)
            .count(),
        1,
        "exactly one daemon wins"
    );
    let row = &db.list_schedules().await.expect("list")[0];
    assert_eq!(row.next_due_at, t(10, 15, 1));
    assert_eq!(row.last_started_at, Some(now));
    assert!(matches!(row.lease_owner.as_deref(), Some("a" | "b")));
}

async fn a_held_lease_blocks_the_next_slot_until_released_or_lapsed(db: &Db) {
    db.insert_schedule("s", "shop", "every 15m", t(10, 0, 0))
        .await
        .expect("insert");
    assert!(
        db.claim_slot(
            "s",
            t(10, 0, 0),
            t(10, 15, 0),
            "a",
            t(10, 0, 0),
            t(10, 2, 0)
        )
        .await
        .expect("claim")
    );
    // A long run: the next slot falls due while the lease is renewed.
    assert!(db.renew_lease("s", "a", t(10, 17, 0)).await.expect("renew"));
    assert!(
        !db.renew_lease("s", "b", t(10, 30, 0)).await.expect("renew"),
        "only the holder renews"
    );
    assert!(
        !db.claim_slot(
            "s",
            t(10, 15, 0),
            t(10, 31, 0),
            "b",
            t(10, 16, 0),
            t(10, 18, 0)
        )
        .await
        .expect("claim"),
        "no overlap"
    );
    db.release_slot("s", "a", Some(7), t(10, 16, 30))
        .await
        .expect("release");
    let row = &db.list_schedules().await.expect("list")[0];
    assert_eq!(
        (
            row.lease_owner.as_deref(),
            row.last_run_id,
            row.last_finished_at
        ),
        (None, Some(7), Some(t(10, 16, 30)))
    );
    assert!(
        db.claim_slot(
            "s",
            t(10, 15, 0),
            t(10, 31, 40),
            "b",
            t(10, 16, 40),
            t(10, 18, 40)
        )
        .await
        .expect("claim"),
        "delayed, not skipped"
    );
    // A holder that died stops renewing; its lease lapses and the schedule goes on.
    assert!(
        db.claim_slot(
            "s",
            t(10, 31, 40),
            t(10, 47, 0),
            "c",
            t(10, 32, 0),
            t(10, 34, 0)
        )
        .await
        .expect("claim after lapse")
    );
}

async fn skipped_runs_are_recorded_finished(db: &Db) {
    let run = NewRun {
        schedule: Some("s".into()),
        store: "shop".into(),
        trigger: Trigger::Schedule,
        update_side: Side::Store,
        fields: FieldSet::BOTH,
        owner: ProcessIdentity::current(),
        scheduled_for: None,
    };
    let id = db
        .record_skipped_run(
            &run,
            t(10, 0, 0),
            "store `shop` already has a run in progress (run 3)",
        )
        .await
        .expect("skipped");
    let row = db.get_run(id).await.expect("get").expect("row");
    assert_eq!(row.status, RunStatus::Skipped);
    assert!(row.finished_at.is_some());
    assert_eq!(row.scheduled_for, Some(t(10, 0, 0)));
    assert_eq!(
        row.error.as_deref(),
        Some("store `shop` already has a run in progress (run 3)")
    );
}

async fn runs_remember_their_slot(db: &Db) {
    let run = NewRun {
        schedule: Some("s".into()),
        store: "shop".into(),
        trigger: Trigger::Schedule,
        update_side: Side::Store,
        fields: FieldSet::PRICE,
        owner: ProcessIdentity::current(),
        scheduled_for: Some(t(12, 0, 0) + TimeDelta::milliseconds(250)),
    };
    let id = db.start_run(&run).await.expect("start");
    let rows = db.list_runs(&RunFilter::default()).await.expect("list");
    assert_eq!(rows[0].id, id);
    assert_eq!(
        rows[0].scheduled_for,
        Some(t(12, 0, 0) + TimeDelta::milliseconds(250))
    );
}
