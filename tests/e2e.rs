//! End-to-end tests: the built `invsync` binary on temporary copies of the tests' own demo
//! (`tests/fixtures/demo.toml` and `tests/fixtures/demo/`, SQLite). Never the checkout's
//! `config/demo`: the README's demo rewrites it.

mod demo_fixture;

use assert_cmd::Command;
use demo_fixture::{Demo, SYNC_SHOP, edit};
use serde_json::Value;

fn with(base: &[&str], more: &[&'static str]) -> Vec<String> {
    base.iter().chain(more).map(|s| (*s).to_owned()).collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn dry_run_shows_the_diff_and_changes_nothing() {
    let demo = Demo::new();
    let before = demo.read("shop.csv");
    let out = demo
        .cmd(&args(&with(SYNC_SHOP, &["--dry-run"])))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Dry run: 4 change(s) would be written to store `shop`"),
        "{stdout}"
    );
    for line in [
        "MUG-2  Stoneware mug  price     13.00  14.00",
        "TEE-M  T-shirt (M)    quantity  9      7",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in\n{stdout}");
    }
    assert!(stdout.contains("in-orders"), "{stdout}");
    assert_eq!(demo.read("shop.csv"), before, "a dry run writes nothing");
    assert!(
        out.stderr.is_empty(),
        "no progress bar or logs when not on a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        demo.json(&["runs"]),
        Value::Array(vec![]),
        "a dry run records nothing"
    );

    let plan = demo.json(&args(&with(SYNC_SHOP, &["--dry-run"])));
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(4));
    assert_eq!(plan["skipped"].as_array().map(Vec::len), Some(2));
}

#[test]
fn sync_fixes_it_then_changes_nothing_and_runs_show_the_counts() {
    let demo = Demo::new();
    let before = demo.read("shop.csv");
    demo.cmd(SYNC_SHOP).assert().success();
    let after = demo.read("shop.csv");
    let want = before
        .replace(
            "MUG-2,Stoneware mug,13.00,2,",
            "MUG-2,Stoneware mug,14.00,0,",
        )
        .replace("TEE-M,T-shirt (M),21.00,9,", "TEE-M,T-shirt (M),19.90,7,");
    assert_eq!(
        after, want,
        "only the planned cells changed; every other byte is kept"
    );

    let second = demo.json(SYNC_SHOP);
    assert_eq!(second["status"], "succeeded");
    assert_eq!(
        second["changes"],
        Value::Array(vec![]),
        "a second sync changes nothing"
    );
    assert_eq!(demo.read("shop.csv"), after);

    let runs = demo.json(&["runs"]);
    let runs = runs.as_array().expect("array");
    assert_eq!(runs.len(), 2);
    let (second, first) = (&runs[0], &runs[1]);
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["trigger"], "manual");
    assert_eq!(first["update_side"], "store");
    assert_eq!(first["fields"], "price,quantity");
    assert!(first["finished_at"].is_string());
    let counts = |run: &Value, key: &str| run["counts"][key].as_i64().expect(key);
    // 12 products: 2 in sync (tee-s, CAP-1), 2 updated (MUG-2, TEE-M), 2 in orders (MUG-1,
    // TEE-L), 2 base (TEE, GIFT-SET), 4 unmapped (BAG-1, POSTER-A, WEB-ONLY, POSTER-1).
    for (key, want) in [
        ("checked", 12),
        ("in_sync", 2),
        ("updated", 2),
        ("skipped_in_orders", 2),
        ("skipped_base", 2),
        ("unmapped", 4),
        ("failed", 0),
    ] {
        assert_eq!(counts(first, key), want, "first run {key}");
    }
    assert_eq!(counts(second, "updated"), 0);
    assert_eq!(counts(second, "in_sync"), 4);

    let shown = demo.json(&["runs", "show", &first["id"].to_string()]);
    let items = shown["items"].as_array().expect("items");
    assert_eq!(
        items.iter().filter(|i| i["outcome"] == "updated").count(),
        4
    );
    assert_eq!(
        items.iter().filter(|i| i["outcome"] == "skipped").count(),
        2
    );
}

#[test]
fn a_manual_mapping_links_differently_named_skus() {
    let demo = Demo::new();
    demo.cmd(&[
        "map",
        "add",
        "--store",
        "shop",
        "--store-sku",
        "POSTER-1",
        "--accounting-sku",
        "POSTER-A",
    ])
    .assert()
    .success();
    let list = demo.json(&["map", "list"]);
    assert_eq!(list[0]["store_sku"], "POSTER-1");
    let status = demo.json(&["status", "--store", "shop", "--status", "out-of-sync"]);
    let rows = status["rows"].as_array().expect("rows");
    assert!(
        rows.iter()
            .any(|r| r["sku"] == "POSTER-A" && r["store_sku"] == "POSTER-1"),
        "{status}"
    );
    demo.cmd(&[
        "sync", "--store", "shop", "--update", "store", "--fields", "quantity", "--sku", "poster-a",
    ])
    .assert()
    .success();
    assert!(
        demo.read("shop.csv")
            .contains("POSTER-1,\"Poster \"\"A\"\"\",5.00,18,"),
        "{}",
        demo.read("shop.csv")
    );
    demo.cmd(&[
        "map",
        "remove",
        "--store",
        "shop",
        "--store-sku",
        "poster-1",
    ])
    .assert()
    .success();
    demo.cmd(&[
        "map",
        "remove",
        "--store",
        "shop",
        "--store-sku",
        "poster-1",
    ])
    .assert()
    .code(2);
}

#[test]
fn accounting_side_sync_writes_one_field_back() {
    let demo = Demo::new();
    demo.cmd(&[
        "sync",
        "--store",
        "shop",
        "--update",
        "accounting",
        "--fields",
        "price",
        "--sku",
        "TEE-M",
    ])
    .assert()
    .success();
    assert!(
        demo.read("accounting.csv")
            .contains("TEE-M,T-shirt (M),21.00,7,inventory,Cotton Co"),
        "{}",
        demo.read("accounting.csv")
    );
    let out = demo
        .cmd(&[
            "sync",
            "--store",
            "shop",
            "--update",
            "accounting",
            "--fields",
            "price,quantity",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exactly one field"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(why, how to break the demo, command, what stderr must say)`.
type Case<'a> = (&'a str, &'a dyn Fn(&Demo), &'a [&'a str], &'a [&'a str]);

/// Each broken setup exits 2 with a message naming what is wrong.
#[test]
fn bad_configs_and_inputs_exit_2_naming_the_problem() {
    let cases: &[Case] = &[
        (
            "a 5m interval",
            &|d| edit(d, "every = \"15m\"", "every = \"5m\""),
            &["config", "check"],
            &[
                "schedules[0].every",
                "outside the allowed range",
                "demo.toml",
            ],
        ),
        (
            "two accounting-side fields",
            &|d| {
                edit(
                    d,
                    "update = \"store\"\nfields = [\"quantity\"]",
                    "update = \"accounting\"\nfields = [\"price\", \"quantity\"]",
                )
            },
            &["config", "check"],
            &["schedules[1].fields", "exactly one field"],
        ),
        (
            "an unknown store in a schedule",
            &|d| edit(d, "store = \"market\"", "store = \"markt\""),
            &["config", "check"],
            &["schedules[1].store", "`markt` is not a configured store"],
        ),
        (
            "an unknown store on the command line",
            &|_| {},
            &[
                "sync", "--store", "nope", "--update", "store", "--fields", "price",
            ],
            &["`nope` is not a configured store"],
        ),
        (
            "an unknown key",
            &|d| {
                edit(
                    d,
                    "in_orders = \"skip\"",
                    "in_orders = \"skip\"\nin_order = \"skip\"",
                )
            },
            &["config", "check"],
            &["inventory.in_order", "unknown key"],
        ),
        (
            "a missing env secret",
            &|d| {
                edit(
                    d,
                    "url = \"sqlite://var/demo.db\"",
                    "url = { env = \"INVSYNC_E2E_UNSET_SECRET\" }",
                )
            },
            &["runs"],
            &[
                "database.url",
                "environment variable INVSYNC_E2E_UNSET_SECRET is not set",
            ],
        ),
        (
            "a malformed CSV",
            &|d| {
                std::fs::write(
                    d.data("shop.csv"),
                    "sku,name,price,quantity\nMUG-1,Mug,12.50,4\nMUG-2,Mug,twelve,3\n",
                )
                .expect("write")
            },
            SYNC_SHOP,
            &["shop.csv:3:11", "twelve"],
        ),
        (
            "a missing data file",
            &|d| std::fs::remove_file(d.data("shop.csv")).expect("rm"),
            SYNC_SHOP,
            &["shop.csv"],
        ),
        (
            "a bad --fields value",
            &|_| {},
            &[
                "sync", "--store", "shop", "--update", "store", "--fields", "colour",
            ],
            &["invalid value 'colour'"],
        ),
    ];
    for (why, setup, argv, wants) in cases {
        let demo = Demo::new();
        setup(&demo);
        let before = std::fs::read_dir(demo.data("")).expect("dir").count();
        let out = demo.cmd(argv).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{why}: exit code; stderr: {stderr}"
        );
        for want in *wants {
            assert!(
                stderr.contains(want),
                "{why}: `{want}` missing from: {stderr}"
            );
        }
        assert_eq!(
            std::fs::read_dir(demo.data("")).expect("dir").count(),
            before,
            "{why}: no temp files left"
        );
    }
}

#[test]
fn a_malformed_file_is_recorded_as_a_failed_run_and_left_untouched() {
    let demo = Demo::new();
    let broken = "sku,name,price,quantity\n\"MUG-1,Mug,12.50,4\n";
    std::fs::write(demo.data("shop.csv"), broken).expect("write");
    demo.cmd(SYNC_SHOP).assert().code(2);
    assert_eq!(demo.read("shop.csv"), broken);
    let runs = demo.json(&["runs"]);
    assert_eq!(runs[0]["status"], "failed");
    assert!(
        runs[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("shop.csv")),
        "{runs}"
    );
}

#[test]
fn config_check_prints_next_run_times() {
    let demo = Demo::new();
    let out = demo.cmd(&["config", "check"]).output().expect("run");
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("shop-store"), "{stdout}");
    assert!(stdout.contains("every 15m"), "{stdout}");
    assert!(stdout.contains("at daemon start"), "{stdout}");
    assert!(
        stdout.contains("master inventory location: accounting; in_orders = skip"),
        "the config's own words, not Rust's: {stdout}"
    );
    let json = demo.json(&["config", "check"]);
    assert_eq!(
        json["schedules"][0]["next_runs"].as_array().map(Vec::len),
        Some(3)
    );
}

#[test]
fn help_explains_the_commands() {
    let out = Command::cargo_bin("invsync")
        .expect("bin")
        .arg("--help")
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "sync",
        "status",
        "runs",
        "map",
        "config",
        "migrate",
        "Exit codes",
    ] {
        assert!(help.contains(word), "{word} missing from --help:\n{help}");
    }
    let out = Command::cargo_bin("invsync")
        .expect("bin")
        .args(["sync", "--help"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--dry-run"));
}

/// Issue 7 through the binary: store orders are tracked in the database until they leave
/// the orders file (posted); `status` lists what they hold; `reserve` writes the master
/// quantity less what they hold.
#[test]
fn orders_hold_stock_until_they_leave_the_orders_file() {
    let demo = Demo::new();
    let quantity = [
        "sync", "--store", "shop", "--update", "store", "--fields", "quantity",
    ];

    let dry = demo
        .cmd(&[&quantity[..], &["--dry-run"]].concat())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        stdout.contains(
            "Quantity offered to `shop`: buffer 0, max_quantity none, share 100%; in_orders = skip"
        ),
        "a dry run shows the rules it applies:\n{stdout}"
    );

    let status = demo
        .cmd(&["status", "--store", "shop"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains("In unposted orders (2, quantity not written until posted):"),
        "{stdout}"
    );
    for line in ["MUG-1  1     shop:#1043", "TEE-L  2     shop:#1042"] {
        assert!(stdout.contains(line), "missing `{line}` in\n{stdout}");
    }

    let first = demo.json(&quantity);
    assert_eq!(first["counts"]["skipped_in_orders"], 2, "{first}");

    // The merchant posts #1043: it leaves the orders file and the accounting quantity
    // drops by the order's unit. The next run writes MUG-1; TEE-L is still held.
    std::fs::write(
        demo.data("shop-orders.csv"),
        "order,sku,quantity\n#1042,TEE-L,2\n",
    )
    .expect("write orders");
    let accounting = demo
        .read("accounting.csv")
        .replace("MUG-1,Enamel mug,12.50,40,", "MUG-1,Enamel mug,12.50,39,");
    std::fs::write(demo.data("accounting.csv"), accounting).expect("write accounting");
    let second = demo.json(&quantity);
    assert_eq!(second["counts"]["skipped_in_orders"], 1, "{second}");
    let changes = second["changes"].as_array().expect("changes");
    assert!(
        changes
            .iter()
            .any(|c| c["sku"] == "MUG-1" && c["new"] == "39"),
        "{second}"
    );
    assert!(demo.read("shop.csv").contains("MUG-1,Enamel mug,12.50,39"));

    let status = demo.json(&["status", "--store", "shop"]);
    let row = |sku: &str| {
        status["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["sku"] == sku).cloned())
            .expect("row")
    };
    assert_eq!(row("MUG-1")["orders"], serde_json::json!([]));
    assert_eq!(row("TEE-L")["orders"], serde_json::json!(["shop:#1042"]));
    assert_eq!(row("TEE-L")["held_quantity"], 2);
    assert_eq!(status["in_orders"], "skip");

    // Reserve: TEE-L is written as 3 − 2 held = 1.
    edit(&demo, "in_orders = \"skip\"", "in_orders = \"reserve\"");
    let third = demo.json(&quantity);
    assert_eq!(third["counts"]["skipped_in_orders"], 0, "{third}");
    assert_eq!(third["quantity_rules"]["in_orders"], "reserve", "{third}");
    assert!(
        third["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .any(|c| c["sku"] == "TEE-L" && c["new"] == "1"),
        "{third}"
    );
}

/// Long manual runs show a progress bar on a terminal (and none when piped: see
/// `dry_run_shows_the_diff_and_changes_nothing`). `script` runs invsync on a pseudo-terminal.
#[test]
fn a_sync_on_a_terminal_shows_its_progress() {
    let demo = Demo::new();
    let invsync = assert_cmd::cargo::cargo_bin("invsync");
    let command = format!(
        "'{}' --config '{}' {}",
        invsync.display(),
        demo.config().display(),
        SYNC_SHOP.join(" ")
    );
    let out = std::process::Command::new("script")
        .args([
            "--quiet",
            "--return",
            "--flush",
            "--command",
            &command,
            "/dev/null",
        ])
        .env("TERM", "xterm")
        .env_remove("INVSYNC_LOG")
        .env_remove("INVSYNC_CONFIG")
        .output()
        .expect("script(1) from util-linux runs the binary on a pseudo-terminal");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        ["reading…", "planning…", "changes ("]
            .iter()
            .any(|phase| screen.contains(phase)),
        "no progress bar on a terminal:\n{screen}"
    );
    assert!(screen.contains("Run 1 succeeded: 4 change(s)"), "{screen}");
}

/// `invsync runs` and `runs show ID` as tables (the JSON forms are checked above), and the
/// `--store` and `--limit` filters.
#[test]
fn runs_print_tables_and_filter_by_store_and_limit() {
    let demo = Demo::new();
    demo.cmd(SYNC_SHOP).assert().success();
    demo.cmd(&[
        "sync", "--store", "market", "--update", "store", "--fields", "quantity",
    ])
    .assert()
    .success();

    let out = demo.cmd(&["runs"]).output().expect("run");
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let header = table.lines().next().unwrap_or_default();
    for column in ["ID", "STORE", "STATUS", "CHECKED", "UPDATED", "FAILED"] {
        assert!(header.contains(column), "{column} missing from:\n{table}");
    }
    assert_eq!(table.matches("succeeded").count(), 2, "{table}");
    assert!(table.contains("(manual)"), "{table}");

    let market = demo.json(&["runs", "--store", "market"]);
    let market = market.as_array().expect("array");
    assert_eq!(market.len(), 1);
    assert_eq!(market[0]["store"], "market");
    let newest = demo.json(&["runs", "--limit", "1"]);
    assert_eq!(newest.as_array().map(Vec::len), Some(1));
    assert_eq!(newest[0]["store"], "market", "newest first");

    let shop_run = demo.json(&["runs", "--store", "shop"])[0]["id"].to_string();
    let out = demo
        .cmd(&["runs", "show", &shop_run])
        .output()
        .expect("run");
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    for part in [
        "SKU", "OUTCOME", "MUG-2", "price", "14.00", "updated", "skipped",
    ] {
        assert!(shown.contains(part), "`{part}` missing from:\n{shown}");
    }

    let out = demo.cmd(&["runs", "show", "999"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no run 999"));
}

/// `--status` and `--all` pick the products of a manual run (`--sku`: see
/// `a_manual_mapping_links_differently_named_skus`).
#[test]
fn a_sync_picks_products_by_status_or_all() {
    let demo = Demo::new();
    let planned = |more: &[&'static str]| {
        let plan = demo.json(&args(&with(SYNC_SHOP, &[&["--dry-run"], more].concat())));
        plan["changes"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(planned(&["--all"]), 4);
    assert_eq!(planned(&["--status", "out-of-sync"]), 4);
    assert_eq!(planned(&["--status", "in-sync,base,unmapped"]), 0);
    assert_eq!(planned(&["--sku", "MUG-2"]), 2);
    let out = demo
        .cmd(&args(&with(SYNC_SHOP, &["--all", "--sku", "MUG-2"])))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "--all and --sku exclude each other"
    );
}
