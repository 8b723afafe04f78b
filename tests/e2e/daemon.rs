//! `invsync daemon` as a process: systemd notifications over a test NOTIFY_SOCKET,
//! /healthz and /metrics, SIGTERM and SIGHUP, kill -9, a database that is away, and two
//! daemons racing on one Postgres.

use crate::support::daemon::{Daemon, http_get, http_get_within, metric};
use crate::support::{runs, unique, wait_for, with_config, write_config};
use invsync_test_support::gate::GatedShop;
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A temp dir with a file accounting export and `stores` file stores.
fn setup(stores: usize, schedules: &str, extra: &str, database: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = format!("{extra}\n");
    for i in 0..stores {
        std::fs::write(
            dir.path().join(format!("s{i}.csv")),
            "sku,name,price,quantity\nA,A,1.50,0\nB,B,2.00,3\n",
        )
        .expect("write");
        config.push_str(&format!(
            "[stores.s{i}]\nkind = \"file\"\npath = \"s{i}.csv\"\n"
        ));
    }
    config.push_str(schedules);
    write_config(
        dir.path(),
        database,
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,3\n",
        &config,
    );
    dir
}

fn schedule(name: &str, store: &str) -> String {
    format!(
        "[[schedules]]\nname = \"{name}\"\nstore = \"{store}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n"
    )
}

/// A daemon on `stores` file stores with the schedule `s0-store`, listening on a port the
/// system picks, started (under `ulimit -n nofile` if given) and past its first run:
/// the folder, the config file, its text, the daemon and its port.
fn running_daemon(
    stores: usize,
    nofile: Option<u64>,
) -> (tempfile::TempDir, PathBuf, String, Daemon, u16) {
    let dir = setup(
        stores,
        &schedule("s0-store", "s0"),
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n",
        "sqlite://invsync.db",
    );
    let config = dir.path().join("invsync.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    let daemon = Daemon::start_with(&config, &[], nofile);
    let port = daemon.http_port();
    wait_for("the first run", Duration::from_secs(30), || {
        count(&runs(&config), |r| r["status"] == "succeeded") == 1
    });
    (dir, config, text, daemon, port)
}

fn count(runs: &Value, pred: impl Fn(&Value) -> bool) -> usize {
    runs.as_array()
        .map(|a| a.iter().filter(|r| pred(r)).count())
        .unwrap_or(0)
}

/// Messages the daemon sent to the notify socket so far.
fn drain(socket: &UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

#[test]
fn notifies_systemd_serves_health_and_metrics_and_stops_on_sigterm() {
    let dir = setup(
        1,
        &schedule("s0-store", "s0"),
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n",
        "sqlite://invsync.db",
    );
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket.set_nonblocking(true).expect("nonblocking");
    let mut daemon = Daemon::start(
        &dir.path().join("invsync.toml"),
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8")),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let port = daemon.http_port();
    let mut messages = Vec::new();
    wait_for("READY=1", Duration::from_secs(30), || {
        drain(&socket, &mut messages);
        messages.iter().any(|m| m.lines().any(|l| l == "READY=1"))
    });
    let config = dir.path().join("invsync.toml");
    wait_for("the start-up run", Duration::from_secs(30), || {
        count(&runs(&config), |r| r["status"] == "succeeded") == 1
    });
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s0.csv")).expect("read"),
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,3\n"
    );
    let r = runs(&config);
    assert_eq!(r[0]["trigger"], "schedule");
    assert_eq!(r[0]["schedule"], "s0-store");
    assert!(r[0]["scheduled_for"].is_string());

    // The watchdog is fed at least twice per WATCHDOG_USEC.
    std::thread::sleep(Duration::from_millis(1500));
    drain(&socket, &mut messages);
    let pings = messages
        .iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    assert!(pings >= 2, "watchdog pings: {pings}; {messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("STATUS=") || m.contains("\nSTATUS=")),
        "{messages:?}"
    );

    let (status, body) = http_get(port, "/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, metrics) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    for want in [
        "invsync_runs_total{store=\"s0\",schedule=\"s0-store\",status=\"succeeded\"} 1",
        "invsync_items_updated_total{store=\"s0\"} 1",
        "invsync_run_duration_seconds_count{store=\"s0\"} 1",
        "invsync_schedule_next_due_timestamp_seconds{schedule=\"s0-store\"}",
    ] {
        assert!(
            metrics.contains(want),
            "`{want}` missing from /metrics:\n{metrics}"
        );
    }

    daemon.stop(Duration::from_secs(30));
    drain(&socket, &mut messages);
    assert!(
        messages
            .iter()
            .any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{messages:?}"
    );
}

#[test]
fn sigterm_mid_run_waits_the_grace_then_records_interrupted_and_exits_0() {
    let dir = setup(
        0,
        "",
        "[daemon]\nlisten = \"off\"\nshutdown_grace = \"1s\"\npoll = \"200ms\"\n",
        "sqlite://invsync.db",
    );
    // The store stalls (a Shopify fake behind a closed gate), holding the run in flight.
    let slow = GatedShop::start(&[("A", "1.00", 3)]);
    let config = dir.path().join("invsync.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        format!(
            "{text}{}{}",
            slow.store_toml("slow"),
            schedule("slow-store", "slow")
        ),
    )
    .expect("write");
    let mut daemon = Daemon::start(&config, &[]);
    wait_for("the run to start", Duration::from_secs(30), || {
        daemon.log().contains("run started") && slow.gate.held() > 0
    });
    assert!(
        !daemon.log().contains("serving /healthz"),
        "`listen = \"off\"` serves nothing:\n{}",
        daemon.log()
    );
    let started = Instant::now();
    daemon.stop(Duration::from_secs(30));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "runs in flight get the grace"
    );
    let r = runs(&config);
    assert_eq!(r[0]["status"], "interrupted", "{r}");
    assert!(r[0]["finished_at"].is_string());
}

#[test]
fn sigterm_lets_a_run_in_flight_finish_within_the_grace() {
    let dir = setup(
        0,
        &schedule("s0-store", "s0"),
        "[daemon]\nlisten = \"off\"\nshutdown_grace = \"30s\"\npoll = \"200ms\"\n",
        "sqlite://invsync.db",
    );
    // The store's reads wait at a gate until the test opens it.
    let s0 = GatedShop::start(&[("A", "1.50", 0), ("B", "2.00", 3)]);
    let config = dir.path().join("invsync.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(&config, format!("{text}{}", s0.store_toml("s0"))).expect("write");
    let mut daemon = Daemon::start(&config, &[]);
    wait_for("the run to start", Duration::from_secs(30), || {
        daemon.log().contains("run started") && s0.gate.held() > 0
    });
    daemon.signal("TERM");
    daemon.wait_log("the drain to begin", Duration::from_secs(30), |log| {
        log.contains("waiting for runs in flight")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        daemon.child.try_wait().expect("wait").is_none(),
        "the daemon waits for its run:\n{}",
        daemon.log()
    );
    s0.open();
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(30)),
        Some(0),
        "log:\n{}",
        daemon.log()
    );
    let r = runs(&config);
    assert_eq!(
        count(&r, |_| true),
        1,
        "no slot was claimed after SIGTERM: {r}"
    );
    assert_eq!(r[0]["status"], "succeeded", "the run finished: {r}");
    assert_eq!(r[0]["counts"]["updated"], 1, "{r}");
    let a = s0.shop.variant("A").expect("A");
    assert_eq!(
        (a.price.to_string().as_str(), a.available),
        ("1.00", 5),
        "its writes went through"
    );
}

#[test]
fn kill_9_mid_run_then_restart_records_interrupted_and_goes_on() {
    let dir = setup(
        1,
        &schedule("s0-store", "s0"),
        "[daemon]\nlisten = \"off\"\npoll = \"200ms\"\n",
        "sqlite://invsync.db",
    );
    let slow = GatedShop::start(&[("A", "1.00", 3)]);
    let config = dir.path().join("invsync.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        format!(
            "{text}{}{}",
            slow.store_toml("slow"),
            schedule("slow-store", "slow")
        ),
    )
    .expect("write");
    let mut daemon = Daemon::start(&config, &[]);
    daemon.wait_log("both runs to start", Duration::from_secs(30), |log| {
        log.matches("run started").count() >= 2
    });
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10));
    // Restart without the blocking store: the dead run is recovered, the schedules go on.
    std::fs::write(&config, text.clone()).expect("write");
    let _daemon = Daemon::start(&config, &[]);
    wait_for("recovery", Duration::from_secs(30), || {
        let r = runs(&config);
        count(&r, |r| r["store"] == "slow" && r["status"] == "interrupted") == 1
            && count(&r, |r| r["status"] == "running") == 0
    });
    let r = runs(&config);
    let slow = r
        .as_array()
        .and_then(|a| a.iter().find(|r| r["store"] == "slow"))
        .expect("the slow run");
    assert!(
        slow["error"]
            .as_str()
            .is_some_and(|e| e.contains("no longer running")),
        "{slow}"
    );
}

/// Issue 13, item 1: a daemon starting on the remains of a big run that died with
/// hundreds of thousands of writes on record serves /healthz and obeys SIGTERM while it
/// recovers that run; a restart finishes the recovery, with counts that match the items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovering_a_huge_dead_run_never_blocks_healthz_or_sigterm() {
    const WRITES: i64 = 200_000;
    const RECORDED: i64 = WRITES - 250;
    let pg = invsync_test_support::pg::fresh_database().await;
    let dir = setup(
        1,
        &schedule("s0-store", "s0"),
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n",
        pg.url(),
    );
    let config = dir.path().join("invsync.toml");
    let migrated = with_config(&config, &["migrate"])
        .output()
        .expect("migrate");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    // A run of another host whose heartbeat stopped an hour ago, killed while its last batch
    // was in flight: every write it sent is an intent, all but the last batch are items.
    let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
    let dead: i64 = sqlx::query_scalar(
        "INSERT INTO sync_runs (store, trigger, update_side, fields, heartbeat_at, owner_host, owner_pid) \
         VALUES ('s0', 'manual', 'store', 'quantity', now() - interval '1 hour', 'elsewhere', 1) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("the dead run");
    sqlx::query(
        "INSERT INTO sync_write_intents (run_id, key, sku, field, old_value, new_value) \
         SELECT $1, 'invsync-run-' || $1 || '-change-' || g, 'SKU-' || g, 'quantity', '1', '2' \
         FROM generate_series(1, $2) g",
    )
    .bind(dead)
    .bind(WRITES)
    .execute(&pool)
    .await
    .expect("intents");
    sqlx::query(
        "INSERT INTO sync_run_items (run_id, sku, field, old_value, new_value, outcome) \
         SELECT $1, 'SKU-' || g, 'quantity', '1', '2', 'updated' FROM generate_series(1, $2) g",
    )
    .bind(dead)
    .bind(RECORDED)
    .execute(&pool)
    .await
    .expect("items");

    let mut daemon = Daemon::start(&config, &[]);
    let port = tokio::task::block_in_place(|| daemon.http_port());
    let (status, _) = tokio::task::block_in_place(|| http_get(port, "/healthz"));
    assert_ne!(status, 0, "/healthz answers: {}", daemon.log());
    daemon.stop(Duration::from_secs(30));

    // The next start goes on with whatever is left.
    let mut daemon = Daemon::start(&config, &[]);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_write_intents")
            .fetch_one(&pool)
            .await
            .expect("intents");
        let (status, updated, failed): (String, i64, i64) =
            sqlx::query_as("SELECT status, updated, failed FROM sync_runs WHERE id = $1")
                .bind(dead)
                .fetch_one(&pool)
                .await
                .expect("the dead run");
        if left == 0 && failed > 0 {
            assert_eq!(
                (status.as_str(), updated, failed),
                ("interrupted", RECORDED, WRITES - RECORDED),
                "counted from its items"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "recovery never finished: {}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    daemon.stop(Duration::from_secs(30));
    pool.close().await;
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one_then_applies_a_fixed_one() {
    let (_dir, config, good, daemon, port) = running_daemon(2, None);

    // Two mistakes: an interval below the minimum and a store that does not exist.
    std::fs::write(
        &config,
        format!(
            "{good}{}{}",
            schedule("bad", "s1").replace("15m", "5m"),
            schedule("worse", "nowhere")
        ),
    )
    .expect("write");
    daemon.signal("HUP");
    daemon.wait_log(
        "both rejections in the log",
        Duration::from_secs(30),
        |log| log.matches("config reload rejected").count() >= 2,
    );
    for key in ["schedules[1].every", "schedules[2].store"] {
        assert!(
            daemon
                .log()
                .lines()
                .any(|l| l.contains("config reload rejected") && l.contains(key)),
            "every error is logged ({key}):\n{}",
            daemon.log()
        );
    }
    // Issue 12, item 5: the daemon works on the previous config, so it stays healthy (a
    // liveness probe must not restart it into the broken file); the body says why.
    let (status, body) = http_get(port, "/healthz");
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).expect("a JSON body when there is news");
    assert_eq!(json["status"], "ok", "{body}");
    let warning = json["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("the last config reload failed")
            && warning.contains("schedules[1].every")
            && warning.contains("schedules[2].store")
            && warning.contains("running on the config loaded at"),
        "{body}"
    );
    assert_eq!(json["config"]["last_reload_successful"], false, "{body}");
    assert!(json["config"]["loaded_at"].is_string(), "{body}");
    assert!(json["config"]["last_reload_at"].is_string(), "{body}");
    let (_, page) = http_get(port, "/metrics");
    assert_eq!(
        metric(&page, "invsync_config_last_reload_successful"),
        Some(0.0),
        "{page}"
    );
    let loaded_at = metric(
        &page,
        "invsync_config_last_reload_success_timestamp_seconds",
    )
    .expect("the time of the config in use");
    assert!(loaded_at > 1.7e9, "{loaded_at}");

    std::fs::write(&config, format!("{good}{}", schedule("s1-store", "s1"))).expect("write");
    daemon.signal("HUP");
    wait_for("the added schedule to run", Duration::from_secs(30), || {
        count(&runs(&config), |r| r["schedule"] == "s1-store") == 1
    });
    assert_eq!(
        count(&runs(&config), |r| r["schedule"] == "s0-store"),
        1,
        "the old schedule was not disturbed"
    );
    let (status, body) = http_get(port, "/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (_, page) = http_get(port, "/metrics");
    assert_eq!(
        metric(&page, "invsync_config_last_reload_successful"),
        Some(1.0),
        "{page}"
    );
    assert!(
        metric(
            &page,
            "invsync_config_last_reload_success_timestamp_seconds"
        )
        .is_some_and(|t| t >= loaded_at),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_on_one_postgres_run_each_slot_once() {
    let pg = invsync_test_support::pg::fresh_database().await;
    let n = 20;
    let schedules: String = (0..n)
        .map(|i| schedule(&format!("s{i}-store"), &format!("s{i}")))
        .collect();
    let dir = setup(
        n,
        &schedules,
        "[daemon]\nlisten = \"off\"\npoll = \"100ms\"\n",
        pg.url(),
    );
    let config = dir.path().join("invsync.toml");
    let a = Daemon::start(&config, &[]);
    let b = Daemon::start(&config, &[]);
    let config1 = config.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the first slots", Duration::from_secs(60), move || {
            count(&runs(&config1), |r| r["status"] == "succeeded") == n
        })
    })
    .await
    .expect("wait");
    // The next slot of every schedule falls due at once, while both daemons watch.
    let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
    sqlx::query("UPDATE sync_schedules SET next_due_at = now()")
        .execute(&pool)
        .await
        .expect("due now");
    let config2 = config.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the second slots", Duration::from_secs(60), move || {
            count(&runs(&config2), |r| r["status"] == "succeeded") == 2 * n
        })
    })
    .await
    .expect("wait");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = runs(&config);
    for i in 0..n {
        assert_eq!(
            count(&r, |run| run["schedule"] == format!("s{i}-store").as_str()),
            2,
            "s{i}: exactly one run per slot\n{r}"
        );
    }
    let owners: std::collections::HashSet<String> = r
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|run| run["owner_pid"].as_u64())
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        owners.len(),
        2,
        "both daemons took slots: {owners:?}\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_away_blocks_ready_and_shows_in_healthz() {
    let admin = invsync_test_support::pg::admin_url();
    let name = format!("invsync_away_{}", unique());
    let url = admin.replacen("/postgres", &format!("/{name}"), 1);
    let dir = setup(
        1,
        &schedule("s0-store", "s0"),
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n",
        &url,
    );
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket.set_nonblocking(true).expect("nonblocking");
    let mut daemon = Daemon::start(
        &dir.path().join("invsync.toml"),
        &[("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8"))],
    );
    let mut messages = Vec::new();
    let log_has = |d: &Daemon, s: &str| d.log().contains(s);
    tokio::time::sleep(Duration::from_secs(2)).await;
    drain(&socket, &mut messages);
    assert!(
        !messages.iter().any(|m| m.contains("READY=1")),
        "no READY without a database: {messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("STATUS=waiting for the database")),
        "{messages:?}"
    );
    assert!(log_has(&daemon, "database not ready"), "{}", daemon.log());

    let pool = sqlx::PgPool::connect(&admin).await.expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&pool)
        .await
        .expect("create");
    let socket_ref = &socket;
    let mut ready = false;
    for _ in 0..300 {
        drain(socket_ref, &mut messages);
        if messages.iter().any(|m| m.lines().any(|l| l == "READY=1")) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "READY once the database is there: {messages:?}\n{}",
        daemon.log()
    );
    let port = daemon.http_port();
    let mut healthy = false;
    for _ in 0..100 {
        if tokio::task::spawn_blocking(move || http_get(port, "/healthz").0)
            .await
            .expect("get")
            == 200
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy);

    // The database goes away under the running daemon.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{name}\" WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .expect("drop");
    let (status, body) = tokio::task::spawn_blocking(move || http_get(port, "/healthz"))
        .await
        .expect("get");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("database unreachable"), "{body}");
    daemon.stop(Duration::from_secs(30));
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_mid_run_records_the_run_when_the_database_returns() {
    let pg = invsync_test_support::pg::fresh_database().await;
    // The store's catalog read waits at a gate while the database goes away, then goes
    // on when the test opens it. (A WooCommerce store syncing prices: after its catalog
    // read, nothing of the run needs the database until the record. A FIFO as the
    // accounting file did this once; file connections refuse FIFOs now.)
    let woo = invsync_test_support::woocommerce::WooFake::new(Default::default());
    woo.insert(invsync_test_support::woocommerce::WooProduct::simple(
        1, "A", "1.50", 5,
    ));
    woo.insert(invsync_test_support::woocommerce::WooProduct::simple(
        2, "B", "2.00", 3,
    ));
    let gate = invsync_test_support::gate::Gate::closed();
    let server = invsync_test_support::fake::serve(gate.layer(woo.router())).await;
    let dir = setup(
        0,
        &schedule("s0-store", "s0").replace("[\"price\", \"quantity\"]", "[\"price\"]"),
        &format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n\
             [stores.s0]\nkind = \"woocommerce\"\nurl = \"{}\"\nconsumer_key = \"ck_test\"\n\
             consumer_secret = \"cs_test\"\ntimeout = \"1h\"\n",
            server.base_url()
        ),
        pg.url(),
    );
    let config = dir.path().join("invsync.toml");
    let mut daemon = Daemon::start(&config, &[]);
    let port = daemon.http_port();
    let started = {
        let log = daemon.log.clone();
        let gate = gate.clone();
        move || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("run started")
                && gate.held() > 0
        }
    };
    tokio::task::spawn_blocking(move || {
        wait_for("the run to start", Duration::from_secs(30), started)
    })
    .await
    .expect("wait");

    // The database stops taking connections, and the daemon's are cut.
    let admin = sqlx::PgPool::connect(&invsync_test_support::pg::admin_url())
        .await
        .expect("admin");
    let name = pg.name().to_owned();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
    )))
    .execute(&admin)
    .await
    .expect("block");
    // Connections being set up while we block are cut too.
    for _ in 0..5 {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(&name)
            .execute(&admin)
            .await
            .expect("terminate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The run goes on: it reads the catalog, then cannot record its writes before sending
    // them, so it sends none (ADR 0016: never send a write that is not on record).
    gate.open();
    tokio::task::spawn_blocking(move || {
        wait_for(
            "the health endpoint to report the outage",
            Duration::from_secs(60),
            || {
                let (status, body) = http_get(port, "/healthz");
                status == 503
                    && body.contains("database unreachable")
                    && body.contains("wait for the database to be recorded")
            },
        )
    })
    .await
    .expect("wait");

    // The database returns: the daemon writes the run's record.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"
    )))
    .execute(&admin)
    .await
    .expect("unblock");
    let config2 = config.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            let r = runs(&config2);
            if count(&r, |run| run["store"] == "s0" && run["status"] != "running") == 1 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    })
    .await
    .expect("wait");
    assert!(
        recorded,
        "the run's record was not written; runs: {}\nlog:\n{}",
        runs(&config),
        daemon.log()
    );
    let r = runs(&config);
    let run = r
        .as_array()
        .and_then(|a| a.iter().find(|run| run["store"] == "s0"))
        .cloned()
        .expect("the run");
    // Before issue 13 (item 4) the write went ahead unrecorded and the run `succeeded`;
    // now the run stops writing and says why, and that outcome is recorded late.
    assert_eq!(
        run["status"], "failed",
        "the real outcome, recorded late: {run}"
    );
    assert_eq!(run["counts"]["updated"], 0, "{run}");
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("stopped writing") && e.contains("unreachable")),
        "{run}"
    );
    let (_, _, a) = woo.find_sku("A").expect("A");
    assert_eq!(
        a.regular_price.parse::<rust_decimal::Decimal>().ok(),
        "1.50".parse::<rust_decimal::Decimal>().ok(),
        "no write was sent while it could not be recorded"
    );
    for said in [
        "run outcome waits for the database",
        "recorded a run outcome that had waited for the database",
    ] {
        assert!(
            daemon.log().contains(said),
            "the log says what happened (`{said}`):\n{}",
            daemon.log()
        );
    }
    daemon.stop(Duration::from_secs(30));
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_api_calls_and_throttles_by_connection() {
    use invsync_test_support::woocommerce::{Fault, WooFake, WooOptions, WooProduct};
    let fake = WooFake::new(WooOptions {
        consumer_key: "ck_daemon".into(),
        consumer_secret: "cs_daemon".into(),
        ..WooOptions::default()
    });
    fake.insert(WooProduct::simple(1, "A", "1.50", 0));
    fake.insert(WooProduct::simple(2, "B", "2.00", 3));
    // The store throttles the first request; the connector waits and asks again.
    fake.push_fault(Fault {
        status: 429,
        retry_after: Some(1),
        delay: None,
    });
    let server = invsync_test_support::fake::serve(fake.router()).await;
    let dir = setup(
        0,
        &schedule("woo-store", "woo"),
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n",
        "sqlite://invsync.db",
    );
    let config = dir.path().join("invsync.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        format!(
            "{text}[stores.woo]\nkind = \"woocommerce\"\nurl = \"{}\"\nconsumer_key = \"ck_daemon\"\nconsumer_secret = \"cs_daemon\"\n",
            server.base_url()
        ),
    )
    .expect("write");
    let mut daemon = Daemon::start(&config, &[]);
    let port = daemon.http_port();
    let config1 = config.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the scheduled run", Duration::from_secs(60), || {
            count(&runs(&config1), |r| r["status"] == "succeeded") == 1
        })
    })
    .await
    .expect("wait");
    let calls = fake.calls().len();
    let (status, metrics) = tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
        .await
        .expect("get");
    assert_eq!(status, 200);
    let value = |name: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{connection=\"woo\"}} ")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(
        value("invsync_api_calls_total"),
        Some(calls as f64),
        "one call counted per request the store saw ({calls}):\n{metrics}"
    );
    assert_eq!(
        value("invsync_api_throttles_total"),
        Some(1.0),
        "the 429 is counted:\n{metrics}"
    );
    assert!(
        metrics.contains(
            "invsync_runs_total{store=\"woo\",schedule=\"woo-store\",status=\"succeeded\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("cs_daemon"),
        "no secret in /metrics:\n{metrics}"
    );
    daemon.stop(Duration::from_secs(30));
}

/// Issue 13, item 3: 1,100 idle connections against a daemon limited to 1,024
/// descriptors used to stop /healthz, break SIGHUP ("Too many open files") and fail a
/// run that could not open its CSV. The listener now caps its connections below the
/// descriptor limit and makes room by closing idle ones.
#[test]
fn eleven_hundred_idle_connections_leave_healthz_reloads_and_runs_working() {
    // The test itself holds 1,100 sockets.
    rlimit::increase_nofile_limit(4096).expect("raise this test's descriptor limit");
    let (_dir, config, good, daemon, port) = running_daemon(2, Some(1024));

    // Connections that never send a byte, more than the daemon has descriptors.
    let idle: Vec<std::net::TcpStream> = (0..1100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let answer = http_get_within(port, "/healthz", Duration::from_secs(2));
    assert!(
        matches!(&answer, Some((200, body)) if body.trim() == "ok"),
        "/healthz within 2 s with 1,100 idle connections open: {answer:?}\n{}",
        daemon.log()
    );

    // A reload (it opens the config file) adds a schedule whose run opens its CSV files.
    std::fs::write(&config, format!("{good}{}", schedule("s1-store", "s1"))).expect("write");
    daemon.signal("HUP");
    wait_for("the added schedule's run", Duration::from_secs(30), || {
        count(&runs(&config), |r| {
            r["schedule"] == "s1-store" && r["status"] == "succeeded"
        }) == 1
    });
    let log = daemon.log();
    assert!(log.contains("configuration reloaded"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    // The descriptor budget is in the log: the limit, the reserve, the connection cap.
    assert!(
        log.lines()
            .any(|l| l.contains("descriptors") && l.contains("nofile=1024")),
        "{log}"
    );
    drop(idle);
}

/// Issue 13, item 3: a connection must deliver its request head within
/// `header_timeout` of being ready for one: one that sends nothing, one that sends half a
/// head, and a kept-alive one after its answer are all closed.
#[test]
fn connections_that_send_nothing_half_a_request_or_idle_after_one_are_closed() {
    use std::io::{Read, Write};
    let dir = setup(
        0,
        "",
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\nheader_timeout = \"1s\"\n",
        "sqlite://invsync.db",
    );
    let daemon = Daemon::start(&dir.path().join("invsync.toml"), &[]);
    let port = daemon.http_port();
    let open = || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    };
    let silent = open();
    let mut half = open();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .expect("half a head");
    let mut kept = open();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("a request");
    let started = Instant::now();
    for (what, mut s) in [
        ("silent", silent),
        ("half a head", half),
        ("kept alive", kept),
    ] {
        let mut got = Vec::new();
        let end = s.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got);
        // EOF or a reset: closed. A read timeout: still open.
        let closed = end.as_ref().map_or_else(
            |e| {
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            },
            |_| true,
        );
        assert!(
            closed,
            "{what}: not closed: {end:?} after {:?}",
            started.elapsed()
        );
        if what == "kept alive" {
            assert!(text.starts_with("HTTP/1.1 200"), "{what}: {text}");
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "closed after about 1 s, not {took:?}"
    );
}

/// Issue 13, item 10: `listen` on an address other hosts can reach needs HTTPS and a
/// password; the error names the key and the file.
#[test]
fn a_listener_other_hosts_can_reach_needs_tls_and_a_password() {
    let dir = setup(
        0,
        "",
        "[daemon]\nlisten = \"0.0.0.0:9187\"\n",
        "sqlite://invsync.db",
    );
    let config = dir.path().join("invsync.toml");
    let out = with_config(&config, &["config", "check"])
        .output()
        .expect("config check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for said in [
        "daemon.listen",
        "invsync.toml",
        "daemon.tls_cert",
        "daemon.tls_key",
        "daemon.password",
    ] {
        assert!(stderr.contains(said), "`{said}` in:\n{stderr}");
    }
    let mut daemon = Daemon::start(&config, &[]);
    assert_eq!(daemon.wait_exit(Duration::from_secs(30)), Some(2));
    assert!(daemon.log().contains("daemon.listen"), "{}", daemon.log());
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// Issue 13, item 10: HTTPS and a password, on loopback and on every interface (reached
/// over loopback): /healthz answers anyone (without the reasons), /metrics and everything
/// else only with the password; plain HTTP is not served.
#[tokio::test(flavor = "multi_thread")]
async fn tls_and_a_password_guard_everything_but_healthz() {
    for listen in ["127.0.0.1:0", "0.0.0.0:0"] {
        let dir = setup(
            1,
            &schedule("s0-store", "s0"),
            &format!(
                "[daemon]\nlisten = \"{listen}\"\npoll = \"200ms\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\npassword = {{ file = \"password.txt\" }}\n"
            ),
            "sqlite://invsync.db",
        );
        let (cert, key) = self_signed();
        std::fs::write(dir.path().join("cert.pem"), &cert).expect("cert");
        std::fs::write(dir.path().join("key.pem"), &key).expect("key");
        let password = "correct horse battery staple";
        std::fs::write(dir.path().join("password.txt"), format!("{password}\n")).expect("password");
        let config = dir.path().join("invsync.toml");
        let mut daemon = Daemon::start(&config, &[]);
        let log = daemon.log.clone();
        let port = tokio::task::spawn_blocking({
            let log = log.clone();
            move || Daemon::port_in(&log, Duration::from_secs(60))
        })
        .await
        .expect("port");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("pem"))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let url = |path: &str| format!("https://127.0.0.1:{port}{path}");

        let r = client.get(url("/healthz")).send().await.expect("healthz");
        assert_eq!(r.status(), 200, "{listen}");
        assert_eq!(r.text().await.expect("body").trim(), "ok");

        for path in ["/metrics", "/", "/nowhere"] {
            let r = client.get(url(path)).send().await.expect("get");
            assert_eq!(r.status(), 401, "{listen} {path} without the password");
            let challenge = r
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(challenge.starts_with("Basic realm="), "{challenge}");
        }
        let r = client
            .get(url("/metrics"))
            .basic_auth("prometheus", Some("not the password"))
            .send()
            .await
            .expect("metrics");
        assert_eq!(r.status(), 401, "{listen}: a wrong password");
        let r = client
            .get(url("/metrics"))
            .basic_auth("prometheus", Some(password))
            .send()
            .await
            .expect("metrics");
        assert_eq!(r.status(), 200, "{listen}");
        let page = r.text().await.expect("page");
        assert!(
            page.contains("invsync_config_last_reload_successful"),
            "{page}"
        );

        // Plain HTTP on the HTTPS port gets no answer.
        let plain = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(
            plain.as_ref().map(|r| r.status() != 200).unwrap_or(true),
            "{plain:?}"
        );

        if listen.starts_with("0.0.0.0") {
            // A reload to a loopback address without a password is valid, but the
            // address waits for a restart: the listener on every interface keeps its
            // password.
            let text = std::fs::read_to_string(&config).expect("read");
            let text = text
                .replace(listen, "127.0.0.1:0")
                .replace("password = { file = \"password.txt\" }\n", "");
            std::fs::write(&config, text).expect("write");
            daemon.signal("HUP");
            let log = log.clone();
            tokio::task::spawn_blocking(move || {
                wait_for("the reload", Duration::from_secs(30), || {
                    std::fs::read_to_string(&log)
                        .unwrap_or_default()
                        .contains("`daemon.password` removed")
                })
            })
            .await
            .expect("wait");
            let r = client.get(url("/metrics")).send().await.expect("metrics");
            assert_eq!(r.status(), 401, "still guarded");
            let r = client
                .get(url("/metrics"))
                .basic_auth("prometheus", Some(password))
                .send()
                .await
                .expect("metrics");
            assert_eq!(r.status(), 200, "by the previous password");
        }

        daemon.signal("TERM");
        let code = tokio::task::spawn_blocking(move || {
            let code = daemon.wait_exit(Duration::from_secs(30));
            (code, daemon.log())
        })
        .await
        .expect("exit");
        assert_eq!(code.0, Some(0), "{}", code.1);
        assert!(
            code.1.contains("https"),
            "the log says the endpoint is HTTPS:\n{}",
            code.1
        );
        assert!(!code.1.contains(password), "the password is never logged");
    }
}

/// Issue 13, item 10: a SIGHUP that changes keys which need a restart names each one and
/// does not claim to have applied them; keys that did not change are not mentioned; the
/// rest of the file is applied.
#[test]
fn sighup_names_each_key_that_needs_a_restart_and_applies_the_rest() {
    let (_dir, config, good, daemon, port) = running_daemon(2, None);

    // Only the address changes.
    let moved = good.replace("127.0.0.1:0", "127.0.0.1:1");
    std::fs::write(&config, &moved).expect("write");
    daemon.signal("HUP");
    daemon.wait_log("the restart warning", Duration::from_secs(30), |log| {
        log.contains("`daemon.listen` changed; restart to apply")
    });
    std::thread::sleep(Duration::from_millis(300));
    let log = daemon.log();
    assert!(
        !log.contains("configuration reloaded"),
        "nothing was applied, so nothing claims it was:\n{log}"
    );
    assert!(
        log.contains("nothing else changed"),
        "the log says nothing was applied:\n{log}"
    );
    assert!(
        !log.contains("database.url"),
        "unchanged keys are not named:\n{log}"
    );
    let (status, body) = http_get(port, "/healthz");
    assert_eq!(status, 200, "still served on the old address: {body}");
    assert!(
        body.contains("daemon.listen") && body.contains("restart"),
        "/healthz says a restart is pending: {body}"
    );

    // Then a schedule is added too: that applies, and the address still waits.
    std::fs::write(&config, format!("{moved}{}", schedule("s1-store", "s1"))).expect("write");
    daemon.signal("HUP");
    wait_for("the added schedule's run", Duration::from_secs(30), || {
        count(&runs(&config), |r| r["schedule"] == "s1-store") == 1
    });
    let log = daemon.log();
    assert!(log.contains("configuration reloaded"), "{log}");
    assert_eq!(
        log.matches("`daemon.listen` changed; restart to apply")
            .count(),
        2,
        "{log}"
    );
    assert!(!log.contains("database.url"), "{log}");
}
