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
    match format {
        Format::Json => output::json(&json!({
            "applied": pending,
            "backend": db.backend().as_str(),
            "database": db.redacted_url(),
        }))?,
        Format::Table => output::line(&format!(
            "{} migration(s) applied; the {} database at {} is up to date",
            pending,
            db.backend().as_str(),
            db.redacted_url()
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}
