//! `invsync runs` and `invsync runs show ID`: run history.

use crate::cli::{Format, RunsArgs, RunsCommand};
use crate::output::{self, Table};
use crate::{CliError, CmdResult};
use invsync_engine::Engine;
use invsync_store::{RunFilter, RunRow};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>, format: Format, args: RunsArgs) -> CmdResult {
    let config = super::load_config(config)?;
    if let Some(store) = &args.store {
        super::check_store(&config, store)?;
    }
    let db = super::open_db(&config).await?.db;
    let engine = Engine::new(config, db);
    // Runs left `running` by a process that is gone show as what they are: interrupted.
    // Settling a huge one can take longer than a command should: within the budget, then
    // the note below, and the next command (or the daemon) goes on with it.
    let recovered = engine
        .recover(invsync_engine::RECOVERY_BUDGET)
        .await
        .map_err(CliError::engine)?;
    let db = engine.db();
    if !recovered.pending.is_empty() {
        let left = db
            .intents_pending_recovery()
            .await
            .map_err(CliError::database)?;
        let ids: Vec<String> = recovered.pending.iter().map(i64::to_string).collect();
        eprintln!(
            "note: run(s) {} are still being recovered ({left} write(s) in flight to put on record); \
             their counts are not final yet. The next invsync command or the daemon goes on with it.",
            ids.join(", ")
        );
    }
    match args.show {
        Some(RunsCommand::Show { id }) => {
            let run = db
                .get_run(id)
                .await
                .map_err(CliError::database)?
                .ok_or_else(|| {
                    CliError::usage(anyhow::anyhow!("there is no run {id} (see `invsync runs`)"))
                })?;
            let items = db.run_items(id).await.map_err(CliError::database)?;
            match format {
                Format::Json => output::json(&json!({ "run": run, "items": items }))?,
                Format::Table => {
                    let mut table = Table::new(&["SKU", "FIELD", "OLD", "NEW", "OUTCOME", "ERROR"]);
                    for i in &items {
                        table.row(vec![
                            i.sku.clone(),
                            i.field.to_string(),
                            output::opt(i.old_value.as_deref()),
                            output::opt(i.new_value.as_deref()),
                            i.outcome.as_str().to_owned(),
                            i.error.clone().unwrap_or_default(),
                        ]);
                    }
                    output::stdout(|out| {
                        print_run(out, &run)?;
                        writeln!(out)?;
                        table.write_or(out, "no items: nothing was changed, failed or skipped")
                    })?;
                }
            }
        }
        None => {
            let runs = db
                .list_runs(&RunFilter {
                    store: args.store.clone(),
                    limit: args.limit,
                })
                .await
                .map_err(CliError::database)?;
            let waiting = waiting_note(engine.config(), db).await;
            let waits = |r: &RunRow| {
                (r.status == invsync_core::RunStatus::Running
                    && r.update_side == invsync_core::Side::Accounting)
                    .then_some(waiting.as_deref())
                    .flatten()
            };
            match format {
                Format::Json => {
                    let mut rows = Vec::with_capacity(runs.len());
                    for r in &runs {
                        let mut row = serde_json::to_value(r).map_err(CliError::other)?;
                        if let Some(note) = waits(r) {
                            row["waiting"] = json!(note);
                        }
                        rows.push(row);
                    }
                    output::json(&rows)?
                }
                Format::Table => {
                    let mut table = Table::new(&[
                        "ID", "STARTED", "STORE", "SCHEDULE", "UPDATE", "FIELDS", "STATUS",
                        "CHECKED", "IN SYNC", "UPDATED", "FAILED", "SKIPPED", "TOOK",
                    ]);
                    for r in &runs {
                        let c = &r.counts;
                        table.row(vec![
                            r.id.to_string(),
                            output::time(r.started_at),
                            r.store.clone(),
                            r.schedule.clone().unwrap_or_else(|| "(manual)".to_owned()),
                            r.update_side.to_string(),
                            r.fields.clone(),
                            match waits(r) {
                                Some(_) => format!("{} (waits for the Web Connector)", r.status),
                                None => r.status.to_string(),
                            },
                            c.checked.to_string(),
                            c.in_sync.to_string(),
                            c.updated.to_string(),
                            c.failed.to_string(),
                            (c.skipped_in_orders
                                + c.skipped_base
                                + c.unmapped
                                + c.conflicts
                                + c.skipped_other)
                                .to_string(),
                            took(r),
                        ]);
                    }
                    output::stdout(|out| {
                        table.write_or(out, "no runs recorded yet")?;
                        if let Some(note) = runs.iter().find_map(waits) {
                            writeln!(out, "note: a run that updates QuickBooks Desktop is {note}")?;
                        }
                        Ok(())
                    })?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// With QuickBooks Desktop as the accounting side, a running run that updates it writes
/// only inside a Web Connector session (ADR 0080 §3): what `runs` says of it.
async fn waiting_note(config: &invsync_config::Config, db: &invsync_store::Db) -> Option<String> {
    let invsync_config::ConnectionConfig::QuickBooksDesktop(q) = &config.accounting else {
        return None;
    };
    let seen = db
        .find_web_connector_file(&q.company)
        .await
        .ok()
        .flatten()
        .and_then(|row| row.last_seen_at);
    Some(match seen {
        Some(t) => format!(
            "waiting for (or inside) a Web Connector session; the Web Connector was last seen {}",
            output::time(t)
        ),
        None => {
            "waiting for a Web Connector session; the Web Connector has never called".to_owned()
        }
    })
}

fn took(r: &RunRow) -> String {
    match r.finished_at {
        Some(end) => {
            let ms = (end - r.started_at).num_milliseconds().max(0);
            if ms < 10_000 {
                format!("{:.1}s", ms as f64 / 1000.0)
            } else {
                format!("{}s", ms / 1000)
            }
        }
        None => "-".to_owned(),
    }
}

fn print_run(out: &mut dyn std::io::Write, r: &RunRow) -> std::io::Result<()> {
    let c = &r.counts;
    writeln!(out, "run        {}", r.id)?;
    writeln!(out, "store      {}", r.store)?;
    writeln!(
        out,
        "schedule   {}",
        r.schedule.as_deref().unwrap_or("(manual)")
    )?;
    writeln!(out, "trigger    {}", r.trigger.as_str())?;
    writeln!(out, "update     {} side, {}", r.update_side, r.fields)?;
    writeln!(out, "status     {}", r.status)?;
    writeln!(out, "started    {}", output::time(r.started_at))?;
    writeln!(
        out,
        "finished   {} (took {})",
        r.finished_at
            .map(output::time)
            .unwrap_or_else(|| "-".into()),
        took(r)
    )?;
    writeln!(
        out,
        "counts     checked {}, in sync {}, updated {}, failed {}, in orders {}, base {}, unmapped {}, conflict {}, other skipped {}",
        c.checked,
        c.in_sync,
        c.updated,
        c.failed,
        c.skipped_in_orders,
        c.skipped_base,
        c.unmapped,
        c.conflicts,
        c.skipped_other
    )?;
    if let Some(e) = &r.error {
        writeln!(out, "error      {e}")?;
    }
    Ok(())
}
