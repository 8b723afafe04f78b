//! `/healthz` over real HTTP on loopback, against a real database: which schedules count as
//! overdue (more than their interval past due and not running), the reasons the daemon
//! itself reports (run outcomes waiting for the database) and its warnings (a rejected
//! reload, a key waiting for a restart), which leave it healthy. The
//! end-to-end tests (tests/e2e_daemon.rs) cover `ok`, an unreachable database and
//! `/metrics` through the binary.

use chrono::TimeDelta;
use invsync_config::{Config, LoadOptions};
use invsync_daemon::Health;
use invsync_daemon::http::{EndpointState, router};
use invsync_store::{Backend, Db, PoolOptions};
use std::sync::{Arc, RwLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = "[accounting]\nkind = \"file\"\npath = \"a.csv\"\n\
    [stores.shop]\nkind = \"file\"\npath = \"s.csv\"\n\
    [[schedules]]\nname = \"late\"\nstore = \"shop\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n\
    [[schedules]]\nname = \"fresh\"\nstore = \"shop\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n\
    [[schedules]]\nname = \"busy\"\nstore = \"shop\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n";

async fn get(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("send");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the answer");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn reasons(body: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    json["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() { super::$name(invsync_store::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() { super::$name(invsync_store::Backend::Postgres).await }
        }
    )*};
}

both!(healthz_reports_overdue_schedules_and_the_daemons_own_problems);

async fn healthz_reports_overdue_schedules_and_the_daemons_own_problems(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = match backend {
        Backend::Postgres => Some(invsync_test_support::pg::fresh_database().await),
        Backend::Sqlite => None,
    };
    let url = match &pg {
        Some(pg) => pg.url().to_owned(),
        None => format!("sqlite://{}/invsync.db", dir.path().display()),
    };
    let db = Db::connect(&url, &PoolOptions::default())
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let path = dir.path().join("invsync.toml");
    std::fs::write(&path, CONFIG).expect("write");
    let config: Arc<Config> = Arc::new(
        invsync_config::load_with(
            &path,
            &LoadOptions {
                env: Some(Default::default()),
                now: None,
            },
        )
        .expect("valid config"),
    );

    // Judged by the database's clock, as the endpoint does.
    let now = db.now().await.expect("now");
    let hour = TimeDelta::hours(1);
    // Due an hour ago, every 15 minutes, nothing running: overdue.
    db.insert_schedule("late", "shop", "every 15m", now - hour)
        .await
        .expect("late");
    // Due ten minutes ago: late, but by less than its interval.
    db.insert_schedule("fresh", "shop", "every 15m", now - TimeDelta::minutes(10))
        .await
        .expect("fresh");
    // Its due time is an hour past too, but a run holds its lease: running, not overdue.
    db.insert_schedule("busy", "shop", "every 15m", now - hour)
        .await
        .expect("busy");
    assert!(
        db.claim_slot(
            "busy",
            now - hour,
            now - hour,
            "a-daemon",
            now,
            now + TimeDelta::minutes(2)
        )
        .await
        .expect("claim")
    );

    let health = Arc::new(Health::default());
    let server = invsync_test_support::fake::serve(router(EndpointState {
        db: db.clone(),
        config: Arc::new(RwLock::new(config)),
        health: health.clone(),
        metrics: None,
    }))
    .await;
    let base = server.base_url();

    let (status, body) = get(&base, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let r = reasons(&body);
    assert_eq!(r.len(), 1, "only `late` is overdue: {r:?}");
    assert!(
        r[0].contains("schedule `late` is overdue") && r[0].contains("more than its interval"),
        "{r:?}"
    );

    // The run of `busy` ends (its lease is released): now it is overdue as well.
    db.release_slot("busy", "a-daemon", None, now)
        .await
        .expect("release");
    let (status, body) = get(&base, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let r = reasons(&body);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r.iter().any(|r| r.contains("schedule `busy` is overdue")),
        "{r:?}"
    );

    // Both run again: healthy.
    for name in ["late", "busy"] {
        db.update_schedule(name, "shop", "every 15m", now + TimeDelta::minutes(15))
            .await
            .expect("on time again");
    }
    let (status, body) = get(&base, "/healthz").await;
    assert_eq!((status, body.trim()), (200, "ok"));

    // What the daemon knows itself: outcomes waiting for the database.
    health.set_pending_records(2);
    let (status, body) = get(&base, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let r = reasons(&body);
    assert!(
        r.iter()
            .any(|r| r.contains("2 run outcome(s) wait for the database")),
        "{r:?}"
    );
    health.set_pending_records(0);

    // A rejected reload leaves the daemon working on the previous config: healthy, and
    // the answer says what happened, since when the old config is in use, and why.
    let loaded = chrono::Utc::now() - TimeDelta::minutes(5);
    health.config_loaded(loaded, Vec::new());
    health.config_reload_failed(
        chrono::Utc::now(),
        vec!["invsync.toml: schedules[1].every: below 15m".into()],
    );
    let (status, body) = get(&base, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let warning = json["warnings"][0].as_str().expect("a warning");
    assert!(
        warning.contains("the last config reload failed")
            && warning.contains(&loaded.format("%Y-%m-%d %H:%M:%SZ").to_string())
            && warning.contains("schedules[1].every: below 15m"),
        "{body}"
    );
    assert_eq!(json["config"]["last_reload_successful"], false);
    assert_eq!(
        json["config"]["last_reload_errors"][0],
        "invsync.toml: schedules[1].every: below 15m"
    );
    // With a reason as well, the answer is 503 and carries both.
    health.set_pending_records(1);
    let (status, body) = get(&base, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["reasons"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(1), "{body}");
    health.set_pending_records(0);
    // A key that waits for a restart is a warning too; a good reload clears the failure.
    health.config_loaded(chrono::Utc::now(), vec!["daemon.listen".into()]);
    let (status, body) = get(&base, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("`daemon.listen` changed in the config; restart to apply"),
        "{body}"
    );
    assert!(!body.contains("reload failed"), "{body}");
    health.config_loaded(chrono::Utc::now(), Vec::new());
    assert_eq!(get(&base, "/healthz").await, (200, "ok\n".to_owned()));

    // Without a recorder, /metrics says so rather than serving an empty page.
    assert_eq!(get(&base, "/metrics").await.0, 404);
    server.stop().await;
    db.close().await;
}
