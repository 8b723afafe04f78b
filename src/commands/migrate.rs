//! `invsync migrate`.

use crate::{CliError, CmdResult};
use invsync_store::{Db, PoolOptions};
use secrecy::ExposeSecret;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>) -> CmdResult {
    let config = super::load_config(config)?;
    let options = PoolOptions {
        max_connections: config.database.max_connections,
        connect_timeout: config.database.connect_timeout,
    };
    let db = Db::connect(config.database.url.expose_secret(), &options)
        .await
        .map_err(CliError::failed)?;
    let pending = db.pending_migrations().await.map_err(CliError::failed)?;
    db.migrate().await.map_err(CliError::failed)?;
    println!(
        "{} migration(s) applied; the {} database at {} is up to date",
        pending,
        db.backend().as_str(),
        db.redacted_url()
    );
    Ok(ExitCode::SUCCESS)
}
