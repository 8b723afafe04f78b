//! What a run hands back: [`RunReport`], each planned change and what became of it, and
//! each difference held back.

use crate::SyncRequest;
use crate::record::PendingRecord;
use crate::snapshot::Snapshot;
use compact_str::CompactString;
use invsync_core::{
    ChangeResult, Field, FieldValue, Plan, RunCounts, RunStatus, SaleAction, Selection, SkipReason,
    SkuKey,
};

/// One planned change and what became of it.
#[derive(Debug, Clone)]
pub struct ReportedChange {
    pub sku: CompactString,
    pub name: CompactString,
    pub field: Field,
    pub old: FieldValue,
    pub new: FieldValue,
    /// For a price written to a listing on sale: whether the sale was ended or its price
    /// written.
    pub sale: Option<SaleAction>,
    pub result: ChangeResult,
    pub error: Option<String>,
}

/// A difference that was deliberately not written.
#[derive(Debug, Clone)]
pub struct ReportedSkip {
    pub sku: CompactString,
    pub field: Field,
    pub old: Option<FieldValue>,
    pub new: Option<FieldValue>,
    pub reason: String,
}

/// The result of [`crate::Engine::sync`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `None` for a dry run.
    pub run_id: Option<i64>,
    pub dry_run: bool,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub changes: Vec<ReportedChange>,
    pub skipped: Vec<ReportedSkip>,
    /// The run-level error, when the run failed as a whole.
    pub error: Option<String>,
    /// Set when that error is the operator's input (a malformed file, a missing file, SKUs
    /// of which none is on either side).
    pub input_error: bool,
    /// The SKUs of a SKU selection found on neither side (their matching form, sorted).
    /// When that is every one of them there is nothing to do: the report says so as an
    /// input error, status `skipped`, and no run is recorded.
    pub unknown_skus: Vec<SkuKey>,
    /// The run's outcome when it could not be written to the run history (the database
    /// was unreachable at the end). Retry with [`crate::Engine::record_late`]; until then
    /// the row stays `running` and, once its heartbeat is stale, becomes `interrupted`.
    pub unrecorded: Option<PendingRecord>,
}

impl RunReport {
    /// The report of a request whose SKUs are all on neither side: nothing to do.
    pub(crate) fn nothing_selected(request: &SyncRequest, unknown_skus: Vec<SkuKey>) -> RunReport {
        RunReport {
            run_id: None,
            dry_run: request.dry_run,
            status: RunStatus::Skipped,
            counts: RunCounts::default(),
            changes: Vec::new(),
            skipped: Vec::new(),
            error: Some(format!(
                "none of the requested SKUs is on the accounting side or in store `{}`: nothing to do",
                request.store
            )),
            input_error: true,
            unrecorded: None,
            unknown_skus,
        }
    }

    /// The report of recorded run `run_id` that failed (or was stopped) as a whole.
    pub(crate) fn ended(
        run_id: i64,
        status: RunStatus,
        error: String,
        input_error: bool,
    ) -> RunReport {
        RunReport {
            run_id: Some(run_id),
            dry_run: false,
            status,
            counts: RunCounts::default(),
            changes: Vec::new(),
            skipped: Vec::new(),
            error: Some(error),
            input_error,
            unrecorded: None,
            unknown_skus: Vec::new(),
        }
    }
}

/// Whether a request selects SKUs of which none is on either side.
pub(crate) fn selects_nothing(selection: &Selection, unknown_skus: &[SkuKey]) -> bool {
    matches!(selection, Selection::Skus(wanted) if wanted.len() == unknown_skus.len())
}

/// Each planned change with its SKU, name, result and error.
pub(crate) fn report_changes(
    plan: &Plan,
    snapshot: &Snapshot,
    results: &[ChangeResult],
    errors: &[Option<String>],
) -> Vec<ReportedChange> {
    plan.changes
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            let record = snapshot.record(ch.side, ch.record);
            ReportedChange {
                sku: record.map(|r| r.sku.clone()).unwrap_or_default(),
                name: record.map(|r| r.name.clone()).unwrap_or_default(),
                field: ch.field,
                old: ch.old,
                new: ch.new,
                sale: ch.sale,
                result: results.get(i).copied().unwrap_or(ChangeResult::Pending),
                error: errors.get(i).cloned().flatten(),
            }
        })
        .collect()
}

/// Each difference the plan holds back, with why (and the orders holding it, for
/// `in-orders`).
pub(crate) fn report_skips(plan: &Plan, snapshot: &Snapshot) -> Vec<ReportedSkip> {
    plan.skipped
        .iter()
        .map(|s| {
            let product = plan.products.get(s.product as usize);
            let sku = product
                .and_then(|p| p.store.and_then(|j| snapshot.store.get(j as usize)))
                .or_else(|| {
                    product.and_then(|p| {
                        p.accounting
                            .and_then(|i| snapshot.accounting.get(i as usize))
                    })
                })
                .map(|r| r.sku.clone())
                .unwrap_or_default();
            let reason = match s.reason {
                SkipReason::InOrders => {
                    let orders = product
                        .and_then(|p| snapshot.orders_of(p))
                        .map(|o| format!(" ({})", o.join(", ")))
                        .unwrap_or_default();
                    format!("{}{orders}", s.reason)
                }
                other => other.to_string(),
            };
            ReportedSkip {
                sku,
                field: s.field,
                old: s.old,
                new: s.new,
                reason,
            }
        })
        .collect()
}
