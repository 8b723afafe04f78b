//! Builders of qbposXML 3.0 request message sets.
//!
//! A [`MessageSet`] is one `<QBPOSXML><QBPOSXMLMsgsRq onError="continueOnError">` document
//! with a `requestID` per request. Each request is checked when it is pushed (text XML
//! cannot carry, values longer than the reference allows, amounts and quantities out of
//! range) and refused alone with a [`BuildError`] naming the field.
//!
//! Element order follows Intuit's qbposXML 3.0 layouts (ADR 0081 lists the pages):
//! `ItemInventoryQueryRq` is `MaxReturned, OwnerID*, ListID, …filters…,
//! IncludeRetElement*`; `ItemInventoryMod` is `ListID, ALU, …, Price1, …`;
//! `InventoryQtyAdjustmentAdd` is `Associate, Comments, InventoryAdjustmentSource,
//! QuickBooksFlag, Reason, StoreNumber, TxnDate, TxnState, Workstation,
//! InventoryQtyAdjustmentItemAdd*` with `ListID, NewQuantity` per line; the transaction
//! queries put `CommentsFilter` before `TrackingNumberFilter`. The tests check every
//! builder's output with the element-order validator in `invsync-test-support`.

use super::{QBPOSXML_VERSION, SkuField, StockScope};
use crate::quickbooks_desktop::request::{
    RequestSet, SetRequest, check_decimal, end, leaf, page_problem, query_attributes, start,
    text_problem,
};
use quick_xml::Writer;
use rust_decimal::Decimal;

pub use crate::quickbooks_desktop::{BuildError, IteratorStep, RequestId};

/// Largest `MaxReturned` invsync asks for (as for Desktop).
pub const MAX_MAX_RETURNED: u32 = crate::quickbooks_desktop::MAX_MAX_RETURNED;

/// `Comments` of an inventory quantity adjustment and of its `CommentsFilter`: at most
/// 300 characters (qbposXML 3.0, `InventoryQtyAdjustmentAdd/Comments`, field max 300).
pub const MAX_COMMENTS: usize = 300;

/// `Reason` of an inventory quantity adjustment: required, at most 8 characters.
pub const MAX_REASON: usize = 8;

/// POS list and transaction ids are 64-bit integers written as text
/// (`-9219886962259885823`); 36 leaves room for anything QuickBooks calls an id.
const MAX_ID: usize = 36;

/// What an item query selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every item, page by page.
    Iterate {
        step: IteratorStep,
        max_returned: u32,
    },
    /// One item (`ListID` is not repeatable in `ItemInventoryQueryRq`).
    ListId(String),
}

/// `ItemInventoryQueryRq`: in POS it answers items of every `ItemType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemQuery {
    pub selection: Selection,
    pub sku_field: SkuField,
    pub scope: StockScope,
}

impl ItemQuery {
    /// The first page of every item, `max_returned` at a time.
    pub fn start(max_returned: u32, sku_field: SkuField, scope: StockScope) -> ItemQuery {
        ItemQuery {
            selection: Selection::Iterate {
                step: IteratorStep::Start,
                max_returned,
            },
            sku_field,
            scope,
        }
    }

    /// The next page of the iterator `iterator_id`.
    pub fn next_page(
        iterator_id: &str,
        max_returned: u32,
        sku_field: SkuField,
        scope: StockScope,
    ) -> ItemQuery {
        ItemQuery {
            selection: Selection::Iterate {
                step: IteratorStep::Continue(iterator_id.to_owned()),
                max_returned,
            },
            sku_field,
            scope,
        }
    }

    /// The fields a read asks for (`IncludeRetElement`): only those invsync uses. The SKU
    /// fields are all read, so a change of `sku_field` needs no other read.
    pub fn ret_elements(&self) -> Vec<String> {
        let mut fields: Vec<String> = [
            "ListID",
            "TimeModified",
            "ALU",
            "Desc1",
            "ItemNumber",
            "ItemType",
            "Price1",
            "UPC",
        ]
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
        fields.push(self.scope.on_hand_element());
        fields
    }
}

/// A new regular price (`Price1`) for one item. POS has no `EditSequence`: the mod is not
/// compare-and-set (ADR 0081).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceMod {
    pub list_id: String,
    pub price: Decimal,
}

/// The mark a quantity adjustment carries so a lost answer can be told from a lost request:
/// its `Comments` hold the write key, and a look-up by `CommentsFilter` (`Equal`) finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentMarker {
    pub comments: String,
}

const MARKER_PREFIX: &str = "invsync write ";

impl AdjustmentMarker {
    /// The marker of the write with idempotency key `key` ([`crate::WriteKeys`]). A key
    /// too long for `Comments` (never, with invsync's keys) is replaced by its digest.
    pub fn for_write_key(key: &str) -> AdjustmentMarker {
        let comments = format!("{MARKER_PREFIX}{key}");
        if comments.chars().count() <= MAX_COMMENTS {
            return AdjustmentMarker { comments };
        }
        let digest = crate::keys::stable_hash([key.as_bytes()]);
        AdjustmentMarker {
            comments: format!("{MARKER_PREFIX}#{digest:016x}"),
        }
    }

    /// Whether an adjustment read back is the one this marker marks. POS may trim
    /// trailing spaces; nothing else.
    pub fn matches(&self, comments: Option<&str>) -> bool {
        comments.map(str::trim_end) == Some(self.comments.trim_end())
    }
}

/// One line of a quantity adjustment: the item's new quantity on hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentLine {
    pub list_id: String,
    pub new_quantity: i64,
}

/// `InventoryQtyAdjustmentAddRq` (POS's "New Quantity Memo"). `NewQuantity` is absolute:
/// sent twice it is not doubled, but a second send after a sale would undo the sale, so
/// lost answers are settled through the marker, never by sending again (ADR 0081).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QtyAdjustment {
    /// `Reason` (required by POS, at most 8 characters): `adjustment_reason`.
    pub reason: String,
    /// `StoreNumber` of a multi-store company; `Company` leaves it out.
    pub scope: StockScope,
    pub marker: AdjustmentMarker,
    pub lines: Vec<AdjustmentLine>,
}

/// `InventoryQtyAdjustmentQueryRq` for the adjustment carrying `marker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentLookup {
    pub marker: AdjustmentMarker,
}

/// Where a POS sales receipt carries the reference of a store's order: POS numbers
/// receipts itself (`SalesReceiptNumber`, a whole number), so the order's reference is
/// typed (or imported) into `Comments` or `TrackingNumber`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ReceiptRefField {
    #[default]
    Comments,
    TrackingNumber,
}

impl ReceiptRefField {
    pub const ALL: [ReceiptRefField; 2] =
        [ReceiptRefField::Comments, ReceiptRefField::TrackingNumber];

    /// The value of `order_ref_field` in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptRefField::Comments => "comments",
            ReceiptRefField::TrackingNumber => "tracking_number",
        }
    }

    pub fn parse(text: &str) -> Option<ReceiptRefField> {
        ReceiptRefField::ALL
            .into_iter()
            .find(|f| f.as_str() == text)
    }

    pub fn element(self) -> &'static str {
        match self {
            ReceiptRefField::Comments => "Comments",
            ReceiptRefField::TrackingNumber => "TrackingNumber",
        }
    }

    fn filter(self) -> &'static str {
        match self {
            ReceiptRefField::Comments => "CommentsFilter",
            ReceiptRefField::TrackingNumber => "TrackingNumberFilter",
        }
    }

    /// The longest value the filter takes: `CommentsFilter/Comments` 300,
    /// `TrackingNumberFilter/TrackingNumber` 50.
    pub fn max_len(self) -> usize {
        match self {
            ReceiptRefField::Comments => MAX_COMMENTS,
            ReceiptRefField::TrackingNumber => 50,
        }
    }
}

/// `SalesReceiptQueryRq` for receipts whose `field` equals `reference` (one reference per
/// request: a filter takes one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLookup {
    pub field: ReceiptRefField,
    pub reference: String,
}

/// One request of a message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Items(ItemQuery),
    Price(PriceMod),
    Adjustment(QtyAdjustment),
    FindAdjustment(AdjustmentLookup),
    FindReceipt(ReceiptLookup),
}

impl Request {
    /// The request's element name, e.g. `ItemInventoryModRq`.
    pub fn element(&self) -> &'static str {
        match self {
            Request::Items(_) => "ItemInventoryQueryRq",
            Request::Price(_) => "ItemInventoryModRq",
            Request::Adjustment(_) => "InventoryQtyAdjustmentAddRq",
            Request::FindAdjustment(_) => "InventoryQtyAdjustmentQueryRq",
            Request::FindReceipt(_) => "SalesReceiptQueryRq",
        }
    }
}

impl From<ItemQuery> for Request {
    fn from(q: ItemQuery) -> Request {
        Request::Items(q)
    }
}
impl From<PriceMod> for Request {
    fn from(p: PriceMod) -> Request {
        Request::Price(p)
    }
}
impl From<QtyAdjustment> for Request {
    fn from(a: QtyAdjustment) -> Request {
        Request::Adjustment(a)
    }
}
impl From<AdjustmentLookup> for Request {
    fn from(q: AdjustmentLookup) -> Request {
        Request::FindAdjustment(q)
    }
}
impl From<ReceiptLookup> for Request {
    fn from(q: ReceiptLookup) -> Request {
        Request::FindReceipt(q)
    }
}

/// One qbposXML request document.
pub type MessageSet = RequestSet<Request>;

impl SetRequest for Request {
    const INSTRUCTION: (&'static str, &'static str) = ("qbposxml", QBPOSXML_VERSION);
    const ELEMENTS: (&'static str, &'static str) = ("QBPOSXML", "QBPOSXMLMsgsRq");

    fn check(&self) -> Result<(), BuildError> {
        check(self)
    }

    fn write(&self, w: &mut Writer<Vec<u8>>, id: RequestId) {
        write_request(w, id, self);
    }

    fn element(&self) -> &'static str {
        Request::element(self)
    }
}

/// An AMTTYPE as text: two decimals (`39.99`, `4.00`, as POS writes them). Only called
/// after [`check`] made sure the value has no more.
fn amount_text(value: &Decimal) -> String {
    let mut amount = value.normalize();
    amount.rescale(2);
    amount.to_string()
}

fn string_filter(w: &mut Writer<Vec<u8>>, filter: &str, field: &str, value: &str) {
    start(w, filter, &[]);
    leaf(w, "MatchStringCriterion", "Equal");
    leaf(w, field, value);
    end(w, filter);
}

fn write_request(w: &mut Writer<Vec<u8>>, id: RequestId, request: &Request) {
    let id = id.to_string();
    let element = request.element();
    match request {
        Request::Items(q) => {
            let step = match &q.selection {
                Selection::Iterate { step, .. } => Some(step),
                Selection::ListId(_) => None,
            };
            start(w, element, &query_attributes(&id, step));
            match &q.selection {
                Selection::Iterate { max_returned, .. } => {
                    leaf(w, "MaxReturned", &max_returned.to_string());
                }
                Selection::ListId(list_id) => leaf(w, "ListID", list_id),
            }
            for field in q.ret_elements() {
                leaf(w, "IncludeRetElement", &field);
            }
            end(w, element);
        }
        Request::Price(p) => {
            start(w, element, &[("requestID", id.as_str())]);
            start(w, "ItemInventoryMod", &[]);
            leaf(w, "ListID", &p.list_id);
            leaf(w, "Price1", &amount_text(&p.price));
            end(w, "ItemInventoryMod");
            for field in ["ListID", "Price1"] {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
        Request::Adjustment(a) => {
            start(w, element, &[("requestID", id.as_str())]);
            start(w, "InventoryQtyAdjustmentAdd", &[]);
            leaf(w, "Comments", &a.marker.comments);
            leaf(w, "Reason", &a.reason);
            if let StockScope::Store(n) = a.scope {
                leaf(w, "StoreNumber", &n.to_string());
            }
            for line in &a.lines {
                start(w, "InventoryQtyAdjustmentItemAdd", &[]);
                leaf(w, "ListID", &line.list_id);
                leaf(w, "NewQuantity", &line.new_quantity.to_string());
                end(w, "InventoryQtyAdjustmentItemAdd");
            }
            end(w, "InventoryQtyAdjustmentAdd");
            for field in ["TxnID", "Comments", "HistoryDocStatus"] {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
        Request::FindAdjustment(q) => {
            start(w, element, &[("requestID", id.as_str())]);
            string_filter(w, "CommentsFilter", "Comments", &q.marker.comments);
            for field in ["TxnID", "Comments", "HistoryDocStatus"] {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
        Request::FindReceipt(q) => {
            start(w, element, &[("requestID", id.as_str())]);
            string_filter(w, q.field.filter(), q.field.element(), &q.reference);
            for field in [
                "TxnID",
                "TxnDate",
                "SalesReceiptNumber",
                "Comments",
                "TrackingNumber",
                "HistoryDocStatus",
            ] {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
    }
}

fn check(request: &Request) -> Result<(), BuildError> {
    let name = request.element();
    let fail = |field: &'static str, problem: String| BuildError {
        request: name,
        field,
        problem,
    };
    let text = |field: &'static str, value: &str, max: usize| -> Result<(), BuildError> {
        if value.trim().is_empty() {
            return Err(fail(field, "is empty".into()));
        }
        text_problem(value, max).map_or(Ok(()), |problem| Err(fail(field, problem)))
    };
    let scope = |scope: StockScope| -> Result<(), BuildError> {
        match scope {
            StockScope::Store(n) if !(1..=super::MAX_STORE_NUMBER).contains(&n) => Err(fail(
                "StoreNumber",
                format!("is {n}; it must be 1 to {}", super::MAX_STORE_NUMBER),
            )),
            _ => Ok(()),
        }
    };
    match request {
        Request::Items(q) => {
            scope(q.scope)?;
            match &q.selection {
                Selection::Iterate { step, max_returned } => page_problem(*max_returned, step)
                    .map_or(Ok(()), |(field, problem)| Err(fail(field, problem))),
                Selection::ListId(list_id) => text("ListID", list_id, MAX_ID),
            }
        }
        Request::Price(p) => {
            text("ListID", &p.list_id, MAX_ID)?;
            if p.price.is_sign_negative() && !p.price.is_zero() {
                return Err(fail("Price1", format!("is negative ({})", p.price)));
            }
            // `Price1` is an AMTTYPE: two decimals at most (Desktop's `SalesPrice` is a
            // PRICETYPE with five).
            if p.price.normalize().scale() > 2 {
                return Err(fail(
                    "Price1",
                    format!("{} has more than the 2 decimals POS keeps", p.price),
                ));
            }
            check_decimal(&p.price).map_err(|problem| fail("Price1", problem))
        }
        Request::Adjustment(a) => {
            text("Comments", &a.marker.comments, MAX_COMMENTS)?;
            text("Reason", &a.reason, MAX_REASON)?;
            scope(a.scope)?;
            if a.lines.is_empty() {
                return Err(fail("InventoryQtyAdjustmentItemAdd", "is missing".into()));
            }
            for line in &a.lines {
                text("ListID", &line.list_id, MAX_ID)?;
                check_decimal(&Decimal::from(line.new_quantity))
                    .map_err(|problem| fail("NewQuantity", problem))?;
            }
            Ok(())
        }
        Request::FindAdjustment(q) => text("Comments", &q.marker.comments, MAX_COMMENTS),
        Request::FindReceipt(q) => {
            // A longer reference can never match: POS keeps no more.
            text(q.field.element(), &q.reference, q.field.max_len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn a_read_asks_for_its_page_and_only_the_fields_used() {
        let mut set = MessageSet::new();
        set.push(ItemQuery::start(500, SkuField::Alu, StockScope::Company))
            .expect("valid");
        let xml = set.to_xml();
        assert!(
            xml.starts_with(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbposxml version=\"3.0\"?><QBPOSXML><QBPOSXMLMsgsRq onError=\"continueOnError\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<ItemInventoryQueryRq requestID=\"1\" iterator=\"Start\"><MaxReturned>500</MaxReturned><IncludeRetElement>ListID</IncludeRetElement>"),
            "{xml}"
        );
        assert!(xml.contains("<IncludeRetElement>QuantityOnHand</IncludeRetElement>"));

        let mut set = MessageSet::new();
        set.push(ItemQuery::next_page(
            "{it-\"1\"}",
            50,
            SkuField::Upc,
            StockScope::Store(2),
        ))
        .expect("valid");
        let xml = set.to_xml();
        assert!(xml.contains("iterator=\"Continue\" iteratorID=\"{it-&quot;1&quot;}\""));
        assert!(xml.contains("<IncludeRetElement>OnHandStore02</IncludeRetElement>"));
        assert!(!xml.contains("QuantityOnHand"));
    }

    #[test]
    fn a_price_mod_is_list_id_and_price1_only() {
        let mut set = MessageSet::new();
        set.push(PriceMod {
            list_id: "-9219886962259885823".into(),
            price: dec("39.99"),
        })
        .expect("valid");
        assert!(set.to_xml().contains(
            "<ItemInventoryModRq requestID=\"1\"><ItemInventoryMod><ListID>-9219886962259885823</ListID><Price1>39.99</Price1></ItemInventoryMod>"
        ));
    }

    #[test]
    fn bad_requests_are_refused_alone() {
        let mut set = MessageSet::new();
        let good = PriceMod {
            list_id: "-1".into(),
            price: dec("1.00"),
        };
        set.push(good.clone()).expect("valid");
        for bad in [
            Request::from(PriceMod {
                price: dec("-1"),
                ..good.clone()
            }),
            Request::from(PriceMod {
                price: dec("1.123456"),
                ..good.clone()
            }),
            Request::from(PriceMod {
                price: dec("1.125"),
                ..good.clone()
            }),
            Request::from(PriceMod {
                list_id: "a\0".into(),
                ..good.clone()
            }),
            Request::from(ItemQuery::start(0, SkuField::Alu, StockScope::Company)),
            Request::from(ItemQuery::start(10, SkuField::Alu, StockScope::Store(21))),
            Request::from(QtyAdjustment {
                reason: "too long!".into(),
                scope: StockScope::Company,
                marker: AdjustmentMarker::for_write_key("k"),
                lines: vec![AdjustmentLine {
                    list_id: "-1".into(),
                    new_quantity: 3,
                }],
            }),
            Request::from(QtyAdjustment {
                reason: "invsync".into(),
                scope: StockScope::Company,
                marker: AdjustmentMarker::for_write_key("k"),
                lines: vec![],
            }),
            Request::from(ReceiptLookup {
                field: ReceiptRefField::TrackingNumber,
                reference: "x".repeat(51),
            }),
        ] {
            let element = bad.element();
            let e = set.push(bad).expect_err("refused");
            assert_eq!(e.request, element, "{e}");
        }
        assert_eq!(set.len(), 1);
        // Trailing zeros are no decimals of their own.
        set.push(PriceMod {
            price: dec("1.5000"),
            ..good
        })
        .expect("valid");
    }

    #[test]
    fn adjustments_carry_their_marker_reason_and_store() {
        let key = "invsync-0123-run-7-change-3-00ff00ff00ff00ff";
        let marker = AdjustmentMarker::for_write_key(key);
        assert_eq!(marker, AdjustmentMarker::for_write_key(key));
        assert!(marker.matches(Some(&format!("{} ", marker.comments))));
        assert!(!marker.matches(Some("invsync write other")));
        assert!(!marker.matches(None));
        let long = AdjustmentMarker::for_write_key(&"k".repeat(400));
        assert!(long.comments.chars().count() <= MAX_COMMENTS);

        let mut set = MessageSet::new();
        set.push(QtyAdjustment {
            reason: "invsync".into(),
            scope: StockScope::Store(3),
            marker: marker.clone(),
            lines: vec![
                AdjustmentLine {
                    list_id: "-1".into(),
                    new_quantity: 7,
                },
                AdjustmentLine {
                    list_id: "-2".into(),
                    new_quantity: 0,
                },
            ],
        })
        .expect("valid");
        set.push(AdjustmentLookup { marker }).expect("valid");
        set.push(ReceiptLookup {
            field: ReceiptRefField::Comments,
            reference: "#1001 & co".into(),
        })
        .expect("valid");
        let xml = set.to_xml();
        let order = [
            "<Comments>invsync write",
            "<Reason>invsync</Reason>",
            "<StoreNumber>3</StoreNumber>",
            "<InventoryQtyAdjustmentItemAdd><ListID>-1</ListID><NewQuantity>7</NewQuantity>",
            "<NewQuantity>0</NewQuantity>",
            "<InventoryQtyAdjustmentQueryRq requestID=\"2\"><CommentsFilter><MatchStringCriterion>Equal</MatchStringCriterion>",
            "<SalesReceiptQueryRq requestID=\"3\"><CommentsFilter><MatchStringCriterion>Equal</MatchStringCriterion><Comments>#1001 &amp; co</Comments>",
        ];
        let positions: Vec<usize> = order.iter().map(|e| xml.find(e).expect(e)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{xml}");
        assert_eq!(
            set.to_string(),
            "3 request(s): InventoryQtyAdjustmentAddRq, InventoryQtyAdjustmentQueryRq, SalesReceiptQueryRq"
        );
    }
}
