//! The CLI's output and input contracts through the built binary (issue 13, items 11–13):
//! `--format json` for every command and every error, exit codes (0 ok, 1 the run had
//! failures, 2 usage, config or input error), control characters from product data escaped
//! in human output, and a store whose open orders cannot be read.

use crate::support::demo::{Demo, SHOP_DRY_RUN, SYNC_SHOP, edit};
use serde_json::Value;

/// One broken setup and what every format must say about it.
struct Case {
    why: &'static str,
    setup: &'static dyn Fn(&Demo),
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// The JSON error's `kind`; `run` when the command prints a failed run's report.
    kind: &'static str,
    /// Part of the message, in both formats.
    says: &'static str,
}

const UNREACHABLE_DB: &dyn Fn(&Demo) = &|d| {
    edit(
        d,
        "url = \"sqlite://var/demo.db\"",
        "url = \"postgres://invsync@127.0.0.1:1/none\"\nconnect_timeout = \"100ms\"",
    )
};
const NOTHING: &dyn Fn(&Demo) = &|_| {};

fn symlink_loop(at: &std::path::Path) {
    let other = at.with_extension("loop");
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(&other, at).expect("symlink");
    std::os::unix::fs::symlink(at, &other).expect("symlink");
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            why: "config check: a 5m interval",
            setup: &|d| edit(d, "every = \"15m\"", "every = \"5m\""),
            args: &["config", "check"],
            env: &[],
            code: 2,
            kind: "config",
            says: "schedules[0].every",
        },
        Case {
            why: "config check: a bad environment override",
            setup: NOTHING,
            args: &["config", "check"],
            env: &[("INVSYNC__INVENTORY__IN_ORDERS", "sometimes")],
            code: 2,
            kind: "config",
            says: "INVSYNC__INVENTORY__IN_ORDERS",
        },
        Case {
            why: "config check: the config file is a symlink loop",
            setup: &|d| symlink_loop(&d.config()),
            args: &["config", "check"],
            env: &[],
            code: 2,
            kind: "config",
            says: "symbolic links",
        },
        Case {
            why: "config check: no config file",
            setup: &|d| std::fs::remove_file(d.config()).expect("rm"),
            args: &["config", "check"],
            env: &[],
            code: 2,
            kind: "config",
            says: "config file not found",
        },
        Case {
            why: "migrate: an invalid config",
            setup: &|d| edit(d, "in_orders = \"skip\"", "in_orders = \"maybe\""),
            args: &["migrate"],
            env: &[],
            code: 2,
            kind: "config",
            says: "inventory.in_orders",
        },
        Case {
            why: "migrate: the database is unreachable",
            setup: UNREACHABLE_DB,
            args: &["migrate"],
            env: &[],
            code: 1,
            kind: "database",
            says: "cannot connect to the database",
        },
        Case {
            why: "daemon: an invalid config",
            setup: &|d| edit(d, "every = \"15m\"", "every = \"5m\""),
            args: &["daemon"],
            env: &[],
            code: 2,
            kind: "config",
            says: "schedules[0].every",
        },
        Case {
            why: "sync: an unknown store",
            setup: NOTHING,
            args: &[
                "sync", "--store", "nope", "--update", "store", "--fields", "price",
            ],
            env: &[],
            code: 2,
            kind: "usage",
            says: "`nope` is not a configured store",
        },
        Case {
            why: "sync: a bad --fields value (clap)",
            setup: NOTHING,
            args: &[
                "sync", "--store", "shop", "--update", "store", "--fields", "colour",
            ],
            env: &[],
            code: 2,
            kind: "usage",
            says: "invalid value 'colour'",
        },
        Case {
            why: "sync: two fields on the accounting side",
            setup: NOTHING,
            args: &[
                "sync",
                "--store",
                "shop",
                "--update",
                "accounting",
                "--fields",
                "price,quantity",
            ],
            env: &[],
            code: 2,
            kind: "usage",
            says: "exactly one field",
        },
        Case {
            why: "sync: the store file is a symlink loop",
            setup: &|d| symlink_loop(&d.data("shop.csv")),
            args: SYNC_SHOP,
            env: &[],
            code: 2,
            kind: "run",
            says: "symbolic links",
        },
        Case {
            why: "sync --dry-run: the store file is missing",
            setup: &|d| std::fs::remove_file(d.data("shop.csv")).expect("rm"),
            args: SHOP_DRY_RUN,
            env: &[],
            code: 2,
            kind: "input",
            says: "file not found",
        },
        Case {
            why: "sync --dry-run: the store file is a symlink loop",
            setup: &|d| symlink_loop(&d.data("shop.csv")),
            args: SHOP_DRY_RUN,
            env: &[],
            code: 2,
            kind: "input",
            says: "symbolic links",
        },
        Case {
            why: "sync --dry-run: the store file is a directory",
            setup: &|d| {
                std::fs::remove_file(d.data("shop.csv")).expect("rm");
                std::fs::create_dir(d.data("shop.csv")).expect("mkdir");
            },
            args: SHOP_DRY_RUN,
            env: &[],
            code: 2,
            kind: "input",
            says: "shop.csv",
        },
        Case {
            why: "status: an unknown store",
            setup: NOTHING,
            args: &["status", "--store", "nope"],
            env: &[],
            code: 2,
            kind: "usage",
            says: "`nope` is not a configured store",
        },
        Case {
            why: "status: the accounting file is missing",
            setup: &|d| std::fs::remove_file(d.data("accounting.csv")).expect("rm"),
            args: &["status", "--store", "shop"],
            env: &[],
            code: 2,
            kind: "input",
            says: "accounting.csv",
        },
        Case {
            why: "runs: an unknown store",
            setup: NOTHING,
            args: &["runs", "--store", "nope"],
            env: &[],
            code: 2,
            kind: "usage",
            says: "`nope` is not a configured store",
        },
        Case {
            why: "runs: the database is unreachable",
            setup: UNREACHABLE_DB,
            args: &["runs"],
            env: &[],
            code: 1,
            kind: "database",
            says: "cannot connect to the database",
        },
        Case {
            why: "runs show: no such run",
            setup: NOTHING,
            args: &["runs", "show", "999"],
            env: &[],
            code: 2,
            kind: "usage",
            says: "there is no run 999",
        },
        Case {
            why: "map add: an unknown store",
            setup: NOTHING,
            args: &[
                "map",
                "add",
                "--store",
                "nope",
                "--store-sku",
                "A",
                "--accounting-sku",
                "B",
            ],
            env: &[],
            code: 2,
            kind: "usage",
            says: "`nope` is not a configured store",
        },
        Case {
            why: "map add: an empty store SKU",
            setup: NOTHING,
            args: &[
                "map",
                "add",
                "--store",
                "shop",
                "--store-sku",
                " ",
                "--accounting-sku",
                "B",
            ],
            env: &[],
            code: 2,
            kind: "usage",
            says: "store SKU",
        },
        Case {
            why: "map list: the database is unreachable",
            setup: UNREACHABLE_DB,
            args: &["map", "list"],
            env: &[],
            code: 1,
            kind: "database",
            says: "cannot connect to the database",
        },
        Case {
            why: "map remove: no such mapping",
            setup: NOTHING,
            args: &["map", "remove", "--store", "shop", "--store-sku", "X-1"],
            env: &[],
            code: 2,
            kind: "usage",
            says: "has no manual mapping",
        },
        Case {
            why: "auth: the accounting side is not QuickBooks Online",
            setup: NOTHING,
            args: &["auth", "quickbooks-online", "--code", "abc"],
            env: &[],
            code: 2,
            kind: "usage",
            says: "needs kind = \"quickbooks-online\"",
        },
        Case {
            why: "no command (clap)",
            setup: NOTHING,
            args: &[],
            env: &[],
            code: 2,
            kind: "usage",
            says: "subcommand",
        },
    ]
}

/// Every command × both formats × a representative error: the exit code, and with
/// `--format json` a JSON document on stdout (`{"error": {...}}`, or a failed run's
/// report) while stderr keeps the line for people.
#[test]
fn every_command_and_error_honours_the_format_and_the_exit_code() {
    for case in cases() {
        for format in ["table", "json"] {
            let demo = Demo::new();
            (case.setup)(&demo);
            let mut cmd = demo.cmd(case.args);
            cmd.args(["--format", format]);
            for (k, v) in case.env {
                cmd.env(k, v);
            }
            let out = cmd
                .timeout(std::time::Duration::from_secs(60))
                .output()
                .expect("run");
            let (why, stdout, stderr) = (
                format!("{} [--format {format}]", case.why),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(
                out.status.code(),
                Some(case.code),
                "{why}: exit code\nstdout: {stdout}\nstderr: {stderr}"
            );
            assert!(
                stderr.contains(case.says),
                "{why}: `{}` missing from stderr: {stderr}",
                case.says
            );
            if format == "table" {
                assert!(
                    serde_json::from_str::<Value>(&stdout).is_err(),
                    "{why}: a table run printed JSON: {stdout}"
                );
                continue;
            }
            let json: Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{why}: stdout is not JSON ({e}): {stdout}"));
            if case.kind == "run" {
                assert_eq!(json["status"], "failed", "{why}: {json}");
                assert!(
                    json["error"]
                        .as_str()
                        .is_some_and(|e| e.contains(case.says)),
                    "{why}: {json}"
                );
                continue;
            }
            let error = &json["error"];
            assert_eq!(error["kind"], case.kind, "{why}: {json}");
            assert_eq!(error["exit_code"], case.code, "{why}: {json}");
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(case.says)),
                "{why}: {json}"
            );
            if case.kind == "config" {
                let errors = error["config_errors"].as_array().expect("config_errors");
                assert!(!errors.is_empty(), "{why}: {json}");
                for e in errors {
                    for key in ["file", "key", "env", "message"] {
                        assert!(e.get(key).is_some(), "{why}: `{key}` missing: {json}");
                    }
                }
            }
        }
    }
}

/// `config check` on an invalid file lists every problem with its file, key and the
/// environment variable that set it.
#[test]
fn config_check_lists_every_config_error_as_json() {
    let demo = Demo::new();
    edit(&demo, "every = \"15m\"", "every = \"5m\"");
    edit(&demo, "store = \"market\"", "store = \"markt\"");
    let out = demo
        .cmd(&["--format", "json", "config", "check"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    let errors = json["error"]["config_errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{json}");
    for (key, says) in [
        ("schedules[0].every", "outside the allowed range"),
        ("schedules[1].store", "`markt` is not a configured store"),
    ] {
        let e = errors
            .iter()
            .find(|e| e["key"] == key)
            .unwrap_or_else(|| panic!("no error for {key}: {json}"));
        assert!(
            e["file"].as_str().is_some_and(|f| f.ends_with("demo.toml")),
            "{json}"
        );
        assert_eq!(e["env"], Value::Null, "{json}");
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains(says)),
            "{json}"
        );
    }

    let out = Demo::new()
        .cmd(&["--format", "json", "config", "check"])
        .env("INVSYNC__STORES__SHOP__SHARE", "150")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    let share = &json["error"]["config_errors"][0];
    assert_eq!(share["key"], "stores.shop.share", "{json}");
    assert_eq!(share["env"], "INVSYNC__STORES__SHOP__SHARE", "{json}");
}

/// What every command prints when it works, with `--format json`: one JSON document.
#[test]
fn every_command_prints_json_when_asked() {
    let demo = Demo::new();
    let migrate = demo.json(&["migrate"]);
    assert!(migrate["applied"].is_u64(), "{migrate}");
    assert_eq!(migrate["backend"], "sqlite", "{migrate}");
    let added = demo.json(&[
        "map",
        "add",
        "--store",
        "shop",
        "--store-sku",
        "POSTER-1",
        "--accounting-sku",
        "POSTER-A",
    ]);
    assert_eq!(added["store"], "shop", "{added}");
    assert_eq!(added["store_sku"], "POSTER-1", "{added}");
    assert_eq!(added["accounting_sku"], "POSTER-A", "{added}");
    assert_eq!(demo.json(&["map", "list"])[0]["store_sku"], "POSTER-1");
    let removed = demo.json(&[
        "map",
        "remove",
        "--store",
        "shop",
        "--store-sku",
        "poster-1",
    ]);
    assert_eq!(removed["removed"], true, "{removed}");
    assert_eq!(removed["store_sku"], "poster-1", "{removed}");
    assert_eq!(demo.json(&["config", "check"])["valid"], true);
    assert_eq!(demo.json(SHOP_DRY_RUN)["dry_run"], true);
    let run = demo.json(SYNC_SHOP);
    assert_eq!(run["status"], "succeeded");
    assert!(demo.json(&["status", "--store", "shop"])["rows"].is_array());
    assert_eq!(demo.json(&["runs"])[0]["id"], run["run_id"]);
    let shown = demo.json(&["runs", "show", &run["run_id"].to_string()]);
    assert!(shown["items"].is_array());

    // --help and --version are not errors, whatever the format.
    for flag in ["--help", "--version"] {
        let out = demo.cmd(&["--format", "json", flag]).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(!out.stdout.is_empty(), "{flag}");
    }
    // `--format=json` is the same as `--format json`, also for a usage error.
    let out = demo
        .cmd(&["--format=json", "runs", "--limit", "many"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["error"]["kind"], "usage");
}

/// Fails unless `bytes` are free of terminal control characters: C0 (newline aside), DEL
/// and C1, the last as the UTF-8 of U+0080–U+009F.
fn assert_printable(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| *c != '\n' && (c.is_control()))
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: raw control characters {bad:?} in:\n{}",
        text.escape_debug()
    );
}

const ESCAPES: &str = "\u{1b}[31mmug\u{1b}]0;pwned\u{7}";

/// Product data reaches tables and messages raw from files and platforms. A name or SKU
/// carrying terminal escapes (a colour, an OSC window-title sequence, a C1 CSI) must not
/// reach the terminal as such: every table and plain line escapes control characters,
/// while JSON keeps the exact text.
#[test]
fn control_characters_from_product_data_are_escaped_in_human_output() {
    let demo = Demo::new();
    for file in ["accounting.csv", "shop.csv"] {
        let text = demo
            .read(file)
            .replace("Stoneware mug", &format!("Stoneware {ESCAPES}"))
            .replace("TEE-M,", "TEE-\u{9b}M,");
        std::fs::write(demo.data(file), text).expect("write");
    }
    let human = |args: &[&str]| {
        let out = demo.cmd(args).output().expect("run");
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_printable(&format!("{args:?} stdout"), &out.stdout);
        assert_printable(&format!("{args:?} stderr"), &out.stderr);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = human(SHOP_DRY_RUN);
    assert!(
        dry.contains(r"Stoneware \u{1b}[31mmug\u{1b}]0;pwned\u{7}"),
        "{dry}"
    );
    assert!(dry.contains(r"TEE-\u{9b}M"), "{dry}");
    let status = human(&["status", "--store", "shop"]);
    assert!(status.contains(r"\u{1b}[31mmug"), "{status}");
    human(SYNC_SHOP);
    let shown = human(&["runs", "show", "1"]);
    assert!(shown.contains(r"TEE-\u{9b}M"), "{shown}");
    human(&[
        "map",
        "add",
        "--store",
        "shop",
        "--store-sku",
        "POSTER-\u{1b}[2J1",
        "--accounting-sku",
        "POSTER-A",
    ]);
    let maps = human(&["map", "list"]);
    assert!(maps.contains(r"POSTER-\u{1b}[2J1"), "{maps}");

    // JSON keeps the text exact (serde escapes what JSON must).
    let status = demo.json(&["status", "--store", "shop"]);
    let rows = status["rows"].as_array().expect("rows");
    assert!(
        rows.iter()
            .any(|r| r["name"] == format!("Stoneware {ESCAPES}")),
        "{status}"
    );
    assert!(rows.iter().any(|r| r["sku"] == "TEE-\u{9b}M"), "{status}");

    // Errors that quote the data, and file paths.
    std::fs::write(
        demo.data("shop.csv"),
        "sku,name,price,quantity\nMUG-1,Mug,\u{1b}]0;x\u{7}12,4\n",
    )
    .expect("write");
    let out = demo.cmd(SYNC_SHOP).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_printable("a parse error", &out.stdout);
    assert_printable("a parse error", &out.stderr);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r"\u{1b}]0;x\u{7}"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    edit(
        &demo,
        "orders = \"demo/shop-orders.csv\"",
        "orders = \"demo/\\u001b[31mgone.csv\"",
    );
    let out = demo.cmd(&["config", "check"]).output().expect("run");
    assert!(out.status.success(), "{out:?}");
    assert_printable("config check warnings", &out.stdout);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(r"\u{1b}[31mgone.csv"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Issue 13, item 13: another store's orders hold stock for every store, so when they
/// cannot be read a quantity run fails (closed) and says which store and why; a price run
/// still works; `status` shows the products with their prices and which store's orders
/// are unknown.
#[test]
fn a_store_whose_orders_cannot_be_read_is_named_and_status_still_shows_prices() {
    let quantity = [
        "sync", "--store", "shop", "--update", "store", "--fields", "quantity",
    ];
    for (why, broken) in [
        ("missing", &(|_: &Demo| {}) as &dyn Fn(&Demo)),
        ("a directory", &|d: &Demo| {
            std::fs::create_dir(d.data("market-orders.csv")).expect("mkdir")
        }),
    ] {
        let demo = Demo::new();
        edit(
            &demo,
            "path = \"demo/market.json\"",
            "path = \"demo/market.json\"\norders = \"demo/market-orders.csv\"",
        );
        broken(&demo);
        let before = demo.read("shop.csv");

        let out = demo.cmd(&quantity).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{why}: {stderr}");
        for part in [
            "store `market`: its open orders could not be read (",
            "market-orders.csv",
            "): quantities are not written while another store's orders are unknown",
        ] {
            assert!(stderr.contains(part), "{why}: `{part}` missing: {stderr}");
        }
        assert_eq!(demo.read("shop.csv"), before, "{why}: nothing written");
        let runs = demo.json(&["runs"]);
        assert_eq!(runs[0]["status"], "failed", "{why}: {runs}");
        assert!(
            runs[0]["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("store `market`: its open orders")),
            "{why}: {runs}"
        );
        let dry = demo
            .cmd(&[&quantity[..], &["--dry-run", "--format", "json"]].concat())
            .output()
            .expect("run");
        assert_eq!(dry.status.code(), Some(2), "{why}");
        let dry: Value = serde_json::from_slice(&dry.stdout).expect("json");
        assert_eq!(dry["error"]["kind"], "input", "{why}: {dry}");

        // Prices do not depend on orders.
        demo.cmd(&[
            "sync", "--store", "shop", "--update", "store", "--fields", "price",
        ])
        .assert()
        .success();

        let out = demo
            .cmd(&["status", "--store", "shop"])
            .output()
            .expect("run");
        let table = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{why}: {table}");
        assert!(
            table.contains("Open orders of store `market` could not be read ("),
            "{why}: {table}"
        );
        assert!(table.contains("Stoneware mug"), "{why}: {table}");
        let status = demo
            .cmd(&["status", "--store", "shop", "--format", "json"])
            .output()
            .expect("run");
        assert_eq!(status.status.code(), Some(1), "{why}");
        let status: Value = serde_json::from_slice(&status.stdout).expect("json");
        assert_eq!(status["orders_unknown"][0]["store"], "market", "{status}");
        assert!(
            status["orders_unknown"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("market-orders.csv")),
            "{status}"
        );
        let rows = status["rows"].as_array().expect("rows");
        let tee = rows.iter().find(|r| r["sku"] == "TEE-M").expect("TEE-M");
        assert_eq!(tee["status"], "in-sync", "prices were synced: {tee}");
        assert_eq!(tee["accounting_quantity"], 7, "{tee}");
        assert_eq!(tee["store_quantity"], 9, "{tee}");
        assert_eq!(tee["offered_quantity"], Value::Null, "{tee}");
        assert!(
            tee["detail"]
                .as_str()
                .is_some_and(|d| d.contains("quantity not compared")),
            "{tee}"
        );
    }

    // The synced store's own orders.
    let demo = Demo::new();
    std::fs::remove_file(demo.data("shop-orders.csv")).expect("rm");
    let out = demo.cmd(&quantity).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("store `shop`: its open orders could not be read (",)
            && stderr.contains("quantities are not written while its orders are unknown"),
        "{stderr}"
    );
}
