//! One module per command, and what they share: loading the config and opening the
//! database.

pub mod auth;
pub mod config_check;
pub mod daemon;
pub mod map;
pub mod migrate;
pub mod runs;
pub mod status;
pub mod sync;
pub mod web_connector;

use crate::CliError;
use anyhow::anyhow;
use invsync_config::Config;
use invsync_store::{Db, PoolOptions};
use secrecy::ExposeSecret;
use std::path::Path;
use std::sync::Arc;

/// Loads and validates the config; every problem is reported (exit 2).
pub fn load_config(given: Option<&Path>) -> Result<Arc<Config>, CliError> {
    let path = invsync_config::resolve_path(given);
    invsync_config::load(&path)
        .map(Arc::new)
        .map_err(CliError::config)
}

/// Connects to the run-history database.
pub async fn connect_db(config: &Config) -> Result<Db, CliError> {
    let options = PoolOptions {
        max_connections: config.database.max_connections,
        connect_timeout: config.database.connect_timeout,
    };
    Db::connect(config.database.url.expose_secret(), &options)
        .await
        .map_err(CliError::database)
}

/// Connects to the run-history database and applies pending migrations.
pub async fn open_db(config: &Config) -> Result<Db, CliError> {
    let db = connect_db(config).await?;
    db.migrate().await.map_err(CliError::database)?;
    Ok(db)
}

/// A `--store` that the config does not have is a usage error.
pub fn check_store(config: &Config, store: &str) -> Result<(), CliError> {
    if config.stores.contains_key(store) {
        return Ok(());
    }
    let known: Vec<&str> = config.stores.keys().map(String::as_str).collect();
    Err(CliError::usage(anyhow!(
        "`{store}` is not a configured store (configured: {}) in {}",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        },
        config.source.display()
    )))
}
