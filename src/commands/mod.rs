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

/// The run-history database, open and migrated.
pub struct OpenDb {
    pub db: Db,
    /// How many migrations opening it applied (0 when it was up to date).
    pub migrations_applied: usize,
}

/// Opens the run-history database the one way every command does: connect within
/// `database.connect_timeout`, then apply pending migrations (every command needs the
/// tables; `invsync migrate` reports how many it applied).
pub async fn open_db(config: &Config) -> Result<OpenDb, CliError> {
    let options = PoolOptions {
        max_connections: config.database.max_connections,
        connect_timeout: config.database.connect_timeout,
    };
    let db = Db::connect(config.database.url.expose_secret(), &options)
        .await
        .map_err(CliError::database)?;
    let migrations_applied = db.pending_migrations().await.map_err(CliError::database)?;
    db.migrate().await.map_err(CliError::database)?;
    Ok(OpenDb {
        db,
        migrations_applied,
    })
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
