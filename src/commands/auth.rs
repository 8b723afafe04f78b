//! `invsync auth quickbooks-online`: the OAuth 2.0 authorisation-code flow, by hand. An
//! operator opens the printed URL, connects the company, and pastes where QuickBooks
//! redirected to; invsync exchanges the code for tokens and stores them (encrypted) in the
//! database, where every daemon sharing it picks them up.

use crate::cli::{AuthCommand, Format, QboAuthArgs};
use crate::output;
use crate::{CliError, CmdResult, ErrorKind};
use anyhow::anyhow;
use invsync_config::ConnectionConfig;
use invsync_connectors::TokenVault;
use invsync_connectors::quickbooks_online::{
    authorize_url, code_from_redirect, connect_with_code, new_state,
};
use invsync_engine::DbTokenVault;
use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(config: Option<&Path>, format: Format, cmd: AuthCommand) -> CmdResult {
    match cmd {
        AuthCommand::QuickbooksOnline(args) => quickbooks_online(config, format, args).await,
    }
}

async fn quickbooks_online(
    config_path: Option<&Path>,
    format: Format,
    args: QboAuthArgs,
) -> CmdResult {
    // The steps are for the person at the terminal; with JSON, stdout is for the result.
    let say = |text: &str| {
        let text = output::printable(text, true);
        match format {
            Format::Table => println!("{text}"),
            Format::Json => eprintln!("{text}"),
        }
    };
    let config = super::load_config(config_path)?;
    let ConnectionConfig::QuickBooksOnline(qbo) = &config.accounting else {
        return Err(CliError::usage(anyhow!(
            "{}: [accounting] is kind = \"{}\"; `invsync auth quickbooks-online` needs kind = \"quickbooks-online\"",
            config.source.display(),
            config.accounting.kind()
        )));
    };
    let redirect_uri = args
        .redirect_uri
        .clone()
        .or_else(|| qbo.redirect_uri.clone())
        .ok_or_else(|| {
            CliError::usage(anyhow!(
                "give --redirect-uri, or set accounting.redirect_uri in {}: one of the redirect URIs registered for the app on developer.intuit.com (Keys & credentials)",
                config.source.display()
            ))
        })?;
    let realm = qbo.realm_id.clone();
    let db = super::open_db(&config).await?.db;

    let code = match &args.code {
        // Given up front: there is no state of ours to compare with.
        Some(given) => code_from_redirect(given, None, &realm)
            .map_err(|e| CliError::usage(anyhow!("--code: {e}")))?,
        None => {
            let state = new_state();
            let url = authorize_url(&qbo.client_id, &redirect_uri, &state);
            say(&format!("To connect QuickBooks Online company {realm}:"));
            say("  1. Open this URL in a browser, sign in and connect the company:");
            say("");
            say(&format!("     {url}"));
            say("");
            say(&format!(
                "  2. QuickBooks redirects to {redirect_uri}?code=…&state=…&realmId=…"
            ));
            say("     Paste that whole address (or just the code) here and press Enter.");
            match format {
                Format::Table => print!("> "),
                Format::Json => eprint!("> "),
            }
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            let line = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map(|_| line)
            })
            .await
            .map_err(|e| CliError::other(anyhow!("reading the answer failed: {e}")))?
            .map_err(|e| CliError::other(anyhow!("cannot read from standard input: {e}")))?;
            say("");
            code_from_redirect(&line, Some(&state), &realm)
                .map_err(|e| CliError::usage(anyhow!(e)))?
        }
    };

    let vault: Arc<dyn TokenVault> = Arc::new(DbTokenVault::new(db.clone()));
    let connected = connect_with_code(qbo, vault, &code, &redirect_uri)
        .await
        .map_err(|e| CliError::new(ErrorKind::Connection, e))?;
    match format {
        Format::Json => output::json(&serde_json::json!({
            "connected": true,
            "realm_id": realm,
            "backend": db.backend().to_string(),
            "database": db.redacted_url(),
            "refresh_expires_at": connected.refresh_expires_at,
        }))?,
        Format::Table => {
            output::line(&format!(
                "Connected QuickBooks Online company {realm}. Its tokens are stored, encrypted, in the {} database at {}; every invsync using that database uses them from now on.",
                db.backend(),
                db.redacted_url()
            ))?;
            if let Some(expires) = connected.refresh_expires_at {
                output::line(&format!(
                    "Intuit says the connection lasts until {} unless invsync uses it (each sync extends it).",
                    expires.format("%Y-%m-%d")
                ))?;
            }
        }
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
