//! The seam between a Web Connector session ([`super::bridge`]) and the XML it speaks:
//! [`Dialect`]. The bridge decides *what* a session does and in which order (markers of
//! lost adjustments, posted orders, the whole read, then the waiting runs' writes and
//! re-reads); a dialect decides *which requests* say it and *how answers parse* into
//! records and per-write outcomes. QuickBooks Desktop's qbXML 13.0 is [`DesktopDialect`];
//! QuickBooks POS's qbposXML 3.0 implements the same trait (issue 15 item 11) and plugs
//! into the same bridge.
//!
//! Every method is pure text in, text out: no I/O, no session state beyond what it is
//! handed, so each can be tested against the company fakes without an endpoint.

use super::request::{
    AdjustmentAdd, AdjustmentLine, AdjustmentMarker, ItemList, ItemQuery, MAX_REF_NUMBER,
    MessageSet, PriceMod, RefQuery, Selection, TxnKind,
};
use super::response::{Response, parse_response_set};
use super::status::{Next, Outcome, classify};
use super::{HResult, SkuField};
use crate::{Reject, Write};
use invsync_core::{FieldValue, Record};
use std::collections::{BTreeMap, HashSet};

/// One item of a read, as the bridge keeps it for the rest of the session: the record the
/// engine sees and the dialect's own handle for writing it (Desktop: which item list and
/// the `EditSequence` it was read at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptItem {
    pub record: Record,
    pub handle: String,
}

/// Where a whole read is: the dialect's step (Desktop: which item list) and the iterator
/// that continues it. `ReadCursor::default()` starts a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadCursor {
    pub step: usize,
    pub iterator: Option<String>,
    /// Items the iterator says are left (progress).
    pub remaining: u64,
}

/// One page of a read.
#[derive(Debug, Clone, Default)]
pub struct ReadPage {
    pub items: Vec<KeptItem>,
    pub rejects: Vec<Reject>,
    /// `None`: the read is complete.
    pub next: Option<ReadCursor>,
    /// QuickBooks' warnings (500-range): the data stands, the session logs them.
    pub warnings: Vec<String>,
}

/// What became of one write sent in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// Done; with the item as QuickBooks now has it when the answer says (a mod's new
    /// `EditSequence`).
    Applied(Option<KeptItem>),
    /// Changed in QuickBooks since it was read (`3200`): re-read and plan again.
    Stale(String),
    /// Refused; the message says what to do.
    Failed(String),
    /// Not done now (a lock, `3170`–`3180`, or `3231`): sent again in the next session,
    /// checked against that session's read.
    Retry(String),
}

/// A failure of a whole message set: the session cannot go on with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DialectError {
    pub message: String,
    /// The read must start again from the beginning (its iterator died, `3391`).
    pub restart_read: bool,
}

impl DialectError {
    fn new(message: impl Into<String>) -> DialectError {
        DialectError {
            message: message.into(),
            restart_read: false,
        }
    }
}

/// A message set for some writes: the text, and for each write either the request that
/// carries it or why it was not sent.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// `None` when none of the writes could be sent.
    pub text: Option<String>,
    /// Per write, in order: `Ok(requestID)` or `Err(why not sent)`.
    pub slots: Vec<Result<String, String>>,
}

/// What a QuickBooks flavour says on the wire. See the module comment.
pub trait Dialect: Send + Sync {
    /// "QuickBooks Desktop", "QuickBooks POS" (messages).
    fn product(&self) -> &'static str;

    /// The message set of the next page of a whole read.
    fn read_request(&self, cursor: &ReadCursor) -> Result<String, DialectError>;

    /// Parses the answer to [`Dialect::read_request`].
    fn read_response(&self, cursor: &ReadCursor, text: &str) -> Result<ReadPage, DialectError>;

    /// The message set re-reading these items (after `3200`).
    fn reread_request(&self, items: &[&KeptItem]) -> Result<String, DialectError>;

    /// Parses the answer to [`Dialect::reread_request`]: the items found.
    fn reread_response(&self, text: &str) -> Result<Vec<KeptItem>, DialectError>;

    /// The message set asking which of these references are on posted documents; `None`
    /// when none of them can be (too long for the field).
    fn posted_request(&self, refs: &[String]) -> Option<String>;

    /// Parses the answer to [`Dialect::posted_request`]: the references found.
    fn posted_response(&self, text: &str) -> Result<HashSet<String>, DialectError>;

    /// The message set looking for quantity writes whose answer was lost, by the marker
    /// tied to their write keys.
    fn markers_request(&self, keys: &[String]) -> Option<String>;

    /// Parses the answer to [`Dialect::markers_request`]: per key, whether its write is in
    /// the company file.
    fn markers_response(&self, keys: &[String], text: &str) -> Result<Vec<bool>, DialectError>;

    /// The message set carrying these writes, each against the item as this session read
    /// it (values equal `old`: the bridge checked).
    fn write_request(&self, writes: &[(&Write, &KeptItem)]) -> WriteBatch;

    /// Parses the answer to a [`WriteBatch`]: one result per slot that was sent.
    fn write_response(
        &self,
        writes: &[(&Write, &KeptItem)],
        batch: &WriteBatch,
        text: &str,
    ) -> Result<Vec<Option<WriteResult>>, DialectError>;

    /// Words for a COM error the Web Connector reported instead of an answer.
    fn hresult(&self, request: &str, code: &str, message: &str) -> String;
}

/// QuickBooks Desktop, qbXML 13.0 ([`super::request`], [`super::response`],
/// [`super::status`]).
#[derive(Debug, Clone)]
pub struct DesktopDialect {
    pub sku_field: SkuField,
    pub max_returned: u32,
    /// `adjustment_account`: needed for quantity writes.
    pub adjustment_account: Option<String>,
    pub site: Option<String>,
}

/// The lists a whole read goes through, in order: inventory items, assemblies, groups
/// (`base`).
const READ_LISTS: [ItemList; 3] = [ItemList::Inventory, ItemList::Assembly, ItemList::Group];

fn list_code(list: ItemList) -> &'static str {
    match list {
        ItemList::Inventory => "I",
        ItemList::Assembly => "A",
        ItemList::Group => "G",
    }
}

fn list_of(handle: &str) -> Option<(ItemList, &str)> {
    let (code, edit) = handle.split_once('|')?;
    let list = match code {
        "I" => ItemList::Inventory,
        "A" => ItemList::Assembly,
        "G" => ItemList::Group,
        _ => return None,
    };
    Some((list, edit))
}

fn one_set(request: impl Into<super::Request>) -> Result<String, DialectError> {
    let mut set = MessageSet::new();
    set.push(request)
        .map_err(|e| DialectError::new(format!("invsync could not write its request: {e}")))?;
    Ok(set.to_xml())
}

fn parse(text: &str) -> Result<super::ResponseSet, DialectError> {
    parse_response_set(text).map_err(|e| DialectError::new(e.to_string()))
}

/// A response's status as an error of the whole message set (an empty answer and
/// warnings are fine).
fn check_status(response: &Response, warnings: &mut Vec<String>) -> Result<(), DialectError> {
    outcome_error(classify(&response.status, &response.element), warnings)
}

/// An outcome as an error of the whole message set (an empty answer and warnings are
/// fine) — the same for every dialect.
pub(crate) fn outcome_error(
    outcome: Outcome,
    warnings: &mut Vec<String>,
) -> Result<(), DialectError> {
    match outcome {
        Outcome::Ok | Outcome::NoMatch => Ok(()),
        Outcome::Warning(w) => {
            warnings.push(w);
            Ok(())
        }
        Outcome::Error(e) => Err(DialectError {
            restart_read: e.next == Next::RestartIterator,
            message: e.to_string(),
        }),
    }
}

/// What became of each sent write of `batch`, from `answer`: the outcome of the response to
/// a request id and the item it carries (`None`: no response to that request) — the same
/// for every dialect.
pub(crate) fn write_results(
    batch: &WriteBatch,
    product: &str,
    answer: impl Fn(&str) -> Option<(Outcome, Option<KeptItem>)>,
) -> Vec<Option<WriteResult>> {
    batch
        .slots
        .iter()
        .map(|slot| {
            let id = slot.as_ref().ok()?;
            let Some((outcome, item)) = answer(id) else {
                return Some(WriteResult::Failed(format!(
                    "{product} did not answer request {id}; the next run plans it again"
                )));
            };
            Some(match outcome {
                Outcome::Ok | Outcome::NoMatch | Outcome::Warning(_) => WriteResult::Applied(item),
                Outcome::Error(e) if e.next == Next::ReReadAndPlan => {
                    WriteResult::Stale(e.to_string())
                }
                Outcome::Error(e) if e.next == Next::RetryNextSession => {
                    WriteResult::Retry(e.to_string())
                }
                Outcome::Error(e) => WriteResult::Failed(e.to_string()),
            })
        })
        .collect()
}

impl DesktopDialect {
    fn kept(
        &self,
        items: &[Result<super::Item, super::ItemError>],
    ) -> (Vec<KeptItem>, Vec<Reject>) {
        let mut kept = Vec::with_capacity(items.len());
        let mut rejects = Vec::new();
        for item in items {
            match item.as_ref().map(|i| (i, i.to_record(self.sku_field))) {
                Ok((item, Ok(record))) => kept.push(KeptItem {
                    record,
                    handle: format!(
                        "{}|{}",
                        list_code(item.list),
                        item.edit_sequence.as_deref().unwrap_or_default()
                    ),
                }),
                Ok((item, Err(e))) => rejects.push(Reject {
                    sku: Some(item.name.clone()),
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
}

impl Dialect for DesktopDialect {
    fn product(&self) -> &'static str {
        "QuickBooks Desktop"
    }

    fn read_request(&self, cursor: &ReadCursor) -> Result<String, DialectError> {
        let list = READ_LISTS
            .get(cursor.step)
            .copied()
            .ok_or_else(|| DialectError::new("the read has no such step"))?;
        let query = match &cursor.iterator {
            None => ItemQuery::start(list, self.max_returned, self.sku_field),
            Some(id) => ItemQuery::next_page(list, id, self.max_returned, self.sku_field),
        };
        one_set(query)
    }

    fn read_response(&self, cursor: &ReadCursor, text: &str) -> Result<ReadPage, DialectError> {
        let set = parse(text)?;
        let response = set
            .responses
            .first()
            .ok_or_else(|| DialectError::new("QuickBooks answered the item read with nothing"))?;
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
            _ if cursor.step + 1 < READ_LISTS.len() => Some(ReadCursor {
                step: cursor.step + 1,
                iterator: None,
                remaining: 0,
            }),
            _ => None,
        };
        Ok(page)
    }

    fn reread_request(&self, items: &[&KeptItem]) -> Result<String, DialectError> {
        let mut by_list: BTreeMap<&str, (ItemList, Vec<String>)> = BTreeMap::new();
        for item in items {
            if let Some((list, _)) = list_of(&item.handle) {
                by_list
                    .entry(list_code(list))
                    .or_insert_with(|| (list, Vec::new()))
                    .1
                    .push(item.record.id.to_string());
            }
        }
        let mut set = MessageSet::new();
        for (_, (list, ids)) in by_list {
            set.push(ItemQuery {
                list,
                selection: Selection::ListIds(ids),
                sku_field: self.sku_field,
            })
            .map_err(|e| DialectError::new(format!("invsync could not write its request: {e}")))?;
        }
        Ok(set.to_xml())
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
        // Longer references cannot be on any document (RefNumber is at most 11 characters).
        let refs: Vec<String> = refs
            .iter()
            .filter(|r| !r.is_empty() && r.chars().count() <= MAX_REF_NUMBER)
            .cloned()
            .collect();
        if refs.is_empty() {
            return None;
        }
        let mut set = MessageSet::new();
        for kind in [TxnKind::SalesReceipt, TxnKind::Invoice] {
            let query = RefQuery {
                kind,
                ref_numbers: refs.clone(),
            };
            if let Err(e) = set.push(query) {
                tracing::warn!(error = %e, "cannot ask QuickBooks for posted orders");
                return None;
            }
        }
        Some(set.to_xml())
    }

    fn posted_response(&self, text: &str) -> Result<HashSet<String>, DialectError> {
        let set = parse(text)?;
        let mut found = HashSet::new();
        for response in &set.responses {
            check_status(response, &mut Vec::new())?;
            found.extend(
                response
                    .transactions
                    .iter()
                    .filter_map(|t| t.ref_number.as_deref())
                    .map(|r| r.trim().to_owned()),
            );
        }
        Ok(found)
    }

    fn markers_request(&self, keys: &[String]) -> Option<String> {
        if keys.is_empty() {
            return None;
        }
        one_set(RefQuery {
            kind: TxnKind::InventoryAdjustment,
            ref_numbers: keys
                .iter()
                .map(|k| AdjustmentMarker::for_write_key(k).ref_number)
                .collect(),
        })
        .ok()
    }

    fn markers_response(&self, keys: &[String], text: &str) -> Result<Vec<bool>, DialectError> {
        let set = parse(text)?;
        let response = set.responses.first().ok_or_else(|| {
            DialectError::new("QuickBooks answered the adjustment look-up with nothing")
        })?;
        check_status(response, &mut Vec::new())?;
        Ok(keys
            .iter()
            .map(|k| {
                let marker = AdjustmentMarker::for_write_key(k);
                response
                    .transactions
                    .iter()
                    .any(|t| marker.matches(t.ref_number.as_deref(), t.memo.as_deref()))
            })
            .collect())
    }

    fn write_request(&self, writes: &[(&Write, &KeptItem)]) -> WriteBatch {
        let mut set = MessageSet::new();
        let mut slots = Vec::with_capacity(writes.len());
        for (write, item) in writes {
            let Some((list, edit_sequence)) = list_of(&item.handle) else {
                slots.push(Err("invsync lost this item's list (a bug)".to_owned()));
                continue;
            };
            let pushed = match (write.new, item.record.quantity) {
                (FieldValue::Price(price), _) => set.push(PriceMod {
                    list,
                    list_id: item.record.id.to_string(),
                    edit_sequence: edit_sequence.to_owned(),
                    sales_price: price,
                }),
                (FieldValue::Quantity(new), current) => {
                    let Some(account) = &self.adjustment_account else {
                        slots.push(Err("QuickBooks quantities are written as inventory adjustments, which need accounting.adjustment_account".to_owned()));
                        continue;
                    };
                    let difference = new - current.unwrap_or(0);
                    set.push(AdjustmentAdd {
                        account: account.clone(),
                        site: self.site.clone(),
                        marker: AdjustmentMarker::for_write_key(&write.key),
                        lines: vec![AdjustmentLine {
                            list_id: item.record.id.to_string(),
                            quantity_difference: difference.into(),
                        }],
                    })
                }
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
        Ok(write_results(batch, "QuickBooks", |id| {
            let response = set.get(id)?;
            Some((
                classify(&response.status, &response.element),
                self.kept(&response.items).0.into_iter().next(),
            ))
        }))
    }

    fn hresult(&self, request: &str, code: &str, message: &str) -> String {
        match HResult::parse(code) {
            Some(h) => h.classify(request, message).to_string(),
            None => format!("QuickBooks answered with error {code}: {message}"),
        }
    }
}
