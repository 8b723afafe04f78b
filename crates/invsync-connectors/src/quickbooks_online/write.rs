//! Writing prices and quantities, in `/batch` requests of at most 30 operations.
//!
//! * Price (and quantity with `quantity_write = "item"`): a sparse Item update carrying
//!   the item's `SyncToken`. QuickBooks refuses an update whose `SyncToken` is not the
//!   current one (ValidationFault 5010, "Stale Object Error"): the item changed since it
//!   was read. Then the item is read again and, unless it already has the new value,
//!   updated once more with the fresh token — the planned value comes from the store and
//!   does not depend on the item's previous value, so re-planning it gives the same
//!   write. A second 5010 leaves it `Stale` for the next run.
//! * Quantity (default): an InventoryAdjustment of `QtyDiff = new − current`, `current`
//!   read just before the batch. An adjustment is not idempotent, so a batch that timed
//!   out or failed with a 5xx is never sent again as it was: the items are read again
//!   and only what is still missing is adjusted.
//!
//! The batches of one call go out concurrently (the realm's limiter paces them).

use super::Inner;
use super::json::{
    self, AdjustmentCreate, AdjustmentDetail, AdjustmentLine, BatchItem, BatchItemResponse,
    ItemJson, ItemUpdate, Reference, STALE_OBJECT, decimal,
};
use super::read::items_by_id;
use crate::{ConnectorError, ErrorKind, Write, WriteOutcome};
use invsync_config::QboQuantityWrite;
use invsync_core::{Field, FieldValue};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::{Instrument as _, Span};

/// One write, by its position in the call.
#[derive(Debug, Clone)]
struct Pending {
    index: usize,
    id: String,
    value: Decimal,
    key: String,
}

/// What an Item update sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    UnitPrice,
    QtyOnHand,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::UnitPrice => "UnitPrice",
            Target::QtyOnHand => "QtyOnHand",
        }
    }

    fn current(self, item: &ItemJson) -> Option<Decimal> {
        let raw = match self {
            Target::UnitPrice => item.unit_price.as_deref(),
            Target::QtyOnHand => item.qty_on_hand.as_deref(),
        };
        raw.and_then(|r| decimal(r).ok())
    }
}

type ChunkResult = (
    Vec<usize>,
    Result<Vec<(usize, WriteOutcome)>, ConnectorError>,
);

pub(super) async fn write(
    inner: &Arc<Inner>,
    writes: &[Write],
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; writes.len()];
    let (mut prices, mut quantities) = (Vec::new(), Vec::new());
    for (index, w) in writes.iter().enumerate() {
        if w.id.is_empty() {
            outcomes[index] = Some(WriteOutcome::Failed(format!(
                "no QuickBooks item Id for SKU `{}`",
                w.sku
            )));
            continue;
        }
        let pending = |value| Pending {
            index,
            id: w.id.to_string(),
            value,
            key: w.key.clone(),
        };
        match (w.field, w.new) {
            (Field::Price, FieldValue::Price(p)) => prices.push(pending(p)),
            (Field::Quantity, FieldValue::Quantity(q)) => {
                quantities.push(pending(Decimal::from(q)))
            }
            (field, value) => {
                outcomes[index] = Some(WriteOutcome::Failed(format!(
                    "internal error: {value} is not a {field}"
                )));
            }
        }
    }

    let size = inner.tuning.batch_size;
    let mut tasks: JoinSet<ChunkResult> = JoinSet::new();
    // Each task keeps the caller's span (the engine's `run`): its logs say which run.
    for chunk in prices.chunks(size) {
        let (inner, chunk, span) = (Arc::clone(inner), chunk.to_vec(), Span::current());
        tasks.spawn(async move {
            let indexes = chunk.iter().map(|p| p.index).collect();
            let result = update_items(&inner, chunk, Target::UnitPrice);
            (indexes, result.instrument(span).await)
        });
    }
    for chunk in quantities.chunks(size) {
        let (inner, chunk, span) = (Arc::clone(inner), chunk.to_vec(), Span::current());
        tasks.spawn(async move {
            let indexes = chunk.iter().map(|p| p.index).collect();
            let result = match inner.config.quantity_write {
                QboQuantityWrite::Adjustment => adjust(&inner, chunk).instrument(span).await,
                QboQuantityWrite::Item => {
                    let update = update_items(&inner, chunk, Target::QtyOnHand);
                    update.instrument(span).await
                }
            };
            (indexes, result)
        });
    }

    let mut chunks_ok = 0usize;
    let mut failures: Vec<(Vec<usize>, ConnectorError)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (indexes, result) = joined
            .map_err(|e| inner.error(ErrorKind::Other, format!("a write task failed: {e}")))?;
        match result {
            Ok(done) => {
                chunks_ok += 1;
                for (i, outcome) in done {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(outcome);
                    }
                }
            }
            Err(e) => failures.push((indexes, e)),
        }
    }
    // Every batch failed the same way (credentials, an outage): the call failed as a
    // whole, so the engine can stop instead of trying every further batch.
    if chunks_ok == 0
        && let Some((_, first)) = failures.first()
        && outcomes.iter().all(Option::is_none)
    {
        return Err(first.clone());
    }
    for (indexes, e) in failures {
        for i in indexes {
            if let Some(slot) = outcomes.get_mut(i)
                && slot.is_none()
            {
                *slot = Some(WriteOutcome::Failed(e.to_string()));
            }
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                WriteOutcome::Failed("internal error: no outcome for this write".to_owned())
            })
        })
        .collect())
}

/// Why a quantity is not written to an item whose stock QuickBooks does not track.
fn untracked_quantity(id: &str) -> String {
    format!(
        "stock not tracked in QuickBooks for item {id} (not an Inventory item with TrackQtyOnHand); invsync never writes its quantity"
    )
}

/// Why an item cannot be written, or `None`.
fn unwritable(item: Option<&ItemJson>, id: &str, needs_tracking: bool) -> Option<String> {
    let Some(item) = item else {
        return Some(format!(
            "QuickBooks has no item with Id {id} any more (deleted or made inactive)"
        ));
    };
    if item.active == Some(false) {
        return Some(format!(
            "item {id} was made inactive in QuickBooks; not written"
        ));
    }
    if needs_tracking && !item.tracks_quantity() {
        return Some(untracked_quantity(id));
    }
    None
}

/// Sparse Item updates with `SyncToken`, retried once after a stale token.
async fn update_items(
    inner: &Inner,
    items: Vec<Pending>,
    target: Target,
) -> Result<Vec<(usize, WriteOutcome)>, ConnectorError> {
    let mut done: Vec<(usize, WriteOutcome)> = Vec::new();
    // Tokens from the catalog read; read the items this connection has not seen.
    let unknown: Vec<&str> = items
        .iter()
        .filter(|p| inner.sync_token(&p.id).is_none())
        .map(|p| p.id.as_str())
        .collect();
    let read = if unknown.is_empty() {
        HashMap::new()
    } else {
        items_by_id(inner, &unknown).await?
    };
    let unknown: std::collections::HashSet<String> =
        unknown.into_iter().map(str::to_owned).collect();
    let mut ready = Vec::new();
    for p in items {
        if unknown.contains(&p.id)
            && let Some(why) = unwritable(read.get(&p.id), &p.id, target == Target::QtyOnHand)
        {
            done.push((p.index, WriteOutcome::Failed(why)));
            continue;
        }
        // Plans never write the quantity of an untracked item (NonInventory, Service, an
        // Inventory item without TrackQtyOnHand); should one arrive, it is refused here
        // rather than sent for QuickBooks to refuse or ignore.
        if target == Target::QtyOnHand && inner.untracked(&p.id) {
            done.push((p.index, WriteOutcome::Failed(untracked_quantity(&p.id))));
            continue;
        }
        match inner.sync_token(&p.id) {
            Some(token) => ready.push((p, token)),
            None => done.push((
                p.index,
                WriteOutcome::Failed(format!(
                    "QuickBooks returned item {} without a SyncToken",
                    p.id
                )),
            )),
        }
    }

    let (applied, stale, failed) = send_updates(inner, &ready, target).await?;
    done.extend(applied);
    done.extend(failed);
    if stale.is_empty() {
        return Ok(done);
    }

    // Fault 5010: the item changed since it was read. Read it again and try once more.
    let ids: Vec<&str> = stale.iter().map(|p| p.id.as_str()).collect();
    let fresh = items_by_id(inner, &ids).await?;
    let mut retry = Vec::new();
    for p in stale {
        let item = fresh.get(&p.id);
        if let Some(why) = unwritable(item, &p.id, target == Target::QtyOnHand) {
            done.push((p.index, WriteOutcome::Failed(why)));
            continue;
        }
        let Some(item) = item else { continue };
        if target.current(item) == Some(p.value) {
            // Someone (or an earlier attempt of ours) already set it.
            done.push((p.index, WriteOutcome::Applied));
            continue;
        }
        match item.sync_token.clone() {
            Some(token) => retry.push((p, token)),
            None => done.push((
                p.index,
                WriteOutcome::Failed(format!(
                    "QuickBooks returned item {} without a SyncToken",
                    p.id
                )),
            )),
        }
    }
    let (applied, stale, failed) = send_updates(inner, &retry, target).await?;
    done.extend(applied);
    done.extend(failed);
    for p in stale {
        done.push((
            p.index,
            WriteOutcome::Stale(format!(
                "QuickBooks: item {} changed again while invsync was writing {} (Stale Object Error, code 5010); not written, the next run plans it again",
                p.id,
                target.name()
            )),
        ));
    }
    Ok(done)
}

type UpdateResults = (
    Vec<(usize, WriteOutcome)>,
    Vec<Pending>,
    Vec<(usize, WriteOutcome)>,
);

/// One batch of sparse updates → (applied, stale, failed).
async fn send_updates(
    inner: &Inner,
    ready: &[(Pending, String)],
    target: Target,
) -> Result<UpdateResults, ConnectorError> {
    let (mut applied, mut stale, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    if ready.is_empty() {
        return Ok((applied, stale, failed));
    }
    let mut ops = Vec::with_capacity(ready.len());
    for (p, token) in ready {
        let number = match json::number(p.value) {
            Ok(n) => n,
            Err(e) => {
                failed.push((p.index, WriteOutcome::Failed(e)));
                continue;
            }
        };
        let (unit_price, qty_on_hand) = match target {
            Target::UnitPrice => (Some(number), None),
            Target::QtyOnHand => (None, Some(number)),
        };
        ops.push(BatchItem {
            bid: p.index.to_string(),
            operation: "update",
            item: Some(ItemUpdate {
                id: p.id.clone(),
                sync_token: token.clone(),
                sparse: true,
                unit_price,
                qty_on_hand,
            }),
            adjustment: None,
        });
    }
    // Each update carries its SyncToken: sent twice, the second is refused as stale
    // (and then found already applied), so the batch is safe to retry.
    let answers = by_bid(inner.batch(&ops, true).await?);
    for (p, _) in ready {
        if failed.iter().any(|(i, _)| *i == p.index) {
            continue;
        }
        match answers.get(&p.index.to_string()) {
            Some(answer) if answer.fault.is_none() && answer.item.is_some() => {
                if let Some(item) = answer
                    .item
                    .as_ref()
                    .and_then(|raw| serde_json::from_str::<ItemJson>(raw.get()).ok())
                {
                    inner.remember_item(&item);
                }
                applied.push((p.index, WriteOutcome::Applied));
            }
            Some(answer) => match &answer.fault {
                Some(fault) if fault.has_code(STALE_OBJECT) => stale.push(p.clone()),
                Some(fault) => failed.push((p.index, WriteOutcome::Failed(fault.describe()))),
                None => failed.push((
                    p.index,
                    WriteOutcome::Failed(
                        "QuickBooks answered without the item or a Fault".to_owned(),
                    ),
                )),
            },
            None => failed.push((
                p.index,
                WriteOutcome::Failed("QuickBooks' batch answer left this item out".to_owned()),
            )),
        }
    }
    Ok((applied, stale, failed))
}

fn by_bid(answers: Vec<BatchItemResponse>) -> HashMap<String, BatchItemResponse> {
    answers
        .into_iter()
        .filter_map(|a| a.bid.clone().map(|b| (b, a)))
        .collect()
}

/// InventoryAdjustments of `QtyDiff = new − current`, `current` read just before.
async fn adjust(
    inner: &Inner,
    items: Vec<Pending>,
) -> Result<Vec<(usize, WriteOutcome)>, ConnectorError> {
    let Some(account) = inner.config.adjustment_account.clone() else {
        let why = "set accounting.adjustment_account to the Id of the account inventory adjustments post to (e.g. Inventory Shrinkage), or quantity_write = \"item\"";
        return Ok(items
            .into_iter()
            .map(|p| (p.index, WriteOutcome::Failed(why.to_owned())))
            .collect());
    };
    let backoff = inner.tuning.backoff;
    let mut done = Vec::new();
    let mut pending = items;
    let mut attempt = 0u32;
    while !pending.is_empty() {
        let ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
        let fresh = items_by_id(inner, &ids).await?;
        let mut ops = Vec::new();
        let mut sent = Vec::new();
        for p in pending.drain(..) {
            let item = fresh.get(&p.id);
            if let Some(why) = unwritable(item, &p.id, true) {
                done.push((p.index, WriteOutcome::Failed(why)));
                continue;
            }
            let current = item
                .and_then(|i| i.qty_on_hand.as_deref())
                .map(decimal)
                .transpose();
            let current = match current {
                Ok(c) => c.unwrap_or(Decimal::ZERO),
                Err(e) => {
                    done.push((
                        p.index,
                        WriteOutcome::Failed(format!("item {}: QtyOnHand {e}", p.id)),
                    ));
                    continue;
                }
            };
            let diff = p.value - current;
            if diff.is_zero() {
                done.push((p.index, WriteOutcome::Applied));
                continue;
            }
            let qty_diff = match json::number(diff) {
                Ok(n) => n,
                Err(e) => {
                    done.push((p.index, WriteOutcome::Failed(e)));
                    continue;
                }
            };
            ops.push(BatchItem {
                bid: p.index.to_string(),
                operation: "create",
                item: None,
                adjustment: Some(AdjustmentCreate {
                    adjust_account: Reference {
                        value: account.clone(),
                    },
                    private_note: format!("invsync: {}", p.key),
                    lines: vec![AdjustmentLine {
                        detail_type: "ItemAdjustmentLineDetail",
                        detail: AdjustmentDetail {
                            item: Reference {
                                value: p.id.clone(),
                            },
                            qty_diff,
                        },
                    }],
                }),
            });
            sent.push(p);
        }
        if ops.is_empty() {
            break;
        }
        match inner.batch(&ops, false).await {
            Ok(answers) => {
                let answers = by_bid(answers);
                for p in sent {
                    let outcome = match answers.get(&p.index.to_string()) {
                        Some(a) if a.fault.is_none() && a.adjustment.is_some() => {
                            WriteOutcome::Applied
                        }
                        Some(a) => WriteOutcome::Failed(
                            a.fault.as_ref().map(|f| f.describe()).unwrap_or_else(|| {
                                "QuickBooks answered without the adjustment or a Fault".to_owned()
                            }),
                        ),
                        None => WriteOutcome::Failed(
                            "QuickBooks' batch answer left this adjustment out".to_owned(),
                        ),
                    };
                    done.push((p.index, outcome));
                }
            }
            // A timeout or a 5xx may or may not have applied some adjustments: read again
            // (next round) and adjust only what is still off.
            Err(e) if e.retryable && attempt + 1 < backoff.attempts => {
                tracing::warn!(connection = %inner.name, error = %e, "an adjustment batch failed; reading the items again before retrying");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
                pending = sent;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
