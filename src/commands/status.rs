//! `invsync status`: the per-product status table of one store.

use crate::cli::{Format, StatusArgs};
use crate::output::{self, Table};
use crate::{CliError, CmdResult};
use invsync_core::Status;
use invsync_engine::Engine;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>, format: Format, args: StatusArgs) -> CmdResult {
    let config = super::load_config(config)?;
    super::check_store(&config, &args.store)?;
    let db = super::open_db(&config).await?.db;
    let engine = Engine::new(config, db);
    let mut report = engine.status(&args.store).await.map_err(CliError::engine)?;
    let wanted: Vec<Status> = args.status.iter().map(|s| (*s).into()).collect();
    if !wanted.is_empty() {
        report.rows.retain(|r| wanted.contains(&r.status));
    }
    match format {
        Format::Json => output::json(&report)?,
        Format::Table => {
            let mut table = Table::new(&[
                "SKU",
                "NAME",
                "STATUS",
                "DIFFERS",
                "PRICE (ACCT/STORE)",
                "QTY (ACCT/STORE→OFFER)",
                "ORDERS",
                "DETAIL",
            ]);
            for r in &report.rows {
                let differs: Vec<&str> = r.differs.iter().map(|f| f.as_str()).collect();
                let sku = match &r.store_sku {
                    Some(s) => format!("{} (store: {s})", r.sku),
                    None => r.sku.clone(),
                };
                table.row(vec![
                    sku,
                    r.name.clone(),
                    r.status.to_string(),
                    differs.join(","),
                    format!(
                        "{}/{}",
                        output::opt(r.accounting_price),
                        output::store_price(r.store_price, r.store_sale)
                    ),
                    format!(
                        "{}/{}→{}",
                        output::opt(r.accounting_quantity),
                        output::opt(r.store_quantity),
                        output::opt(r.offered_quantity)
                    ),
                    r.orders.join(","),
                    r.detail.clone(),
                ]);
            }
            let mut held = Table::new(&["SKU", "HELD", "ORDERS"]);
            for r in report.rows.iter().filter(|r| !r.orders.is_empty()) {
                held.row(vec![
                    r.sku.clone(),
                    output::opt(r.held_quantity),
                    r.orders.join(", "),
                ]);
            }
            output::stdout(|out| {
                writeln!(
                    out,
                    "Quantity offered to `{}`: {}; in_orders = {}\n",
                    report.store, report.rules, report.in_orders
                )?;
                for unknown in &report.orders_unknown {
                    writeln!(
                        out,
                        "Open orders of store `{}` could not be read ({}): quantities are not compared, and `invsync sync` does not write them until they can be read.\n",
                        unknown.store, unknown.error
                    )?;
                }
                table.write_to(out)?;
                if !held.is_empty() {
                    writeln!(
                        out,
                        "\nIn unposted orders ({}, {}):",
                        held.len(),
                        match report.in_orders {
                            invsync_core::InOrdersMode::Skip => "quantity not written until posted",
                            invsync_core::InOrdersMode::Reserve => "held units reserved",
                        }
                    )?;
                    held.write_to(out)?;
                }
                if !report.unreadable.is_empty() {
                    writeln!(
                        out,
                        "\nNot synced until the data is fixed ({}):",
                        report.unreadable.len()
                    )?;
                    let mut bad = Table::new(&["SKU", "WHERE", "WHY"]);
                    for r in &report.unreadable {
                        bad.row(vec![
                            r.sku.clone().unwrap_or_default(),
                            r.connection.clone(),
                            r.error.clone(),
                        ]);
                    }
                    bad.write_to(out)?;
                }
                let counts: Vec<String> = Status::ALL
                    .iter()
                    .map(|s| (s, report.count(*s)))
                    .filter(|(_, n)| *n > 0)
                    .map(|(s, n)| format!("{n} {s}"))
                    .collect();
                writeln!(
                    out,
                    "\n{} product(s) in `{}`: {}",
                    report.rows.len(),
                    report.store,
                    counts.join(", ")
                )
            })?;
        }
    }
    // The products are shown, but something the operator must fix stands in the way of
    // quantity syncs: a failure, like a run that had failures.
    if report.orders_unknown.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
