//! The order watch through the binary (issue 18, item 5): three file stores share one
//! stock under `reserve`, each on a 15-minute schedule, with a 30-second watch. An order
//! line appended to one store's orders file lowers that SKU's quantity in the other two
//! within two watch periods, recorded as `trigger = 'order'` runs, and nothing else in
//! those files changes. A sale at the till (the accounting file's quantity) follows the
//! same way (ADR 0102).

use crate::support::daemon::{Daemon, http_get};
use crate::support::{runs, wait_for, write_config};
use std::time::{Duration, Instant};

const CATALOG: &str =
    "sku,name,price,quantity\nMUG,Mug,12.50,10\nTEE,Tee,20.00,8\nCAP,Cap,9.00,5\n";
const WATCH: Duration = Duration::from_secs(30);

/// The sum of a metric's samples over all its labels (`name{…} value` lines).
fn metric_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn an_order_reaches_the_other_stores_within_two_watch_periods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let read = |name: &str| std::fs::read_to_string(path(name)).expect("read");
    let mut rest = String::from(
        "[daemon]\nlisten = \"127.0.0.1:0\"\n\n[inventory]\nin_orders = \"reserve\"\norder_watch = \"30s\"\n\n",
    );
    for store in ["a", "b", "c"] {
        std::fs::write(path(&format!("{store}.csv")), CATALOG).expect("store");
        std::fs::write(path(&format!("{store}-orders.csv")), "order,sku,quantity\n")
            .expect("orders");
        rest.push_str(&format!(
            "[stores.{store}]\nkind = \"file\"\npath = \"{store}.csv\"\norders = \"{store}-orders.csv\"\n\n\
             [[schedules]]\nstore = \"{store}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n\n"
        ));
    }
    let config = write_config(dir.path(), "sqlite://invsync.db", CATALOG, &rest);
    let mut daemon = Daemon::start(&config, &[]);
    let port = daemon.http_port();

    // The start-up runs (every schedule is due at start) and the first, quiet, pass.
    wait_for("the start-up runs", Duration::from_secs(60), || {
        let r = runs(&config);
        r.as_array().is_some_and(|r| {
            r.iter()
                .filter(|r| r["trigger"] == "schedule" && r["status"] == "succeeded")
                .count()
                == 3
        })
    });
    wait_for("a quiet watch pass", Duration::from_secs(60), || {
        let (_, page) = http_get(port, "/metrics");
        metric_sum(&page, "invsync_order_watch_passes_total") >= 1.0
    });
    for store in ["a", "b", "c"] {
        assert_eq!(
            read(&format!("{store}.csv")),
            CATALOG,
            "nothing to do at start"
        );
    }

    // Two tees sold at the till before any store order: the accounting file (read again
    // each pass, ADR 0102) says 6, and every store follows within two watch periods, TEE
    // alone. (The baseline it is compared with is the one the first, quiet, pass kept.)
    let till = Instant::now();
    let teed = CATALOG.replace("TEE,Tee,20.00,8", "TEE,Tee,20.00,6");
    std::fs::write(path("accounting.csv"), &teed).expect("accounting");
    wait_for("the till sale to reach a, b and c", WATCH * 2, || {
        ["a.csv", "b.csv", "c.csv"].iter().all(|f| read(f) == teed)
    });
    assert!(till.elapsed() < WATCH * 2, "{:?}", till.elapsed());

    // A sale in store `a`: 3 mugs, an order line appended to its orders file.
    let appended = Instant::now();
    {
        use std::io::Write as _;
        let mut orders = std::fs::OpenOptions::new()
            .append(true)
            .open(path("a-orders.csv"))
            .expect("open the orders file");
        orders.write_all(b"A-1001,MUG,3\n").expect("append");
    }
    let lowered = teed.replace("MUG,Mug,12.50,10", "MUG,Mug,12.50,7");
    wait_for("the mugs to reach b and c", WATCH * 2, || {
        read("b.csv") == lowered && read("c.csv") == lowered
    });
    let took = appended.elapsed();
    assert!(took < WATCH * 2, "{took:?}");
    // The selling store's own listing follows the same rule (master − reserved), and only
    // that cell moves; the orders file is read, never written.
    assert!(read("a.csv") == lowered || read("a.csv") == teed);
    assert_eq!(read("a-orders.csv"), "order,sku,quantity\nA-1001,MUG,3\n");

    let r = runs(&config);
    let pushes: Vec<&serde_json::Value> = r
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["trigger"] == "order")
        .collect();
    for store in ["b", "c"] {
        let push = pushes
            .iter()
            .find(|r| r["store"] == store && r["counts"]["updated"] == 1)
            .unwrap_or_else(|| panic!("an order run that updated {store}: {r:#}"));
        assert_eq!(push["status"], "succeeded", "{push:#}");
        assert_eq!(push["fields"], "quantity", "{push:#}");
        assert_eq!(push["counts"]["checked"], 1, "only MUG: {push:#}");
        assert!(push["schedule"].is_null(), "{push:#}");
    }
    let (_, page) = http_get(port, "/metrics");
    assert!(
        metric_sum(&page, "invsync_order_watch_delay_seconds_count") >= 1.0,
        "{page}"
    );
    assert!(
        metric_sum(&page, "invsync_order_watch_skus_pushed_total") >= 2.0,
        "{page}"
    );

    daemon.stop(Duration::from_secs(30));
}

/// Issue 18, item 2: several stores sharing stock under `skip` get a warning naming the
/// measured difference; under `reserve` the watch runs at its default, a minute.
#[test]
fn config_check_warns_about_shared_stock_under_skip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = "[stores.a]\nkind = \"file\"\npath = \"a.csv\"\n\n[stores.b]\nkind = \"file\"\npath = \"b.csv\"\n\n";
    for store in ["a", "b"] {
        std::fs::write(dir.path().join(format!("{store}.csv")), CATALOG).expect("store");
    }
    let check = |inventory: &str, format: &str| {
        let config = write_config(
            dir.path(),
            "sqlite://invsync.db",
            CATALOG,
            &format!("{inventory}\n{stores}"),
        );
        let out = crate::support::with_config(&config, &["--format", format, "config", "check"])
            .output()
            .expect("config check");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let said = check("", "table");
    assert!(
        said.contains("warning: inventory.in_orders = \"skip\" with 2 stores sharing stock"),
        "{said}"
    );
    assert!(said.contains("reserve with the order watch"), "{said}");
    assert!(said.contains("%"), "the measured numbers: {said}");
    assert!(
        said.contains("order watch: off (it needs in_orders = \"reserve\")"),
        "{said}"
    );
    let json: serde_json::Value = serde_json::from_str(&check("", "json")).expect("json");
    assert!(json["order_watch"].is_null(), "{json}");

    let reserve = "[inventory]\nin_orders = \"reserve\"\n";
    let said = check(reserve, "table");
    assert!(!said.contains("warning: inventory.in_orders"), "{said}");
    assert!(
        said.contains("order watch: every 1m (store orders and the accounting side's quantities)"),
        "a file accounting side is watched too (ADR 0102): {said}"
    );
    let json: serde_json::Value = serde_json::from_str(&check(reserve, "json")).expect("json");
    assert_eq!(json["order_watch"], "1m", "{json}");
    assert_eq!(json["order_watch_accounting"], true, "{json}");
    let said = check(
        "[inventory]\nin_orders = \"reserve\"\norder_watch = \"off\"\n",
        "table",
    );
    assert!(said.contains("order watch: off"), "{said}");
}
