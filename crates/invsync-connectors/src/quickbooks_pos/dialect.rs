//! QuickBooks POS as a [`Dialect`] of the Web Connector bridge (ADR 0080, 0081): the same
//! sessions as Desktop — lost memos looked up by marker, posted orders, the whole read,
//! then the waiting runs' writes — said in qbposXML 3.0.
//!
//! What differs from [`DesktopDialect`](crate::quickbooks_desktop::DesktopDialect): one
//! item list (one read step); no `EditSequence`, so a [`KeptItem`]'s handle is empty and a
//! price mod is never `Stale` from POS (the bridge still refuses a write whose value
//! changed between the snapshot and this session's read); quantities are written as the
//! new quantity (`NewQuantity`), not a difference; posted orders and markers are found by
//! `Comments`/`TrackingNumber` filters, one value per request.

use super::request::{
    AdjustmentLine, AdjustmentLookup, AdjustmentMarker, ItemQuery, MessageSet, PriceMod,
    QtyAdjustment, ReceiptLookup, ReceiptRefField, Request, Selection,
};
use super::response::{Item, ItemError, Response, ResponseSet, parse_response_set};
use super::status::{classify, classify_hresult};
use super::{HResult, SkuField, StockScope};
use crate::quickbooks_desktop::dialect::{
    Dialect, DialectError, KeptItem, ReadCursor, ReadPage, WriteBatch, WriteResult, outcome_error,
    write_results,
};
use crate::{Reject, Write};
use invsync_core::FieldValue;
use std::collections::HashSet;

/// QuickBooks POS, qbposXML 3.0.
#[derive(Debug, Clone)]
pub struct PosDialect {
    pub sku_field: SkuField,
    pub scope: StockScope,
    pub max_returned: u32,
    /// `Reason` of the memos (`adjustment_reason`).
    pub adjustment_reason: String,
    /// Where receipts carry an order's reference (`order_ref_field`).
    pub order_ref_field: ReceiptRefField,
}

impl PosDialect {
    /// The dialect of a configured accounting side.
    pub fn from_config(config: &invsync_config::QuickBooksPosConfig) -> PosDialect {
        PosDialect {
            sku_field: match config.sku_field {
                invsync_config::PosSkuField::Alu => SkuField::Alu,
                invsync_config::PosSkuField::ItemNumber => SkuField::ItemNumber,
                invsync_config::PosSkuField::Upc => SkuField::Upc,
            },
            scope: config
                .store_number
                .map_or(StockScope::Company, StockScope::Store),
            max_returned: config.max_returned,
            adjustment_reason: config.adjustment_reason.clone(),
            order_ref_field: match config.order_ref_field {
                invsync_config::PosOrderRefField::Comments => ReceiptRefField::Comments,
                invsync_config::PosOrderRefField::TrackingNumber => ReceiptRefField::TrackingNumber,
            },
        }
    }

    fn kept(&self, items: &[Result<Item, ItemError>]) -> (Vec<KeptItem>, Vec<Reject>) {
        let mut kept = Vec::with_capacity(items.len());
        let mut rejects = Vec::new();
        for item in items {
            match item
                .as_ref()
                .map(|i| (i, i.to_record(self.sku_field, self.scope)))
            {
                Ok((_, Ok(record))) => kept.push(KeptItem {
                    record,
                    handle: String::new(),
                }),
                Ok((item, Err(e))) => rejects.push(Reject {
                    sku: item.desc1.clone(),
                    id: Some(item.list_id.clone()),
                    error: e.to_string(),
                }),
                Err(e) => rejects.push(Reject {
                    sku: e.name.clone(),
                    id: e.list_id.clone(),
                    error: e.to_string(),
                }),
            }
        }
        (kept, rejects)
    }

    /// A message set of these requests (one per value where a filter takes one value).
    fn set_of(&self, requests: Vec<Request>) -> Result<String, DialectError> {
        let mut set = MessageSet::new();
        for request in requests {
            set.push(request)
                .map_err(|e| dialect_error(format!("invsync could not write its request: {e}")))?;
        }
        Ok(set.to_xml())
    }
}

fn dialect_error(message: impl Into<String>) -> DialectError {
    DialectError {
        message: message.into(),
        restart_read: false,
    }
}

fn parse(text: &str) -> Result<ResponseSet, DialectError> {
    parse_response_set(text).map_err(|e| dialect_error(e.to_string()))
}

/// A response's status as an error of the whole message set (an empty answer and
/// warnings are fine).
fn check_status(response: &Response, warnings: &mut Vec<String>) -> Result<(), DialectError> {
    outcome_error(classify(&response.status, &response.element), warnings)
}

impl Dialect for PosDialect {
    fn product(&self) -> &'static str {
        "QuickBooks POS"
    }

    fn read_request(&self, cursor: &ReadCursor) -> Result<String, DialectError> {
        if cursor.step != 0 {
            return Err(dialect_error("the read has no such step"));
        }
        let query = match &cursor.iterator {
            None => ItemQuery::start(self.max_returned, self.sku_field, self.scope),
            Some(id) => ItemQuery::next_page(id, self.max_returned, self.sku_field, self.scope),
        };
        self.set_of(vec![query.into()])
    }

    fn read_response(&self, cursor: &ReadCursor, text: &str) -> Result<ReadPage, DialectError> {
        let set = parse(text)?;
        let response = set
            .responses
            .first()
            .ok_or_else(|| dialect_error("QuickBooks POS answered the item read with nothing"))?;
        let mut page = ReadPage::default();
        check_status(response, &mut page.warnings)?;
        let (items, rejects) = self.kept(&response.items);
        page.items = items;
        page.rejects = rejects;
        page.next = match &response.iterator {
            Some(it) if it.remaining > 0 => Some(ReadCursor {
                step: cursor.step,
                iterator: Some(it.id.clone()),
                remaining: it.remaining,
            }),
            _ => None,
        };
        Ok(page)
    }

    fn reread_request(&self, items: &[&KeptItem]) -> Result<String, DialectError> {
        // `ListID` is not repeatable in a POS item query: one request per item.
        self.set_of(
            items
                .iter()
                .map(|item| {
                    ItemQuery {
                        selection: Selection::ListId(item.record.id.to_string()),
                        sku_field: self.sku_field,
                        scope: self.scope,
                    }
                    .into()
                })
                .collect(),
        )
    }

    fn reread_response(&self, text: &str) -> Result<Vec<KeptItem>, DialectError> {
        let set = parse(text)?;
        let mut found = Vec::new();
        for response in &set.responses {
            check_status(response, &mut Vec::new())?;
            found.extend(self.kept(&response.items).0);
        }
        Ok(found)
    }

    fn posted_request(&self, refs: &[String]) -> Option<String> {
        // Longer references cannot be in the field (POS keeps no more).
        let requests: Vec<Request> = refs
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty() && r.chars().count() <= self.order_ref_field.max_len())
            .map(|reference| {
                ReceiptLookup {
                    field: self.order_ref_field,
                    reference: reference.to_owned(),
                }
                .into()
            })
            .collect();
        if requests.is_empty() {
            return None;
        }
        match self.set_of(requests) {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask QuickBooks POS for posted orders");
                None
            }
        }
    }

    fn posted_response(&self, text: &str) -> Result<HashSet<String>, DialectError> {
        let set = parse(text)?;
        let mut found = HashSet::new();
        for response in &set.responses {
            check_status(response, &mut Vec::new())?;
            found.extend(
                response
                    .receipts
                    .iter()
                    // A reversed sale gave its stock back: the order is not in POS.
                    .filter(|r| r.stands())
                    .filter_map(|r| match self.order_ref_field {
                        ReceiptRefField::Comments => r.comments.as_deref(),
                        ReceiptRefField::TrackingNumber => r.tracking_number.as_deref(),
                    })
                    .map(|r| r.trim().to_owned()),
            );
        }
        Ok(found)
    }

    fn markers_request(&self, keys: &[String]) -> Option<String> {
        if keys.is_empty() {
            return None;
        }
        self.set_of(
            keys.iter()
                .map(|k| {
                    AdjustmentLookup {
                        marker: AdjustmentMarker::for_write_key(k),
                    }
                    .into()
                })
                .collect(),
        )
        .ok()
    }

    fn markers_response(&self, keys: &[String], text: &str) -> Result<Vec<bool>, DialectError> {
        let set = parse(text)?;
        keys.iter()
            .enumerate()
            .map(|(n, key)| {
                // Requests were numbered 1.. in the order of `keys`.
                let response = set
                    .get(&(n + 1).to_string())
                    .ok_or_else(|| dialect_error("QuickBooks POS did not answer a memo look-up"))?;
                check_status(response, &mut Vec::new())?;
                let marker = AdjustmentMarker::for_write_key(key);
                Ok(response
                    .adjustments
                    .iter()
                    .any(|a| marker.matches(a.comments.as_deref())))
            })
            .collect()
    }

    fn write_request(&self, writes: &[(&Write, &KeptItem)]) -> WriteBatch {
        let mut set = MessageSet::new();
        let mut slots = Vec::with_capacity(writes.len());
        for (write, item) in writes {
            let list_id = item.record.id.to_string();
            let pushed = match write.new {
                FieldValue::Price(price) => set.push(PriceMod { list_id, price }),
                FieldValue::Quantity(new_quantity) => set.push(QtyAdjustment {
                    reason: self.adjustment_reason.clone(),
                    scope: self.scope,
                    marker: AdjustmentMarker::for_write_key(&write.key),
                    lines: vec![AdjustmentLine {
                        list_id,
                        new_quantity,
                    }],
                }),
            };
            slots.push(pushed.map(|id| id.to_string()).map_err(|e| e.to_string()));
        }
        WriteBatch {
            text: (!set.is_empty()).then(|| set.to_xml()),
            slots,
        }
    }

    fn write_response(
        &self,
        _writes: &[(&Write, &KeptItem)],
        batch: &WriteBatch,
        text: &str,
    ) -> Result<Vec<Option<WriteResult>>, DialectError> {
        let set = parse(text)?;
        // The answer carries only `ListID` and `Price1` (or the memo): the bridge keeps the
        // item it read, with the written value. A lock (`3170`–`3180`) waits for the next
        // session, as on Desktop.
        Ok(write_results(batch, self.product(), |id| {
            let response = set.get(id)?;
            Some((classify(&response.status, &response.element), None))
        }))
    }

    fn hresult(&self, request: &str, code: &str, message: &str) -> String {
        match HResult::parse(code) {
            Some(h) => classify_hresult(h, request, message).to_string(),
            None => format!("QuickBooks POS answered with error {code}: {message}"),
        }
    }
}
