//! Parsers of qbposXML response message sets.
//!
//! A response document is `<QBPOSXML><QBPOSXMLMsgsRs>` with one `…Rs` per request, carrying
//! `requestID`, the status attributes, `retCount` and, for iterated queries,
//! `iteratorID`/`iteratorRemainingCount` (the same attributes as qbXML, read by the shared
//! [`response_head`]). Items come back as `ItemInventoryRet`; POS writes booleans as
//! `True`/`False` and amounts with two decimals (`39.99`, `4.00` — a captured answer in
//! `tests/fixtures/quickbooks_pos/`). Prices are decimals; quantities are rounded down to
//! whole units (ADR 0034). A bad item is an [`ItemError`] alone.

use super::{SkuField, StockScope};
use crate::quickbooks_desktop::response::{parse_messages, response_head};
use crate::quickbooks_desktop::xml::Node;
use crate::quickbooks_desktop::{IteratorState, Status};
use invsync_core::{ItemKind, Record};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::BTreeMap;
use std::str::FromStr;

pub use crate::quickbooks_desktop::{ItemError, ParseError};

/// The answer to a whole message set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseSet {
    pub responses: Vec<Response>,
}

impl ResponseSet {
    /// The response to request `id` (its `requestID`).
    pub fn get(&self, id: &str) -> Option<&Response> {
        self.responses
            .iter()
            .find(|r| r.request_id.as_deref() == Some(id))
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The response element, e.g. `ItemInventoryQueryRs`.
    pub element: String,
    pub request_id: Option<String>,
    pub status: Status,
    pub iterator: Option<IteratorState>,
    /// Items (queries and mods), each understood or not.
    pub items: Vec<Result<Item, ItemError>>,
    /// Quantity adjustments (adds and look-ups).
    pub adjustments: Vec<Adjustment>,
    /// Sales receipts (look-ups of posted orders).
    pub receipts: Vec<Receipt>,
    /// `…Ret` elements of kinds invsync does not read.
    pub ignored: usize,
}

/// One item as POS returned it (only the fields invsync asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub list_id: String,
    pub time_modified: Option<String>,
    pub alu: Option<String>,
    pub item_number: Option<String>,
    pub upc: Option<String>,
    /// `Desc1`, the item's name in POS.
    pub desc1: Option<String>,
    /// `ItemType`: `Inventory`, `NonInventory`, `Service`, `Assembly`, `Group`,
    /// `SpecialOrder`; absent when not asked for.
    pub item_type: Option<String>,
    pub price1: Option<Decimal>,
    /// `QuantityOnHand`, the company's total.
    pub quantity_on_hand: Option<Decimal>,
    /// `OnHandStore01` … `OnHandStore20` that came back.
    pub on_hand_by_store: BTreeMap<u8, Decimal>,
}

impl Item {
    /// The SKU under `sku_field`, trimmed; `None` when the item has none there.
    pub fn sku(&self, sku_field: SkuField) -> Option<&str> {
        let value = match sku_field {
            SkuField::Alu => self.alu.as_deref(),
            SkuField::ItemNumber => self.item_number.as_deref(),
            SkuField::Upc => self.upc.as_deref(),
        };
        value.map(str::trim).filter(|v| !v.is_empty())
    }

    /// The exact quantity on hand in `scope`, if it came back.
    pub fn on_hand(&self, scope: StockScope) -> Option<Decimal> {
        match scope {
            StockScope::Company => self.quantity_on_hand,
            StockScope::Store(n) => self.on_hand_by_store.get(&n).copied(),
        }
    }

    /// Whole units on hand in `scope`, rounded down.
    pub fn quantity(&self, scope: StockScope) -> Option<i64> {
        self.on_hand(scope).and_then(|q| q.floor().to_i64())
    }

    /// What kind of record the item is: inventory and assembly items have stock;
    /// non-inventory, service and special-order items are sold without it (`untracked`);
    /// groups are `base`. An item without `ItemType` came from `ItemInventoryQuery`: inventory.
    pub fn kind(&self) -> ItemKind {
        match self.item_type.as_deref().map(str::trim) {
            None | Some("Inventory") | Some("Assembly") => ItemKind::Inventory,
            Some("Group") => ItemKind::Base,
            Some(_) => ItemKind::Untracked,
        }
    }

    /// The item as a record of the accounting side. An item without a SKU under
    /// `sku_field` cannot be matched: an error.
    pub fn to_record(&self, sku_field: SkuField, scope: StockScope) -> Result<Record, ItemError> {
        let sku = self.sku(sku_field).ok_or_else(|| ItemError {
            list_id: Some(self.list_id.clone()),
            name: self.desc1.clone(),
            message: format!(
                "has no {} to match on (sku_field = \"{}\")",
                sku_field.ret_element(),
                sku_field.as_str()
            ),
        })?;
        let kind = self.kind();
        let (price, quantity) = match kind {
            ItemKind::Base => (None, None),
            ItemKind::Inventory => (self.price1, Some(self.quantity(scope).unwrap_or(0))),
            ItemKind::Untracked | ItemKind::NotStocked => (self.price1, None),
        };
        Ok(Record {
            id: self.list_id.as_str().into(),
            sku: sku.into(),
            name: self.desc1.as_deref().unwrap_or(sku).into(),
            kind,
            price,
            quantity,
            sale: None,
        })
    }
}

/// `HistoryDocStatus` of a POS transaction: a reversed document no longer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryStatus {
    Regular,
    /// Undone by a reversing document.
    Reversed,
    /// The document that undoes another.
    Reversing,
}

impl HistoryStatus {
    fn parse(text: &str) -> Option<HistoryStatus> {
        match text.trim() {
            "Regular" => Some(HistoryStatus::Regular),
            "Reversed" => Some(HistoryStatus::Reversed),
            "Reversing" => Some(HistoryStatus::Reversing),
            _ => None,
        }
    }
}

/// A quantity adjustment found or added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub txn_id: Option<String>,
    pub comments: Option<String>,
    pub history: Option<HistoryStatus>,
}

/// A sales receipt found by the order's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub txn_id: Option<String>,
    pub txn_date: Option<String>,
    pub number: Option<String>,
    pub comments: Option<String>,
    pub tracking_number: Option<String>,
    pub history: Option<HistoryStatus>,
}

impl Receipt {
    /// Whether the receipt still stands (a reversed sale gave its stock back).
    pub fn stands(&self) -> bool {
        !matches!(
            self.history,
            Some(HistoryStatus::Reversed | HistoryStatus::Reversing)
        )
    }
}

/// Parses a response document.
pub fn parse_response_set(xml: &str) -> Result<ResponseSet, ParseError> {
    let responses = parse_messages(xml, "QBPOSXML", "QBPOSXMLMsgsRs", parse_response)?;
    Ok(ResponseSet { responses })
}

fn text(node: &Node, name: &str) -> Option<String> {
    node.child_text(name).map(str::to_owned)
}

fn parse_response(node: &Node) -> Result<Response, ParseError> {
    let (status, iterator) = response_head(node)?;
    let mut items = Vec::new();
    let mut adjustments = Vec::new();
    let mut receipts = Vec::new();
    let mut ignored = 0;
    for child in &node.children {
        let history = || {
            child
                .child_text("HistoryDocStatus")
                .and_then(HistoryStatus::parse)
        };
        match child.name.as_str() {
            "ItemInventoryRet" => items.push(parse_item(child)),
            "InventoryQtyAdjustmentRet" => adjustments.push(Adjustment {
                txn_id: text(child, "TxnID"),
                comments: text(child, "Comments"),
                history: history(),
            }),
            "SalesReceiptRet" => receipts.push(Receipt {
                txn_id: text(child, "TxnID"),
                txn_date: text(child, "TxnDate"),
                number: text(child, "SalesReceiptNumber"),
                comments: text(child, "Comments"),
                tracking_number: text(child, "TrackingNumber"),
                history: history(),
            }),
            _ => ignored += 1,
        }
    }
    Ok(Response {
        element: node.name.clone(),
        request_id: node.attribute("requestID").map(str::to_owned),
        status,
        iterator,
        items,
        adjustments,
        receipts,
        ignored,
    })
}

fn parse_item(node: &Node) -> Result<Item, ItemError> {
    let list_id = text(node, "ListID")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let desc1 = text(node, "Desc1");
    let fail = |message: String| ItemError {
        list_id: list_id.clone(),
        name: desc1.clone(),
        message,
    };
    let list_id_value = list_id
        .clone()
        .ok_or_else(|| fail("has no ListID".into()))?;
    let decimal = |field: &str| -> Result<Option<Decimal>, ItemError> {
        match node.child_text(field).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => Decimal::from_str(v)
                .map(Some)
                .map_err(|_| fail(format!("has {field} {v:?}, which is not a number"))),
        }
    };
    let whole = |field: &str, value: Option<Decimal>| -> Result<Option<Decimal>, ItemError> {
        match value {
            Some(q) if q.floor().to_i64().is_none() => {
                Err(fail(format!("has {field} {q}, out of range")))
            }
            other => Ok(other),
        }
    };
    let price1 = decimal("Price1")?;
    let quantity_on_hand = whole("QuantityOnHand", decimal("QuantityOnHand")?)?;
    let mut on_hand_by_store = BTreeMap::new();
    for store in 1..=super::MAX_STORE_NUMBER {
        let field = StockScope::Store(store).on_hand_element();
        if let Some(q) = whole(&field, decimal(&field)?)? {
            on_hand_by_store.insert(store, q);
        }
    }
    Ok(Item {
        list_id: list_id_value,
        time_modified: text(node, "TimeModified"),
        alu: text(node, "ALU"),
        item_number: text(node, "ItemNumber"),
        upc: text(node, "UPC"),
        desc1,
        item_type: text(node, "ItemType"),
        price1,
        quantity_on_hand,
        on_hand_by_store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real answer of QuickBooks POS (two of its items, trimmed), from the fixture.
    const CAPTURED: &str =
        include_str!("../../tests/fixtures/quickbooks_pos/item_inventory_query_rs.xml");

    #[test]
    fn a_captured_answer_parses_into_records() {
        let set = parse_response_set(CAPTURED).expect("parses");
        let r = &set.responses[0];
        assert_eq!(r.element, "ItemInventoryQueryRs");
        assert_eq!(r.status.code, 0);
        assert_eq!(r.items.len(), 2);
        let puj = r.items[0].as_ref().expect("item");
        assert_eq!(puj.list_id, "-9219886962259885823");
        assert_eq!(puj.sku(SkuField::Alu), Some("2238-White"));
        assert_eq!(puj.sku(SkuField::ItemNumber), Some("3188"));
        assert_eq!(puj.sku(SkuField::Upc), Some("0854702002004"));
        assert_eq!(puj.price1, Some(Decimal::new(3999, 2)));
        assert_eq!(puj.quantity(StockScope::Company), Some(4));
        assert_eq!(puj.quantity(StockScope::Store(1)), Some(0));
        assert_eq!(puj.quantity(StockScope::Store(2)), Some(4));
        assert_eq!(puj.quantity(StockScope::Store(3)), None);
        let record = puj
            .to_record(SkuField::Alu, StockScope::Store(2))
            .expect("record");
        assert_eq!(
            (record.kind, record.quantity, record.name.as_str()),
            (ItemKind::Inventory, Some(4), "Puj Tub")
        );
        // The second item has no ALU: it cannot be matched by ALU, only by number.
        let spa = r.items[1].as_ref().expect("item");
        let e = spa
            .to_record(SkuField::Alu, StockScope::Company)
            .expect_err("no ALU");
        assert!(e.to_string().contains("has no ALU"), "{e}");
        assert_eq!(
            spa.to_record(SkuField::ItemNumber, StockScope::Company)
                .expect("record")
                .sku
                .as_str(),
            "3644"
        );
    }

    #[test]
    fn item_types_bad_items_and_lookups() {
        let xml = r#"<?xml version="1.0" ?><QBPOSXML><QBPOSXMLMsgsRs>
<ItemInventoryQueryRs requestID="1" statusCode="0" statusSeverity="Info" retCount="4" iteratorRemainingCount="7" iteratorID="{it}">
<ItemInventoryRet><ListID>-1</ListID><ALU>SVC</ALU><ItemType>Service</ItemType><Price1>10.00</Price1></ItemInventoryRet>
<ItemInventoryRet><ListID>-2</ListID><ALU>KIT</ALU><ItemType>Group</ItemType></ItemInventoryRet>
<ItemInventoryRet><ListID>-3</ListID><ALU>NEG</ALU><QuantityOnHand>-1.50</QuantityOnHand></ItemInventoryRet>
<ItemInventoryRet><ListID>-4</ListID><Desc1>Bad</Desc1><Price1>ten</Price1></ItemInventoryRet>
<ItemInventoryRet><Desc1>No id</Desc1></ItemInventoryRet>
</ItemInventoryQueryRs>
<InventoryQtyAdjustmentQueryRs requestID="2" statusCode="0" statusSeverity="Info"><InventoryQtyAdjustmentRet><TxnID>-77</TxnID><Comments>invsync write k</Comments><HistoryDocStatus>Regular</HistoryDocStatus></InventoryQtyAdjustmentRet></InventoryQtyAdjustmentQueryRs>
<SalesReceiptQueryRs requestID="3" statusCode="0" statusSeverity="Info"><SalesReceiptRet><TxnID>-5</TxnID><SalesReceiptNumber>1042</SalesReceiptNumber><Comments>#1001</Comments><HistoryDocStatus>Reversed</HistoryDocStatus></SalesReceiptRet></SalesReceiptQueryRs>
<SalesReceiptQueryRs requestID="4" statusCode="1" statusSeverity="Info" statusMessage="A query request did not find a matching object"/>
</QBPOSXMLMsgsRs></QBPOSXML>"#;
        let set = parse_response_set(xml).expect("parses");
        let items = &set.get("1").expect("1").items;
        assert_eq!(
            set.get("1").expect("1").iterator,
            Some(IteratorState {
                id: "{it}".into(),
                remaining: 7
            })
        );
        let service = items[0].as_ref().expect("service");
        let record = service
            .to_record(SkuField::Alu, StockScope::Company)
            .expect("record");
        assert_eq!((record.kind, record.quantity), (ItemKind::Untracked, None));
        assert_eq!(record.price, Some(Decimal::new(1000, 2)));
        assert_eq!(items[1].as_ref().expect("group").kind(), ItemKind::Base);
        assert_eq!(
            items[2]
                .as_ref()
                .expect("negative")
                .quantity(StockScope::Company),
            Some(-2)
        );
        let bad = items[3].as_ref().expect_err("bad price");
        assert!(bad.to_string().contains("-4 (Bad)") && bad.message.contains("Price1"));
        assert!(
            items[4]
                .as_ref()
                .expect_err("no id")
                .message
                .contains("ListID")
        );
        let adjustment = &set.get("2").expect("2").adjustments[0];
        assert_eq!(adjustment.comments.as_deref(), Some("invsync write k"));
        let receipt = &set.get("3").expect("3").receipts[0];
        assert_eq!(receipt.number.as_deref(), Some("1042"));
        assert!(!receipt.stands());
        let none = set.get("4").expect("4");
        assert_eq!(none.status.code, 1);
        assert!(none.receipts.is_empty());
    }

    #[test]
    fn documents_that_are_not_responses() {
        for bad in [
            "",
            "<QBPOSXML/>",
            "<QBXML><QBXMLMsgsRs/></QBXML>",
            "<QBPOSXML><QBPOSXMLMsgsRs><ItemInventoryQueryRs/></QBPOSXMLMsgsRs></QBPOSXML>",
            "<QBPOSXML><QBPOSXMLMsgsRs><ItemInventoryRet/></QBPOSXMLMsgsRs></QBPOSXML>",
        ] {
            assert!(parse_response_set(bad).is_err(), "{bad:?}");
        }
    }
}
