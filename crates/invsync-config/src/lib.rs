//! invsync configuration (product.md, "Configuration contract").
//!
//! [`load`] reads the TOML file through the `config` crate, applies `INVSYNC__SECTION__KEY`
//! environment overrides last, rejects unknown keys, resolves secrets and relative paths,
//! and validates the rules that can be checked before anything runs. It returns every
//! problem at once; each names the file and the key.

mod cadence;
mod changes;
mod error;
pub mod input_file;
mod integer;
mod kinds;
mod listen;
mod model;
mod raw;
mod secret;
mod web_connector;

pub use cadence::{MAX_INTERVAL, MIN_INTERVAL, parse_every};
pub use error::{ConfigError, ConfigErrors};
pub use kinds::quickbooks_desktop::{
    DEFAULT_MAX_AGE as QBD_DEFAULT_MAX_AGE, DEFAULT_MAX_RETURNED as QBD_DEFAULT_MAX_RETURNED,
    DEFAULT_ORDER_REF_NUMBER as QBD_DEFAULT_ORDER_REF_NUMBER,
};
pub use kinds::quickbooks_online::{
    DEFAULT_ORDER_DOC_NUMBER as QBO_DEFAULT_ORDER_DOC_NUMBER,
    PRODUCTION_BASE_URL as QBO_PRODUCTION_BASE_URL, SANDBOX_BASE_URL as QBO_SANDBOX_BASE_URL,
    TOKEN_URL as QBO_TOKEN_URL,
};
pub use kinds::quickbooks_pos::DEFAULT_ADJUSTMENT_REASON as QBPOS_DEFAULT_ADJUSTMENT_REASON;
pub use kinds::{
    DEFAULT_SHOPIFY_API_VERSION, DEFAULT_SHOPIFY_BULK_ABOVE, DEFAULT_SHOPIFY_BULK_WRITE_ABOVE,
    DEFAULT_SHOPIFY_FULL_READ_EVERY,
};
pub use listen::{TlsFile, TlsFileError, TlsMaterial, is_loopback};
pub use model::*;
pub use secret::SecretSource;
pub use web_connector::{
    DEFAULT_APP_NAME, DEFAULT_PUBLIC_URL, DEFAULT_SESSION_TIMEOUT, DEFAULT_WEB_CONNECTOR_LISTEN,
    QbType, WebConnectorConfig, app_url_problem,
};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use invsync_core::{Field, FieldSet, InOrdersMode, QuantityRules, SalePolicy, Side};
use raw::{RawConfig, RawKind, RawSchedule};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The prefix of environment overrides: `INVSYNC__DATABASE__URL` sets `database.url`.
pub const ENV_PREFIX: &str = "INVSYNC";
/// The separator between prefix, sections and keys in override variable names.
pub const ENV_SEPARATOR: &str = "__";
/// The config file used when none is given: `$INVSYNC_CONFIG`, else `./invsync.toml`.
pub const DEFAULT_CONFIG_FILE: &str = "invsync.toml";
/// `[database] url` when none is given (relative to the config file's folder).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://var/invsync.db";
/// The most `[database] max_connections` may be (Postgres allows 100 by default).
pub const MAX_DATABASE_CONNECTIONS: u32 = 1_000;
/// `[daemon] listen` when none is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9187";
/// `[daemon] max_connections` when none is given.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 256;
/// The most `[daemon] max_connections` may be (the open-file limit lowers it further).
pub const MAX_HTTP_CONNECTIONS: u32 = 65_536;
/// `[daemon] header_timeout` when none is given.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `[daemon] idle_timeout` when none is given.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `[daemon] poll` when none is given.
pub const DEFAULT_POLL: Duration = Duration::from_secs(15);
/// `[inventory] order_watch` when none is given: a sale reaches the other stores within
/// about a minute, for one order read per store and minute on a quiet store (ADR 0100).
pub const DEFAULT_ORDER_WATCH: Duration = Duration::from_secs(60);
/// The shortest `[inventory] order_watch`.
pub const MIN_ORDER_WATCH: Duration = Duration::from_secs(30);
/// `[daemon] shutdown_grace` when none is given.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Knobs for [`load_with`]; the defaults read the real process environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Use these variables instead of the process environment (for overrides and for
    /// `{ env = … }` secrets). Tests use it; the binary leaves it `None`.
    pub env: Option<HashMap<String, String>>,
    /// "Now", for validating cron expressions over the coming year.
    pub now: Option<DateTime<Utc>>,
}

impl LoadOptions {
    fn var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(env) => env.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

/// Loads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &LoadOptions::default())
}

/// [`load`] with explicit options.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Config, ConfigErrors> {
    let source = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let whole_file = |message: String| ConfigError {
        file: source.clone(),
        key: None,
        env: None,
        message,
    };
    match std::fs::metadata(&source) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(whole_file("is not a file".into()).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(whole_file(
                "config file not found (give one with --config FILE or $INVSYNC_CONFIG)".into(),
            )
            .into());
        }
        Err(e) => return Err(whole_file(format!("cannot read the config file: {e}")).into()),
    }

    let mut env_source = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR);
    if let Some(env) = &options.env {
        env_source = env_source.source(Some(env.clone().into_iter().collect()));
    }
    let merged = config::Config::builder()
        .add_source(config::File::from(source.as_path()).format(config::FileFormat::Toml))
        // Environment last: an override always wins over the file.
        .add_source(env_source)
        .build()
        .map_err(|e| whole_file(describe_config_error(&e)))?;

    let mut v = Validator {
        file: source.clone(),
        options,
        errors: Vec::new(),
        fingerprint: changes::Fingerprint::default(),
    };
    // What each key holds, to tell later what a reload changed (`Config::changed_keys`).
    if let Ok(tree) = merged.clone().try_deserialize::<config::Value>() {
        v.fingerprint = changes::Fingerprint::of_tree(&tree);
    }
    let raw: RawConfig = match v.deserialize("", merged) {
        Some(raw) => raw,
        None => return Err(ConfigErrors(v.errors)),
    };
    let config = v.build(raw);
    match config {
        Some(config) if v.errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors(v.errors)),
    }
}

/// The config file to use: the one given, else `$INVSYNC_CONFIG`, else `./invsync.toml`.
pub fn resolve_path(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    match std::env::var_os("INVSYNC_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_CONFIG_FILE),
    }
}

/// Turns the `config` crate's errors into a sentence (TOML syntax errors carry their
/// line and column).
fn describe_config_error(e: &config::ConfigError) -> String {
    match e {
        config::ConfigError::FileParse { cause, .. } => {
            format!(
                "not valid TOML: {}",
                without_source_lines(&cause.to_string())
            )
        }
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => {
            format!("expected {expected}, found {unexpected}")
        }
        config::ConfigError::At { error, .. } => describe_config_error(error),
        // Phrased like serde's own message so refine_field_error moves it onto the key.
        config::ConfigError::NotFound(key) => {
            format!("missing field `{}`", key.rsplit('.').next().unwrap_or(key))
        }
        other => other.to_string(),
    }
}

/// A TOML syntax error without the quoted source line: that line may hold a secret
/// (`access_token = "…" x`), and errors are printed and logged. What is left says where
/// (line and column) and what is wrong.
fn without_source_lines(message: &str) -> String {
    let is_snippet = |line: &str| {
        let line = line.trim_start();
        let after_number = line.trim_start_matches(|c: char| c.is_ascii_digit());
        after_number.trim_start().starts_with('|')
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_snippet(line))
        .collect::<Vec<_>>()
        .join(": ")
}

pub(crate) struct Validator<'a> {
    file: PathBuf,
    options: &'a LoadOptions,
    errors: Vec<ConfigError>,
    fingerprint: changes::Fingerprint,
}

impl Validator<'_> {
    fn base_dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// The override variable that would set `key`, if it is set.
    fn env_for(&self, key: &str) -> Option<String> {
        if key.is_empty() || key.contains('[') {
            return None;
        }
        let name = format!(
            "{ENV_PREFIX}{ENV_SEPARATOR}{}",
            key.split('.')
                .map(str::to_uppercase)
                .collect::<Vec<_>>()
                .join(ENV_SEPARATOR)
        );
        self.options.var(&name).map(|_| name)
    }

    pub(crate) fn error(&mut self, key: &str, message: impl Into<String>) {
        let env = self.env_for(key);
        self.errors.push(ConfigError {
            file: self.file.clone(),
            key: (!key.is_empty()).then(|| key.to_owned()),
            env,
            message: message.into(),
        });
    }

    /// Deserializes `value` into `T`, reporting errors at `prefix` + the failing path.
    pub(crate) fn deserialize<T, D>(&mut self, prefix: &str, value: D) -> Option<T>
    where
        T: DeserializeOwned,
        D: for<'de> serde::Deserializer<'de, Error = config::ConfigError>,
    {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let path = e.path().to_string();
                let key = match (prefix, path.as_str()) {
                    (p, ".") => p.to_owned(),
                    ("", path) => path.to_owned(),
                    (p, path) => format!("{p}.{path}"),
                };
                let message = describe_config_error(e.inner());
                // serde reports a missing or unknown field at its parent: name the field.
                let (key, message) = refine_field_error(key, message);
                self.error(&key, message);
                None
            }
        }
    }

    fn build(&mut self, raw: RawConfig) -> Option<Config> {
        let base = self.base_dir();
        let database = self.database(&raw, &base);
        let daemon = self.daemon(&raw, &base);
        let web_connector = raw
            .web_connector
            .as_ref()
            .map(|table| self.web_connector(table, &base));
        let mut accounting = match raw.accounting {
            Some(value) => self.accounting(value, &base),
            None => {
                self.error(
                    "accounting",
                    "missing: every config needs an [accounting] section",
                );
                None
            }
        };
        match &mut accounting {
            Some(ConnectionConfig::QuickBooksDesktop(q)) => {
                kinds::quickbooks_desktop::check_with_web_connector(
                    self,
                    q,
                    web_connector.as_ref().and_then(|t| t.as_ref()),
                    web_connector.is_some(),
                );
            }
            Some(ConnectionConfig::QuickBooksPos(q)) => {
                kinds::quickbooks_pos::check_with_web_connector(
                    self,
                    q,
                    web_connector.as_ref().and_then(|t| t.as_ref()),
                    web_connector.is_some(),
                );
            }
            _ => {}
        }
        let mut stores = BTreeMap::new();
        // Stores that are declared but invalid are reported once, at their own keys, not
        // again by every schedule that names them.
        let declared: HashSet<String> = raw.stores.keys().cloned().collect();
        for (name, value) in raw.stores {
            let key = format!("stores.{name}");
            if !valid_name(&name) {
                self.error(
                    &key,
                    "a store name may only use letters, digits, `-`, `_` and `.`",
                );
                continue;
            }
            if name == "accounting" {
                self.error(
                    &key,
                    "`accounting` is reserved for the accounting side; pick another store name",
                );
                continue;
            }
            if let Some(store) = self.store(&key, value, &base) {
                stores.insert(name, store);
            }
        }
        let inventory = self.inventory(&raw.inventory, &stores);
        if let (Some(accounting), Some(inventory)) = (&accounting, &inventory) {
            kinds::check_accounting(self, accounting, inventory);
        }
        let mut schedules = Vec::new();
        let mut names = HashSet::new();
        for (i, s) in raw.schedules.iter().enumerate() {
            let key = format!("schedules[{i}]");
            if let Some(store) = &s.store
                && declared.contains(store)
                && !stores.contains_key(store)
            {
                continue;
            }
            if let Some(s) = self.schedule(&key, s, &stores, inventory.as_ref()) {
                if !names.insert(s.name.clone()) {
                    self.error(
                        &format!("{key}.name"),
                        format!("`{}` names two schedules; give each a unique name", s.name),
                    );
                }
                schedules.push(s);
            }
        }
        Some(Config {
            fingerprint: std::mem::take(&mut self.fingerprint),
            source: self.file.clone(),
            database: database?,
            daemon: daemon?,
            web_connector: match web_connector {
                None => None,
                Some(table) => Some(table?),
            },
            inventory: inventory?,
            accounting: accounting?,
            stores,
            schedules,
        })
    }

    fn database(&mut self, raw: &RawConfig, base: &Path) -> Option<DatabaseConfig> {
        let normalise = |url: &str| normalise_database_url(url, base).map(SecretString::from);
        let url = match &raw.database.url {
            None => normalise(DEFAULT_DATABASE_URL).ok()?,
            Some(source) => self.parsed_secret("database.url", source, base, normalise)?,
        };
        let max_connections = match raw.database.max_connections {
            None => 8,
            Some(n) => match u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_DATABASE_CONNECTIONS).contains(n))
            {
                Some(n) => n,
                None => {
                    self.error(
                        "database.max_connections",
                        format!("{n} is out of range 1..={MAX_DATABASE_CONNECTIONS}"),
                    );
                    1
                }
            },
        };
        let connect_timeout = match &raw.database.connect_timeout {
            None => Duration::from_secs(10),
            Some(t) => self.duration("database.connect_timeout", t)?,
        };
        Some(DatabaseConfig {
            url,
            max_connections,
            connect_timeout,
        })
    }

    fn duration(&mut self, key: &str, text: &str) -> Option<Duration> {
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.is_zero() => {
                self.error(key, "must be longer than 0s");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    key,
                    format!("`{text}` is not a duration ({e}); write it like \"30s\""),
                );
                None
            }
        }
    }

    fn daemon(&mut self, raw: &RawConfig, base: &Path) -> Option<DaemonConfig> {
        let listen = match raw.daemon.listen.as_deref().map(str::trim) {
            Some("off") => None,
            other => {
                let text = other.unwrap_or(DEFAULT_LISTEN);
                match text.parse::<SocketAddr>() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        self.error(
                            "daemon.listen",
                            format!(
                                "`{text}` is not an address like \"127.0.0.1:9187\" (or \"off\")"
                            ),
                        );
                        return None;
                    }
                }
            }
        };
        let shutdown_grace = match &raw.daemon.shutdown_grace {
            None => DEFAULT_SHUTDOWN_GRACE,
            Some(t) => self.duration("daemon.shutdown_grace", t)?,
        };
        let poll = match &raw.daemon.poll {
            None => DEFAULT_POLL,
            Some(t) => self.duration("daemon.poll", t)?,
        };
        if poll > Duration::from_secs(60) {
            self.error(
                "daemon.poll",
                "must be at most 60s (the watchdog needs the loop to wake up)",
            );
            return None;
        }
        let max_connections = match raw.daemon.max_connections {
            None => DEFAULT_MAX_CONNECTIONS,
            Some(n) => match u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_HTTP_CONNECTIONS).contains(n))
            {
                Some(n) => n,
                None => {
                    self.error(
                        "daemon.max_connections",
                        format!("{n} is out of range 1..={MAX_HTTP_CONNECTIONS}"),
                    );
                    1
                }
            },
        };
        let header_timeout = match &raw.daemon.header_timeout {
            None => Some(DEFAULT_HEADER_TIMEOUT),
            Some(t) => self.duration("daemon.header_timeout", t),
        };
        let idle_timeout = match &raw.daemon.idle_timeout {
            None => Some(DEFAULT_IDLE_TIMEOUT),
            Some(t) => self.duration("daemon.idle_timeout", t),
        };
        let (password, password_key) = match (&raw.daemon.password, &raw.web.password) {
            (Some(_), Some(_)) => {
                self.error(
                    "web.password",
                    "daemon.password is set too: the web page and /metrics share the listener's one password; keep one of the two keys",
                );
                return None;
            }
            (None, Some(web)) => (Some(web), "web.password"),
            (daemon, None) => (daemon.as_ref(), "daemon.password"),
        };
        let listener = self.listener(
            listen::RawListener {
                section: "daemon",
                listen,
                tls_cert: raw.daemon.tls_cert.as_deref(),
                tls_key: raw.daemon.tls_key.as_deref(),
                password,
                password_key,
                password_required: true,
            },
            base,
        )?;
        Some(DaemonConfig {
            listen,
            tls: listener.tls,
            password: listener.password,
            max_connections: max_connections.max(1),
            header_timeout: header_timeout?,
            idle_timeout: idle_timeout?,
            shutdown_grace,
            poll,
        })
    }

    fn kind(&mut self, key: &str, value: &config::Value, supported: &[&str]) -> Option<String> {
        let kind: RawKind = self.deserialize(key, value.clone())?;
        match kind.kind {
            None => {
                self.error(
                    &format!("{key}.kind"),
                    format!("missing; one of: {}", supported.join(", ")),
                );
                None
            }
            Some(k) if supported.contains(&k.as_str()) => Some(k),
            Some(k) => {
                let later = kinds::PLANNED_KINDS;
                let why = if later.contains(&k.as_str()) {
                    format!("`{k}` is not available in this version of invsync")
                } else if kinds::ACCOUNTING_KINDS.contains(&k.as_str()) {
                    format!("`{k}` connects an accounting system, not a store")
                } else {
                    format!("`{k}` is not a kind of connection")
                };
                self.error(
                    &format!("{key}.kind"),
                    format!("{why}; supported: {}", supported.join(", ")),
                );
                None
            }
        }
    }

    fn accounting(&mut self, value: config::Value, base: &Path) -> Option<ConnectionConfig> {
        let kind = self.kind("accounting", &value, kinds::ACCOUNTING_KINDS)?;
        kinds::accounting(self, &kind, value, base)
    }

    fn store(&mut self, key: &str, value: config::Value, base: &Path) -> Option<StoreConfig> {
        let kind = self.kind(key, &value, kinds::STORE_KINDS)?;
        kinds::store(self, key, &kind, value, base)
    }

    /// Resolves a secret at `key`; the error says where it should have come from.
    pub(crate) fn secret(
        &mut self,
        key: &str,
        source: &SecretSource,
        base: &Path,
    ) -> Option<SecretString> {
        match source.resolve_with(base, self.options) {
            Ok(secret) => {
                self.fingerprint.add_secret(key, &secret);
                Some(secret)
            }
            Err(e) => {
                self.error(key, e);
                None
            }
        }
    }

    /// Resolves the secret at `key` and parses it. A value that does not parse is reported
    /// with where it came from (`the value of environment variable DB_URL is not …`) and
    /// never shown, whole or in part: `parse` says what is wrong in general terms only.
    pub(crate) fn parsed_secret<T>(
        &mut self,
        key: &str,
        source: &SecretSource,
        base: &Path,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let secret = self.secret(key, source, base)?;
        match parse(secret.expose_secret()) {
            Ok(value) => Some(value),
            Err(why) => {
                self.error(key, format!("{} {why}", source.origin(base)));
                None
            }
        }
    }

    /// Checks an endpoint override at `key` (see [`validate_base_url`]).
    pub(crate) fn base_url(&mut self, key: &str, text: &str) -> Option<url::Url> {
        match validate_base_url(text) {
            Ok(url) => Some(url),
            Err(e) => {
                self.error(key, e);
                None
            }
        }
    }

    /// `timeout`, `retries` and `retry_backoff` of an HTTP connection at `key`.
    pub(crate) fn http(
        &mut self,
        key: &str,
        timeout: Option<&str>,
        retries: Option<i64>,
        retry_backoff: Option<&str>,
    ) -> Option<HttpPolicy> {
        let defaults = HttpPolicy::default();
        let timeout = match timeout {
            None => Some(defaults.timeout),
            Some(t) => self.duration(&format!("{key}.timeout"), t),
        };
        let retry_backoff = match retry_backoff {
            None => Some(defaults.retry_backoff),
            Some(t) => self.duration(&format!("{key}.retry_backoff"), t),
        };
        let retries = match retries {
            None => Some(defaults.retries),
            Some(n) => match u32::try_from(n).ok().filter(|n| *n <= MAX_HTTP_RETRIES) {
                Some(n) => Some(n),
                None => {
                    self.error(
                        &format!("{key}.retries"),
                        format!("{n} is out of range: 0 to {MAX_HTTP_RETRIES} retries"),
                    );
                    None
                }
            },
        };
        Some(HttpPolicy {
            timeout: timeout?,
            retries: retries?,
            retry_backoff: retry_backoff?,
        })
    }

    pub(crate) fn rules(
        &mut self,
        key: &str,
        buffer: Option<i64>,
        max: Option<i64>,
        share: Option<i64>,
    ) -> Option<QuantityRules> {
        let mut ok = true;
        let mut int = |v: &mut Self, field: &str, value: i64, max: i64| -> u32 {
            if !(0..=max).contains(&value) {
                v.error(
                    &format!("{key}.{field}"),
                    format!("{value} is out of range 0..={max}"),
                );
                ok = false;
                return 0;
            }
            u32::try_from(value).unwrap_or(0)
        };
        let rules = QuantityRules {
            buffer: buffer.map_or(0, |b| int(self, "buffer", b, i64::from(u32::MAX))),
            max_quantity: max.map(|m| int(self, "max_quantity", m, i64::from(u32::MAX))),
            share: share.map_or(100, |s| {
                u8::try_from(int(self, "share", s, 100)).unwrap_or(100)
            }),
        };
        ok.then_some(rules)
    }

    /// `sale_price`: "hold" (default), "clear" or "write".
    pub(crate) fn sale_price(&mut self, key: &str, text: Option<&str>) -> Option<SalePolicy> {
        match text.map(str::parse::<SalePolicy>) {
            None => Some(SalePolicy::default()),
            Some(Ok(policy)) => Some(policy),
            Some(Err(e)) => {
                self.error(&format!("{key}.sale_price"), e);
                None
            }
        }
    }

    /// `max_file_size` at `key`: a size like "1GiB"; [`input_file::DEFAULT_MAX_FILE_SIZE`]
    /// when not set.
    pub(crate) fn max_file_size(&mut self, key: &str, text: Option<&str>) -> Option<u64> {
        let Some(text) = text else {
            return Some(input_file::DEFAULT_MAX_FILE_SIZE);
        };
        match input_file::parse_size(text) {
            Ok(0) => {
                self.error(key, "must be more than 0");
                None
            }
            Ok(size) => Some(size),
            Err(e) => {
                self.error(key, e);
                None
            }
        }
    }

    pub(crate) fn data_path(&mut self, key: &str, text: &str, base: &Path) -> Option<PathBuf> {
        if text.trim().is_empty() {
            self.error(key, "must not be empty");
            return None;
        }
        Some(base.join(text))
    }

    fn inventory(
        &mut self,
        raw: &raw::RawInventory,
        stores: &BTreeMap<String, StoreConfig>,
    ) -> Option<InventoryConfig> {
        let master = match raw.master.as_deref().map(str::trim) {
            None | Some("accounting") => Master::Accounting,
            Some(name) if stores.contains_key(name) => Master::Store(name.to_owned()),
            Some(name) => {
                self.error(
                    "inventory.master",
                    format!(
                        "`{name}` is neither \"accounting\" nor a store ({})",
                        list(stores.keys())
                    ),
                );
                return None;
            }
        };
        let in_orders = match raw.in_orders.as_deref().map(str::trim) {
            None | Some("skip") => InOrdersMode::Skip,
            Some("reserve") => InOrdersMode::Reserve,
            Some(other) => {
                self.error(
                    "inventory.in_orders",
                    format!("`{other}` is not a mode: use \"skip\" or \"reserve\""),
                );
                return None;
            }
        };
        let order_watch = match raw.order_watch.as_deref().map(str::trim) {
            None => Some(DEFAULT_ORDER_WATCH),
            Some("off") => None,
            Some(text) => {
                let every = self.duration("inventory.order_watch", text)?;
                if every < MIN_ORDER_WATCH {
                    self.error(
                        "inventory.order_watch",
                        format!(
                            "`{text}` is shorter than {}s, the shortest order watch (every store's orders are read once per pass); use a longer one or \"off\"",
                            MIN_ORDER_WATCH.as_secs()
                        ),
                    );
                    return None;
                }
                Some(every)
            }
        };
        Some(InventoryConfig {
            master,
            in_orders,
            order_watch,
        })
    }

    fn schedule(
        &mut self,
        key: &str,
        raw: &RawSchedule,
        stores: &BTreeMap<String, StoreConfig>,
        inventory: Option<&InventoryConfig>,
    ) -> Option<ScheduleConfig> {
        let errors_before = self.errors.len();
        let store = match raw.store.as_deref() {
            None => {
                self.error(
                    &format!("{key}.store"),
                    "missing: which store does this schedule sync?",
                );
                None
            }
            Some(s) if stores.contains_key(s) => Some(s.to_owned()),
            Some(s) => {
                self.error(
                    &format!("{key}.store"),
                    format!("`{s}` is not a configured store ({})", list(stores.keys())),
                );
                None
            }
        };
        let cadence = match (&raw.every, &raw.cron) {
            (Some(_), Some(_)) => {
                self.error(
                    &format!("{key}.cron"),
                    "give either `every` or `cron`, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    key,
                    "missing `every` (e.g. \"15m\") or `cron` (e.g. \"0 0 3 * * *\")",
                );
                None
            }
            (Some(every), None) => {
                if raw.timezone.is_some() {
                    self.error(
                        &format!("{key}.timezone"),
                        "only applies to `cron` schedules",
                    );
                }
                match parse_every(every) {
                    Ok(d) => Some(Cadence::Every(d)),
                    Err(e) => {
                        self.error(&format!("{key}.every"), e);
                        None
                    }
                }
            }
            (None, Some(expr)) => {
                let tz = match raw.timezone.as_deref() {
                    None => Some(Tz::UTC),
                    Some(name) => match name.parse::<Tz>() {
                        Ok(tz) => Some(tz),
                        Err(_) => {
                            self.error(
                                &format!("{key}.timezone"),
                                format!("`{name}` is not an IANA time zone like \"Europe/Berlin\""),
                            );
                            None
                        }
                    },
                };
                tz.and_then(|tz| {
                    let now = self.options.now.unwrap_or_else(Utc::now);
                    match cadence::parse_cron(expr, tz, now) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            self.error(&format!("{key}.cron"), e);
                            None
                        }
                    }
                })
            }
        };
        let update = match raw.update.as_deref() {
            None => {
                self.error(
                    &format!("{key}.update"),
                    "missing: \"store\" or \"accounting\" (the side that is updated)",
                );
                None
            }
            Some(u) => match u.parse::<Side>() {
                Ok(side) => Some(side),
                Err(e) => {
                    self.error(&format!("{key}.update"), e);
                    None
                }
            },
        };
        let fields = self.fields(&format!("{key}.fields"), raw.fields.as_deref());
        if let (Some(update), Some(fields)) = (update, fields) {
            let fkey = format!("{key}.fields");
            let one_field_rule = update == Side::Accounting && fields.len() != 1;
            if one_field_rule {
                self.error(&fkey, format!("an accounting-side schedule updates exactly one field (price or quantity), not {}", fields.to_list()));
            }
            if let (Some(store), Some(inventory)) = (&store, inventory)
                && fields.quantity
                && !one_field_rule
            {
                match (update, &inventory.master) {
                    (Side::Store, Master::Store(m)) if m == store => self.error(
                        &fkey,
                        format!("store `{store}` is the master inventory location (inventory.master): its quantity is never updated from the accounting side"),
                    ),
                    (Side::Accounting, Master::Accounting) => self.error(
                        &fkey,
                        "the accounting side is the master inventory location (inventory.master): its quantity is never updated from a store",
                    ),
                    (Side::Accounting, Master::Store(m)) if m != store => self.error(
                        &fkey,
                        format!("the accounting side's quantity may only be updated from the master store `{m}` (inventory.master), not `{store}`"),
                    ),
                    _ => {}
                }
            }
        }
        if self.errors.len() > errors_before {
            return None;
        }
        let (store, cadence, update, fields) = (store?, cadence?, update?, fields?);
        let name = match &raw.name {
            Some(n) if n.trim().is_empty() => {
                self.error(&format!("{key}.name"), "must not be empty");
                return None;
            }
            Some(n) => n.clone(),
            None => format!("{store}-{update}"),
        };
        Some(ScheduleConfig {
            name,
            store,
            cadence,
            update,
            fields,
        })
    }

    fn fields(&mut self, key: &str, raw: Option<&[String]>) -> Option<FieldSet> {
        let Some(raw) = raw else {
            self.error(
                key,
                "missing: [\"price\"], [\"quantity\"] or [\"price\", \"quantity\"]",
            );
            return None;
        };
        if raw.is_empty() {
            self.error(key, "is empty: list \"price\", \"quantity\" or both");
            return None;
        }
        let mut set = FieldSet::default();
        for (i, f) in raw.iter().enumerate() {
            match f.parse::<Field>() {
                Ok(field) if set.contains(field) => {
                    self.error(&format!("{key}[{i}]"), format!("`{field}` is listed twice"));
                    return None;
                }
                Ok(field) => set = set.iter().chain([field]).collect(),
                Err(e) => {
                    self.error(&format!("{key}[{i}]"), e);
                    return None;
                }
            }
        }
        Some(set)
    }
}

impl SecretSource {
    fn resolve_with(&self, base: &Path, options: &LoadOptions) -> Result<SecretString, String> {
        match self {
            SecretSource::Env(var) => match options.var(var) {
                Some(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Some(_) => Err(format!("environment variable {var} is empty")),
                None => Err(format!("environment variable {var} is not set")),
            },
            SecretSource::Credential(name) => match options.var("CREDENTIALS_DIRECTORY") {
                Some(dir) => SecretSource::File(PathBuf::from(dir).join(name)).resolve(base),
                None => Err(format!(
                    "credential `{name}`: $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential={name}:/path, or use {{ file = \"/path\" }})"
                )),
            },
            other => other.resolve(base),
        }
    }
}

/// serde says "missing field `path`" at the parent key; move it onto the field's own key.
fn refine_field_error(key: String, message: String) -> (String, String) {
    let field = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let join = |f: &str| {
        if key.is_empty() || key == f {
            f.to_owned()
        } else if key.ends_with(&format!(".{f}")) {
            key.clone()
        } else {
            format!("{key}.{f}")
        }
    };
    if let Some(f) = field("missing field `") {
        return (join(&f), "missing".to_owned());
    }
    if let Some(f) = field("unknown field `") {
        let expected = message
            .split_once(", expected ")
            .map(|(_, e)| {
                format!(
                    " (expected {})",
                    e.replace("`kind`, ", "").replace(", `kind`", "")
                )
            })
            .unwrap_or_default();
        return (join(&f), format!("unknown key{expected}"));
    }
    (key, message)
}

/// Resolves a relative SQLite path against the config file's folder; checks the scheme.
/// The URL is a secret (it may carry a password, and may be anything a file held): errors
/// complete "the value …" and never quote it, its scheme included.
fn normalise_database_url(url: &str, base: &Path) -> Result<String, String> {
    const USE: &str = "use \"sqlite://PATH\" or \"postgres://USER@HOST/DATABASE\"";
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        if rest.starts_with(":memory:") {
            return Ok(url.to_owned());
        }
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(
                "is a sqlite URL without a file path; write it like \"sqlite://var/invsync.db\""
                    .into(),
            );
        }
        let path = base.join(path);
        let mut out = format!("sqlite://{}", path.display());
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        return Ok(out);
    }
    match url::Url::parse(url) {
        // `postgres:TEXT` parses as a URL without a host, and would be shown whole by
        // messages that mask only a password.
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") && !u.cannot_be_a_base() => {
            Ok(url.to_owned())
        }
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => Err(format!(
            "is not a postgres URL invsync can use (no `//` before the host); {USE}"
        )),
        _ => Err(format!("is not a database URL invsync supports; {USE}")),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "no stores are configured".into()
    } else {
        format!("stores: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests;

/// Checks an endpoint override (`base_url`): `https://` anywhere, `http://` only to a
/// loopback host (tests, local proxies). Plain HTTP elsewhere would send credentials in
/// the clear.
pub fn validate_base_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL ({e})"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(url)
            } else {
                Err(format!(
                    "`{text}` uses http:// to a host that is not loopback; use https:// (http:// is only allowed for 127.0.0.1, ::1 and localhost)"
                ))
            }
        }
        other => Err(format!("`{text}` must be an https:// URL, not {other}://")),
    }
}
