//! Parsers of qbXML response message sets into typed answers.
//!
//! A response document is `<QBXML><QBXMLMsgsRs>` with one `…Rs` element per request,
//! carrying `requestID`, the status attributes and, for iterated queries,
//! `iteratorID`/`iteratorRemainingCount`. Items come back as `ItemInventoryRet`,
//! `ItemInventoryAssemblyRet` or `ItemGroupRet` (also inside an `ItemQueryRs`); prices are
//! decimals (never floats), `QuantityOnHand` is a decimal rounded down to whole units
//! (ADR 0034). An item that cannot be understood is an [`ItemError`] on its own; the
//! rest of the answer stands. A document that is not a qbXML response at all is a
//! [`ParseError`].

use super::SkuField;
use super::request::{ItemList, TxnKind};
use super::status::{Severity, Status};
use super::xml::{Node, parse_document};
use invsync_core::{ItemKind, Record};
use rust_decimal::Decimal;
use std::str::FromStr;

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

/// An iterator's state after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IteratorState {
    pub id: String,
    /// Items left after this page; `0` when the read is complete.
    pub remaining: u64,
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
    /// Transactions (adjustments, sales receipts, invoices).
    pub transactions: Vec<Transaction>,
    /// `…Ret` elements of kinds invsync does not read (e.g. `ItemServiceRet` in an
    /// `ItemQueryRs`).
    pub ignored: usize,
}

/// One item as QuickBooks returned it (only the fields invsync asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub list: ItemList,
    pub list_id: String,
    pub edit_sequence: Option<String>,
    pub time_modified: Option<String>,
    pub name: String,
    pub full_name: Option<String>,
    pub manufacturer_part_number: Option<String>,
    pub bar_code: Option<String>,
    /// `IsActive`; QuickBooks omits it only when not asked for it (then: active).
    pub is_active: bool,
    pub sales_price: Option<Decimal>,
    /// The exact `QuantityOnHand` (QuickBooks allows fractions and negatives).
    pub quantity_on_hand: Option<Decimal>,
}

impl Item {
    /// The SKU under `sku_field`, trimmed; `None` when the item has none there.
    pub fn sku(&self, sku_field: SkuField) -> Option<&str> {
        let value = match sku_field {
            SkuField::Name => Some(self.name.as_str()),
            SkuField::FullName => self.full_name.as_deref().or(Some(self.name.as_str())),
            SkuField::ManufacturerPartNumber => self.manufacturer_part_number.as_deref(),
            SkuField::BarCode => self.bar_code.as_deref(),
        };
        value.map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whole units on hand, rounded down (ADR 0034: a store is never offered a unit that
    /// is not wholly there).
    pub fn quantity(&self) -> Option<i64> {
        use rust_decimal::prelude::ToPrimitive;
        self.quantity_on_hand.and_then(|q| q.floor().to_i64())
    }

    /// The item as a record of the accounting side: inventory and assembly items are
    /// `inventory` (an item that comes back without `QuantityOnHand` has 0), groups are
    /// `base`. An item without a SKU under `sku_field` cannot be matched: an error.
    pub fn to_record(&self, sku_field: SkuField) -> Result<Record, ItemError> {
        let sku = self.sku(sku_field).ok_or_else(|| ItemError {
            list_id: Some(self.list_id.clone()),
            name: Some(self.name.clone()),
            message: format!(
                "has no {} to match on (sku_field = \"{}\")",
                sku_field.ret_element(),
                sku_field.as_str()
            ),
        })?;
        let (kind, price, quantity) = match self.list {
            ItemList::Group => (ItemKind::Base, None, None),
            ItemList::Inventory | ItemList::Assembly => (
                ItemKind::Inventory,
                self.sales_price,
                Some(self.quantity().unwrap_or(0)),
            ),
        };
        Ok(Record {
            id: self.list_id.as_str().into(),
            sku: sku.into(),
            name: self.full_name.as_deref().unwrap_or(&self.name).into(),
            kind,
            price,
            quantity,
            sale: None,
        })
    }
}

/// An item of an answer that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("QuickBooks item {}{}: {message}", list_id.as_deref().unwrap_or("(no ListID)"), name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())]
pub struct ItemError {
    pub list_id: Option<String>,
    pub name: Option<String>,
    pub message: String,
}

/// One transaction found by a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub kind: TxnKind,
    pub txn_id: Option<String>,
    pub ref_number: Option<String>,
    pub memo: Option<String>,
    pub txn_date: Option<String>,
}

/// A document that is not a qbXML response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("QuickBooks' answer is not a qbXML response: {0}")]
pub struct ParseError(pub String);

/// Parses a response document.
pub fn parse_response_set(xml: &str) -> Result<ResponseSet, ParseError> {
    let responses = parse_messages(xml, "QBXML", "QBXMLMsgsRs", parse_response)?;
    Ok(ResponseSet { responses })
}

/// Parses a response document whose root is `root` holding `messages`, each child of which
/// `parse` reads (qbXML: `QBXML`/`QBXMLMsgsRs`; qbposXML: `QBPOSXML`/`QBPOSXMLMsgsRs`).
pub(crate) fn parse_messages<T>(
    xml: &str,
    root: &str,
    messages: &str,
    parse: impl Fn(&Node) -> Result<T, ParseError>,
) -> Result<Vec<T>, ParseError> {
    let document = parse_document(xml).map_err(ParseError)?;
    if document.name != root {
        return Err(ParseError(format!(
            "the root element is <{}>, not <{root}>",
            document.name
        )));
    }
    let list = document
        .child(messages)
        .ok_or_else(|| ParseError(format!("there is no <{messages}>")))?;
    list.children.iter().map(parse).collect()
}

/// The status attributes and iterator state of one `…Rs` element — the same in qbXML and
/// qbposXML.
pub(crate) fn response_head(node: &Node) -> Result<(Status, Option<IteratorState>), ParseError> {
    if !node.name.ends_with("Rs") {
        return Err(ParseError(format!("<{}> is not a response", node.name)));
    }
    let code = node
        .attribute("statusCode")
        .ok_or_else(|| ParseError(format!("<{}> has no statusCode", node.name)))?;
    let code = code
        .trim()
        .parse::<i64>()
        .map_err(|_| ParseError(format!("<{}> has statusCode {code:?}", node.name)))?;
    // QuickBooks always sends statusSeverity; some captured answers leave it out. The
    // code's range says what it is then.
    let severity = node
        .attribute("statusSeverity")
        .and_then(Severity::parse)
        .unwrap_or(match code {
            0..=499 => Severity::Info,
            500..=999 => Severity::Warn,
            _ => Severity::Error,
        });
    let status = Status {
        code,
        severity,
        message: node
            .attribute("statusMessage")
            .unwrap_or_default()
            .to_owned(),
    };
    let iterator = match node.attribute("iteratorID") {
        Some(id) => {
            let remaining = match node.attribute("iteratorRemainingCount") {
                Some(r) => r.trim().parse::<u64>().map_err(|_| {
                    ParseError(format!("<{}> has iteratorRemainingCount {r:?}", node.name))
                })?,
                None => 0,
            };
            Some(IteratorState {
                id: id.to_owned(),
                remaining,
            })
        }
        None => None,
    };
    Ok((status, iterator))
}

fn parse_response(node: &Node) -> Result<Response, ParseError> {
    let (status, iterator) = response_head(node)?;
    let mut items = Vec::new();
    let mut transactions = Vec::new();
    let mut ignored = 0;
    for child in &node.children {
        if let Some(list) = ItemList::from_ret(&child.name) {
            items.push(parse_item(list, child));
        } else if let Some(kind) = TxnKind::from_ret(&child.name) {
            transactions.push(Transaction {
                kind,
                txn_id: text(child, "TxnID"),
                ref_number: text(child, "RefNumber"),
                memo: text(child, "Memo"),
                txn_date: text(child, "TxnDate"),
            });
        } else {
            ignored += 1;
        }
    }
    Ok(Response {
        element: node.name.clone(),
        request_id: node.attribute("requestID").map(str::to_owned),
        status,
        iterator,
        items,
        transactions,
        ignored,
    })
}

fn text(node: &Node, name: &str) -> Option<String> {
    node.child_text(name).map(str::to_owned)
}

fn parse_item(list: ItemList, node: &Node) -> Result<Item, ItemError> {
    let list_id = text(node, "ListID")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let name = text(node, "Name");
    let fail = |message: String| ItemError {
        list_id: list_id.clone(),
        name: name.clone(),
        message,
    };
    let list_id_value = list_id
        .clone()
        .ok_or_else(|| fail("has no ListID".into()))?;
    let name_value = name.clone().ok_or_else(|| fail("has no Name".into()))?;
    let decimal = |field: &str| -> Result<Option<Decimal>, ItemError> {
        match node.child_text(field).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => Decimal::from_str(v)
                .map(Some)
                .map_err(|_| fail(format!("has {field} {v:?}, which is not a number"))),
        }
    };
    let is_active = match node.child_text("IsActive").map(str::trim) {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => return Err(fail(format!("has IsActive {other:?}"))),
    };
    let sales_price = decimal("SalesPrice")?;
    let quantity_on_hand = decimal("QuantityOnHand")?;
    if let Some(q) = quantity_on_hand {
        use rust_decimal::prelude::ToPrimitive;
        if q.floor().to_i64().is_none() {
            return Err(fail(format!("has QuantityOnHand {q}, out of range")));
        }
    }
    Ok(Item {
        list,
        list_id: list_id_value,
        edit_sequence: text(node, "EditSequence"),
        time_modified: text(node, "TimeModified"),
        name: name_value,
        full_name: text(node, "FullName"),
        manufacturer_part_number: text(node, "ManufacturerPartNumber"),
        bar_code: text(node, "BarCodeValue"),
        is_active,
        sales_price,
        quantity_on_hand,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_with_a_bad_item_keeps_the_good_ones() {
        let xml = r#"<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>
<ItemInventoryQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK" iteratorRemainingCount="3" iteratorID="{abc}">
<ItemInventoryRet><ListID>80-1</ListID><EditSequence>17</EditSequence><Name>MUG &amp; CUP</Name><FullName>Kitchen:MUG &amp; CUP</FullName><IsActive>true</IsActive><SalesPrice>12.50</SalesPrice><QuantityOnHand>2.75</QuantityOnHand></ItemInventoryRet>
<ItemInventoryRet><ListID>80-2</ListID><Name>BAD</Name><SalesPrice>twelve</SalesPrice></ItemInventoryRet>
<ItemInventoryRet><Name>NO-ID</Name></ItemInventoryRet>
<ItemServiceRet><ListID>80-9</ListID><Name>Labour</Name></ItemServiceRet>
</ItemInventoryQueryRs></QBXMLMsgsRs></QBXML>"#;
        let set = parse_response_set(xml).expect("parses");
        let r = set.get("1").expect("response 1");
        assert_eq!(
            r.iterator,
            Some(IteratorState {
                id: "{abc}".into(),
                remaining: 3
            })
        );
        assert_eq!(r.items.len(), 3);
        assert_eq!(r.ignored, 1);
        let good = r.items[0].as_ref().expect("good item");
        assert_eq!(good.sku(SkuField::Name), Some("MUG & CUP"));
        assert_eq!(good.sku(SkuField::FullName), Some("Kitchen:MUG & CUP"));
        assert_eq!(good.sku(SkuField::BarCode), None);
        assert_eq!(good.quantity(), Some(2));
        let record = good.to_record(SkuField::Name).expect("record");
        assert_eq!(record.price, Some(Decimal::new(1250, 2)));
        assert_eq!(record.kind, ItemKind::Inventory);
        let bad = r.items[1].as_ref().expect_err("bad price");
        assert!(
            bad.to_string().contains("80-2 (BAD)") && bad.message.contains("SalesPrice"),
            "{bad}"
        );
        assert!(
            r.items[2]
                .as_ref()
                .expect_err("no id")
                .message
                .contains("ListID")
        );
        assert!(good.to_record(SkuField::ManufacturerPartNumber).is_err());
    }

    #[test]
    fn groups_are_base_and_negative_stock_rounds_down() {
        let xml = r#"<QBXML><QBXMLMsgsRs><ItemGroupQueryRs requestID="2" statusCode="0" statusSeverity="Info"><ItemGroupRet><ListID>G-1</ListID><Name>KIT</Name><IsActive>true</IsActive></ItemGroupRet></ItemGroupQueryRs>
<ItemInventoryAssemblyQueryRs requestID="3" statusCode="0" statusSeverity="Info"><ItemInventoryAssemblyRet><ListID>A-1</ListID><Name>ASM</Name><QuantityOnHand>-1.5</QuantityOnHand></ItemInventoryAssemblyRet></ItemInventoryAssemblyQueryRs></QBXMLMsgsRs></QBXML>"#;
        let set = parse_response_set(xml).expect("parses");
        let group = set.get("2").expect("2").items[0].clone().expect("group");
        assert_eq!(
            group.to_record(SkuField::Name).expect("record").kind,
            ItemKind::Base
        );
        let assembly = set.get("3").expect("3").items[0].clone().expect("assembly");
        assert_eq!(assembly.quantity(), Some(-2));
    }

    #[test]
    fn errors_and_empty_answers() {
        let xml = r#"<QBXML><QBXMLMsgsRs>
<ItemInventoryModRs requestID="1" statusCode="3200" statusSeverity="Error" statusMessage="The provided edit sequence &quot;1&quot; is out-of-date." />
<SalesReceiptQueryRs requestID="2" statusCode="1" statusSeverity="Info" statusMessage="A query request did not find a matching object in QuickBooks" />
</QBXMLMsgsRs></QBXML>"#;
        let set = parse_response_set(xml).expect("parses");
        let stale = set.get("1").expect("1");
        assert_eq!(stale.status.code, 3200);
        assert_eq!(
            stale.status.message,
            "The provided edit sequence \"1\" is out-of-date."
        );
        assert!(set.get("2").expect("2").transactions.is_empty());
    }

    #[test]
    fn documents_that_are_not_responses() {
        for bad in [
            "",
            "<QBXML/>",
            "<Envelope/>",
            "<QBXML><QBXMLMsgsRs><ItemInventoryQueryRs/></QBXMLMsgsRs></QBXML>",
            "<QBXML><QBXMLMsgsRs><ItemInventoryQueryRs statusCode=\"x\"/></QBXMLMsgsRs></QBXML>",
            "<QBXML><QBXMLMsgsRs><Foo statusCode=\"0\"/></QBXMLMsgsRs></QBXML>",
        ] {
            assert!(parse_response_set(bad).is_err(), "{bad:?}");
        }
    }
}
