//! `invsync sync`: a manual (bulk) run.

use crate::cli::{Format, SyncArgs};
use crate::output::{self, Table};
use crate::progress::Bar;
use crate::{CliError, CmdResult};
use invsync_core::{
    ChangeResult, Field, FieldSet, InOrdersMode, QuantityRules, RunStatus, SaleAction, Selection,
    Side, SkuKey, Trigger,
};
use invsync_engine::{Engine, RunReport, SyncRequest};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub async fn run(config: Option<&Path>, format: Format, args: SyncArgs) -> CmdResult {
    let config = super::load_config(config)?;
    super::check_store(&config, &args.store)?;
    let request = request(&args);
    refuse_web_connector_writes(&config, &request)?;
    // Quantity written to a store follows its rules (product.md rule 7): say which.
    let rules = (request.update == Side::Store && request.fields.quantity)
        .then(|| {
            config
                .stores
                .get(&request.store)
                .map(|s| (s.rules, config.inventory.in_orders))
        })
        .flatten();
    let db = super::open_db(&config).await?.db;
    let engine = Engine::new(config, db);

    let cancel = CancellationToken::new();
    let signals = tokio::spawn(stop_on_signal(cancel.clone()));
    let bar = Bar::new();
    let result = engine.sync(&request, &bar, &cancel).await;
    signals.abort();
    let mut report = result.map_err(CliError::engine)?;
    if let Some(mut pending) = report.unrecorded.take() {
        record_or_give_up(&engine, &mut pending).await?;
    }
    let unknown = as_typed(&args.sku, &report.unknown_skus);
    match format {
        Format::Json => output::json(&report_json(&report, rules, &unknown))?,
        Format::Table => print_table(&request, &report, rules, &unknown)?,
    }
    if let Some(error) = &report.error {
        output::error_line(error);
    }
    Ok(exit_code(&report))
}

/// QuickBooks Desktop (and POS) is written only inside a Web Connector session, and only
/// the daemon serves the Web Connector (ADR 0080 §5): a manual run that would write it is
/// refused before anything is recorded, with what to do instead. Store updates and dry
/// runs plan from the snapshot the daemon's sessions keep.
fn refuse_web_connector_writes(
    config: &invsync_config::Config,
    request: &SyncRequest,
) -> Result<(), CliError> {
    if request.update == Side::Accounting
        && !request.dry_run
        && let Some(product) = match config.accounting {
            invsync_config::ConnectionConfig::QuickBooksDesktop(_) => Some("QuickBooks Desktop"),
            invsync_config::ConnectionConfig::QuickBooksPos(_) => Some("QuickBooks POS"),
            _ => None,
        }
    {
        return Err(CliError::new(
            crate::ErrorKind::Usage,
            anyhow::anyhow!(
                "{product} is written only inside a Web Connector session, which `invsync daemon` serves: \
                 add a schedule with update = \"accounting\" (its run waits for the next session), or use the daemon's web page; \
                 `--dry-run` shows what would be written, from the snapshot the last session kept"
            ),
        ));
    }
    Ok(())
}

/// The run's outcome could not be written to the run history. An unreachable database
/// gets a minute to come back; one that refuses the record (a full disk, a read-only
/// database, a refused value) fails at once. Either way the error says what was not
/// recorded and why, and never points at a record that is not there: the history keeps
/// the run as started, and it shows as `interrupted` once its heartbeat is stale.
async fn record_or_give_up(
    engine: &Engine,
    pending: &mut invsync_engine::PendingRecord,
) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut warned = false;
    loop {
        let e = match engine.record_late(pending).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let unreachable = e.store_failure() == Some(invsync_store::Failure::Unreachable);
        if !unreachable || tokio::time::Instant::now() >= deadline {
            return Err(CliError::new(crate::ErrorKind::Database, anyhow::Error::new(e).context(format!(
                "run {} ended {} (updated {}, failed {}), but the run history could not be written: \
                 its outcome and {} item row(s) are not on record (the history keeps the run as \
                 started; it will show as interrupted)",
                pending.run_id,
                pending.status,
                pending.counts.updated,
                pending.counts.failed,
                pending.items.len()
            ))));
        }
        if !warned {
            warned = true;
            eprintln!(
                "warning: the run history database is unreachable; retrying to record run {} for up to 60 s",
                pending.run_id
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

fn request(args: &SyncArgs) -> SyncRequest {
    let selection = if !args.sku.is_empty() {
        Selection::Skus(args.sku.iter().filter_map(|s| SkuKey::new(s)).collect())
    } else if !args.status.is_empty() {
        Selection::Statuses(args.status.iter().map(|s| (*s).into()).collect())
    } else {
        Selection::All
    };
    SyncRequest {
        store: args.store.clone(),
        update: args.update.into(),
        fields: args
            .fields
            .iter()
            .map(|f| Field::from(*f))
            .collect::<FieldSet>(),
        selection,
        dry_run: args.dry_run,
        trigger: Trigger::Manual,
        schedule: None,
        scheduled_for: None,
    }
}

/// The requested SKUs of `unknown` as the operator typed them (trimmed), each once, in the
/// order given.
fn as_typed(requested: &[String], unknown: &[SkuKey]) -> Vec<String> {
    let mut named: Vec<SkuKey> = Vec::new();
    let mut typed = Vec::new();
    for raw in requested {
        if let Some(key) = SkuKey::new(raw)
            && unknown.contains(&key)
            && !named.contains(&key)
        {
            typed.push(raw.trim().to_owned());
            named.push(key);
        }
    }
    typed
}

/// 0 when everything planned was done, 1 when the run had failures or was cut short, 2
/// when the operator's input (a data file, SKUs of which none exists) was at fault.
fn exit_code(report: &RunReport) -> ExitCode {
    if report.input_error {
        return ExitCode::from(2);
    }
    match report.status {
        RunStatus::Succeeded | RunStatus::Skipped => ExitCode::SUCCESS,
        RunStatus::Partial | RunStatus::Failed | RunStatus::Interrupted | RunStatus::Running => {
            ExitCode::from(1)
        }
    }
}

/// The first SIGINT/SIGTERM stops the run between write batches (it is recorded as
/// `interrupted`); a second one exits at once.
async fn stop_on_signal(cancel: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!(
        "stopping after the current batch (signal again to quit now; the run would then be marked interrupted by the next invsync command)"
    );
    cancel.cancel();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    std::process::exit(130);
}

/// What a price write does to the listing's sale, in words.
fn sale_action(sale: Option<SaleAction>) -> Option<&'static str> {
    sale.map(|action| match action {
        SaleAction::End => "ends the sale",
        SaleAction::Set => "as the sale price",
    })
}

fn outcome(result: ChangeResult, dry_run: bool) -> &'static str {
    match (result, dry_run) {
        (_, true) => "would update",
        (ChangeResult::Applied, _) => "updated",
        (ChangeResult::Failed, _) => "failed",
        (ChangeResult::Stale, _) => "skipped",
        (ChangeResult::Pending, _) => "not attempted",
    }
}

/// A store's quantity rules and the `in_orders` mode, when the run writes its quantity.
type Rules = Option<(QuantityRules, InOrdersMode)>;

fn print_table(
    request: &SyncRequest,
    report: &RunReport,
    rules: Rules,
    unknown: &[String],
) -> Result<(), CliError> {
    let any_error = report.changes.iter().any(|c| c.error.is_some());
    let headers: &[&'static str] = match (report.dry_run, any_error) {
        (true, _) => &["SKU", "NAME", "FIELD", "FROM", "TO"],
        (false, false) => &["SKU", "NAME", "FIELD", "FROM", "TO", "OUTCOME"],
        (false, true) => &["SKU", "NAME", "FIELD", "FROM", "TO", "OUTCOME", "ERROR"],
    };
    let mut changes = Table::new(headers);
    for c in &report.changes {
        let field = match sale_action(c.sale) {
            Some(action) => format!("{} ({action})", c.field),
            None => c.field.to_string(),
        };
        let mut row = vec![
            c.sku.to_string(),
            c.name.to_string(),
            field,
            c.old.to_string(),
            c.new.to_string(),
        ];
        if !report.dry_run {
            row.push(outcome(c.result, false).to_owned());
        }
        if any_error {
            row.push(c.error.clone().unwrap_or_default());
        }
        changes.row(row);
    }
    let mut skipped = Table::new(&["SKU", "FIELD", "FROM", "TO", "WHY"]);
    for s in &report.skipped {
        skipped.row(vec![
            s.sku.to_string(),
            s.field.to_string(),
            output::opt(s.old),
            output::opt(s.new),
            s.reason.clone(),
        ]);
    }
    let side = match request.update {
        Side::Store => format!("store `{}`", request.store),
        Side::Accounting => format!("the accounting side (from store `{}`)", request.store),
    };
    output::stdout(|out| {
        if report.dry_run {
            writeln!(
                out,
                "Dry run: {} change(s) would be written to {side}. Nothing was written.",
                report.changes.len()
            )?;
        } else if let Some(id) = report.run_id {
            writeln!(
                out,
                "Run {id} {}: {} change(s) to {side}.",
                report.status,
                report.changes.len()
            )?;
        }
        if let Some((rules, in_orders)) = rules {
            writeln!(
                out,
                "Quantity offered to `{}`: {rules}; in_orders = {in_orders}",
                request.store
            )?;
        }
        if !unknown.is_empty() {
            writeln!(out, "not found on either side: {}", unknown.join(", "))?;
        }
        if !report.dry_run && report.run_id.is_none() {
            // Nothing was run (no requested SKU exists): there is nothing to count.
            return Ok(());
        }
        if !changes.is_empty() {
            writeln!(out)?;
            changes.write_to(out)?;
        }
        if !skipped.is_empty() {
            writeln!(out, "\nNot written ({}):", report.skipped.len())?;
            skipped.write_to(out)?;
        }
        let c = &report.counts;
        writeln!(out)?;
        writeln!(
            out,
            "checked {}: {} in sync, {} {}, {} failed, {} in orders, {} base, {} unmapped, {} conflict, {} other skipped",
            c.checked,
            c.in_sync,
            if report.dry_run {
                report.changes_products() as i64
            } else {
                c.updated
            },
            if report.dry_run {
                "to update"
            } else {
                "updated"
            },
            c.failed,
            c.skipped_in_orders,
            c.skipped_base,
            c.unmapped,
            c.conflicts,
            c.skipped_other,
        )?;
        if !report.dry_run
            && let Some(id) = report.run_id
        {
            writeln!(out, "Details: invsync runs show {id}")?;
        }
        Ok(())
    })
}

trait ReportExt {
    fn changes_products(&self) -> usize;
}

impl ReportExt for RunReport {
    /// Products with at least one planned change (a dry run's "to update").
    fn changes_products(&self) -> usize {
        let mut skus: Vec<&str> = self.changes.iter().map(|c| c.sku.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        skus.len()
    }
}

fn report_json(report: &RunReport, rules: Rules, unknown: &[String]) -> serde_json::Value {
    json!({
        "run_id": report.run_id,
        "quantity_rules": rules.map(|(rules, in_orders)| json!({
            "buffer": rules.buffer,
            "max_quantity": rules.max_quantity,
            "share": rules.share,
            "in_orders": in_orders,
        })),
        "dry_run": report.dry_run,
        "status": report.status,
        "counts": report.counts,
        "error": report.error,
        "unknown_skus": unknown,
        "changes": report.changes.iter().map(|c| json!({
            "sku": c.sku,
            "name": c.name,
            "field": c.field,
            "old": c.old.to_string(),
            "new": c.new.to_string(),
            "sale": c.sale,
            "outcome": outcome(c.result, report.dry_run),
            "error": c.error,
        })).collect::<Vec<_>>(),
        "skipped": report.skipped.iter().map(|s| json!({
            "sku": s.sku,
            "field": s.field,
            "old": s.old.map(|v| v.to_string()),
            "new": s.new.map(|v| v.to_string()),
            "reason": s.reason,
        })).collect::<Vec<_>>(),
    })
}
