//! The configuration as written: serde structs that mirror the TOML, with
//! `deny_unknown_fields` everywhere so that a typo is an error, not a silently ignored key.

use crate::secret::SecretSource;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub inventory: RawInventory,
    #[serde(default)]
    pub web: RawWeb,
    pub web_connector: Option<crate::web_connector::RawWebConnector>,
    /// Checked by kind in a second step, so errors name the kind-specific key.
    pub accounting: Option<config::Value>,
    #[serde(default)]
    pub stores: BTreeMap<String, config::Value>,
    #[serde(default)]
    pub schedules: Vec<RawSchedule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    pub url: Option<SecretSource>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    pub max_connections: Option<i64>,
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub listen: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub password: Option<SecretSource>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    pub max_connections: Option<i64>,
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub shutdown_grace: Option<String>,
    pub poll: Option<String>,
}

/// `[web]`: the "Synchronize Products" page, served on `[daemon] listen`. Its password
/// is the listener's (one password for the page and `/metrics`, ADR 0090): written here
/// or as `[daemon] password`, not both.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    pub password: Option<SecretSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInventory {
    pub master: Option<String>,
    pub in_orders: Option<String>,
    pub order_watch: Option<String>,
}

/// Only the `kind` of a connection table, read first to pick the kind's struct.
#[derive(Debug, Deserialize)]
pub(crate) struct RawKind {
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub name: Option<String>,
    pub store: Option<String>,
    pub every: Option<String>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub update: Option<String>,
    pub fields: Option<Vec<String>>,
}
