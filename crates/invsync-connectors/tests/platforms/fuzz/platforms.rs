//! Each platform connector against mutated replays of its real conversation with the
//! platform's fake.

use super::replay::{self, Exchange, Recorder, Replay};
use base64::Engine as _;
use compact_str::CompactString;
use invsync_config::{
    BigCommerceConfig, ConnectionConfig, QboEnvironment, QboQuantityWrite, QuickBooksOnlineConfig,
    ShopifyConnectionConfig, WooCommerceConfig,
};
use invsync_connectors::bigcommerce::{BigCommerceConnection, ConfirmPolicy};
use invsync_connectors::http::{Backoff, Timeouts};
use invsync_connectors::quickbooks_online::{QuickBooksOnline, Tuning};
use invsync_connectors::redact::{Redacted, Redactor};
use invsync_connectors::shopify::ShopifyConnection;
use invsync_connectors::woocommerce::WooCommerceConnection;
use invsync_connectors::{
    Connection, ConnectorError, MemoryVault, OpenContext, RecordRef, TokenVault, Write,
};
use invsync_core::{Field, FieldValue, OrderLine, Record};
use invsync_test_support::fake::FakeServer;
use proptest::prelude::*;
use proptest::sample::Index;
use rust_decimal::Decimal;
use secrecy::{SecretSlice, SecretString};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

/// Every credential of every connection here. No error may show it, in any encoding.
const SENTINEL: &str = "SENTINEL-7f3a9c-fuzz";

/// The forms a credential takes on the wire (raw, Basic auth, URL-encoded).
fn sentinel_forms() -> Vec<String> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SENTINEL}:{SENTINEL}"));
    vec![SENTINEL.to_owned(), basic]
}

/// How long one case may take: retries are short here, so more is a hang.
const CASE_DEADLINE: Duration = Duration::from_secs(30);

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(5),
    }
}

fn backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
        attempts: 3,
    }
}

/// Names of the threads that panicked: a connection's spawned tasks run on its
/// platform's runtime threads, and a panic there may come back as a mere error.
static PANICKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(name) = std::thread::current().name() {
                PANICKED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(name.to_owned());
            }
            previous(info);
        }));
    });
}

fn panicked_on(thread: &str) -> bool {
    PANICKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|t| t == thread)
}

/// What the operations of one case get, taken from the recording run.
struct Inputs {
    writes: Vec<Write>,
    refs: Vec<RecordRef>,
    orders: Vec<OrderLine>,
}

type Open = Box<dyn Fn(&str) -> Box<dyn Connection> + Send + Sync>;

/// A platform: its recording, a replay server and how to open a connection to it.
struct Platform {
    rt: tokio::runtime::Runtime,
    /// The name of the runtime's threads.
    thread: String,
    recorded: Vec<Exchange>,
    replay: Replay,
    open: Open,
    inputs: Inputs,
    /// Object keys whose values are not mutated (see `replay::apply`).
    skip: &'static [&'static str],
    /// One case at a time: the tests of a platform share its replay server.
    turn: Mutex<()>,
    _fake: FakeServer,
    _recorder: Recorder,
}

fn bump(value: FieldValue) -> FieldValue {
    match value {
        FieldValue::Price(p) => FieldValue::Price(p + Decimal::ONE),
        FieldValue::Quantity(q) => FieldValue::Quantity(q + 1),
    }
}

fn inputs_from(records: &[Record], store: &str) -> Inputs {
    let mut writes = Vec::new();
    for (n, r) in records.iter().enumerate().take(4) {
        for field in [Field::Price, Field::Quantity] {
            if let Some(old) = r.value(field) {
                writes.push(Write {
                    id: r.id.clone(),
                    sku: r.sku.clone(),
                    field,
                    old,
                    new: bump(old),
                    key: format!("invsync-run-1-change-{n}-{field:?}"),
                    sale: None,
                });
            }
        }
    }
    let refs = records
        .iter()
        .take(4)
        .map(|r| RecordRef {
            id: r.id.clone(),
            sku: r.sku.clone(),
        })
        .collect();
    let orders = ["1001", "1002", "shop-1003"]
        .iter()
        .map(|o| OrderLine {
            store: CompactString::from(store),
            order: CompactString::from(*o),
            sku: CompactString::from("SKU-1"),
            quantity: 1,
        })
        .collect();
    Inputs {
        writes,
        refs,
        orders,
    }
}

/// Runs every operation once; returns what broke a property.
async fn exercise(
    conn: &dyn Connection,
    inputs: &Inputs,
    sent: &(dyn Fn() -> Vec<String> + Sync),
) -> Result<Vec<Record>, String> {
    let no_secret = |what: &str, text: &str| no_secret(what, text, &sent());
    let check = |what: &str, e: &ConnectorError| -> Result<(), String> {
        if e.message.trim().is_empty() {
            return Err(format!("{what}: an error without a message: {e:?}"));
        }
        if e.connection != conn.name() {
            return Err(format!("{what}: an error of another connection: {e:?}"));
        }
        no_secret(what, &e.to_string())
    };
    let mut records = Vec::new();
    match conn.read_catalog().await {
        Ok(catalog) => {
            for r in &catalog.rejects {
                // An item that is not even an object has no SKU or id to name.
                if r.error.trim().is_empty() {
                    return Err(format!(
                        "read_catalog: a rejected product must say why: {r:?}"
                    ));
                }
                no_secret("read_catalog reject", &r.error)?;
            }
            records = catalog.records;
        }
        Err(e) => check("read_catalog", &e)?,
    }
    match conn.read_orders(None).await {
        // The incremental read from the cursor the snapshot gave.
        Ok(Some(feed)) => {
            if let Err(e) = conn.read_orders(feed.cursor.as_deref()).await {
                check("read_orders (incremental)", &e)?;
            }
        }
        Ok(None) => {}
        Err(e) => check("read_orders", &e)?,
    }
    match conn.read_records(&inputs.refs).await {
        Ok(_) => {}
        Err(e) => check("read_records", &e)?,
    }
    match conn.write(&inputs.writes).await {
        Ok(outcomes) if outcomes.len() != inputs.writes.len() => {
            return Err(format!(
                "write: {} outcomes for {} writes",
                outcomes.len(),
                inputs.writes.len()
            ));
        }
        Ok(outcomes) => {
            for o in outcomes {
                no_secret("write outcome", &format!("{o:?}"))?;
            }
        }
        Err(e) => check("write", &e)?,
    }
    match conn.posted_orders(&inputs.orders).await {
        Ok(Some(posted)) if posted.len() != inputs.orders.len() => {
            return Err(format!(
                "posted_orders: {} answers for {} lines",
                posted.len(),
                inputs.orders.len()
            ));
        }
        Ok(_) => {}
        Err(e) => check("posted_orders", &e)?,
    }
    Ok(records)
}

/// `text` shows neither the sentinel nor any credential in `sent` (of 8 characters or
/// more: shorter ones are not secrets, e.g. a Basic user name).
fn no_secret(what: &str, text: &str, sent: &[String]) -> Result<(), String> {
    let mut secrets = sentinel_forms();
    secrets.extend(sent.iter().filter(|s| s.len() >= 8).cloned());
    match secrets.iter().find(|s| text.contains(s.as_str())) {
        Some(_) => Err(format!("{what}: a credential shows: {text}")),
        None => Ok(()),
    }
}

impl Platform {
    /// Records `open` against the fake at `upstream` (`suffix`: the path a connection's
    /// base URL adds, e.g. BigCommerce's `/stores/{hash}`).
    fn record(
        (rt, thread): (tokio::runtime::Runtime, String),
        fake: FakeServer,
        suffix: &str,
        store: &str,
        open: Open,
        skip: &'static [&'static str],
    ) -> Platform {
        let (recorder, replay, inputs) = rt.block_on(async {
            let recorder = Recorder::start(&fake.base_url()).await;
            let conn = open(&format!("{}{suffix}", recorder.server.base_url()));
            let catalog = conn.read_catalog().await.expect("the fake's catalog reads");
            assert!(catalog.rejects.is_empty(), "{:?}", catalog.rejects);
            let inputs = inputs_from(&catalog.records, store);
            assert!(!inputs.writes.is_empty());
            exercise(conn.as_ref(), &inputs, &Vec::new)
                .await
                .expect("the fake's answers pass");
            (recorder, Replay::start().await, inputs)
        });
        // The fake's rate windows are real (30 s): replayed, a case would wait them out.
        let recorded: Vec<Exchange> = recorder
            .exchanges()
            .into_iter()
            .map(|mut e| {
                for (name, value) in &mut e.headers {
                    if name == "x-rate-limit-time-reset-ms" {
                        *value = "10".into();
                    }
                }
                e
            })
            .collect();
        assert!(recorded.len() >= 3, "{recorded:?}");
        Platform {
            rt,
            thread,
            recorded,
            replay,
            open,
            inputs,
            skip,
            turn: Mutex::new(()),
            _fake: fake,
            _recorder: recorder,
        }
    }

    fn base_url(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.replay.server.base_url())
    }

    fn run(
        &self,
        suffix: &str,
        mutations: &[(Index, replay::Mutation)],
    ) -> Result<(), TestCaseError> {
        watch_panics();
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        self.replay
            .set(replay::apply(&self.recorded, mutations, self.skip));
        let conn = (self.open)(&self.base_url(suffix));
        let outcome = self.rt.block_on(async {
            tokio::time::timeout(
                CASE_DEADLINE,
                exercise(conn.as_ref(), &self.inputs, &|| self.replay.credentials()),
            )
            .await
        });
        prop_assert!(
            !panicked_on(&self.thread),
            "a panic in a spawned task (see above)"
        );
        match outcome {
            Err(_) => Err(TestCaseError::fail(format!(
                "no answer within {CASE_DEADLINE:?}"
            ))),
            Ok(Err(broken)) => Err(TestCaseError::fail(broken)),
            Ok(Ok(_)) => Ok(()),
        }
    }
}

/// What [`invsync_connectors::open`] does to every connection it opens.
fn redacted(conn: Box<dyn Connection>, config: &ConnectionConfig) -> Box<dyn Connection> {
    Box::new(Redacted::new(conn, Redactor::for_config(config)))
}

fn runtime(platform: &str) -> (tokio::runtime::Runtime, String) {
    let thread = format!("fuzz-{platform}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(&thread)
        .enable_all()
        .build()
        .expect("runtime");
    (rt, thread)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

// ---------------------------------------------------------------------------------------
// The platforms

fn woocommerce() -> &'static Platform {
    use invsync_test_support::woocommerce::{
        VariationStock, WooFake, WooOptions, WooOrder, WooOrderLine, WooProduct, WooSale,
        WooVariation,
    };
    static P: OnceLock<Platform> = OnceLock::new();
    P.get_or_init(|| {
        let (rt, thread) = runtime("woocommerce");
        let fake = WooFake::new(WooOptions {
            consumer_key: SENTINEL.into(),
            consumer_secret: SENTINEL.into(),
            ..WooOptions::default()
        });
        fake.insert(WooProduct::simple(1, "SKU-1", "10.00", 5));
        fake.insert(WooProduct::simple(2, "SKU-2", "", 0));
        let now = fake.state().clock;
        fake.insert(WooProduct::untracked(4, "SKU-4", "8.00").on_sale(WooSale {
            sale_price: "6.50".into(),
            from: None,
            to: Some(now + chrono::Duration::days(3)),
        }));
        fake.insert(WooProduct {
            id: 3,
            kind: "variable".into(),
            sku: "SHIRT".into(),
            name: "Shirt".into(),
            manage_stock: true,
            stock_quantity: Some(9),
            variations: vec![
                WooVariation {
                    id: 31,
                    sku: "SHIRT-S".into(),
                    regular_price: "20.00".into(),
                    sale: WooSale::at("18.00"),
                    stock: VariationStock::Own,
                    stock_quantity: Some(3),
                },
                WooVariation {
                    id: 32,
                    sku: "SHIRT-M".into(),
                    regular_price: "21.50".into(),
                    stock: VariationStock::Parent,
                    ..WooVariation::default()
                },
            ],
            ..WooProduct::default()
        });
        fake.state().orders.push(WooOrder {
            id: 1001,
            status: "processing".into(),
            lines: vec![WooOrderLine {
                sku: "SKU-1".into(),
                product_id: 1,
                variation_id: 0,
                quantity: 2,
            }],
        });
        let server = rt.block_on(invsync_test_support::fake::serve(fake.router()));
        let open: Open = Box::new(|base: &str| {
            let config = WooCommerceConfig {
                http: Default::default(),
                url: url::Url::parse(base).expect("url"),
                consumer_key: SENTINEL.to_owned().into(),
                consumer_secret: SENTINEL.to_owned().into(),
            };
            let conn = WooCommerceConnection::with_policy("woo", &config, timeouts(), backoff())
                .expect("connection");
            redacted(Box::new(conn), &ConnectionConfig::WooCommerce(config))
        });
        Platform::record((rt, thread), server, "", "woo", open, &[])
    })
}

const BIG_SUFFIX: &str = "/stores/abc123";

fn bigcommerce() -> &'static Platform {
    use invsync_test_support::bigcommerce::{
        BigFake, BigOptions, BigOrder, BigOrderLine, BigProduct, BigVariant,
    };
    static P: OnceLock<Platform> = OnceLock::new();
    P.get_or_init(|| {
        let (rt, thread) = runtime("bigcommerce");
        let fake = BigFake::new(BigOptions {
            access_token: SENTINEL.into(),
            store_hash: "abc123".into(),
            ..BigOptions::default()
        });
        fake.insert(BigProduct::simple(1, "SKU-1", dec("10.00")), 1, 5);
        fake.insert(BigProduct::simple(2, "SKU-2", dec("3.50")), 1, 0);
        let mut card = BigProduct::simple(4, "CARD", dec("25"));
        card.inventory_tracking = "none".into();
        fake.insert(card, 1, 0);
        let mut shirt = BigProduct::simple(3, "SHIRT", dec("20.00"));
        shirt.inventory_tracking = "variant".into();
        shirt.sale_price = dec("19.50");
        shirt.variants = vec![
            BigVariant {
                id: 31,
                sku: "SHIRT-S".into(),
                price: Some(dec("21.00")),
                sale_price: Some(dec("18.00")),
                option_values: vec!["S".into()],
            },
            BigVariant {
                id: 32,
                sku: "SHIRT-M".into(),
                option_values: vec!["M".into()],
                ..BigVariant::default()
            },
        ];
        fake.insert(shirt, 1, 4);
        fake.state().orders.push(BigOrder {
            id: 100,
            status_id: 11,
            lines: vec![BigOrderLine {
                product_id: 1,
                variant_id: 10,
                sku: "SKU-1".into(),
                quantity: 2,
                quantity_shipped: 0,
            }],
        });
        let server = rt.block_on(invsync_test_support::fake::serve(fake.router()));
        let open: Open = Box::new(|base: &str| {
            let config = BigCommerceConfig {
                http: Default::default(),
                store_hash: "abc123".into(),
                access_token: SENTINEL.to_owned().into(),
                location_id: 1,
                base_url: url::Url::parse(base).expect("url"),
            };
            let conn = BigCommerceConnection::with_policy(
                "big",
                &config,
                timeouts(),
                backoff(),
                ConfirmPolicy {
                    first_wait: Duration::from_millis(1),
                    deadline: Duration::from_millis(50),
                },
            )
            .expect("connection");
            redacted(Box::new(conn), &ConnectionConfig::BigCommerce(config))
        });
        Platform::record((rt, thread), server, BIG_SUFFIX, "big", open, &[])
    })
}

/// `bulk_above`: 0 reads the catalog with a bulk operation (JSONL), a large number pages.
fn shopify(bulk: bool) -> &'static Platform {
    use invsync_test_support::shopify::{FakeShopify, Limits};
    static PAGED: OnceLock<Platform> = OnceLock::new();
    static BULK: OnceLock<Platform> = OnceLock::new();
    let cell = if bulk { &BULK } else { &PAGED };
    cell.get_or_init(|| {
        let (rt, thread) = runtime(if bulk {
            "shopify-bulk"
        } else {
            "shopify-paged"
        });
        let fake = FakeShopify::new(SENTINEL, Limits::unlimited());
        fake.add_product("Shirt", &[("SHIRT-S", "20.00", 3), ("SHIRT-M", "21.50", 4)]);
        fake.add_variant("SKU-1", "10.00", 5);
        fake.add_variant("SKU-2", "3.50", 0);
        fake.add_variant("BOX", "9.00", 1);
        fake.set_bundle("BOX");
        fake.add_order(&[("SKU-1", 2, 2)], false, false);
        let server = rt.block_on(fake.serve());
        let bulk_above = if bulk { 0 } else { 10_000 };
        let open: Open = Box::new(move |base: &str| {
            let config = ShopifyConnectionConfig {
                http: Default::default(),
                shop: "example.myshopify.com".into(),
                access_token: SecretString::from(SENTINEL.to_owned()),
                base_url: url::Url::parse(base).expect("url"),
                api_version: invsync_config::DEFAULT_SHOPIFY_API_VERSION.into(),
                location: None,
                bulk_above,
                bulk_write_above: invsync_config::DEFAULT_SHOPIFY_BULK_WRITE_ABOVE,
                full_read_every: invsync_config::DEFAULT_SHOPIFY_FULL_READ_EVERY,
            };
            let mut conn = ShopifyConnection::new("shop", config.clone()).expect("connection");
            conn.set_backoff(backoff());
            redacted(Box::new(conn), &ConnectionConfig::Shopify(config))
        });
        // The cost bucket's numbers decide waits of up to a minute: not fuzzed here.
        // Nor is the bulk operation's status: `RUNNING` to the end polls for an hour.
        Platform::record(
            (rt, thread),
            server,
            "",
            "shop",
            open,
            &["extensions", "status"],
        )
    })
}

fn quickbooks_online() -> &'static Platform {
    use invsync_test_support::quickbooks_online::{FakeConfig, QboFake};
    static P: OnceLock<Platform> = OnceLock::new();
    P.get_or_init(|| {
        let (rt, thread) = runtime("quickbooks-online");
        let (server, fake) = rt.block_on(QboFake::serve(FakeConfig {
            client_secret: SENTINEL.into(),
            ..FakeConfig::default()
        }));
        fake.add_inventory_item("SKU-1", "Mug", "10.00", "5");
        fake.add_inventory_item("SKU-2", "Cup", "3.50", "0");
        fake.add_document("SalesReceipt", "1001");
        let refresh = fake.issue_refresh_token();
        let realm = fake.config().realm_id.clone();
        let client_id = fake.config().client_id.clone();
        let open: Open = Box::new(move |base: &str| {
            let config = QuickBooksOnlineConfig {
                realm_id: realm.clone(),
                client_id: client_id.clone(),
                client_secret: SecretString::from(SENTINEL.to_owned()),
                refresh_token: Some(SecretString::from(refresh.clone())),
                token_key: SecretSlice::from(vec![42u8; 32]),
                environment: QboEnvironment::Sandbox,
                base_url: url::Url::parse(base).expect("base url"),
                token_url: url::Url::parse(&QboFake::token_url(base)).expect("token url"),
                redirect_uri: None,
                quantity_write: QboQuantityWrite::Adjustment,
                adjustment_account: Some("97".into()),
                order_doc_number: "{order}".into(),
                http: invsync_config::HttpPolicy::default(),
            };
            // A fresh vault per connection: every case goes through the token answer.
            let vault: Arc<dyn TokenVault> = Arc::new(MemoryVault::new());
            let conn = QuickBooksOnline::open_with(
                "accounting",
                &config,
                &OpenContext::new().with_token_vault(vault),
                Tuning {
                    throttle_wait: Duration::from_millis(5),
                    throttle_retries: 2,
                    backoff: backoff(),
                    timeouts: timeouts(),
                    token_timeouts: timeouts(),
                    own_limiter: true,
                    ..Tuning::default()
                },
            )
            .expect("open");
            let redactor = conn.redactor();
            Box::new(Redacted::new(Box::new(conn), redactor))
        });
        Platform::record((rt, thread), server, "", "shop", open, &[])
    })
}

// ---------------------------------------------------------------------------------------
// The properties

fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(super::cases(default))
}

proptest! {
    #![proptest_config(config(30))]

    #[test]
    fn woocommerce_answers_never_panic(m in replay::mutations()) {
        woocommerce().run("", &m)?;
    }

    #[test]
    fn bigcommerce_answers_never_panic(m in replay::mutations()) {
        bigcommerce().run(BIG_SUFFIX, &m)?;
    }

    #[test]
    fn shopify_paged_answers_never_panic(m in replay::mutations()) {
        shopify(false).run("", &m)?;
    }

    #[test]
    fn quickbooks_online_answers_never_panic(m in replay::mutations()) {
        quickbooks_online().run("", &m)?;
    }
}

proptest! {
    #![proptest_config(config(8))]

    #[test]
    fn shopify_bulk_answers_never_panic(m in replay::mutations()) {
        shopify(true).run("", &m)?;
    }
}

// Error bodies that echo the credentials back (issue 8, item 3).
proptest! {
    #![proptest_config(config(25))]

    #[test]
    fn woocommerce_errors_never_echo_credentials(m in replay::echo_mutations()) {
        woocommerce().run("", &m)?;
    }

    #[test]
    fn bigcommerce_errors_never_echo_credentials(m in replay::echo_mutations()) {
        bigcommerce().run(BIG_SUFFIX, &m)?;
    }

    #[test]
    fn shopify_errors_never_echo_credentials(m in replay::echo_mutations()) {
        shopify(false).run("", &m)?;
    }

    #[test]
    fn quickbooks_online_errors_never_echo_credentials(m in replay::echo_mutations()) {
        quickbooks_online().run("", &m)?;
    }
}

/// The replay without mutations reads what the fake holds: the harness is sound.
#[test]
fn unmutated_replays_read_the_catalog() {
    for (name, platform, suffix) in [
        ("woocommerce", woocommerce(), ""),
        ("bigcommerce", bigcommerce(), BIG_SUFFIX),
        ("shopify paged", shopify(false), ""),
        ("shopify bulk", shopify(true), ""),
        ("quickbooks-online", quickbooks_online(), ""),
    ] {
        let _turn = platform.turn.lock().unwrap_or_else(|e| e.into_inner());
        platform.replay.set(platform.recorded.clone());
        let conn = (platform.open)(&platform.base_url(suffix));
        let records = platform
            .rt
            .block_on(exercise(conn.as_ref(), &platform.inputs, &Vec::new))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(records.len() >= 2, "{name}: {records:?}");
    }
}

/// Found by the long run: a catalog page claiming 2⁶⁴−1 pages (`meta.pagination.
/// total_pages`) made the BigCommerce connection page on for good.
#[test]
fn bigcommerce_claiming_endless_pages_ends() {
    let platform = bigcommerce();
    let at = platform
        .recorded
        .iter()
        .position(|e| e.path.contains("catalog/products"))
        .expect("a catalog page");
    let mut recorded = platform.recorded.clone();
    let mut page: serde_json::Value =
        serde_json::from_slice(&recorded[at].body).expect("json page");
    page["meta"]["pagination"]["total_pages"] = serde_json::json!(u64::MAX);
    recorded[at].body = page.to_string().into_bytes();
    let _turn = platform.turn.lock().unwrap_or_else(|e| e.into_inner());
    platform.replay.set(recorded);
    let conn = (platform.open)(&platform.base_url(BIG_SUFFIX));
    let read = platform.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), conn.read_catalog()).await
    });
    let e = read
        .expect("ends")
        .expect_err("an implausible page count is an error");
    assert!(e.message.contains("pages"), "{e}");
}

/// The same for QuickBooks Online's item count (found by the CI-sized fuzz run: a count
/// of 2⁶⁴−1 allocated a page slot and a task per page until the OOM killer stopped it).
#[test]
fn quickbooks_online_claiming_endless_items_ends() {
    let platform = quickbooks_online();
    let at = platform
        .recorded
        .iter()
        .position(|e| String::from_utf8_lossy(&e.body).contains("totalCount"))
        .expect("the count answer");
    let mut recorded = platform.recorded.clone();
    let mut answer: serde_json::Value =
        serde_json::from_slice(&recorded[at].body).expect("json answer");
    answer["QueryResponse"]["totalCount"] = serde_json::json!(u64::MAX);
    recorded[at].body = answer.to_string().into_bytes();
    let _turn = platform.turn.lock().unwrap_or_else(|e| e.into_inner());
    platform.replay.set(recorded);
    let conn = (platform.open)(&platform.base_url(""));
    let read = platform.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), conn.read_catalog()).await
    });
    let e = read
        .expect("ends")
        .expect_err("an implausible item count is an error");
    assert!(e.message.contains("pages"), "{e}");
}

/// The same for WooCommerce's `X-WP-TotalPages` (the header fuzzing now reaches it).
#[test]
fn woocommerce_claiming_endless_pages_ends() {
    let platform = woocommerce();
    let at = platform
        .recorded
        .iter()
        .position(|e| e.path.contains("/products?"))
        .expect("a product page");
    let mut recorded = platform.recorded.clone();
    recorded[at]
        .headers
        .retain(|(name, _)| name != "x-wp-totalpages");
    recorded[at]
        .headers
        .push(("x-wp-totalpages".into(), "4294967295".into()));
    let _turn = platform.turn.lock().unwrap_or_else(|e| e.into_inner());
    platform.replay.set(recorded);
    let conn = (platform.open)(&platform.base_url(""));
    let read = platform.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), conn.read_catalog()).await
    });
    let e = read
        .expect("ends")
        .expect_err("an implausible page count is an error");
    assert!(e.message.contains("pages"), "{e}");
}
