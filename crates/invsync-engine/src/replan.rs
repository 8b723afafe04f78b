//! The second round of a run: writes the connection reported stale (their target changed
//! since it was read — a sale) are never forced. Their records and every store's orders
//! are read again, those products planned again from the fresh values, and what is still
//! wanted written once, with keys of their own (`…-replan-…`).

use crate::EngineError;
use crate::record::{Recorder, skip_item};
use crate::report::report_skips;
use crate::run::{Planned, Run};
use crate::write::Written;
use invsync_connectors::{KeyRound, RecordRef};
use invsync_core::{Plan, PlanRequest, PlannedChange, ProductPlan, Selection, SkuKey};
use invsync_store::NewRunItem;
use std::collections::HashSet;

impl Run<'_> {
    /// Re-reads the records whose writes came back stale (`stale`, indexes into the plan's
    /// changes), refreshes the open orders (when quantity is synced), plans those products
    /// again and writes what is still wanted — through the run's own connections. The
    /// merged plan replaces the stale changes with the new ones, so counts reflect what
    /// finally happened. Returns how many changes the second round planned.
    pub(crate) async fn replan_stale(
        &self,
        recorder: &mut Recorder,
        planned: &mut Planned,
        written: &mut Written,
        stale: &[usize],
    ) -> Result<usize, EngineError> {
        let side = self.request.update;
        let mut refs: Vec<RecordRef> = Vec::new();
        let mut indexes: Vec<u32> = Vec::new();
        for &i in stale {
            let ch = planned.plan.changes[i];
            if let Some(r) = planned.snapshot.record(ch.side, ch.record)
                && !indexes.contains(&ch.record)
            {
                indexes.push(ch.record);
                refs.push(RecordRef {
                    id: r.id.clone(),
                    sku: r.sku.clone(),
                });
            }
        }
        let Some(fresh) = planned.connections.side(side).read_records(&refs).await? else {
            return Ok(0);
        };
        for record in fresh {
            // Match by the connection's id where it has one, else by SKU.
            let slot = indexes.iter().copied().find(|&i| {
                planned.snapshot.record(side, i).is_some_and(|r| {
                    if r.id.is_empty() {
                        SkuKey::new(&r.sku) == SkuKey::new(&record.sku)
                    } else {
                        r.id == record.id
                    }
                })
            });
            if let Some(i) = slot {
                planned.snapshot.set_record(side, i, record);
            }
        }
        if self.request.fields.quantity {
            planned
                .snapshot
                .refresh_orders(self.engine, &planned.connections, &self.request.store)
                .await?;
        }
        let keys: HashSet<SkuKey> = stale
            .iter()
            .filter_map(|&i| {
                let product = planned
                    .plan
                    .products
                    .get(planned.plan.changes[i].product as usize)?;
                let record = product
                    .accounting
                    .and_then(|a| planned.snapshot.accounting.get(a as usize))
                    .or_else(|| {
                        product
                            .store
                            .and_then(|s| planned.snapshot.store.get(s as usize))
                    })?;
                SkuKey::new(&record.sku)
            })
            .collect();
        let again = planned.snapshot.plan(&PlanRequest {
            update: side,
            fields: self.request.fields,
            selection: Selection::Skus(keys),
        })?;
        // Held-back differences of the second round (e.g. the sale made it in-orders).
        let skips: Vec<NewRunItem> = report_skips(&again, &planned.snapshot)
            .into_iter()
            .map(skip_item)
            .collect();
        recorder.record(skips).await;
        self.progress.start_writes(again.changes.len() as u64);
        let second = self
            .write(
                recorder,
                planned.connections.side(side),
                &again.changes,
                &planned.snapshot,
                KeyRound::Replan,
            )
            .await;
        let count = again.changes.len();
        merge_replan(&mut planned.plan, written, stale, again, second);
        Ok(count)
    }
}

/// Replaces the stale changes of the first round (`plan`, `written`) with the second
/// round's plan and results: products are matched by their (accounting, store) records;
/// their status becomes the fresh one.
fn merge_replan(
    plan: &mut Plan,
    written: &mut Written,
    stale: &[usize],
    again: Plan,
    second: Written,
) {
    let keep: Vec<bool> = (0..plan.changes.len())
        .map(|i| !stale.contains(&i))
        .collect();
    let mut changes = Vec::with_capacity(plan.changes.len());
    let mut results = Vec::with_capacity(plan.changes.len());
    let mut errors = Vec::with_capacity(plan.changes.len());
    for (i, ch) in plan.changes.iter().enumerate() {
        if keep[i] {
            changes.push(*ch);
            results.push(written.results[i]);
            errors.push(written.errors[i].clone());
        }
    }
    let product_of = |p: &ProductPlan| {
        plan.products
            .iter()
            .position(|q| q.accounting == p.accounting && q.store == p.store)
    };
    let remap: Vec<Option<usize>> = again.products.iter().map(product_of).collect();
    for (p, target) in again.products.iter().zip(&remap) {
        if let Some(t) = target
            && let Some(q) = plan.products.get_mut(*t)
        {
            q.status = p.status;
        }
    }
    for ((ch, result), error) in again
        .changes
        .into_iter()
        .zip(second.results)
        .zip(second.errors)
    {
        if let Some(Some(t)) = remap.get(ch.product as usize) {
            changes.push(PlannedChange {
                product: u32::try_from(*t).unwrap_or(u32::MAX),
                ..ch
            });
            results.push(result);
            errors.push(error);
        }
    }
    for skip in again.skipped {
        if let Some(Some(t)) = remap.get(skip.product as usize) {
            plan.skipped.push(invsync_core::SkippedChange {
                product: u32::try_from(*t).unwrap_or(u32::MAX),
                ..skip
            });
        }
    }
    plan.changes = changes;
    written.results = results;
    written.errors = errors;
}
