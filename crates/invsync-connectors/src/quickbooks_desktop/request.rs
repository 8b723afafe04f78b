//! Typed builders of qbXML 13.0 request message sets.
//!
//! A [`MessageSet`] is one `<QBXML><QBXMLMsgsRq onError="continueOnError">` document with a
//! `requestID` per request, what the Web Connector's `sendRequestXML` hands to QuickBooks.
//! Each request is checked when it is pushed — text XML cannot carry (NUL and other control
//! characters), values longer than the XSD allows, prices and quantities outside
//! `PRICETYPE`/`QUANTYPE` — and refused on its own with a [`BuildError`] that names the
//! field: one bad item never spoils the message set. Everything pushed is written with
//! quick-xml, which escapes `<`, `>`, `&`, `'` and `"` in text and attributes.
//!
//! Element order follows the XSDs (`xs:sequence`): e.g. `ItemInventoryMod` is
//! `ListID, EditSequence, …, SalesPrice`; `InventoryAdjustmentAdd` is `AccountRef,
//! TxnDate, RefNumber, InventorySiteRef, …, Memo, …, InventoryAdjustmentLineAdd+`; a
//! query's filter (`MaxReturned, ActiveStatus`) comes before its `IncludeRetElement`s.
//! The tests validate every builder's output against `qbxml130.xsd`/`qbxmlops130.xsd`.

use super::xml::first_non_xml_char;
use super::{QBXML_VERSION, SkuField};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesPI, BytesStart, BytesText, Event};
use rust_decimal::Decimal;
use std::fmt;

/// The item lists invsync reads. Group items (QuickBooks' bundles, what shops call kits)
/// carry neither stock nor a price of their own: they are read as `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemList {
    Inventory,
    Assembly,
    Group,
}

impl ItemList {
    pub const ALL: [ItemList; 3] = [ItemList::Inventory, ItemList::Assembly, ItemList::Group];

    /// The query request element, e.g. `ItemInventoryQueryRq`.
    pub fn query_request(self) -> &'static str {
        match self {
            ItemList::Inventory => "ItemInventoryQueryRq",
            ItemList::Assembly => "ItemInventoryAssemblyQueryRq",
            ItemList::Group => "ItemGroupQueryRq",
        }
    }

    /// The element each item comes back in, e.g. `ItemInventoryRet`.
    pub fn ret(self) -> &'static str {
        match self {
            ItemList::Inventory => "ItemInventoryRet",
            ItemList::Assembly => "ItemInventoryAssemblyRet",
            ItemList::Group => "ItemGroupRet",
        }
    }

    pub fn from_ret(element: &str) -> Option<ItemList> {
        ItemList::ALL.into_iter().find(|l| l.ret() == element)
    }

    /// The mod request and its aggregate; `None` for groups (no price to write).
    fn modify(self) -> Option<(&'static str, &'static str)> {
        match self {
            ItemList::Inventory => Some(("ItemInventoryModRq", "ItemInventoryMod")),
            ItemList::Assembly => Some(("ItemInventoryAssemblyModRq", "ItemInventoryAssemblyMod")),
            ItemList::Group => None,
        }
    }

    /// The fields a read asks for (`IncludeRetElement`): only those invsync uses. Group
    /// items have no `FullName`, price or stock.
    pub fn ret_elements(self, sku_field: SkuField) -> Vec<&'static str> {
        let mut fields = match self {
            ItemList::Inventory | ItemList::Assembly => vec![
                "ListID",
                "TimeModified",
                "EditSequence",
                "Name",
                "FullName",
                "IsActive",
                "SalesPrice",
                "QuantityOnHand",
            ],
            ItemList::Group => vec!["ListID", "TimeModified", "EditSequence", "Name", "IsActive"],
        };
        // Group items have a Name and a BarCodeValue, no FullName or part number.
        let extra = match (self, sku_field) {
            (_, SkuField::Name | SkuField::FullName) => None,
            (ItemList::Group, SkuField::ManufacturerPartNumber) => None,
            (_, SkuField::ManufacturerPartNumber) => Some("ManufacturerPartNumber"),
            (_, SkuField::BarCode) => Some("BarCodeValue"),
        };
        fields.extend(extra);
        fields
    }
}

/// `ActiveStatus` of a list query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActiveStatus {
    #[default]
    ActiveOnly,
    InactiveOnly,
    All,
}

impl ActiveStatus {
    fn as_str(self) -> &'static str {
        match self {
            ActiveStatus::ActiveOnly => "ActiveOnly",
            ActiveStatus::InactiveOnly => "InactiveOnly",
            ActiveStatus::All => "All",
        }
    }
}

/// Which page of an iterated read a query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IteratorStep {
    /// `iterator="Start"`: a new iterator (its id comes back in the response).
    Start,
    /// `iterator="Continue" iteratorID="…"`: the next page of that iterator.
    Continue(String),
}

/// What an item query selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every item, page by page.
    Iterate {
        step: IteratorStep,
        max_returned: u32,
        active: ActiveStatus,
    },
    /// These items (a re-read after `3200`).
    ListIds(Vec<String>),
}

/// `ItemInventoryQueryRq`, `ItemInventoryAssemblyQueryRq` or `ItemGroupQueryRq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemQuery {
    pub list: ItemList,
    pub selection: Selection,
    pub sku_field: SkuField,
}

impl ItemQuery {
    /// The first page of every active item of `list`, `max_returned` at a time.
    pub fn start(list: ItemList, max_returned: u32, sku_field: SkuField) -> ItemQuery {
        ItemQuery {
            list,
            selection: Selection::Iterate {
                step: IteratorStep::Start,
                max_returned,
                active: ActiveStatus::ActiveOnly,
            },
            sku_field,
        }
    }

    /// The next page of the iterator `iterator_id`.
    pub fn next_page(
        list: ItemList,
        iterator_id: &str,
        max_returned: u32,
        sku_field: SkuField,
    ) -> ItemQuery {
        ItemQuery {
            list,
            selection: Selection::Iterate {
                step: IteratorStep::Continue(iterator_id.to_owned()),
                max_returned,
                active: ActiveStatus::ActiveOnly,
            },
            sku_field,
        }
    }
}

/// A new `SalesPrice` for one item, compare-and-set on its `EditSequence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceMod {
    pub list: ItemList,
    pub list_id: String,
    pub edit_sequence: String,
    pub sales_price: Decimal,
}

/// The mark an inventory adjustment carries so a lost answer can be told from a lost
/// request: `RefNumber` (what `InventoryAdjustmentQueryRq` can search, at most 11
/// characters) is a digest of the write key, and `Memo` carries the key itself, so a
/// found adjustment is ours only when both match ([`AdjustmentMarker::matches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentMarker {
    pub ref_number: String,
    pub memo: String,
}

/// `RefNumber`s of inventory adjustments hold at most 11 characters (XSD).
pub const MAX_REF_NUMBER: usize = 11;
const MARKER_PREFIX: &str = "IS";
const MEMO_PREFIX: &str = "invsync write ";

impl AdjustmentMarker {
    /// The marker of the write with idempotency key `key` ([`crate::WriteKeys`]).
    pub fn for_write_key(key: &str) -> AdjustmentMarker {
        let digest = crate::keys::stable_hash([key.as_bytes()]);
        // 9 base-36 digits of the digest (~46 bits) after "IS": 11 characters.
        let mut n = digest % 36u64.pow(9);
        let mut digits = [b'0'; 9];
        for slot in digits.iter_mut().rev() {
            let d = (n % 36) as u8;
            *slot = if d < 10 { b'0' + d } else { b'A' + d - 10 };
            n /= 36;
        }
        let digits: String = digits.iter().map(|b| char::from(*b)).collect();
        AdjustmentMarker {
            ref_number: format!("{MARKER_PREFIX}{digits}"),
            memo: format!("{MEMO_PREFIX}{key}"),
        }
    }

    /// Whether an adjustment read back (its `RefNumber` and `Memo`) is the one this
    /// marker marks. QuickBooks may trim a memo's trailing spaces; nothing else.
    pub fn matches(&self, ref_number: Option<&str>, memo: Option<&str>) -> bool {
        ref_number.map(str::trim) == Some(self.ref_number.as_str())
            && memo.map(str::trim_end) == Some(self.memo.trim_end())
    }
}

/// One line of an inventory adjustment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentLine {
    pub list_id: String,
    /// New − current: positive adds stock.
    pub quantity_difference: Decimal,
}

/// `InventoryAdjustmentAddRq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentAdd {
    /// `adjustment_account`: the account's full name.
    pub account: String,
    /// `site`: an Advanced Inventory site's full name.
    pub site: Option<String>,
    pub marker: AdjustmentMarker,
    pub lines: Vec<AdjustmentLine>,
}

/// Transactions looked up by `RefNumber`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    /// `InventoryAdjustmentQueryRq`: finds adjustments by their marker.
    InventoryAdjustment,
    /// `SalesReceiptQueryRq`: posted orders.
    SalesReceipt,
    /// `InvoiceQueryRq`: posted orders.
    Invoice,
}

impl TxnKind {
    pub fn query_request(self) -> &'static str {
        match self {
            TxnKind::InventoryAdjustment => "InventoryAdjustmentQueryRq",
            TxnKind::SalesReceipt => "SalesReceiptQueryRq",
            TxnKind::Invoice => "InvoiceQueryRq",
        }
    }

    pub fn ret(self) -> &'static str {
        match self {
            TxnKind::InventoryAdjustment => "InventoryAdjustmentRet",
            TxnKind::SalesReceipt => "SalesReceiptRet",
            TxnKind::Invoice => "InvoiceRet",
        }
    }

    pub fn from_ret(element: &str) -> Option<TxnKind> {
        [
            TxnKind::InventoryAdjustment,
            TxnKind::SalesReceipt,
            TxnKind::Invoice,
        ]
        .into_iter()
        .find(|k| k.ret() == element)
    }

    fn ret_elements(self) -> &'static [&'static str] {
        match self {
            TxnKind::InventoryAdjustment => &["TxnID", "TxnDate", "RefNumber", "Memo"],
            TxnKind::SalesReceipt | TxnKind::Invoice => &["TxnID", "TxnDate", "RefNumber"],
        }
    }
}

/// A transaction query by `RefNumber` (exact match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefQuery {
    pub kind: TxnKind,
    pub ref_numbers: Vec<String>,
}

/// One request of a message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Items(ItemQuery),
    Price(PriceMod),
    Adjustment(AdjustmentAdd),
    ByRef(RefQuery),
}

impl Request {
    /// The request's element name, e.g. `ItemInventoryModRq`.
    pub fn element(&self) -> &'static str {
        match self {
            Request::Items(q) => q.list.query_request(),
            Request::Price(p) => p.list.modify().map_or("ItemGroupModRq", |(rq, _)| rq),
            Request::Adjustment(_) => "InventoryAdjustmentAddRq",
            Request::ByRef(q) => q.kind.query_request(),
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
impl From<AdjustmentAdd> for Request {
    fn from(a: AdjustmentAdd) -> Request {
        Request::Adjustment(a)
    }
}
impl From<RefQuery> for Request {
    fn from(q: RefQuery) -> Request {
        Request::ByRef(q)
    }
}

/// Why a request was refused before it was sent. The message names the field and what is
/// wrong with it, never more than the field's position of a bad character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{request} not sent: {field} {problem}")]
pub struct BuildError {
    pub request: &'static str,
    pub field: &'static str,
    pub problem: String,
}

/// A request's `requestID` in its message set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u32);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a message set needs of its requests (qbXML's [`Request`], qbposXML's): the
/// document's envelope, a check when a request is pushed, and how one is written.
pub trait SetRequest {
    /// The processing instruction's name and version (`qbxml`, `13.0`).
    const INSTRUCTION: (&'static str, &'static str);
    /// The root and the messages element (`QBXML`, `QBXMLMsgsRq`).
    const ELEMENTS: (&'static str, &'static str);
    /// Why this request cannot be sent, naming the field.
    fn check(&self) -> Result<(), BuildError>;
    /// The request element, with its `requestID`.
    fn write(&self, w: &mut Writer<Vec<u8>>, id: RequestId);
    /// The request's element name, for logs.
    fn element(&self) -> &'static str;
}

/// One request document of either dialect: requests checked as they are pushed, each
/// with its `requestID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSet<R> {
    requests: Vec<(RequestId, R)>,
}

/// One qbXML request document.
pub type MessageSet = RequestSet<Request>;

impl<R> Default for RequestSet<R> {
    fn default() -> Self {
        RequestSet {
            requests: Vec::new(),
        }
    }
}

impl<R: SetRequest> RequestSet<R> {
    pub fn new() -> Self {
        RequestSet::default()
    }

    /// Adds a request after checking it; a refused request leaves the set as it was.
    pub fn push(&mut self, request: impl Into<R>) -> Result<RequestId, BuildError> {
        let request = request.into();
        request.check()?;
        let id = RequestId(
            u32::try_from(self.requests.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1),
        );
        self.requests.push((id, request));
        Ok(id)
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The requests with their ids, in order.
    pub fn requests(&self) -> &[(RequestId, R)] {
        &self.requests
    }

    pub fn request(&self, id: RequestId) -> Option<&R> {
        self.requests.iter().find(|(i, _)| *i == id).map(|(_, r)| r)
    }

    /// The document: XML declaration, the processing instruction
    /// (`<?qbxml version="13.0"?>`), and every request in the messages element with
    /// `onError="continueOnError"` (a failed request does not stop the others; each
    /// answers with its own status).
    pub fn to_xml(&self) -> String {
        let (pi, version) = R::INSTRUCTION;
        let (root, messages) = R::ELEMENTS;
        let mut w = Writer::new(Vec::new());
        // Writing into a Vec cannot fail; the results are io::Results of that Vec.
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
        let _ = w.write_event(Event::PI(BytesPI::new(format!(
            "{pi} version=\"{version}\""
        ))));
        start(&mut w, root, &[]);
        start(&mut w, messages, &[("onError", "continueOnError")]);
        for (id, request) in &self.requests {
            request.write(&mut w, *id);
        }
        end(&mut w, messages);
        end(&mut w, root);
        // quick-xml writes the UTF-8 it was given.
        String::from_utf8(w.into_inner()).unwrap_or_default()
    }
}

impl<R: SetRequest> fmt::Display for RequestSet<R> {
    /// What the set holds, for logs: request kinds and counts, never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self.requests.iter().map(|(_, r)| r.element()).collect();
        write!(f, "{} request(s): {}", kinds.len(), kinds.join(", "))
    }
}

impl SetRequest for Request {
    const INSTRUCTION: (&'static str, &'static str) = ("qbxml", QBXML_VERSION);
    const ELEMENTS: (&'static str, &'static str) = ("QBXML", "QBXMLMsgsRq");

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

pub(crate) fn start(w: &mut Writer<Vec<u8>>, name: &str, attributes: &[(&str, &str)]) {
    let mut element = BytesStart::new(name);
    for attribute in attributes {
        element.push_attribute(*attribute);
    }
    let _ = w.write_event(Event::Start(element));
}

pub(crate) fn end(w: &mut Writer<Vec<u8>>, name: &str) {
    let _ = w.write_event(Event::End(BytesEnd::new(name)));
}

/// `<name>text</name>`, the text escaped: `<`, `>`, `&`, `'`, `"` as entities, and a
/// carriage return as `&#xD;` (a parser turns a literal CR LF into LF; QuickBooks would
/// store a value that differs from the one sent).
pub(crate) fn leaf(w: &mut Writer<Vec<u8>>, name: &str, text: &str) {
    start(w, name, &[]);
    let escaped = quick_xml::escape::escape(text);
    let escaped = if escaped.contains('\r') {
        escaped.replace('\r', "&#xD;").into()
    } else {
        escaped
    };
    let _ = w.write_event(Event::Text(BytesText::from_escaped(escaped)));
    end(w, name);
}

/// A decimal as `PRICETYPE`/`QUANTYPE` text: at most five decimals (a value with more
/// only passed [`check`] when the extra ones are trailing zeros).
pub(crate) fn decimal_text(value: &Decimal) -> String {
    if value.scale() > 5 {
        value.normalize().to_string()
    } else {
        value.to_string()
    }
}

fn full_name_ref(w: &mut Writer<Vec<u8>>, name: &str, full_name: &str) {
    start(w, name, &[]);
    leaf(w, "FullName", full_name);
    end(w, name);
}

fn write_request(w: &mut Writer<Vec<u8>>, id: RequestId, request: &Request) {
    let id = id.to_string();
    let element = request.element();
    match request {
        Request::Items(q) => {
            let step = match &q.selection {
                Selection::Iterate { step, .. } => Some(step),
                Selection::ListIds(_) => None,
            };
            start(w, element, &query_attributes(&id, step));
            match &q.selection {
                Selection::Iterate {
                    max_returned,
                    active,
                    ..
                } => {
                    leaf(w, "MaxReturned", &max_returned.to_string());
                    leaf(w, "ActiveStatus", active.as_str());
                }
                Selection::ListIds(ids) => {
                    for list_id in ids {
                        leaf(w, "ListID", list_id);
                    }
                }
            }
            for field in q.list.ret_elements(q.sku_field) {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
        Request::Price(p) => {
            let aggregate = p.list.modify().map_or("ItemGroupMod", |(_, agg)| agg);
            start(w, element, &[("requestID", id.as_str())]);
            start(w, aggregate, &[]);
            leaf(w, "ListID", &p.list_id);
            leaf(w, "EditSequence", &p.edit_sequence);
            leaf(w, "SalesPrice", &decimal_text(&p.sales_price));
            end(w, aggregate);
            for field in ["ListID", "EditSequence", "Name", "FullName", "SalesPrice"] {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
        Request::Adjustment(a) => {
            start(w, element, &[("requestID", id.as_str())]);
            start(w, "InventoryAdjustmentAdd", &[]);
            full_name_ref(w, "AccountRef", &a.account);
            leaf(w, "RefNumber", &a.marker.ref_number);
            if let Some(site) = &a.site {
                full_name_ref(w, "InventorySiteRef", site);
            }
            leaf(w, "Memo", &a.marker.memo);
            for line in &a.lines {
                start(w, "InventoryAdjustmentLineAdd", &[]);
                start(w, "ItemRef", &[]);
                leaf(w, "ListID", &line.list_id);
                end(w, "ItemRef");
                start(w, "QuantityAdjustment", &[]);
                leaf(
                    w,
                    "QuantityDifference",
                    &decimal_text(&line.quantity_difference),
                );
                end(w, "QuantityAdjustment");
                end(w, "InventoryAdjustmentLineAdd");
            }
            end(w, "InventoryAdjustmentAdd");
            for field in ["TxnID", "RefNumber", "Memo"] {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
        Request::ByRef(q) => {
            start(w, element, &[("requestID", id.as_str())]);
            for ref_number in &q.ref_numbers {
                leaf(w, "RefNumber", ref_number);
            }
            for field in q.kind.ret_elements() {
                leaf(w, "IncludeRetElement", field);
            }
            end(w, element);
        }
    }
}

/// Largest `MaxReturned` invsync asks for: QuickBooks answers in one response, held in
/// memory by the Web Connector; 10,000 items of the trimmed fields is a few MB.
pub const MAX_MAX_RETURNED: u32 = 10_000;

fn check(request: &Request) -> Result<(), BuildError> {
    let name = request.element();
    let fail = |field: &'static str, problem: String| BuildError {
        request: name,
        field,
        problem,
    };
    let text = |field: &'static str, value: &str, max: usize| -> Result<(), BuildError> {
        text_problem(value, max).map_or(Ok(()), |problem| Err(fail(field, problem)))
    };
    let non_empty = |field: &'static str, value: &str| -> Result<(), BuildError> {
        if value.trim().is_empty() {
            Err(fail(field, "is empty".into()))
        } else {
            Ok(())
        }
    };
    match request {
        Request::Items(q) => match &q.selection {
            Selection::Iterate {
                step, max_returned, ..
            } => page_problem(*max_returned, step)
                .map_or(Ok(()), |(field, problem)| Err(fail(field, problem))),
            Selection::ListIds(ids) => {
                if ids.is_empty() {
                    return Err(fail("ListID", "list is empty".into()));
                }
                for id in ids {
                    non_empty("ListID", id)?;
                    text("ListID", id, 36)?;
                }
                Ok(())
            }
        },
        Request::Price(p) => {
            if p.list.modify().is_none() {
                return Err(fail(
                    "SalesPrice",
                    "cannot be written to a group item".into(),
                ));
            }
            non_empty("ListID", &p.list_id)?;
            text("ListID", &p.list_id, 36)?;
            non_empty("EditSequence", &p.edit_sequence)?;
            text("EditSequence", &p.edit_sequence, 16)?;
            if p.sales_price.is_sign_negative() && !p.sales_price.is_zero() {
                return Err(fail(
                    "SalesPrice",
                    format!("is negative ({})", p.sales_price),
                ));
            }
            check_decimal(&p.sales_price).map_err(|problem| fail("SalesPrice", problem))
        }
        Request::Adjustment(a) => {
            non_empty("AccountRef/FullName", &a.account)?;
            text("AccountRef/FullName", &a.account, 159)?;
            if let Some(site) = &a.site {
                non_empty("InventorySiteRef/FullName", site)?;
                text("InventorySiteRef/FullName", site, 31)?;
            }
            non_empty("RefNumber", &a.marker.ref_number)?;
            text("RefNumber", &a.marker.ref_number, MAX_REF_NUMBER)?;
            text("Memo", &a.marker.memo, 4095)?;
            if a.lines.is_empty() {
                return Err(fail("InventoryAdjustmentLineAdd", "is missing".into()));
            }
            for line in &a.lines {
                non_empty("ItemRef/ListID", &line.list_id)?;
                text("ItemRef/ListID", &line.list_id, 36)?;
                if line.quantity_difference.is_zero() {
                    return Err(fail("QuantityDifference", "is zero".into()));
                }
                check_decimal(&line.quantity_difference)
                    .map_err(|problem| fail("QuantityDifference", problem))?;
            }
            Ok(())
        }
        Request::ByRef(q) => {
            if q.ref_numbers.is_empty() {
                return Err(fail("RefNumber", "list is empty".into()));
            }
            for ref_number in &q.ref_numbers {
                non_empty("RefNumber", ref_number)?;
                // Longer references can never match: QuickBooks keeps 11 characters
                // (the RefNumber of sales receipts, invoices and adjustments).
                text("RefNumber", ref_number, MAX_REF_NUMBER)?;
            }
            Ok(())
        }
    }
}

/// The attributes of a query: `requestID`, and `iterator`/`iteratorID` for a page of an
/// iterated read (the same in qbXML and qbposXML).
pub(crate) fn query_attributes<'a>(
    id: &'a str,
    step: Option<&'a IteratorStep>,
) -> Vec<(&'static str, &'a str)> {
    let mut attributes = vec![("requestID", id)];
    match step {
        Some(IteratorStep::Start) => attributes.push(("iterator", "Start")),
        Some(IteratorStep::Continue(iterator)) => {
            attributes.push(("iterator", "Continue"));
            attributes.push(("iteratorID", iterator.as_str()));
        }
        None => {}
    }
    attributes
}

/// What is wrong with a page of an iterated read: `MaxReturned` out of range, or an
/// iterator id that is empty, too long or would not survive as an attribute value.
pub(crate) fn page_problem(
    max_returned: u32,
    step: &IteratorStep,
) -> Option<(&'static str, String)> {
    if !(1..=MAX_MAX_RETURNED).contains(&max_returned) {
        return Some((
            "MaxReturned",
            format!("is {max_returned}; it must be 1 to {MAX_MAX_RETURNED}"),
        ));
    }
    let IteratorStep::Continue(iterator) = step else {
        return None;
    };
    if iterator.trim().is_empty() {
        return Some(("iteratorID", "is empty".into()));
    }
    if let Some(problem) = text_problem(iterator, 64) {
        return Some(("iteratorID", problem));
    }
    // An attribute value: line breaks and tabs would be normalised away.
    iterator
        .chars()
        .any(char::is_control)
        .then(|| ("iteratorID", "holds control characters".to_owned()))
}

/// What is wrong with a text value for a field of at most `max` characters: a character
/// XML cannot carry (with its position, never the value), or its length.
pub(crate) fn text_problem(value: &str, max: usize) -> Option<String> {
    if let Some((position, c)) = first_non_xml_char(value) {
        return Some(format!(
            "holds U+{:04X} at character {}, which XML cannot carry",
            u32::from(c),
            position + 1
        ));
    }
    let chars = value.chars().count();
    (chars > max).then(|| format!("is {chars} characters long; QuickBooks keeps at most {max}"))
}

/// `PRICETYPE` and `QUANTYPE`: `[+-]?[0-9]{1,10}(\.[0-9]{1,5})?`.
pub(crate) fn check_decimal(value: &Decimal) -> Result<(), String> {
    if value.scale() > 5 {
        let trimmed = value.normalize();
        if trimmed.scale() > 5 {
            return Err(format!(
                "{value} has more than the 5 decimals QuickBooks accepts"
            ));
        }
    }
    let limit = Decimal::from(10_000_000_000i64);
    if value.abs() >= limit {
        return Err(format!(
            "{value} has more than the 10 digits QuickBooks accepts"
        ));
    }
    Ok(())
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
        let id = set
            .push(ItemQuery::start(ItemList::Inventory, 500, SkuField::Name))
            .expect("valid");
        assert_eq!(id, RequestId(1));
        let xml = set.to_xml();
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbxml version=\"13.0\"?>")
        );
        assert!(xml.contains(
            "<QBXMLMsgsRq onError=\"continueOnError\"><ItemInventoryQueryRq requestID=\"1\" iterator=\"Start\"><MaxReturned>500</MaxReturned><ActiveStatus>ActiveOnly</ActiveStatus><IncludeRetElement>ListID</IncludeRetElement>"
        ), "{xml}");
        assert!(!xml.contains("ManufacturerPartNumber"));

        let mut set = MessageSet::new();
        set.push(ItemQuery::next_page(
            ItemList::Assembly,
            "{e1-\"x\"}",
            50,
            SkuField::BarCode,
        ))
        .expect("valid");
        let xml = set.to_xml();
        assert!(
            xml.contains("iterator=\"Continue\" iteratorID=\"{e1-&quot;x&quot;}\""),
            "{xml}"
        );
        assert!(xml.contains("<IncludeRetElement>BarCodeValue</IncludeRetElement>"));
    }

    #[test]
    fn a_bad_item_is_refused_alone() {
        let mut set = MessageSet::new();
        let good = PriceMod {
            list: ItemList::Inventory,
            list_id: "80000001-1234567890".into(),
            edit_sequence: "1234567890".into(),
            sales_price: dec("12.50"),
        };
        set.push(good.clone()).expect("valid");
        let bad = [
            PriceMod {
                list_id: "8000\0".into(),
                ..good.clone()
            },
            PriceMod {
                sales_price: dec("1.234567"),
                ..good.clone()
            },
            PriceMod {
                sales_price: dec("-1"),
                ..good.clone()
            },
            PriceMod {
                sales_price: dec("12345678901"),
                ..good.clone()
            },
            PriceMod {
                edit_sequence: "12345678901234567".into(),
                ..good.clone()
            },
            PriceMod {
                list: ItemList::Group,
                ..good.clone()
            },
        ];
        for p in bad {
            let e = set.push(p).expect_err("refused");
            assert!(
                e.to_string().starts_with("ItemInventoryModRq not sent:")
                    || e.field == "SalesPrice",
                "{e}"
            );
        }
        assert_eq!(set.len(), 1);
        // Trailing zeros beyond five decimals are fine: the value has five.
        set.push(PriceMod {
            sales_price: dec("1.2300000"),
            ..good
        })
        .expect("valid");
        let e = set
            .push(RefQuery {
                kind: TxnKind::SalesReceipt,
                ref_numbers: vec!["#100000000001".into()],
            })
            .expect_err("too long");
        assert!(e.to_string().contains("at most 11"), "{e}");
    }

    #[test]
    fn markers_are_short_stable_and_checked_both_ways() {
        let key = "invsync-0123-run-7-change-3-00ff00ff00ff00ff";
        let m = AdjustmentMarker::for_write_key(key);
        assert_eq!(m.ref_number.len(), MAX_REF_NUMBER);
        assert_eq!(m, AdjustmentMarker::for_write_key(key));
        assert_ne!(
            m.ref_number,
            AdjustmentMarker::for_write_key("other").ref_number
        );
        assert!(m.matches(Some(&m.ref_number), Some(&m.memo)));
        assert!(!m.matches(Some(&m.ref_number), Some("invsync write other")));
        assert!(!m.matches(None, Some(&m.memo)));
    }

    #[test]
    fn adjustment_elements_follow_the_xsd_order() {
        let mut set = MessageSet::new();
        set.push(AdjustmentAdd {
            account: "Inventory Adjustments".into(),
            site: Some("Main & Back".into()),
            marker: AdjustmentMarker::for_write_key("k"),
            lines: vec![AdjustmentLine {
                list_id: "8000-1".into(),
                quantity_difference: dec("-3"),
            }],
        })
        .expect("valid");
        let xml = set.to_xml();
        let order = [
            "<AccountRef>",
            "<RefNumber>",
            "<InventorySiteRef>",
            "<Memo>",
            "<InventoryAdjustmentLineAdd>",
        ];
        let positions: Vec<usize> = order.iter().map(|e| xml.find(e).expect(e)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{xml}");
        assert!(xml.contains("Main &amp; Back"));
        assert!(xml.contains("<QuantityDifference>-3</QuantityDifference>"));
    }
}
