//! Fuzzing the config loader (issue 8, item 2): arbitrary TOML text, TOML documents built
//! from the known keys with random values and types (so the input gets past the TOML
//! parser into validation), and arbitrary `INVSYNC__…` overrides.
//!
//! Properties: `load_with` never panics; a rejected config carries at least one error, and
//! every error has a message; a secret value never shows up in any error.
//!
//! A few hundred cases run in `cargo test`; a longer run:
//! `INVSYNC_FUZZ_CASES=200000 cargo test --release -p invsync-config --test fuzz`.

use invsync_config::{LoadOptions, load_with};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use std::collections::HashMap;
use std::io::Write as _;

/// Every secret in the generated documents. It must never appear in an error.
const SENTINEL: &str = "SENTINEL-7f3a9c-config";

/// Cases per property: `INVSYNC_FUZZ_CASES`, else `default` (CI).
fn cases(default: u32) -> u32 {
    std::env::var("INVSYNC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fuzz_config(default: u32) -> ProptestConfig {
    // Failures persist in `proptest-regressions/` (proptest's default) and are replayed
    // first on the next run.
    ProptestConfig::with_cases(cases(default))
}

/// Loads `text` (as bytes: it need not be UTF-8) with `env`; checks the properties.
fn check(text: &[u8], env: HashMap<String, String>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join("invsync.toml");
    let mut f = std::fs::File::create(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
    f.write_all(text)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    drop(f);
    // `{ file = "secret" }` resolves relative to the config's folder.
    std::fs::write(dir.path().join("secret"), format!("{SENTINEL}\n"))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut env = env;
    env.insert("SECRET_VAR".into(), SENTINEL.into());
    let options = LoadOptions {
        env: Some(env),
        now: None,
    };
    match load_with(&path, &options) {
        Ok(_) => {}
        Err(errors) => {
            prop_assert!(!errors.is_empty(), "rejected without an error");
            for e in errors.iter() {
                prop_assert!(
                    !e.message.trim().is_empty(),
                    "an error without a message: {e:?}"
                );
            }
            let text = errors.to_string();
            prop_assert!(!text.contains(SENTINEL), "an error shows a secret: {text}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Structured documents

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Strings that are, or are close to, values some key takes.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "", " ", "file", "shopify", "woocommerce", "bigcommerce", "quickbooks-online",
            "xero", "accounting", "shop", "pos", "store", "price", "quantity", "skip",
            "reserve", "15m", "14m", "24h", "25h", "0s", "1s", "30s", "61s", "1000000000h",
            "0 0 3 * * *", "* * * * * *", "0 0 0 31 2 *", "@hourly", "Europe/Berlin",
            "Mars/Olympus", "off", "127.0.0.1:9187", "[::1]:0", "300.1.1.1:1",
            "sqlite://var/x.db", "sqlite:", "sqlite://", "sqlite::memory:", "sqlite://?mode=rwc",
            "postgres://u:p@localhost/db", "postgres://", "mysql://x", "http://127.0.0.1:9",
            "http://example.com", "https://example.com/", "ftp://x", "data/a.csv", "data/a.json",
            "/dev/null", "..", "sandbox", "production", "adjustment", "absolute", "97",
            "{order}", "{order}{order}", "{", "}", "2024-01", "unstable", "gid://shopify/Location/1",
            "é", "\u{feff}", "a\u{0}b", "-1", "9223372036854775808", "NaN",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(16).collect()),
    ]
}

/// A TOML value of any type.
fn any_value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        4 => interesting_string().prop_map(|s| toml_string(&s)),
        2 => prop_oneof![
            Just(0i64), Just(1), Just(-1), Just(100), Just(101), Just(i64::MAX), Just(i64::MIN),
            Just(i64::from(u32::MAX)), Just(i64::from(u32::MAX) + 1), any::<i64>(),
        ]
        .prop_map(|i| i.to_string()),
        1 => prop_oneof![Just("1.5"), Just("-0.0"), Just("inf"), Just("nan"), Just("1e300")]
            .prop_map(str::to_owned),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => Just("1979-05-27T07:32:00Z".to_owned()),
        // Secret forms that resolve, but never the sentinel itself: a key that is not a
        // secret may rightly quote its value in an error.
        1 => prop::sample::select(vec![
            "{ env = \"SECRET_VAR\" }", "{ file = \"secret\" }", "{ env = \"UNSET_VAR\" }",
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["env", "file", "credential", "x", "kind"]),
                    inner
                ),
                0..3
            )
            .prop_map(|kv| {
                // Unique keys: a duplicate is a TOML error, which stops at the parser.
                let mut seen = std::collections::HashSet::new();
                let body: Vec<String> = kv
                    .iter()
                    .filter(|(k, _)| seen.insert(*k))
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
    .boxed()
}

/// A secret in any of its forms; each resolves to [`SENTINEL`] when it resolves.
fn secret_value() -> BoxedStrategy<String> {
    prop_oneof![
        Just(toml_string(SENTINEL)),
        Just("{ env = \"SECRET_VAR\" }".to_owned()),
        Just("{ env = \"UNSET_VAR\" }".to_owned()),
        Just("{ file = \"secret\" }".to_owned()),
        Just("{ file = \"missing\" }".to_owned()),
        Just("{ credential = \"secret\" }".to_owned()),
        Just("{ env = \"SECRET_VAR\", file = \"secret\" }".to_owned()),
    ]
    .boxed()
}

const SECRET_KEYS: &[&str] = &[
    "url",
    "password",
    "access_token",
    "consumer_key",
    "consumer_secret",
    "client_id",
    "client_secret",
    "refresh_token",
    "token_key",
];

/// `key = value` lines for a table: the keys it knows, some dropped, some with a value of
/// another type, sometimes an unknown key. Secrets only ever hold secret values, so that
/// the sentinel can only reach an error through a secret.
fn table(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let entries = keys
        .iter()
        .map(|&k| {
            let value = if SECRET_KEYS.contains(&k) {
                prop_oneof![
                    6 => secret_value(),
                    1 => Just("42".to_owned()),
                    1 => Just("[\"x\"]".to_owned()),
                ]
                .boxed()
            } else {
                any_value()
            };
            prop::option::weighted(0.8, value).prop_map(move |v| v.map(|v| format!("{k} = {v}\n")))
        })
        .collect::<Vec<_>>();
    let unknown = prop::option::weighted(0.05, Just("colour = \"blue\"\n".to_owned()));
    (entries, unknown).prop_map(|(entries, unknown)| {
        entries
            .into_iter()
            .flatten()
            .chain(unknown)
            .collect::<String>()
    })
}

const DATABASE: &[&str] = &["url", "max_connections", "connect_timeout"];
const DAEMON: &[&str] = &[
    "listen",
    "tls_cert",
    "tls_key",
    "password",
    "max_connections",
    "header_timeout",
    "idle_timeout",
    "shutdown_grace",
    "poll",
];
const INVENTORY: &[&str] = &["master", "in_orders"];
const SCHEDULE: &[&str] = &[
    "name", "store", "every", "cron", "timezone", "update", "fields",
];
const RULES: [&str; 3] = ["buffer", "max_quantity", "share"];

fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "file" => &["path", "orders", "buffer", "max_quantity", "share"],
        "shopify" => &[
            "shop",
            "access_token",
            "base_url",
            "api_version",
            "location",
            "bulk_above",
            "buffer",
            "max_quantity",
            "share",
        ],
        "woocommerce" => &[
            "url",
            "consumer_key",
            "consumer_secret",
            "buffer",
            "max_quantity",
            "share",
        ],
        "bigcommerce" => &[
            "store_hash",
            "access_token",
            "location_id",
            "base_url",
            "buffer",
            "max_quantity",
            "share",
        ],
        "quickbooks-online" => &[
            "realm_id",
            "client_id",
            "client_secret",
            "refresh_token",
            "token_key",
            "environment",
            "base_url",
            "token_url",
            "redirect_uri",
            "quantity_write",
            "adjustment_account",
            "order_doc_number",
        ],
        _ => &RULES,
    }
}

/// A connection table: `kind = …` and the keys of some kind (not always the same one).
fn connection() -> impl Strategy<Value = String> {
    let kinds = vec![
        "file",
        "shopify",
        "woocommerce",
        "bigcommerce",
        "quickbooks-online",
        "xero",
    ];
    (
        prop::sample::select(kinds.clone()),
        prop::sample::select(kinds),
        0..10u8,
    )
        .prop_flat_map(|(kind, keys_of, wrong)| {
            // Mostly the keys of the kind itself, sometimes another kind's.
            let keys = kind_keys(if wrong == 0 { keys_of } else { kind });
            let kind_line = if wrong == 1 {
                String::new()
            } else {
                format!("kind = {}\n", toml_string(kind))
            };
            table(keys).prop_map(move |body| format!("{kind_line}{body}"))
        })
}

fn document() -> impl Strategy<Value = String> {
    let store_name =
        prop::sample::select(vec!["shop", "pos", "web", "accounting", "bad name", "é"]);
    (
        table(DATABASE),
        table(DAEMON),
        table(INVENTORY),
        prop::option::weighted(0.95, connection()),
        prop::collection::vec((store_name, connection()), 0..4),
        prop::collection::vec(table(SCHEDULE), 0..3),
    )
        .prop_map(
            |(database, daemon, inventory, accounting, stores, schedules)| {
                let mut doc = format!(
                    "[database]\n{database}\n[daemon]\n{daemon}\n[inventory]\n{inventory}\n"
                );
                if let Some(a) = accounting {
                    doc.push_str(&format!("[accounting]\n{a}\n"));
                }
                let mut seen = std::collections::HashSet::new();
                for (name, body) in stores {
                    // A table defined twice is a TOML error every time; once is more useful.
                    if seen.insert(name) {
                        doc.push_str(&format!("[stores.{}]\n{body}\n", toml_string(name)));
                    }
                }
                for s in schedules {
                    doc.push_str(&format!("[[schedules]]\n{s}\n"));
                }
                doc
            },
        )
}

// ---------------------------------------------------------------------------------------
// Environment overrides

fn env_overrides() -> impl Strategy<Value = HashMap<String, String>> {
    let name = prop_oneof![
        4 => prop::sample::select(vec![
            "INVSYNC__DATABASE__URL", "INVSYNC__DATABASE__MAX_CONNECTIONS",
            "INVSYNC__DAEMON__LISTEN", "INVSYNC__DAEMON__POLL", "INVSYNC__INVENTORY__MASTER",
            "INVSYNC__INVENTORY__IN_ORDERS", "INVSYNC__ACCOUNTING__KIND",
            "INVSYNC__ACCOUNTING__PATH", "INVSYNC__ACCOUNTING__CLIENT_SECRET",
            "INVSYNC__STORES__SHOP__KIND", "INVSYNC__STORES__SHOP__PATH",
            "INVSYNC__STORES__SHOP__SHARE", "INVSYNC__STORES__SHOP__ACCESS_TOKEN",
            "INVSYNC__STORES__NEW__KIND", "INVSYNC__SCHEDULES", "INVSYNC__SCHEDULES__0__EVERY",
            "INVSYNC__", "INVSYNC____", "INVSYNC__DATABASE__", "INVSYNC__DATABASE____URL",
            "INVSYNC__STORES", "INVSYNC__STORES__", "INVSYNC__X", "invsync__database__url",
            "INVSYNC_DATABASE_URL",
        ])
        .prop_map(str::to_owned),
        1 => "INVSYNC__[A-Z_]{0,24}",
    ];
    let value = prop_oneof![
        4 => interesting_string(),
        1 => Just(SENTINEL.to_owned()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => Just("true".to_owned()),
    ];
    prop::collection::vec((name, value), 0..4).prop_map(|kv| {
        kv.into_iter()
            // A sentinel may only go where a secret goes.
            .filter(|(k, v)| {
                v != SENTINEL
                    || k.ends_with("CLIENT_SECRET")
                    || k.ends_with("ACCESS_TOKEN")
                    || k.ends_with("DATABASE__URL")
            })
            .collect()
    })
}

/// A config that loads, to mutate by overrides.
const VALID: &str = r#"
[accounting]
kind = "file"
path = "accounting.csv"

[stores.shop]
kind = "file"
path = "shop.csv"

[[schedules]]
store = "shop"
every = "15m"
update = "store"
fields = ["price", "quantity"]
"#;

// ---------------------------------------------------------------------------------------
// Raw text

fn tomlish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("\n"),
        Just("["),
        Just("]"),
        Just("[["),
        Just("]]"),
        Just("="),
        Just("\""),
        Just("'"),
        Just("\"\"\""),
        Just("{"),
        Just("}"),
        Just(","),
        Just("."),
        Just("#"),
        Just(" "),
        Just("\\"),
        Just("\\u"),
        Just("accounting"),
        Just("stores"),
        Just("shop"),
        Just("kind"),
        Just("file"),
        Just("path"),
        Just("schedules"),
        Just("every"),
        Just("database"),
        Just("url"),
        Just("1"),
        Just("-"),
        Just("1979-05-27"),
        Just("T07:32:00Z"),
        Just("inf"),
        Just("é"),
        Just("\u{feff}"),
        Just("\r"),
    ];
    prop_oneof![
        3 => prop::collection::vec(token, 0..60).prop_map(|t| t.concat().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => (Just(VALID.as_bytes().to_vec()), any::<prop::sample::Index>(), any::<u8>())
            .prop_map(|(mut v, at, b)| {
                let i = at.index(v.len());
                v[i] = b;
                v
            }),
    ]
}

proptest! {
    #![proptest_config(fuzz_config(200))]

    #[test]
    fn arbitrary_text_never_panics(text in tomlish()) {
        check(&text, HashMap::new())?;
    }

    #[test]
    fn documents_of_known_keys_never_panic_nor_show_secrets(doc in document()) {
        check(doc.as_bytes(), HashMap::new())?;
    }

    #[test]
    fn overrides_never_panic_nor_show_secrets(env in env_overrides(), doc in prop_oneof![
        3 => Just(VALID.to_owned()),
        1 => document(),
    ]) {
        check(doc.as_bytes(), env)?;
    }
}

/// The generated documents reach past the TOML parser into validation, and some load.
#[test]
fn documents_reach_validation() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut parsed, mut loaded) = (0, 0);
    for _ in 0..300 {
        let doc = document().new_tree(&mut runner).expect("tree").current();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("invsync.toml");
        std::fs::write(&path, &doc).expect("write");
        std::fs::write(dir.path().join("secret"), SENTINEL).expect("secret");
        let env = HashMap::from([("SECRET_VAR".to_owned(), SENTINEL.to_owned())]);
        let options = LoadOptions {
            env: Some(env),
            now: None,
        };
        match load_with(&path, &options) {
            Ok(_) => loaded += 1,
            Err(e) if !e.to_string().contains("not valid TOML") => parsed += 1,
            Err(_) => {}
        }
    }
    assert!(parsed > 150, "only {parsed} of 300 documents got past TOML");
    let _ = loaded;
}
