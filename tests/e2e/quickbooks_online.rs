//! End-to-end: the built `invsync` binary with QuickBooks Online as the accounting side
//! (the fake from `invsync-test-support`, served in this test process) and a file store.
//! Each `invsync` process is a separate OS process, so the second one can only know the
//! rotated refresh token from the database the first one stored it in.

use crate::support::{self, report::status_of};
use assert_cmd::Command;
use invsync_test_support::fake::FakeServer;
use invsync_test_support::quickbooks_online::{FakeConfig, QboFake};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Sentinel secrets: none of them may appear in output, logs, run history or the database.
const CLIENT_SECRET: &str = "SENTINEL-client-secret-e2e";
const TOKEN_KEY: &str = "U0VOVElORUwtdG9rZW4ta2V5LWUyZS0zMi1ieXRlcyE=";

struct World {
    /// Runs the fake's server task; lives as long as the test.
    _rt: tokio::runtime::Runtime,
    _server: FakeServer,
    fake: QboFake,
    dir: tempfile::TempDir,
    /// The refresh token the config names (the seed).
    seed: String,
    _pg: Option<invsync_test_support::pg::TestDatabase>,
    /// Everything the processes printed.
    output: Vec<String>,
}

impl World {
    fn new(postgres: bool) -> World {
        World::with_fake(postgres, FakeConfig::default())
    }

    fn with_fake(postgres: bool, fake_config: FakeConfig) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (server, fake) = rt.block_on(QboFake::serve(FakeConfig {
            client_secret: CLIENT_SECRET.into(),
            ..fake_config
        }));
        let pg = postgres.then(|| rt.block_on(invsync_test_support::pg::fresh_database()));
        let dir = tempfile::tempdir().expect("tempdir");
        let seed = fake.issue_refresh_token();
        let base = server.base_url();
        let database = match &pg {
            Some(pg) => pg.url().to_owned(),
            None => "sqlite://var/invsync.db".to_owned(),
        };
        std::fs::write(
            dir.path().join("invsync.toml"),
            format!(
                r#"[database]
url = "{database}"

[inventory]
master = "accounting"

[accounting]
kind = "quickbooks-online"
realm_id = "{realm}"
client_id = "{client_id}"
client_secret = {{ env = "E2E_QBO_CLIENT_SECRET" }}
refresh_token = {{ env = "E2E_QBO_REFRESH_TOKEN" }}
token_key = {{ env = "E2E_QBO_TOKEN_KEY" }}
environment = "sandbox"
base_url = "{base}"
token_url = "{token_url}"
redirect_uri = "https://example.com/callback"

[stores.shop]
kind = "file"
path = "shop.csv"
orders = "shop-orders.csv"
"#,
                realm = fake.config().realm_id,
                client_id = fake.config().client_id,
                token_url = QboFake::token_url(&base),
            ),
        )
        .expect("config");
        // QuickBooks: two inventory items, a service, an inactive item, fractional stock.
        fake.add_inventory_item("MUG-1", "Stoneware mug", "12.50", "10");
        fake.add_inventory_item("MUG-2", "Espresso cup", "14.00", "5");
        fake.add_inventory_item("FAB-1", "Fabric (m)", "8.00", "2.5");
        fake.add_item(
            json!({"Name": "Gift wrap", "Sku": "WRAP", "Type": "Service", "UnitPrice": 2}),
        );
        fake.add_item(json!({"Name": "Old mug", "Sku": "OLD-1", "Type": "Inventory", "TrackQtyOnHand": true, "QtyOnHand": 4, "UnitPrice": 9, "Active": false}));
        // Store order 1001 is already posted as a SalesReceipt; 1002 is not.
        fake.add_document("SalesReceipt", "1001");
        std::fs::write(
            dir.path().join("shop.csv"),
            "sku,name,price,quantity\nMUG-1,Stoneware mug,12.00,3\nMUG-2,Espresso cup,14.00,1\nFAB-1,Fabric,8.00,0\nWRAP,Gift wrap,2.00,0\n",
        )
        .expect("shop");
        std::fs::write(
            dir.path().join("shop-orders.csv"),
            "order,sku,quantity\n1001,MUG-1,2\n1002,MUG-2,1\n",
        )
        .expect("orders");
        World {
            _rt: rt,
            _server: server,
            fake,
            dir,
            seed,
            _pg: pg,
            output: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(self.std_cmd(args))
    }

    /// `invsync ARGS` as a plain process, for running several at once.
    fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = support::with_config(&self.path("invsync.toml"), args);
        cmd.env("E2E_QBO_CLIENT_SECRET", CLIENT_SECRET)
            .env("E2E_QBO_REFRESH_TOKEN", &self.seed)
            .env("E2E_QBO_TOKEN_KEY", TOKEN_KEY)
            .env("INVSYNC_LOG", "debug");
        cmd
    }

    /// Runs `invsync ARGS` (with `stdin`), keeps its output for the leak check, and
    /// returns (exit code, stdout, stderr).
    fn run(&mut self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut cmd = self.cmd(args);
        if let Some(input) = stdin {
            cmd.write_stdin(input.to_owned());
        }
        let out = cmd.output().expect("run invsync");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.output.push(format!("{args:?}\n{stdout}\n{stderr}"));
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    fn json(&mut self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--format", "json"]);
        let (code, stdout, stderr) = self.run(&all, None);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    fn price(&self, sku: &str) -> String {
        let item = self.fake.item_by_sku(sku).expect("item");
        item["UnitPrice"].to_string()
    }

    /// No secret — the client secret, the token key, any token the fake ever issued —
    /// appears in anything the processes printed or in the database file.
    fn assert_no_secret_leaked(&self) {
        let mut secrets = vec![CLIENT_SECRET.to_owned(), TOKEN_KEY.to_owned()];
        secrets.extend(self.fake.issued_tokens());
        let mut haystacks: Vec<(String, Vec<u8>)> = self
            .output
            .iter()
            .map(|o| ("process output".to_owned(), o.clone().into_bytes()))
            .collect();
        for entry in walk(&self.path("var")) {
            let bytes = std::fs::read(&entry).expect("read db file");
            haystacks.push((entry.display().to_string(), bytes));
        }
        for (what, bytes) in &haystacks {
            for secret in &secrets {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a secret leaked into {what}"
                );
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect()
}

const SYNC_STORE: &[&str] = &[
    "sync",
    "--store",
    "shop",
    "--update",
    "store",
    "--fields",
    "price,quantity",
];
const SYNC_ACCOUNTING_PRICE: &[&str] = &[
    "sync",
    "--store",
    "shop",
    "--update",
    "accounting",
    "--fields",
    "price",
];

fn two_processes_share_the_rotated_refresh_token(postgres: bool) {
    let mut w = World::new(postgres);

    // Process 1: QuickBooks → store. It refreshes with the config's token, which Intuit
    // (the fake) replaces and revokes; the new one goes to the database.
    let (code, stdout, stderr) = w.run(SYNC_STORE, None);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        w.read("shop.csv"),
        "sku,name,price,quantity\nMUG-1,Stoneware mug,12.50,10\nMUG-2,Espresso cup,14.00,1\nFAB-1,Fabric,8.00,2\nWRAP,Gift wrap,2.00,0\n",
        "MUG-1's order is posted, so its quantity syncs; MUG-2's is not (in-orders); fabric rounds down; the service is base"
    );
    assert!(stdout.contains("in-orders"), "{stdout}");
    let stats = w.fake.stats();
    assert_eq!(stats.refreshes, 1);
    assert!(
        !w.fake.valid_refresh_tokens().contains(&w.seed),
        "the config's refresh token is revoked now"
    );

    // Process 2: store → QuickBooks (price). Its access token expired in the meantime, so
    // it must refresh — with the rotated token from the database, never the config's.
    w.fake.expire_access_tokens();
    std::fs::write(
        w.path("shop.csv"),
        "sku,name,price,quantity\nMUG-1,Stoneware mug,12.50,10\nMUG-2,Espresso cup,15.25,1\nFAB-1,Fabric,8.00,2\nWRAP,Gift wrap,2.00,0\n",
    )
    .expect("shop");
    let (code, stdout, stderr) = w.run(SYNC_ACCOUNTING_PRICE, None);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(w.price("MUG-2"), "15.25");
    assert_eq!(w.price("MUG-1"), "12.5");
    let stats = w.fake.stats();
    assert_eq!(stats.invalid_grants, 0, "the revoked seed was never sent");
    assert_eq!(stats.refreshes, 2);
    assert!(stats.batches >= 1 && stats.largest_batch <= 30);

    // Run history has both runs, succeeded.
    let runs = w.json(&["runs"]);
    let statuses: Vec<&str> = runs
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, vec!["succeeded", "succeeded"], "{runs}");
    let status = w.json(&["status", "--store", "shop"]);
    let mug2 = status_of(&status, "MUG-2");
    assert_eq!(mug2["status"], "in-orders", "{mug2}");
    w.assert_no_secret_leaked();
}

#[test]
fn a_second_process_starts_from_the_rotated_token_sqlite() {
    two_processes_share_the_rotated_refresh_token(false);
}

#[test]
fn a_second_process_starts_from_the_rotated_token_postgres() {
    two_processes_share_the_rotated_refresh_token(true);
}

/// Two processes on one database need a token at the same time. The refresh runs under
/// the token row's lock: the second process waits for the first one's refresh and uses
/// what it stored. Without the lock it would refresh with the same (then revoked) refresh
/// token and get `invalid_grant`.
fn two_processes_at_once_refresh_once(postgres: bool) {
    let mut w = World::with_fake(
        postgres,
        FakeConfig {
            // Long enough that the second process reaches the lock while the first one's
            // refresh is still in flight.
            token_latency: Duration::from_secs(3),
            ..FakeConfig::default()
        },
    );
    let args = [SYNC_STORE, &["--dry-run"]].concat();
    let spawn = |w: &World| {
        w.std_cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn invsync")
    };
    let first = spawn(&w);
    // The first process's refresh is in flight…
    let started = Instant::now();
    while w.fake.stats().token_requests == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first process never asked for a token"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // … when the second one starts.
    let second = spawn(&w);
    for child in [first, second] {
        let out = child.wait_with_output().expect("wait for invsync");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        w.output.push(format!("{args:?}\n{stdout}\n{stderr}"));
    }
    let stats = w.fake.stats();
    assert_eq!(stats.token_requests, 1, "one refresh for both processes");
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.invalid_grants, 0);
    assert_eq!(stats.unauthorized, 0, "both used the new access token");
    w.assert_no_secret_leaked();
}

#[test]
fn two_processes_at_once_refresh_once_sqlite() {
    two_processes_at_once_refresh_once(false);
}

#[test]
fn two_processes_at_once_refresh_once_postgres() {
    two_processes_at_once_refresh_once(true);
}

/// Issue 12 through the binary: QuickBooks items whose stock is not tracked — a
/// `NonInventory` item and a `Service` — are sold at a price, and that price is synced to
/// the store; their quantities are left alone, and the run does not fail over them.
#[test]
fn noninventory_and_service_prices_sync_to_the_store() {
    let mut w = World::new(false);
    w.fake.add_item(
        json!({"Name": "Tote bag", "Sku": "TOTE", "Type": "NonInventory", "TrackQtyOnHand": false, "UnitPrice": 9.5}),
    );
    std::fs::write(
        w.path("shop.csv"),
        "sku,name,price,quantity\nMUG-1,Stoneware mug,12.50,10\nMUG-2,Espresso cup,14.00,1\nFAB-1,Fabric,8.00,2\nWRAP,Gift wrap,1.50,0\nTOTE,Tote bag,8.00,4\n",
    )
    .expect("shop");
    let status = w.json(&["status", "--store", "shop"]);
    for sku in ["TOTE", "WRAP"] {
        let r = status_of(&status, sku);
        assert_eq!(r["status"], "out-of-sync", "{r}");
        assert!(
            r["differs"]
                .as_array()
                .is_some_and(|d| d.contains(&json!("price"))),
            "{r}"
        );
        assert!(
            r["detail"]
                .as_str()
                .is_some_and(|d| d.contains("stock not tracked on the accounting side")),
            "{r}"
        );
    }

    let (code, stdout, stderr) = w.run(SYNC_STORE, None);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        w.read("shop.csv"),
        "sku,name,price,quantity\nMUG-1,Stoneware mug,12.50,10\nMUG-2,Espresso cup,14.00,1\nFAB-1,Fabric,8.00,2\nWRAP,Gift wrap,2.00,0\nTOTE,Tote bag,9.50,4\n",
        "the prices of the NonInventory item and the service are synced; their quantities are left alone"
    );
    let runs = w.json(&["runs"]);
    assert_eq!(runs[0]["status"], "succeeded", "{runs}");
    assert_eq!(runs[0]["counts"]["failed"], 0, "{runs}");
    assert_eq!(runs[0]["counts"]["skipped_base"], 0, "{runs}");
    let status = w.json(&["status", "--store", "shop"]);
    for sku in ["TOTE", "WRAP"] {
        assert_eq!(status_of(&status, sku)["status"], "in-sync", "{status}");
    }
    w.assert_no_secret_leaked();
}

#[test]
fn a_refused_refresh_token_fails_runs_until_auth_connects_again() {
    let mut w = World::new(false);
    let (code, _, stderr) = w.run(SYNC_STORE, None);
    assert_eq!(code, 0, "{stderr}");

    // Intuit revokes the connection (100 days unused, or disconnected in QuickBooks).
    w.fake.revoke_refresh_tokens();
    w.fake.expire_access_tokens();
    let (code, stdout, stderr) = w.run(SYNC_STORE, None);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("QuickBooks Online needs to be connected again"),
        "{stderr}"
    );
    assert!(
        stderr.contains("invsync auth quickbooks-online"),
        "{stderr}"
    );
    let runs = w.json(&["runs"]);
    let last = &runs[0];
    assert_eq!(last["status"], "failed");
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("invsync auth quickbooks-online")),
        "{last}"
    );
    // The next run fails the same way without asking Intuit again.
    let calls = w.fake.stats().token_calls;
    let (code, _, stderr) = w.run(SYNC_STORE, None);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("invsync auth quickbooks-online"),
        "{stderr}"
    );
    assert_eq!(w.fake.stats().token_calls, calls);

    // The operator connects again: the command prints the authorise URL and takes the
    // code QuickBooks redirected with.
    let code_value = w.fake.authorization_code("https://example.com/callback");
    let (code, stdout, stderr) = w.run(
        &["auth", "quickbooks-online"],
        Some(&format!("{code_value}\n")),
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("https://appcenter.intuit.com/connect/oauth2?"),
        "{stdout}"
    );
    assert!(stdout.contains("client_id=fake-client-id"), "{stdout}");
    assert!(
        stdout.contains("scope=com.intuit.quickbooks.accounting"),
        "{stdout}"
    );
    assert!(
        stdout.contains("redirect_uri=https%3A%2F%2Fexample.com%2Fcallback"),
        "{stdout}"
    );
    assert!(stdout.contains("state="), "{stdout}");
    assert!(
        stdout.contains("Connected QuickBooks Online company 4620816365"),
        "{stdout}"
    );
    assert_eq!(w.fake.stats().code_exchanges, 1);

    // Syncs work again.
    std::fs::write(
        w.path("shop.csv"),
        "sku,name,price,quantity\nMUG-1,Stoneware mug,11.00,3\nMUG-2,Espresso cup,14.00,1\nFAB-1,Fabric,8.00,0\nWRAP,Gift wrap,2.00,0\n",
    )
    .expect("shop");
    let (code, stdout, stderr) = w.run(SYNC_STORE, None);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(w.read("shop.csv").contains("MUG-1,Stoneware mug,12.50,10"));

    // --code takes the redirect URL non-interactively; a wrong company is refused.
    let other = w.fake.authorization_code("https://example.com/callback");
    let (code, _, stderr) = w.run(
        &[
            "auth",
            "quickbooks-online",
            "--code",
            &format!("https://example.com/callback?code={other}&state=x&realmId=999"),
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("you connected company 999"), "{stderr}");
    let (code, stdout, stderr) = w.run(
        &[
            "auth",
            "quickbooks-online",
            "--code",
            &format!("https://example.com/callback?code={other}&state=x&realmId=4620816365"),
        ],
        None,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    w.assert_no_secret_leaked();
}

#[test]
fn auth_needs_a_quickbooks_accounting_side_and_a_redirect_uri() {
    let mut w = World::new(false);
    let config = w
        .read("invsync.toml")
        .replace("redirect_uri = \"https://example.com/callback\"\n", "");
    std::fs::write(w.path("invsync.toml"), config).expect("config");
    let (code, _, stderr) = w.run(&["auth", "quickbooks-online"], Some("x\n"));
    assert_eq!(code, 2);
    assert!(stderr.contains("--redirect-uri"), "{stderr}");
    std::fs::write(
        w.path("invsync.toml"),
        "[accounting]\nkind = \"file\"\npath = \"a.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\n",
    )
    .expect("config");
    let (code, _, stderr) = w.run(&["auth", "quickbooks-online"], Some("x\n"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("needs kind = \"quickbooks-online\""),
        "{stderr}"
    );
}
