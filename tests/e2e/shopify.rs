//! End to end with a Shopify store: the built `invsync` binary against the Shopify fake
//! (in this process, on loopback), a file accounting side and SQLite run history. A sale
//! lands between invsync's read and its write; it must stand.

use crate::support::report::status_of;
use crate::support::{self, json};
use invsync_test_support::shopify::{FakeShopify, Limits};
use serde_json::Value;

const TOKEN: &str = "shpat_E2E-SENTINEL-41b7";

/// A sync of prices and quantities into the store, reporting JSON.
const SYNC: [&str; 9] = [
    "--format",
    "json",
    "sync",
    "--store",
    "shop",
    "--update",
    "store",
    "--fields",
    "price,quantity",
];

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(base_url: &str) -> Setup {
        Setup::with(
            base_url,
            "sku,name,price,quantity,kind\n\
             MUG-1,Mug,12.50,10,\n\
             TEE-M,T-shirt (M),19.90,7,\n\
             CAP-1,Cap,15.00,3,\n\
             BAG-1,Bag,30.00,6,\n\
             GIFT,Gift card,25.00,0,\n\
             DUP-1,Twice in the shop,5.00,2,\n",
            "sqlite://var/invsync.db",
        )
    }

    /// Its own directory with this accounting file and run-history database.
    fn with(base_url: &str, accounting: &str, database: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        support::write_config(
            dir.path(),
            database,
            accounting,
            &format!(
                "[stores.shop]\nkind = \"shopify\"\nshop = \"example.myshopify.com\"\n\
                 access_token = {{ env = \"E2E_SHOP_TOKEN\" }}\nbase_url = \"{base_url}\"\n"
            ),
        );
        Setup { dir }
    }

    fn database(&self) -> std::path::PathBuf {
        self.dir.path().join("var/invsync.db")
    }
}

/// `invsync ARGS` on the setup's config, off the async runtime (the fake keeps serving
/// meanwhile).
async fn run(setup: &Setup, args: &[&str]) -> std::process::Output {
    let mut cmd = support::with_config(&setup.dir.path().join("invsync.toml"), args);
    cmd.env("E2E_SHOP_TOKEN", TOKEN);
    support::output(cmd).await
}

/// The items `runs show RUN --format json` lists for a run.
async fn run_items(setup: &Setup, run_id: i64) -> Vec<Value> {
    let shown = run(
        setup,
        &["--format", "json", "runs", "show", &run_id.to_string()],
    )
    .await;
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    json(&shown)["items"].as_array().expect("items").clone()
}

/// The item of one SKU and field among a run's items.
fn item<'a>(items: &'a [Value], sku: &str, field: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["sku"] == sku && i["field"] == field)
        .unwrap_or_else(|| panic!("no item {sku} {field}: {items:?}"))
}

/// An untracked variant's quantity does not apply: it is never written, and if the run
/// notes it at all, it is a skipped quantity "stock not tracked" (no difference, nothing
/// that holds the run or the product up). Its price item, if any, is another matter.
fn assert_only_untracked_quantity_noted(items: &[Value], sku: &str) {
    for noted in items
        .iter()
        .filter(|i| i["sku"] == sku && i["field"] == "quantity")
    {
        assert_eq!(noted["outcome"], "skipped", "{noted}");
        assert!(
            noted["error"]
                .as_str()
                .is_some_and(|e| e.contains("stock not tracked")),
            "{noted}"
        );
    }
}

fn assert_no_token(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains("SENTINEL"), "the token leaked into {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_to_shopify_leaves_a_concurrent_sale_standing_and_records_the_run() {
    let fake = FakeShopify::new(TOKEN, Limits::standard());
    fake.add_variant("MUG-1", "12.00", 4);
    fake.add_variant("TEE-M", "19.90", 9);
    fake.add_variant("CAP-1", "15.00", 3);
    fake.add_variant("BAG-1", "30.00", 1);
    fake.add_variant("GIFT", "25.00", 0);
    fake.set_tracked("GIFT", false);
    fake.add_order(&[("BAG-1", 5, 5)], false, false);
    // One SKU on two products: a conflict, never synced.
    fake.add_variant("DUP-1", "4.00", 1);
    fake.add_variant("dup-1", "4.00", 1);
    let server = fake.serve().await;
    let setup = Setup::new(&server.base_url());

    // The dry run reads and plans; it writes nothing.
    let dry = run(&setup, &[&SYNC[..], &["--dry-run"]].concat()).await;
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(fake.variant("MUG-1").expect("MUG-1").available, 4);

    // A customer buys one TEE-M after invsync read the shop and before it writes.
    fake.sell_before_next_write("TEE-M", 1);
    let out = run(
        &setup,
        &[
            "--format",
            "json",
            "--log",
            "debug",
            "sync",
            "--store",
            "shop",
            "--update",
            "store",
            "--fields",
            "price,quantity",
        ],
    )
    .await;
    let report = json(&out);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_token("stdout", &out.stdout);
    assert_no_token("stderr (debug logs)", &out.stderr);

    // The fake's final state.
    let mug = fake.variant("MUG-1").expect("MUG-1");
    assert_eq!(
        (mug.price, mug.available),
        ("12.50".parse().expect("dec"), 10)
    );
    assert_eq!(
        fake.variant("TEE-M").expect("TEE-M").available,
        8,
        "the sale stands: 9 - 1, never overwritten with the planned 7"
    );
    assert_eq!(fake.variant("CAP-1").expect("CAP-1").available, 3);
    assert_eq!(
        fake.variant("BAG-1").expect("BAG-1").available,
        1,
        "in an open order: its quantity is held back"
    );
    for v in fake.variants() {
        if v.sku
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("DUP-1"))
        {
            assert_eq!((v.price, v.available), ("4.00".parse().expect("dec"), 1));
        }
    }
    assert_eq!(fake.invalid_documents(), Vec::<String>::new());

    // The run history.
    let run_id = report["run_id"].as_i64().expect("run id");
    let items = run_items(&setup, run_id).await;
    let item = |sku: &str, field: &str| item(&items, sku, field);
    assert_eq!(item("MUG-1", "price")["outcome"], "updated");
    assert_eq!(item("MUG-1", "quantity")["outcome"], "updated");
    let tee = item("TEE-M", "quantity");
    assert_eq!(tee["outcome"], "skipped", "{tee}");
    let why = tee["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("no longer 9") || why.contains("order"),
        "says why it was not written: {why}"
    );
    assert_eq!(item("BAG-1", "quantity")["outcome"], "skipped");

    let runs = run(&setup, &["--format", "json", "runs", "--store", "shop"]).await;
    let runs = json(&runs);
    let latest = &runs.as_array().expect("runs")[0];
    assert_eq!(latest["id"].as_i64(), Some(run_id));
    assert_eq!(latest["counts"]["failed"], 0);
    assert_eq!(
        latest["counts"]["skipped_base"], 0,
        "the untracked gift card is no display-only product: its price is in sync"
    );
    assert!(
        !items
            .iter()
            .any(|i| i["sku"] == "GIFT" && i["field"] == "price"),
        "its price is in sync: {items:?}"
    );
    assert_only_untracked_quantity_noted(&items, "GIFT");
    assert!(
        matches!(latest["status"].as_str(), Some("succeeded" | "partial")),
        "{latest}"
    );
    let db = std::fs::read(setup.database()).expect("database file");
    assert_no_token("the run-history database", &db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_the_run_with_what_to_do() {
    let fake = FakeShopify::new("shpat_the-right-one", Limits::standard());
    fake.add_variant("MUG-1", "12.00", 4);
    let server = fake.serve().await;
    let setup = Setup::new(&server.base_url());
    let out = run(
        &setup,
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
    .await;
    assert_eq!(out.status.code(), Some(1), "a failed run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("401") && all.contains("access_token"), "{all}");
    assert_no_token("output", all.as_bytes());
    let db = std::fs::read(setup.database()).expect("database file");
    assert_no_token("the run-history database", &db);
}

/// The operations of the GraphQL requests the fake answered from `from` on.
fn operations(fake: &FakeShopify, from: usize) -> Vec<String> {
    fake.requests()
        .into_iter()
        .skip(from)
        .filter_map(|r| {
            let q = r.query?;
            let at = q.find("query ").or_else(|| q.find("mutation "))?;
            let rest = &q[at..];
            let name = rest.split_whitespace().nth(1)?;
            Some(name.split(['(', '{']).next()?.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_syncs_read_only_what_changed_and_still_undo_edits_by_hand() {
    let fake = FakeShopify::new(TOKEN, Limits::standard());
    for (sku, price, available) in [
        ("MUG-1", "12.50", 10),
        ("TEE-M", "19.90", 7),
        ("CAP-1", "15.00", 3),
        ("BAG-1", "30.00", 6),
        ("GIFT", "25.00", 0),
        ("DUP-1", "5.00", 2),
    ] {
        fake.add_variant(sku, price, available);
    }
    let server = fake.serve().await;
    let setup = Setup::new(&server.base_url());
    let sync = SYNC;

    let first = run(&setup, &sync).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let ops = operations(&fake, 0);
    assert!(
        ops.iter().any(|o| o == "VariantsPage"),
        "a whole read first: {ops:?}"
    );

    // An hour later someone raises stock and a price by hand in the Shopify admin. The
    // variant's own updatedAt moves for the price only; the stock shows on its level.
    fake.advance_clock(std::time::Duration::from_secs(3600));
    fake.set_available("CAP-1", 50);
    fake.set_price("MUG-1", "99.00");
    let from = fake.requests().len();
    let second = run(&setup, &sync).await;
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let ops = operations(&fake, from);
    for op in ["VariantsChanged", "ItemsChanged", "LevelsChanged"] {
        assert!(ops.iter().any(|o| o == op), "{op} missing: {ops:?}");
    }
    assert!(
        !ops.iter().any(|o| o == "VariantsPage" || o == "BulkRun"),
        "no whole read: {ops:?}"
    );
    assert_eq!(
        fake.variant("CAP-1").expect("CAP-1").available,
        3,
        "the stock raised by hand is back to the accounting side's"
    );
    assert_eq!(
        fake.variant("MUG-1").expect("MUG-1").price,
        "12.50".parse().expect("dec")
    );
    let report = json(&second);
    let run_id = report["run_id"].as_i64().expect("run id");
    let items = run_items(&setup, run_id).await;
    assert_eq!(
        items.len(),
        2,
        "exactly the two edits were undone: {items:?}"
    );
    assert_eq!(fake.invalid_documents(), Vec::<String>::new());
}

/// Which database the second installation in [`a_second_installation_gets_its_own_keys`]
/// keeps its run history in.
enum SecondDatabase {
    Sqlite,
    Postgres,
}

/// Two fresh run-history databases against one shop (a reset, a second installation, the
/// demo database and then Postgres): each starts at run 1, and Shopify answers a repeated
/// idempotency key with the first call's result (or, with other arguments, refuses it), so
/// keys made of run and change numbers alone left the second installation's writes
/// unapplied. `same_write`: the second installation makes exactly the first one's write
/// again (the stock went back to where it was), which Shopify would replay silently —
/// invsync reported `updated` for a write never applied. Otherwise it writes another value.
async fn a_second_installation_gets_its_own_keys(second: SecondDatabase, same_write: bool) {
    let fake = FakeShopify::new(TOKEN, Limits::standard());
    fake.add_variant("MUG-1", "12.50", 4);
    let server = fake.serve().await;
    let quantity: [&str; 9] = [
        "--format", "json", "sync", "--store", "shop", "--update", "store", "--fields", "quantity",
    ];

    let first = Setup::with(
        &server.base_url(),
        "sku,name,price,quantity,kind\nMUG-1,Mug,12.50,10,\n",
        "sqlite://var/invsync.db",
    );
    let out = run(&first, &quantity).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["run_id"], 1);
    assert_eq!(fake.variant("MUG-1").expect("MUG-1").available, 10);

    let postgres = match second {
        SecondDatabase::Postgres => Some(invsync_test_support::pg::fresh_database().await),
        SecondDatabase::Sqlite => None,
    };
    let url = postgres.as_ref().map_or_else(
        || "sqlite://var/invsync.db".to_owned(),
        |pg| pg.url().to_owned(),
    );
    let want = if same_write {
        // Sales bring the stock back to 4: the second installation writes 4 → 10 again.
        fake.set_available("MUG-1", 4);
        10
    } else {
        7
    };
    let second = Setup::with(
        &server.base_url(),
        &format!("sku,name,price,quantity,kind\nMUG-1,Mug,12.50,{want},\n"),
        &url,
    );
    let replays = fake.stats().idempotent_replays;
    let out = run(&second, &quantity).await;
    let report = json(&out);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report["run_id"], 1,
        "a fresh database starts at run 1 again"
    );
    assert_eq!(report["changes"][0]["outcome"], "updated", "{report}");
    assert_eq!(
        fake.variant("MUG-1").expect("MUG-1").available,
        want,
        "the second installation's write is applied, not answered from the first one's key"
    );
    assert_eq!(
        fake.stats().idempotent_replays,
        replays,
        "nothing was replayed"
    );
    assert_eq!(fake.invalid_documents(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sqlite_database_writing_the_same_change_is_applied() {
    a_second_installation_gets_its_own_keys(SecondDatabase::Sqlite, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sqlite_database_writing_another_value_is_applied() {
    a_second_installation_gets_its_own_keys(SecondDatabase::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_sqlite_writing_the_same_change_is_applied() {
    a_second_installation_gets_its_own_keys(SecondDatabase::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_sqlite_writing_another_value_is_applied() {
    a_second_installation_gets_its_own_keys(SecondDatabase::Postgres, false).await;
}

/// Issue 12 through the binary: a variant not stocked at the synced location is one
/// classification for `status` and `sync` — a listing whose quantity is held back with what
/// to do about it, never "no listing in this store" and never a failed run — and its price,
/// like an untracked variant's, is synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_sync_agree_on_a_variant_not_stocked_at_the_location() {
    let fake = FakeShopify::new(TOKEN, Limits::standard());
    fake.add_variant("MUG-1", "12.50", 10);
    fake.add_untracked_variant("GIFT", "20.00");
    fake.add_unstocked_variant("POSTER", "16.00");
    let server = fake.serve().await;
    let setup = Setup::new(&server.base_url());
    std::fs::write(
        setup.dir.path().join("accounting.csv"),
        "sku,name,price,quantity,kind\n\
         MUG-1,Mug,12.50,10,\n\
         GIFT,Gift card,25.00,0,\n\
         POSTER,Poster,18.00,7,\n",
    )
    .expect("accounting");
    const WHAT_TO_DO: &str =
        "not stocked at the store's location: stock it there, or change the store's `location`";

    // status: a listing, out of sync, with the reason and what to do.
    let status = run(&setup, &["--format", "json", "status", "--store", "shop"]).await;
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status = json(&status);
    let poster = status_of(&status, "POSTER");
    assert_eq!(poster["status"], "out-of-sync", "{poster}");
    assert_ne!(poster["status"], "unmapped");
    assert_eq!(poster["store_price"], "16.00", "{poster}");
    let detail = poster["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(WHAT_TO_DO), "{detail}");
    assert!(!detail.contains("no listing"), "{detail}");
    let gift = status_of(&status, "GIFT");
    assert_eq!(gift["status"], "out-of-sync", "its price differs: {gift}");
    assert_eq!(gift["differs"], serde_json::json!(["price"]), "{gift}");

    // sync: the same reason for the held-back quantity, both prices written, no failure.
    let out = run(&setup, &SYNC).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let run_id = report["run_id"].as_i64().expect("run id");
    let poster = fake.variant("POSTER").expect("POSTER");
    assert_eq!(poster.price, "18.00".parse().expect("dec"));
    assert!(!poster.stocked, "never stocked by invsync");
    assert_eq!(
        fake.variant("GIFT").expect("GIFT").price,
        "25.00".parse().expect("dec")
    );
    assert_eq!(fake.writes("POSTER").quantity, 0);
    assert_eq!(fake.writes("GIFT").quantity, 0);
    let items = run_items(&setup, run_id).await;
    let item = |sku: &str, field: &str| item(&items, sku, field);
    assert_eq!(item("POSTER", "price")["outcome"], "updated");
    assert_eq!(item("GIFT", "price")["outcome"], "updated");
    let held = item("POSTER", "quantity");
    assert_eq!(held["outcome"], "skipped", "{held}");
    assert!(
        held["error"]
            .as_str()
            .unwrap_or_default()
            .contains(WHAT_TO_DO),
        "{held}"
    );
    assert_only_untracked_quantity_noted(&items, "GIFT");
    let runs = json(&run(&setup, &["--format", "json", "runs", "--store", "shop"]).await);
    let latest = &runs.as_array().expect("runs")[0];
    assert_eq!(latest["status"], "succeeded", "{latest}");
    assert_eq!(latest["counts"]["failed"], 0, "{latest}");
    assert_eq!(latest["counts"]["unmapped"], 0, "{latest}");

    // status afterwards: the gift card is in sync; the poster still waits to be stocked.
    let after = json(&run(&setup, &["--format", "json", "status", "--store", "shop"]).await);
    assert_eq!(status_of(&after, "GIFT")["status"], "in-sync");
    let poster = status_of(&after, "POSTER");
    assert_eq!(poster["status"], "out-of-sync", "{poster}");
    assert!(
        poster["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(WHAT_TO_DO),
        "{poster}"
    );

    // Stocked at the location by hand: the next run syncs its quantity.
    fake.set_available("POSTER", 2);
    let out = run(&setup, &SYNC).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.variant("POSTER").expect("POSTER").available, 7);
    assert_eq!(fake.invalid_documents(), Vec::<String>::new());
}
