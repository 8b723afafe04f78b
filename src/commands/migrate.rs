//! `invsync migrate`.

use crate::CmdResult;
use crate::cli::Format;
use crate::output;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>, format: Format) -> CmdResult {
    let config = super::load_config(config)?;
    let opened = super::open_db(&config).await?;
    let (db, applied) = (opened.db, opened.migrations_applied);
    let (backend, url) = (db.backend().as_str(), db.redacted_url());
    let done = json!({ "applied": applied, "backend": backend, "database": url });
    output::done(format, &done, || {
        format!("{applied} migration(s) applied; the {backend} database at {url} is up to date")
    })?;
    Ok(ExitCode::SUCCESS)
}
