//! `web_connector_files` (migration 0011): the .qwc's stable ids and the one-session-per-
//! company-file lease, on both backends.

use invsync_store::{Db, PoolOptions};
use invsync_test_support::pg;
use std::time::Duration;

async fn both() -> Vec<(Db, Box<dyn std::any::Any>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Db::connect(
        &format!("sqlite://{}/t.db", dir.path().display()),
        &PoolOptions::default(),
    )
    .await
    .expect("sqlite");
    sqlite.migrate().await.expect("migrate sqlite");
    let database = pg::fresh_database().await;
    let postgres = Db::connect(database.url(), &PoolOptions::default())
        .await
        .expect("postgres");
    postgres.migrate().await.expect("migrate postgres");
    vec![(sqlite, Box::new(dir)), (postgres, Box::new(database))]
}

#[tokio::test]
async fn ids_are_made_once_and_kept() {
    for (db, _dir) in both().await {
        let first = db.web_connector_file("shop-qb").await.expect("row");
        let again = db.web_connector_file("shop-qb").await.expect("row");
        assert_eq!(
            (&first.owner_id, &first.file_id),
            (&again.owner_id, &again.file_id)
        );
        assert_ne!(first.owner_id, first.file_id);
        assert_eq!(first.owner_id.len(), 38, "{}", first.owner_id);
        assert!(first.owner_id.starts_with('{') && first.owner_id.ends_with('}'));
        let other = db.web_connector_file("other").await.expect("row");
        assert_ne!(other.owner_id, first.owner_id);
    }
}

#[tokio::test]
async fn one_session_per_company_file_until_it_ends_or_expires() {
    for (db, _dir) in both().await {
        let long = Duration::from_secs(600);
        assert!(
            db.claim_web_connector_session("qb", "t1", "a", long)
                .await
                .expect("claim")
        );
        assert!(
            !db.claim_web_connector_session("qb", "t2", "b", long)
                .await
                .expect("claim")
        );
        // Another company file is free.
        assert!(
            db.claim_web_connector_session("qb2", "t3", "b", long)
                .await
                .expect("claim")
        );
        assert!(
            db.touch_web_connector_session("qb", "t1", long)
                .await
                .expect("touch")
        );
        assert!(
            !db.touch_web_connector_session("qb", "t2", long)
                .await
                .expect("touch")
        );
        db.end_web_connector_session("qb", "t1", Some("0x80040408: could not start"))
            .await
            .expect("end");
        let row = db.web_connector_file("qb").await.expect("row");
        assert_eq!(row.sessions, 1);
        assert!(row.session_owner.is_none());
        assert!(row.last_seen_at.is_some());
        assert_eq!(
            row.last_error.as_deref(),
            Some("0x80040408: could not start")
        );
        // Free again; a session that expires frees it too.
        assert!(
            db.claim_web_connector_session("qb", "t4", "b", Duration::from_millis(1))
                .await
                .expect("claim")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            db.claim_web_connector_session("qb", "t5", "a", long)
                .await
                .expect("claim after expiry")
        );
        // A clean end keeps the last error.
        db.end_web_connector_session("qb", "t5", None)
            .await
            .expect("end");
        let row = db.web_connector_file("qb").await.expect("row");
        assert_eq!(row.sessions, 3);
        assert!(row.last_error.is_some());
    }
}

#[tokio::test]
async fn a_lease_of_a_dead_process_of_this_host_is_freed_others_are_kept() {
    let me = invsync_store::ProcessIdentity::current();
    // A process that has exited: its pid is free (or someone else's, with another marker).
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = invsync_store::ProcessIdentity::of_pid(child.id()).unwrap_or(
        invsync_store::ProcessIdentity {
            host: me.host.clone(),
            pid: child.id(),
            start_marker: "gone".into(),
        },
    );
    child.wait().expect("wait");
    let owner =
        |p: &invsync_store::ProcessIdentity| format!("{}:{}:{}", p.host, p.pid, p.start_marker);
    let long = Duration::from_secs(600);
    for (db, _keep) in both().await {
        for (company, holder, freed) in [
            ("dead", owner(&dead), true),
            ("alive", owner(&me), false),
            (
                "elsewhere",
                format!("another-host:{}:{}", dead.pid, dead.start_marker),
                false,
            ),
            ("garbled", "no-pid-here".to_owned(), false),
        ] {
            assert!(
                db.claim_web_connector_session(company, "t", &holder, long)
                    .await
                    .expect("claim")
            );
            assert_eq!(
                db.release_dead_web_connector_session(company)
                    .await
                    .expect("release"),
                freed,
                "{company}"
            );
            assert_eq!(
                db.claim_web_connector_session(company, "t2", &owner(&me), long)
                    .await
                    .expect("claim"),
                freed,
                "{company}"
            );
        }
        assert!(
            !db.release_dead_web_connector_session("never-seen")
                .await
                .expect("release")
        );
    }
}
