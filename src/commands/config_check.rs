//! `invsync config check`: validate the config and show when each schedule runs next.

use crate::CmdResult;
use crate::cli::Format;
use crate::output::{self, Table};
use chrono::{DateTime, Utc};
use invsync_config::{Cadence, Config, ConnectionConfig};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// How many upcoming run times to show per schedule.
const NEXT_RUNS: usize = 3;

pub async fn run(config: Option<&Path>, format: Format) -> CmdResult {
    let config = super::load_config(config)?;
    let now = Utc::now();
    let warnings = warnings(&config);
    let schedules: Vec<(String, Vec<DateTime<Utc>>)> = config
        .schedules
        .iter()
        .map(|s| (s.name.clone(), next_runs(&s.cadence, now)))
        .collect();
    match format {
        Format::Json => output::json(&json!({
            "config": config.source,
            "valid": true,
            "warnings": warnings,
            "order_watch": config.inventory.watches_orders().map(period),
            "order_watch_accounting": config.inventory.watches_orders().is_some()
                && config.accounting.watched_between_schedules(),
            "web_connector": config.web_connector.as_ref().map(|wc| json!({
                "listen": wc.listen.to_string(),
                "public_url": wc.public_url.as_str(),
                "support_url": wc.support_url.as_str(),
                "username": wc.username,
                "qb_type": wc.qb_type.qwc(),
                "https": wc.tls.is_some(),
            })),
            "stores": config.stores.iter().map(|(name, s)| json!({
                "name": name,
                "kind": s.connection.kind(),
                "buffer": s.rules.buffer,
                "max_quantity": s.rules.max_quantity,
                "share": s.rules.share,
            })).collect::<Vec<_>>(),
            "schedules": config.schedules.iter().zip(&schedules).map(|(s, (_, next))| json!({
                "name": s.name,
                "store": s.store,
                "update": s.update,
                "fields": s.fields.to_list(),
                "cadence": s.cadence.describe(),
                "next_runs": next,
            })).collect::<Vec<_>>(),
        }))?,
        Format::Table => {
            let mut table = Table::new(&[
                "SCHEDULE",
                "STORE",
                "UPDATE",
                "FIELDS",
                "CADENCE",
                "NEXT RUNS (UTC)",
            ]);
            for (s, (_, next)) in config.schedules.iter().zip(&schedules) {
                let mut times: Vec<String> = next.iter().map(|t| output::time(*t)).collect();
                if matches!(s.cadence, Cadence::Every(_)) && !times.is_empty() {
                    times[0] = "at daemon start".to_owned();
                }
                table.row(vec![
                    s.name.clone(),
                    s.store.clone(),
                    s.update.to_string(),
                    s.fields.to_list(),
                    s.cadence.describe(),
                    times.join(", "),
                ]);
            }
            output::stdout(|out| {
                writeln!(out, "{}: OK", config.source.display())?;
                writeln!(
                    out,
                    "accounting: {}; master inventory location: {}; in_orders = {}; order watch: {}",
                    config.accounting.kind(),
                    master(&config),
                    config.inventory.in_orders,
                    order_watch(&config)
                )?;
                if let Some(wc) = &config.web_connector {
                    writeln!(
                        out,
                        "web connector: {} ({}) on {}{}, user {}; AppURL {}",
                        wc.qb_type.qwc(),
                        if wc.qb_type == invsync_config::QbType::Desktop {
                            "QuickBooks Desktop"
                        } else {
                            "QuickBooks POS"
                        },
                        wc.listen,
                        if wc.tls.is_some() { " (https)" } else { "" },
                        wc.username,
                        wc.public_url
                    )?;
                }
                writeln!(
                    out,
                    "stores: {}",
                    config.stores.keys().cloned().collect::<Vec<_>>().join(", ")
                )?;
                writeln!(out)?;
                if table.is_empty() {
                    writeln!(
                        out,
                        "no schedules: the daemon would have nothing to do (manual `invsync sync` still works)"
                    )?;
                } else {
                    table.write_to(out)?;
                    writeln!(
                        out,
                        "\n`every` schedules that have never run are due when the daemon starts; afterwards their next run is kept in the database."
                    )?;
                }
                for w in &warnings {
                    writeln!(out, "warning: {w}")?;
                }
                Ok(())
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `every 1m`, or why the watch does not run.
fn order_watch(config: &Config) -> String {
    match (
        config.inventory.order_watch,
        config.inventory.watches_orders(),
    ) {
        (_, Some(every)) if config.accounting.watched_between_schedules() => format!(
            "every {} (store orders and the accounting side's quantities)",
            period(every)
        ),
        (_, Some(every)) => format!(
            "every {} (store orders; a {} quantity change waits for the schedules)",
            period(every),
            config.accounting.kind()
        ),
        (None, None) => "off".to_owned(),
        (Some(_), None) => "off (it needs in_orders = \"reserve\")".to_owned(),
    }
}

/// A watch period as the config would write it (`90s`, `1m`).
fn period(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn master(config: &Config) -> String {
    match &config.inventory.master {
        invsync_config::Master::Accounting => "accounting".into(),
        invsync_config::Master::Store(s) => format!("store `{s}`"),
    }
}

/// Upcoming run times if the daemon started now and the schedule had never run.
fn next_runs(cadence: &Cadence, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(NEXT_RUNS);
    let mut t = match cadence {
        Cadence::Every(_) => now,
        Cadence::Cron { .. } => match cadence.next_after(now) {
            Some(t) => t,
            None => return out,
        },
    };
    out.push(t);
    while out.len() < NEXT_RUNS {
        match cadence.next_after(t) {
            Some(next) => {
                out.push(next);
                t = next;
            }
            None => break,
        }
    }
    out
}

/// Oversold sales in the shared-stock simulation under `skip`, `reserve` and `reserve`
/// with the order watch: the "all" row of docs/benchmarks.md's table
/// (`invsync-bench simulate --seeds 5 --ticks 500`).
const SIMULATED_OVERSOLD: (&str, &str, &str) = ("18.2 %", "6.2 %", "0.19 %");

/// Things that are valid but probably not intended: data files that do not exist yet,
/// stores sharing stock under `in_orders = "skip"`.
fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: String, c: &ConnectionConfig| match c {
        ConnectionConfig::File(f) => {
            if !f.path.exists() {
                out.push(format!("{what}: {} does not exist (yet)", f.path.display()));
            }
            if let Some(o) = &f.orders
                && !o.exists()
            {
                out.push(format!(
                    "{what}: orders file {} does not exist (yet)",
                    o.display()
                ));
            }
        }
        ConnectionConfig::WooCommerce(_) | ConnectionConfig::BigCommerce(_) => {}
        ConnectionConfig::QuickBooksOnline(_) => {}
        // Reached only through the Web Connector; its table was checked at load.
        ConnectionConfig::QuickBooksDesktop(_) | ConnectionConfig::QuickBooksPos(_) => {}
        // Nothing to check offline; `invsync sync --dry-run` tries the credentials.
        ConnectionConfig::Shopify(_) => {}
    };
    check("accounting".into(), &config.accounting);
    for (name, s) in &config.stores {
        check(format!("stores.{name}"), &s.connection);
    }
    if let Some(w) = shared_stock_under_skip(config) {
        out.push(w);
    }
    out
}

/// The warning for stores sharing stock under `in_orders = "skip"` (issue 18): with skip
/// an unposted sale's SKU is written nowhere, so the other stores keep offering the sold
/// units until the order is posted, and the order watch cannot help.
fn shared_stock_under_skip(config: &Config) -> Option<String> {
    if config.inventory.in_orders != invsync_core::InOrdersMode::Skip || config.stores.len() < 2 {
        return None;
    }
    let (skip, reserve, watch) = SIMULATED_OVERSOLD;
    Some(format!(
        "inventory.in_orders = \"skip\" with {} stores sharing stock: a SKU in an order not \
         posted yet is written to no store, so the others keep offering units already sold. \
         In the shared-stock simulation (docs/benchmarks.md) skip oversold {skip} of sales, \
         \"reserve\" {reserve}, and reserve with the order watch {watch} (an accounting \
         side it re-reads each pass, ADR 0102). Set \
         in_orders = \"reserve\"; inventory.order_watch only runs under it",
        config.stores.len()
    ))
}
