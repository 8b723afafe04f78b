//! End-to-end tests of what happens to a run when its process is stopped or killed, and
//! of the binary against a real Postgres.

use crate::support::{runs, signal, with_config, write_config};
use invsync_test_support::gate::GatedShop;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A minimal config whose store is a Shopify fake behind a closed gate: reading it stalls,
/// which holds a run in its `running` state for as long as a test needs. (A FIFO as a file
/// store's catalog did this once; file connections refuse FIFOs now, issue 13 item 5.)
struct Blocked {
    dir: tempfile::TempDir,
    _shop: GatedShop,
}

impl Blocked {
    fn new() -> Blocked {
        let dir = tempfile::tempdir().expect("tempdir");
        let shop = GatedShop::start(&[("A", "1.00", 3)]);
        write_config(
            dir.path(),
            "sqlite://invsync.db",
            "sku,name,price,quantity\nA,A,1.00,5\n",
            &shop.store_toml("shop"),
        );
        Blocked { dir, _shop: shop }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("invsync.toml")
    }

    fn spawn_sync(&self) -> Child {
        with_config(
            &self.config(),
            &[
                "sync",
                "--store",
                "shop",
                "--update",
                "store",
                "--fields",
                "price,quantity",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
    }

    /// Waits until the run row exists and is `running`.
    fn wait_running(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let db = self.dir.path().join("invsync.db");
            if db.exists() {
                let out = sqlite(&db, "select id, status from sync_runs");
                if out.contains("|running") {
                    return Value::String(out);
                }
            }
            assert!(Instant::now() < deadline, "the run never started");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Reads the SQLite database the way an operator would, without going through invsync
/// (which would recover the run while we look at it).
fn sqlite(db: &Path, sql: &str) -> String {
    // rusqlite is not a dependency; sqlx would need a runtime. The sqlite3 CLI may be
    // absent, so use Python's built-in sqlite3 module, present on every CI image.
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\\n'.join('|'.join(map(str,r)) for r in c.execute(sys.argv[2])))")
        .arg(db)
        .arg(sql)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kill_9_mid_run_leaves_no_run_running() {
    let blocked = Blocked::new();
    let mut child = blocked.spawn_sync();
    blocked.wait_running();
    signal(child.id(), "KILL");
    let _ = child.wait();
    // The next command notices the owner is gone and records the run as interrupted.
    let runs = runs(&blocked.config());
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
    assert!(
        runs[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{runs}"
    );
    assert!(runs[0]["finished_at"].is_string());
}

#[test]
fn sigterm_mid_run_records_an_interrupted_run_and_exits_1() {
    let blocked = Blocked::new();
    let mut child = blocked.spawn_sync();
    blocked.wait_running();
    signal(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "invsync did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    let db = blocked.dir.path().join("invsync.db");
    let row = sqlite(&db, "select status, finished_at is not null from sync_runs");
    assert_eq!(row.trim(), "interrupted|1");
}

/// The migrations on disk for one backend.
fn migrations(backend: &str) -> usize {
    std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend),
    )
    .expect("migrations dir")
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".up.sql"))
    })
    .count()
}

/// `invsync migrate` with this config and environment; its stdout.
fn migrate(config: &Path, env: &[(&str, &str)]) -> String {
    let out = with_config(config, &["migrate"])
        .envs(env.iter().copied())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn migrate_creates_the_run_history_tables_once() {
    let blocked = Blocked::new();
    let first = migrate(&blocked.config(), &[]);
    assert!(
        first.starts_with(&format!(
            "{} migration(s) applied; the sqlite database at ",
            migrations("sqlite")
        )),
        "{first}"
    );
    assert!(first.contains("is up to date"), "{first}");
    let second = migrate(&blocked.config(), &[]);
    assert!(second.starts_with("0 migration(s) applied"), "{second}");
    let tables = sqlite(
        &blocked.dir.path().join("invsync.db"),
        "select name from sqlite_master where type = 'table' order by name",
    );
    for table in ["mappings", "sync_run_items", "sync_runs"] {
        assert!(
            tables.lines().any(|t| t == table),
            "{table} missing: {tables}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_records_runs_in_postgres() {
    let pg = invsync_test_support::pg::fresh_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("accounting.csv"),
        "sku,name,price,quantity\nA,Apple,1.50,5\nB,Banana,0.30,0\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("shop.csv"),
        "sku,name,price,quantity\nA,Apple,1.40,7\nB,Banana,0.30,0\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("invsync.toml"),
        "[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\n",
    )
    .expect("config");
    let run = |args: &[&str]| {
        with_config(&dir.path().join("invsync.toml"), args)
            .env("INVSYNC__DATABASE__URL", pg.url())
            .output()
            .expect("run")
    };
    let env = [("INVSYNC__DATABASE__URL", pg.url())];
    let first = migrate(&dir.path().join("invsync.toml"), &env);
    assert!(
        first.starts_with(&format!(
            "{} migration(s) applied; the postgres database at ",
            migrations("postgres")
        )),
        "{first}"
    );
    let second = migrate(&dir.path().join("invsync.toml"), &env);
    assert!(second.starts_with("0 migration(s) applied"), "{second}");
    let out = run(&[
        "sync",
        "--store",
        "shop",
        "--update",
        "store",
        "--fields",
        "price,quantity",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("shop.csv")).expect("read"),
        "sku,name,price,quantity\nA,Apple,1.50,5\nB,Banana,0.30,0\n"
    );

    // Operators read the history with SQL: check it there, not through invsync.
    let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
    let (status, updated, in_sync, items): (String, i64, i64, i64) = sqlx::query_as(
        "select status, updated, in_sync, (select count(*) from sync_run_items i where i.run_id = r.id) from sync_runs r",
    )
    .fetch_one(&pool)
    .await
    .expect("query");
    assert_eq!(
        (status.as_str(), updated, in_sync, items),
        ("succeeded", 1, 1, 2)
    );
    pool.close().await;
}
