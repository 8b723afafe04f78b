//! A fake QuickBooks Point of Sale company: what the Web Connector's `sendRequestXML` text
//! meets on the Windows side when the `.qwc` says `QBPOS`. Text in, text out, like the
//! Desktop fake ([`crate::quickbooks_desktop::Company`]): [`Company::handle`]`(session,
//! request) -> Result<response, HResult>`.
//!
//! It answers the qbposXML 3.0 requests invsync sends (ADR 0081) the way Intuit documents
//! POS to, and enforces what makes POS hard to talk to:
//!
//! * **Every request is checked** with [`crate::qbposxml_lite`] (element order, required
//!   elements, value types — no XSD ships for qbposXML); a document that fails, is not
//!   well-formed, is not `<?qbposxml version="3.0"?>` or asks for something the fake does
//!   not know is answered with HRESULT `0x80040400`, as the request processor does.
//! * **No EditSequence.** A price mod (`Price1`) is applied whatever happened to the item
//!   since it was read — an edit "in POS" between the read and the mod is overwritten.
//!   Tests use [`Company::edit_in_pos`] to show what invsync must plan around.
//! * **Sales move stock, not the item.** A sales receipt entered "in POS"
//!   ([`Company::enter_sales_receipt`]) lowers the store's on-hand quantity without moving
//!   the item's `TimeModified` (Intuit, `…/qbpos/iteminventoryquery`: the same sentence as
//!   for Desktop). [`Company::reverse_receipt`] reverses one (stock comes back, the
//!   receipt reads `HistoryDocStatus` `Reversed`).
//! * **Quantities are per store.** `QuantityOnHand` is the sum of the stores'
//!   `OnHandStoreNN`; an adjustment without `StoreNumber` changes store 1.
//!   `NewQuantity` sets the quantity (a "New Quantity Memo"); the adjustment keeps its
//!   `Comments`, found again with `CommentsFilter`.
//! * **Iterators** belong to the session that started them and die with it (`3391` from
//!   another session or after [`Company::end_session`]) — assumed as for Desktop.
//! * **Locks**: [`Company::lock`] fails the next writes touching an item with a code.
//! * Whole-session failures ([`Company::fail_with`]): `0x80040408`, `0x80040416`,
//!   `0x80040420`.
//! * The Desktop fake's per-request latency model ([`LatencyModel`]).

pub use crate::quickbooks_desktop::{HResult, LatencyModel, Stats};

use crate::quickbooks_desktop::{
    Node, account, after_latency, end, include_elements, leaf, parse_with_pi, qb_time,
    response_attributes, response_name, start, start_owned, status_only,
};
use chrono::{DateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesPI, Event};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// POS `ItemType`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemType {
    Inventory,
    NonInventory,
    Service,
    Assembly,
    Group,
    SpecialOrder,
}

impl ItemType {
    fn as_str(self) -> &'static str {
        match self {
            ItemType::Inventory => "Inventory",
            ItemType::NonInventory => "NonInventory",
            ItemType::Service => "Service",
            ItemType::Assembly => "Assembly",
            ItemType::Group => "Group",
            ItemType::SpecialOrder => "SpecialOrder",
        }
    }
}

/// An item as the company holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub list_id: String,
    pub item_number: u64,
    pub item_type: ItemType,
    pub alu: Option<String>,
    pub upc: Option<String>,
    pub desc1: String,
    pub price1: Decimal,
    /// On hand per store number (1-based); the company's `QuantityOnHand` is their sum.
    pub on_hand: BTreeMap<u8, Decimal>,
    pub time_modified: DateTime<Utc>,
}

impl Item {
    pub fn quantity_on_hand(&self) -> Decimal {
        self.on_hand.values().copied().sum()
    }

    pub fn at_store(&self, store: u8) -> Decimal {
        self.on_hand.get(&store).copied().unwrap_or_default()
    }
}

/// What a test adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub item_type: ItemType,
    pub alu: Option<String>,
    pub upc: Option<String>,
    pub desc1: String,
    pub price1: Decimal,
    /// Quantity per store; empty: nothing anywhere.
    pub on_hand: Vec<(u8, i64)>,
}

impl NewItem {
    /// An inventory item with `alu`, stock at store 1.
    pub fn inventory(alu: &str, price1: Decimal, quantity: i64) -> NewItem {
        NewItem {
            item_type: ItemType::Inventory,
            alu: Some(alu.to_owned()),
            upc: None,
            desc1: alu.to_owned(),
            price1,
            on_hand: vec![(1, quantity)],
        }
    }

    pub fn of_type(self, item_type: ItemType) -> NewItem {
        NewItem { item_type, ..self }
    }

    pub fn with_upc(self, upc: &str) -> NewItem {
        NewItem {
            upc: Some(upc.to_owned()),
            ..self
        }
    }

    pub fn without_alu(self) -> NewItem {
        NewItem { alu: None, ..self }
    }

    /// Stock per store (replaces store 1's).
    pub fn stocked(self, on_hand: &[(u8, i64)]) -> NewItem {
        NewItem {
            on_hand: on_hand.to_vec(),
            ..self
        }
    }
}

/// `HistoryDocStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    Regular,
    Reversed,
}

/// A quantity adjustment added through qbposXML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub txn_id: String,
    pub number: u64,
    pub comments: Option<String>,
    pub reason: String,
    pub store: u8,
    /// `(ListID, old quantity, new quantity)`.
    pub lines: Vec<(String, Decimal, Decimal)>,
}

/// A sales receipt entered "in POS".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub txn_id: String,
    pub number: u64,
    pub comments: Option<String>,
    pub tracking_number: Option<String>,
    pub store: u8,
    pub lines: Vec<(String, i64)>,
    pub history: History,
    pub txn_date: DateTime<Utc>,
}

#[derive(Debug)]
struct Iterator {
    session: String,
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
    order: Vec<String>,
    stores: u8,
    adjustments: Vec<Adjustment>,
    receipts: Vec<Receipt>,
    iterators: HashMap<String, Iterator>,
    ended_sessions: HashSet<String>,
    locks: HashMap<String, Lock>,
    failure: Option<HResult>,
    next_id: i64,
    next_number: u64,
    stats: Stats,
}

/// The fake POS company. Shared by reference between a test and the endpoint; every
/// method takes `&self`.
#[derive(Debug)]
pub struct Company {
    state: Mutex<State>,
    validate: bool,
    latency: Option<LatencyModel>,
}

impl Default for Company {
    fn default() -> Company {
        Company::new()
    }
}

impl Company {
    /// An empty single-store company; every request is validated.
    pub fn new() -> Company {
        Company {
            state: Mutex::new(State {
                items: BTreeMap::new(),
                order: Vec::new(),
                stores: 1,
                adjustments: Vec::new(),
                receipts: Vec::new(),
                iterators: HashMap::new(),
                ended_sessions: HashSet::new(),
                locks: HashMap::new(),
                failure: None,
                // POS ids are large negative 64-bit numbers (`-9219886962259885823`).
                next_id: -9_219_886_962_259_885_823,
                next_number: 1000,
                stats: Stats::default(),
            }),
            validate: true,
            latency: None,
        }
    }

    /// A multi-store company with `stores` stores (2 to 20).
    pub fn with_stores(self, stores: u8) -> Company {
        self.state().stores = stores.clamp(1, 20);
        self
    }

    /// Checks requests structurally only, for benchmarks whose requests are validated
    /// elsewhere.
    pub fn without_validation(self) -> Company {
        Company {
            validate: false,
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
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item "in POS"; returns its ListID.
    pub fn add_item(&self, new: NewItem) -> String {
        let mut s = self.state();
        let list_id = s.next_id.to_string();
        s.next_id += 4_294_967_296;
        s.next_number += 1;
        let item = Item {
            list_id: list_id.clone(),
            item_number: s.next_number,
            item_type: new.item_type,
            alu: new.alu,
            upc: new.upc,
            desc1: new.desc1,
            price1: new.price1,
            on_hand: new
                .on_hand
                .iter()
                .map(|(store, q)| (*store, Decimal::from(*q)))
                .collect(),
            time_modified: Utc::now(),
        };
        s.items.insert(list_id.clone(), item);
        s.order.push(list_id.clone());
        list_id
    }

    pub fn item(&self, list_id: &str) -> Option<Item> {
        self.state().items.get(list_id).cloned()
    }

    pub fn item_by_alu(&self, alu: &str) -> Option<Item> {
        self.state()
            .items
            .values()
            .find(|i| i.alu.as_deref() == Some(alu))
            .cloned()
    }

    pub fn items(&self) -> Vec<Item> {
        let s = self.state();
        s.order
            .iter()
            .filter_map(|id| s.items.get(id))
            .cloned()
            .collect()
    }

    /// An edit made by someone in POS: it moves `TimeModified` (there is no EditSequence).
    pub fn edit_in_pos(&self, list_id: &str, edit: impl FnOnce(&mut Item)) {
        let mut s = self.state();
        if let Some(item) = s.items.get_mut(list_id) {
            edit(item);
            item.time_modified = Utc::now();
        }
    }

    /// A sale rung up in POS at `store`: stock goes down, the item's `TimeModified` does
    /// not move. `comments`/`tracking_number` are where an order's reference would be
    /// typed. Returns the receipt's TxnID.
    pub fn enter_sales_receipt(
        &self,
        store: u8,
        comments: Option<&str>,
        tracking_number: Option<&str>,
        lines: &[(&str, i64)],
    ) -> String {
        let mut s = self.state();
        for (list_id, qty) in lines {
            if let Some(item) = s.items.get_mut(*list_id) {
                *item.on_hand.entry(store).or_default() -= Decimal::from(*qty);
            }
        }
        let txn_id = s.next_id.to_string();
        s.next_id += 4_294_967_296;
        s.next_number += 1;
        let receipt = Receipt {
            txn_id: txn_id.clone(),
            number: s.next_number,
            comments: comments.map(str::to_owned),
            tracking_number: tracking_number.map(str::to_owned),
            store,
            lines: lines.iter().map(|(id, q)| ((*id).to_owned(), *q)).collect(),
            history: History::Regular,
            txn_date: Utc::now(),
        };
        s.receipts.push(receipt);
        txn_id
    }

    /// Reverses a receipt in POS: its stock comes back; it reads `Reversed`.
    pub fn reverse_receipt(&self, txn_id: &str) {
        let mut s = self.state();
        let Some(index) = s.receipts.iter().position(|r| r.txn_id == txn_id) else {
            return;
        };
        if s.receipts[index].history == History::Reversed {
            return;
        }
        s.receipts[index].history = History::Reversed;
        let receipt = s.receipts[index].clone();
        for (list_id, qty) in &receipt.lines {
            if let Some(item) = s.items.get_mut(list_id) {
                *item.on_hand.entry(receipt.store).or_default() += Decimal::from(*qty);
            }
        }
    }

    pub fn adjustments(&self) -> Vec<Adjustment> {
        self.state().adjustments.clone()
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.state().receipts.clone()
    }

    /// The next `attempts` writes touching `list_id` fail with `code` (3170–3180).
    pub fn lock(&self, list_id: &str, code: u16, attempts: u32) {
        self.state()
            .locks
            .insert(list_id.to_owned(), Lock { code, attempts });
    }

    /// Every message set is answered with `hresult` until called with `None`.
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
            (Some(hresult), _) | (None, Err(hresult)) => Err(hresult),
            (None, Ok(document)) => s.answer(session, &document),
        };
        account(&mut s.stats, self.latency, result)
    }

    /// [`Company::handle`], after sleeping the latency model's time.
    pub async fn handle_delayed(&self, session: &str, request: &str) -> Result<String, HResult> {
        after_latency(self.handle_timed(session, request)).await
    }

    fn check(&self, request: &str) -> Result<Node, HResult> {
        let (document, pi) = parse_with_pi(request).map_err(|_| HResult::PARSE_ERROR)?;
        if pi.is_none_or(|(target, version)| target != "qbposxml" || version != "3.0") {
            return Err(HResult::PARSE_ERROR);
        }
        if self.validate && crate::qbposxml_lite::validate(request).is_err() {
            return Err(HResult::PARSE_ERROR);
        }
        if document.name != "QBPOSXML" {
            return Err(HResult::PARSE_ERROR);
        }
        Ok(document)
    }
}

/// How one request went: items returned (for the latency model).
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    items: u64,
}

impl State {
    fn answer(&mut self, session: &str, document: &Node) -> Result<(String, u64), HResult> {
        let messages = document
            .child("QBPOSXMLMsgsRq")
            .ok_or(HResult::PARSE_ERROR)?;
        let stop_on_error = messages.attribute("onError") == Some("stopOnError");
        let mut w = Writer::new(Vec::new());
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)));
        let _ = w.write_event(Event::PI(BytesPI::new("qbposxml version=\"3.0\"")));
        start(&mut w, "QBPOSXML", &[]);
        start(&mut w, "QBPOSXMLMsgsRs", &[]);
        let mut items = 0;
        let mut stopped = false;
        for request in &messages.children {
            self.stats.requests += 1;
            if stopped {
                status_only(
                    &mut w,
                    &response_name(request),
                    request,
                    3231,
                    "Error",
                    "The request has not been processed.",
                );
                continue;
            }
            let (outcome, failed) = match request.name.as_str() {
                "ItemInventoryQueryRq" => self.query_items(&mut w, session, request),
                "ItemInventoryModRq" => self.modify_item(&mut w, request),
                "InventoryQtyAdjustmentAddRq" => self.add_adjustment(&mut w, request),
                "InventoryQtyAdjustmentQueryRq" => self.query_adjustments(&mut w, request),
                "SalesReceiptQueryRq" => self.query_receipts(&mut w, request),
                _ => return Err(HResult::PARSE_ERROR),
            };
            items += outcome.items;
            stopped = failed && stop_on_error;
        }
        end(&mut w, "QBPOSXMLMsgsRs");
        end(&mut w, "QBPOSXML");
        let text = String::from_utf8(w.into_inner()).map_err(|_| HResult::PARSE_ERROR)?;
        Ok((text, items))
    }

    fn query_items(
        &mut self,
        w: &mut Writer<Vec<u8>>,
        session: &str,
        request: &Node,
    ) -> (Outcome, bool) {
        let response = response_name(request);
        let include = include_elements(request);
        let max = request
            .child_text("MaxReturned")
            .and_then(|m| m.trim().parse::<usize>().ok());
        let (ids, iterator) = match (request.attribute("iterator"), request.child_text("ListID")) {
            (_, Some(list_id)) => (
                if self.items.contains_key(list_id.trim()) {
                    vec![list_id.trim().to_owned()]
                } else {
                    Vec::new()
                },
                None,
            ),
            (Some("Start"), None) => {
                let mut all = self.order.clone();
                let page_len = max.unwrap_or(all.len()).min(all.len());
                let rest = all.split_off(page_len);
                let id = format!("{{{}-{}}}", session, self.iterators.len() + 1);
                self.iterators.insert(
                    id.clone(),
                    Iterator {
                        session: session.to_owned(),
                        remaining: rest,
                    },
                );
                (all, Some(id))
            }
            (Some("Continue"), None) => {
                let id = request
                    .attribute("iteratorID")
                    .unwrap_or_default()
                    .to_owned();
                let alive = self
                    .iterators
                    .get(&id)
                    .is_some_and(|it| it.session == session)
                    && !self.ended_sessions.contains(session);
                if !alive {
                    status_only(
                        w,
                        &response,
                        request,
                        3391,
                        "Error",
                        &format!("The iteratorID \"{id}\" is not valid."),
                    );
                    return (Outcome::default(), true);
                }
                let Some(it) = self.iterators.get_mut(&id) else {
                    return (Outcome::default(), true);
                };
                let page_len = max.unwrap_or(it.remaining.len()).min(it.remaining.len());
                let rest = it.remaining.split_off(page_len);
                let page = std::mem::replace(&mut it.remaining, rest);
                (page, Some(id))
            }
            _ => (self.order.clone(), None),
        };
        let remaining = iterator
            .as_ref()
            .and_then(|id| self.iterators.get(id))
            .map_or(0, |it| it.remaining.len());
        if ids.is_empty() && iterator.is_none() {
            status_only(
                w,
                &response,
                request,
                1,
                "Info",
                "A query request did not find a matching object in QuickBooks POS",
            );
            return (Outcome::default(), false);
        }
        let mut attributes = response_attributes(request, 0, "Info", "Status OK");
        attributes.push(("retCount".to_owned(), ids.len().to_string()));
        if let Some(id) = &iterator {
            attributes.push(("iteratorRemainingCount".to_owned(), remaining.to_string()));
            attributes.push(("iteratorID".to_owned(), id.clone()));
        }
        start_owned(w, &response, &attributes);
        for id in &ids {
            if let Some(item) = self.items.get(id) {
                write_item(w, item, &include);
            }
        }
        end(w, &response);
        (
            Outcome {
                items: ids.len() as u64,
            },
            false,
        )
    }

    /// A lock on `list_id`, counted down; `Some(code)` while it holds.
    fn locked(&mut self, list_id: &str) -> Option<u16> {
        let lock = self.locks.get_mut(list_id)?;
        if lock.attempts == 0 {
            return None;
        }
        lock.attempts -= 1;
        Some(lock.code)
    }

    fn modify_item(&mut self, w: &mut Writer<Vec<u8>>, request: &Node) -> (Outcome, bool) {
        let response = response_name(request);
        let include = include_elements(request);
        let Some(body) = request.child("ItemInventoryMod") else {
            return (Outcome::default(), true);
        };
        let list_id = body
            .child_text("ListID")
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !self.items.contains_key(&list_id) {
            status_only(
                w,
                &response,
                request,
                3120,
                "Error",
                &format!("Object \"{list_id}\" specified in the request cannot be found."),
            );
            return (Outcome::default(), true);
        }
        if let Some(code) = self.locked(&list_id) {
            status_only(
                w,
                &response,
                request,
                i64::from(code),
                "Error",
                &format!("The record \"{list_id}\" is in use by another user."),
            );
            return (Outcome::default(), true);
        }
        let price = body
            .child_text("Price1")
            .map(|p| Decimal::from_str(p.trim()));
        let Some(item) = self.items.get_mut(&list_id) else {
            return (Outcome::default(), true);
        };
        match price {
            Some(Ok(price)) => item.price1 = price,
            Some(Err(_)) => return (Outcome::default(), true),
            None => {}
        }
        item.time_modified = Utc::now();
        self.stats.price_mods += 1;
        let item = item.clone();
        start_owned(
            w,
            &response,
            &response_attributes(request, 0, "Info", "Status OK"),
        );
        write_item(w, &item, &include);
        end(w, &response);
        (Outcome { items: 1 }, false)
    }

    fn add_adjustment(&mut self, w: &mut Writer<Vec<u8>>, request: &Node) -> (Outcome, bool) {
        let response = response_name(request);
        let include = include_elements(request);
        let Some(body) = request.child("InventoryQtyAdjustmentAdd") else {
            return (Outcome::default(), true);
        };
        let store = match body
            .child_text("StoreNumber")
            .map(|n| n.trim().parse::<u8>())
        {
            None => 1,
            Some(Ok(n)) if (1..=self.stores).contains(&n) => n,
            Some(_) => {
                status_only(
                    w,
                    &response,
                    request,
                    3140,
                    "Error",
                    "There is an invalid reference to store number in the request.",
                );
                return (Outcome::default(), true);
            }
        };
        let mut lines = Vec::new();
        for line in body
            .children
            .iter()
            .filter(|c| c.name == "InventoryQtyAdjustmentItemAdd")
        {
            let list_id = line
                .child_text("ListID")
                .unwrap_or_default()
                .trim()
                .to_owned();
            let quantity = line
                .child_text("NewQuantity")
                .and_then(|q| Decimal::from_str(q.trim()).ok());
            let (Some(quantity), true) = (quantity, self.items.contains_key(&list_id)) else {
                status_only(
                    w,
                    &response,
                    request,
                    3140,
                    "Error",
                    &format!("There is an invalid reference to item \"{list_id}\" in the request."),
                );
                return (Outcome::default(), true);
            };
            lines.push((list_id, quantity));
        }
        // The whole memo fails when one of its items is locked.
        for (list_id, _) in &lines {
            if let Some(code) = self.locked(list_id) {
                status_only(
                    w,
                    &response,
                    request,
                    i64::from(code),
                    "Error",
                    &format!("The record \"{list_id}\" is in use by another user."),
                );
                return (Outcome::default(), true);
            }
        }
        let mut applied = Vec::new();
        for (list_id, quantity) in lines {
            if let Some(item) = self.items.get_mut(&list_id) {
                let old = item.at_store(store);
                item.on_hand.insert(store, quantity);
                applied.push((list_id, old, quantity));
            }
        }
        let txn_id = self.next_id.to_string();
        self.next_id += 4_294_967_296;
        self.next_number += 1;
        let adjustment = Adjustment {
            txn_id,
            number: self.next_number,
            comments: body.child_text("Comments").map(str::to_owned),
            reason: body.child_text("Reason").unwrap_or_default().to_owned(),
            store,
            lines: applied,
        };
        self.stats.adjustments += 1;
        start_owned(
            w,
            &response,
            &response_attributes(request, 0, "Info", "Status OK"),
        );
        write_adjustment(w, &adjustment, &include);
        end(w, &response);
        self.adjustments.push(adjustment);
        (Outcome { items: 1 }, false)
    }

    fn query_adjustments(&mut self, w: &mut Writer<Vec<u8>>, request: &Node) -> (Outcome, bool) {
        let include = include_elements(request);
        let filter = StringFilter::of(request, "CommentsFilter", "Comments");
        let found: Vec<Adjustment> = self
            .adjustments
            .iter()
            .filter(|a| {
                filter
                    .as_ref()
                    .is_none_or(|f| f.matches(a.comments.as_deref()))
            })
            .cloned()
            .collect();
        write_found(w, request, &found, |w, a| write_adjustment(w, a, &include))
    }

    fn query_receipts(&mut self, w: &mut Writer<Vec<u8>>, request: &Node) -> (Outcome, bool) {
        let include = include_elements(request);
        let comments = StringFilter::of(request, "CommentsFilter", "Comments");
        let tracking = StringFilter::of(request, "TrackingNumberFilter", "TrackingNumber");
        let found: Vec<Receipt> = self
            .receipts
            .iter()
            .filter(|r| {
                comments
                    .as_ref()
                    .is_none_or(|f| f.matches(r.comments.as_deref()))
            })
            .filter(|r| {
                tracking
                    .as_ref()
                    .is_none_or(|f| f.matches(r.tracking_number.as_deref()))
            })
            .cloned()
            .collect();
        write_found(w, request, &found, |w, r| write_receipt(w, r, &include))
    }
}

/// The answer to a transaction query: what was `found` (`retCount`), or status 1.
fn write_found<T>(
    w: &mut Writer<Vec<u8>>,
    request: &Node,
    found: &[T],
    write: impl Fn(&mut Writer<Vec<u8>>, &T),
) -> (Outcome, bool) {
    let response = response_name(request);
    if found.is_empty() {
        status_only(
            w,
            &response,
            request,
            1,
            "Info",
            "A query request did not find a matching object in QuickBooks POS",
        );
        return (Outcome::default(), false);
    }
    let mut attributes = response_attributes(request, 0, "Info", "Status OK");
    attributes.push(("retCount".to_owned(), found.len().to_string()));
    start_owned(w, &response, &attributes);
    for each in found {
        write(w, each);
    }
    end(w, &response);
    (
        Outcome {
            items: found.len() as u64,
        },
        false,
    )
}

/// A `…Filter` with `MatchStringCriterion` (case-insensitive, as POS searches).
struct StringFilter {
    criterion: String,
    value: String,
}

impl StringFilter {
    fn of(request: &Node, filter: &str, field: &str) -> Option<StringFilter> {
        let node = request.child(filter)?;
        Some(StringFilter {
            criterion: node.child_text("MatchStringCriterion")?.trim().to_owned(),
            value: node.child_text(field)?.to_lowercase(),
        })
    }

    fn matches(&self, text: Option<&str>) -> bool {
        let Some(text) = text.map(str::to_lowercase) else {
            return false;
        };
        match self.criterion.as_str() {
            "Equal" => text == self.value,
            "StartsWith" => text.starts_with(&self.value),
            "EndsWith" => text.ends_with(&self.value),
            "Contains" => text.contains(&self.value),
            _ => false,
        }
    }
}

/// Two decimals, as POS writes amounts and quantities (`4.00`).
fn two_decimals(value: Decimal) -> String {
    let mut v = value;
    v.rescale(2);
    v.to_string()
}

/// An `ItemInventoryRet`, elements in the reference's order, only `include`d ones.
fn write_item(w: &mut Writer<Vec<u8>>, item: &Item, include: &Option<HashSet<String>>) {
    let wanted = |field: &str| include.as_ref().is_none_or(|f| f.contains(field));
    start(w, "ItemInventoryRet", &[]);
    if wanted("ListID") {
        leaf(w, "ListID", &item.list_id);
    }
    if wanted("TimeModified") {
        leaf(w, "TimeModified", &qb_time(&item.time_modified));
    }
    if let Some(alu) = item.alu.as_deref().filter(|_| wanted("ALU")) {
        leaf(w, "ALU", alu);
    }
    if wanted("Desc1") {
        leaf(w, "Desc1", &item.desc1);
    }
    if wanted("ItemNumber") {
        leaf(w, "ItemNumber", &item.item_number.to_string());
    }
    if wanted("ItemType") {
        leaf(w, "ItemType", item.item_type.as_str());
    }
    for (store, quantity) in &item.on_hand {
        let field = format!("OnHandStore{store:02}");
        if wanted(&field) {
            leaf(w, &field, &two_decimals(*quantity));
        }
    }
    if wanted("Price1") {
        leaf(w, "Price1", &two_decimals(item.price1));
    }
    if wanted("QuantityOnHand") {
        leaf(w, "QuantityOnHand", &two_decimals(item.quantity_on_hand()));
    }
    if let Some(upc) = item.upc.as_deref().filter(|_| wanted("UPC")) {
        leaf(w, "UPC", upc);
    }
    end(w, "ItemInventoryRet");
}

fn write_adjustment(
    w: &mut Writer<Vec<u8>>,
    adjustment: &Adjustment,
    include: &Option<HashSet<String>>,
) {
    let wanted = |field: &str| include.as_ref().is_none_or(|f| f.contains(field));
    start(w, "InventoryQtyAdjustmentRet", &[]);
    if wanted("TxnID") {
        leaf(w, "TxnID", &adjustment.txn_id);
    }
    if let Some(comments) = adjustment
        .comments
        .as_deref()
        .filter(|_| wanted("Comments"))
    {
        leaf(w, "Comments", comments);
    }
    if wanted("HistoryDocStatus") {
        leaf(w, "HistoryDocStatus", "Regular");
    }
    if wanted("InventoryAdjustmentNumber") {
        leaf(
            w,
            "InventoryAdjustmentNumber",
            &adjustment.number.to_string(),
        );
    }
    if wanted("Reason") {
        leaf(w, "Reason", &adjustment.reason);
    }
    if wanted("StoreNumber") {
        leaf(w, "StoreNumber", &adjustment.store.to_string());
    }
    if wanted("InventoryQtyAdjustmentItemRet") {
        for (list_id, old, new) in &adjustment.lines {
            start(w, "InventoryQtyAdjustmentItemRet", &[]);
            leaf(w, "ListID", list_id);
            leaf(w, "NewQuantity", &two_decimals(*new));
            leaf(w, "OldQuantity", &two_decimals(*old));
            leaf(w, "QtyDifference", &two_decimals(*new - *old));
            end(w, "InventoryQtyAdjustmentItemRet");
        }
    }
    end(w, "InventoryQtyAdjustmentRet");
}

fn write_receipt(w: &mut Writer<Vec<u8>>, receipt: &Receipt, include: &Option<HashSet<String>>) {
    let wanted = |field: &str| include.as_ref().is_none_or(|f| f.contains(field));
    start(w, "SalesReceiptRet", &[]);
    if wanted("TxnID") {
        leaf(w, "TxnID", &receipt.txn_id);
    }
    if let Some(comments) = receipt.comments.as_deref().filter(|_| wanted("Comments")) {
        leaf(w, "Comments", comments);
    }
    if wanted("HistoryDocStatus") {
        let history = match receipt.history {
            History::Regular => "Regular",
            History::Reversed => "Reversed",
        };
        leaf(w, "HistoryDocStatus", history);
    }
    if wanted("SalesReceiptNumber") {
        leaf(w, "SalesReceiptNumber", &receipt.number.to_string());
    }
    if wanted("StoreNumber") {
        leaf(w, "StoreNumber", &receipt.store.to_string());
    }
    if let Some(tracking) = receipt
        .tracking_number
        .as_deref()
        .filter(|_| wanted("TrackingNumber"))
    {
        leaf(w, "TrackingNumber", tracking);
    }
    if wanted("TxnDate") {
        leaf(
            w,
            "TxnDate",
            &receipt.txn_date.format("%Y-%m-%d").to_string(),
        );
    }
    end(w, "SalesReceiptRet");
}

#[cfg(test)]
mod tests;
