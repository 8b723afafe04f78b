//! A fake BigCommerce store API (`/v3` Catalog and Inventory, `/v2` Orders) that behaves
//! as documented in shared/docs/platform-apis.md §4:
//!
//! * `X-Auth-Token` auth; anything else is a 401.
//! * A per-store request quota per window (150 per 30 s by default), announced on every
//!   response in `X-Rate-Limit-Time-Window-Ms`, `X-Rate-Limit-Time-Reset-Ms`,
//!   `X-Rate-Limit-Requests-Quota` and `X-Rate-Limit-Requests-Left`; past it, 429.
//! * `GET /v3/catalog/products?include=variants` pages with `limit` (≤ 250) and `page`, in a
//!   `{"data", "meta": {"pagination"}}` envelope; prices are JSON numbers.
//! * Sale prices (products_catalog.v3.yml, product-variants_catalog.v3.yml): a product's
//!   `sale_price` (0 for none) "will be used instead of value in the price field"; a
//!   variant's `sale_price` of `null` takes the product's, like its `price`. A variant's
//!   `sale_price` of 0 is no sale for that variant (the fake's reading: 0 is what every
//!   unset sale price shows). `calculated_price` is the sale price when one is set (even one
//!   at or above the price), else the price. `PUT /v3/catalog/variants` takes `sale_price`.
//! * Products can be loaded from captured payloads ([`BigProduct::from_payload`],
//!   [`BigFake::insert_payload`]).
//! * `PUT /v3/catalog/variants` takes at most 50 variants (413 past it);
//!   `PUT /v3/inventory/adjustments/absolute` at most 2,000 items (413 past it). Both bodies
//!   are checked against BigCommerce's real OpenAPI files; a violation is a 422 and is kept
//!   in [`BigFake::violations`]. Writing `inventory_level` through the catalog is refused
//!   and recorded as a violation too.
//! * Absolute adjustments apply asynchronously, [`BigOptions::inventory_delay`] after they
//!   were accepted; `GET /v3/inventory/locations/{id}/items` shows them only then.
//! * `GET /v2/orders?status_id=N` and `/v2/orders/{id}/products` (money as strings with four
//!   decimals; 204 with no body when there is nothing). Order lists take
//!   `min_date_modified`/`max_date_modified` (RFC 2822 or ISO 8601, inclusive) and `sort`
//!   (`id`, `date_created`, `date_modified`, `status_id`, with `:asc`/`:desc`); their query
//!   is checked against the spec's declared parameters (a 400 and a violation otherwise).
//!   Orders carry `date_modified` (RFC 2822), stamped from the store's clock whenever an
//!   order changes ([`BigState::clock`], [`BigFake::advance_clock`]).

// Handlers return early with ready-made responses; boxing them would only add noise.
#![allow(clippy::result_large_err)]

use crate::openapi::{QueryParams, RequestSchema};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BigVariant {
    pub id: u64,
    pub sku: String,
    /// `None`: the product's price applies.
    pub price: Option<Decimal>,
    /// `None`: the product's sale price applies; `Some(0)`: no sale for this variant.
    pub sale_price: Option<Decimal>,
    /// Option values; empty for a product's base variant.
    pub option_values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BigProduct {
    pub id: u64,
    pub name: String,
    pub sku: String,
    pub price: Decimal,
    /// 0: no sale.
    pub sale_price: Decimal,
    /// `none`, `product` or `variant`.
    pub inventory_tracking: String,
    pub variants: Vec<BigVariant>,
}

impl BigProduct {
    /// A product without options: one base variant (id `id * 10`), tracked by product.
    pub fn simple(id: u64, sku: &str, price: Decimal) -> BigProduct {
        BigProduct {
            id,
            name: format!("Product {id}"),
            sku: sku.into(),
            price,
            sale_price: Decimal::ZERO,
            inventory_tracking: "product".into(),
            variants: vec![BigVariant {
                id: id * 10,
                sku: sku.into(),
                ..BigVariant::default()
            }],
        }
    }

    /// A variant's price and sale price as the storefront applies them: its own, else the
    /// product's (`null` inherits); a sale price of 0 is none.
    pub fn prices_of(&self, v: &BigVariant) -> (Decimal, Option<Decimal>) {
        let price = v.price.unwrap_or(self.price);
        let sale = v.sale_price.unwrap_or(self.sale_price);
        (price, (sale > Decimal::ZERO).then_some(sale))
    }

    /// What the storefront charges for a variant: the sale price when one is set, else the
    /// price (products_catalog.v3.yml, `calculated_price`).
    pub fn calculated_price(&self, v: &BigVariant) -> Decimal {
        let (price, sale) = self.prices_of(v);
        sale.unwrap_or(price)
    }

    /// A product as `GET /v3/catalog/products?include=variants` sends it (a captured
    /// payload): id, name, SKU, prices, tracking and its variants.
    pub fn from_payload(p: &Value) -> Result<BigProduct, String> {
        let decimal = |v: &Value, key: &str| -> Result<Option<Decimal>, String> {
            match &v[key] {
                Value::Null => Ok(None),
                Value::Number(n) => n
                    .to_string()
                    .parse::<Decimal>()
                    .map(Some)
                    .map_err(|e| format!("{key} {n}: {e}")),
                other => Err(format!("{key} is {other}, not a number")),
            }
        };
        let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
        let variants = p["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                Ok(BigVariant {
                    id: v["id"].as_u64().ok_or("a variant without an id")?,
                    sku: text(v, "sku"),
                    price: decimal(v, "price")?,
                    sale_price: decimal(v, "sale_price")?,
                    option_values: v["option_values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| text(o, "label"))
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(BigProduct {
            id: p["id"].as_u64().ok_or("a product without an id")?,
            name: text(p, "name"),
            sku: text(p, "sku"),
            price: decimal(p, "price")?.unwrap_or_default(),
            sale_price: decimal(p, "sale_price")?.unwrap_or_default(),
            inventory_tracking: text(p, "inventory_tracking"),
            variants,
        })
    }
}

/// What an inventory quantity belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Item {
    Product(u64),
    Variant(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BigOrderLine {
    pub product_id: u64,
    pub variant_id: u64,
    pub sku: String,
    pub quantity: i64,
    pub quantity_shipped: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BigOrder {
    pub id: u64,
    pub status_id: u32,
    pub lines: Vec<BigOrderLine>,
}

#[derive(Debug, Clone)]
pub struct BigOptions {
    pub access_token: String,
    pub store_hash: String,
    /// Requests per window (150 on Standard/Plus, 450 on Pro).
    pub quota: u32,
    pub window: Duration,
    pub max_page: usize,
    pub variants_batch_limit: usize,
    pub adjustments_limit: usize,
    pub inventory_items_limit: usize,
    pub orders_max_limit: usize,
    /// How long an accepted absolute adjustment takes to show.
    pub inventory_delay: Duration,
}

impl Default for BigOptions {
    fn default() -> Self {
        BigOptions {
            access_token: "bc-token".into(),
            store_hash: "abc123".into(),
            quota: 150,
            window: Duration::from_secs(30),
            max_page: 250,
            variants_batch_limit: 50,
            adjustments_limit: 2000,
            inventory_items_limit: 1000,
            orders_max_limit: 250,
            inventory_delay: Duration::from_millis(0),
        }
    }
}

/// A response sent instead of handling the next request.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub delay: Option<Duration>,
}

#[derive(Debug)]
pub struct BigState {
    pub products: BTreeMap<u64, BigProduct>,
    /// On-hand quantity by location and item.
    pub stock: HashMap<(u64, Item), i64>,
    /// Change them freely: an order that differs from how the fake last saw it (or is new)
    /// gets `date_modified` = the store's clock at the next orders request.
    pub orders: Vec<BigOrder>,
    /// The store's clock: BigCommerce's time, not the test's. It moves on a second with
    /// every order change the fake stamps; tests move it further.
    pub clock: DateTime<Utc>,
    /// Each order as last stamped, and its `date_modified`.
    stamps: HashMap<u64, (BigOrder, DateTime<Utc>)>,
    /// Absolute adjustments accepted but not applied yet: (due, location, item, quantity).
    pending: Vec<(Instant, u64, Item, i64)>,
    next_transaction: u64,
    /// Variant id → product id, for products added with [`BigFake::insert`].
    variant_owner: HashMap<u64, u64>,
}

impl Default for BigState {
    fn default() -> Self {
        BigState {
            products: BTreeMap::new(),
            stock: HashMap::new(),
            orders: Vec::new(),
            clock: DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            stamps: HashMap::new(),
            pending: Vec::new(),
            next_transaction: 0,
            variant_owner: HashMap::new(),
        }
    }
}

impl BigState {
    /// Gives every new or changed order its modification time, as the platform does on
    /// every change (status, shipment, edit).
    fn stamp_orders(&mut self) {
        for order in &self.orders {
            let changed = self
                .stamps
                .get(&order.id)
                .is_none_or(|(seen, _)| seen != order);
            if changed {
                self.stamps.insert(order.id, (order.clone(), self.clock));
                self.clock += chrono::Duration::seconds(1);
            }
        }
    }

    /// An order's `date_modified` (stamping changes first).
    pub fn order_modified(&mut self, id: u64) -> Option<DateTime<Utc>> {
        self.stamp_orders();
        self.stamps.get(&id).map(|(_, t)| *t)
    }

    fn settle(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.0 <= now);
        self.pending = later;
        for (_, location, item, q) in due {
            self.stock.insert((location, item), q);
        }
    }

    /// Where a product's (or variant's) stock lives under its tracking mode.
    fn item_of(&self, product: &BigProduct, variant: &BigVariant) -> Option<Item> {
        match product.inventory_tracking.as_str() {
            "product" => Some(Item::Product(product.id)),
            "variant" => Some(Item::Variant(variant.id)),
            _ => None,
        }
    }

    /// The quantity at a location (0 when never set).
    pub fn quantity(&self, location: u64, item: Item) -> i64 {
        self.stock.get(&(location, item)).copied().unwrap_or(0)
    }

    /// The product a variant belongs to.
    fn owner(&self, variant: u64) -> Option<&BigProduct> {
        if let Some(p) = self
            .variant_owner
            .get(&variant)
            .and_then(|p| self.products.get(p))
            && p.variants.iter().any(|v| v.id == variant)
        {
            return Some(p);
        }
        self.products
            .values()
            .find(|p| p.variants.iter().any(|v| v.id == variant))
    }

    /// Adjustments still on their way.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    /// Below the store's base URL, e.g. `/v3/catalog/variants`.
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Items in a batch body.
    pub items: usize,
    pub status: u16,
    /// Since the fake was created.
    pub at: Duration,
}

struct RateWindow {
    start: Instant,
    used: u32,
}

struct Shared {
    options: BigOptions,
    created: Instant,
    state: Mutex<BigState>,
    faults: Mutex<VecDeque<Fault>>,
    calls: Mutex<Vec<Call>>,
    violations: Mutex<Vec<String>>,
    rate: Mutex<Option<RateWindow>>,
}

#[derive(Clone)]
pub struct BigFake {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The query parameters `GET /v2/orders` declares in BigCommerce's spec.
fn order_query_params() -> &'static QueryParams {
    static PARAMS: OnceLock<QueryParams> = OnceLock::new();
    PARAMS.get_or_init(|| {
        QueryParams::load(
            &crate::specs::path("bigcommerce/orders.v2.oas2.yml"),
            "/orders",
            "get",
        )
    })
}

fn schemas() -> &'static (RequestSchema, RequestSchema) {
    static SCHEMAS: OnceLock<(RequestSchema, RequestSchema)> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        (
            RequestSchema::load(
                &crate::specs::path("bigcommerce/product-variants_catalog.v3.yml"),
                "/catalog/variants",
                "put",
            ),
            RequestSchema::load(
                &crate::specs::path("bigcommerce/inventory.v3.yml"),
                "/inventory/adjustments/absolute",
                "put",
            ),
        )
    })
}

impl BigFake {
    pub fn new(options: BigOptions) -> BigFake {
        // Compile the schemas now: a missing spec fails here, before any request.
        let _ = schemas();
        let _ = order_query_params();
        BigFake {
            shared: Arc::new(Shared {
                options,
                created: Instant::now(),
                state: Mutex::new(BigState::default()),
                faults: Mutex::new(VecDeque::new()),
                calls: Mutex::new(Vec::new()),
                violations: Mutex::new(Vec::new()),
                rate: Mutex::new(None),
            }),
        }
    }

    pub fn options(&self) -> &BigOptions {
        &self.shared.options
    }

    /// The state, with due adjustments applied.
    pub fn state(&self) -> MutexGuard<'_, BigState> {
        let mut state = lock(&self.shared.state);
        state.settle();
        state
    }

    /// Adds a product with its stock at `location`: `quantity` for the product or for
    /// every variant, per its tracking.
    pub fn insert(&self, product: BigProduct, location: u64, quantity: i64) {
        let mut state = self.state();
        match product.inventory_tracking.as_str() {
            "product" => {
                state
                    .stock
                    .insert((location, Item::Product(product.id)), quantity);
            }
            "variant" => {
                for v in &product.variants {
                    state
                        .stock
                        .insert((location, Item::Variant(v.id)), quantity);
                }
            }
            _ => {}
        }
        for v in &product.variants {
            state.variant_owner.insert(v.id, product.id);
        }
        state.products.insert(product.id, product);
    }

    /// Adds a captured product ([`BigProduct::from_payload`]) with the stock it showed: its
    /// `inventory_level` (tracked by product) or each variant's (tracked by variant), at the
    /// default location.
    pub fn insert_payload(&self, payload: &Value) -> Result<(), String> {
        let product = BigProduct::from_payload(payload)?;
        let level = |v: &Value| v["inventory_level"].as_i64().unwrap_or(0);
        let mut state = self.state();
        match product.inventory_tracking.as_str() {
            "product" => {
                state
                    .stock
                    .insert((1, Item::Product(product.id)), level(payload));
            }
            "variant" => {
                for v in payload["variants"].as_array().into_iter().flatten() {
                    if let Some(id) = v["id"].as_u64() {
                        state.stock.insert((1, Item::Variant(id)), level(v));
                    }
                }
            }
            _ => {}
        }
        for v in &product.variants {
            state.variant_owner.insert(v.id, product.id);
        }
        state.products.insert(product.id, product);
        Ok(())
    }

    /// Moves the store's clock on: time passing at BigCommerce.
    pub fn advance_clock(&self, by: Duration) {
        let mut state = self.state();
        state.stamp_orders();
        state.clock += chrono::Duration::from_std(by).unwrap_or_default();
    }

    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.shared.calls).clone()
    }

    pub fn clear_calls(&self) {
        lock(&self.shared.calls).clear();
    }

    /// Request bodies that broke the real OpenAPI schemas or the documented rules.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.shared.violations).clone()
    }

    pub fn router(&self) -> Router {
        let prefix = format!("/stores/{}", self.shared.options.store_hash);
        let api = Router::new()
            .route("/v3/catalog/products", get(list_products))
            .route("/v3/catalog/variants", put(put_variants))
            .route("/v3/inventory/adjustments/absolute", put(put_absolute))
            .route(
                "/v3/inventory/locations/{location}/items",
                get(location_items),
            )
            .route("/v2/orders", get(list_orders))
            .route("/v2/orders/{id}/products", get(order_products))
            .with_state(self.clone());
        Router::new().nest(&prefix, api)
    }

    /// The base URL a connection takes: `{server}/stores/{hash}`.
    pub fn base_url(&self, server: &crate::fake::FakeServer) -> String {
        format!(
            "{}/stores/{}",
            server.base_url(),
            self.shared.options.store_hash
        )
    }

    fn record(
        &self,
        method: &str,
        path: String,
        query: &HashMap<String, String>,
        items: usize,
        status: StatusCode,
    ) {
        lock(&self.shared.calls).push(Call {
            method: method.into(),
            path,
            query: query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            items,
            status: status.as_u16(),
            at: self.shared.created.elapsed(),
        });
    }

    /// Faults, auth and the rate limit; `Err` is the response to send instead.
    async fn gate(&self, headers: &HeaderMap) -> Result<HeaderMap, Response> {
        let fault = lock(&self.shared.faults).pop_front();
        if let Some(fault) = fault {
            if let Some(d) = fault.delay {
                tokio::time::sleep(d).await;
            }
            let status =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // A 429 without the rate headers: the platform is under load (api-rate-limits.mdx).
            return Err(problem(status, "Injected fault"));
        }
        let o = &self.shared.options;
        let rate_headers = {
            let mut rate = lock(&self.shared.rate);
            let now = Instant::now();
            let window = rate.get_or_insert(RateWindow {
                start: now,
                used: 0,
            });
            if now.duration_since(window.start) >= o.window {
                *window = RateWindow {
                    start: now,
                    used: 0,
                };
            }
            let reset = o.window.saturating_sub(now.duration_since(window.start));
            let allowed = window.used < o.quota;
            if allowed {
                window.used += 1;
            }
            let mut h = HeaderMap::new();
            h.insert(
                "x-rate-limit-time-window-ms",
                HeaderValue::from(o.window.as_millis() as u64),
            );
            h.insert(
                "x-rate-limit-time-reset-ms",
                HeaderValue::from(reset.as_millis().max(1) as u64),
            );
            h.insert("x-rate-limit-requests-quota", HeaderValue::from(o.quota));
            h.insert(
                "x-rate-limit-requests-left",
                HeaderValue::from(o.quota - window.used),
            );
            if !allowed {
                let mut r = problem(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
                r.headers_mut().extend(h);
                return Err(r);
            }
            h
        };
        match headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
            Some(t) if t == o.access_token => Ok(rate_headers),
            _ => {
                let mut r = problem(
                    StatusCode::UNAUTHORIZED,
                    "You are not authorized to access this resource.",
                );
                r.headers_mut().extend(rate_headers);
                Err(r)
            }
        }
    }

    fn violate(&self, what: String) {
        lock(&self.shared.violations).push(what);
    }
}

/// The v3 error body: `{"status","title","type","errors"}`.
fn problem(status: StatusCode, title: &str) -> Response {
    (
        status,
        Json(json!({
            "status": status.as_u16(),
            "title": title,
            "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            "errors": {},
        })),
    )
        .into_response()
}

fn with_headers(mut response: Response, headers: HeaderMap) -> Response {
    response.headers_mut().extend(headers);
    response
}

/// `limit`/`page` with a documented maximum.
fn paging(
    q: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<(usize, usize), Response> {
    let limit = match q.get("limit").map(|v| v.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("limit must be between 1 and {max}"),
            ));
        }
    };
    let page = match q.get("page").map(|v| v.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "page must be a positive number",
            ));
        }
    };
    Ok((page, limit))
}

fn id_list(q: &HashMap<String, String>, key: &str) -> Option<HashSet<u64>> {
    q.get(key)
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
}

/// A JSON number with the decimal's exact digits.
fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn envelope(items: Vec<Value>, page: usize, limit: usize) -> Value {
    let total = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    envelope_of(total, data, page, limit)
}

/// The envelope of one page already cut out of `total` items.
fn envelope_of(total: usize, data: Vec<Value>, page: usize, limit: usize) -> Value {
    let total_pages = total.div_ceil(limit);
    json!({
        "data": data,
        "meta": {"pagination": {
            "total": total,
            "count": data.len(),
            "per_page": limit,
            "current_page": page,
            "total_pages": total_pages,
            "links": {
                "current": format!("?page={page}&limit={limit}"),
                "next": if page < total_pages { Value::String(format!("?page={}&limit={limit}", page + 1)) } else { Value::Null },
            },
        }},
    })
}

async fn list_products(
    State(fake): State<BigFake>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let response = match fake.gate(&headers).await {
        Err(r) => r,
        Ok(rate) => with_headers(products_inner(&fake, &q), rate),
    };
    fake.record(
        "GET",
        "/v3/catalog/products".into(),
        &q,
        0,
        response.status(),
    );
    response
}

fn products_inner(fake: &BigFake, q: &HashMap<String, String>) -> Response {
    let (page, limit) = match paging(q, 50, fake.shared.options.max_page) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let include_variants = q
        .get("include")
        .is_some_and(|i| i.split(',').any(|s| s == "variants"));
    let ids = id_list(q, "id:in");
    let state = fake.state();
    let total = match &ids {
        Some(ids) => state.products.keys().filter(|id| ids.contains(id)).count(),
        None => state.products.len(),
    };
    // Only the requested page is turned into JSON: benchmarks list 100,000 products.
    let items: Vec<Value> = state
        .products
        .values()
        .filter(|p| ids.as_ref().is_none_or(|ids| ids.contains(&p.id)))
        .skip((page - 1) * limit)
        .take(limit)
        .map(|p| {
            // The catalog shows the default location's stock (inventory.v3.yml).
            let product_level = state.quantity(1, Item::Product(p.id));
            let mut product = json!({
                "id": p.id,
                "name": p.name,
                "type": "physical",
                "sku": p.sku,
                "price": number(p.price),
                "sale_price": number(p.sale_price),
                "calculated_price": number(if p.sale_price > Decimal::ZERO { p.sale_price } else { p.price }),
                "inventory_tracking": p.inventory_tracking,
                "inventory_level": if p.inventory_tracking == "variant" {
                    p.variants.iter().map(|v| state.quantity(1, Item::Variant(v.id))).sum::<i64>()
                } else { product_level },
            });
            if include_variants {
                product["variants"] = Value::Array(
                    p.variants
                        .iter()
                        .map(|v| {
                            let level = match state.item_of(p, v) {
                                Some(item) => state.quantity(1, item),
                                None => 0,
                            };
                            json!({
                                "id": v.id,
                                "product_id": p.id,
                                "sku": v.sku,
                                "price": v.price.map_or(Value::Null, number),
                                "sale_price": v.sale_price.map_or(Value::Null, number),
                                "calculated_price": number(p.calculated_price(v)),
                                "inventory_level": level,
                                "option_values": v.option_values.iter().enumerate().map(|(i, label)| json!({
                                    "id": i + 1, "label": label, "option_id": 1, "option_display_name": "Option"
                                })).collect::<Vec<_>>(),
                            })
                        })
                        .collect(),
                );
            }
            product
        })
        .collect();
    Json(envelope_of(total, items, page, limit)).into_response()
}

async fn put_variants(
    State(fake): State<BigFake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let items = body.as_array().map_or(0, Vec::len);
    let response = match fake.gate(&headers).await {
        Err(r) => r,
        Ok(rate) => with_headers(put_variants_inner(&fake, &body), rate),
    };
    fake.record(
        "PUT",
        "/v3/catalog/variants".into(),
        &HashMap::new(),
        items,
        response.status(),
    );
    response
}

fn put_variants_inner(fake: &BigFake, body: &Value) -> Response {
    let limit = fake.shared.options.variants_batch_limit;
    let Some(items) = body.as_array() else {
        fake.violate("PUT /v3/catalog/variants: the body is not an array".into());
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The request body must be an array",
        );
    };
    if items.len() > limit {
        // product-variants_catalog.v3.yml, 413 example
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "The request payload is too large. The maximum items allowed in the array is {limit}"
            ),
        );
    }
    let mut errors = schemas().0.violations(body);
    for item in items {
        if item.get("id").and_then(Value::as_u64).is_none() {
            errors.push("PUT /v3/catalog/variants: an item without `id`".into());
        }
        if item.get("inventory_level").is_some() {
            errors.push("PUT /v3/catalog/variants: inventory written through the catalog; use the Inventory API".into());
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            fake.violate(e.clone());
        }
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"batch_errors": [{"status": 422, "title": errors.join("; "), "type": "/api-docs/getting-started/api-status-codes", "errors": {}}]})),
        )
            .into_response();
    }
    let mut state = fake.state();
    let mut unknown = Vec::new();
    // Per variant: the price written, and the sale price written (`Some(None)`: null,
    // which inherits the product's).
    #[allow(clippy::type_complexity)]
    let ids: Vec<(u64, Option<Decimal>, Option<Option<Decimal>>)> = items
        .iter()
        .filter_map(|i| {
            let id = i.get("id").and_then(Value::as_u64)?;
            let price = i
                .get("price")
                .map(|p| p.to_string().parse::<Decimal>().ok());
            let sale = i
                .get("sale_price")
                .map(|p| p.to_string().parse::<Decimal>().ok());
            Some((id, price.flatten(), sale))
        })
        .collect();
    for (id, ..) in &ids {
        if state.owner(*id).is_none() {
            unknown.push(*id);
        }
    }
    if !unknown.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"batch_errors": unknown.iter().map(|id| json!({
                "status": 422, "title": format!("Variant {id} does not exist"), "type": "/api-docs/getting-started/api-status-codes", "errors": {}
            })).collect::<Vec<_>>()})),
        )
            .into_response();
    }
    let mut data = Vec::new();
    for (id, price, sale) in ids {
        let Some(owner) = state.owner(id).map(|p| p.id) else {
            continue;
        };
        if let Some(p) = state.products.get_mut(&owner)
            && let Some(v) = p.variants.iter_mut().find(|v| v.id == id)
        {
            if price.is_some() {
                v.price = price;
            }
            if let Some(sale) = sale {
                v.sale_price = sale;
            }
            let v = v.clone();
            data.push(json!({
                "id": v.id, "product_id": owner, "sku": v.sku,
                "price": v.price.map_or(Value::Null, number),
                "sale_price": v.sale_price.map_or(Value::Null, number),
                "calculated_price": number(p.calculated_price(&v)),
            }));
        }
    }
    Json(json!({"data": data, "meta": {}})).into_response()
}

async fn put_absolute(
    State(fake): State<BigFake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let response = match fake.gate(&headers).await {
        Err(r) => r,
        Ok(rate) => with_headers(put_absolute_inner(&fake, &body), rate),
    };
    fake.record(
        "PUT",
        "/v3/inventory/adjustments/absolute".into(),
        &HashMap::new(),
        items,
        response.status(),
    );
    response
}

fn put_absolute_inner(fake: &BigFake, body: &Value) -> Response {
    let limit = fake.shared.options.adjustments_limit;
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.len() > limit {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("The request payload is too large. The maximum items allowed is {limit}"),
        );
    }
    let errors = schemas().1.violations(body);
    if !errors.is_empty() {
        for e in &errors {
            fake.violate(e.clone());
        }
        return problem(StatusCode::UNPROCESSABLE_ENTITY, &errors.join("; "));
    }
    let mut state = fake.state();
    let mut resolved = Vec::new();
    for item in &items {
        let location = item.get("location_id").and_then(Value::as_u64).unwrap_or(1);
        let quantity = item.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let target = if let Some(vid) = item.get("variant_id").and_then(Value::as_u64) {
            let Some(p) = state.owner(vid) else {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("[Item with variant_id {vid} does not exist]"),
                );
            };
            if p.inventory_tracking != "variant" {
                // inventory.v3.yml, 422 example
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!(
                        "[Item with variant_id {vid} is tracked by product, please update stock by product id]"
                    ),
                );
            }
            Item::Variant(vid)
        } else if let Some(pid) = item.get("product_id").and_then(Value::as_u64) {
            let Some(p) = state.products.get(&pid) else {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("[Item with product_id {pid} does not exist]"),
                );
            };
            if p.inventory_tracking != "product" {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!(
                        "[Item with product_id {pid} is tracked by variant, please update stock by variant id]"
                    ),
                );
            }
            Item::Product(pid)
        } else {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the fake identifies items by variant_id or product_id",
            );
        };
        resolved.push((location, target, quantity));
    }
    let due = Instant::now() + fake.shared.options.inventory_delay;
    for (location, item, q) in resolved {
        state.pending.push((due, location, item, q));
    }
    state.settle();
    state.next_transaction += 1;
    Json(json!({"transaction_id": format!("fake-{:08}", state.next_transaction)})).into_response()
}

async fn location_items(
    State(fake): State<BigFake>,
    headers: HeaderMap,
    Path(location): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let response = match fake.gate(&headers).await {
        Err(r) => r,
        Ok(rate) => with_headers(location_items_inner(&fake, location, &q), rate),
    };
    fake.record(
        "GET",
        format!("/v3/inventory/locations/{location}/items"),
        &q,
        0,
        response.status(),
    );
    response
}

fn location_items_inner(fake: &BigFake, location: u64, q: &HashMap<String, String>) -> Response {
    let max = fake.shared.options.inventory_items_limit;
    let (page, limit) = match paging(q, 50, max) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let variants = id_list(q, "variant_id:in");
    let products = id_list(q, "product_id:in");
    let state = fake.state();
    let mut items = Vec::new();
    for p in state.products.values() {
        for v in &p.variants {
            let item = match state.item_of(p, v) {
                Some(item) => item,
                None => continue,
            };
            // A product-tracked product is one item, whatever its variants.
            if matches!(item, Item::Product(_)) && v.id != p.variants[0].id {
                continue;
            }
            let wanted = match (&variants, &products) {
                (None, None) => true,
                (vs, ps) => {
                    vs.as_ref().is_some_and(|vs| vs.contains(&v.id))
                        || ps.as_ref().is_some_and(|ps| ps.contains(&p.id))
                }
            };
            if !wanted {
                continue;
            }
            let q = state.quantity(location, item);
            let identity = match item {
                Item::Product(_) => json!({"sku": p.sku, "product_id": p.id}),
                Item::Variant(_) => json!({"sku": v.sku, "variant_id": v.id, "product_id": p.id}),
            };
            items.push(json!({
                "identity": identity,
                "available_to_sell": q,
                "total_inventory_onhand": q,
                "settings": {"safety_stock": 0, "is_in_stock": q > 0, "warning_level": 0, "bin_picking_number": ""},
            }));
        }
    }
    Json(envelope(items, page, limit)).into_response()
}

async fn list_orders(
    State(fake): State<BigFake>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let response = match fake.gate(&headers).await {
        Err(r) => r,
        Ok(rate) => with_headers(list_orders_inner(&fake, &q), rate),
    };
    fake.record("GET", "/v2/orders".into(), &q, 0, response.status());
    response
}

/// v2 lists: a plain array, or 204 with no body when the page is empty.
fn v2_page(items: Vec<Value>, page: usize, limit: usize) -> Response {
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    if body.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(Value::Array(body)).into_response()
    }
}

fn list_orders_inner(fake: &BigFake, q: &HashMap<String, String>) -> Response {
    let violations = order_query_params().violations(q);
    if !violations.is_empty() {
        let message = violations.join("; ");
        fake.violate(message.clone());
        return problem(StatusCode::BAD_REQUEST, &message);
    }
    let (page, limit) = match paging(q, 50, fake.shared.options.orders_max_limit) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let status: Option<u32> = q.get("status_id").and_then(|s| s.parse().ok());
    let bound = |name: &str| match q.get(name) {
        None => Ok(None),
        Some(v) => match parse_v2_date(v) {
            Some(t) => Ok(Some(t)),
            None => {
                let message = format!("{name} must be an RFC 2822 or ISO 8601 date: {v}");
                fake.violate(message.clone());
                Err(problem(StatusCode::BAD_REQUEST, &message))
            }
        },
    };
    let (min_modified, max_modified) =
        match (bound("min_date_modified"), bound("max_date_modified")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(r), _) | (_, Err(r)) => return r,
        };
    let (key, descending) = match q.get("sort").map(String::as_str) {
        None => ("id", false),
        Some(s) => match s.split_once(':') {
            None => (s, false),
            Some((k, dir)) => (k, dir == "desc"),
        },
    };
    let mut state = fake.state();
    state.stamp_orders();
    let mut orders: Vec<(&BigOrder, DateTime<Utc>)> = state
        .orders
        .iter()
        .filter_map(|o| state.stamps.get(&o.id).map(|(_, t)| (o, *t)))
        .filter(|(o, modified)| {
            status.is_none_or(|s| s == o.status_id)
                && min_modified.is_none_or(|t| *modified >= t)
                && max_modified.is_none_or(|t| *modified <= t)
        })
        .collect();
    match key {
        // Orders are created in id order.
        "id" | "date_created" => orders.sort_by_key(|(o, _)| o.id),
        "date_modified" => orders.sort_by_key(|(o, t)| (*t, o.id)),
        "status_id" => orders.sort_by_key(|(o, _)| (o.status_id, o.id)),
        other => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!("the BigCommerce fake does not sort orders by {other}"),
            );
        }
    }
    if descending {
        orders.reverse();
    }
    let start = DateTime::parse_from_rfc3339("2026-11-28T09:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    let items = orders
        .into_iter()
        .map(|(o, modified)| {
            let created =
                (start + chrono::Duration::seconds(i64::try_from(o.id).unwrap_or(0))).min(modified);
            json!({
                "id": o.id,
                "status_id": o.status_id,
                "total_inc_tax": "54.0000",
                "items_total": o.lines.len(),
                // v2 dates are RFC 2822 (orders.v2.oas2.yml examples).
                "date_created": created.to_rfc2822(),
                "date_modified": modified.to_rfc2822(),
            })
        })
        .collect();
    v2_page(items, page, limit)
}

/// "RFC-2822 or ISO-8601" (orders.v2.oas2.yml, `min_date_modified`).
fn parse_v2_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text)
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn order_products(
    State(fake): State<BigFake>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let response = match fake.gate(&headers).await {
        Err(r) => r,
        Ok(rate) => with_headers(order_products_inner(&fake, id, &q), rate),
    };
    fake.record(
        "GET",
        format!("/v2/orders/{id}/products"),
        &q,
        0,
        response.status(),
    );
    response
}

fn order_products_inner(fake: &BigFake, id: u64, q: &HashMap<String, String>) -> Response {
    let (page, limit) = match paging(q, 50, fake.shared.options.orders_max_limit) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let state = fake.state();
    let Some(order) = state.orders.iter().find(|o| o.id == id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!([{"status": 404, "message": "The requested resource was not found."}])),
        )
            .into_response();
    };
    let items = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "id": i + 1, "order_id": id, "product_id": l.product_id, "variant_id": l.variant_id,
                "sku": l.sku, "quantity": l.quantity, "quantity_shipped": l.quantity_shipped,
                "base_price": "10.0000", "price_inc_tax": "10.0000",
            })
        })
        .collect();
    v2_page(items, page, limit)
}
