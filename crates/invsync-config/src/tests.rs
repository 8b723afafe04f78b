use super::*;
use std::io::Write as _;

pub(crate) const VALID: &str = r#"
[database]
url = "sqlite://var/test.db"

[inventory]
master = "accounting"

[accounting]
kind = "file"
path = "data/accounting.csv"

[stores.shop]
kind = "file"
path = "data/shop.csv"
orders = "data/shop-orders.csv"
buffer = 2
max_quantity = 50
share = 80

[stores.pos]
kind = "file"
path = "data/pos.json"

[[schedules]]
store = "shop"
every = "15m"
update = "store"
fields = ["price", "quantity"]

[[schedules]]
name = "nightly-prices"
store = "pos"
cron = "0 0 3 * * *"
timezone = "Europe/Berlin"
update = "accounting"
fields = ["price"]
"#;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("invsync.toml");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(text.as_bytes()).expect("write");
    path
}

pub(crate) fn load_text(
    text: &str,
    env: &[(&str, &str)],
) -> (tempfile::TempDir, Result<Config, ConfigErrors>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, text);
    let options = LoadOptions {
        env: Some(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        now: None,
    };
    let result = load_with(&path, &options);
    (dir, result)
}

#[test]
fn loads_a_valid_config() {
    let (dir, config) = load_text(VALID, &[]);
    let config = config.expect("valid");
    let base = std::path::absolute(dir.path()).expect("abs");
    assert_eq!(
        config.database.url.expose_secret(),
        format!("sqlite://{}", base.join("var/test.db").display())
    );
    assert_eq!(
        config.daemon.listen,
        Some("127.0.0.1:9187".parse().expect("addr"))
    );
    assert_eq!(config.daemon.shutdown_grace, Duration::from_secs(30));
    assert_eq!(config.inventory.master, Master::Accounting);
    let shop = &config.stores["shop"];
    assert_eq!(
        shop.rules,
        QuantityRules {
            buffer: 2,
            max_quantity: Some(50),
            share: 80
        }
    );
    let ConnectionConfig::File(f) = &shop.connection else {
        panic!("shop is a file store")
    };
    assert_eq!(f.path, base.join("data/shop.csv"));
    assert_eq!(f.orders, Some(base.join("data/shop-orders.csv")));
    assert_eq!(config.stores["pos"].rules, QuantityRules::default());
    assert_eq!(config.schedules.len(), 2);
    assert_eq!(config.schedules[0].name, "shop-store");
    assert_eq!(
        config.schedules[0].cadence,
        Cadence::Every(Duration::from_secs(900))
    );
    assert_eq!(config.schedules[0].fields, FieldSet::BOTH);
    assert_eq!(config.schedules[1].name, "nightly-prices");
    assert!(matches!(config.schedules[1].cadence, Cadence::Cron { .. }));
}

/// `(why, config text, [(key, part of the message)])`.
type KeyCase<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

/// Each broken config gives exactly the listed errors (key, and a part of the message).
#[test]
fn errors_name_the_key() {
    let replace = |from: &str, to: &str| VALID.replacen(from, to, 1);
    let cases: Vec<KeyCase> = vec![
        (
            "interval too short",
            replace("every = \"15m\"", "every = \"5m\""),
            vec![("schedules[0].every", "outside the allowed range")],
        ),
        (
            "interval too long",
            replace("every = \"15m\"", "every = \"25h\""),
            vec![("schedules[0].every", "outside the allowed range")],
        ),
        (
            "not a duration",
            replace("every = \"15m\"", "every = \"often\""),
            vec![("schedules[0].every", "is not a duration")],
        ),
        (
            "cron too frequent",
            replace("cron = \"0 0 3 * * *\"", "cron = \"0 */5 * * * *\""),
            vec![("schedules[1].cron", "at least 15m")],
        ),
        (
            "bad time zone",
            replace("Europe/Berlin", "Mars/Olympus"),
            vec![("schedules[1].timezone", "not an IANA time zone")],
        ),
        (
            "both every and cron",
            replace("every = \"15m\"", "every = \"15m\"\ncron = \"0 0 3 * * *\""),
            vec![("schedules[0].cron", "either `every` or `cron`")],
        ),
        (
            "accounting side with two fields",
            replace("fields = [\"price\"]", "fields = [\"price\", \"quantity\"]"),
            vec![("schedules[1].fields", "exactly one field")],
        ),
        (
            "accounting quantity from a non-master store",
            replace("fields = [\"price\"]", "fields = [\"quantity\"]"),
            vec![("schedules[1].fields", "master inventory location")],
        ),
        (
            "unknown store",
            replace("store = \"shop\"", "store = \"shopp\""),
            vec![(
                "schedules[0].store",
                "`shopp` is not a configured store (stores: pos, shop)",
            )],
        ),
        (
            "unknown field name",
            replace(
                "fields = [\"price\", \"quantity\"]",
                "fields = [\"price\", \"qty\"]",
            ),
            vec![("schedules[0].fields[1]", "`qty` is not a field")],
        ),
        (
            "field twice",
            replace(
                "fields = [\"price\", \"quantity\"]",
                "fields = [\"price\", \"price\"]",
            ),
            vec![("schedules[0].fields[1]", "listed twice")],
        ),
        (
            "empty fields",
            replace("fields = [\"price\", \"quantity\"]", "fields = []"),
            vec![("schedules[0].fields", "is empty")],
        ),
        (
            "bad update side",
            replace("update = \"store\"", "update = \"shop\""),
            vec![("schedules[0].update", "is not a side")],
        ),
        (
            "unknown top-level key",
            format!("colour = \"blue\"\n{VALID}"),
            vec![("colour", "unknown key")],
        ),
        (
            "unknown key in a section",
            replace(
                "master = \"accounting\"",
                "master = \"accounting\"\nmastr = 1",
            ),
            vec![("inventory.mastr", "unknown key")],
        ),
        (
            "unknown key in a store",
            replace("share = 80", "share = 80\nshare_pct = 3"),
            vec![("stores.shop.share_pct", "unknown key")],
        ),
        (
            "unknown key in a schedule",
            replace("every = \"15m\"", "every = \"15m\"\nevry = \"1h\""),
            vec![("schedules[0].evry", "unknown key")],
        ),
        (
            "missing store path",
            replace("path = \"data/pos.json\"", ""),
            vec![("stores.pos.path", "missing")],
        ),
        (
            "share above 100",
            replace("share = 80", "share = 120"),
            vec![("stores.shop.share", "out of range 0..=100")],
        ),
        (
            "negative buffer",
            replace("buffer = 2", "buffer = -1"),
            vec![("stores.shop.buffer", "out of range")],
        ),
        (
            "wrong type",
            replace("buffer = 2", "buffer = \"two\""),
            vec![("stores.shop.buffer", "two")],
        ),
        (
            "kind not available yet",
            replace(
                "kind = \"file\"\npath = \"data/pos.json\"",
                "kind = \"xero\"",
            ),
            vec![("stores.pos.kind", "not available in this version")],
        ),
        (
            "kind unknown",
            replace(
                "kind = \"file\"\npath = \"data/pos.json\"",
                "kind = \"ftp\"",
            ),
            vec![("stores.pos.kind", "not a kind of connection")],
        ),
        (
            "no accounting",
            VALID.replace(
                "[accounting]\nkind = \"file\"\npath = \"data/accounting.csv\"\n",
                "",
            ),
            vec![("accounting", "missing")],
        ),
        (
            "unknown master",
            replace("master = \"accounting\"", "master = \"web\""),
            vec![("inventory.master", "neither \"accounting\" nor a store")],
        ),
        (
            "master store written from accounting",
            replace("master = \"accounting\"", "master = \"shop\""),
            vec![("schedules[0].fields", "is the master inventory location")],
        ),
        (
            "accounting quantity from a store that is not the master",
            replace("master = \"accounting\"", "master = \"shop\"")
                .replace("fields = [\"price\"]", "fields = [\"quantity\"]")
                .replace("fields = [\"price\", \"quantity\"]", "fields = [\"price\"]"),
            vec![(
                "schedules[1].fields",
                "only be updated from the master store `shop`",
            )],
        ),
        (
            "bad in_orders",
            replace(
                "master = \"accounting\"",
                "master = \"accounting\"\nin_orders = \"hold\"",
            ),
            vec![("inventory.in_orders", "not a mode")],
        ),
        (
            "order watch shorter than 30s",
            replace(
                "master = \"accounting\"",
                "master = \"accounting\"\norder_watch = \"10s\"",
            ),
            vec![("inventory.order_watch", "shorter than 30s")],
        ),
        (
            "order watch not a duration",
            replace(
                "master = \"accounting\"",
                "master = \"accounting\"\norder_watch = \"often\"",
            ),
            vec![("inventory.order_watch", "not a duration")],
        ),
        (
            "duplicate schedule names",
            replace("name = \"nightly-prices\"", "name = \"shop-store\""),
            vec![("schedules[1].name", "names two schedules")],
        ),
        (
            "bad listen",
            format!("[daemon]\nlisten = \"everywhere\"\n{VALID}"),
            vec![("daemon.listen", "not an address")],
        ),
        (
            "bad grace",
            format!("[daemon]\nshutdown_grace = \"0s\"\n{VALID}"),
            vec![("daemon.shutdown_grace", "longer than 0s")],
        ),
        (
            "bad database scheme",
            replace("sqlite://var/test.db", "mysql://u:hunter2@db/x"),
            vec![("database.url", "is not a database URL invsync supports")],
        ),
        (
            "reserved store name",
            replace("[stores.pos]", "[stores.accounting]"),
            vec![
                ("stores.accounting", "reserved"),
                ("schedules[1].store", "`pos` is not a configured store"),
            ],
        ),
        (
            "missing env secret",
            replace(
                "url = \"sqlite://var/test.db\"",
                "url = { env = \"INVSYNC_TEST_NOPE\" }",
            ),
            vec![(
                "database.url",
                "environment variable INVSYNC_TEST_NOPE is not set",
            )],
        ),
        (
            "bad secret shape",
            replace("url = \"sqlite://var/test.db\"", "url = { vault = \"x\" }"),
            vec![("database.url", "unknown key `vault` in a secret")],
        ),
    ];
    for (why, text, want) in cases {
        let (dir, result) = load_text(&text, &[]);
        let errors = result
            .err()
            .unwrap_or_else(|| panic!("{why}: expected errors"));
        let got: Vec<(Option<String>, String)> = errors
            .iter()
            .map(|e| (e.key.clone(), e.message.clone()))
            .collect();
        assert_eq!(got.len(), want.len(), "{why}: {got:#?}");
        for ((key, message), (want_key, part)) in got.iter().zip(&want) {
            assert_eq!(key.as_deref(), Some(*want_key), "{why}: {message}");
            assert!(message.contains(part), "{why}: `{message}` lacks `{part}`");
        }
        let file = dir.path().join("invsync.toml");
        for e in errors.iter() {
            assert!(
                e.to_string().contains(&file.display().to_string()),
                "{why}: {e} names the file"
            );
        }
        assert!(
            !errors.to_string().contains("hunter2"),
            "{why}: a password leaked"
        );
    }
}

#[test]
fn toml_syntax_errors_give_line_and_column() {
    let (_dir, result) = load_text("[database\nurl = 1\n", &[]);
    let e = result.expect_err("invalid TOML").to_string();
    assert!(e.contains("not valid TOML"), "{e}");
    assert!(e.contains("line 1"), "{e}");
}

/// Found by fuzzing (tests/fuzz.rs): the TOML parser quotes the offending line, and a
/// line with a syntax error may hold a secret.
#[test]
fn toml_syntax_errors_never_quote_the_line() {
    let text = "[accounting]\nkind = \"file\"\n[stores.shop]\naccess_token = { file = \"SENTINEL-in-toml\", file = \"x\" }\n";
    let (_dir, result) = load_text(text, &[]);
    let e = result.expect_err("duplicate key").to_string();
    assert!(!e.contains("SENTINEL"), "{e}");
    assert!(e.contains("line 4"), "{e}");
    assert!(e.contains("duplicate key"), "{e}");
    let (_dir, result) = load_text("[stores.shop]\naccess_token = \"SENTINEL-unclosed\n", &[]);
    let e = result.expect_err("unclosed string").to_string();
    assert!(!e.contains("SENTINEL"), "{e}");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let e = load(Path::new("/nonexistent/invsync.toml"))
        .expect_err("missing")
        .to_string();
    assert!(
        e.starts_with("/nonexistent/invsync.toml: config file not found"),
        "{e}"
    );
}

#[test]
fn environment_overrides_are_applied_last() {
    let (_dir, config) = load_text(
        VALID,
        &[
            ("INVSYNC__STORES__SHOP__BUFFER", "7"),
            ("INVSYNC__INVENTORY__IN_ORDERS", "reserve"),
            (
                "INVSYNC__DATABASE__URL",
                "postgres://invsync@db.example/invsync",
            ),
            ("INVSYNC__DAEMON__LISTEN", "off"),
            ("INVSYNC_CONFIG", "/ignored/not/an/override.toml"),
        ],
    );
    let config = config.expect("valid");
    assert_eq!(config.stores["shop"].rules.buffer, 7);
    assert_eq!(config.inventory.in_orders, InOrdersMode::Reserve);
    assert_eq!(
        config.database.url.expose_secret(),
        "postgres://invsync@db.example/invsync"
    );
    assert_eq!(config.daemon.listen, None);
}

#[test]
fn the_order_watch_defaults_to_a_minute_and_runs_only_under_reserve() {
    let (_dir, config) = load_text(VALID, &[]);
    let config = config.expect("valid");
    assert_eq!(config.inventory.order_watch, Some(Duration::from_secs(60)));
    // Under `skip` (VALID's default) a pass could push nothing.
    assert_eq!(config.inventory.in_orders, InOrdersMode::Skip);
    assert_eq!(config.inventory.watches_orders(), None);

    for (value, expected) in [
        ("30s", Some(Duration::from_secs(30))),
        ("2m", Some(Duration::from_secs(120))),
        ("off", None),
    ] {
        let (_dir, config) = load_text(
            VALID,
            &[
                ("INVSYNC__INVENTORY__IN_ORDERS", "reserve"),
                ("INVSYNC__INVENTORY__ORDER_WATCH", value),
            ],
        );
        let config = config.expect("valid");
        assert_eq!(config.inventory.order_watch, expected, "{value}");
        assert_eq!(config.inventory.watches_orders(), expected, "{value}");
    }
}

#[test]
fn errors_from_environment_overrides_name_the_variable() {
    let cases = [
        (
            "INVSYNC__STORES__SHOP__SHARE",
            "250",
            "stores.shop.share (set by environment variable INVSYNC__STORES__SHOP__SHARE): 250 is out of range",
        ),
        (
            "INVSYNC__DAEMON__COLOUR",
            "x",
            "daemon.colour (set by environment variable INVSYNC__DAEMON__COLOUR): unknown key",
        ),
        (
            "INVSYNC__STORES__SHOP__BUFFER",
            "lots",
            "stores.shop.buffer (set by environment variable INVSYNC__STORES__SHOP__BUFFER): ",
        ),
    ];
    for (var, value, want) in cases {
        let (_dir, result) = load_text(VALID, &[(var, value)]);
        let text = result.expect_err("invalid").to_string();
        assert!(text.contains(want), "{text}");
    }
}

#[test]
fn secrets_resolve_from_env_file_or_literal_and_never_show_in_debug() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("db-url"), "postgres://u:s3cret-file@h/db\n").expect("write");
    let with =
        |url: &str| VALID.replacen("url = \"sqlite://var/test.db\"", &format!("url = {url}"), 1);
    let options = |env: &[(&str, &str)]| LoadOptions {
        env: Some(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        now: None,
    };
    let path = write(&dir, &with("{ file = \"db-url\" }"));
    let config = load_with(&path, &options(&[])).expect("file secret");
    assert_eq!(
        config.database.url.expose_secret(),
        "postgres://u:s3cret-file@h/db"
    );
    assert!(
        !format!("{config:?}").contains("s3cret"),
        "Debug shows no secret"
    );

    let path = write(&dir, &with("{ env = \"DB_URL\" }"));
    let config = load_with(
        &path,
        &options(&[("DB_URL", "postgres://u:s3cret-env@h/db")]),
    )
    .expect("env secret");
    assert_eq!(
        config.database.url.expose_secret(),
        "postgres://u:s3cret-env@h/db"
    );

    std::fs::create_dir(dir.path().join("creds")).expect("mkdir");
    std::fs::write(
        dir.path().join("creds/db-url"),
        "postgres://u:s3cret-cred@h/db",
    )
    .expect("write");
    let path = write(&dir, &with("{ credential = \"db-url\" }"));
    let creds = dir.path().join("creds").display().to_string();
    let config = load_with(
        &path,
        &options(&[("CREDENTIALS_DIRECTORY", creds.as_str())]),
    )
    .expect("credential secret");
    assert_eq!(
        config.database.url.expose_secret(),
        "postgres://u:s3cret-cred@h/db"
    );
    let e = load_with(&path, &options(&[]))
        .expect_err("no credentials directory")
        .to_string();
    assert!(e.contains("$CREDENTIALS_DIRECTORY is not set"), "{e}");

    let path = write(&dir, &with("{ file = \"missing\" }"));
    let e = load_with(&path, &options(&[]))
        .expect_err("missing file")
        .to_string();
    assert!(e.contains("database.url: cannot read secret file"), "{e}");
}

#[test]
fn base_urls_are_https_or_loopback_http() {
    let cases = [
        ("https://example.myshopify.com", true),
        ("http://127.0.0.1:9001", true),
        ("http://[::1]:9001/x", true),
        ("http://localhost:8080", true),
        ("http://example.com", false),
        ("http://10.0.0.1", false),
        ("ftp://127.0.0.1", false),
        ("not a url", false),
    ];
    for (url, ok) in cases {
        assert_eq!(validate_base_url(url).is_ok(), ok, "{url}");
    }
}

#[test]
fn the_example_config_documents_a_valid_config() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/invsync.example.toml");
    let options = LoadOptions {
        env: Some(
            [
                (
                    "SHOP_DATABASE_URL".to_string(),
                    "postgres://invsync@localhost/invsync".to_string(),
                ),
                ("WOO_CONSUMER_KEY".to_string(), "ck_example".to_string()),
                ("WOO_CONSUMER_SECRET".to_string(), "cs_example".to_string()),
                (
                    "BIGCOMMERCE_ACCESS_TOKEN".to_string(),
                    "example-token".to_string(),
                ),
                ("SHOP_TOKEN".to_string(), "shpat_example".to_string()),
            ]
            .into(),
        ),
        now: None,
    };
    let config = load_with(&example, &options).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.schedules.is_empty());
}

#[test]
fn the_demo_config_is_valid() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/demo.toml");
    let config = load_with(
        &demo,
        &LoadOptions {
            env: Some(HashMap::new()),
            now: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.stores.is_empty());
}

/// `(table, config text, environment, the unknown key's full name, the example to check)`.
type DocCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// The example configs document every key: each key a table accepts (as the error for an
/// unknown key lists them) appears in `config/invsync.example.toml`, set or commented out
/// (`kind = "quickbooks-online"` in its own example). A key added to a `Raw*` struct without
/// a line in the example fails here.
#[test]
fn the_example_configs_document_every_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let read = |name: &str| std::fs::read_to_string(root.join(name)).expect("read an example");
    let example = read("invsync.example.toml");
    let qbo_example = read("invsync.quickbooks-online.example.toml");
    let documented = |text: &str, key: &str| {
        text.lines().any(|line| {
            let line = line.trim_start_matches('#').trim_start();
            line.starts_with(&format!("{key} ="))
                || line.starts_with(&format!("[{key}"))
                || line.starts_with(&format!("[[{key}]]"))
        })
    };
    let with_unknown_schedule_key =
        VALID.replacen("every = \"15m\"", "every = \"15m\"\nzz_unknown = 1", 1);
    let top_level = format!("zz_unknown = 1\n{VALID}");
    let platform_env = [
        ("WOO_KEY", "ck_x"),
        ("WOO_SECRET", "cs_x"),
        ("BC_TOKEN", "t"),
    ];
    let cases: Vec<DocCase> = vec![
        ("top level", &top_level, vec![], "zz_unknown", &example),
        (
            "[database]",
            VALID,
            vec![("INVSYNC__DATABASE__ZZ_UNKNOWN", "1")],
            "database.zz_unknown",
            &example,
        ),
        (
            "[daemon]",
            VALID,
            vec![("INVSYNC__DAEMON__ZZ_UNKNOWN", "1")],
            "daemon.zz_unknown",
            &example,
        ),
        (
            "[inventory]",
            VALID,
            vec![("INVSYNC__INVENTORY__ZZ_UNKNOWN", "1")],
            "inventory.zz_unknown",
            &example,
        ),
        (
            "file accounting",
            VALID,
            vec![("INVSYNC__ACCOUNTING__ZZ_UNKNOWN", "1")],
            "accounting.zz_unknown",
            &example,
        ),
        (
            "file store",
            VALID,
            vec![("INVSYNC__STORES__SHOP__ZZ_UNKNOWN", "1")],
            "stores.shop.zz_unknown",
            &example,
        ),
        (
            "[[schedules]]",
            &with_unknown_schedule_key,
            vec![],
            "schedules[0].zz_unknown",
            &example,
        ),
        (
            "woocommerce store",
            PLATFORM_STORES,
            [
                &platform_env[..],
                &[("INVSYNC__STORES__WOO__ZZ_UNKNOWN", "1")],
            ]
            .concat(),
            "stores.woo.zz_unknown",
            &example,
        ),
        (
            "bigcommerce store",
            PLATFORM_STORES,
            [
                &platform_env[..],
                &[("INVSYNC__STORES__BIG__ZZ_UNKNOWN", "1")],
            ]
            .concat(),
            "stores.big.zz_unknown",
            &example,
        ),
        (
            "shopify store",
            SHOPIFY,
            vec![
                ("SHOP_TOKEN", "shpat_x"),
                ("INVSYNC__STORES__SHOP__ZZ_UNKNOWN", "1"),
            ],
            "stores.shop.zz_unknown",
            &example,
        ),
        (
            "quickbooks-online accounting",
            QBO,
            [QBO_ENV, &[("INVSYNC__ACCOUNTING__ZZ_UNKNOWN", "1")]].concat(),
            "accounting.zz_unknown",
            &qbo_example,
        ),
    ];
    for (table, text, env, unknown, example) in cases {
        let (_dir, result) = load_text(text, &env);
        let errors = result.expect_err(table);
        let error = errors
            .iter()
            .find(|e| e.key.as_deref() == Some(unknown))
            .unwrap_or_else(|| panic!("{table}: no error at {unknown}: {errors}"));
        let expected = error
            .message
            .split_once("expected")
            .map(|(_, list)| list)
            .unwrap_or_else(|| panic!("{table}: {}", error.message));
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        assert!(keys.len() > 1, "{table}: {}", error.message);
        for key in keys {
            assert!(
                documented(example, key),
                "{table}: `{key}` is not documented in the example config"
            );
        }
    }
}

const PLATFORM_STORES: &str = r#"
[accounting]
kind = "file"
path = "data/accounting.csv"

[stores.woo]
kind = "woocommerce"
url = "https://shop.example.com"
consumer_key = { env = "WOO_KEY" }
consumer_secret = { env = "WOO_SECRET" }
buffer = 1

[stores.big]
kind = "bigcommerce"
store_hash = "abc123"
access_token = { env = "BC_TOKEN" }
"#;

#[test]
fn woocommerce_and_bigcommerce_stores_load_with_defaults() {
    let env = [
        ("WOO_KEY", "ck_sentinel-key"),
        ("WOO_SECRET", "cs_sentinel-secret"),
        ("BC_TOKEN", "sentinel-token"),
    ];
    let (_dir, result) = load_text(PLATFORM_STORES, &env);
    let config = result.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::WooCommerce(woo) = &config.stores["woo"].connection else {
        panic!("woo is a WooCommerce store")
    };
    assert_eq!(woo.url.as_str(), "https://shop.example.com/");
    assert_eq!(woo.consumer_key.expose_secret(), "ck_sentinel-key");
    assert_eq!(woo.consumer_secret.expose_secret(), "cs_sentinel-secret");
    assert_eq!(config.stores["woo"].rules.buffer, 1);
    let ConnectionConfig::BigCommerce(big) = &config.stores["big"].connection else {
        panic!("big is a BigCommerce store")
    };
    assert_eq!(big.store_hash, "abc123");
    assert_eq!(big.location_id, 1);
    assert_eq!(
        big.base_url.as_str(),
        "https://api.bigcommerce.com/stores/abc123"
    );
    assert_eq!(config.stores["big"].connection.kind(), "bigcommerce");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("sentinel"),
        "Debug shows no secret: {debug}"
    );
}

#[test]
fn woocommerce_and_bigcommerce_errors_name_the_key() {
    let env = [("WOO_KEY", "k"), ("WOO_SECRET", "s"), ("BC_TOKEN", "t")];
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "plain http to a remote site",
            PLATFORM_STORES.replace("https://shop.example.com", "http://shop.example.com"),
            "stores.woo.url",
            "https://",
        ),
        (
            "missing secret",
            PLATFORM_STORES.replace("consumer_secret = { env = \"WOO_SECRET\" }\n", ""),
            "stores.woo",
            "consumer_secret",
        ),
        (
            "unset variable",
            PLATFORM_STORES.replace("WOO_KEY", "NOT_SET_ANYWHERE"),
            "stores.woo.consumer_key",
            "NOT_SET_ANYWHERE",
        ),
        (
            "unknown key",
            PLATFORM_STORES.replace("buffer = 1", "bufer = 1"),
            "stores.woo",
            "bufer",
        ),
        (
            "bad store hash",
            PLATFORM_STORES.replace("abc123", "abc/123"),
            "stores.big.store_hash",
            "not a store hash",
        ),
        (
            "bad location",
            PLATFORM_STORES.replace(
                "store_hash = \"abc123\"",
                "store_hash = \"abc123\"\nlocation_id = 0",
            ),
            "stores.big.location_id",
            "positive",
        ),
        (
            "bad base_url",
            PLATFORM_STORES.replace(
                "store_hash = \"abc123\"",
                "store_hash = \"abc123\"\nbase_url = \"http://api.example.com\"",
            ),
            "stores.big.base_url",
            "https://",
        ),
        (
            "missing token",
            PLATFORM_STORES.replace("access_token = { env = \"BC_TOKEN\" }\n", ""),
            "stores.big",
            "access_token",
        ),
    ];
    for (what, text, key, needle) in cases {
        let (_dir, result) = load_text(&text, &env);
        let e = match result {
            Ok(_) => panic!("{what}: loaded"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(key) && e.contains(needle), "{what}: {e}");
    }
}

#[test]
fn bigcommerce_takes_a_loopback_base_url_and_a_location() {
    let text = PLATFORM_STORES.replace(
        "store_hash = \"abc123\"",
        "store_hash = \"abc123\"\nlocation_id = 7\nbase_url = \"http://127.0.0.1:9/stores/abc123\"",
    );
    let env = [("WOO_KEY", "k"), ("WOO_SECRET", "s"), ("BC_TOKEN", "t")];
    let (_dir, result) = load_text(&text, &env);
    let config = result.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::BigCommerce(big) = &config.stores["big"].connection else {
        panic!("big is a BigCommerce store")
    };
    assert_eq!(big.location_id, 7);
    assert_eq!(big.base_url.as_str(), "http://127.0.0.1:9/stores/abc123");
}

const QBO: &str = r#"
[database]
url = "sqlite://var/test.db"

[inventory]
master = "accounting"

[accounting]
kind = "quickbooks-online"
realm_id = "9130354512345678"
client_id = "ABcdClientId"
client_secret = { env = "QBO_CLIENT_SECRET" }
refresh_token = { env = "QBO_REFRESH_TOKEN" }
token_key = { env = "INVSYNC_TOKEN_KEY" }

[stores.shop]
kind = "file"
path = "data/shop.csv"

[[schedules]]
store = "shop"
every = "15m"
update = "store"
fields = ["price", "quantity"]
"#;

/// Sentinel secret values: they must never show in `Debug` output or errors.
const QBO_ENV: &[(&str, &str)] = &[
    ("QBO_CLIENT_SECRET", "SENTINEL-client-secret"),
    ("QBO_REFRESH_TOKEN", "SENTINEL-refresh-token"),
    (
        "INVSYNC_TOKEN_KEY",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    ),
];

#[test]
fn loads_a_quickbooks_online_accounting_side_with_defaults() {
    let (_dir, config) = load_text(QBO, QBO_ENV);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::QuickBooksOnline(q) = &config.accounting else {
        panic!("accounting is QuickBooks Online");
    };
    assert_eq!(config.accounting.kind(), "quickbooks-online");
    assert_eq!(q.realm_id, "9130354512345678");
    assert_eq!(q.client_id, "ABcdClientId");
    assert_eq!(q.client_secret.expose_secret(), "SENTINEL-client-secret");
    assert_eq!(
        q.refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("SENTINEL-refresh-token".to_owned())
    );
    let key: Vec<u8> = (0u8..32).collect();
    assert_eq!(q.token_key.expose_secret(), key.as_slice());
    assert_eq!(q.environment, QboEnvironment::Production);
    assert_eq!(q.base_url.as_str(), "https://quickbooks.api.intuit.com/");
    assert_eq!(
        q.token_url.as_str(),
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    );
    assert_eq!(q.quantity_write, QboQuantityWrite::Adjustment);
    assert_eq!(q.adjustment_account, None);
    assert_eq!(q.order_doc_number, "{order}");
    assert_eq!(q.http, HttpPolicy::default());
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("SENTINEL"),
        "Debug shows no secret: {debug}"
    );

    // The sandbox, overrides and the optional keys.
    let text = QBO.replace(
        "token_key = { env = \"INVSYNC_TOKEN_KEY\" }",
        "token_key = { env = \"INVSYNC_TOKEN_KEY\" }\nenvironment = \"sandbox\"\ntoken_url = \"http://127.0.0.1:9/token\"\nredirect_uri = \"https://example.com/callback\"\nquantity_write = \"item\"\nadjustment_account = \"97\"\norder_doc_number = \"{store}-{order}\"\ntimeout = \"90s\"\nretries = 2\nretry_backoff = \"1s\"",
    );
    let (_dir, config) = load_text(&text, QBO_ENV);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::QuickBooksOnline(q) = &config.accounting else {
        panic!("accounting is QuickBooks Online");
    };
    assert_eq!(q.environment, QboEnvironment::Sandbox);
    assert_eq!(
        q.base_url.as_str(),
        "https://sandbox-quickbooks.api.intuit.com/"
    );
    assert_eq!(q.token_url.as_str(), "http://127.0.0.1:9/token");
    assert_eq!(
        q.redirect_uri.as_deref(),
        Some("https://example.com/callback")
    );
    assert_eq!(q.quantity_write, QboQuantityWrite::Item);
    assert_eq!(q.adjustment_account.as_deref(), Some("97"));
    assert_eq!(q.order_doc_number, "{store}-{order}");
    assert_eq!(
        q.http,
        HttpPolicy {
            timeout: std::time::Duration::from_secs(90),
            retries: 2,
            retry_backoff: std::time::Duration::from_secs(1),
        }
    );
    // Without refresh_token: the tokens come from `invsync auth quickbooks-online`.
    let text = QBO.replace("refresh_token = { env = \"QBO_REFRESH_TOKEN\" }\n", "");
    let (_dir, config) = load_text(&text, QBO_ENV);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::QuickBooksOnline(q) = &config.accounting else {
        panic!("accounting is QuickBooks Online");
    };
    assert!(q.refresh_token.is_none());
}

#[test]
fn quickbooks_online_errors_name_the_key_and_never_the_secret() {
    let replace = |from: &str, to: &str| QBO.replacen(from, to, 1);
    let cases: Vec<KeyCase> = vec![
        (
            "missing realm",
            replace("realm_id = \"9130354512345678\"\n", ""),
            vec![("accounting.realm_id", "missing")],
        ),
        (
            "bad realm",
            replace("9130354512345678", "913 035"),
            vec![("accounting.realm_id", "realm ID")],
        ),
        (
            "missing client secret",
            replace("client_secret = { env = \"QBO_CLIENT_SECRET\" }\n", ""),
            vec![("accounting.client_secret", "missing")],
        ),
        (
            "unset secret variable",
            replace("QBO_REFRESH_TOKEN\" }", "QBO_NOPE\" }"),
            vec![(
                "accounting.refresh_token",
                "environment variable QBO_NOPE is not set",
            )],
        ),
        (
            "missing token key",
            replace("token_key = { env = \"INVSYNC_TOKEN_KEY\" }\n", ""),
            vec![("accounting.token_key", "missing")],
        ),
        (
            "short token key",
            replace(
                "token_key = { env = \"INVSYNC_TOKEN_KEY\" }",
                "token_key = \"c2hvcnQ=\"",
            ),
            vec![("accounting.token_key", "32 random bytes")],
        ),
        (
            "bad environment",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\nenvironment = \"staging\"",
            ),
            vec![("accounting.environment", "not an environment")],
        ),
        (
            "plain http to a remote host",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\nbase_url = \"http://qbo.example.com\"",
            ),
            vec![("accounting.base_url", "not loopback")],
        ),
        (
            "bad token url",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\ntoken_url = \"ftp://x\"",
            ),
            vec![("accounting.token_url", "https://")],
        ),
        (
            "bad quantity_write",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\nquantity_write = \"set\"",
            ),
            vec![("accounting.quantity_write", "\"adjustment\"")],
        ),
        (
            "template without the order",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\norder_doc_number = \"{store}\"",
            ),
            vec![("accounting.order_doc_number", "must contain {order}")],
        ),
        (
            "unknown placeholder",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\norder_doc_number = \"{order}-{date}\"",
            ),
            vec![(
                "accounting.order_doc_number",
                "`{date}` is not a placeholder",
            )],
        ),
        (
            "unknown key",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\nrealm = \"1\"",
            ),
            vec![("accounting.realm", "unknown key")],
        ),
        (
            "retries out of range",
            replace(
                "kind = \"quickbooks-online\"",
                "kind = \"quickbooks-online\"\nretries = 21",
            ),
            vec![("accounting.retries", "out of range")],
        ),
        (
            "a store as master needs the adjustment account",
            replace("master = \"accounting\"", "master = \"shop\"")
                .replace("fields = [\"price\", \"quantity\"]", "fields = [\"price\"]"),
            vec![("accounting.adjustment_account", "inventory adjustments")],
        ),
        (
            "not a store kind",
            format!("{QBO}\n[stores.books]\nkind = \"quickbooks-online\"\n"),
            vec![(
                "stores.books.kind",
                "connects an accounting system, not a store",
            )],
        ),
    ];
    for (why, text, want) in cases {
        let (_dir, result) = load_text(&text, QBO_ENV);
        let errors = result
            .err()
            .unwrap_or_else(|| panic!("{why}: expected errors"));
        let got: Vec<(Option<String>, String)> = errors
            .iter()
            .map(|e| (e.key.clone(), e.message.clone()))
            .collect();
        assert_eq!(got.len(), want.len(), "{why}: {got:#?}");
        for ((key, message), (want_key, part)) in got.iter().zip(&want) {
            assert_eq!(key.as_deref(), Some(*want_key), "{why}: {message}");
            assert!(message.contains(part), "{why}: `{message}` lacks `{part}`");
        }
        let text = format!("{errors} {errors:?}");
        assert!(!text.contains("SENTINEL"), "{why}: a secret leaked: {text}");
    }
    // With quantity written to the item, no adjustment account is needed.
    let text = QBO
        .replace("master = \"accounting\"", "master = \"shop\"")
        .replace("fields = [\"price\", \"quantity\"]", "fields = [\"price\"]")
        .replace(
            "kind = \"quickbooks-online\"",
            "kind = \"quickbooks-online\"\nquantity_write = \"item\"",
        );
    let (_dir, result) = load_text(&text, QBO_ENV);
    result.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_quickbooks_online_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/invsync.quickbooks-online.example.toml");
    let options = LoadOptions {
        env: Some(
            QBO_ENV
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        now: None,
    };
    let config = load_with(&example, &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.accounting.kind(), "quickbooks-online");
}

const SHOPIFY: &str = r#"
[accounting]
kind = "file"
path = "data/accounting.csv"

[stores.shop]
kind = "shopify"
shop = "Example.myshopify.com"
access_token = { env = "SHOP_TOKEN" }
buffer = 1
"#;

#[test]
fn loads_a_shopify_store_with_defaults() {
    let (_dir, config) = load_text(SHOPIFY, &[("SHOP_TOKEN", "shpat_s3cret-sentinel")]);
    let config = config.expect("valid");
    let shop = &config.stores["shop"];
    let ConnectionConfig::Shopify(s) = &shop.connection else {
        panic!("a shopify store")
    };
    assert_eq!(s.shop, "example.myshopify.com");
    assert_eq!(s.base_url.as_str(), "https://example.myshopify.com/");
    assert_eq!(s.api_version, DEFAULT_SHOPIFY_API_VERSION);
    assert_eq!(s.location, None);
    assert_eq!(s.bulk_above, DEFAULT_SHOPIFY_BULK_ABOVE);
    assert_eq!(s.bulk_write_above, DEFAULT_SHOPIFY_BULK_WRITE_ABOVE);
    assert_eq!(s.full_read_every, DEFAULT_SHOPIFY_FULL_READ_EVERY);
    assert_eq!(s.access_token.expose_secret(), "shpat_s3cret-sentinel");
    assert_eq!(shop.rules.buffer, 1);
    assert_eq!(shop.connection.kind(), "shopify");
    assert!(
        !format!("{config:?}").contains("s3cret-sentinel"),
        "Debug never shows the access token"
    );

    let text = SHOPIFY.replace(
        "buffer = 1",
        "base_url = \"http://127.0.0.1:9001\"\napi_version = \"2025-10\"\nlocation = \"42\"\nbulk_above = 0\nbulk_write_above = 0\nfull_read_every = \"6h\"",
    );
    let (_dir, config) = load_text(&text, &[("SHOP_TOKEN", "t")]);
    let config = config.expect("valid");
    let ConnectionConfig::Shopify(s) = &config.stores["shop"].connection else {
        panic!("a shopify store")
    };
    assert_eq!(s.base_url.as_str(), "http://127.0.0.1:9001/");
    assert_eq!(s.api_version, "2025-10");
    assert_eq!(s.location.as_deref(), Some("gid://shopify/Location/42"));
    assert_eq!(s.bulk_above, 0);
    assert_eq!(s.bulk_write_above, 0);
    assert_eq!(s.full_read_every, std::time::Duration::from_secs(6 * 3600));

    let (_dir, config) = load_text(
        &SHOPIFY.replace("buffer = 1", "full_read_every = \"0s\""),
        &[("SHOP_TOKEN", "t")],
    );
    let ConnectionConfig::Shopify(s) = &config.expect("valid").stores["shop"].connection else {
        panic!("a shopify store")
    };
    assert!(s.full_read_every.is_zero(), "0s: no incremental reads");
}

#[test]
fn http_connections_take_a_timeout_and_a_retry_policy() {
    let (_dir, config) = load_text(SHOPIFY, &[("SHOP_TOKEN", "t")]);
    let config = config.expect("valid");
    let ConnectionConfig::Shopify(s) = &config.stores["shop"].connection else {
        panic!("a shopify store")
    };
    assert_eq!(s.http, HttpPolicy::default());
    assert_eq!(s.http.timeout, std::time::Duration::from_secs(60));

    let text = SHOPIFY.replace(
        "buffer = 1",
        "timeout = \"2s\"\nretries = 0\nretry_backoff = \"50ms\"",
    );
    let (_dir, config) = load_text(&text, &[("SHOP_TOKEN", "t")]);
    let config = config.expect("valid");
    let ConnectionConfig::Shopify(s) = &config.stores["shop"].connection else {
        panic!("a shopify store")
    };
    assert_eq!(
        s.http,
        HttpPolicy {
            timeout: std::time::Duration::from_secs(2),
            retries: 0,
            retry_backoff: std::time::Duration::from_millis(50),
        }
    );

    for (line, key, message) in [
        ("timeout = \"0s\"", "stores.shop.timeout", "longer than 0s"),
        ("timeout = \"soon\"", "stores.shop.timeout", ""),
        ("retries = -1", "stores.shop.retries", "out of range"),
        ("retries = 21", "stores.shop.retries", "out of range"),
        ("retry_backoff = \"x\"", "stores.shop.retry_backoff", ""),
    ] {
        let (_dir, config) =
            load_text(&SHOPIFY.replace("buffer = 1", line), &[("SHOP_TOKEN", "t")]);
        let errors = config.expect_err(line).to_string();
        assert!(
            errors.contains(key) && errors.contains(message),
            "{line}: {errors}"
        );
    }
}

#[test]
fn shopify_errors_name_the_key() {
    // (why, config text, environment, key, part of the message)
    type Case<'a> = (&'a str, String, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "token variable not set",
            SHOPIFY.to_owned(),
            &[],
            "stores.shop.access_token",
            "SHOP_TOKEN is not set",
        ),
        (
            "token missing",
            SHOPIFY.replace("access_token = { env = \"SHOP_TOKEN\" }\n", ""),
            &[],
            "stores.shop.access_token",
            "missing",
        ),
        (
            "not a shop domain",
            SHOPIFY.replace("Example.myshopify.com", "example.com"),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.shop",
            "not a shop domain",
        ),
        (
            "plain http elsewhere",
            SHOPIFY.replace("buffer = 1", "base_url = \"http://example.com\""),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.base_url",
            "not loopback",
        ),
        (
            "old api version",
            SHOPIFY.replace("buffer = 1", "api_version = \"2024-10\""),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.api_version",
            "not a supported Admin API version",
        ),
        (
            "full_read_every not a duration",
            SHOPIFY.replace("buffer = 1", "full_read_every = \"daily\""),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.full_read_every",
            "not a duration",
        ),
        (
            "location by name",
            SHOPIFY.replace("buffer = 1", "location = \"Main street\""),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.location",
            "not a location id",
        ),
        (
            "negative bulk threshold",
            SHOPIFY.replace("buffer = 1", "bulk_above = -1"),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.bulk_above",
            "out of range",
        ),
        (
            "negative bulk write threshold",
            SHOPIFY.replace("buffer = 1", "bulk_write_above = -1"),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.bulk_write_above",
            "out of range: 0 to 100000 price changes",
        ),
        (
            "bulk write threshold above the largest",
            SHOPIFY.replace("buffer = 1", "bulk_write_above = 100001"),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.bulk_write_above",
            "out of range",
        ),
        (
            "unknown key",
            SHOPIFY.replace("buffer = 1", "token = \"x\""),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.token",
            "unknown key",
        ),
        (
            "rules are checked",
            SHOPIFY.replace("buffer = 1", "share = 101"),
            &[("SHOP_TOKEN", "t")],
            "stores.shop.share",
            "out of range",
        ),
    ];
    for (why, text, env, key, part) in cases {
        let (_dir, result) = load_text(&text, env);
        let errors = result.expect_err(why);
        let found = errors
            .iter()
            .any(|e| e.key.as_deref() == Some(key) && e.message.contains(part));
        assert!(found, "{why}: want {key}: …{part}…, got:\n{errors}");
        assert!(
            !errors.to_string().contains("shpat"),
            "{why}: no token in errors"
        );
    }
    // A literal token in the file never shows in an error about another key.
    let text = SHOPIFY
        .replace("{ env = \"SHOP_TOKEN\" }", "\"shpat_literal-sentinel\"")
        .replace("Example.myshopify.com", "nope");
    let (_dir, result) = load_text(&text, &[]);
    let errors = result.expect_err("invalid shop").to_string();
    assert!(!errors.contains("literal-sentinel"), "{errors}");
}

/// Every whole-number key: (config, what it needs in the environment, its table, a line
/// of that table to add the key after, the keys).
type IntegerKeys<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
    &'a str,
    &'a [&'a str],
);

/// A config with a `[daemon]` table to add keys to.
const DAEMON_TABLE: &str = "[daemon]\nshutdown_grace = \"30s\"\n\n[accounting]\nkind = \"file\"\n\
     path = \"data/accounting.csv\"\n\n[stores.shop]\nkind = \"file\"\npath = \"data/shop.csv\"\n";

const INTEGER_KEYS: &[IntegerKeys] = &[
    (
        DAEMON_TABLE,
        &[],
        "daemon",
        "shutdown_grace = \"30s\"",
        &["max_connections"],
    ),
    (
        VALID,
        &[],
        "database",
        "url = \"sqlite://var/test.db\"",
        &["max_connections"],
    ),
    (
        VALID,
        &[],
        "stores.pos",
        "path = \"data/pos.json\"",
        &["buffer", "max_quantity", "share"],
    ),
    (
        PLATFORM_STORES,
        &[
            ("WOO_KEY", "ck_x"),
            ("WOO_SECRET", "cs_x"),
            ("BC_TOKEN", "t"),
        ],
        "stores.woo",
        "url = \"https://shop.example.com\"",
        &["max_quantity", "share", "retries"],
    ),
    (
        PLATFORM_STORES,
        &[
            ("WOO_KEY", "ck_x"),
            ("WOO_SECRET", "cs_x"),
            ("BC_TOKEN", "t"),
        ],
        "stores.big",
        "store_hash = \"abc123\"",
        &["buffer", "max_quantity", "share", "retries", "location_id"],
    ),
    (
        SHOPIFY,
        &[("SHOP_TOKEN", "shpat_x")],
        "stores.shop",
        "shop = \"Example.myshopify.com\"",
        &["max_quantity", "share", "retries", "bulk_above"],
    ),
    (
        QBO,
        QBO_ENV,
        "accounting",
        "realm_id = \"9130354512345678\"",
        &["retries"],
    ),
];

/// Issue 13, item 2: `share = nan` loaded as 0 (the `config` crate rounds floats and
/// reads `true`/`"yes"` as 1), and a quantity sync wrote 0 everywhere. Every whole-number
/// key takes an integer, from the file or from an `INVSYNC__…` variable, or the config is
/// refused at that key.
#[test]
fn whole_number_keys_refuse_floats_nan_and_booleans() {
    for (text, env, table, anchor, keys) in INTEGER_KEYS {
        assert!(text.contains(anchor), "{table}: `{anchor}`");
        for key in *keys {
            let path = format!("{table}.{key}");
            let with =
                |value: &str| text.replacen(anchor, &format!("{anchor}\n{key} = {value}"), 1);
            let (_dir, ok) = load_text(&with("3"), env);
            ok.unwrap_or_else(|e| panic!("{path} = 3: {e}"));
            for value in [
                "nan", "-nan", "inf", "-inf", "50.5", "50.0", "0.4", "2.7", "true",
            ] {
                let (_dir, result) = load_text(&with(value), env);
                let errors = result.expect_err(&format!("{path} = {value}"));
                let got: Vec<_> = errors.iter().collect();
                assert_eq!(got.len(), 1, "{path} = {value}: {errors}");
                assert_eq!(got[0].key.as_deref(), Some(path.as_str()), "{errors}");
                assert!(
                    got[0].message.contains("is not a whole number"),
                    "{path} = {value}: {errors}"
                );
            }
            let var = format!(
                "INVSYNC__{}__{}",
                table.replace('.', "__").to_uppercase(),
                key.to_uppercase()
            );
            let mut with_env = env.to_vec();
            with_env.push((var.as_str(), "4"));
            let (_dir, ok) = load_text(text, &with_env);
            ok.unwrap_or_else(|e| panic!("{var}=4: {e}"));
            for value in ["nan", "inf", "50.5", "50.0", "1e3", "yes", "on", "true", ""] {
                let mut with_env = env.to_vec();
                with_env.push((var.as_str(), value));
                let (_dir, result) = load_text(text, &with_env);
                let errors = result.expect_err(&format!("{var}={value}"));
                let got: Vec<_> = errors.iter().collect();
                assert_eq!(got.len(), 1, "{var}={value}: {errors}");
                assert_eq!(got[0].key.as_deref(), Some(path.as_str()), "{errors}");
                assert_eq!(got[0].env.as_deref(), Some(var.as_str()), "{errors}");
                let why = if value.is_empty() {
                    "is empty"
                } else {
                    "is not a whole number"
                };
                assert!(got[0].message.contains(why), "{var}={value}: {errors}");
            }
        }
    }
}

#[test]
fn max_connections_is_in_range() {
    for (value, ok) in [
        ("1", true),
        ("1000", true),
        ("0", false),
        ("1001", false),
        ("-1", false),
    ] {
        let text = VALID.replacen(
            "url = \"sqlite://var/test.db\"",
            &format!("url = \"sqlite://var/test.db\"\nmax_connections = {value}"),
            1,
        );
        let (_dir, result) = load_text(&text, &[]);
        match result {
            Ok(config) => {
                assert!(ok, "max_connections = {value} loaded");
                assert_eq!(config.database.max_connections.to_string(), value);
            }
            Err(e) => {
                assert!(!ok, "max_connections = {value}: {e}");
                assert!(e.to_string().contains("database.max_connections: "), "{e}");
                assert!(e.to_string().contains("out of range 1..=1000"), "{e}");
            }
        }
    }
}

#[test]
fn file_connections_take_a_max_file_size() {
    let (_dir, config) = load_text(VALID, &[]);
    let config = config.expect("valid");
    let ConnectionConfig::File(f) = &config.stores["shop"].connection else {
        panic!("a file store")
    };
    assert_eq!(f.max_file_size, input_file::DEFAULT_MAX_FILE_SIZE);
    let with = |table_line: &str, value: &str| {
        VALID.replacen(
            table_line,
            &format!("{table_line}\nmax_file_size = {value}"),
            1,
        )
    };
    let store = "path = \"data/pos.json\"";
    let accounting = "path = \"data/accounting.csv\"";
    for (line, key, value, want) in [
        (store, "stores.pos", "\"500MiB\"", Ok(500 << 20)),
        (store, "stores.pos", "\"2 GiB\"", Ok(2 << 30)),
        (accounting, "accounting", "1048576", Ok(1 << 20)),
        (accounting, "accounting", "\"1.5GiB\"", Err("is not a size")),
        (store, "stores.pos", "\"0\"", Err("must be more than 0")),
        (store, "stores.pos", "\"lots\"", Err("is not a size")),
        (store, "stores.pos", "nan", Err("is not a size")),
    ] {
        let (_dir, result) = load_text(&with(line, value), &[]);
        match (result, want) {
            (Ok(config), Ok(size)) => {
                let connection = match key {
                    "accounting" => &config.accounting,
                    _ => &config.stores["pos"].connection,
                };
                let ConnectionConfig::File(f) = connection else {
                    panic!("a file connection")
                };
                assert_eq!(f.max_file_size, size, "{key} = {value}");
            }
            (Err(e), Err(part)) => {
                let text = e.to_string();
                assert!(
                    text.contains(&format!("{key}.max_file_size: ")) && text.contains(part),
                    "{key} = {value}: {text}"
                );
            }
            (got, want) => panic!("{key} = {value}: got {got:?}, want {want:?}"),
        }
    }
}

/// Issue 13, item 6: a secret whose value does not parse was echoed — ``unsupported
/// database `root:` `` from /etc/shadow, `postgres:S3NT1N3L` whole. An error about a
/// secret names the key and where the value came from (the variable, the file), says
/// what is wrong in general terms, and never shows any part of the value: not a prefix,
/// not a scheme.
#[test]
fn secrets_that_do_not_parse_are_never_shown() {
    let values = [
        "root:S3NT1N3L$6$salt$hash:19000:0:99999:7:::",
        "postgres:S3NT1N3L",
        "postgresql:S3NT1N3L@h/db",
        "mysql://u:S3NT1N3L@h/db",
        "http://S3NT1N3L@h/db",
        "S3NT1N3L",
        "S3NT1N3L://h/db",
        "postgres:///S3NT1N3L?host=",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for value in values {
        let file = dir.path().join("db-url");
        std::fs::write(&file, format!("{value}\n")).expect("write");
        let forms = [
            (format!("\"{value}\""), vec![], "the value"),
            (
                "{ env = \"DB_URL\" }".to_owned(),
                vec![("DB_URL", value)],
                "the value of environment variable DB_URL",
            ),
            (
                format!("{{ file = \"{}\" }}", file.display()),
                vec![],
                "the contents of file",
            ),
        ];
        for (form, env, origin) in forms {
            let text = VALID.replacen("\"sqlite://var/test.db\"", &form, 1);
            let (_dir, result) = load_text(&text, &env);
            let Err(errors) = result else {
                if value.starts_with("postgres:///") {
                    continue; // a valid URL (a socket path that happens to be odd)
                }
                panic!("{value} as {form}: loaded");
            };
            let shown = errors.to_string();
            assert_eq!(errors.len(), 1, "{shown}");
            assert!(shown.contains("database.url: "), "{shown}");
            assert!(shown.contains(origin), "{value} as {form}: {shown}");
            for part in ["S3NT1N3L", "root", "mysql", "http:", "postgresql:"] {
                assert!(
                    !shown.contains(part),
                    "{value} as {form}: `{part}` in {shown}"
                );
            }
        }
    }
    // The variable that overrides a key is named too.
    let (_dir, result) = load_text(VALID, &[("INVSYNC__DATABASE__URL", "root:S3NT1N3L:1::")]);
    let shown = result.expect_err("refused").to_string();
    assert!(
        shown.contains("database.url (set by environment variable INVSYNC__DATABASE__URL): the value is not a database URL"),
        "{shown}"
    );
    assert!(
        !shown.contains("S3NT1N3L") && !shown.contains("root"),
        "{shown}"
    );

    // Other secrets that are parsed: QuickBooks Online's token key.
    for (env, origin) in [
        (
            [("INVSYNC_TOKEN_KEY", "S3NT1N3L-is-not-a-key")],
            "the value of environment variable INVSYNC_TOKEN_KEY must be 32 random bytes",
        ),
        (
            [("INVSYNC_TOKEN_KEY", "UzNOVDFOM0wtc2hvcnQ=")],
            "the value of environment variable INVSYNC_TOKEN_KEY is 14 bytes long",
        ),
    ] {
        let env: Vec<(&str, &str)> = QBO_ENV[..2].iter().copied().chain(env).collect();
        let (_dir, result) = load_text(QBO, &env);
        let shown = result.expect_err("refused").to_string();
        assert!(shown.contains("accounting.token_key: "), "{shown}");
        assert!(shown.contains(origin), "{shown}");
        assert!(
            !shown.contains("S3NT1N3L") && !shown.contains("UzNOVDFOM0w"),
            "{shown}"
        );
    }
}

const QBD: &str = r#"
[web_connector]
username = "invsync-shop"
password = "wc-secret-1"
qb_type = "QBFS"

[inventory]
master = "accounting"

[accounting]
kind = "quickbooks-desktop"

[stores.shop]
kind = "file"
path = "data/shop.csv"
"#;

#[test]
fn loads_a_quickbooks_desktop_accounting_side_with_defaults() {
    let (_dir, config) = load_text(QBD, &[]);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::QuickBooksDesktop(q) = &config.accounting else {
        panic!("not Desktop: {:?}", config.accounting.kind());
    };
    assert_eq!(
        q.company, "invsync-shop",
        "the Web Connector user names the company file"
    );
    assert_eq!(q.sku_field, DesktopSkuField::Name);
    assert_eq!(q.order_ref_number, "{order}");
    assert_eq!(q.max_age, Duration::from_secs(1800));
    assert_eq!(q.max_returned, 500);
    assert_eq!(
        (q.adjustment_account.as_deref(), q.site.as_deref()),
        (None, None)
    );

    let full = QBD.replacen(
        "kind = \"quickbooks-desktop\"\n",
        "kind = \"quickbooks-desktop\"\nsku_field = \"bar_code\"\nadjustment_account = \"Inventory Adjustments\"\nsite = \"Main\"\norder_ref_number = \"W{order}\"\nmax_age = \"2h\"\nmax_returned = 100\n",
        1,
    );
    let (_dir, config) = load_text(&full, &[]);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::QuickBooksDesktop(q) = &config.accounting else {
        panic!("not Desktop");
    };
    assert_eq!(q.sku_field, DesktopSkuField::BarCode);
    assert_eq!(
        q.adjustment_account.as_deref(),
        Some("Inventory Adjustments")
    );
    assert_eq!(q.site.as_deref(), Some("Main"));
    assert_eq!(q.order_ref_number, "W{order}");
    assert_eq!(q.max_age, Duration::from_secs(7200));
    assert_eq!(q.max_returned, 100);
}

#[test]
fn quickbooks_desktop_errors_name_the_key() {
    let replace = |from: &str, to: &str| QBD.replacen(from, to, 1);
    let with = |line: &str| {
        QBD.replacen(
            "kind = \"quickbooks-desktop\"\n",
            &format!("kind = \"quickbooks-desktop\"\n{line}\n"),
            1,
        )
    };
    let no_table = QBD
        .split("[inventory]")
        .nth(1)
        .map(|rest| format!("[inventory]{rest}"))
        .expect("split");
    let cases: Vec<KeyCase> = vec![
        (
            "no [web_connector]",
            no_table,
            vec![("web_connector", "missing")],
        ),
        (
            "POS web connector",
            replace("qb_type = \"QBFS\"", "qb_type = \"QBPOS\""),
            vec![("web_connector.qb_type", "QBFS")],
        ),
        (
            "bad sku field",
            with("sku_field = \"upc\""),
            vec![("accounting.sku_field", "`upc`")],
        ),
        (
            "template without {order}",
            with("order_ref_number = \"W-1\""),
            vec![("accounting.order_ref_number", "{order}")],
        ),
        (
            "bad max_age",
            with("max_age = \"soon\""),
            vec![("accounting.max_age", "duration")],
        ),
        (
            "max_returned out of range",
            with("max_returned = 0"),
            vec![("accounting.max_returned", "1 to 10000")],
        ),
        (
            "login on [accounting]",
            with("password = \"x\""),
            vec![("accounting.password", "[web_connector]")],
        ),
        (
            "empty account",
            with("adjustment_account = \" \""),
            vec![("accounting.adjustment_account", "full name")],
        ),
        (
            "store master without an adjustment account",
            replace("master = \"accounting\"", "master = \"shop\""),
            vec![("accounting.adjustment_account", "missing")],
        ),
    ];
    for (what, text, expected) in cases {
        let (_dir, result) = load_text(&text, &[]);
        let errors = result.expect_err(what);
        for (key, words) in expected {
            let e = errors
                .iter()
                .find(|e| e.key.as_deref() == Some(key))
                .unwrap_or_else(|| panic!("{what}: no error at {key}: {errors}"));
            assert!(e.message.contains(words), "{what}: {}", e.message);
            assert!(e.file.ends_with("invsync.toml"), "{what}: names the file");
        }
        assert!(
            !errors.to_string().contains("wc-secret-1"),
            "{what}: {errors}"
        );
    }
}

#[test]
fn the_quickbooks_desktop_example_config_is_valid_and_documents_every_key() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/invsync.quickbooks-desktop.example.toml");
    let options = LoadOptions {
        env: Some([("QBWC_PASSWORD".to_owned(), "p".to_owned())].into()),
        now: None,
    };
    let config = load_with(&example, &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.accounting.kind(), "quickbooks-desktop");
    let text = std::fs::read_to_string(&example).expect("read");
    for key in [
        "sku_field",
        "adjustment_account",
        "site",
        "order_ref_number",
        "max_age",
        "max_returned",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start_matches('#').starts_with(&format!("{key} ="))),
            "{key} is not documented"
        );
    }
}

const QBPOS: &str = r#"
[web_connector]
username = "invsync-pos"
password = "wc-secret-1"
qb_type = "QBPOS"

[inventory]
master = "accounting"

[accounting]
kind = "quickbooks-pos"

[stores.shop]
kind = "file"
path = "data/shop.csv"
"#;

#[test]
fn loads_a_quickbooks_pos_accounting_side_with_defaults() {
    let (_dir, config) = load_text(QBPOS, &[]);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::QuickBooksPos(q) = &config.accounting else {
        panic!("not POS: {:?}", config.accounting.kind());
    };
    assert_eq!(q.company, "invsync-pos");
    assert_eq!(q.sku_field, PosSkuField::Alu);
    assert_eq!(q.store_number, None);
    assert_eq!(q.adjustment_reason, "invsync");
    assert_eq!(q.order_ref_field, PosOrderRefField::Comments);
    assert_eq!(q.order_ref_number, "{order}");
    assert_eq!(q.max_age, Duration::from_secs(1800));
    assert_eq!(q.max_returned, 500);

    let full = QBPOS.replacen(
        "kind = \"quickbooks-pos\"\n",
        "kind = \"quickbooks-pos\"\nsku_field = \"upc\"\nstore_number = 2\nadjustment_reason = \"Web\"\norder_ref_field = \"tracking_number\"\norder_ref_number = \"W{order}\"\nmax_age = \"1h\"\nmax_returned = 200\n",
        1,
    );
    let (_dir, config) = load_text(&full, &[]);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let ConnectionConfig::QuickBooksPos(q) = &config.accounting else {
        panic!("not POS");
    };
    assert_eq!(q.sku_field, PosSkuField::Upc);
    assert_eq!(q.store_number, Some(2));
    assert_eq!(q.adjustment_reason, "Web");
    assert_eq!(q.order_ref_field, PosOrderRefField::TrackingNumber);
    assert_eq!(q.order_ref_number, "W{order}");
    assert_eq!(q.max_age, Duration::from_secs(3600));
    assert_eq!(q.max_returned, 200);
    // A store may be the master: memos need no account in POS.
    let store_master = QBPOS.replacen("master = \"accounting\"", "master = \"shop\"", 1);
    let (_dir, config) = load_text(&store_master, &[]);
    config.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn quickbooks_pos_errors_name_the_key() {
    let replace = |from: &str, to: &str| QBPOS.replacen(from, to, 1);
    let with = |line: &str| {
        QBPOS.replacen(
            "kind = \"quickbooks-pos\"\n",
            &format!("kind = \"quickbooks-pos\"\n{line}\n"),
            1,
        )
    };
    let no_table = QBPOS
        .split("[inventory]")
        .nth(1)
        .map(|rest| format!("[inventory]{rest}"))
        .expect("split");
    let cases: Vec<KeyCase> = vec![
        (
            "no [web_connector]",
            no_table,
            vec![("web_connector", "qb_type = \"QBPOS\"")],
        ),
        (
            "Desktop web connector",
            replace("qb_type = \"QBPOS\"", "qb_type = \"QBFS\""),
            vec![("web_connector.qb_type", "set qb_type = \"QBPOS\"")],
        ),
        (
            "bad sku field",
            with("sku_field = \"name\""),
            vec![("accounting.sku_field", "\"alu\"")],
        ),
        (
            "store 21",
            with("store_number = 21"),
            vec![("accounting.store_number", "1 to 20")],
        ),
        (
            "reason too long",
            with("adjustment_reason = \"Web orders\""),
            vec![("accounting.adjustment_reason", "1 to 8")],
        ),
        (
            "bad order ref field",
            with("order_ref_field = \"memo\""),
            vec![("accounting.order_ref_field", "tracking_number")],
        ),
        (
            "template without {order}",
            with("order_ref_number = \"W-1\""),
            vec![("accounting.order_ref_number", "{order}")],
        ),
        (
            "Desktop keys",
            with("adjustment_account = \"Inventory Adjustments\""),
            vec![("accounting.adjustment_account", "unknown key")],
        ),
        (
            "login on [accounting]",
            with("username = \"x\""),
            vec![("accounting.username", "[web_connector]")],
        ),
    ];
    for (what, text, expected) in cases {
        let (_dir, result) = load_text(&text, &[]);
        let errors = result.expect_err(what);
        for (key, words) in expected {
            let e = errors
                .iter()
                .find(|e| e.key.as_deref() == Some(key))
                .unwrap_or_else(|| panic!("{what}: no error at {key}: {errors}"));
            assert!(e.message.contains(words), "{what}: {}", e.message);
        }
        assert!(
            !errors.to_string().contains("wc-secret-1"),
            "{what}: {errors}"
        );
    }
}

#[test]
fn the_quickbooks_pos_example_config_is_valid_and_documents_every_key() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/invsync.quickbooks-pos.example.toml");
    let options = LoadOptions {
        env: Some([("QBWC_PASSWORD".to_owned(), "p".to_owned())].into()),
        now: None,
    };
    let config = load_with(&example, &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.accounting.kind(), "quickbooks-pos");
    let text = std::fs::read_to_string(&example).expect("read");
    for key in [
        "sku_field",
        "store_number",
        "adjustment_reason",
        "order_ref_field",
        "order_ref_number",
        "max_age",
        "max_returned",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start_matches('#').starts_with(&format!("{key} ="))),
            "{key} is not documented"
        );
    }
}
