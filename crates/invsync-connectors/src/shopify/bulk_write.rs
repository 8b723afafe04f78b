//! Price writes as one bulk mutation (issue 17, ADR 0110): above `bulk_write_above` price
//! changes, every product's `productVariantsBulkUpdate` becomes one line of a JSONL file
//! that Shopify runs on its side, without the app's cost points
//! (shopify.dev/docs/api/usage/bulk-operations/imports):
//!
//! 1. `stagedUploadsCreate(resource: BULK_MUTATION_VARIABLES)` gives an upload target;
//! 2. the JSONL of variables is POSTed there as a multipart form (the issued parameters,
//!    then the file); the `key` parameter is the `stagedUploadPath`;
//! 3. `bulkOperationRunMutation(mutation, stagedUploadPath, clientIdentifier)` starts it;
//! 4. the operation is polled (`node(id:)`) until it ends or the run's wait is over;
//! 5. its result file has one line per input line, `{"data": …, "__lineNumber": n}` or
//!    `errors`: each line becomes the outcome of that product's writes.
//!
//! Nothing is reported applied that the result file does not confirm: a price is applied
//! when its line's `productVariants` hold it and no `userErrors` name it. An operation
//! that fails, is cancelled or expires leaves every write its partial data does not
//! confirm failed with the reason. An operation still running when the run's wait is over
//! outlives the run: its writes fail as "not confirmed yet", and the next run finds it
//! (`currentBulkOperation(type: MUTATION)`, recognised by its mutation text: 2025-01 has
//! no field returning the `clientIdentifier`) and reads its result instead of sending the
//! same prices again.

use super::{ShopifyConnection, documents, vendor};
use crate::{ConnectorError, ErrorKind, Write, WriteOutcome};
use invsync_core::FieldValue;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// How long a run waits for its bulk price write (or one an earlier run left running)
/// before leaving it to the next run (ADR 0110): the run's quantities were written before
/// it, and the next tick's quantities wait at most this long for the run to end.
pub(super) const BULK_WRITE_WAIT: Duration = Duration::from_secs(300);

/// The most price writes one bulk mutation carries: 100,000 lines of ~120 bytes are a
/// 12 MB file, well inside what a staged upload takes; more go in a second one.
pub(super) const BULK_WRITE_MAX: usize = 100_000;

/// What a result file (or partial data) says, per product line and per variant.
#[derive(Debug, Default)]
struct BulkResult {
    /// Variant GID → the price Shopify answered for it.
    confirmed: HashMap<String, Decimal>,
    /// Line number → errors: `(variant index within the line, message)`; `None` for the
    /// whole line.
    errors: HashMap<usize, Vec<(Option<usize>, String)>>,
}

impl BulkResult {
    fn parse(text: &str) -> BulkResult {
        let mut result = BulkResult::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // A line that cannot be read confirms nothing: its writes stay unconfirmed.
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(n) = value["__lineNumber"].as_u64().map(|n| n as usize) else {
                continue;
            };
            let mut errors = Vec::new();
            for e in value["errors"].as_array().into_iter().flatten() {
                let message = e["message"].as_str().unwrap_or("error").to_owned();
                errors.push((None, message));
            }
            let payload = &value["data"]["productVariantsBulkUpdate"];
            let user_errors: Vec<vendor::UserError> =
                serde_json::from_value(payload["userErrors"].clone()).unwrap_or_default();
            for e in &user_errors {
                errors.push((e.variant_index(), e.describe()));
            }
            for v in payload["productVariants"].as_array().into_iter().flatten() {
                if let (Some(id), Some(price)) = (
                    v["id"].as_str(),
                    v["price"].as_str().and_then(|p| Decimal::from_str(p).ok()),
                ) {
                    result.confirmed.insert(id.to_owned(), price);
                }
            }
            if !errors.is_empty() {
                result.errors.insert(n, errors);
            }
        }
        result
    }

    fn confirms(&self, w: &Write) -> bool {
        match w.new {
            FieldValue::Price(p) => self.confirmed.get(w.id.as_str()) == Some(&p),
            FieldValue::Quantity(_) => false,
        }
    }
}

/// One line of the JSONL: one product's price writes.
struct Line<'a> {
    product: String,
    writes: Vec<(usize, &'a Write)>,
}

/// How an operation ended, as far as this run saw it.
enum Ending {
    /// COMPLETED, FAILED, CANCELED or EXPIRED, with what its files said.
    Finished {
        op: Box<vendor::BulkOperation>,
        result: BulkResult,
    },
    /// Still running when the run's wait was over.
    StillRunning(String),
}

impl ShopifyConnection {
    /// Whether this many price changes of a run go as one bulk mutation.
    pub(super) fn writes_prices_in_bulk(&self, prices: usize) -> bool {
        prices as u64 > self.config.bulk_write_above
    }

    /// Once per connection (a run), before its first price write: a bulk price write an
    /// earlier run left running (or a crash interrupted) is waited for and its result read.
    /// Writes it confirms are applied and not sent again; the rest are returned to be
    /// written. While it is still running, nothing is sent (its lines may set the same
    /// variants): the writes fail as not sent, and the next run looks again.
    pub(super) async fn settle_earlier_bulk<'a>(
        &self,
        writes: Vec<(usize, &'a Write)>,
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<Vec<(usize, &'a Write)>, ConnectorError> {
        if writes.is_empty() {
            return Ok(writes);
        }
        {
            let mut checked = self.bulk_checked.lock().await;
            if *checked {
                return Ok(writes);
            }
            *checked = true;
        }
        let data = self
            .client
            .call(
                "CurrentBulkMutation",
                documents::CURRENT_BULK_MUTATION,
                json!({}),
                true,
            )
            .await?;
        let current: Option<vendor::BulkOperation> =
            serde_json::from_value(data["currentBulkOperation"].clone()).ok();
        // Only invsync's own price write counts (another tool using this app's token may
        // run its own: a new operation is then refused while it runs, and that says so).
        let Some(op) = current.filter(|op| {
            op.query.as_deref().map(str::trim) == Some(documents::BULK_SET_PRICES.trim())
        }) else {
            return Ok(writes);
        };
        let ending = if matches!(op.status.as_str(), "CREATED" | "RUNNING" | "CANCELING") {
            tracing::info!(
                store = %self.name,
                operation = %op.id,
                "an earlier run's bulk price write is still running; waiting for it before writing prices"
            );
            self.await_bulk(&op.id).await?
        } else {
            // Finished before this run read the catalog: the read saw what it did, and a
            // price that differs now was changed since — it must be written. Finished
            // after the read began: the read may predate it, and its result says what it
            // set.
            let read_started = *self
                .read_started
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match (op.completed_at, read_started) {
                (Some(done), Some(read)) if done >= read => self.finished(op).await?,
                _ => return Ok(writes),
            }
        };
        match ending {
            Ending::Finished { result, .. } => {
                let mut rest = Vec::with_capacity(writes.len());
                for (i, w) in writes {
                    if result.confirms(w) {
                        outcomes[i] = Some(WriteOutcome::Applied);
                    } else {
                        rest.push((i, w));
                    }
                }
                Ok(rest)
            }
            Ending::StillRunning(id) => {
                let message = format!(
                    "not sent: invsync's bulk price write {id} from an earlier run is still running in Shopify; the next run reads its result and writes what still differs"
                );
                for (i, _) in writes {
                    outcomes[i] = Some(WriteOutcome::Failed(message.clone()));
                }
                Ok(Vec::new())
            }
        }
    }

    /// Writes these prices with one bulk mutation and records each write's outcome from
    /// the result file. `Err` only while nothing can have been applied (before the
    /// operation starts).
    pub(super) async fn write_prices_bulk(
        &self,
        by_product: &[(String, Vec<(usize, &Write)>)],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        let lines: Vec<Line<'_>> = by_product
            .iter()
            .map(|(product, writes)| Line {
                product: product.clone(),
                writes: writes.clone(),
            })
            .collect();
        if lines.is_empty() {
            return Ok(());
        }
        let writes: Vec<(usize, &Write)> = lines
            .iter()
            .flat_map(|l| l.writes.iter().copied())
            .collect();
        let mut jsonl = String::with_capacity(lines.len() * 120);
        for line in &lines {
            let variants: Vec<Value> = line
                .writes
                .iter()
                .map(|(_, w)| match w.new {
                    // Money is a string in Shopify's API ("100.57"), never a float.
                    FieldValue::Price(p) => json!({ "id": w.id.as_str(), "price": p.to_string() }),
                    FieldValue::Quantity(_) => json!({ "id": w.id.as_str() }),
                })
                .collect();
            jsonl.push_str(&json!({ "productId": line.product, "variants": variants }).to_string());
            jsonl.push('\n');
        }
        let path = self.stage(&jsonl).await?;
        // The run's write keys identify the operation: the intents the engine recorded
        // before this call hold them, so the run history names what this operation
        // carried even if the process dies while it runs.
        let keys: Vec<&str> = writes.iter().map(|(_, w)| w.key.as_str()).collect();
        let client_identifier = format!("invsync-prices:{}", super::batch_key(&keys));
        // Not retried on a timeout: a second start would be a second operation. Should the
        // answer be lost, the next run finds the operation running and waits for it.
        let data = self
            .client
            .call(
                "BulkRunMutation",
                documents::BULK_RUN_MUTATION,
                json!({
                    "mutation": documents::BULK_SET_PRICES,
                    "path": path,
                    "client": client_identifier,
                }),
                false,
            )
            .await?;
        let payload = &data["bulkOperationRunMutation"];
        let errors: Vec<vendor::UserError> =
            serde_json::from_value(payload["userErrors"].clone()).unwrap_or_default();
        if let Some(e) = errors.first() {
            let message = if e.code.as_deref() == Some("OPERATION_IN_PROGRESS") {
                format!(
                    "not sent: another bulk mutation is running on this shop for this app ({}), and API version {} runs one at a time; the next run tries again",
                    e.message, self.config.api_version
                )
            } else {
                format!(
                    "not sent: Shopify refused the bulk price write: {}",
                    e.describe()
                )
            };
            for (i, _) in &writes {
                outcomes[*i] = Some(WriteOutcome::Failed(message.clone()));
            }
            return Ok(());
        }
        let Some(id) = payload["bulkOperation"]["id"].as_str().map(str::to_owned) else {
            return Err(self.error(
                ErrorKind::Unavailable,
                "bulkOperationRunMutation answered without an operation",
            ));
        };
        tracing::info!(
            store = %self.name,
            operation = %id,
            client_identifier = %client_identifier,
            lines = lines.len(),
            "bulk price write started"
        );
        let ending = match self.await_bulk(&id).await {
            Ok(ending) => ending,
            Err(e) => {
                // Started, so possibly applied in part: every write fails with the reason
                // rather than the batch with `Err` (which promises nothing was applied).
                let message = format!(
                    "not confirmed: lost track of bulk price write {id} ({e}); the next run reads its result"
                );
                for (i, _) in &writes {
                    outcomes[*i] = Some(WriteOutcome::Failed(message.clone()));
                }
                return Ok(());
            }
        };
        let (result, unconfirmed) = match ending {
            Ending::Finished { op, result } if op.status == "COMPLETED" => (
                result,
                format!("bulk price write {id} completed without confirming this price"),
            ),
            Ending::Finished { op, result } => (
                result,
                format!(
                    "bulk price write {id} ended {} ({}) before confirming this price; the next run re-reads it and writes it if it still differs",
                    op.status,
                    op.error_code.as_deref().unwrap_or("no error code")
                ),
            ),
            Ending::StillRunning(_) => (
                BulkResult::default(),
                format!(
                    "not confirmed yet: bulk price write {id} is still running in Shopify after {} s; the next run reads its result and does not send it again",
                    self.bulk_wait.as_secs()
                ),
            ),
        };
        for (n, line) in lines.iter().enumerate() {
            let errors = result.errors.get(&n);
            for (at, (i, w)) in line.writes.iter().enumerate() {
                let mine: Vec<&str> = errors
                    .into_iter()
                    .flatten()
                    .filter(|(index, _)| index.is_none() || *index == Some(at))
                    .map(|(_, m)| m.as_str())
                    .collect();
                outcomes[*i] = Some(if !mine.is_empty() {
                    WriteOutcome::Failed(mine.join("; "))
                } else if result.confirms(w) {
                    WriteOutcome::Applied
                } else {
                    WriteOutcome::Failed(unconfirmed.clone())
                });
            }
        }
        Ok(())
    }

    /// Stages the JSONL of variables and returns its `stagedUploadPath`.
    async fn stage(&self, jsonl: &str) -> Result<String, ConnectorError> {
        let data = self
            .client
            .call(
                "StageUpload",
                documents::STAGE_UPLOAD,
                json!({ "input": [{
                    "resource": "BULK_MUTATION_VARIABLES",
                    "filename": "prices.jsonl",
                    "mimeType": "text/jsonl",
                    "httpMethod": "POST",
                }] }),
                true,
            )
            .await?;
        let payload = &data["stagedUploadsCreate"];
        if let Some(e) = payload["userErrors"].as_array().and_then(|e| e.first()) {
            return Err(self.error(
                ErrorKind::Other,
                format!(
                    "stagedUploadsCreate refused: {}",
                    e["message"].as_str().unwrap_or("no message")
                ),
            ));
        }
        let target = &payload["stagedTargets"][0];
        let parameters: Vec<(String, String)> = target["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p["name"].as_str()?.to_owned(),
                    p["value"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let (Some(url), Some(path)) = (
            target["url"].as_str(),
            parameters
                .iter()
                .find(|(n, _)| n == "key")
                .map(|(_, v)| v.clone()),
        ) else {
            return Err(self.error(
                ErrorKind::Unavailable,
                "stagedUploadsCreate answered without an upload URL and key",
            ));
        };
        self.client.upload(url, &parameters, jsonl).await?;
        Ok(path)
    }

    /// Polls the operation until it ends or the wait is over, and reads what its files
    /// say (the result, or a failed operation's partial data).
    async fn await_bulk(&self, id: &str) -> Result<Ending, ConnectorError> {
        let started = tokio::time::Instant::now();
        let mut wait = super::BULK_POLL_FIRST;
        let op = loop {
            let op = self
                .bulk_operation("BulkMutationPoll", documents::BULK_MUTATION_POLL, id)
                .await?;
            if !matches!(op.status.as_str(), "CREATED" | "RUNNING" | "CANCELING") {
                break op;
            }
            if started.elapsed() >= self.bulk_wait {
                return Ok(Ending::StillRunning(id.to_owned()));
            }
            tokio::time::sleep(wait.min(self.bulk_wait.saturating_sub(started.elapsed()))).await;
            wait = (wait * 2).min(super::BULK_POLL_MAX);
        };
        self.finished(op).await
    }

    /// What a finished operation's files say: its result, or a failed or cancelled one's
    /// partial data; nothing when it expired.
    async fn finished(&self, op: vendor::BulkOperation) -> Result<Ending, ConnectorError> {
        let file = op.url.as_deref().or(op.partial_data_url.as_deref());
        let result = match file {
            Some(url) => BulkResult::parse(&self.client.download(url).await?),
            // EXPIRED, or ended before any line: nothing is confirmed.
            None => BulkResult::default(),
        };
        Ok(Ending::Finished {
            op: Box::new(op),
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_confirm_prices_and_place_errors() {
        let text = concat!(
            r#"{"data":{"productVariantsBulkUpdate":{"productVariants":[{"id":"gid://shopify/ProductVariant/1","price":"12.50"}],"userErrors":[]}},"__lineNumber":0}"#,
            "\n",
            r#"{"data":{"productVariantsBulkUpdate":{"productVariants":[],"userErrors":[{"code":"NEGATIVE_PRICE_VALUE","field":["variants","0","price"],"message":"Price can't be negative"}]}},"__lineNumber":1}"#,
            "\n",
            r#"{"errors":[{"message":"Internal error"}],"__lineNumber":2}"#,
            "\nnot json\n"
        );
        let r = BulkResult::parse(text);
        assert_eq!(
            r.confirmed.get("gid://shopify/ProductVariant/1"),
            Some(&Decimal::from_str("12.5").expect("decimal"))
        );
        assert_eq!(
            r.errors.get(&1),
            Some(&vec![(
                Some(0),
                "Price can't be negative (NEGATIVE_PRICE_VALUE)".to_owned()
            )])
        );
        assert_eq!(
            r.errors.get(&2),
            Some(&vec![(None, "Internal error".to_owned())])
        );
    }
}
