//! The validated configuration, as the rest of invsync sees it. Built by
//! [`crate::load`]; every path is absolute and every secret resolved.

use chrono_tz::Tz;
use invsync_core::{FieldSet, InOrdersMode, QuantityRules, Side};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    pub database: DatabaseConfig,
    pub daemon: DaemonConfig,
    pub inventory: InventoryConfig,
    pub accounting: ConnectionConfig,
    /// Stores by name.
    pub stores: BTreeMap<String, StoreConfig>,
    pub schedules: Vec<ScheduleConfig>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; may carry a password, hence secret. Relative SQLite
    /// paths are already resolved against the config file's folder.
    pub url: SecretString,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection before failing.
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// `/healthz` and `/metrics`; `None` when `listen = "off"`.
    pub listen: Option<SocketAddr>,
    /// How long in-flight runs may finish after SIGTERM.
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Master {
    Accounting,
    Store(String),
}

#[derive(Debug, Clone)]
pub struct InventoryConfig {
    pub master: Master,
    pub in_orders: InOrdersMode,
}

/// How to reach one connection (the accounting system or a store).
#[derive(Debug, Clone)]
pub enum ConnectionConfig {
    File(FileConnectionConfig),
    Shopify(ShopifyConnectionConfig),
}

impl ConnectionConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionConfig::File(_) => "file",
            ConnectionConfig::Shopify(_) => "shopify",
        }
    }
}

/// `kind = "file"`: a CSV or JSON export (product.md, "File connections").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConnectionConfig {
    /// The catalog file, `.csv` or `.json`; absolute.
    pub path: PathBuf,
    /// Stores only: the open, unposted orders (`order,sku,quantity`); absolute.
    pub orders: Option<PathBuf>,
}

/// `kind = "shopify"`: a store through the Shopify Admin GraphQL API.
#[derive(Debug, Clone)]
pub struct ShopifyConnectionConfig {
    /// The permanent domain, `example.myshopify.com`, lower case.
    pub shop: String,
    /// The Admin API access token (`X-Shopify-Access-Token`).
    pub access_token: SecretString,
    /// `https://{shop}` unless overridden (proxies, tests); https, or http to loopback.
    pub base_url: url::Url,
    /// The Admin API version in the endpoint path, e.g. `2026-10` (2025-01 or newer).
    pub api_version: String,
    /// The location whose `available` quantity is synced, as a GID; `None`: the shop's
    /// primary location.
    pub location: Option<String>,
    /// Read the catalog with a bulk operation when the shop has more variants than this.
    pub bulk_above: u64,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub connection: ConnectionConfig,
    pub rules: QuantityRules,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// A fixed interval, 15 minutes to 24 hours.
    Every(Duration),
    /// A cron expression (seconds first: `sec min hour dom month dow`) in a time zone.
    Cron { expr: String, timezone: Tz },
}

#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Unique; default `<store>-<update>`.
    pub name: String,
    pub store: String,
    pub cadence: Cadence,
    pub update: Side,
    pub fields: FieldSet,
}
