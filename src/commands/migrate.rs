//! `invsync migrate`.

use crate::cli::Format;
use crate::output;
use crate::{CliError, CmdResult};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>, format: Format) -> CmdResult {
    let config = super::load_config(config)?;
    let db = super::connect_db(&config).await?;
    let pending = db.pending_migrations().await.map_err(CliError::database)?;
    db.migrate().await.map_err(CliError::database)?;
    let (backend, url) = (db.backend().as_str(), db.redacted_url());
    let done = json!({ "applied": pending, "backend": backend, "database": url });
    output::done(format, &done, || {
        format!("{pending} migration(s) applied; the {backend} database at {url} is up to date")
    })?;
    Ok(ExitCode::SUCCESS)
}
