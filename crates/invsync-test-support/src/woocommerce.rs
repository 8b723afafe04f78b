//! A fake WooCommerce REST API v3 (`/wp-json/wc/v3`) that behaves as documented in
//! shared/docs/platform-apis.md §2:
//!
//! * HTTP Basic auth with the consumer key and secret; anything else is a 401
//!   `woocommerce_rest_authentication_error`.
//! * Lists page with `page`/`per_page` (1..=100, default 10; more is a 400
//!   `rest_invalid_param`) and send `X-WP-Total` / `X-WP-TotalPages`; `include=1,2` filters.
//! * Prices are JSON strings, quantities integers; a price written as a number is refused
//!   per item, like WordPress' schema validation does.
//! * `POST …/batch` takes at most [`WooOptions::batch_limit`] create+update+delete items
//!   (413 `woocommerce_rest_request_entity_too_large` past it) and reports per-item errors
//!   inside a 200.
//! * A variation that does not manage its own stock shows `manage_stock: "parent"` and the
//!   parent's `stock_quantity` while its parent manages stock, and `false` otherwise
//!   (`WC_Product_Variation::get_manage_stock`, view context).
//! * Sales: `regular_price`, `sale_price` ("" for none) and `date_on_sale_from`/`_to` (site
//!   time) with their `_gmt` twins. `on_sale` and the current `price` are computed at the
//!   site's clock as `WC_Product::is_on_sale` does: a sale price below the regular price, its
//!   start (if any) passed and its end (if any) not. A batch update takes `sale_price` and
//!   the four dates; `""` clears a date and `null` leaves it (the controller's `isset`).
//!   WooCommerce's daily scheduled-sales job, which resets `price` after a sale ends, is not
//!   modelled: the fake's `price` is always what that job would leave.
//! * Products and variations can be loaded from captured REST payloads
//!   ([`WooProduct::from_payload`], [`WooVariation::from_payload`]).
//!
//! * `GET /orders` takes `status` (a list, `any` by default), `modified_after` /
//!   `modified_before` (ISO 8601; in the site's time zone unless `dates_are_gmt=true` or the
//!   date carries a zone), `orderby` (`date`, `id`, `include`, `title`, `slug`) and `order`
//!   (`desc` by default), and refuses other values with `rest_invalid_param`. Orders carry
//!   `date_modified` (site time, UTC−05:00 here) and `date_modified_gmt`, stamped from the
//!   site's clock whenever an order changes ([`WooState::clock`], [`WooFake::advance_clock`]).
//!
//! Tests and benchmarks inspect and change the state ([`WooFake::state`]), count calls
//! ([`WooFake::calls`]) and inject faults ([`WooFake::push_fault`]).

// Handlers return early with ready-made responses; boxing them would only add noise.
#![allow(clippy::result_large_err)]

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How a variation manages stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VariationStock {
    /// Its own `stock_quantity`.
    #[default]
    Own,
    /// Not managed by the variation: while the parent manages stock, the variation shows
    /// `"parent"` and sells from the parent's stock; otherwise its stock is not tracked.
    None,
    /// The same stored state as [`VariationStock::None`], named for tests that mean the
    /// parent's stock (`manage_stock: "parent"`).
    Parent,
}

/// A sale as WooCommerce stores it on a product or variation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WooSale {
    /// A decimal string, or "" for none.
    pub sale_price: String,
    /// `date_on_sale_from_gmt`: the sale starts then (none: at once).
    pub from: Option<DateTime<Utc>>,
    /// `date_on_sale_to_gmt`: the sale ends then (none: never).
    pub to: Option<DateTime<Utc>>,
}

impl WooSale {
    /// A sale at `price` with no dates.
    pub fn at(price: &str) -> WooSale {
        WooSale {
            sale_price: price.into(),
            ..WooSale::default()
        }
    }

    /// `WC_Product::is_on_sale` at `now`: a sale price below the regular price, started and
    /// not ended.
    pub fn is_active(&self, regular_price: &str, now: DateTime<Utc>) -> bool {
        let (Ok(regular), Ok(sale)) = (
            regular_price.trim().parse::<Decimal>(),
            self.sale_price.trim().parse::<Decimal>(),
        ) else {
            return false;
        };
        sale < regular
            && self.from.is_none_or(|from| from <= now)
            && self.to.is_none_or(|to| to >= now)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct WooVariation {
    pub id: u64,
    pub sku: String,
    /// As the API holds it: a decimal string, or "" for none.
    pub regular_price: String,
    pub sale: WooSale,
    pub stock: VariationStock,
    pub stock_quantity: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct WooProduct {
    pub id: u64,
    /// `simple`, `variable`, `grouped` or `external`.
    pub kind: String,
    pub sku: String,
    pub name: String,
    pub regular_price: String,
    pub sale: WooSale,
    pub manage_stock: bool,
    pub stock_quantity: Option<i64>,
    pub variations: Vec<WooVariation>,
}

impl WooProduct {
    /// A simple product with managed stock.
    pub fn simple(id: u64, sku: &str, price: &str, quantity: i64) -> WooProduct {
        WooProduct {
            id,
            kind: "simple".into(),
            sku: sku.into(),
            name: format!("Product {id}"),
            regular_price: price.into(),
            manage_stock: true,
            stock_quantity: Some(quantity),
            ..WooProduct::default()
        }
    }

    /// A simple product whose stock is not managed (`manage_stock: false`).
    pub fn untracked(id: u64, sku: &str, price: &str) -> WooProduct {
        WooProduct {
            manage_stock: false,
            stock_quantity: None,
            ..WooProduct::simple(id, sku, price, 0)
        }
    }

    /// The same product on sale.
    pub fn on_sale(mut self, sale: WooSale) -> WooProduct {
        self.sale = sale;
        self
    }

    /// A product as `GET /products` sends it (a captured payload): its id, type, SKU, name,
    /// prices, sale dates (`_gmt`) and stock. Variations come separately.
    pub fn from_payload(p: &Value) -> Result<WooProduct, String> {
        Ok(WooProduct {
            id: p["id"].as_u64().ok_or("a product without an id")?,
            kind: str_field(p, "type"),
            sku: str_field(p, "sku"),
            name: str_field(p, "name"),
            regular_price: str_field(p, "regular_price"),
            sale: sale_of_payload(p)?,
            manage_stock: p["manage_stock"].as_bool() == Some(true),
            stock_quantity: p["stock_quantity"].as_i64(),
            variations: Vec::new(),
        })
    }
}

impl WooVariation {
    /// A variation as `GET /products/{id}/variations` sends it (a captured payload).
    /// `manage_stock: "parent"` and `false` are the same stored state
    /// ([`VariationStock::None`]); what it shows depends on the parent.
    pub fn from_payload(v: &Value) -> Result<WooVariation, String> {
        Ok(WooVariation {
            id: v["id"].as_u64().ok_or("a variation without an id")?,
            sku: str_field(v, "sku"),
            regular_price: str_field(v, "regular_price"),
            sale: sale_of_payload(v)?,
            stock: if v["manage_stock"].as_bool() == Some(true) {
                VariationStock::Own
            } else {
                VariationStock::None
            },
            stock_quantity: if v["manage_stock"].as_bool() == Some(true) {
                v["stock_quantity"].as_i64()
            } else {
                None
            },
        })
    }
}

fn str_field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn sale_of_payload(v: &Value) -> Result<WooSale, String> {
    let date = |key: &str| match &v[key] {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => parse_wp_date(s, true)
            .map(Some)
            .ok_or_else(|| format!("{key} `{s}` is not a date")),
        other => Err(format!("{key} is {other}, not a date")),
    };
    Ok(WooSale {
        sale_price: str_field(v, "sale_price"),
        from: date("date_on_sale_from_gmt")?,
        to: date("date_on_sale_to_gmt")?,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct WooOrderLine {
    pub sku: String,
    pub product_id: u64,
    pub variation_id: u64,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WooOrder {
    pub id: u64,
    /// `processing`, `on-hold`, `completed`, …
    pub status: String,
    pub lines: Vec<WooOrderLine>,
}

/// Limits and credentials of the fake.
#[derive(Debug, Clone)]
pub struct WooOptions {
    pub consumer_key: String,
    pub consumer_secret: String,
    /// `woocommerce_rest_batch_items_limit`, 100 by default.
    pub batch_limit: usize,
    /// The largest `per_page`, 100 in WordPress core.
    pub max_per_page: usize,
}

impl Default for WooOptions {
    fn default() -> Self {
        WooOptions {
            consumer_key: "ck_test".into(),
            consumer_secret: "cs_test".into(),
            batch_limit: 100,
            max_per_page: 100,
        }
    }
}

/// A response the fake sends instead of handling the next request.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// Sleep this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl Fault {
    pub fn status(status: u16) -> Fault {
        Fault {
            status,
            retry_after: None,
            delay: None,
        }
    }
}

/// The fake site's time zone: UTC−05:00, so `date_modified` (site time) and
/// `date_modified_gmt` differ, and a client that filters without `dates_are_gmt=true`
/// misses orders.
const SITE_OFFSET_SECONDS: i32 = -5 * 3600;

/// The fake's data; change it freely between requests.
#[derive(Debug)]
pub struct WooState {
    /// By id.
    pub products: BTreeMap<u64, WooProduct>,
    /// Change them freely: an order that differs from how the fake last saw it (or is new)
    /// gets `date_modified` = the site's clock at the next orders request.
    pub orders: Vec<WooOrder>,
    /// The site's clock, in GMT: WordPress' time, not the test's. It moves on a second
    /// with every order change the fake stamps; tests move it further.
    pub clock: DateTime<Utc>,
    /// Each order as last stamped, and its `date_modified_gmt`.
    stamps: HashMap<u64, (WooOrder, DateTime<Utc>)>,
    /// SKUs whose batch updates fail as items (a plugin refusing them, say).
    pub refuse_skus: HashSet<String>,
    /// Called once, after the next read by `include` (the connector's pre-write check),
    /// to simulate a sale landing between check and write.
    pub after_include_read: Option<fn(&mut WooState)>,
}

impl Default for WooState {
    fn default() -> Self {
        WooState {
            products: BTreeMap::new(),
            orders: Vec::new(),
            clock: DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            stamps: HashMap::new(),
            refuse_skus: HashSet::new(),
            after_include_read: None,
        }
    }
}

impl WooState {
    /// Gives every new or changed order its modification time: WooCommerce stamps
    /// `date_modified` on every save.
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

    /// An order's `date_modified_gmt` (stamping changes first).
    pub fn order_modified(&mut self, id: u64) -> Option<DateTime<Utc>> {
        self.stamp_orders();
        self.stamps.get(&id).map(|(_, t)| *t)
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    /// Path below `/wp-json/wc/v3`, e.g. `/products/batch`.
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Items in a batch body (create + update + delete).
    pub batch_items: usize,
    /// The HTTP status answered.
    pub status: u16,
    /// When it was answered, since the fake was created.
    pub at: Duration,
}

struct Shared {
    options: WooOptions,
    created: std::time::Instant,
    /// The site clock when the fake was made.
    created_clock: DateTime<Utc>,
    state: Mutex<WooState>,
    faults: Mutex<VecDeque<Fault>>,
    calls: Mutex<Vec<Call>>,
}

/// A handle on the fake: clone it into tests, serve [`WooFake::router`].
#[derive(Clone)]
pub struct WooFake {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl WooFake {
    pub fn new(options: WooOptions) -> WooFake {
        WooFake {
            shared: Arc::new(Shared {
                options,
                created: std::time::Instant::now(),
                created_clock: WooState::default().clock,
                state: Mutex::new(WooState::default()),
                faults: Mutex::new(VecDeque::new()),
                calls: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn options(&self) -> &WooOptions {
        &self.shared.options
    }

    pub fn state(&self) -> MutexGuard<'_, WooState> {
        lock(&self.shared.state)
    }

    /// Moves the site's clock on: time passing at the store.
    pub fn advance_clock(&self, by: Duration) {
        let mut state = self.state();
        state.stamp_orders();
        state.clock += chrono::Duration::from_std(by).unwrap_or_default();
    }

    pub fn insert(&self, product: WooProduct) {
        self.state().products.insert(product.id, product);
    }

    /// The next request gets this fault instead of an answer.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.shared.calls).clone()
    }

    pub fn clear_calls(&self) {
        lock(&self.shared.calls).clear();
    }

    /// A product by SKU, or the variation with that SKU (with its parent's id).
    pub fn find_sku(&self, sku: &str) -> Option<(u64, Option<WooVariation>, WooProduct)> {
        let state = self.state();
        for p in state.products.values() {
            if p.sku == sku {
                return Some((p.id, None, p.clone()));
            }
            if let Some(v) = p.variations.iter().find(|v| v.sku == sku) {
                return Some((p.id, Some(v.clone()), p.clone()));
            }
        }
        None
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/wp-json/wc/v3/products", get(list_products))
            .route("/wp-json/wc/v3/products/batch", post(batch_products))
            .route(
                "/wp-json/wc/v3/products/{id}/variations",
                get(list_variations),
            )
            .route(
                "/wp-json/wc/v3/products/{id}/variations/batch",
                post(batch_variations),
            )
            .route("/wp-json/wc/v3/orders", get(list_orders))
            .with_state(self.clone())
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
            batch_items: items,
            status: status.as_u16(),
            at: self.shared.created.elapsed(),
        });
    }

    /// Auth and injected faults, before any handler.
    async fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        let fault = lock(&self.shared.faults).pop_front();
        if let Some(fault) = fault {
            if let Some(d) = fault.delay {
                tokio::time::sleep(d).await;
            }
            let status =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(status, "fake_fault", "Injected fault.");
            if let Some(secs) = fault.retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            return Some(response);
        }
        let expected = format!(
            "Basic {}",
            base64_encode(&format!(
                "{}:{}",
                self.shared.options.consumer_key, self.shared.options.consumer_secret
            ))
        );
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(given) if given == expected => None,
            // class-wc-rest-authentication.php
            Some(_) => Some(error(
                StatusCode::UNAUTHORIZED,
                "woocommerce_rest_authentication_error",
                "Consumer key is invalid.",
            )),
            None => Some(error(
                StatusCode::UNAUTHORIZED,
                "woocommerce_rest_cannot_view",
                "Sorry, you cannot list resources.",
            )),
        }
    }
}

/// `{"code","message","data":{"status"}}`, the WordPress REST error body.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "data": {"status": status.as_u16()}})),
    )
        .into_response()
}

fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `page`/`per_page` as WordPress checks them.
fn paging(q: &HashMap<String, String>, max: usize) -> Result<(usize, usize), Response> {
    let per_page = match q.get("per_page") {
        None => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "rest_invalid_param",
                    &format!(
                        "Invalid parameter(s): per_page (per_page must be between 1 (inclusive) and {max} (inclusive))"
                    ),
                ));
            }
        },
    };
    let page = match q.get("page") {
        None => 1,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "rest_invalid_param",
                    "Invalid parameter(s): page",
                ));
            }
        },
    };
    Ok((page, per_page))
}

fn include_filter(q: &HashMap<String, String>) -> Option<HashSet<u64>> {
    q.get("include").map(|list| {
        list.split(',')
            .filter_map(|s| s.trim().parse::<u64>().ok())
            .collect()
    })
}

/// One page of `items` with the WordPress total headers.
fn page_of(items: Vec<Value>, page: usize, per_page: usize) -> Response {
    let total = items.len();
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    page_of_lazy(total, body, per_page)
}

/// A page already cut out of `total` items, with the WordPress total headers.
fn page_of_lazy(total: usize, body: Vec<Value>, per_page: usize) -> Response {
    let pages = total.div_ceil(per_page);
    let mut response = Json(Value::Array(body)).into_response();
    let h = response.headers_mut();
    h.insert("x-wp-total", HeaderValue::from(total));
    h.insert("x-wp-totalpages", HeaderValue::from(pages));
    response
}

fn stock_status(q: Option<i64>) -> &'static str {
    match q {
        Some(q) if q <= 0 => "outofstock",
        _ => "instock",
    }
}

/// Site time (no zone) and GMT of a sale date, as the API shows them; `null` for none.
fn sale_dates(out: &mut serde_json::Map<String, Value>, sale: &WooSale) {
    for (key, at) in [
        ("date_on_sale_from", sale.from),
        ("date_on_sale_to", sale.to),
    ] {
        let (site, gmt) = match at {
            Some(t) => (
                json!(
                    t.with_timezone(&site_zone())
                        .format("%Y-%m-%dT%H:%M:%S")
                        .to_string()
                ),
                json!(t.format("%Y-%m-%dT%H:%M:%S").to_string()),
            ),
            None => (Value::Null, Value::Null),
        };
        out.insert(key.into(), site);
        out.insert(format!("{key}_gmt"), gmt);
    }
}

/// `price`, `regular_price`, `sale_price`, the sale dates and `on_sale` of a product or
/// variation at `now`: `price` is the sale price while the sale runs, else the regular one.
fn price_fields(
    out: &mut serde_json::Map<String, Value>,
    regular_price: &str,
    sale: &WooSale,
    now: DateTime<Utc>,
) {
    let on_sale = sale.is_active(regular_price, now);
    let price = if on_sale {
        sale.sale_price.as_str()
    } else {
        regular_price
    };
    out.insert("price".into(), json!(price));
    out.insert("regular_price".into(), json!(regular_price));
    out.insert("sale_price".into(), json!(sale.sale_price));
    sale_dates(out, sale);
    out.insert("on_sale".into(), json!(on_sale));
}

fn product_json(p: &WooProduct, now: DateTime<Utc>) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(p.id));
    out.insert("name".into(), json!(p.name));
    out.insert("type".into(), json!(p.kind));
    out.insert("status".into(), json!("publish"));
    out.insert("sku".into(), json!(p.sku));
    price_fields(&mut out, &p.regular_price, &p.sale, now);
    if p.kind == "variable" {
        // A variable product shows its cheapest variation's current price and is on sale
        // when one of them is (WC_Product_Variable).
        let current: Vec<(Decimal, bool)> = p
            .variations
            .iter()
            .filter_map(|v| {
                let on_sale = v.sale.is_active(&v.regular_price, now);
                let price = if on_sale {
                    &v.sale.sale_price
                } else {
                    &v.regular_price
                };
                price.parse::<Decimal>().ok().map(|d| (d, on_sale))
            })
            .collect();
        let min = current.iter().map(|(d, _)| *d).min();
        out.insert(
            "price".into(),
            json!(min.map(|d| d.to_string()).unwrap_or_default()),
        );
        out.insert(
            "on_sale".into(),
            json!(current.iter().any(|(_, on_sale)| *on_sale)),
        );
    }
    out.insert("manage_stock".into(), json!(p.manage_stock));
    out.insert(
        "stock_quantity".into(),
        if p.manage_stock {
            json!(p.stock_quantity)
        } else {
            Value::Null
        },
    );
    out.insert("stock_status".into(), json!(stock_status(p.stock_quantity)));
    out.insert("parent_id".into(), json!(0));
    out.insert(
        "variations".into(),
        json!(p.variations.iter().map(|v| v.id).collect::<Vec<_>>()),
    );
    Value::Object(out)
}

fn variation_json(parent: &WooProduct, v: &WooVariation, now: DateTime<Utc>) -> Value {
    let (manage, quantity) = match v.stock {
        VariationStock::Own => (json!(true), json!(v.stock_quantity)),
        // The view context shows "parent" and the parent's stock while the parent manages
        // stock (WC_Product_Variation::get_manage_stock, woocommerce PR #19598).
        VariationStock::None | VariationStock::Parent if parent.manage_stock => {
            (json!("parent"), json!(parent.stock_quantity))
        }
        VariationStock::None | VariationStock::Parent => (json!(false), Value::Null),
    };
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(v.id));
    out.insert("sku".into(), json!(v.sku));
    price_fields(&mut out, &v.regular_price, &v.sale, now);
    out.insert("manage_stock".into(), manage);
    out.insert(
        "stock_status".into(),
        json!(stock_status(quantity.as_i64())),
    );
    out.insert("stock_quantity".into(), quantity);
    Value::Object(out)
}

async fn list_products(
    State(fake): State<WooFake>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let response = list_products_inner(&fake, &headers, &q).await;
    fake.record("GET", "/products".into(), &q, 0, response.status());
    response
}

async fn list_products_inner(
    fake: &WooFake,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    if let Some(r) = fake.gate(headers).await {
        return r;
    }
    let (page, per_page) = match paging(q, fake.shared.options.max_per_page) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let include = include_filter(q);
    let mut state = fake.state();
    let now = state.clock;
    let response = match &include {
        Some(ids) => {
            let mut ids: Vec<u64> = ids.iter().copied().collect();
            ids.sort_unstable();
            let items = ids
                .iter()
                .filter_map(|id| state.products.get(id))
                .map(|p| product_json(p, now))
                .collect();
            page_of(items, page, per_page)
        }
        // Only the requested page becomes JSON: benchmarks list 100,000 products.
        None => page_of_lazy(
            state.products.len(),
            state
                .products
                .values()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|p| product_json(p, now))
                .collect(),
            per_page,
        ),
    };
    if include.is_some()
        && let Some(hook) = state.after_include_read.take()
    {
        hook(&mut state);
    }
    response
}

async fn list_variations(
    State(fake): State<WooFake>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let response = list_variations_inner(&fake, &headers, id, &q).await;
    fake.record(
        "GET",
        format!("/products/{id}/variations"),
        &q,
        0,
        response.status(),
    );
    response
}

async fn list_variations_inner(
    fake: &WooFake,
    headers: &HeaderMap,
    id: u64,
    q: &HashMap<String, String>,
) -> Response {
    if let Some(r) = fake.gate(headers).await {
        return r;
    }
    let (page, per_page) = match paging(q, fake.shared.options.max_per_page) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let include = include_filter(q);
    let mut state = fake.state();
    let now = state.clock;
    let Some(parent) = state.products.get(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            "woocommerce_rest_product_invalid_id",
            "Invalid ID.",
        );
    };
    let items: Vec<Value> = parent
        .variations
        .iter()
        .filter(|v| include.as_ref().is_none_or(|ids| ids.contains(&v.id)))
        .map(|v| variation_json(parent, v, now))
        .collect();
    let response = page_of(items, page, per_page);
    if include.is_some()
        && let Some(hook) = state.after_include_read.take()
    {
        hook(&mut state);
    }
    response
}

/// Counts a batch body's items; `Err` when the body is not a batch.
fn batch_size(body: &Value) -> Result<usize, Response> {
    let Some(obj) = body.as_object() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_json",
            "Invalid JSON body passed.",
        ));
    };
    let mut n = 0;
    for key in ["create", "update", "delete"] {
        match obj.get(key) {
            None => {}
            Some(Value::Array(items)) => n += items.len(),
            Some(_) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "rest_invalid_param",
                    &format!("Invalid parameter(s): {key}"),
                ));
            }
        }
    }
    Ok(n)
}

fn item_error(id: u64, status: u16, code: &str, message: &str) -> Value {
    json!({"id": id, "error": {"code": code, "message": message, "data": {"status": status}}})
}

/// The fields of one batch update item the fake models.
#[derive(Debug, Default)]
struct Update {
    regular_price: Option<String>,
    sale_price: Option<String>,
    /// `Some(None)`: cleared with "".
    date_on_sale_from: Option<Option<DateTime<Utc>>>,
    date_on_sale_to: Option<Option<DateTime<Utc>>>,
    stock_quantity: Option<i64>,
    manage_stock: Option<Value>,
}

impl Update {
    /// Applies the price and sale fields, as `WC_REST_Products_Controller` sets them.
    fn apply_prices(&self, regular_price: &mut String, sale: &mut WooSale) {
        if let Some(price) = &self.regular_price {
            *regular_price = price.clone();
        }
        if let Some(price) = &self.sale_price {
            sale.sale_price = price.clone();
        }
        if let Some(from) = self.date_on_sale_from {
            sale.from = from;
        }
        if let Some(to) = self.date_on_sale_to {
            sale.to = to;
        }
    }
}

/// A price field: a decimal string or "" (WordPress' schema: type string).
fn price_field(item: &Value, key: &str) -> Result<Option<String>, String> {
    match item.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if !s.is_empty() && s.parse::<f64>().is_err() {
                return Err(format!("{key} `{s}` is not a decimal"));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(format!(
            "Invalid parameter(s): {key} ({key} is not of type string.)"
        )),
    }
}

/// A sale date of an update: `null` is skipped (`isset` is false for it), "" clears it,
/// anything else is a date in the site's time zone or, for `_gmt`, in GMT.
fn date_field(item: &Value, key: &str) -> Result<Option<Option<DateTime<Utc>>>, String> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => parse_wp_date(s, key.ends_with("_gmt"))
            .map(|t| Some(Some(t)))
            .ok_or_else(|| format!("Invalid parameter(s): {key} (`{s}` is not a date)")),
        Some(other) => Err(format!(
            "Invalid parameter(s): {key} ({other} is not a date)"
        )),
    }
}

/// Validates an update's fields against the REST schema (types only, as WordPress does).
fn update_fields(item: &Value) -> Result<Update, String> {
    const MODELLED: [&str; 9] = [
        "id",
        "regular_price",
        "sale_price",
        "date_on_sale_from",
        "date_on_sale_from_gmt",
        "date_on_sale_to",
        "date_on_sale_to_gmt",
        "stock_quantity",
        "manage_stock",
    ];
    for key in item.as_object().map(|o| o.keys()).into_iter().flatten() {
        if !MODELLED.contains(&key.as_str()) {
            return Err(format!("the fake does not model `{key}`"));
        }
    }
    let stock_quantity = match item.get("stock_quantity") {
        None => None,
        Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
        Some(_) => {
            return Err(
                "Invalid parameter(s): stock_quantity (stock_quantity is not of type integer.)"
                    .into(),
            );
        }
    };
    // The controller applies the site-time date first, then the GMT one.
    let date = |site: &str, gmt: &str| -> Result<Option<Option<DateTime<Utc>>>, String> {
        Ok(date_field(item, gmt)?.or(date_field(item, site)?))
    };
    Ok(Update {
        regular_price: price_field(item, "regular_price")?,
        sale_price: price_field(item, "sale_price")?,
        date_on_sale_from: date("date_on_sale_from", "date_on_sale_from_gmt")?,
        date_on_sale_to: date("date_on_sale_to", "date_on_sale_to_gmt")?,
        stock_quantity,
        manage_stock: item.get("manage_stock").cloned(),
    })
}

async fn batch_products(
    State(fake): State<WooFake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let items = batch_size(&body).unwrap_or(0);
    let response = batch_inner(&fake, &headers, None, &body).await;
    fake.record(
        "POST",
        "/products/batch".into(),
        &HashMap::new(),
        items,
        response.status(),
    );
    response
}

async fn batch_variations(
    State(fake): State<WooFake>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<Value>,
) -> Response {
    let items = batch_size(&body).unwrap_or(0);
    let response = batch_inner(&fake, &headers, Some(id), &body).await;
    fake.record(
        "POST",
        format!("/products/{id}/variations/batch"),
        &HashMap::new(),
        items,
        response.status(),
    );
    response
}

async fn batch_inner(
    fake: &WooFake,
    headers: &HeaderMap,
    parent: Option<u64>,
    body: &Value,
) -> Response {
    if let Some(r) = fake.gate(headers).await {
        return r;
    }
    let n = match batch_size(body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let limit = fake.shared.options.batch_limit;
    if n > limit {
        // class-wc-rest-controller.php check_batch_limit
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "woocommerce_rest_request_entity_too_large",
            &format!("Unable to accept more than {limit} items for this request."),
        );
    }
    if body
        .get("create")
        .is_some_and(|c| c.as_array().is_some_and(|a| !a.is_empty()))
        || body
            .get("delete")
            .is_some_and(|c| c.as_array().is_some_and(|a| !a.is_empty()))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "fake_unsupported",
            "The fake only models updates.",
        );
    }
    let mut state = fake.state();
    let state = &mut *state;
    let now = state.clock;
    if let Some(p) = parent
        && !state.products.contains_key(&p)
    {
        return error(
            StatusCode::NOT_FOUND,
            "woocommerce_rest_product_invalid_id",
            "Invalid ID.",
        );
    }
    let mut results = Vec::new();
    let updates = body
        .get("update")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for item in &updates {
        let Some(id) = item.get("id").and_then(Value::as_u64) else {
            results.push(item_error(
                0,
                400,
                "woocommerce_rest_product_invalid_id",
                "Invalid ID.",
            ));
            continue;
        };
        let update = match update_fields(item) {
            Ok(f) => f,
            Err(m) => {
                results.push(item_error(id, 400, "rest_invalid_param", &m));
                continue;
            }
        };
        match parent {
            None => {
                let refused = state
                    .products
                    .get(&id)
                    .is_some_and(|p| state.refuse_skus.contains(&p.sku));
                let Some(p) = state.products.get_mut(&id) else {
                    results.push(item_error(
                        id,
                        400,
                        "woocommerce_rest_product_invalid_id",
                        "Invalid ID.",
                    ));
                    continue;
                };
                if refused {
                    results.push(item_error(
                        id,
                        400,
                        "woocommerce_rest_product_not_editable",
                        "This product cannot be edited.",
                    ));
                    continue;
                }
                if let Some(m) = update.manage_stock.as_ref().and_then(Value::as_bool) {
                    p.manage_stock = m;
                }
                update.apply_prices(&mut p.regular_price, &mut p.sale);
                if let Some(q) = update.stock_quantity {
                    // WooCommerce ignores stock_quantity when stock is not managed.
                    if p.manage_stock {
                        p.stock_quantity = Some(q);
                    }
                }
                results.push(product_json(p, now));
            }
            Some(parent_id) => {
                let refuse = state.refuse_skus.clone();
                let Some(parent) = state.products.get_mut(&parent_id) else {
                    continue;
                };
                let parent_stock = parent.stock_quantity;
                let Some(v) = parent.variations.iter_mut().find(|v| v.id == id) else {
                    results.push(item_error(
                        id,
                        400,
                        "woocommerce_rest_product_variation_invalid_id",
                        "Invalid ID.",
                    ));
                    continue;
                };
                if refuse.contains(&v.sku) {
                    results.push(item_error(
                        id,
                        400,
                        "woocommerce_rest_product_not_editable",
                        "This product cannot be edited.",
                    ));
                    continue;
                }
                update.apply_prices(&mut v.regular_price, &mut v.sale);
                if let Some(q) = update.stock_quantity
                    && v.stock == VariationStock::Own
                {
                    v.stock_quantity = Some(q);
                }
                let v = v.clone();
                let mut shown = parent.clone();
                shown.stock_quantity = parent_stock;
                results.push(variation_json(&shown, &v, now));
            }
        }
    }
    Json(json!({"update": results})).into_response()
}

async fn list_orders(
    State(fake): State<WooFake>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let response = list_orders_inner(&fake, &headers, &q).await;
    fake.record("GET", "/orders".into(), &q, 0, response.status());
    response
}

async fn list_orders_inner(
    fake: &WooFake,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    if let Some(r) = fake.gate(headers).await {
        return r;
    }
    let (page, per_page) = match paging(q, fake.shared.options.max_per_page) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = match OrderQuery::parse(q) {
        Ok(query) => query,
        Err(param) => {
            return error(
                StatusCode::BAD_REQUEST,
                "rest_invalid_param",
                &format!("Invalid parameter(s): {param}"),
            );
        }
    };
    let mut state = fake.state();
    state.stamp_orders();
    let mut items: Vec<(&WooOrder, DateTime<Utc>)> = state
        .orders
        .iter()
        .filter_map(|o| state.stamps.get(&o.id).map(|(_, t)| (o, *t)))
        .filter(|(o, modified)| query.matches(o, *modified))
        .collect();
    // Orders are created in id order, so `date` (created) sorts like `id`.
    items.sort_by_key(|(o, _)| o.id);
    if query.descending {
        items.reverse();
    }
    let site = |t: DateTime<Utc>| {
        t.with_timezone(&site_zone())
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let gmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let start = fake.shared.created_clock;
    let items: Vec<Value> = items
        .into_iter()
        .map(|(o, modified)| {
            // Created before anything else happened to it: an hour before the start of the
            // clock plus its id in seconds, never after its modification.
            let created = (start - chrono::Duration::hours(1)
                + chrono::Duration::seconds(i64::try_from(o.id).unwrap_or(0)))
            .min(modified);
            json!({
                "id": o.id,
                "number": o.id.to_string(),
                "status": o.status,
                "date_created": site(created),
                "date_created_gmt": gmt(created),
                "date_modified": site(modified),
                "date_modified_gmt": gmt(modified),
                "line_items": o.lines.iter().enumerate().map(|(i, l)| json!({
                    "id": i + 1,
                    "name": l.sku,
                    "product_id": l.product_id,
                    "variation_id": l.variation_id,
                    "quantity": l.quantity,
                    "sku": l.sku,
                    "subtotal": "10.00",
                    "total": "10.00",
                    // The docs' table says string, their examples show a number.
                    "price": 10,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    page_of(items, page, per_page)
}

fn site_zone() -> FixedOffset {
    FixedOffset::east_opt(SITE_OFFSET_SECONDS)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// Order statuses of `GET /orders?status=` (_orders.md "List all orders").
const ORDER_STATUSES: &[&str] = &[
    "any",
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
];

/// The filters and order of `GET /orders` the fake implements, checked like WordPress
/// checks its schema (`rest_invalid_param` naming the parameter).
struct OrderQuery {
    statuses: Option<HashSet<String>>,
    /// In GMT.
    modified_after: Option<DateTime<Utc>>,
    modified_before: Option<DateTime<Utc>>,
    descending: bool,
}

impl OrderQuery {
    fn parse(q: &HashMap<String, String>) -> Result<OrderQuery, &'static str> {
        let statuses: Option<HashSet<String>> = match q.get("status") {
            None => None,
            Some(s) => {
                let list: HashSet<String> = s.split(',').map(|x| x.trim().to_owned()).collect();
                if !list.iter().all(|x| ORDER_STATUSES.contains(&x.as_str())) {
                    return Err("status");
                }
                (!list.contains("any")).then_some(list)
            }
        };
        let gmt = match q.get("dates_are_gmt").map(String::as_str) {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(_) => return Err("dates_are_gmt"),
        };
        let date = |name: &'static str| -> Result<Option<DateTime<Utc>>, &'static str> {
            q.get(name)
                .map(|v| parse_wp_date(v, gmt).ok_or(name))
                .transpose()
        };
        // The documented `orderby` values of the orders list (_orders.md).
        match q.get("orderby").map(String::as_str) {
            None | Some("date" | "id" | "include" | "title" | "slug") => {}
            Some(_) => return Err("orderby"),
        }
        let descending = match q.get("order").map(String::as_str) {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err("order"),
        };
        Ok(OrderQuery {
            statuses,
            modified_after: date("modified_after")?,
            modified_before: date("modified_before")?,
            descending,
        })
    }

    fn matches(&self, o: &WooOrder, modified: DateTime<Utc>) -> bool {
        // `any` leaves out the trash, as WordPress' post status `any` does.
        let status = match &self.statuses {
            None => o.status != "trash",
            Some(s) => s.contains(&o.status),
        };
        status
            && self.modified_after.is_none_or(|t| modified > t)
            && self.modified_before.is_none_or(|t| modified < t)
    }
}

/// An ISO 8601 date as WordPress' `rest_parse_date` takes it: with a zone, or without one
/// in GMT (`dates_are_gmt=true`) or in the site's time zone.
fn parse_wp_date(text: &str, gmt: bool) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok()?;
    if gmt {
        Some(naive.and_utc())
    } else {
        naive
            .and_local_timezone(site_zone())
            .single()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64_encode("ck_test:cs_test"), "Y2tfdGVzdDpjc190ZXN0");
        assert_eq!(base64_encode("a"), "YQ==");
        assert_eq!(base64_encode("ab"), "YWI=");
        assert_eq!(base64_encode("abc"), "YWJj");
    }
}
