//! `invsync map add|list|remove`: manual mappings, which override matching by SKU.

use crate::cli::{Format, MapCommand};
use crate::output::{self, Table};
use crate::{CliError, CmdResult};
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
    let db = super::open_db(&config).await?;
    match cmd {
        MapCommand::Add {
            store,
            store_sku,
            accounting_sku,
        } => {
            db.add_mapping(&store, &store_sku, &accounting_sku)
                .await
                .map_err(CliError::usage)?;
            println!(
                "{store}: store SKU `{}` now maps to accounting SKU `{}`",
                store_sku.trim(),
                accounting_sku.trim()
            );
        }
        MapCommand::Remove { store, store_sku } => {
            if db
                .remove_mapping(&store, &store_sku)
                .await
                .map_err(CliError::failed)?
            {
                println!(
                    "{store}: removed the mapping of store SKU `{}`; it matches by SKU again",
                    store_sku.trim()
                );
            } else {
                return Err(CliError::usage(anyhow::anyhow!(
                    "{store}: store SKU `{}` has no manual mapping (see `invsync map list --store {store}`)",
                    store_sku.trim()
                )));
            }
        }
        MapCommand::List { store } => {
            let rows = db
                .list_mappings(store.as_deref())
                .await
                .map_err(CliError::failed)?;
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
                    output::stdout(|out| {
                        if table.is_empty() {
                            writeln!(out, "no manual mappings")
                        } else {
                            table.write_to(out)
                        }
                    })?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
