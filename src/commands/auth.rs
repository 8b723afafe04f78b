//! `invsync auth quickbooks-online`: the OAuth 2.0 authorisation-code flow, by hand. An
//! operator opens the printed URL, connects the company, and pastes where QuickBooks
//! redirected to; invsync exchanges the code for tokens and stores them (encrypted) in the
//! database, where every daemon sharing it picks them up.

use crate::cli::{AuthCommand, QboAuthArgs};
use crate::{CliError, CmdResult};
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

pub async fn run(config: Option<&Path>, cmd: AuthCommand) -> CmdResult {
    match cmd {
        AuthCommand::QuickbooksOnline(args) => quickbooks_online(config, args).await,
    }
}

async fn quickbooks_online(config_path: Option<&Path>, args: QboAuthArgs) -> CmdResult {
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
    let db = super::open_db(&config).await?;

    let code = match &args.code {
        // Given up front: there is no state of ours to compare with.
        Some(given) => code_from_redirect(given, None, &realm)
            .map_err(|e| CliError::usage(anyhow!("--code: {e}")))?,
        None => {
            let state = new_state();
            let url = authorize_url(&qbo.client_id, &redirect_uri, &state);
            println!("To connect QuickBooks Online company {realm}:");
            println!("  1. Open this URL in a browser, sign in and connect the company:");
            println!();
            println!("     {url}");
            println!();
            println!("  2. QuickBooks redirects to {redirect_uri}?code=…&state=…&realmId=…");
            println!("     Paste that whole address (or just the code) here and press Enter.");
            print!("> ");
            let _ = std::io::stdout().flush();
            let line = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map(|_| line)
            })
            .await
            .map_err(|e| CliError::failed(anyhow!("reading the answer failed: {e}")))?
            .map_err(|e| CliError::failed(anyhow!("cannot read from standard input: {e}")))?;
            println!();
            code_from_redirect(&line, Some(&state), &realm)
                .map_err(|e| CliError::usage(anyhow!(e)))?
        }
    };

    let vault: Arc<dyn TokenVault> = Arc::new(DbTokenVault::new(db.clone()));
    let connected = connect_with_code(qbo, vault, &code, &redirect_uri)
        .await
        .map_err(CliError::failed)?;
    println!(
        "Connected QuickBooks Online company {realm}. Its tokens are stored, encrypted, in the {} database at {}; every invsync using that database uses them from now on.",
        db.backend(),
        db.redacted_url()
    );
    if let Some(expires) = connected.refresh_expires_at {
        println!(
            "Intuit says the connection lasts until {} unless invsync uses it (each sync extends it).",
            expires.format("%Y-%m-%d")
        );
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
