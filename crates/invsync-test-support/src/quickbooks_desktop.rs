//! A fake QuickBooks Desktop company file: what the Web Connector's `sendRequestXML` text
//! meets on the Windows side. Pure text in, text out — no HTTP — so the Web Connector
//! endpoint (and its client fake) can put it behind `receiveResponseXML`:
//! [`Company::handle`]`(session, request) -> Result<response, HResult>`.
//!
//! It answers the qbXML 13.0 requests invsync sends (item queries with iterators, price
//! mods, inventory adjustments, look-ups of adjustments, sales receipts and invoices by
//! `RefNumber`) the way Intuit documents QuickBooks to, and enforces what makes QuickBooks
//! hard to talk to:
//!
//! * **EditSequence** moves on every change of an item — a mod through qbXML or an edit
//!   made "in QuickBooks" through the test API ([`Company::edit_in_quickbooks`]) — and a
//!   mod carrying an older one fails with `3200`.
//! * **Sales move stock, not the item.** A sales receipt or invoice entered "in
//!   QuickBooks" ([`Company::enter_sales_receipt`], [`Company::enter_invoice`]) and an
//!   inventory adjustment lower or raise `QuantityOnHand` without moving the item's
//!   `TimeModified` or `EditSequence`. Intuit, *ItemInventoryQuery* (QuickBooks Desktop
//!   onscreen reference, developer.intuit.com/app/developer/qbdesktop/docs/api-reference/qbdesktop/iteminventoryquery):
//!   "certain modifications to the item can be caused by other transactions, such as
//!   ItemReceipts where the item's on hand quantity is increased. Modifications through
//!   these transactions do not result in changing the TimeModified stamp (only the Mod
//!   operation will do that), but those changes will be detected when you use the
//!   FromModifiedDate/ToModifiedDate filters in your query." The fake follows the page
//!   to the letter, second sentence included ([`ModifiedFilter::Documented`]); because
//!   that second sentence is what an incremental read would bet stock on,
//!   [`ModifiedFilter::TimeModifiedOnly`] models the pessimistic reading for tests that
//!   must hold either way.
//! * **Iterators** (`iterator="Start"`/`"Continue"`, `iteratorRemainingCount`) belong to
//!   the session that started them and die with it: continuing one from another session,
//!   or after [`Company::end_session`], answers `3391`.
//! * **Locks**: [`Company::lock`] makes the next writes that touch an item fail with
//!   `3175`, `3176` or `3180` ("for a while": a number of attempts).
//! * **Malformed qbXML** — not well-formed, no `<?qbxml version?>`, not valid against the
//!   real XSDs (checked with [`crate::qbxml_xsd`] unless turned off for speed), a request
//!   the fake does not know — is answered with HRESULT `0x80040400`, as QuickBooks does.
//! * Whole-session failures ([`Company::fail_with`]): `0x80040408` (could not start
//!   QuickBooks), `0x80040416` (no company file open), `0x80040420` (access denied).
//! * A per-request **latency model** ([`LatencyModel`], 150 ms + 0.2 ms per item returned)
//!   for benchmarks: [`Company::handle_timed`] reports it, [`Company::handle_delayed`]
//!   sleeps it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// An HRESULT the company answers a whole message set with (what the Web Connector passes
/// on in `receiveResponseXML`'s `hresult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HResult(pub u32);

impl HResult {
    /// "QuickBooks found an error when parsing the provided XML text stream."
    pub const PARSE_ERROR: HResult = HResult(0x8004_0400);
    /// "Could not start QuickBooks."
    pub const COULD_NOT_START: HResult = HResult(0x8004_0408);
    /// No company file is open and none was named.
    pub const NO_COMPANY_FILE: HResult = HResult(0x8004_0416);
    /// "The QuickBooks user has denied access."
    pub const ACCESS_DENIED: HResult = HResult(0x8004_0420);
}

impl fmt::Display for HResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

/// The item types the fake keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemType {
    Inventory,
    Assembly,
    /// A group item: a bundle or kit of other items, with no stock or price of its own.
    Group,
}

impl ItemType {
    fn ret(self) -> &'static str {
        match self {
            ItemType::Inventory => "ItemInventoryRet",
            ItemType::Assembly => "ItemInventoryAssemblyRet",
            ItemType::Group => "ItemGroupRet",
        }
    }

    fn from_query(request: &str) -> Option<ItemType> {
        match request {
            "ItemInventoryQueryRq" => Some(ItemType::Inventory),
            "ItemInventoryAssemblyQueryRq" => Some(ItemType::Assembly),
            "ItemGroupQueryRq" => Some(ItemType::Group),
            _ => None,
        }
    }

    fn from_mod(request: &str) -> Option<(ItemType, &'static str, &'static str)> {
        match request {
            "ItemInventoryModRq" => Some((
                ItemType::Inventory,
                "ItemInventoryMod",
                "ItemInventoryModRs",
            )),
            "ItemInventoryAssemblyModRq" => Some((
                ItemType::Assembly,
                "ItemInventoryAssemblyMod",
                "ItemInventoryAssemblyModRs",
            )),
            _ => None,
        }
    }
}

/// An item as the company holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub list_id: String,
    pub item_type: ItemType,
    pub name: String,
    /// `Parent:Name` when the item has a parent; else the name.
    pub full_name: String,
    pub manufacturer_part_number: Option<String>,
    pub bar_code: Option<String>,
    pub is_active: bool,
    pub sales_price: Decimal,
    pub quantity_on_hand: Decimal,
    pub edit_sequence: String,
    pub time_created: DateTime<Utc>,
    pub time_modified: DateTime<Utc>,
    /// When a transaction last changed `quantity_on_hand` (not a field QuickBooks shows).
    pub quantity_changed: DateTime<Utc>,
}

/// What a test adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub item_type: ItemType,
    pub name: String,
    pub parent: Option<String>,
    pub manufacturer_part_number: Option<String>,
    pub bar_code: Option<String>,
    pub is_active: bool,
    pub sales_price: Decimal,
    pub quantity_on_hand: Decimal,
}

impl NewItem {
    pub fn inventory(name: &str, price: Decimal, quantity: i64) -> NewItem {
        NewItem {
            item_type: ItemType::Inventory,
            name: name.to_owned(),
            parent: None,
            manufacturer_part_number: None,
            bar_code: None,
            is_active: true,
            sales_price: price,
            quantity_on_hand: Decimal::from(quantity),
        }
    }

    pub fn assembly(name: &str, price: Decimal, quantity: i64) -> NewItem {
        NewItem {
            item_type: ItemType::Assembly,
            ..NewItem::inventory(name, price, quantity)
        }
    }

    /// A group (bundle/kit) item.
    pub fn group(name: &str) -> NewItem {
        NewItem {
            item_type: ItemType::Group,
            ..NewItem::inventory(name, Decimal::ZERO, 0)
        }
    }

    pub fn inactive(self) -> NewItem {
        NewItem {
            is_active: false,
            ..self
        }
    }

    pub fn under(self, parent: &str) -> NewItem {
        NewItem {
            parent: Some(parent.to_owned()),
            ..self
        }
    }

    pub fn with_part_number(self, mpn: &str) -> NewItem {
        NewItem {
            manufacturer_part_number: Some(mpn.to_owned()),
            ..self
        }
    }

    pub fn with_bar_code(self, bar_code: &str) -> NewItem {
        NewItem {
            bar_code: Some(bar_code.to_owned()),
            ..self
        }
    }
}

/// The kinds of transactions the fake keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnType {
    InventoryAdjustment,
    SalesReceipt,
    Invoice,
}

impl TxnType {
    fn ret(self) -> &'static str {
        match self {
            TxnType::InventoryAdjustment => "InventoryAdjustmentRet",
            TxnType::SalesReceipt => "SalesReceiptRet",
            TxnType::Invoice => "InvoiceRet",
        }
    }
}

/// A transaction: an inventory adjustment, or a sale entered in QuickBooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub txn_type: TxnType,
    pub txn_id: String,
    pub txn_number: u64,
    pub ref_number: Option<String>,
    pub memo: Option<String>,
    pub account: Option<String>,
    pub site: Option<String>,
    pub time_created: DateTime<Utc>,
    /// (ListID, quantity difference) per line.
    pub lines: Vec<(String, Decimal)>,
}

/// What `FromModifiedDate`/`ToModifiedDate` compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModifiedFilter {
    /// Intuit's page: `TimeModified` (moved by mods only), and stock changed by
    /// transactions is "detected" by the filter as well.
    #[default]
    Documented,
    /// `TimeModified` only: stock sold since is missed by the filter.
    TimeModifiedOnly,
}

/// The modeled time a message set takes in QuickBooks: a fixed cost per message set and
/// a cost per `…Ret` element in the answer (item or transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyModel {
    pub per_message_set: Duration,
    pub per_item_returned: Duration,
}

impl Default for LatencyModel {
    /// 150 ms + 0.2 ms per item returned (issue 15, item 15).
    fn default() -> LatencyModel {
        LatencyModel {
            per_message_set: Duration::from_millis(150),
            per_item_returned: Duration::from_micros(200),
        }
    }
}

impl LatencyModel {
    pub fn time(&self, items_returned: u64) -> Duration {
        self.per_message_set
            + self
                .per_item_returned
                .saturating_mul(u32::try_from(items_returned).unwrap_or(u32::MAX))
    }
}

/// Counters of what the company was asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub message_sets: u64,
    pub requests: u64,
    /// `…Ret` elements answered: items (queries and mods) and transactions (adjustments
    /// and look-ups), what the latency model charges per item.
    pub items_returned: u64,
    pub price_mods: u64,
    pub adjustments: u64,
    /// Message sets answered with an HRESULT.
    pub rejected: u64,
    /// The latency model's time of every message set answered.
    pub modeled: Duration,
}

#[derive(Debug)]
struct Iterator {
    session: String,
    item_type: ItemType,
    remaining: Vec<String>,
}

#[derive(Debug)]
struct Lock {
    code: u16,
    attempts: u32,
}

#[derive(Debug)]
struct State {
    items: BTreeMap<String, Item>,
    /// Insertion order of ListIDs (QuickBooks returns lists in a stable order).
    order: Vec<String>,
    txns: Vec<Txn>,
    accounts: HashSet<String>,
    /// `Some` when Advanced Inventory is on: the sites.
    sites: Option<HashSet<String>>,
    iterators: HashMap<String, Iterator>,
    ended_sessions: HashSet<String>,
    locks: HashMap<String, Lock>,
    failure: Option<HResult>,
    next_id: u64,
    next_edit: u64,
    next_txn_number: u64,
    stats: Stats,
}

/// The fake company file. Shared by reference (`Arc<Company>`) between a test and the
/// endpoint that serves it; every method takes `&self`.
#[derive(Debug)]
pub struct Company {
    state: Mutex<State>,
    validate_xsd: bool,
    modified_filter: ModifiedFilter,
    latency: Option<LatencyModel>,
}

impl Default for Company {
    fn default() -> Company {
        Company::new()
    }
}

/// The account adjustments go to unless a test adds others.
pub const DEFAULT_ADJUSTMENT_ACCOUNT: &str = "Inventory Adjustments";

impl Company {
    /// An empty company with one adjustment account ([`DEFAULT_ADJUSTMENT_ACCOUNT`]),
    /// Advanced Inventory off, every request checked against the XSDs.
    pub fn new() -> Company {
        Company {
            state: Mutex::new(State {
                items: BTreeMap::new(),
                order: Vec::new(),
                txns: Vec::new(),
                accounts: HashSet::from([DEFAULT_ADJUSTMENT_ACCOUNT.to_owned()]),
                sites: None,
                iterators: HashMap::new(),
                ended_sessions: HashSet::new(),
                locks: HashMap::new(),
                failure: None,
                next_id: 1,
                // EditSequences are seconds-like numbers in QuickBooks.
                next_edit: 1_700_000_000,
                next_txn_number: 1,
                stats: Stats::default(),
            }),
            validate_xsd: true,
            modified_filter: ModifiedFilter::default(),
            latency: None,
        }
    }

    /// Checks requests structurally only (no xmllint run per message set): for
    /// benchmarks and large tests whose requests are validated elsewhere.
    pub fn without_xsd_check(self) -> Company {
        Company {
            validate_xsd: false,
            ..self
        }
    }

    pub fn with_modified_filter(self, filter: ModifiedFilter) -> Company {
        Company {
            modified_filter: filter,
            ..self
        }
    }

    pub fn with_latency(self, model: LatencyModel) -> Company {
        Company {
            latency: Some(model),
            ..self
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock poisons it; the data is still fine
        // for the assertions that follow.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item "in QuickBooks"; returns its ListID.
    pub fn add_item(&self, new: NewItem) -> String {
        let mut s = self.state();
        let list_id = format!(
            "{:X}-{}",
            0x8000_0000u64 + s.next_id,
            1_228_629_275 + s.next_id
        );
        s.next_id += 1;
        let edit_sequence = s.bump_edit();
        let now = Utc::now();
        let full_name = match &new.parent {
            Some(parent) => format!("{parent}:{}", new.name),
            None => new.name.clone(),
        };
        let item = Item {
            list_id: list_id.clone(),
            item_type: new.item_type,
            name: new.name,
            full_name,
            manufacturer_part_number: new.manufacturer_part_number,
            bar_code: new.bar_code,
            is_active: new.is_active,
            sales_price: new.sales_price,
            quantity_on_hand: new.quantity_on_hand,
            edit_sequence,
            time_created: now,
            time_modified: now,
            quantity_changed: now,
        };
        s.items.insert(list_id.clone(), item);
        s.order.push(list_id.clone());
        list_id
    }

    /// The item now, if there is one.
    pub fn item(&self, list_id: &str) -> Option<Item> {
        self.state().items.get(list_id).cloned()
    }

    /// The first item whose name or full name is `name`.
    pub fn item_named(&self, name: &str) -> Option<Item> {
        self.state()
            .items
            .values()
            .find(|i| i.name == name || i.full_name == name)
            .cloned()
    }

    pub fn items(&self) -> Vec<Item> {
        let s = self.state();
        s.order
            .iter()
            .filter_map(|id| s.items.get(id).cloned())
            .collect()
    }

    /// Changes an item as a user would in QuickBooks: its EditSequence and TimeModified
    /// move. Panics when there is no such item.
    pub fn edit_in_quickbooks(&self, list_id: &str, edit: impl FnOnce(&mut Item)) {
        let mut s = self.state();
        let edit_sequence = s.bump_edit();
        let item = s
            .items
            .get_mut(list_id)
            .unwrap_or_else(|| panic!("no item {list_id} in the fake company"));
        edit(item);
        item.edit_sequence = edit_sequence;
        item.time_modified = Utc::now();
    }

    /// A sales receipt entered in QuickBooks, selling `lines` (ListID, units): stock goes
    /// down; the items' EditSequence and TimeModified do not move. Returns its TxnID.
    pub fn enter_sales_receipt(&self, ref_number: &str, lines: &[(&str, i64)]) -> String {
        self.enter_sale(TxnType::SalesReceipt, ref_number, lines)
    }

    /// An invoice entered in QuickBooks (stock goes down as for a sales receipt).
    pub fn enter_invoice(&self, ref_number: &str, lines: &[(&str, i64)]) -> String {
        self.enter_sale(TxnType::Invoice, ref_number, lines)
    }

    fn enter_sale(&self, txn_type: TxnType, ref_number: &str, lines: &[(&str, i64)]) -> String {
        let lines: Vec<(String, Decimal)> = lines
            .iter()
            .map(|(id, units)| ((*id).to_owned(), -Decimal::from(*units)))
            .collect();
        let mut s = self.state();
        s.add_txn(
            txn_type,
            Some(ref_number.to_owned()),
            None,
            None,
            None,
            lines,
        )
    }

    /// Every transaction, oldest first.
    pub fn transactions(&self) -> Vec<Txn> {
        self.state().txns.clone()
    }

    /// The inventory adjustments, oldest first.
    pub fn adjustments(&self) -> Vec<Txn> {
        self.transactions()
            .into_iter()
            .filter(|t| t.txn_type == TxnType::InventoryAdjustment)
            .collect()
    }

    pub fn add_account(&self, full_name: &str) {
        self.state().accounts.insert(full_name.to_owned());
    }

    /// Turns Advanced Inventory on with these sites.
    pub fn enable_sites(&self, sites: &[&str]) {
        self.state().sites = Some(sites.iter().map(|s| (*s).to_owned()).collect());
    }

    /// The next `attempts` writes touching the item fail with `code` (3175, 3176 or
    /// 3180): someone has it open in QuickBooks.
    pub fn lock(&self, list_id: &str, code: u16, attempts: u32) {
        assert!(
            matches!(code, 3170 | 3175 | 3176 | 3180),
            "lock codes are 3170, 3175, 3176, 3180"
        );
        self.state()
            .locks
            .insert(list_id.to_owned(), Lock { code, attempts });
    }

    /// Every message set is answered with `hresult` until `None`.
    pub fn fail_with(&self, hresult: Option<HResult>) {
        self.state().failure = hresult;
    }

    /// The Web Connector session ended: its iterators die with it.
    pub fn end_session(&self, session: &str) {
        let mut s = self.state();
        s.iterators.retain(|_, it| it.session != session);
        s.ended_sessions.insert(session.to_owned());
    }

    pub fn stats(&self) -> Stats {
        self.state().stats
    }

    /// Answers one request message set of `session`.
    pub fn handle(&self, session: &str, request: &str) -> Result<String, HResult> {
        self.handle_timed(session, request).0
    }

    /// [`Company::handle`] and the latency model's time for it (zero without a model).
    pub fn handle_timed(
        &self,
        session: &str,
        request: &str,
    ) -> (Result<String, HResult>, Duration) {
        let checked = self.check(request);
        let mut s = self.state();
        let result = match (s.failure, checked) {
            (Some(hresult), _) => Err(hresult),
            (None, Err(hresult)) => Err(hresult),
            (None, Ok(document)) => s.answer(session, &document, self.modified_filter),
        };
        account(&mut s.stats, self.latency, result)
    }

    /// [`Company::handle`], after sleeping the latency model's time.
    pub async fn handle_delayed(&self, session: &str, request: &str) -> Result<String, HResult> {
        after_latency(self.handle_timed(session, request)).await
    }

    /// Well-formed, `<?qbxml version?>` present, valid against the XSDs (when on).
    fn check(&self, request: &str) -> Result<Node, HResult> {
        let (document, version) = parse(request).map_err(|_| HResult::PARSE_ERROR)?;
        let version = version.ok_or(HResult::PARSE_ERROR)?;
        let supported = version
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| (1..=13).contains(&major));
        if !supported {
            return Err(HResult::PARSE_ERROR);
        }
        if self.validate_xsd && crate::qbxml_xsd::validate(request).is_err() {
            return Err(HResult::PARSE_ERROR);
        }
        if document.name != "QBXML" {
            return Err(HResult::PARSE_ERROR);
        }
        Ok(document)
    }
}

/// Counts one message set and its answer (text and items returned, or the HRESULT that came
/// instead) in `stats`, and times it with `latency`: what every company fake does once it
/// has answered.
pub(crate) fn account(
    stats: &mut Stats,
    latency: Option<LatencyModel>,
    result: Result<(String, u64), HResult>,
) -> (Result<String, HResult>, Duration) {
    stats.message_sets += 1;
    let items = match &result {
        Ok((_, items)) => *items,
        Err(_) => {
            stats.rejected += 1;
            0
        }
    };
    stats.items_returned += items;
    let time = latency.map(|m| m.time(items)).unwrap_or_default();
    stats.modeled += time;
    (result.map(|(text, _)| text), time)
}

/// The answer of a `handle_timed`, after sleeping its time.
pub(crate) async fn after_latency(
    (result, time): (Result<String, HResult>, Duration),
) -> Result<String, HResult> {
    if !time.is_zero() {
        tokio::time::sleep(time).await;
    }
    result
}

impl State {
    fn bump_edit(&mut self) -> String {
        self.next_edit += 1;
        self.next_edit.to_string()
    }

    fn add_txn(
        &mut self,
        txn_type: TxnType,
        ref_number: Option<String>,
        memo: Option<String>,
        account: Option<String>,
        site: Option<String>,
        lines: Vec<(String, Decimal)>,
    ) -> String {
        let now = Utc::now();
        for (list_id, difference) in &lines {
            if let Some(item) = self.items.get_mut(list_id) {
                // A transaction: QuantityOnHand moves, TimeModified and EditSequence do not.
                item.quantity_on_hand += *difference;
                item.quantity_changed = now;
            }
        }
        let number = self.next_txn_number;
        self.next_txn_number += 1;
        let txn_id = format!("{:X}-{}", 0x1000 + number, 1_700_000_000 + number);
        self.txns.push(Txn {
            txn_type,
            txn_id: txn_id.clone(),
            txn_number: number,
            ref_number,
            memo,
            account,
            site,
            time_created: now,
            lines,
        });
        txn_id
    }

    /// The answer document and the number of items it returns.
    fn answer(
        &mut self,
        session: &str,
        document: &Node,
        filter: ModifiedFilter,
    ) -> Result<(String, u64), HResult> {
        let messages = document.child("QBXMLMsgsRq").ok_or(HResult::PARSE_ERROR)?;
        let stop_on_error = messages.attribute("onError") != Some("continueOnError");
        let mut w = Writer::new(Vec::new());
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)));
        start(&mut w, "QBXML", &[]);
        start(&mut w, "QBXMLMsgsRs", &[]);
        let mut items_returned = 0;
        let mut failed = false;
        for request in &messages.children {
            self.stats.requests += 1;
            let response_name = response_name(request);
            if failed && stop_on_error {
                status_only(
                    &mut w,
                    &response_name,
                    request,
                    3231,
                    "Error",
                    "The request has not been processed.",
                );
                continue;
            }
            let outcome = self.answer_one(&mut w, session, request, filter)?;
            items_returned += outcome.items;
            failed |= outcome.error;
        }
        end(&mut w, "QBXMLMsgsRs");
        end(&mut w, "QBXML");
        let text = String::from_utf8(w.into_inner()).map_err(|_| HResult::PARSE_ERROR)?;
        Ok((text, items_returned))
    }

    fn answer_one(
        &mut self,
        w: &mut Writer<Vec<u8>>,
        session: &str,
        request: &Node,
        filter: ModifiedFilter,
    ) -> Result<Outcome, HResult> {
        let name = request.name.as_str();
        if let Some(item_type) = ItemType::from_query(name) {
            return Ok(self.item_query(w, session, request, item_type, filter));
        }
        if let Some((item_type, aggregate, response)) = ItemType::from_mod(name) {
            return Ok(self.item_mod(w, request, item_type, aggregate, response));
        }
        match name {
            "InventoryAdjustmentAddRq" => Ok(self.adjustment_add(w, request)),
            "InventoryAdjustmentQueryRq" => {
                Ok(self.txn_query(w, request, TxnType::InventoryAdjustment))
            }
            "SalesReceiptQueryRq" => Ok(self.txn_query(w, request, TxnType::SalesReceipt)),
            "InvoiceQueryRq" => Ok(self.txn_query(w, request, TxnType::Invoice)),
            // Valid qbXML the fake does not model: tests must not rely on it.
            _ => Err(HResult::PARSE_ERROR),
        }
    }

    fn item_query(
        &mut self,
        w: &mut Writer<Vec<u8>>,
        session: &str,
        request: &Node,
        item_type: ItemType,
        filter: ModifiedFilter,
    ) -> Outcome {
        let response = response_name(request);
        let include = include_elements(request);
        let max_returned = request
            .child_text("MaxReturned")
            .and_then(|m| m.trim().parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        match request.attribute("iterator") {
            Some("Continue") => {
                let id = request
                    .attribute("iteratorID")
                    .unwrap_or_default()
                    .to_owned();
                let alive = !self.ended_sessions.contains(session)
                    && self
                        .iterators
                        .get(&id)
                        .is_some_and(|it| it.session == session && it.item_type == item_type);
                if !alive {
                    status_only(
                        w,
                        &response,
                        request,
                        3391,
                        "Error",
                        &format!(
                            "The iterator \"{id}\" is not valid: it was not started in this session or has expired."
                        ),
                    );
                    return Outcome::error();
                }
                let page: Vec<String> = match self.iterators.get_mut(&id) {
                    Some(it) => {
                        let n = max_returned.min(it.remaining.len());
                        it.remaining.drain(..n).collect()
                    }
                    None => Vec::new(),
                };
                let remaining = self.iterators.get(&id).map_or(0, |it| it.remaining.len());
                if remaining == 0 {
                    self.iterators.remove(&id);
                }
                self.item_page(
                    w,
                    &response,
                    request,
                    &page,
                    &include,
                    Some((&id, remaining)),
                )
            }
            Some("Stop") => {
                let id = request.attribute("iteratorID").unwrap_or_default();
                self.iterators.remove(id);
                status_only(w, &response, request, 0, "Info", "Status OK");
                Outcome::default()
            }
            iterator => {
                let matching = self.matching_items(request, item_type, filter);
                if iterator == Some("Start") {
                    if matching.is_empty() {
                        return no_match(w, &response, request);
                    }
                    let id = format!("{{{:08x}-iter-{}}}", self.next_id, self.iterators.len());
                    self.next_id += 1;
                    let n = max_returned.min(matching.len());
                    let page = matching[..n].to_vec();
                    let rest = matching[n..].to_vec();
                    let remaining = rest.len();
                    if remaining > 0 {
                        self.iterators.insert(
                            id.clone(),
                            Iterator {
                                session: session.to_owned(),
                                item_type,
                                remaining: rest,
                            },
                        );
                    }
                    self.item_page(
                        w,
                        &response,
                        request,
                        &page,
                        &include,
                        Some((&id, remaining)),
                    )
                } else {
                    let page: Vec<String> = matching.into_iter().take(max_returned).collect();
                    self.item_page(w, &response, request, &page, &include, None)
                }
            }
        }
    }

    fn matching_items(
        &self,
        request: &Node,
        item_type: ItemType,
        filter: ModifiedFilter,
    ) -> Vec<String> {
        let ids: Vec<&str> = request.children_text("ListID");
        let names: Vec<&str> = request.children_text("FullName");
        let active = request
            .child_text("ActiveStatus")
            .unwrap_or("ActiveOnly")
            .trim()
            .to_owned();
        let from = request.child_text("FromModifiedDate").and_then(parse_time);
        let to = request.child_text("ToModifiedDate").and_then(parse_time);
        self.order
            .iter()
            .filter_map(|id| self.items.get(id))
            .filter(|item| item.item_type == item_type)
            .filter(|item| ids.is_empty() || ids.contains(&item.list_id.as_str()))
            .filter(|item| {
                names.is_empty()
                    || names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&item.full_name))
            })
            .filter(|item| {
                // A query by ListID or FullName returns inactive items too.
                !(ids.is_empty() && names.is_empty())
                    || match active.as_str() {
                        "InactiveOnly" => !item.is_active,
                        "All" => true,
                        _ => item.is_active,
                    }
            })
            .filter(|item| {
                let changed = |t: &DateTime<Utc>| {
                    from.is_none_or(|from| *t >= from) && to.is_none_or(|to| *t <= to)
                };
                changed(&item.time_modified)
                    || (filter == ModifiedFilter::Documented
                        && (from.is_some() || to.is_some())
                        && changed(&item.quantity_changed))
            })
            .map(|item| item.list_id.clone())
            .collect()
    }

    fn item_page(
        &mut self,
        w: &mut Writer<Vec<u8>>,
        response: &str,
        request: &Node,
        page: &[String],
        include: &Option<HashSet<String>>,
        iterator: Option<(&str, usize)>,
    ) -> Outcome {
        let items: Vec<Item> = page
            .iter()
            .filter_map(|id| self.items.get(id).cloned())
            .collect();
        if items.is_empty() && iterator.is_none() {
            return no_match(w, response, request);
        }
        let count = items.len().to_string();
        let mut attributes = response_attributes(request, 0, "Info", "Status OK");
        attributes.push(("retCount".into(), count));
        if let Some((id, remaining)) = iterator {
            attributes.push(("iteratorRemainingCount".into(), remaining.to_string()));
            attributes.push(("iteratorID".into(), id.to_owned()));
        }
        start_owned(w, response, &attributes);
        for item in &items {
            write_item(w, item, include);
        }
        end(w, response);
        Outcome {
            items: items.len() as u64,
            error: false,
        }
    }

    /// `Some(code)` when a lock answers this attempt.
    fn locked(&mut self, list_id: &str) -> Option<u16> {
        let lock = self.locks.get_mut(list_id)?;
        if lock.attempts == 0 {
            self.locks.remove(list_id);
            return None;
        }
        lock.attempts -= 1;
        Some(lock.code)
    }

    fn item_mod(
        &mut self,
        w: &mut Writer<Vec<u8>>,
        request: &Node,
        item_type: ItemType,
        aggregate: &str,
        response: &str,
    ) -> Outcome {
        let Some(mod_node) = request.child(aggregate) else {
            status_only(
                w,
                response,
                request,
                3000,
                "Error",
                "The request has no mod aggregate.",
            );
            return Outcome::error();
        };
        let list_id = mod_node
            .child_text("ListID")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let edit_sequence = mod_node
            .child_text("EditSequence")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let exists = self
            .items
            .get(&list_id)
            .is_some_and(|i| i.item_type == item_type);
        if !exists {
            status_only(
                w,
                response,
                request,
                3120,
                "Error",
                &format!("Object \"{list_id}\" specified in the request cannot be found."),
            );
            return Outcome::error();
        }
        if let Some(code) = self.locked(&list_id) {
            status_only(
                w,
                response,
                request,
                i64::from(code),
                "Error",
                &lock_message(code, &list_id),
            );
            return Outcome::error();
        }
        let current = self
            .items
            .get(&list_id)
            .map(|i| i.edit_sequence.clone())
            .unwrap_or_default();
        if current != edit_sequence {
            status_only(
                w,
                response,
                request,
                3200,
                "Error",
                &format!("The provided edit sequence \"{edit_sequence}\" is out-of-date."),
            );
            return Outcome::error();
        }
        let price = match mod_node.child_text("SalesPrice").map(str::trim) {
            Some(p) => match Decimal::from_str(p) {
                Ok(p) => Some(p),
                Err(_) => {
                    status_only(
                        w,
                        response,
                        request,
                        3040,
                        "Error",
                        &format!(
                            "There was an error when converting the amount \"{p}\" in the field \"SalesPrice\"."
                        ),
                    );
                    return Outcome::error();
                }
            },
            None => None,
        };
        let edit = self.bump_edit();
        self.stats.price_mods += 1;
        let Some(item) = self.items.get_mut(&list_id) else {
            return Outcome::error();
        };
        if let Some(price) = price {
            item.sales_price = price;
        }
        if let Some(active) = mod_node.child_text("IsActive") {
            item.is_active = active.trim() == "true";
        }
        item.edit_sequence = edit;
        item.time_modified = Utc::now();
        let item = item.clone();
        let include = include_elements(request);
        start_owned(
            w,
            response,
            &response_attributes(request, 0, "Info", "Status OK"),
        );
        write_item(w, &item, &include);
        end(w, response);
        Outcome {
            items: 1,
            error: false,
        }
    }

    fn adjustment_add(&mut self, w: &mut Writer<Vec<u8>>, request: &Node) -> Outcome {
        let response = "InventoryAdjustmentAddRs";
        let Some(add) = request.child("InventoryAdjustmentAdd") else {
            status_only(
                w,
                response,
                request,
                3000,
                "Error",
                "The request has no InventoryAdjustmentAdd.",
            );
            return Outcome::error();
        };
        let account = add
            .child("AccountRef")
            .and_then(|a| a.child_text("FullName"))
            .unwrap_or_default()
            .to_owned();
        if !self.accounts.contains(&account) {
            status_only(
                w,
                response,
                request,
                3140,
                "Error",
                &format!(
                    "There is an invalid reference to QuickBooks Account \"{account}\" in the Inventory Adjustment. QuickBooks error message: Invalid argument. The specified record does not exist in the list."
                ),
            );
            return Outcome::error();
        }
        let site = add
            .child("InventorySiteRef")
            .and_then(|s| s.child_text("FullName"))
            .map(str::to_owned);
        if let Some(site) = &site {
            match &self.sites {
                None => {
                    status_only(
                        w,
                        response,
                        request,
                        3250,
                        "Error",
                        "This feature is not enabled or not available in this version of QuickBooks.",
                    );
                    return Outcome::error();
                }
                Some(sites) if !sites.contains(site) => {
                    status_only(
                        w,
                        response,
                        request,
                        3140,
                        "Error",
                        &format!(
                            "There is an invalid reference to QuickBooks InventorySite \"{site}\" in the Inventory Adjustment."
                        ),
                    );
                    return Outcome::error();
                }
                Some(_) => {}
            }
        }
        let mut lines = Vec::new();
        for line in add
            .children
            .iter()
            .filter(|c| c.name == "InventoryAdjustmentLineAdd")
        {
            let item_ref = line.child("ItemRef");
            let by_id = item_ref.and_then(|r| r.child_text("ListID")).map(str::trim);
            let by_name = item_ref
                .and_then(|r| r.child_text("FullName"))
                .map(str::trim);
            // By ListID through the map; by FullName (rarer) with a scan.
            let item = match by_id {
                Some(id) => self.items.get(id),
                None => self
                    .items
                    .values()
                    .find(|i| by_name == Some(i.full_name.as_str())),
            }
            .filter(|i| i.item_type != ItemType::Group);
            let Some(item) = item else {
                let which = by_id.or(by_name).unwrap_or_default();
                status_only(
                    w,
                    response,
                    request,
                    3140,
                    "Error",
                    &format!(
                        "There is an invalid reference to QuickBooks Item \"{which}\" in the Inventory Adjustment line."
                    ),
                );
                return Outcome::error();
            };
            let list_id = item.list_id.clone();
            let current = item.quantity_on_hand;
            let quantity = line.child("QuantityAdjustment");
            let difference = quantity
                .and_then(|q| q.child_text("QuantityDifference"))
                .and_then(|d| Decimal::from_str(d.trim()).ok())
                .or_else(|| {
                    quantity
                        .and_then(|q| q.child_text("NewQuantity"))
                        .and_then(|n| Decimal::from_str(n.trim()).ok())
                        .map(|new| new - current)
                });
            let Some(difference) = difference else {
                status_only(
                    w,
                    response,
                    request,
                    3000,
                    "Error",
                    "The adjustment line has no quantity.",
                );
                return Outcome::error();
            };
            lines.push((list_id, difference));
        }
        for (list_id, _) in &lines {
            if let Some(code) = self.locked(list_id) {
                status_only(
                    w,
                    response,
                    request,
                    i64::from(code),
                    "Error",
                    &lock_message(code, list_id),
                );
                return Outcome::error();
            }
        }
        let ref_number = add.child_text("RefNumber").map(str::to_owned);
        let memo = add.child_text("Memo").map(str::to_owned);
        self.stats.adjustments += 1;
        let txn_id = self.add_txn(
            TxnType::InventoryAdjustment,
            ref_number,
            memo,
            Some(account),
            site,
            lines,
        );
        let include = include_elements(request);
        let txn = self.txns.iter().find(|t| t.txn_id == txn_id).cloned();
        start_owned(
            w,
            response,
            &response_attributes(request, 0, "Info", "Status OK"),
        );
        if let Some(txn) = txn {
            write_txn(w, &txn, &include, &self.items);
        }
        end(w, response);
        Outcome {
            items: 1,
            error: false,
        }
    }

    fn txn_query(&mut self, w: &mut Writer<Vec<u8>>, request: &Node, txn_type: TxnType) -> Outcome {
        let response = response_name(request);
        let refs = request.children_text("RefNumber");
        let exact_refs = request.children_text("RefNumberCaseSensitive");
        let ids = request.children_text("TxnID");
        let max_returned = request
            .child_text("MaxReturned")
            .and_then(|m| m.trim().parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let found: Vec<Txn> = self
            .txns
            .iter()
            .filter(|t| t.txn_type == txn_type)
            .filter(|t| {
                let r = t.ref_number.as_deref().unwrap_or_default();
                (refs.is_empty() && exact_refs.is_empty() && ids.is_empty())
                    || refs.iter().any(|q| q.trim().eq_ignore_ascii_case(r))
                    || exact_refs.iter().any(|q| q.trim() == r)
                    || ids.contains(&t.txn_id.as_str())
            })
            .take(max_returned)
            .cloned()
            .collect();
        if found.is_empty() {
            return no_match(w, &response, request);
        }
        let include = include_elements(request);
        let mut attributes = response_attributes(request, 0, "Info", "Status OK");
        attributes.push(("retCount".into(), found.len().to_string()));
        start_owned(w, &response, &attributes);
        for txn in &found {
            write_txn(w, txn, &include, &self.items);
        }
        end(w, &response);
        Outcome {
            items: found.len() as u64,
            error: false,
        }
    }
}

/// Status 1, "No match": a query that found nothing (not an error).
fn no_match(w: &mut Writer<Vec<u8>>, response: &str, request: &Node) -> Outcome {
    status_only(
        w,
        response,
        request,
        1,
        "Info",
        "A query request did not find a matching object in QuickBooks",
    );
    Outcome::default()
}

/// `ItemInventoryQueryRq` → `ItemInventoryQueryRs`.
pub(crate) fn response_name(request: &Node) -> String {
    format!("{}s", request.name.trim_end_matches('q'))
}

fn lock_message(code: u16, list_id: &str) -> String {
    match code {
        3175 => format!(
            "There was an error when modifying a list element \"{list_id}\". QuickBooks error message: The internals could not be locked."
        ),
        3176 => format!(
            "There was an error when modifying a list element \"{list_id}\". QuickBooks error message: This list element is in use by another user."
        ),
        3170 => format!(
            "There was an error when modifying a list element \"{list_id}\". QuickBooks error message: This list has been modified by another user."
        ),
        _ => format!(
            "There was an error when saving a list element \"{list_id}\". QuickBooks error message: This list has been modified by another user."
        ),
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    items: u64,
    error: bool,
}

impl Outcome {
    fn error() -> Outcome {
        Outcome {
            items: 0,
            error: true,
        }
    }
}

pub(crate) fn include_elements(request: &Node) -> Option<HashSet<String>> {
    let fields: HashSet<String> = request
        .children_text("IncludeRetElement")
        .into_iter()
        .map(|f| f.trim().to_owned())
        .collect();
    (!fields.is_empty()).then_some(fields)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

pub(crate) fn qb_time(t: &DateTime<Utc>) -> String {
    // QuickBooks writes local time with an offset: 2009-01-18T20:21:10-05:00.
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

// ---- writing ---------------------------------------------------------------------------

pub(crate) fn start(w: &mut Writer<Vec<u8>>, name: &str, attributes: &[(&str, &str)]) {
    let mut e = BytesStart::new(name);
    for a in attributes {
        e.push_attribute(*a);
    }
    let _ = w.write_event(Event::Start(e));
}

pub(crate) fn start_owned(w: &mut Writer<Vec<u8>>, name: &str, attributes: &[(String, String)]) {
    let mut e = BytesStart::new(name);
    for (k, v) in attributes {
        e.push_attribute((k.as_str(), v.as_str()));
    }
    let _ = w.write_event(Event::Start(e));
}

pub(crate) fn end(w: &mut Writer<Vec<u8>>, name: &str) {
    let _ = w.write_event(Event::End(BytesEnd::new(name)));
}

pub(crate) fn leaf(w: &mut Writer<Vec<u8>>, name: &str, text: &str) {
    start(w, name, &[]);
    let _ = w.write_event(Event::Text(BytesText::new(text)));
    end(w, name);
}

pub(crate) fn response_attributes(
    request: &Node,
    code: i64,
    severity: &str,
    message: &str,
) -> Vec<(String, String)> {
    let mut attributes = Vec::new();
    if let Some(id) = request.attribute("requestID") {
        attributes.push(("requestID".to_owned(), id.to_owned()));
    }
    attributes.push(("statusCode".to_owned(), code.to_string()));
    attributes.push(("statusSeverity".to_owned(), severity.to_owned()));
    attributes.push(("statusMessage".to_owned(), message.to_owned()));
    attributes
}

pub(crate) fn status_only(
    w: &mut Writer<Vec<u8>>,
    response: &str,
    request: &Node,
    code: i64,
    severity: &str,
    message: &str,
) {
    let mut e = BytesStart::new(response);
    for (k, v) in response_attributes(request, code, severity, message) {
        e.push_attribute((k.as_str(), v.as_str()));
    }
    let _ = w.write_event(Event::Empty(e));
}

/// An item's `…Ret`, its elements in XSD order, only `include`d ones when given.
fn write_item(w: &mut Writer<Vec<u8>>, item: &Item, include: &Option<HashSet<String>>) {
    let wanted = |field: &str| include.as_ref().is_none_or(|f| f.contains(field));
    let ret = item.item_type.ret();
    start(w, ret, &[]);
    let group = item.item_type == ItemType::Group;
    let fields: [(&str, Option<String>); 14] = [
        ("ListID", Some(item.list_id.clone())),
        ("TimeCreated", Some(qb_time(&item.time_created))),
        ("TimeModified", Some(qb_time(&item.time_modified))),
        ("EditSequence", Some(item.edit_sequence.clone())),
        ("Name", Some(item.name.clone())),
        ("FullName", (!group).then(|| item.full_name.clone())),
        ("BarCodeValue", item.bar_code.clone()),
        ("IsActive", Some(item.is_active.to_string())),
        (
            "Sublevel",
            (!group).then(|| item.full_name.matches(':').count().to_string()),
        ),
        (
            "ManufacturerPartNumber",
            if group {
                None
            } else {
                item.manufacturer_part_number.clone()
            },
        ),
        ("SalesPrice", (!group).then(|| item.sales_price.to_string())),
        (
            "QuantityOnHand",
            (!group).then(|| item.quantity_on_hand.to_string()),
        ),
        ("QuantityOnOrder", (!group).then(|| "0".to_owned())),
        ("QuantityOnSalesOrder", (!group).then(|| "0".to_owned())),
    ];
    for (field, value) in fields {
        if let Some(value) = value
            && wanted(field)
        {
            leaf(w, field, &value);
        }
    }
    end(w, ret);
}

fn write_txn(
    w: &mut Writer<Vec<u8>>,
    txn: &Txn,
    include: &Option<HashSet<String>>,
    items: &BTreeMap<String, Item>,
) {
    /// A field of a transaction's `…Ret`: text, or a reference by full name.
    enum Value {
        Text(String),
        Ref(String),
    }
    let wanted = |field: &str| include.as_ref().is_none_or(|f| f.contains(field));
    let time = qb_time(&txn.time_created);
    let date = txn.time_created.format("%Y-%m-%d").to_string();
    let text = |v: &Option<String>| v.clone().map(Value::Text);
    let mut fields: Vec<(&str, Option<Value>)> = vec![
        ("TxnID", Some(Value::Text(txn.txn_id.clone()))),
        ("TimeCreated", Some(Value::Text(time.clone()))),
        ("TimeModified", Some(Value::Text(time))),
        (
            "EditSequence",
            Some(Value::Text(txn.time_created.timestamp().to_string())),
        ),
        ("TxnNumber", Some(Value::Text(txn.txn_number.to_string()))),
    ];
    // Each type's elements in its XSD order.
    match txn.txn_type {
        TxnType::InventoryAdjustment => fields.extend([
            ("AccountRef", txn.account.clone().map(Value::Ref)),
            ("InventorySiteRef", txn.site.clone().map(Value::Ref)),
            ("TxnDate", Some(Value::Text(date))),
            ("RefNumber", text(&txn.ref_number)),
            ("Memo", text(&txn.memo)),
        ]),
        TxnType::SalesReceipt | TxnType::Invoice => fields.extend([
            ("CustomerRef", Some(Value::Ref("Walk-in Customer".into()))),
            ("TxnDate", Some(Value::Text(date))),
            ("RefNumber", text(&txn.ref_number)),
        ]),
    }
    let ret = txn.txn_type.ret();
    start(w, ret, &[]);
    for (field, value) in fields {
        match value {
            Some(_) if !wanted(field) => {}
            Some(Value::Text(text)) => leaf(w, field, &text),
            Some(Value::Ref(full_name)) => {
                start(w, field, &[]);
                leaf(w, "FullName", &full_name);
                end(w, field);
            }
            None => {}
        }
    }
    if txn.txn_type == TxnType::InventoryAdjustment && wanted("InventoryAdjustmentLineRet") {
        for (n, (list_id, difference)) in txn.lines.iter().enumerate() {
            start(w, "InventoryAdjustmentLineRet", &[]);
            leaf(w, "TxnLineID", &format!("{}-{n}", txn.txn_id));
            start(w, "ItemRef", &[]);
            leaf(w, "ListID", list_id);
            if let Some(item) = items.get(list_id) {
                leaf(w, "FullName", &item.full_name);
            }
            end(w, "ItemRef");
            leaf(w, "QuantityDifference", &difference.to_string());
            leaf(w, "ValueDifference", "0.00");
            end(w, "InventoryAdjustmentLineRet");
        }
    }
    end(w, ret);
}

// ---- reading ---------------------------------------------------------------------------

/// An element of a request, read with quick-xml (also the POS fake's and
/// `qbposxml_lite`'s reader).
#[derive(Debug, Default, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

impl Node {
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    pub(crate) fn children_text(&self, name: &str) -> Vec<&str> {
        self.children
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.text.as_str())
            .collect()
    }
}

/// The document's root and the version of its `<?qbxml version="…"?>`. A DOCTYPE, an
/// unknown entity or anything not well-formed is an error.
fn parse(text: &str) -> Result<(Node, Option<String>), String> {
    let (root, pi) = parse_with_pi(text)?;
    Ok((
        root,
        pi.filter(|(target, _)| target == "qbxml").map(|(_, v)| v),
    ))
}

/// The document's root and its version processing instruction: `("qbxml", "13.0")` or
/// `("qbposxml", "3.0")`.
pub(crate) fn parse_with_pi(text: &str) -> Result<(Node, Option<(String, String)>), String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    let mut version = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => stack.push(element(&e)?),
            Event::Empty(e) => {
                let node = element(&e)?;
                attach(&mut stack, &mut root, node)?;
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced end tag")?;
                attach(&mut stack, &mut root, node)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                } else if !t.trim().is_empty() {
                    return Err("text outside the root".into());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => match &*r {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "apos" => "'".into(),
                        "quot" => "\"".into(),
                        _ => return Err("unknown entity".into()),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::PI(pi) => {
                let content: &str = &pi;
                for target in ["qbxml", "qbposxml"] {
                    if let Some(rest) = content.strip_prefix(target) {
                        version = rest
                            .split('"')
                            .nth(1)
                            .or_else(|| rest.split('\'').nth(1))
                            .map(|v| (target.to_owned(), v.to_owned()));
                    }
                }
            }
            Event::DocType(_) => return Err("DOCTYPE".into()),
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    Ok((root.ok_or("no root element")?, version))
}

fn element(e: &BytesStart<'_>) -> Result<Node, String> {
    let mut node = Node {
        name: e.name().as_ref().to_owned(),
        ..Node::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        node.attributes
            .push((a.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(node)
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None if root.is_none() => *root = Some(node),
        None => return Err("two root elements".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
