//! QuickBooks Online's JSON, as far as invsync reads and writes it. Private to this
//! module; element names follow Finance.xsd / IntuitRestServiceDef.xsd.
//!
//! Numbers are never `f64`: `UnitPrice` and `QtyOnHand` are read as their literal JSON
//! text (`RawValue`) and parsed as `Decimal`; numbers sent are written from a
//! `Decimal`'s text the same way.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::str::FromStr;

/// `{"QueryResponse": {...}, "time": ...}` or `{"Fault": ...}`.
#[derive(Debug, Deserialize)]
pub(super) struct QueryEnvelope {
    #[serde(rename = "QueryResponse")]
    pub response: Option<QueryResponse>,
    #[serde(rename = "Fault", alias = "fault")]
    pub fault: Option<Fault>,
}

/// Entities come under their own name; an empty result is `{}` (no entity key).
#[derive(Debug, Default, Deserialize)]
pub(super) struct QueryResponse {
    /// Items stay raw so that one bad item fails alone (a reject), not the page.
    #[serde(rename = "Item", default)]
    pub items: Vec<Box<RawValue>>,
    #[serde(rename = "SalesReceipt", default)]
    pub sales_receipts: Vec<DocJson>,
    #[serde(rename = "Invoice", default)]
    pub invoices: Vec<DocJson>,
    #[serde(rename = "totalCount")]
    pub total_count: Option<u64>,
}

/// The part of a SalesReceipt or Invoice that tells whether an order is posted.
#[derive(Debug, Deserialize)]
pub(super) struct DocJson {
    #[serde(rename = "DocNumber")]
    pub doc_number: Option<String>,
}

/// An Item as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ItemJson {
    pub id: Option<String>,
    pub sync_token: Option<String>,
    pub name: Option<String>,
    pub sku: Option<String>,
    pub active: Option<bool>,
    #[serde(rename = "Type")]
    pub item_type: Option<String>,
    pub track_qty_on_hand: Option<bool>,
    pub unit_price: Option<Box<RawValue>>,
    pub qty_on_hand: Option<Box<RawValue>>,
}

impl ItemJson {
    /// Whether QuickBooks counts this item's stock: an `Inventory` item with
    /// `TrackQtyOnHand` (Finance.xsd: "True if there is quantity on hand to be tracked").
    pub fn tracks_quantity(&self) -> bool {
        self.item_type.as_deref() == Some("Inventory") && self.track_qty_on_hand == Some(true)
    }
}

/// `{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}}`. Some
/// gateway errors (401s) use lower-case names; both are accepted.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Fault {
    #[serde(rename = "Error", alias = "error", default)]
    pub errors: Vec<FaultError>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct FaultError {
    #[serde(rename = "Message", alias = "message")]
    pub message: Option<String>,
    #[serde(rename = "Detail", alias = "detail")]
    pub detail: Option<String>,
    pub code: Option<String>,
}

/// The code of a stale `SyncToken` (ValidationFault "Stale Object Error").
pub(super) const STALE_OBJECT: &str = "5010";

impl Fault {
    pub fn has_code(&self, code: &str) -> bool {
        // Codes come as "5010" or zero-padded ("003001").
        let want = code.trim_start_matches('0');
        self.errors.iter().any(|e| {
            e.code
                .as_deref()
                .is_some_and(|c| c.trim().trim_start_matches('0') == want)
        })
    }

    /// The platform's words, for an item failure: `Message: Detail (code N)`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|e| {
                let message = e.message.clone().unwrap_or_default();
                // QuickBooks' details often repeat the message first ("Stale Object
                // Error : You and …", recorded answers): say it once.
                let mut text = match e.detail.as_deref().filter(|d| !d.is_empty()) {
                    Some(d) if d.starts_with(message.as_str()) => d.to_owned(),
                    Some(d) if message.contains(d) => message,
                    Some(d) => format!("{message}: {d}"),
                    None => message,
                };
                if let Some(code) = &e.code {
                    text.push_str(&format!(" (code {code})"));
                }
                text
            })
            .collect();
        let text = if parts.is_empty() {
            self.kind.clone().unwrap_or_else(|| "Fault".to_owned())
        } else {
            parts.join("; ")
        };
        format!("QuickBooks: {}", crate::http::truncate(&text, 500))
    }
}

/// `{"BatchItemRequest": [...]}`.
#[derive(Debug, Serialize)]
pub(super) struct BatchRequest<'a> {
    #[serde(rename = "BatchItemRequest")]
    pub items: &'a [BatchItem],
}

/// One operation of a batch.
#[derive(Debug, Serialize)]
pub(super) struct BatchItem {
    #[serde(rename = "bId")]
    pub bid: String,
    pub operation: &'static str,
    #[serde(rename = "Item", skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemUpdate>,
    #[serde(
        rename = "InventoryAdjustment",
        skip_serializing_if = "Option::is_none"
    )]
    pub adjustment: Option<AdjustmentCreate>,
}

/// A sparse Item update: only the fields sent change (without `sparse`, QuickBooks
/// would clear every writable field left out).
#[derive(Debug, Serialize)]
pub(super) struct ItemUpdate {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "SyncToken")]
    pub sync_token: String,
    pub sparse: bool,
    #[serde(rename = "UnitPrice", skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Box<RawValue>>,
    #[serde(rename = "QtyOnHand", skip_serializing_if = "Option::is_none")]
    pub qty_on_hand: Option<Box<RawValue>>,
}

/// An InventoryAdjustment with one line (Finance.xsd `InventoryAdjustment`,
/// `ItemAdjustmentLineDetail`).
#[derive(Debug, Serialize)]
pub(super) struct AdjustmentCreate {
    #[serde(rename = "AdjustAccountRef")]
    pub adjust_account: Reference,
    #[serde(rename = "PrivateNote")]
    pub private_note: String,
    #[serde(rename = "Line")]
    pub lines: Vec<AdjustmentLine>,
}

#[derive(Debug, Serialize)]
pub(super) struct Reference {
    pub value: String,
}

#[derive(Debug, Serialize)]
pub(super) struct AdjustmentLine {
    #[serde(rename = "DetailType")]
    pub detail_type: &'static str,
    #[serde(rename = "ItemAdjustmentLineDetail")]
    pub detail: AdjustmentDetail,
}

#[derive(Debug, Serialize)]
pub(super) struct AdjustmentDetail {
    #[serde(rename = "ItemRef")]
    pub item: Reference,
    #[serde(rename = "QtyDiff")]
    pub qty_diff: Box<RawValue>,
}

/// `{"BatchItemResponse": [...]}` (HTTP 200, with a Fault per failed item).
#[derive(Debug, Deserialize)]
pub(super) struct BatchResponse {
    #[serde(rename = "BatchItemResponse", default)]
    pub items: Vec<BatchItemResponse>,
    #[serde(rename = "Fault", alias = "fault")]
    pub fault: Option<Fault>,
}

#[derive(Debug, Deserialize)]
pub(super) struct BatchItemResponse {
    #[serde(rename = "bId")]
    pub bid: Option<String>,
    #[serde(rename = "Item")]
    pub item: Option<Box<RawValue>>,
    #[serde(rename = "InventoryAdjustment")]
    pub adjustment: Option<Box<RawValue>>,
    #[serde(rename = "Fault")]
    pub fault: Option<Fault>,
}

/// A `Decimal` as a JSON number (its own text, no float in between).
pub(super) fn number(value: Decimal) -> Result<Box<RawValue>, String> {
    let text = value.normalize().to_string();
    RawValue::from_string(text).map_err(|e| format!("cannot write {value} as JSON: {e}"))
}

/// A JSON number's literal text as a `Decimal` (plain or with an exponent).
pub(super) fn decimal(raw: &RawValue) -> Result<Decimal, String> {
    let text = raw.get().trim();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| format!("`{}` is not a number", crate::http::truncate(text, 40)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded `/batch` answer (Intuit's Batch reference sample; see
    /// tests/fixtures/quickbooks_online/README.md): only `bid3` is a stale `SyncToken`.
    #[test]
    fn the_recorded_stale_object_fault_is_known_as_stale() {
        let answer: BatchResponse = serde_json::from_str(include_str!(
            "../../tests/fixtures/quickbooks_online/batch_stale_object.json"
        ))
        .expect("a batch answer");
        let stale: Vec<(&str, bool)> = answer
            .items
            .iter()
            .map(|i| {
                (
                    i.bid.as_deref().unwrap_or_default(),
                    i.fault.as_ref().is_some_and(|f| f.has_code(STALE_OBJECT)),
                )
            })
            .collect();
        assert_eq!(
            stale,
            [
                ("bid1", false),
                ("bid2", false),
                ("bid3", true),
                ("bid4", false)
            ]
        );
        let fault = answer.items[2].fault.as_ref().expect("bid3 fault");
        assert_eq!(
            fault.describe(),
            "QuickBooks: Stale Object Error : You and root were working on this at the same time. root finished before you did, so your work was not saved. (code 5010)",
            "the platform's words, the message not repeated"
        );
    }
}
