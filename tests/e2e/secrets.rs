//! Secret hygiene, end to end (issue 8, item 3): a sentinel is every secret of every
//! connection kind — Shopify's token, WooCommerce's key and secret, BigCommerce's token,
//! QuickBooks Online's client secret, refresh token and token key, the database
//! password, and the daemon's HTTP password — given as literals, `{ env }` and `{ file }` in turn. The built binary then
//! checks the config, syncs (dry and for real) against the platform fakes, fails against
//! a nasty server whose 401 and 500 answers echo the request (headers, query, body) back,
//! shows status and run history, and runs as a daemon serving /metrics and /healthz, all
//! with every log level on. No sentinel may appear, raw or as the wire encodes it (Basic
//! auth's base64), in anything printed or logged, in any row of the run-history database
//! (SQLite and Postgres), or in /metrics and /healthz.

use crate::support::daemon::{Daemon, http_get_raw};
use crate::support::wait_for;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use invsync_test_support::bigcommerce::{BigFake, BigOptions, BigProduct};
use invsync_test_support::fake::{self, FakeServer};
use invsync_test_support::quickbooks_online::{FakeConfig, QboFake};
use invsync_test_support::shopify::{FakeShopify, Limits};
use invsync_test_support::woocommerce::{WooFake, WooOptions, WooProduct};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every sentinel starts with this.
const MARK: &str = "SENTINEL-7f3a9c";
const SHOP_TOKEN: &str = "shpat_SENTINEL-7f3a9c-shopify";
const WOO_KEY: &str = "ck_SENTINEL-7f3a9c-woo-key";
const WOO_SECRET: &str = "cs_SENTINEL-7f3a9c-woo-secret";
const BIG_TOKEN: &str = "SENTINEL-7f3a9c-bigcommerce";
const QBO_SECRET: &str = "SENTINEL-7f3a9c-qbo-secret";
/// 32 bytes, as the token key must be; configured as base64.
const TOKEN_KEY_BYTES: &str = "SENTINEL-7f3a9c-token-key-32-by!";
const DB_PASSWORD: &str = "SENTINEL-7f3a9c-db-password";
/// `[daemon] password`, sent by the test as HTTP Basic with this user name.
const DAEMON_PASSWORD: &str = "SENTINEL-7f3a9c-daemon-password";
const DAEMON_USER: &str = "prometheus";
/// The QuickBooks fake's tokens (it issues them; they are secrets too).
const FAKE_TOKEN_PREFIXES: [&str; 2] = ["fake-refresh-", "fake-access-"];

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// What must never show, with a name for the report.
fn needles(qbo_client_id: &str) -> Vec<(String, String)> {
    let mut n = vec![
        ("sentinel".to_owned(), MARK.to_owned()),
        ("token key (base64)".to_owned(), b64(TOKEN_KEY_BYTES)),
        (
            "WooCommerce Basic credentials".to_owned(),
            b64(&format!("{WOO_KEY}:{WOO_SECRET}")),
        ),
        (
            "QuickBooks Basic credentials".to_owned(),
            b64(&format!("{qbo_client_id}:{QBO_SECRET}")),
        ),
        (
            "the daemon's Basic credentials".to_owned(),
            b64(&format!("{DAEMON_USER}:{DAEMON_PASSWORD}")),
        ),
    ];
    for s in [
        SHOP_TOKEN,
        WOO_KEY,
        WOO_SECRET,
        BIG_TOKEN,
        QBO_SECRET,
        DB_PASSWORD,
        DAEMON_PASSWORD,
    ] {
        n.push((format!("base64 of {s}"), b64(s)));
    }
    for p in FAKE_TOKEN_PREFIXES {
        n.push(("a QuickBooks OAuth token".to_owned(), p.to_owned()));
    }
    // Base64 cut short still gives the beginning away.
    let cut: Vec<(String, String)> = n
        .iter()
        .filter(|(_, v)| v.len() > 24 && !v.starts_with(MARK))
        .map(|(k, v)| (format!("{k} (cut short)"), v[..16].to_owned()))
        .collect();
    n.extend(cut);
    n
}

#[derive(Clone, Copy, Debug)]
enum Form {
    Literal,
    Env,
    File,
}

const FORMS: [Form; 3] = [Form::Literal, Form::Env, Form::File];

/// The secrets of a config, each in the form its round gives it, and what that needs
/// (environment variables, files).
struct Secrets {
    dir: PathBuf,
    round: usize,
    env: Vec<(String, String)>,
}

impl Secrets {
    /// The TOML value for secret number `i` with `value`.
    fn value(&mut self, i: usize, value: &str) -> String {
        let name = format!("E2E_SECRET_{i}");
        match FORMS[(i + self.round) % FORMS.len()] {
            Form::Literal => format!("\"{value}\""),
            Form::Env => {
                self.env.push((name.clone(), value.to_owned()));
                format!("{{ env = \"{name}\" }}")
            }
            Form::File => {
                let file = self.dir.join(format!("secret-{i}"));
                std::fs::write(&file, format!("{value}\n")).expect("secret file");
                format!("{{ file = \"{}\" }}", file.display())
            }
        }
    }
}

/// A server that refuses everything and echoes what it was sent: 500 under `/500`,
/// 401 elsewhere, with the request in every field a platform's error body has.
async fn nasty(request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or(String::new(), |p| p.as_str().to_owned());
    let mut echo: Vec<String> = request
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
        .collect();
    echo.push(path.clone());
    let body = to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    echo.push(String::from_utf8_lossy(&body).into_owned());
    let echo = echo.join(" | ");
    let status = if path.starts_with("/500") { 500 } else { 401 };
    let body = json!({
        "errors": echo,
        "message": echo,
        "title": echo,
        "error": "invalid_client",
        "error_description": echo,
        "Fault": {"Error": [{"Message": echo, "Detail": echo, "code": "3200"}], "type": "AUTHENTICATION"},
    });
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

struct World {
    rt: tokio::runtime::Runtime,
    _servers: Vec<FakeServer>,
    nasty: String,
    shop: String,
    woo: String,
    big: String,
    qbo: String,
    qbo_fake: QboFake,
    refresh: String,
    /// Everything the processes printed and served.
    seen: Vec<(String, String)>,
}

impl World {
    fn new() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let shop_fake = FakeShopify::new(SHOP_TOKEN, Limits::unlimited());
        shop_fake.add_variant("SKU-1", "9.00", 5);
        shop_fake.add_variant("SKU-2", "20.50", 1);
        let woo_fake = WooFake::new(WooOptions {
            consumer_key: WOO_KEY.into(),
            consumer_secret: WOO_SECRET.into(),
            ..WooOptions::default()
        });
        woo_fake.insert(WooProduct::simple(1, "SKU-1", "9.00", 5));
        woo_fake.insert(WooProduct::simple(2, "SKU-2", "20.50", 1));
        let big_fake = BigFake::new(BigOptions {
            access_token: BIG_TOKEN.into(),
            ..BigOptions::default()
        });
        big_fake.insert(
            BigProduct::simple(1, "SKU-1", "9".parse().expect("dec")),
            1,
            5,
        );
        big_fake.insert(
            BigProduct::simple(2, "SKU-2", "20.5".parse().expect("dec")),
            1,
            1,
        );
        let (servers, qbo_fake, urls) = rt.block_on(async {
            let shop = shop_fake.serve().await;
            let woo = fake::serve(woo_fake.router()).await;
            let big = fake::serve(big_fake.router()).await;
            let (qbo, qbo_fake) = QboFake::serve(FakeConfig {
                client_secret: QBO_SECRET.into(),
                ..FakeConfig::default()
            })
            .await;
            let nasty = fake::serve(axum::Router::new().fallback(nasty)).await;
            let urls = [
                nasty.base_url(),
                shop.base_url(),
                woo.base_url(),
                big_fake.base_url(&big),
                qbo.base_url(),
            ];
            (vec![shop, woo, big, qbo, nasty], qbo_fake, urls)
        });
        qbo_fake.add_inventory_item("SKU-1", "Mug", "10.00", "5");
        qbo_fake.add_inventory_item("SKU-2", "Plate", "20.50", "8");
        let refresh = qbo_fake.issue_refresh_token();
        let [nasty, shop, woo, big, qbo] = urls;
        World {
            rt,
            _servers: servers,
            nasty,
            shop,
            woo,
            big,
            qbo,
            qbo_fake,
            refresh,
            seen: Vec::new(),
        }
    }

    /// The config of one round; `qbo_api`, `qbo_token`: where QuickBooks Online is.
    fn config(
        &self,
        dir: &Path,
        name: &str,
        database: &str,
        round: usize,
        (qbo_api, qbo_token): (&str, &str),
        daemon: &str,
    ) -> (PathBuf, Vec<(String, String)>) {
        let mut s = Secrets {
            dir: dir.to_owned(),
            round,
            env: Vec::new(),
        };
        let fake = self.qbo_fake.config();
        // Tokens are kept per company: a company the vault has none for goes to the
        // token endpoint at once.
        let realm = if qbo_token.starts_with(&self.nasty) {
            "9130000000000001"
        } else {
            fake.realm_id.as_str()
        };
        let database = s.value(0, database);
        let daemon = if daemon.is_empty() {
            String::new()
        } else {
            format!("{daemon}\npassword = {}", s.value(4, DAEMON_PASSWORD))
        };
        let mut text = format!(
            r#"[database]
url = {database}

{daemon}

[accounting]
kind = "quickbooks-online"
realm_id = "{realm}"
client_id = "{client_id}"
client_secret = {client_secret}
refresh_token = {refresh}
token_key = {token_key}
environment = "sandbox"
base_url = "{qbo_api}"
token_url = "{qbo_token}"
"#,
            client_id = fake.client_id,
            client_secret = s.value(1, QBO_SECRET),
            refresh = s.value(2, &self.refresh),
            token_key = s.value(3, &b64(TOKEN_KEY_BYTES)),
        );
        let stores = [
            (self.shop.clone(), format!("{}/401", self.nasty)),
            (self.woo.clone(), format!("{}/500", self.nasty)),
            (self.big.clone(), format!("{}/401", self.nasty)),
        ];
        for (store, (good, bad)) in stores.into_iter().enumerate() {
            for (suffix, url) in [("", &good), ("-bad", &bad)] {
                let n = 10 * (store + 1) + usize::from(!suffix.is_empty());
                text.push_str(&match store {
                    0 => format!(
                        "\n[stores.shop{suffix}]\nkind = \"shopify\"\nshop = \"example.myshopify.com\"\naccess_token = {}\nbase_url = \"{url}\"\n",
                        s.value(n, SHOP_TOKEN)
                    ),
                    1 => format!(
                        "\n[stores.woo{suffix}]\nkind = \"woocommerce\"\nurl = \"{url}\"\nconsumer_key = {}\nconsumer_secret = {}\n",
                        s.value(n, WOO_KEY),
                        s.value(n + 100, WOO_SECRET)
                    ),
                    _ => format!(
                        "\n[stores.big{suffix}]\nkind = \"bigcommerce\"\nstore_hash = \"abc123\"\naccess_token = {}\nbase_url = \"{url}\"\n",
                        s.value(n, BIG_TOKEN)
                    ),
                });
            }
        }
        if !daemon.is_empty() {
            for store in ["shop", "woo", "big", "shop-bad", "woo-bad", "big-bad"] {
                text.push_str(&format!(
                    "\n[[schedules]]\nstore = \"{store}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n"
                ));
            }
        }
        let path = dir.join(name);
        std::fs::write(&path, text).expect("config");
        (path, s.env)
    }

    /// Runs the binary with every log level on; keeps what it printed.
    fn invsync(&mut self, config: &Path, env: &[(String, String)], args: &[&str]) -> Output {
        let mut cmd = invsync_cmd(config, "trace", args);
        cmd.env("RUST_LOG", "trace");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run invsync");
        let output = Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let what = format!("invsync {}", args.join(" "));
        self.seen
            .push((format!("{what} (stdout)"), output.stdout.clone()));
        self.seen
            .push((format!("{what} (stderr)"), output.stderr.clone()));
        output
    }

    /// Fails with every place a sentinel showed.
    fn assert_clean(&self, extra: &[(String, String)]) {
        let needles = needles(&self.qbo_fake.config().client_id);
        let mut leaks = Vec::new();
        for (place, text) in self.seen.iter().chain(extra) {
            for (what, needle) in &needles {
                if let Some(at) = text.find(needle.as_str()) {
                    leaks.push(format!(
                        "{what} in {place}: …{}…",
                        around(text, at, needle.len())
                    ));
                }
            }
        }
        assert_no_leaks(&leaks);
        // The nasty server's echoes arrived, masked: the check above saw them.
        assert!(
            self.seen
                .iter()
                .any(|(_, text)| text.contains("[redacted]")),
            "no masked echo in any output"
        );
    }
}

/// `invsync --config CONFIG ARGS` logging at `log`, without the caller's `INVSYNC__…`
/// overrides, `E2E_SECRET_…` variables or `INVSYNC_CONFIG`.
fn invsync_cmd(config: &Path, log: &str, args: &[&str]) -> Command {
    let mut cmd = crate::support::with_config(config, args);
    cmd.env("INVSYNC_LOG", log);
    for (k, _) in std::env::vars() {
        if k.starts_with("E2E_SECRET_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn assert_no_leaks(leaks: &[String]) {
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n\n")
    );
}

/// `text` around the `len` bytes at `at`: 80 characters either side, for a leak report.
fn around(text: &str, at: usize, len: usize) -> &str {
    let from = text[..at]
        .char_indices()
        .rev()
        .nth(80)
        .map_or(0, |(i, _)| i);
    let to = (at + len + 80).min(text.len());
    let to = (to..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[from..to]
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The exit code, stdout and the end of the (trace-level, long) log.
impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = self
            .stderr
            .char_indices()
            .rev()
            .nth(4000)
            .map_or(self.stderr.as_str(), |(i, _)| &self.stderr[i..]);
        write!(
            f,
            "exit {:?}\nstdout:\n{}\nstderr (end):\n{tail}",
            self.code, self.stdout
        )
    }
}

/// One round of commands against the config at `config` (and the configs whose
/// QuickBooks Online is the nasty server).
fn round(w: &mut World, dir: &Path, database: &str, round: usize) {
    let qbo = w.qbo.clone();
    let token_url = QboFake::token_url(&qbo);
    let (config, env) = w.config(dir, "invsync.toml", database, round, (&qbo, &token_url), "");
    let out = w.invsync(&config, &env, &["config", "check"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("shop-bad"), "{out:?}");
    let out = w.invsync(&config, &env, &["--format", "json", "config", "check"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // Quantity syncs read every store's open orders, the failing stores' too: one sync
    // of both fields goes through that; the others sync prices, so that each failing
    // store fails on its own catalog.
    let sync = |store: &str| -> Vec<String> {
        let fields = if store == "shop-bad" {
            "price,quantity"
        } else {
            "price"
        };
        [
            "sync", "--store", store, "--update", "store", "--fields", fields,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    for store in ["shop", "woo", "big"] {
        let mut args = sync(store);
        args.push("--dry-run".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = w.invsync(&config, &env, &args);
        assert_eq!(out.code, Some(0), "{out:?}");
        let args = sync(store);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = w.invsync(&config, &env, &args);
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    for store in ["shop-bad", "woo-bad", "big-bad"] {
        let args = sync(store);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = w.invsync(&config, &env, &args);
        assert_ne!(out.code, Some(0), "{out:?}");
    }
    // QuickBooks Online on the nasty server: its API (after a real token), then its
    // token endpoint.
    let nasty = w.nasty.clone();
    for (name, api, token) in [
        (
            "qbo-api-bad.toml",
            format!("{nasty}/401"),
            token_url.clone(),
        ),
        (
            "qbo-token-bad.toml",
            qbo.clone(),
            format!("{nasty}/401/token"),
        ),
    ] {
        let (bad, env) = w.config(dir, name, database, round, (&api, &token), "");
        let args = sync("shop");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = w.invsync(&bad, &env, &args);
        assert_ne!(out.code, Some(0), "{out:?}");
    }
    w.invsync(&config, &env, &["status", "--store", "shop"]);
    w.invsync(&config, &env, &["status", "--store", "woo-bad"]);
    w.invsync(&config, &env, &["runs"]);
    let out = w.invsync(
        &config,
        &env,
        &["--format", "json", "runs", "--limit", "100"],
    );
    let runs: Value = serde_json::from_str(&out.stdout).expect("runs json");
    let runs = runs.as_array().expect("runs");
    assert!(runs.len() >= 8, "{runs:?}");
    assert!(runs.iter().any(|r| r["status"] == "failed"), "{runs:?}");
    for run in runs {
        let id = run["id"].to_string();
        w.invsync(&config, &env, &["runs", "show", &id]);
        w.invsync(&config, &env, &["--format", "json", "runs", "show", &id]);
    }
}

/// The daemon runs every schedule once (the failing ones too), then serves /metrics and
/// /healthz; its log is kept.
fn daemon(w: &mut World, dir: &Path, database: &str, round: usize) -> Vec<(String, String)> {
    let qbo = w.qbo.clone();
    let (config, env) = w.config(
        dir,
        "daemon.toml",
        database,
        round,
        (&qbo, &QboFake::token_url(&qbo)),
        "[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"",
    );
    let mut cmd = invsync_cmd(&config, "trace", &["daemon"]);
    cmd.env("RUST_LOG", "trace").envs(env.iter().cloned());
    let mut daemon = Daemon::spawn(cmd, dir.join("daemon.log"));
    let deadline = Instant::now() + Duration::from_secs(90);
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut served = Vec::new();
    // Listening means migrated: the commands below then never migrate alongside it.
    let port = Daemon::port_in(&daemon.log, left());
    wait_for("the daemon to answer /healthz", left(), || {
        http_get(port, "/healthz").0 != 0
    });
    // Done when the engine logged the end of every schedule's run. (This test once saw
    // one of six runs left `running` on Postgres although it had ended: a read that failed
    // dropped the order-tracking read mid-`BEGIN` and poisoned a pooled connection; fixed
    // in the store, see docs/reliability.md, "Bugs found and fixed".)
    daemon.wait_log("the daemon to run its schedules", left(), |log| {
        log.matches("run finished").count() >= 6
    });
    w.invsync(
        &config,
        &env,
        &["--format", "json", "runs", "--limit", "100"],
    );
    for path in ["/metrics", "/healthz"] {
        let (status, body) = http_get(port, path);
        assert_ne!(status, 0, "{path}");
        served.push((format!("GET {path}"), body));
    }
    assert!(served[0].1.contains("invsync_runs_total"), "{served:?}");
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(90));
    served.push(("the daemon's log".into(), daemon.log()));
    served
}

/// `GET path` from the daemon with its password: the status and the whole answer (head
/// and body), all of which the leak check reads.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let credentials = b64(&format!("{DAEMON_USER}:{DAEMON_PASSWORD}"));
    http_get_raw(port, path, Some(&credentials))
}

/// Every row of every table of a Postgres database, as JSON text.
fn postgres_rows(w: &World, url: &str) -> String {
    w.rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_all(&pool)
        .await
        .expect("tables");
        assert!(tables.iter().any(|(t,)| t == "sync_runs"), "{tables:?}");
        let mut all = String::new();
        for (table,) in tables {
            // The names come from the catalog, not from input.
            let rows: (Option<String>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT string_agg(row_to_json(t)::text, E'\\n') FROM \"{table}\" t"
            )))
            .fetch_one(&pool)
            .await
            .expect("rows");
            all.push_str(&format!("-- {table}\n{}\n", rows.0.unwrap_or_default()));
        }
        pool.close().await;
        all
    })
}

/// The SQLite database's files, byte for byte (rows, free pages and the WAL).
fn sqlite_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("invsync.db") {
            let bytes = std::fs::read(entry.path()).expect("read");
            out.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    assert!(out.iter().any(|(n, _)| n == "invsync.db"), "{out:?}");
    out
}

#[test]
fn no_secret_shows_anywhere_with_sqlite() {
    let mut w = World::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = "sqlite://invsync.db";
    round(&mut w, dir.path(), db, 0);
    round(&mut w, dir.path(), db, 1);
    let mut extra = daemon(&mut w, dir.path(), db, 2);
    extra.extend(sqlite_files(dir.path()));
    w.assert_clean(&extra);
}

#[test]
fn no_secret_shows_anywhere_with_postgres() {
    let mut w = World::new();
    let pg = w.rt.block_on(invsync_test_support::pg::fresh_database());
    // A password the server does not ask for (local trust), but that invsync must
    // keep to itself all the same.
    let sep = if pg.url().contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}password={DB_PASSWORD}", pg.url());
    let dir = tempfile::tempdir().expect("tempdir");
    round(&mut w, dir.path(), &url, 2);
    let mut extra = daemon(&mut w, dir.path(), &url, 0);
    extra.push(("the Postgres database".into(), postgres_rows(&w, &url)));
    w.assert_clean(&extra);
}

/// Issue 13, item 6, through the binary: a `database.url` whose value is not a database
/// URL invsync can use — /etc/shadow's first line, `postgres:SECRET`, a password hidden in
/// a percent-encoded user name — given as a literal, `{ env }` and `{ file }`. `config
/// check` and `runs` name the key and where the value came from; nothing they print shows
/// any part of the value (the sentinel, raw or percent-decoded, or a scheme from it).
#[test]
fn a_database_url_that_is_not_one_is_never_shown() {
    const SECRET: &str = "S3NT1N3L";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("accounting.csv"),
        "sku,name,price,quantity\n",
    )
    .expect("accounting");
    std::fs::write(dir.path().join("shop.csv"), "sku,name,price,quantity\n").expect("shop");
    // (value, whether config check refuses it)
    let values = [
        (
            format!("root:{SECRET}$6$salt$hash:19000:0:99999:7:::"),
            true,
        ),
        (format!("postgres:{SECRET}"), true),
        (format!("mysql://u:{SECRET}@127.0.0.1/db"), true),
        // Valid URLs: refused only by the server (nothing listens / no such role).
        (format!("postgres://u%3A{SECRET}@127.0.0.1:1/db"), false),
        (format!("postgres://u%3A{SECRET}@127.0.0.1:5432/db"), false),
        (
            format!("postgres://u%3A{SECRET}:pw@127.0.0.1:5432/db"),
            false,
        ),
    ];
    let mut seen = Vec::new();
    for (i, (value, refused)) in values.iter().enumerate() {
        let file = dir.path().join(format!("db-url-{i}"));
        std::fs::write(&file, format!("{value}\n")).expect("secret file");
        for (form, env, origin) in [
            (format!("\"{value}\""), None, "database.url: the value"),
            (
                "{ env = \"E2E_DB_URL\" }".to_owned(),
                Some(value.as_str()),
                "database.url: the value of environment variable E2E_DB_URL",
            ),
            (
                format!("{{ file = \"{}\" }}", file.display()),
                None,
                "database.url: the contents of file",
            ),
        ] {
            let config = dir.path().join("invsync.toml");
            std::fs::write(
                &config,
                format!(
                    "[database]\nurl = {form}\nconnect_timeout = \"2s\"\n\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\n"
                ),
            )
            .expect("config");
            for args in [&["config", "check"][..], &["runs"]] {
                let mut cmd = invsync_cmd(&config, "trace", args);
                if let Some(v) = env {
                    cmd.env("E2E_DB_URL", v);
                }
                let out = cmd.output().expect("run invsync");
                let shown = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                if *refused {
                    assert_eq!(out.status.code(), Some(2), "{value} as {form}: {shown}");
                    assert!(shown.contains(origin), "{value} as {form}: {shown}");
                } else if args == ["runs"] {
                    assert_ne!(out.status.code(), Some(0), "{value} as {form}: {shown}");
                }
                seen.push((format!("{value} as {form}, {args:?}"), shown));
            }
        }
    }
    let mut leaks = Vec::new();
    for (what, shown) in &seen {
        for part in [SECRET, "root:", "mysql"] {
            if shown.contains(part) {
                leaks.push(format!("`{part}` with {what}: {shown}"));
            }
        }
    }
    assert_no_leaks(&leaks);
}

/// A server that refuses everything with 401 and echoes the request's credentials (the
/// `Authorization`, `X-Shopify-Access-Token` and `X-Auth-Token` values) transformed as the
/// first path segment after `/401/` says (`echo::TRANSFORMS`), in every error field.
async fn transforming(request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let how = path.split('/').nth(2).unwrap_or("upper").to_owned();
    let credentials: Vec<String> = ["authorization", "x-shopify-access-token", "x-auth-token"]
        .iter()
        .filter_map(|h| request.headers().get(*h))
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .collect();
    let echo = invsync_test_support::echo::transform(&how, &credentials.join(" "));
    let body = json!({
        "errors": echo,
        "message": echo,
        "title": echo,
        "code": echo,
        "error_description": echo,
    });
    Response::builder()
        .status(401)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

/// Issue 13, item 7, through the binary: a server's 401 echoes the Shopify token, the
/// WooCommerce Basic credentials and the BigCommerce token upper-cased, percent-encoded,
/// HTML-escaped (decimal, hex, named), JSON-escaped (`\uXXXX`), split by spaces or in
/// base64. Neither stderr nor `runs` (the run's stored error) shows them in any form a
/// reader could decode, and the masked echoes were seen.
#[test]
fn transformed_echoes_of_credentials_are_masked() {
    use invsync_test_support::echo;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(fake::serve(axum::Router::new().fallback(transforming)));
    let url = server.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("accounting.csv"),
        "sku,name,price,quantity\nSKU-1,Mug,9.00,5\n",
    )
    .expect("accounting");
    let mut config = "[database]\nurl = \"sqlite://invsync.db\"\n\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n".to_owned();
    let mut stores = Vec::new();
    for how in echo::TRANSFORMS {
        config.push_str(&format!(
            "\n[stores.shop-{how}]\nkind = \"shopify\"\nshop = \"example.myshopify.com\"\naccess_token = \"{SHOP_TOKEN}\"\nbase_url = \"{url}/401/{how}\"\nretries = 0\n\
             \n[stores.woo-{how}]\nkind = \"woocommerce\"\nurl = \"{url}/401/{how}\"\nconsumer_key = \"{WOO_KEY}\"\nconsumer_secret = \"{WOO_SECRET}\"\nretries = 0\n\
             \n[stores.big-{how}]\nkind = \"bigcommerce\"\nstore_hash = \"abc123\"\naccess_token = \"{BIG_TOKEN}\"\nbase_url = \"{url}/401/{how}\"\nretries = 0\n"
        ));
        stores.extend(["shop", "woo", "big"].map(|kind| format!("{kind}-{how}")));
    }
    let config_path = dir.path().join("invsync.toml");
    std::fs::write(&config_path, config).expect("config");
    let run = |args: &[&str]| {
        let mut cmd = invsync_cmd(&config_path, "debug", args);
        let out = cmd.output().expect("run invsync");
        (
            out.status.code(),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let mut seen = Vec::new();
    for store in &stores {
        let (code, shown) = run(&[
            "sync", "--store", store, "--update", "store", "--fields", "price",
        ]);
        assert_ne!(code, Some(0), "{store}: {shown}");
        assert!(
            shown.contains("401"),
            "{store}: the server was reached: {shown}"
        );
        seen.push((store.clone(), shown));
    }
    let (_, runs) = run(&["--format", "json", "runs", "--limit", "100"]);
    seen.push(("runs".into(), runs));
    seen.push((
        "the database".into(),
        sqlite_files(dir.path())
            .into_iter()
            .map(|(_, text)| text)
            .collect(),
    ));
    let mut needles: Vec<String> = vec![MARK.to_lowercase()];
    for secret in [
        SHOP_TOKEN.to_owned(),
        BIG_TOKEN.to_owned(),
        format!("{WOO_KEY}:{WOO_SECRET}"),
    ] {
        needles.extend(echo::base64_traces(&secret));
    }
    let mut leaks = Vec::new();
    for (what, shown) in &seen {
        let plain = echo::decoded(shown);
        for needle in &needles {
            if let Some(at) = plain.find(needle.as_str()) {
                leaks.push(format!(
                    "`{needle}` in {what}: …{}…",
                    around(&plain, at, needle.len())
                ));
            }
        }
    }
    assert_no_leaks(&leaks);
    assert!(
        seen.iter()
            .filter(|(_, s)| s.contains("[redacted]"))
            .count()
            >= stores.len(),
        "every echo arrived, masked"
    );
}
