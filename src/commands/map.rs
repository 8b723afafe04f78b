//! `invsync map add|list|remove`: manual mappings, which override matching by SKU.

use crate::cli::{Format, MapCommand};
use crate::output::{self, Table};
use crate::{CliError, CmdResult};
use invsync_store::StoreError;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>, format: Format, cmd: MapCommand) -> CmdResult {
    let config = super::load_config(config)?;
    match &cmd {
        MapCommand::Add { store, .. } | MapCommand::Remove { store, .. } => {
            super::check_store(&config, store)?
        }
        MapCommand::List { store: Some(store) } => super::check_store(&config, store)?,
        MapCommand::List { store: None } => {}
    }
    let db = super::open_db(&config).await?.db;
    match cmd {
        MapCommand::Add {
            store,
            store_sku,
            accounting_sku,
        } => {
            db.add_mapping(&store, &store_sku, &accounting_sku)
                .await
                .map_err(|e| match e {
                    StoreError::EmptySku { .. } => CliError::usage(e),
                    e => CliError::database(e),
                })?;
            let (store_sku, accounting_sku) = (store_sku.trim(), accounting_sku.trim());
            let done = json!({
                "store": store,
                "store_sku": store_sku,
                "accounting_sku": accounting_sku,
            });
            output::done(format, &done, || {
                format!(
                    "{store}: store SKU `{store_sku}` now maps to accounting SKU `{accounting_sku}`"
                )
            })?;
        }
        MapCommand::Remove { store, store_sku } => {
            let store_sku = store_sku.trim();
            let removed = db
                .remove_mapping(&store, store_sku)
                .await
                .map_err(CliError::database)?;
            if !removed {
                return Err(CliError::usage(anyhow::anyhow!(
                    "{store}: store SKU `{store_sku}` has no manual mapping (see `invsync map list --store {store}`)"
                )));
            }
            let done = json!({ "store": store, "store_sku": store_sku, "removed": true });
            output::done(format, &done, || {
                format!(
                    "{store}: removed the mapping of store SKU `{store_sku}`; it matches by SKU again"
                )
            })?;
        }
        MapCommand::List { store } => {
            let rows = db
                .list_mappings(store.as_deref())
                .await
                .map_err(CliError::database)?;
            match format {
                Format::Json => output::json(&rows)?,
                Format::Table => {
                    let mut table =
                        Table::new(&["STORE", "STORE SKU", "ACCOUNTING SKU", "CREATED"]);
                    for r in &rows {
                        table.row(vec![
                            r.store.clone(),
                            r.store_sku.clone(),
                            r.accounting_sku.clone(),
                            output::time(r.created_at),
                        ]);
                    }
                    output::stdout(|out| table.write_or(out, "no manual mappings"))?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
