//! The commands on file stores: the built `invsync` binary on temporary copies of the
//! tests' own demo (`fixtures/demo.toml` and `fixtures/demo/`, SQLite), and on data of
//! their own. Never the checkout's `config/demo`: the README's demo rewrites it.

use crate::support::demo::{Demo, SYNC_SHOP, edit};
use crate::support::report::status_of;
use crate::support::{invsync, write_config};
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

/// Issue 13, item 8: a negative accounting price was written to the store
/// (`13.00 → -5.00 updated`). A product whose price or quantity is negative on either
/// side, in a field the run syncs, fails as an item with the reason and is never
/// written; a negative value in a field the run does not sync is left alone.
#[test]
fn negative_prices_and_quantities_fail_their_product_and_are_never_written() {
    let demo = Demo::new();
    let accounting = demo.read("accounting.csv");
    std::fs::write(
        demo.data("accounting.csv"),
        accounting.replace(
            "MUG-2,Stoneware mug,14.00,0,",
            "MUG-2,Stoneware mug,-5.00,0,",
        ),
    )
    .expect("write");
    let shop = demo
        .read("shop.csv")
        .replace("TEE-M,T-shirt (M),21.00,9,", "TEE-M,T-shirt (M),21.00,-3,");
    std::fs::write(demo.data("shop.csv"), &shop).expect("write");

    let dry = demo
        .cmd(&args(&with(SYNC_SHOP, &["--dry-run"])))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        !stdout.contains("-5.00  "),
        "no change to -5.00 planned: {stdout}"
    );

    let out = demo.cmd(SYNC_SHOP).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "failed items: {stderr}");
    assert_eq!(demo.read("shop.csv"), shop, "nothing written");
    let runs = demo.json(&["runs"]);
    let run = &runs[0];
    let counts = |key: &str| run["counts"][key].as_i64().expect(key);
    // As in sync_fixes_it_then…, but the two products that were updated there fail.
    for (key, want) in [
        ("checked", 12),
        ("updated", 0),
        ("failed", 2),
        ("unmapped", 4),
        ("in_sync", 2),
    ] {
        assert_eq!(counts(key), want, "{key}: {run}");
    }
    let failed = failed_items(&demo.json(&["runs", "show", &run["id"].to_string()]));
    assert_eq!(
        failed.len(),
        4,
        "price and quantity of two products: {failed:?}"
    );
    let status = demo
        .cmd(&["status", "--store", "shop"])
        .output()
        .expect("status");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("Not synced until the data is fixed (2):"),
        "{status}"
    );
    assert!(status.contains("the price is negative (-5.00)"), "{status}");
    for (sku, want) in [
        (
            "MUG-2",
            "accounting: the price is negative (-5.00); fix it there",
        ),
        ("TEE-M", "shop: the quantity is negative (-3); fix it there"),
    ] {
        assert!(
            failed
                .iter()
                .filter(|(s, e)| s == sku && e.contains(want))
                .count()
                == 2,
            "{sku}: `{want}` in {failed:?}"
        );
    }
}

/// With another store as the master, a negative count there fails the product's
/// quantity (nothing written) and the accounting side's quantity, which this run does not
/// use, fails nothing.
#[test]
fn a_negative_count_in_the_master_store_is_never_offered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write =
        |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    write(
        "market.csv",
        "sku,name,price,quantity\nA,A,1.00,-2\nB,B,2.00,7\n",
    );
    write(
        "shop.csv",
        "sku,name,price,quantity\nA,A,1.00,3\nB,B,2.00,3\n",
    );
    let config = write_config(
        dir.path(),
        "sqlite://invsync.db",
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,-9\n",
        "[inventory]\nmaster = \"market\"\n\
         [stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\n\
         [stores.market]\nkind = \"file\"\npath = \"market.csv\"\n",
    );
    let run = |args: &[&str]| {
        let mut cmd = invsync();
        cmd.arg("--config").arg(&config).args(args);
        cmd.output().expect("run")
    };
    let out = run(&[
        "sync", "--store", "shop", "--update", "store", "--fields", "quantity",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("shop.csv")).expect("read"),
        "sku,name,price,quantity\nA,A,1.00,3\nB,B,2.00,7\n",
        "B is offered the master's 7; A is left alone"
    );
    let out = run(&["--format", "json", "runs", "show", "1"]);
    let failed = failed_items(&serde_json::from_slice(&out.stdout).expect("json"));
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "A");
    assert!(
        failed[0]
            .1
            .starts_with("market: the quantity is negative (-2); fix it there"),
        "{failed:?}"
    );
}

/// The `(sku, error)` of every failed item of `runs show` JSON.
fn failed_items(shown: &Value) -> Vec<(String, String)> {
    shown["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["outcome"] == "failed")
        .map(|i| {
            (
                i["sku"].as_str().unwrap_or("").to_owned(),
                i["error"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// A negative value in a field the run does not sync fails nothing.
#[test]
fn a_negative_quantity_does_not_fail_a_price_sync() {
    let demo = Demo::new();
    let accounting = demo.read("accounting.csv");
    std::fs::write(
        demo.data("accounting.csv"),
        accounting.replace(
            "MUG-2,Stoneware mug,14.00,0,",
            "MUG-2,Stoneware mug,14.00,-4,",
        ),
    )
    .expect("write");
    let before = demo.read("shop.csv");
    let prices = [
        "sync", "--store", "shop", "--update", "store", "--fields", "price",
    ];
    demo.cmd(&prices).assert().success();
    assert_eq!(
        demo.read("shop.csv"),
        before
            .replace("MUG-2,Stoneware mug,13.00,", "MUG-2,Stoneware mug,14.00,")
            .replace("TEE-M,T-shirt (M),21.00,", "TEE-M,T-shirt (M),19.90,")
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

/// Issue 13, item 2: `share = nan` (or `max_quantity = 0.4`) loaded as 0, `config check`
/// said OK and a quantity sync wrote 0 to every product of the store; `share = 50.5` was
/// rounded to 51. A whole-number key that is not a whole number is refused at the key,
/// from the file or from an `INVSYNC__` variable, and nothing is synced.
#[test]
fn quantity_rules_that_are_not_whole_numbers_are_refused_and_nothing_is_written() {
    // (a line added to [stores.shop], the error, or an override variable instead)
    type RuleCase<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
    let cases: &[RuleCase] = &[
        (
            "share = nan",
            "stores.shop.share: NaN is not a whole number",
            None,
        ),
        (
            "max_quantity = 0.4",
            "stores.shop.max_quantity: 0.4 is not a whole number",
            None,
        ),
        (
            "share = 50.5",
            "stores.shop.share: 50.5 is not a whole number",
            None,
        ),
        (
            "buffer = 2.7",
            "stores.shop.buffer: 2.7 is not a whole number",
            None,
        ),
        (
            "share = true",
            "stores.shop.share: true is not a whole number",
            None,
        ),
        (
            "",
            "stores.shop.share (set by environment variable INVSYNC__STORES__SHOP__SHARE): `nan` is not a whole number",
            Some(("INVSYNC__STORES__SHOP__SHARE", "nan")),
        ),
        (
            "",
            "stores.shop.max_quantity (set by environment variable INVSYNC__STORES__SHOP__MAX_QUANTITY): `0.4` is not a whole number",
            Some(("INVSYNC__STORES__SHOP__MAX_QUANTITY", "0.4")),
        ),
    ];
    for (line, want, env) in cases {
        let demo = Demo::new();
        if !line.is_empty() {
            edit(
                &demo,
                "orders = \"demo/shop-orders.csv\"",
                &format!("orders = \"demo/shop-orders.csv\"\n{line}"),
            );
        }
        let before = demo.read("shop.csv");
        for argv in [&["config", "check"][..], SYNC_SHOP] {
            let mut cmd = demo.cmd(argv);
            if let Some((k, v)) = env {
                cmd.env(k, v);
            }
            let out = cmd.output().expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{line} {env:?} {argv:?}: {stderr}"
            );
            assert!(
                stderr.contains(want),
                "{line} {env:?}: `{want}` missing from {stderr}"
            );
            assert!(stderr.contains("demo.toml"), "{stderr}");
        }
        assert_eq!(
            demo.read("shop.csv"),
            before,
            "{line} {env:?}: nothing written"
        );
    }
}

/// Issue 13, item 5: `path = "/dev/zero"` grew invsync to 5 GB in 6 s and a 2 GB sparse
/// file peaked at 2.1 GB. A file connection's files must be regular files within
/// `max_file_size` (default 1 GiB): anything else fails the run at once, exit 2, with the
/// file, its size and the limit named, and nothing is written. (The timeout only keeps a
/// hang from blocking the suite.)
#[test]
fn file_inputs_that_are_not_regular_files_or_too_large_are_refused() {
    type Setup = &'static dyn Fn(&Demo) -> String;
    let cases: &[(&str, Setup)] = &[
        ("/dev/zero as the accounting file", &|d| {
            edit(d, "path = \"demo/accounting.csv\"", "path = \"/dev/zero\"");
            "/dev/zero: cannot read: is a character device, not a regular file".into()
        }),
        ("a 2 GiB sparse store file", &|d| {
            std::fs::File::create(d.data("shop.csv"))
                .and_then(|f| f.set_len(2 << 30))
                .expect("sparse file");
            format!(
                "{}: cannot read: is 2 GiB, over the limit of 1 GiB; nothing read (raise `max_file_size` in [stores.shop]",
                d.data("shop.csv").display()
            )
        }),
        ("a FIFO as the orders file", &|d| {
            std::fs::remove_file(d.data("shop-orders.csv")).expect("rm");
            let made = std::process::Command::new("mkfifo")
                .arg(d.data("shop-orders.csv"))
                .status()
                .expect("mkfifo");
            assert!(made.success());
            format!(
                "{}: cannot read: is a FIFO (named pipe), not a regular file",
                d.data("shop-orders.csv").display()
            )
        }),
        ("a store file over a max_file_size of 100 bytes", &|d| {
            edit(
                d,
                "orders = \"demo/shop-orders.csv\"",
                "orders = \"demo/shop-orders.csv\"\nmax_file_size = 100",
            );
            let size = std::fs::metadata(d.data("shop.csv")).expect("size").len();
            format!(
                "{}: cannot read: is {size} bytes, over the limit of 100 bytes",
                d.data("shop.csv").display()
            )
        }),
    ];
    for (why, setup) in cases {
        let demo = Demo::new();
        let want = setup(&demo);
        let before = std::fs::read_dir(demo.data("")).expect("dir").count();
        let out = demo
            .cmd(SYNC_SHOP)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{why}: {stderr}");
        assert!(
            stderr.contains(&want),
            "{why}: `{want}` missing from {stderr}"
        );
        let runs = demo.json(&["runs"]);
        assert_eq!(runs[0]["status"], "failed", "{why}: {runs}");
        assert!(
            runs[0]["error"].as_str().is_some_and(|e| e.contains(&want)),
            "{why}: {runs}"
        );
        assert_eq!(
            std::fs::read_dir(demo.data("")).expect("dir").count(),
            before,
            "{why}: no file added (no lock, no temporary file)"
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
    let out = invsync().arg("--help").output().expect("run");
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
    let out = invsync().args(["sync", "--help"]).output().expect("run");
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
    let row = |sku: &str| status_of(&status, sku);
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
    let command = format!(
        "'{}' --config '{}' {}",
        crate::support::binary().display(),
        demo.config().display(),
        SYNC_SHOP.join(" ")
    );
    let out = crate::support::clean_env(&mut std::process::Command::new("script"))
        .args([
            "--quiet",
            "--return",
            "--flush",
            "--command",
            &command,
            "/dev/null",
        ])
        .env("TERM", "xterm")
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

/// `sync --sku` with SKUs on neither side (issue 12, item 6): a `--sku NOPE` used to answer
/// `checked 0` and exit 0. Every SKU found on neither side is named, in tables and JSON
/// (`unknown_skus`, as typed); when none matched there is nothing to do — exit 2, no run
/// recorded, nothing written.
#[test]
fn skus_on_neither_side_are_named_and_none_matching_exits_2_recording_nothing() {
    let demo = Demo::new();
    let before = demo.read("shop.csv");
    let sync = |more: &[&'static str], json: bool| {
        let mut all = with(SYNC_SHOP, more);
        if json {
            all.extend(["--format".to_owned(), "json".to_owned()]);
        }
        demo.cmd(&args(&all)).output().expect("run")
    };
    for dry in [true, false] {
        let more: &[&'static str] = if dry {
            &["--sku", "NOPE,Other-1", "--dry-run"]
        } else {
            &["--sku", "NOPE,Other-1"]
        };
        let out = sync(more, false);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "dry {dry}: {stdout}{stderr}");
        assert!(
            stdout.contains("not found on either side: NOPE, Other-1"),
            "dry {dry}: {stdout}"
        );
        assert!(
            stderr.contains("none of the requested SKUs"),
            "dry {dry}: {stderr}"
        );

        let out = sync(more, true);
        assert_eq!(out.status.code(), Some(2), "dry {dry}");
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(
            report["unknown_skus"],
            serde_json::json!(["NOPE", "Other-1"])
        );
        assert_eq!(report["run_id"], Value::Null, "{report}");
        assert_eq!(report["dry_run"], dry);
        assert_eq!(report["changes"], serde_json::json!([]));
    }
    assert_eq!(
        demo.json(&["runs"]),
        Value::Array(vec![]),
        "no run recorded"
    );
    assert_eq!(demo.read("shop.csv"), before, "nothing written");
}

/// Some SKUs match: the run goes on as asked and still names the others; its exit code is
/// the run's. A SKU on one side only (WEB-ONLY, in the shop alone) is found, and SKUs match
/// as they do everywhere (trimmed, any case).
#[test]
fn a_sync_of_some_unknown_skus_runs_the_others_and_names_the_rest() {
    let demo = Demo::new();
    let skus = ["--sku", " tee-m ,NOPE,WEB-ONLY,nope"];

    let out = demo
        .cmd(&args(&with(
            SYNC_SHOP,
            &[&skus[..], &["--dry-run"]].concat(),
        )))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("TEE-M  T-shirt (M)"), "{stdout}");
    assert!(
        stdout.contains("\nnot found on either side: NOPE\n"),
        "{stdout}"
    );
    let plan = demo.json(&args(&with(
        SYNC_SHOP,
        &[&skus[..], &["--dry-run"]].concat(),
    )));
    assert_eq!(plan["unknown_skus"], serde_json::json!(["NOPE"]));
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(2), "{plan}");

    let out = demo
        .cmd(&args(&with(SYNC_SHOP, &skus)))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("not found on either side: NOPE"),
        "{stdout}"
    );
    assert!(demo.read("shop.csv").contains("TEE-M,T-shirt (M),19.90,7,"));

    let run = demo.json(&args(&with(SYNC_SHOP, &["--sku", "MUG-2,NOPE"])));
    assert_eq!(run["unknown_skus"], serde_json::json!(["NOPE"]));
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["counts"]["updated"], 1, "{run}");
    let runs = demo.json(&["runs"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(2), "both runs recorded");

    // No unknown SKUs: the field is an empty list, the line absent.
    let plan = demo.json(&args(&with(SYNC_SHOP, &["--dry-run"])));
    assert_eq!(plan["unknown_skus"], serde_json::json!([]));
}

/// Products whose stock is not tracked are sold: their price syncs and their quantity is
/// held back with the reason (issue 12, rule 3). Owns its data: a gift card (untracked on
/// both sides, like a QuickBooks NonInventory item), a mug whose store listing does not
/// manage stock (WooCommerce `manage_stock: false`) and a tracked tote.
#[test]
fn untracked_stock_syncs_its_price_and_holds_its_quantity_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("shop.csv"),
        "sku,name,price,quantity,kind\nGIFT-25,Gift card,20.00,,untracked\nMUG-1,Mug,9.00,,untracked\nTOTE-1,Tote,15.00,4,inventory\n",
    )
    .expect("write");
    let config = write_config(
        dir.path(),
        "sqlite://run.db",
        "sku,name,price,quantity,kind\nGIFT-25,Gift card,25.00,,untracked\nMUG-1,Mug,10.00,5,inventory\nTOTE-1,Tote,15.00,4,inventory\n",
        "[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\n",
    );
    let run = |args: &[&str]| {
        let out = invsync()
            .arg("--config")
            .arg(&config)
            .args(args)
            .args(["--format", "json"])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };
    let before = run(&["status", "--store", "shop"]);
    let mug = status_of(&before, "MUG-1");
    assert_eq!(mug["status"], "out-of-sync", "{mug}");
    assert_eq!(mug["differs"], serde_json::json!(["price"]), "{mug}");
    assert!(
        mug["detail"]
            .as_str()
            .is_some_and(|d| d.contains("stock not tracked in the store")),
        "{mug}"
    );
    assert_eq!(status_of(&before, "GIFT-25")["status"], "out-of-sync");

    let report = run(SYNC_SHOP);
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["counts"]["updated"], 2, "{report}");
    assert_eq!(report["counts"]["in_sync"], 1, "{report}");
    let changed: Vec<(&str, &str)> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["sku"].as_str().unwrap_or(""),
                c["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [("GIFT-25", "price"), ("MUG-1", "price")],
        "{report}"
    );
    let held: Vec<&str> = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter(|s| s["field"] == "quantity")
        .filter_map(|s| s["reason"].as_str())
        .collect();
    assert!(
        held.len() == 2 && held.iter().all(|r| r.starts_with("stock not tracked")),
        "{report}"
    );
    let shop = std::fs::read_to_string(dir.path().join("shop.csv")).expect("shop");
    assert!(
        shop.contains("GIFT-25,Gift card,25.00,,untracked"),
        "{shop}"
    );
    assert!(shop.contains("MUG-1,Mug,10.00,,untracked"), "{shop}");

    let after = run(&["status", "--store", "shop"]);
    for sku in ["GIFT-25", "MUG-1", "TOTE-1"] {
        assert_eq!(status_of(&after, sku)["status"], "in-sync", "{after}");
    }
}
