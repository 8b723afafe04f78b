//! A fake QuickBooks Online: the Accounting API v3 and Intuit's OAuth 2.0 token endpoint,
//! over real HTTP on loopback, enforcing what the documentation (platform-apis.md §3) and
//! the real schemas say:
//!
//! * queries (`GET …/query?query=`): the subset in [`query`], `STARTPOSITION` 1-based,
//!   `MAXRESULTS` at most 1000 (default 100), `count(*)` → `totalCount`, an empty result
//!   as `"QueryResponse": {}`. Inactive items are returned too (a client must leave them
//!   out itself);
//! * Item updates (`POST …/item`, and in batches): `Id` and the current `SyncToken`
//!   required; a stale one is a 400 ValidationFault 5010 "Stale Object Error"; without
//!   `"sparse": true` the update is full and clears every field left out; every property
//!   must be one the real `Item` type of Finance.xsd declares (with the XSD type: a
//!   `decimal` must be a JSON number), else ValidationFault 2010;
//! * InventoryAdjustment creation (`POST …/inventoryadjustment`, and in batches):
//!   `AdjustAccountRef` and `ItemAdjustmentLineDetail` lines with `QtyDiff`, on tracked
//!   inventory items, properties checked against the XSD likewise;
//! * `/batch`: at most 30 operations (the documented maximum), answered with HTTP 200 and
//!   a Fault per failed operation;
//! * SalesReceipts and Invoices with `DocNumber`s, for posted-order lookups;
//! * throttling per realm: 500 requests and 40 batch requests per window, 10 in flight;
//!   beyond that HTTP 429 with a `ThrottleExceeded` Fault (and `Retry-After` when
//!   configured — whether Intuit sends it is not documented);
//! * the token endpoint: client credentials by HTTP Basic auth; `refresh_token` grants
//!   that rotate the refresh token and revoke the old one (`invalid_grant` afterwards);
//!   `authorization_code` grants for codes the test issues; access tokens that expire.
//!
//! It is stricter than QuickBooks in one way: every API request must ask for
//! `minorversion=75`, so any test proves the connector pins it.
//!
//! Tests, end-to-end tests and benchmarks start it with [`QboFake::serve`], read and
//! change its state (items — recorded answers kept as they are with
//! [`QboFake::add_recorded_item`] —, documents, tokens), and inject faults (status codes,
//! throttling, concurrent edits, answered with the words of a recorded 5010 fault).

pub mod query;
pub mod xsd;

use crate::fake::{FakeServer, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query as QueryParams, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xsd::Schema;

/// The token endpoint's path on the fake (Intuit's is
/// `https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer`).
pub const TOKEN_PATH: &str = "/oauth2/v1/tokens/bearer";

/// Throttling limits per realm.
#[derive(Debug, Clone, Copy)]
pub struct FakeLimits {
    pub requests_per_window: usize,
    pub batches_per_window: usize,
    pub in_flight: usize,
    pub window: Duration,
}

impl Default for FakeLimits {
    /// QuickBooks Online's documented limits.
    fn default() -> Self {
        FakeLimits {
            requests_per_window: 500,
            batches_per_window: 40,
            in_flight: 10,
            window: Duration::from_secs(60),
        }
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub realm_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub limits: FakeLimits,
    /// `Retry-After` (seconds) on 429 answers; `None` sends none.
    pub retry_after: Option<u64>,
    /// `expires_in` of access tokens.
    pub access_token_lifetime: Duration,
    /// Whether a refresh returns a new refresh token (and revokes the old one).
    pub rotate_refresh_tokens: bool,
    /// Added to every token endpoint answer.
    pub token_latency: Duration,
    /// Added to every API answer (inside the in-flight slot).
    pub api_latency: Duration,
    pub max_batch: usize,
    pub max_results: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            realm_id: "4620816365".into(),
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            limits: FakeLimits::default(),
            retry_after: Some(1),
            access_token_lifetime: Duration::from_secs(3600),
            rotate_refresh_tokens: true,
            token_latency: Duration::ZERO,
            api_latency: Duration::ZERO,
            max_batch: 30,
            max_results: 1000,
        }
    }
}

/// What the fake saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// API requests answered (throttled ones excluded).
    pub requests: usize,
    pub queries: usize,
    pub batches: usize,
    /// The most operations one batch carried.
    pub largest_batch: usize,
    pub item_updates: usize,
    pub stale_updates: usize,
    pub adjustments: usize,
    /// 429 answers.
    pub throttled: usize,
    /// 401 answers.
    pub unauthorized: usize,
    /// Token endpoint requests received, counted on arrival (before `token_latency`):
    /// a test can see that a refresh is in flight.
    pub token_requests: usize,
    /// Token endpoint calls, by outcome.
    pub token_calls: usize,
    pub refreshes: usize,
    pub code_exchanges: usize,
    pub invalid_grants: usize,
    pub max_in_flight: usize,
    /// Every query text, in order.
    pub query_texts: Vec<String>,
}

#[derive(Debug, Default)]
struct FakeState {
    items: BTreeMap<u64, Map<String, Value>>,
    next_id: u64,
    adjustments: Vec<Value>,
    documents: Vec<(String, Value)>,
    refresh_tokens: HashSet<String>,
    revoked: HashSet<String>,
    access_tokens: HashMap<String, Instant>,
    codes: HashMap<String, String>,
    /// Every token the fake ever issued (to check none leaks).
    issued: Vec<String>,
    requests: VecDeque<Instant>,
    batches: VecDeque<Instant>,
    in_flight: usize,
    /// Accepted requests: when, and whether it was a batch.
    accepted: Vec<(Instant, bool)>,
    inject: VecDeque<u16>,
    inject_batch: VecDeque<u16>,
    apply_then_fail: usize,
    conflicts: HashMap<String, u32>,
    stats: Stats,
}

/// A handle on the fake's state; cheap to clone.
#[derive(Clone)]
pub struct QboFake {
    state: Arc<Mutex<FakeState>>,
    config: Arc<FakeConfig>,
    schema: &'static Schema,
    properties: Arc<Mutex<PropertyCache>>,
}

/// Properties (name → XSD type) per entity type, worked out on first use.
type PropertyCache = HashMap<String, Arc<BTreeMap<String, String>>>;

struct Fault {
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
    detail: String,
}

impl Fault {
    fn validation(
        code: &'static str,
        message: impl Into<String>,
        detail: impl Into<String>,
    ) -> Fault {
        Fault {
            status: StatusCode::BAD_REQUEST,
            kind: "ValidationFault",
            code,
            message: message.into(),
            detail: detail.into(),
        }
    }

    /// QuickBooks' answer to an update whose `SyncToken` is not the current one, with
    /// the words of a recorded sandbox answer: the `bid3` item of the Batch sample
    /// response in Intuit's API reference (developer.intuit.com …/all-entities/batch;
    /// copied in Petrus-Han/finance_plugins @ b971034e375da75e70f39bfba33fc6fe42dac4a1,
    /// `ref/quickbooks_dev_docs/api-reference/batch.md`; the connector's fixture
    /// `tests/fixtures/quickbooks_online/batch_stale_object.json`). As a single request
    /// it is an HTTP 400 with the same `Fault`.
    fn stale_object() -> Fault {
        Fault::validation(
            "5010",
            "Stale Object Error",
            "Stale Object Error : You and root were working on this at the same time. root finished before you did, so your work was not saved.",
        )
    }

    fn body(&self) -> Value {
        json!({
            "Error": [{
                "Message": self.message,
                "Detail": self.detail,
                "code": self.code,
                "element": ""
            }],
            "type": self.kind
        })
    }

    fn response(&self) -> Response {
        (
            self.status,
            axum::Json(json!({"Fault": self.body(), "time": TIME})),
        )
            .into_response()
    }
}

const TIME: &str = "2026-11-27T09:00:00.000-08:00";

fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn decimal_of(value: Option<&Value>) -> Option<Decimal> {
    match value? {
        Value::Number(n) => {
            let text = n.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        _ => None,
    }
}

fn random_token(prefix: &str) -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

impl QboFake {
    pub fn new(config: FakeConfig) -> QboFake {
        QboFake {
            state: Arc::new(Mutex::new(FakeState {
                next_id: 1,
                ..FakeState::default()
            })),
            config: Arc::new(config),
            schema: Schema::shared(),
            properties: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Starts a fake on loopback; point `base_url` at [`FakeServer::base_url`] and
    /// `token_url` at [`QboFake::token_url`].
    pub async fn serve(config: FakeConfig) -> (FakeServer, QboFake) {
        let fake = QboFake::new(config);
        let server = serve(fake.router()).await;
        (server, fake)
    }

    /// The token endpoint of a fake served at `base_url`.
    pub fn token_url(base_url: &str) -> String {
        format!("{base_url}{TOKEN_PATH}")
    }

    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(TOKEN_PATH, post(token))
            .route("/v3/company/{realm}/query", get(query_endpoint))
            .route("/v3/company/{realm}/batch", post(batch_endpoint))
            .route("/v3/company/{realm}/item", post(item_endpoint))
            .route("/v3/company/{realm}/item/{id}", get(item_read_endpoint))
            .route(
                "/v3/company/{realm}/inventoryadjustment",
                post(adjustment_endpoint),
            )
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- state for tests -------------------------------------------------------------

    /// Adds an item as given (an `Id` and `SyncToken` are assigned; `Active` defaults to
    /// true). Returns its Id.
    pub fn add_item(&self, item: Value) -> String {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let mut map = match item {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        map.insert("Id".into(), Value::String(id.to_string()));
        map.insert("SyncToken".into(), Value::String("0".into()));
        map.entry("Active").or_insert(Value::Bool(true));
        map.insert(
            "MetaData".into(),
            json!({"CreateTime": TIME, "LastUpdatedTime": TIME}),
        );
        state.items.insert(id, map);
        id.to_string()
    }

    /// Adds an item exactly as QuickBooks answered it (a recorded answer): its `Id`,
    /// `SyncToken`, `MetaData` and every other property are kept. Returns its Id.
    pub fn add_recorded_item(&self, item: Value) -> String {
        let mut state = self.lock();
        let Value::Object(map) = item else {
            panic!("a recorded item is a JSON object");
        };
        let id: u64 = map
            .get("Id")
            .and_then(Value::as_str)
            .and_then(|i| i.parse().ok())
            .expect("a recorded item has a numeric Id");
        assert!(
            !state.items.contains_key(&id),
            "the fake already has an item with Id {id}"
        );
        state.next_id = state.next_id.max(id + 1);
        state.items.insert(id, map);
        id.to_string()
    }

    /// Adds a tracked inventory item; `price` and `qty` are JSON number texts ("12.50").
    pub fn add_inventory_item(&self, sku: &str, name: &str, price: &str, qty: &str) -> String {
        self.add_item(json!({
            "Name": name,
            "Sku": sku,
            "Type": "Inventory",
            "TrackQtyOnHand": true,
            "UnitPrice": number(price),
            "QtyOnHand": number(qty),
        }))
    }

    /// Adds many items at once (benchmarks).
    pub fn add_items(&self, items: impl IntoIterator<Item = Value>) -> Vec<String> {
        items.into_iter().map(|i| self.add_item(i)).collect()
    }

    pub fn item(&self, id: &str) -> Option<Value> {
        let id: u64 = id.parse().ok()?;
        self.lock().items.get(&id).map(|m| Value::Object(m.clone()))
    }

    /// The item with this SKU.
    pub fn item_by_sku(&self, sku: &str) -> Option<Value> {
        self.lock()
            .items
            .values()
            .find(|m| m.get("Sku").and_then(Value::as_str) == Some(sku))
            .map(|m| Value::Object(m.clone()))
    }

    pub fn items(&self) -> Vec<Value> {
        self.lock()
            .items
            .values()
            .map(|m| Value::Object(m.clone()))
            .collect()
    }

    /// Changes an item as a QuickBooks user would (its `SyncToken` moves on).
    pub fn edit_item(&self, id: &str, field: &str, value: Value) {
        let Ok(id) = id.parse::<u64>() else { return };
        let mut state = self.lock();
        if let Some(item) = state.items.get_mut(&id) {
            item.insert(field.into(), value);
            bump(item);
        }
    }

    /// The next `times` updates of this item find it changed by someone else first
    /// (a concurrent edit: their `SyncToken` is stale).
    pub fn conflict_on_update(&self, id: &str, times: u32) {
        self.lock().conflicts.insert(id.to_owned(), times);
    }

    /// Records a posted document (`SalesReceipt` or `Invoice`) with this DocNumber.
    pub fn add_document(&self, entity: &str, doc_number: &str) {
        let mut state = self.lock();
        let id = state.documents.len() + 1;
        state.documents.push((
            entity.to_owned(),
            json!({"Id": id.to_string(), "DocNumber": doc_number, "SyncToken": "0"}),
        ));
    }

    /// Every InventoryAdjustment created.
    pub fn adjustments(&self) -> Vec<Value> {
        self.lock().adjustments.clone()
    }

    /// A valid refresh token for the realm (what an operator puts in the config).
    pub fn issue_refresh_token(&self) -> String {
        let token = random_token("fake-refresh");
        let mut state = self.lock();
        state.refresh_tokens.insert(token.clone());
        state.issued.push(token.clone());
        token
    }

    /// An authorisation code, as QuickBooks would put in the redirect after the user
    /// connected the app with this redirect URI.
    pub fn authorization_code(&self, redirect_uri: &str) -> String {
        let code = random_token("fake-code");
        self.lock()
            .codes
            .insert(code.clone(), redirect_uri.to_owned());
        code
    }

    /// The refresh tokens that work now.
    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        self.lock().refresh_tokens.iter().cloned().collect()
    }

    /// Every token the fake ever issued (access and refresh), for leak checks.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    /// Every access token stops working (as after an hour).
    pub fn expire_access_tokens(&self) {
        self.lock().access_tokens.clear();
    }

    /// Every refresh token stops working (revoked, or expired after 100 days unused).
    pub fn revoke_refresh_tokens(&self) {
        let mut state = self.lock();
        let all: Vec<String> = state.refresh_tokens.drain().collect();
        state.revoked.extend(all);
    }

    /// The next `times` API requests are answered with `status` (500, 503, 429 …).
    pub fn inject(&self, status: u16, times: usize) {
        let mut state = self.lock();
        for _ in 0..times {
            state.inject.push_back(status);
        }
    }

    /// The next `times` batch requests are answered with `status`, before doing anything.
    pub fn inject_batch(&self, status: u16, times: usize) {
        let mut state = self.lock();
        for _ in 0..times {
            state.inject_batch.push_back(status);
        }
    }

    /// The next `times` batch requests are carried out, but answered with HTTP 502 (as if
    /// the answer was lost): the worst case for operations that are not idempotent.
    pub fn apply_then_fail_batches(&self, times: usize) {
        self.lock().apply_then_fail = times;
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// The most requests (or batch requests, when `batches`) accepted within any
    /// `window`: for checking a client kept to the limits.
    pub fn max_in_window(&self, window: Duration, batches: bool) -> usize {
        let state = self.lock();
        let times: Vec<Instant> = state
            .accepted
            .iter()
            .filter(|(_, b)| !batches || *b)
            .map(|(t, _)| *t)
            .collect();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    // ---- request handling ------------------------------------------------------------

    /// The common part of every API request: minor version, credentials, realm, injected
    /// faults and throttling. `Ok` carries a guard that frees the in-flight slot.
    #[allow(clippy::result_large_err)] // a test fake: clarity over a boxed response
    fn admit(
        &self,
        realm: &str,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
        batch: bool,
    ) -> Result<InFlight, Response> {
        if params.get("minorversion").map(String::as_str) != Some("75") {
            return Err(Fault::validation(
                "4001",
                "Invalid minorversion",
                "this fake requires minorversion=75 on every request (QuickBooks Online uses 75 by default and ignores lower ones)",
            )
            .response());
        }
        let now = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let valid = bearer
            .and_then(|t| state.access_tokens.get(t))
            .is_some_and(|expires| *expires > now);
        if !valid {
            state.stats.unauthorized += 1;
            // The gateway's 401 uses lower-case keys.
            let body = json!({
                "fault": {"error": [{
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired or invalid",
                    "code": "3200"
                }], "type": "AUTHENTICATION"},
                "time": TIME
            });
            return Err((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
        }
        if realm != self.config.realm_id {
            return Err(Fault {
                status: StatusCode::FORBIDDEN,
                kind: "AuthorizationFault",
                code: "120",
                message: "Authorization Failure".into(),
                detail: format!("the token is not valid for company {realm}"),
            }
            .response());
        }
        if let Some(status) = state.inject.pop_front() {
            if status == 429 {
                state.stats.throttled += 1;
                return Err(self.throttled());
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(Fault {
                status,
                kind: "SystemFault",
                code: "10000",
                message: "An application error has occurred while processing your request".into(),
                detail: "injected by the test".into(),
            }
            .response());
        }
        let limits = self.config.limits;
        for q in [&mut state.requests, &mut state.batches] {
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) >= limits.window)
            {
                q.pop_front();
            }
        }
        let over = state.in_flight >= limits.in_flight
            || state.requests.len() >= limits.requests_per_window
            || (batch && state.batches.len() >= limits.batches_per_window);
        if over {
            state.stats.throttled += 1;
            return Err(self.throttled());
        }
        state.requests.push_back(now);
        if batch {
            state.batches.push_back(now);
        }
        state.accepted.push((now, batch));
        state.in_flight += 1;
        state.stats.requests += 1;
        state.stats.max_in_flight = state.stats.max_in_flight.max(state.in_flight);
        Ok(InFlight {
            state: Arc::clone(&self.state),
        })
    }

    fn throttled(&self) -> Response {
        let fault = Fault {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "SERVICE",
            code: "003001",
            message: "message=ThrottleExceeded; errorCode=003001; statusCode=429".into(),
            detail: "The request limit was reached.".into(),
        };
        let mut response = fault.response();
        if let Some(secs) = self.config.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }

    async fn latency(&self) {
        if !self.config.api_latency.is_zero() {
            tokio::time::sleep(self.config.api_latency).await;
        }
    }

    /// Checks an object's properties against a type of the real schema.
    fn check_properties(&self, type_name: &str, object: &Map<String, Value>) -> Result<(), Fault> {
        let properties = self.properties_of(type_name);
        for (name, value) in object {
            let Some(ty) = properties.get(name) else {
                return Err(Fault::validation(
                    "2010",
                    "Request has invalid or unsupported property",
                    format!(
                        "Property Name:{name} specified is unsupported or invalid (not in the {type_name} type of Finance.xsd)"
                    ),
                ));
            };
            let ok = match ty.as_str() {
                "decimal" | "int" | "integer" | "long" | "positiveInteger" => value.is_number(),
                "boolean" => value.is_boolean(),
                "string" | "id" | "date" | "dateTime" => value.is_string(),
                t if self.schema.has_type(t) => value.is_object() || value.is_array(),
                _ => true,
            };
            if !ok {
                return Err(Fault::validation(
                    "2010",
                    "Request has invalid or unsupported property",
                    format!("Property Name:{name} must be a {ty}, not {value}"),
                ));
            }
        }
        Ok(())
    }

    /// A type's properties, worked out once per fake.
    fn properties_of(&self, type_name: &str) -> Arc<BTreeMap<String, String>> {
        let mut cache = self.properties.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            cache
                .entry(type_name.to_owned())
                .or_insert_with(|| Arc::new(self.schema.properties(type_name))),
        )
    }

    fn run_query(&self, text: &str) -> Result<Value, Fault> {
        let q = query::parse(text, 100).map_err(|e| {
            Fault::validation(
                "4000",
                "Error parsing query",
                format!("QueryParserError: {e}"),
            )
        })?;
        if q.max > self.config.max_results {
            return Err(Fault::validation(
                "4000",
                "Error parsing query",
                format!(
                    "QueryValidationError: MAXRESULTS is at most {}",
                    self.config.max_results
                ),
            ));
        }
        let mut state = self.lock();
        state.stats.queries += 1;
        state.stats.query_texts.push(text.to_owned());
        let keep = |m: &Map<String, Value>| q.conds.iter().all(|c| c.matches_map(m));
        let skip = q.start - 1;
        let (count, page): (usize, Vec<Value>) = match q.entity.as_str() {
            "Item" => {
                // `Id in (…)`: look the items up rather than scanning them all.
                let by_id = q.conds.iter().find_map(|c| c.ids());
                let looked_up = by_id.is_some();
                let candidates: Vec<&Map<String, Value>> = match by_id {
                    Some(ids) => {
                        let mut keys: Vec<u64> =
                            ids.iter().filter_map(|i| i.parse().ok()).collect();
                        keys.sort_unstable();
                        keys.dedup();
                        keys.iter()
                            .filter_map(|k| state.items.get(k))
                            .filter(|m| keep(m))
                            .collect()
                    }
                    None if q.count => state.items.values().filter(|m| keep(m)).collect(),
                    None => state
                        .items
                        .values()
                        .filter(|m| keep(m))
                        .skip(skip)
                        .take(q.max)
                        .collect(),
                };
                if q.count {
                    (candidates.len(), Vec::new())
                } else if looked_up {
                    let page = candidates.into_iter().skip(skip).take(q.max);
                    (0, page.map(|m| Value::Object(m.clone())).collect())
                } else {
                    (
                        0,
                        candidates
                            .into_iter()
                            .map(|m| Value::Object(m.clone()))
                            .collect(),
                    )
                }
            }
            "SalesReceipt" | "Invoice" | "InventoryAdjustment" => {
                let all: Vec<&Value> = if q.entity == "InventoryAdjustment" {
                    state.adjustments.iter().collect()
                } else {
                    state
                        .documents
                        .iter()
                        .filter(|(e, _)| *e == q.entity)
                        .map(|(_, d)| d)
                        .collect()
                };
                let matching: Vec<&Value> = all
                    .into_iter()
                    .filter(|e| q.conds.iter().all(|c| c.matches(e)))
                    .collect();
                let n = matching.len();
                (
                    n,
                    matching
                        .into_iter()
                        .skip(skip)
                        .take(q.max)
                        .cloned()
                        .collect(),
                )
            }
            other => {
                return Err(Fault::validation(
                    "4000",
                    "Error parsing query",
                    format!("QueryValidationError: invalid context declaration: {other}"),
                ));
            }
        };
        if q.count {
            return Ok(json!({"totalCount": count}));
        }
        if page.is_empty() {
            return Ok(json!({}));
        }
        let n = page.len();
        let mut response = Map::new();
        response.insert(q.entity.clone(), Value::Array(page));
        response.insert("startPosition".into(), json!(q.start));
        response.insert("maxResults".into(), json!(n));
        Ok(Value::Object(response))
    }

    fn update_item(&self, object: &Map<String, Value>) -> Result<Value, Fault> {
        self.check_properties("Item", object)?;
        let required = |name: &str| {
            Fault::validation(
                "2020",
                "Required param missing, need to supply the required value for the API",
                format!("Required parameter {name} is missing in the request"),
            )
        };
        let id = object
            .get("Id")
            .and_then(Value::as_str)
            .ok_or_else(|| required("Id"))?;
        let token = object
            .get("SyncToken")
            .and_then(Value::as_str)
            .ok_or_else(|| required("SyncToken"))?;
        let mut state = self.lock();
        state.stats.item_updates += 1;
        let conflict = match state.conflicts.get_mut(id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let key: u64 = id.parse().unwrap_or(0);
        let Some(item) = state.items.get_mut(&key) else {
            return Err(Fault::validation(
                "610",
                "Object Not Found",
                format!(
                    "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees. (Item {id})"
                ),
            ));
        };
        if conflict {
            bump(item);
        }
        if item.get("SyncToken").and_then(Value::as_str) != Some(token) {
            state.stats.stale_updates += 1;
            return Err(Fault::stale_object());
        }
        let tracked = item.get("TrackQtyOnHand") == Some(&Value::Bool(true));
        if tracked && object.get("TrackQtyOnHand") == Some(&Value::Bool(false)) {
            return Err(Fault::validation(
                "6000",
                "A business validation error has occurred while processing your request",
                "Business Validation Error: TrackQtyOnHand cannot be turned off once it is on",
            ));
        }
        if !tracked && object.contains_key("QtyOnHand") {
            return Err(Fault::validation(
                "6000",
                "A business validation error has occurred while processing your request",
                "Business Validation Error: QtyOnHand applies to tracked inventory items only",
            ));
        }
        let sparse = object.get("sparse") == Some(&Value::Bool(true));
        if !sparse {
            // A full update: every writable field left out is cleared.
            item.retain(|k, _| matches!(k.as_str(), "Id" | "SyncToken" | "MetaData" | "Type"));
        }
        for (k, v) in object {
            if !matches!(k.as_str(), "Id" | "SyncToken" | "sparse" | "MetaData") {
                item.insert(k.clone(), v.clone());
            }
        }
        bump(item);
        Ok(Value::Object(item.clone()))
    }

    fn create_adjustment(&self, object: &Map<String, Value>) -> Result<Value, Fault> {
        self.check_properties("InventoryAdjustment", object)?;
        let invalid = |detail: String| {
            Fault::validation(
                "2020",
                "Required param missing, need to supply the required value for the API",
                detail,
            )
        };
        if object
            .get("AdjustAccountRef")
            .and_then(|r| r.get("value"))
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(invalid(
                "Required parameter AdjustAccountRef is missing in the request".into(),
            ));
        }
        let lines = object
            .get("Line")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| invalid("Required parameter Line is missing in the request".into()))?;
        let mut changes = Vec::new();
        for line in lines {
            let line = line
                .as_object()
                .ok_or_else(|| invalid("a Line must be an object".into()))?;
            self.check_properties("Line", line)?;
            if line.get("DetailType").and_then(Value::as_str) != Some("ItemAdjustmentLineDetail") {
                return Err(invalid(
                    "Line.DetailType must be ItemAdjustmentLineDetail".into(),
                ));
            }
            let detail = line
                .get("ItemAdjustmentLineDetail")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    invalid("Required parameter ItemAdjustmentLineDetail is missing".into())
                })?;
            self.check_properties("ItemAdjustmentLineDetail", detail)?;
            let item = detail
                .get("ItemRef")
                .and_then(|r| r.get("value"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("Required parameter ItemRef is missing".into()))?
                .to_owned();
            let diff = decimal_of(detail.get("QtyDiff")).ok_or_else(|| {
                invalid("Required parameter QtyDiff (or NewQty) is missing".into())
            })?;
            changes.push((item, diff));
        }
        let mut state = self.lock();
        for (id, _) in &changes {
            let item = id.parse::<u64>().ok().and_then(|k| state.items.get(&k));
            let tracked = item.is_some_and(|i| {
                i.get("Type").and_then(Value::as_str) == Some("Inventory")
                    && i.get("TrackQtyOnHand") == Some(&Value::Bool(true))
                    && i.get("Active") != Some(&Value::Bool(false))
            });
            if !tracked {
                return Err(Fault::validation(
                    "6000",
                    "A business validation error has occurred while processing your request",
                    format!(
                        "Business Validation Error: item {id} is not an active inventory item that tracks quantity"
                    ),
                ));
            }
        }
        for (id, diff) in &changes {
            if let Some(item) = id.parse::<u64>().ok().and_then(|k| state.items.get_mut(&k)) {
                let current = decimal_of(item.get("QtyOnHand")).unwrap_or(Decimal::ZERO);
                item.insert(
                    "QtyOnHand".into(),
                    number(&(current + diff).normalize().to_string()),
                );
            }
        }
        state.stats.adjustments += 1;
        let id = state.adjustments.len() + 1;
        let mut created = object.clone();
        created.insert("Id".into(), Value::String(format!("A{id}")));
        created.insert("SyncToken".into(), Value::String("0".into()));
        created
            .entry("TxnDate")
            .or_insert(Value::String("2026-11-27".into()));
        let created = Value::Object(created);
        state.adjustments.push(created.clone());
        Ok(created)
    }
}

/// Frees an in-flight slot when the answer is done.
struct InFlight {
    state: Arc<Mutex<FakeState>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

fn bump(item: &mut Map<String, Value>) {
    let next = item
        .get("SyncToken")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(0, |t| t + 1);
    item.insert("SyncToken".into(), Value::String(next.to_string()));
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Fault> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Fault::validation(
            "2500",
            "Invalid Request",
            "the request body is not a JSON object",
        )),
    }
}

async fn query_endpoint(
    State(fake): State<QboFake>,
    Path(realm): Path<String>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _slot = match fake.admit(&realm, &headers, &params, false) {
        Ok(slot) => slot,
        Err(response) => return response,
    };
    fake.latency().await;
    let Some(text) = params.get("query") else {
        return Fault::validation("4000", "Error parsing query", "no query parameter").response();
    };
    match fake.run_query(text) {
        Ok(response) => ok(json!({"QueryResponse": response, "time": TIME})),
        Err(fault) => fault.response(),
    }
}

async fn item_endpoint(
    State(fake): State<QboFake>,
    Path(realm): Path<String>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match fake.admit(&realm, &headers, &params, false) {
        Ok(slot) => slot,
        Err(response) => return response,
    };
    fake.latency().await;
    match parse_object(&body).and_then(|o| fake.update_item(&o)) {
        Ok(item) => ok(json!({"Item": item, "time": TIME})),
        Err(fault) => fault.response(),
    }
}

async fn item_read_endpoint(
    State(fake): State<QboFake>,
    Path((realm, id)): Path<(String, String)>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _slot = match fake.admit(&realm, &headers, &params, false) {
        Ok(slot) => slot,
        Err(response) => return response,
    };
    fake.latency().await;
    match fake.item(&id) {
        Some(item) => ok(json!({"Item": item, "time": TIME})),
        None => Fault::validation("610", "Object Not Found", format!("Item {id}")).response(),
    }
}

async fn adjustment_endpoint(
    State(fake): State<QboFake>,
    Path(realm): Path<String>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match fake.admit(&realm, &headers, &params, false) {
        Ok(slot) => slot,
        Err(response) => return response,
    };
    fake.latency().await;
    match parse_object(&body).and_then(|o| fake.create_adjustment(&o)) {
        Ok(adj) => ok(json!({"InventoryAdjustment": adj, "time": TIME})),
        Err(fault) => fault.response(),
    }
}

async fn batch_endpoint(
    State(fake): State<QboFake>,
    Path(realm): Path<String>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match fake.admit(&realm, &headers, &params, true) {
        Ok(slot) => slot,
        Err(response) => return response,
    };
    fake.latency().await;
    let request = match parse_object(&body) {
        Ok(r) => r,
        Err(fault) => return fault.response(),
    };
    let Some(items) = request.get("BatchItemRequest").and_then(Value::as_array) else {
        return Fault::validation("2020", "Required param missing", "BatchItemRequest").response();
    };
    {
        let mut state = fake.lock();
        if let Some(status) = state.inject_batch.pop_front() {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Fault {
                status,
                kind: "SystemFault",
                code: "10000",
                message: "An application error has occurred while processing your request".into(),
                detail: "injected by the test".into(),
            }
            .response();
        }
        state.stats.batches += 1;
        state.stats.largest_batch = state.stats.largest_batch.max(items.len());
    }
    if items.len() > fake.config.max_batch {
        return Fault::validation(
            "1040",
            "Batch size limit exceeded",
            format!(
                "The maximum number of payloads in a single batch request is {}; this one has {}",
                fake.config.max_batch,
                items.len()
            ),
        )
        .response();
    }
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        let bid = item.get("bId").cloned().unwrap_or(Value::Null);
        let operation = item.get("operation").and_then(Value::as_str);
        let result: Result<(&str, Value), Fault> =
            if let Some(q) = item.get("Query").and_then(Value::as_str) {
                fake.run_query(q).map(|r| ("QueryResponse", r))
            } else if let Some(Value::Object(obj)) = item.get("Item") {
                match operation {
                    Some("update") => fake.update_item(obj).map(|i| ("Item", i)),
                    other => Err(Fault::validation(
                        "500",
                        "Unsupported Operation",
                        format!("the fake does not {other:?} items"),
                    )),
                }
            } else if let Some(Value::Object(obj)) = item.get("InventoryAdjustment") {
                match operation {
                    Some("create") => fake
                        .create_adjustment(obj)
                        .map(|a| ("InventoryAdjustment", a)),
                    other => Err(Fault::validation(
                        "500",
                        "Unsupported Operation",
                        format!("InventoryAdjustment {other:?}"),
                    )),
                }
            } else {
                Err(Fault::validation(
                    "2500",
                    "Invalid Request",
                    "a batch item needs an entity or a Query",
                ))
            };
        answers.push(match result {
            Ok((key, value)) => json!({"bId": bid, key: value}),
            Err(fault) => json!({"bId": bid, "Fault": fault.body()}),
        });
    }
    {
        let mut state = fake.lock();
        if state.apply_then_fail > 0 {
            state.apply_then_fail -= 1;
            return (StatusCode::BAD_GATEWAY, "upstream connection lost").into_response();
        }
    }
    ok(json!({"BatchItemResponse": answers, "time": TIME}))
}

async fn token(
    State(fake): State<QboFake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    fake.lock().stats.token_requests += 1;
    if !fake.config.token_latency.is_zero() {
        tokio::time::sleep(fake.config.token_latency).await;
    }
    let error = |status: StatusCode, error: &str| {
        (status, axum::Json(json!({"error": error}))).into_response()
    };
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{}:{}", fake.config.client_id, fake.config.client_secret);
    let mut state = fake.lock();
    state.stats.token_calls += 1;
    if credentials.as_deref() != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let keep_refresh: Option<String> = match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {
            let given = form.get("refresh_token").cloned().unwrap_or_default();
            if !state.refresh_tokens.contains(&given) {
                state.stats.invalid_grants += 1;
                return error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            state.stats.refreshes += 1;
            if fake.config.rotate_refresh_tokens {
                state.refresh_tokens.remove(&given);
                state.revoked.insert(given);
                None
            } else {
                Some(given)
            }
        }
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let redirect = form.get("redirect_uri").cloned().unwrap_or_default();
            match state.codes.remove(&code) {
                Some(uri) if uri == redirect => {
                    state.stats.code_exchanges += 1;
                    None
                }
                _ => {
                    state.stats.invalid_grants += 1;
                    return error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
            }
        }
        _ => return error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let refresh = keep_refresh.unwrap_or_else(|| random_token("fake-refresh"));
    let access = random_token("fake-access");
    let lifetime = fake.config.access_token_lifetime;
    state.refresh_tokens.insert(refresh.clone());
    state
        .access_tokens
        .insert(access.clone(), Instant::now() + lifetime);
    state.issued.push(refresh.clone());
    state.issued.push(access.clone());
    ok(json!({
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": lifetime.as_secs(),
        "x_refresh_token_expires_in": 8_726_400,
    }))
}
