//! Quantity writes: absolute adjustments through the Inventory API at the configured
//! location, read back until they show (adjustments apply asynchronously).

use super::vendor::{InventoryItem, RecordId};
use super::{ADJUSTMENT_BATCH, BigCommerceConnection};
use crate::{ConnectorError, ErrorKind, Write, WriteOutcome};
use invsync_core::FieldValue;
use reqwest::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long written quantities may take to show before they count as failed.
#[derive(Debug, Clone, Copy)]
pub struct ConfirmPolicy {
    pub first_wait: Duration,
    pub deadline: Duration,
}

impl Default for ConfirmPolicy {
    fn default() -> Self {
        ConfirmPolicy {
            first_wait: Duration::from_millis(250),
            deadline: Duration::from_secs(60),
        }
    }
}

impl BigCommerceConnection {
    /// Sends absolute adjustments, then reads them back until they show.
    pub(super) async fn write_quantities(
        &self,
        writes: &[Write],
        which: &[usize],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        // One item per inventory item; two records sharing a product's stock must agree.
        let mut wanted: HashMap<InventoryItem, (i64, Vec<usize>)> = HashMap::new();
        let mut order = Vec::new();
        for &i in which {
            let Ok(id) = RecordId::parse(&writes[i].id) else {
                outcomes[i] = Some(WriteOutcome::Failed(format!(
                    "`{}` is not a BigCommerce record id",
                    writes[i].id
                )));
                continue;
            };
            let FieldValue::Quantity(q) = writes[i].new else {
                continue;
            };
            match wanted.get_mut(&id.item()) {
                Some((existing, _)) if *existing != q => {
                    outcomes[i] = Some(WriteOutcome::Failed(format!(
                        "shares its product's stock with another listing of this batch that gets {existing}; fix the mapping so one accounting item owns the shared stock"
                    )));
                }
                Some((_, indexes)) => indexes.push(i),
                None => {
                    order.push(id.item());
                    wanted.insert(id.item(), (q, vec![i]));
                }
            }
        }
        let mut sent: Vec<InventoryItem> = Vec::new();
        for chunk in order.chunks(ADJUSTMENT_BATCH) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|item| {
                    let q = wanted.get(item).map_or(0, |w| w.0);
                    match item {
                        InventoryItem::Variant(v) => serde_json::json!({"location_id": self.location, "variant_id": v, "quantity": q}),
                        InventoryItem::Product(p) => serde_json::json!({"location_id": self.location, "product_id": p, "quantity": q}),
                    }
                })
                .collect();
            let body = serde_json::json!({"reason": "invsync: quantity from the master inventory", "items": items});
            let bytes = serde_json::to_vec(&body)
                .map_err(|e| ConnectorError::new(&self.name, ErrorKind::Other, e))?;
            match self
                .call(
                    Method::PUT,
                    "v3/inventory/adjustments/absolute",
                    &[],
                    Some(&bytes),
                )
                .await
            {
                Ok(_) => sent.extend_from_slice(chunk),
                Err(e) if e.status == Some(422) => {
                    for item in chunk {
                        for &i in wanted.get(item).map(|w| &w.1).into_iter().flatten() {
                            outcomes[i] = Some(WriteOutcome::Failed(format!(
                                "BigCommerce refused the adjustment: {}",
                                e.message
                            )));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // Confirm: the Inventory API applies adjustments asynchronously
        // (inventory-adjustments.mdx), so a 200 does not mean the stock shows yet.
        let started = Instant::now();
        let mut waiting: Vec<InventoryItem> = sent;
        let mut wait = self.confirm.first_wait;
        let mut last_seen: HashMap<InventoryItem, i64> = HashMap::new();
        while !waiting.is_empty() {
            tokio::time::sleep(wait).await;
            let now = self.location_quantities(Some(&waiting)).await?;
            waiting.retain(|item| {
                let target = wanted.get(item).map_or(0, |w| w.0);
                match now.get(item) {
                    Some(q) if *q == target => {
                        for &i in wanted.get(item).map(|w| &w.1).into_iter().flatten() {
                            outcomes[i] = Some(WriteOutcome::Applied);
                        }
                        false
                    }
                    Some(q) => {
                        last_seen.insert(*item, *q);
                        true
                    }
                    None => true,
                }
            });
            if started.elapsed() >= self.confirm.deadline {
                break;
            }
            wait = (wait * 2).min(Duration::from_secs(5)).min(
                self.confirm
                    .deadline
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(10)),
            );
        }
        for item in waiting {
            let target = wanted.get(&item).map_or(0, |w| w.0);
            let seen = last_seen
                .get(&item)
                .map_or_else(|| "nothing".to_owned(), i64::to_string);
            for &i in wanted.get(&item).map(|w| &w.1).into_iter().flatten() {
                outcomes[i] = Some(WriteOutcome::Failed(format!(
                    "BigCommerce accepted quantity {target} but still shows {seen} after {} s (a sale in between, or a slow inventory queue); the next run checks it again",
                    self.confirm.deadline.as_secs()
                )));
            }
        }
        Ok(())
    }
}
