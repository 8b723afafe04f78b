//! What the engine's test binaries share: files in a test's own directory, the config they
//! make (read without the process environment), its migrated run-history database, and a
//! sync request. Each binary uses its own part of it.
#![allow(dead_code)]

use invsync_config::{Config, LoadOptions};
use invsync_core::{FieldSet, Selection, Side, Trigger};
use invsync_engine::SyncRequest;
use invsync_store::{Db, PoolOptions};
use secrecy::ExposeSecret as _;
use std::path::Path;

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

/// `dir/invsync.toml`, loaded and validated with no environment variables.
pub fn load_config(dir: &Path) -> Config {
    invsync_config::load_with(
        &dir.join("invsync.toml"),
        &LoadOptions {
            env: Some(Default::default()),
            now: None,
        },
    )
    .expect("valid config")
}

/// The config's run-history database, migrated.
pub async fn open_db(config: &Config, options: &PoolOptions) -> Db {
    let db = Db::connect(config.database.url.expose_secret(), options)
        .await
        .expect("db");
    db.migrate().await.expect("migrate");
    db
}

/// A manual run updating `store` (all products, no dry run).
pub fn request(store: &str, fields: FieldSet) -> SyncRequest {
    SyncRequest {
        store: store.into(),
        update: Side::Store,
        fields,
        selection: Selection::All,
        dry_run: false,
        trigger: Trigger::Manual,
        schedule: None,
        scheduled_for: None,
    }
}
