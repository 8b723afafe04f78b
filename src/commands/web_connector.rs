//! `invsync web-connector qwc --out FILE`: the `.qwc` file to load into the QuickBooks Web
//! Connector (ADR 0080). Its OwnerID and FileID are made once and kept in the database
//! (`web_connector_files`), so writing the file again gives the same application.

use crate::cli::{Format, WebConnectorCommand};
use crate::output;
use crate::{CliError, CmdResult};
use anyhow::{Context, anyhow};
use invsync_config::{Cadence, Config, MIN_INTERVAL};
use invsync_webconnector::Qwc;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>, format: Format, cmd: WebConnectorCommand) -> CmdResult {
    let WebConnectorCommand::Qwc { out } = cmd;
    let config = super::load_config(config)?;
    let Some(wc) = &config.web_connector else {
        return Err(CliError::config(anyhow!(
            "{} has no [web_connector] table: add one with username and password (README, \"QuickBooks Desktop and POS\")",
            config.source.display()
        )));
    };
    let db = super::open_db(&config).await?.db;
    let row = db
        .web_connector_file(&wc.username)
        .await
        .map_err(CliError::database)?;
    let qwc = Qwc {
        app_name: wc.app_name.clone(),
        app_url: wc.public_url.to_string(),
        app_support: wc.support_url.to_string(),
        username: wc.username.clone(),
        owner_id: row.owner_id.clone(),
        file_id: row.file_id.clone(),
        qb_type: wc.qb_type.qwc(),
        run_every_minutes: run_every_minutes(&config),
    };
    std::fs::write(&out, qwc.render())
        .with_context(|| format!("cannot write {}", out.display()))
        .map_err(CliError::other)?;
    let done = json!({
        "file": out.display().to_string(),
        "app_name": qwc.app_name,
        "app_url": qwc.app_url,
        "app_support": qwc.app_support,
        "user_name": qwc.username,
        "owner_id": qwc.owner_id,
        "file_id": qwc.file_id,
        "qb_type": qwc.qb_type,
        "run_every_minutes": qwc.run_every_minutes,
    });
    output::done(format, &done, || {
        format!(
            "wrote {}: load it in the Web Connector (Add an application), then type the password of [web_connector] password",
            out.display()
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

/// How often the Web Connector should run: the shortest schedule (`every`), a cron
/// schedule counting as the shortest gap cron schedules may have (15 minutes, ADR 0006);
/// `None` without schedules (the operator picks the interval in the Web Connector).
pub fn run_every_minutes(config: &Config) -> Option<u64> {
    config
        .schedules
        .iter()
        .map(|s| match &s.cadence {
            Cadence::Every(every) => *every,
            Cadence::Cron { .. } => MIN_INTERVAL,
        })
        .min()
        .map(|shortest| shortest.as_secs().div_ceil(60).max(1))
}
