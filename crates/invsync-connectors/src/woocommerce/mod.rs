//! WooCommerce stores (`kind = "woocommerce"`): the REST API v3 at `{url}/wp-json/wc/v3`
//! (shared/docs/platform-apis.md §2, from woocommerce/woocommerce-rest-api-docs).
//!
//! * **Reads** page through `/products` (`per_page=100`; `X-WP-TotalPages` says how many
//!   pages) and `/products/{id}/variations` of every variable product. Records: a product is
//!   `"{id}"`, a variation `"{parent}/{id}"`, and a variation that uses its parent's stock
//!   `"{parent}/{id}/parent-stock"` (its quantity is the parent's, and so are its quantity
//!   writes). Simple products and variations are sold: with `manage_stock: false` they are
//!   `untracked` (the price syncs, the quantity does not apply). Variable parents, grouped
//!   and external products and unknown product types are `base` (ADR 0020).
//! * **Prices** are JSON strings on this API ("Any decimal monetary amount … will be
//!   returned as strings", _introduction.md): parsed into `Decimal`, written as strings.
//!   A record's price is `regular_price`; a sale the site reports running (`on_sale`) is the
//!   record's sale, at `sale_price` until `date_on_sale_to_gmt`. Price writes go to
//!   `regular_price`, or, for a listing on sale, end the sale (`sale_price` and its dates
//!   cleared) or write `sale_price`, as the store's `sale_price` policy planned.
//! * **Writes** go through `POST /products/batch` and `/products/{id}/variations/batch`,
//!   at most 100 items a call (413 past it), a product's price and quantity in one item;
//!   per-item errors inside the 200 become item failures. WooCommerce has no
//!   compare-and-set (last write wins), so each group of ≤100 items is re-read just before
//!   its batch is sent, and writes whose value changed since planning come back `Stale`
//!   (ADR 0021 describes the race that remains); a price is compared as shoppers pay it
//!   (the sale price while a sale runs).
//! * **Open orders**: `/orders?status=processing,on-hold`, their line items' SKUs. Tracked
//!   orders are read incrementally (ADR 0060): that list as a snapshot first, then every
//!   order (`status=any`) with `modified_after` the cursor, in GMT (`dates_are_gmt=true`);
//!   an order is open while `processing` or `on-hold`.
//! * **Throttling**: core WooCommerce does not rate-limit, but hosts and firewalls answer
//!   429 with `Retry-After`: every call to the site then waits that long (the site's
//!   [`Pause`], one per site and process, ADR 0026). 5xx and timeouts are retried with
//!   backoff (every request here is idempotent: reads and absolute sets), all through
//!   [`crate::http::Pipeline`].

/// WooCommerce's JSON shapes; public to the contract tests that decode captured payloads
/// (the `testing` feature).
#[cfg(any(test, feature = "testing"))]
pub mod vendor;
#[cfg(not(any(test, feature = "testing")))]
mod vendor;

use crate::budget::{self, Pause};
use crate::http::{self, Answer, Backoff, Call, Pipeline, Platform, Timeouts};
use crate::order_feed::OrderClock;
use crate::{
    Catalog, Connection, ConnectorError, ErrorKind, OrderFeed, RecordRef, Reject, Write,
    WriteOutcome, order_feed,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use futures::stream::{self, StreamExt, TryStreamExt};
use invsync_config::WooCommerceConfig;
use invsync_core::{Field, FieldValue, Record, SaleAction, StoreOrder, StoreOrderLine};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use vendor::{ProductTarget, RecordId, WooOrder, WooProduct, WooVariation};

/// WordPress' largest `per_page`.
const PAGE_SIZE: usize = 100;
/// `woocommerce_rest_batch_items_limit`'s default: create + update + delete per call.
const BATCH_LIMIT: usize = 100;
/// Writes per [`Connection::write`] call. The engine plans one write per field per product
/// (both fields of a product adjacent), and each call can only fill its last batch request
/// partly; 2,000 writes is 10 to 20 full requests, so the partial ones stay a few percent.
const WRITE_BATCH: usize = 2_000;
/// Requests in flight while reading. WordPress sites are often small; keep it modest.
const READ_CONCURRENCY: usize = 4;
use crate::http::MAX_PAGES;
/// Orders that hold stock: paid but not completed, or awaiting payment confirmation
/// (_orders.md).
const OPEN_STATUSES: [&str; 2] = ["processing", "on-hold"];

const AUTH_HINT: &str = "Check consumer_key and consumer_secret of this store: create a key \
     with Read/Write permission in WooCommerce > Settings > Advanced > REST API. If the key is \
     right, the web server may be stripping the Authorization header (see WooCommerce's REST \
     API authentication docs)";

/// A WooCommerce store.
pub struct WooCommerceConnection {
    name: String,
    /// `{url}/wp-json/wc/v3/`, with the trailing slash.
    api: url::Url,
    pipeline: Pipeline,
    site: Site,
    /// invsync's clock for settling order cursors (ADR 0060); tests set their own.
    order_clock: OrderClock,
}

/// WooCommerce's part in the pipeline: Basic auth with the REST API key, the site's
/// pause after a 429, and WordPress' error bodies.
struct Site {
    name: String,
    key: SecretString,
    secret: SecretString,
    pause: Arc<Pause>,
}

impl Platform for Site {
    type Permit<'p> = ();

    fn sign(
        &self,
        request: reqwest::RequestBuilder,
        _: Option<&SecretString>,
    ) -> reqwest::RequestBuilder {
        request.basic_auth(self.key.expose_secret(), Some(self.secret.expose_secret()))
    }

    async fn admit(&self, _call: &Call<'_>) {
        self.pause.admit().await;
    }

    fn throttle_wait(&self, _call: &Call<'_>, answer: &Answer, backoff: Duration) -> Duration {
        // Every call to the site waits, not only this one: the host asked the site's
        // clients to slow down.
        self.pause
            .pause(http::retry_after(&answer.headers).unwrap_or(backoff));
        Duration::ZERO
    }

    fn status_error(&self, _call: &Call<'_>, answer: &Answer) -> ConnectorError {
        // {"code": "...", "message": "...", "data": {"status": 401}}
        let detail = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .map(|v| {
                format!(
                    "{}: {}",
                    v.get("code").and_then(Value::as_str).unwrap_or(""),
                    v.get("message").and_then(Value::as_str).unwrap_or("")
                )
            })
            .unwrap_or_default();
        let status = answer.status;
        let hint = if status.as_u16() == 413 {
            "The site accepts fewer batch items than WooCommerce's default of 100 \
             (filter woocommerce_rest_batch_items_limit)"
        } else {
            AUTH_HINT
        };
        let mut e = http::status_error(&self.name, status, &detail, hint);
        if status.as_u16() == 413 {
            e.message = format!("{}. {hint}", e.message);
        }
        e
    }
}

impl WooCommerceConnection {
    /// The same connection measuring order-cursor ages on `clock` instead of the system
    /// clock (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_order_clock(mut self, clock: OrderClock) -> Self {
        self.order_clock = clock;
        self
    }

    pub fn new(name: &str, config: &WooCommerceConfig) -> Result<Self, ConnectorError> {
        let (timeouts, backoff) = http::policy(&config.http);
        Self::open(name, config, timeouts, backoff)
    }

    /// With explicit timeouts and backoff (tests use short ones).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_policy(
        name: &str,
        config: &WooCommerceConfig,
        timeouts: Timeouts,
        backoff: Backoff,
    ) -> Result<Self, ConnectorError> {
        Self::open(name, config, timeouts, backoff)
    }

    fn open(
        name: &str,
        config: &WooCommerceConfig,
        timeouts: Timeouts,
        backoff: Backoff,
    ) -> Result<Self, ConnectorError> {
        let mut site = config.url.clone();
        if !site.path().ends_with('/') {
            let path = format!("{}/", site.path());
            site.set_path(&path);
        }
        let api = site.join("wp-json/wc/v3/").map_err(|e| {
            ConnectorError::new(name, ErrorKind::Other, format!("bad site url: {e}"))
        })?;
        Ok(WooCommerceConnection {
            name: name.to_owned(),
            site: Site {
                name: name.to_owned(),
                key: config.consumer_key.clone(),
                secret: config.consumer_secret.clone(),
                pause: budget::shared("woocommerce", site.as_str(), Pause::default),
            },
            api,
            pipeline: Pipeline::new(name, timeouts, backoff)?,
            order_clock: order_feed::system_clock(),
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, ConnectorError> {
        self.api.join(path).map_err(|e| {
            ConnectorError::new(&self.name, ErrorKind::Other, format!("bad API path: {e}"))
        })
    }

    /// Sends one request through the pipeline (all of ours are idempotent) and returns
    /// the body and the total pages header, or the platform's error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(Value, Option<usize>), ConnectorError> {
        let url = self.url(path)?;
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ConnectorError::new(&self.name, ErrorKind::Other, e))?;
        let mut call = Call::new(method, url, path).query(query);
        if let Some(bytes) = &bytes {
            call = call.json(bytes);
        }
        let answer = self.pipeline.send(&self.site, &call).await?;
        let pages = answer
            .headers
            .get("x-wp-totalpages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let value = serde_json::from_slice(&answer.body).map_err(|e| {
            ConnectorError::new(
                &self.name,
                ErrorKind::InvalidData,
                format!("{path}: the response is not the JSON WooCommerce sends ({e}); is `url` the WordPress site?"),
            )
        })?;
        Ok((value, pages))
    }

    /// Every item of a paged list: page 1 first (it says how many pages there are), then
    /// the others concurrently, in page order.
    async fn list_all(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, ConnectorError> {
        let page = |n: usize| {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("per_page", PAGE_SIZE.to_string()));
            q.push(("page", n.to_string()));
            async move {
                let (body, pages) = self.call(Method::GET, path, &q, None).await?;
                match body {
                    Value::Array(items) => Ok((items, pages)),
                    _ => Err(ConnectorError::new(
                        &self.name,
                        ErrorKind::InvalidData,
                        format!("{path}: expected a JSON array"),
                    )),
                }
            }
        };
        let (items, pages) = page(1).await?;
        let pages = pages.unwrap_or(1);
        if pages > MAX_PAGES {
            return Err(ConnectorError::new(
                &self.name,
                ErrorKind::InvalidData,
                format!(
                    "{path}: the site reports {pages} pages (X-WP-TotalPages) of {PAGE_SIZE}; more than {MAX_PAGES} is not a real list, so nothing was read"
                ),
            ));
        }
        Pipeline::later_pages(items, pages, READ_CONCURRENCY, |n| {
            let fetch = page(n);
            async move { fetch.await.map(|(items, _)| items) }
        })
        .await
    }

    /// Orders still holding stock. Newest first: orders leave this list while it pages (an
    /// order completed between two pages shifts the later ones forward), and those that
    /// leave are mostly old ones, behind the pages still to read; a new order arriving in
    /// front only shows one order twice.
    async fn open_orders(&self) -> Result<Vec<Value>, ConnectorError> {
        self.list_all(
            "orders",
            &[
                ("status", OPEN_STATUSES.join(",")),
                ("orderby", "id".to_owned()),
                ("order", "desc".to_owned()),
            ],
        )
        .await
    }

    /// Orders as the engine tracks them (one view each).
    fn store_orders(raw: Vec<Value>) -> Vec<StoreOrder> {
        raw.into_iter()
            .filter_map(|order| {
                // Anything but an object reads as an order without an id: left out.
                let order: WooOrder = crate::lenient::decode(order);
                let id = order.id.0?;
                let open = order
                    .status
                    .0
                    .as_deref()
                    .is_some_and(|s| OPEN_STATUSES.contains(&s));
                Some(StoreOrder {
                    id: id.to_string().into(),
                    // What the merchant and the accounting side call it (DocNumber).
                    number: order.number().into(),
                    open,
                    updated_at: order.date_modified_gmt.0.as_deref().and_then(parse_gmt),
                    // WooCommerce has no per-line shipped quantity: an open order holds
                    // all of its lines, a closed one nothing.
                    lines: if open {
                        order_lines(&order)
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect()
    }

    /// Products by id (≤ 100 per request), parsed; unparseable ones are left out.
    async fn products_by_id(
        &self,
        ids: &[u64],
    ) -> Result<HashMap<u64, WooProduct>, ConnectorError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(PAGE_SIZE) {
            let include = join_ids(chunk);
            let items = self.list_all("products", &[("include", include)]).await?;
            for item in items {
                if let Ok(p) = serde_json::from_value::<WooProduct>(item) {
                    out.insert(p.id, p);
                }
            }
        }
        Ok(out)
    }

    /// Variations of one parent by id (≤ 100 per request), or all of them.
    async fn variations(
        &self,
        parent: u64,
        ids: Option<&[u64]>,
    ) -> Result<Vec<Result<WooVariation, (Value, String)>>, ConnectorError> {
        let path = format!("products/{parent}/variations");
        let items = match ids {
            None => self.list_all(&path, &[]).await?,
            Some(ids) => {
                let mut items = Vec::new();
                for chunk in ids.chunks(PAGE_SIZE) {
                    items.extend(
                        self.list_all(&path, &[("include", join_ids(chunk))])
                            .await?,
                    );
                }
                items
            }
        };
        Ok(items
            .into_iter()
            .map(|item| {
                serde_json::from_value::<WooVariation>(item.clone())
                    .map_err(|e| (item, e.to_string()))
            })
            .collect())
    }

    /// Records for the given ids, read fresh.
    async fn fresh_records(
        &self,
        ids: &[RecordId],
    ) -> Result<HashMap<RecordId, Record>, ConnectorError> {
        let mut product_ids: Vec<u64> = Vec::new();
        let mut by_parent: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for id in ids {
            match *id {
                RecordId::Product(p) => product_ids.push(p),
                RecordId::Variation {
                    parent,
                    id,
                    parent_stock,
                } => {
                    by_parent.entry(parent).or_default().push(id);
                    if parent_stock {
                        product_ids.push(parent);
                    }
                }
            }
        }
        product_ids.sort_unstable();
        product_ids.dedup();
        let products = self.products_by_id(&product_ids).await?;
        let mut out = HashMap::new();
        let now = Utc::now();
        for id in ids {
            if let RecordId::Product(p) = *id
                && let Some(product) = products.get(&p)
                && let Ok(record) = product.record(now)
            {
                out.insert(*id, record);
            }
        }
        for (parent, vids) in by_parent {
            let parent_stock = products.get(&parent).and_then(|p| p.stock_quantity);
            for v in self
                .variations(parent, Some(&vids))
                .await?
                .into_iter()
                .flatten()
            {
                if let Ok(record) = v.record(parent, parent_stock, "", now) {
                    let id: RecordId = record.id.parse().unwrap_or(RecordId::Product(0));
                    out.insert(id, record);
                }
            }
        }
        Ok(out)
    }
}

/// Units per SKU of an order's line items. A line without a SKU cannot hold back a product
/// matched by SKU.
fn order_lines(order: &WooOrder) -> Vec<StoreOrderLine> {
    order
        .line_items
        .0
        .iter()
        .filter_map(|line| {
            let sku = line.sku.0.as_deref().unwrap_or("").trim();
            let quantity = line.quantity.0.unwrap_or(0);
            (!sku.is_empty() && quantity > 0).then(|| StoreOrderLine {
                sku: CompactString::from(sku),
                quantity,
            })
        })
        .collect()
}

/// `date_modified_gmt`: `2026-11-28T10:00:00` (GMT, no zone); a zone is taken if present.
fn parse_gmt(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn reject(item: &Value, error: String) -> Reject {
    Reject {
        sku: item.get("sku").and_then(Value::as_str).map(str::to_owned),
        id: item.get("id").map(Value::to_string),
        error,
    }
}

/// The fields of a batch item that write a price (`_products.md`, "Update a product"):
/// the regular price; or, for a listing on sale, the regular price with the sale ended
/// (`sale_price` and both sale dates set to "": the controller sets what is present, and
/// an empty date clears it, where `null` would be skipped); or the sale price alone.
fn price_fields(
    item: &mut serde_json::Map<String, Value>,
    price: rust_decimal::Decimal,
    sale: Option<SaleAction>,
) {
    let price = json!(vendor::price_string(price));
    match sale {
        None => {
            item.insert("regular_price".into(), price);
        }
        Some(SaleAction::End) => {
            item.insert("regular_price".into(), price);
            for field in ["sale_price", "date_on_sale_from", "date_on_sale_to"] {
                item.insert(field.into(), json!(""));
            }
        }
        Some(SaleAction::Set) => {
            item.insert("sale_price".into(), price);
        }
    }
}

/// One batch request's worth of work: the endpoint, and per item the writes it carries.
struct Group {
    /// `None`: `/products/batch`; `Some(parent)`: its variations.
    parent: Option<u64>,
    /// Target id → indexes into the writes.
    items: BTreeMap<u64, Vec<usize>>,
}

#[async_trait]
impl Connection for WooCommerceConnection {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let items = self.list_all("products", &[]).await?;
        let now = Utc::now();
        let mut catalog = Catalog::default();
        let mut variable: Vec<(usize, WooProduct)> = Vec::new();
        for item in items {
            let product = match serde_json::from_value::<WooProduct>(item.clone()) {
                Ok(p) => p,
                Err(e) => {
                    catalog
                        .rejects
                        .push(reject(&item, format!("unreadable product: {e}")));
                    continue;
                }
            };
            match product.record(now) {
                Ok(record) => catalog.records.push(record),
                Err(e) => {
                    catalog.rejects.push(reject(&item, e));
                    continue;
                }
            }
            if product.is_variable() {
                variable.push((catalog.records.len(), product));
            }
        }
        // Variations follow their parent in the catalog.
        let fetched: Vec<(
            usize,
            u64,
            Option<i64>,
            String,
            Vec<Result<WooVariation, (Value, String)>>,
        )> = stream::iter(variable)
            .map(|(at, p)| async move {
                let vs = self.variations(p.id, None).await?;
                Ok::<_, ConnectorError>((at, p.id, p.stock_quantity, p.name.clone(), vs))
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        let mut records = Vec::with_capacity(catalog.records.len());
        let mut parents = fetched.into_iter().peekable();
        for (i, record) in std::mem::take(&mut catalog.records).into_iter().enumerate() {
            records.push(record);
            while let Some((at, ..)) = parents.peek()
                && *at == i + 1
            {
                let Some((_, parent, parent_stock, name, vs)) = parents.next() else {
                    break;
                };
                for v in vs {
                    match v
                        .map_err(|(item, e)| (item, format!("unreadable variation: {e}")))
                        .and_then(|v| {
                            v.record(parent, parent_stock, &name, now)
                                .map_err(|e| (json!({"id": v.id, "sku": v.sku}), e))
                        }) {
                        Ok(r) => records.push(r),
                        Err((item, e)) => catalog.rejects.push(reject(&item, e)),
                    }
                }
            }
        }
        catalog.records = records;
        Ok(catalog)
    }

    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        let mark = order_feed::resume(&self.name, cursor);
        let raw = match mark {
            None => self.open_orders().await?,
            Some(mark) => {
                // Every status (`any`), modified after the overlap before the mark, in GMT
                // (`date_modified_gmt`; without `dates_are_gmt` WordPress reads the date in
                // the site's time zone). Sorted by id: a modification never moves an order
                // out of this list or within it, so the offset pages cannot skip one; an
                // order modified meanwhile joins it and at worst shows twice.
                let since = mark.since().format("%Y-%m-%dT%H:%M:%S").to_string();
                self.list_all(
                    "orders",
                    &[
                        ("status", "any".to_owned()),
                        ("modified_after", since),
                        ("dates_are_gmt", "true".to_owned()),
                        ("orderby", "id".to_owned()),
                        ("order", "asc".to_owned()),
                    ],
                )
                .await?
            }
        };
        let orders = Self::store_orders(raw);
        Ok(Some(order_feed::feed(
            orders,
            mark,
            mark.is_none(),
            (self.order_clock)(),
        )))
    }

    fn write_batch_size(&self) -> usize {
        WRITE_BATCH
    }

    async fn read_records(
        &self,
        records: &[RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        let ids: Vec<RecordId> = records.iter().filter_map(|r| r.id.parse().ok()).collect();
        let fresh = self.fresh_records(&ids).await?;
        Ok(Some(
            ids.iter().filter_map(|id| fresh.get(id).cloned()).collect(),
        ))
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; writes.len()];
        // Group by endpoint and target item.
        let mut groups: BTreeMap<Option<u64>, Group> = BTreeMap::new();
        for (i, w) in writes.iter().enumerate() {
            let id: RecordId = match w.id.parse() {
                Ok(id) => id,
                Err(e) => {
                    outcomes[i] = Some(WriteOutcome::Failed(e));
                    continue;
                }
            };
            let (parent, target) = match id.target(w.field) {
                ProductTarget::Product(p) => (None, p),
                ProductTarget::Variation { parent, id } => (Some(parent), id),
            };
            groups
                .entry(parent)
                .or_insert_with(|| Group {
                    parent,
                    items: BTreeMap::new(),
                })
                .items
                .entry(target)
                .or_default()
                .push(i);
        }
        let mut error = None;
        'groups: for group in groups.values() {
            let targets: Vec<(&u64, &Vec<usize>)> = group.items.iter().collect();
            for chunk in targets.chunks(BATCH_LIMIT) {
                if let Err(e) = self
                    .write_chunk(group.parent, chunk, writes, &mut outcomes)
                    .await
                {
                    error = Some(e);
                    break 'groups;
                }
            }
        }
        crate::batch_outcomes(outcomes, error)
    }
}

impl WooCommerceConnection {
    /// Re-reads ≤ 100 items of one endpoint, drops what changed since planning, and sends
    /// the rest as one batch request.
    async fn write_chunk(
        &self,
        parent: Option<u64>,
        chunk: &[(&u64, &Vec<usize>)],
        writes: &[Write],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        let ids: Vec<u64> = chunk.iter().map(|(id, _)| **id).collect();
        // Current values per target: (the price shoppers pay, the quantity managed here).
        // A price is compared as planned: at the sale price while a sale runs.
        let now = Utc::now();
        let mut current: HashMap<u64, (Option<rust_decimal::Decimal>, Option<i64>)> =
            HashMap::new();
        match parent {
            None => {
                for (id, p) in self.products_by_id(&ids).await? {
                    current.insert(
                        id,
                        (p.prices().charged(now).ok().flatten(), p.managed_quantity()),
                    );
                }
            }
            Some(parent) => {
                for v in self
                    .variations(parent, Some(&ids))
                    .await?
                    .into_iter()
                    .flatten()
                {
                    current.insert(
                        v.id,
                        (v.prices().charged(now).ok().flatten(), v.own_quantity()),
                    );
                }
            }
        }
        let mut body = Vec::new();
        let mut sent: Vec<Vec<usize>> = Vec::new();
        for (target, indexes) in chunk {
            let Some((price, quantity)) = current.get(target) else {
                for &i in indexes.iter() {
                    outcomes[i] = Some(WriteOutcome::Failed(
                        "no longer in WooCommerce (deleted since it was read?)".into(),
                    ));
                }
                continue;
            };
            let mut item = serde_json::Map::new();
            item.insert("id".into(), json!(target));
            let mut carried = Vec::new();
            let mut seen: HashMap<Field, FieldValue> = HashMap::new();
            for &i in indexes.iter() {
                let w = &writes[i];
                let now = match w.field {
                    Field::Price => price.map(FieldValue::Price),
                    Field::Quantity => quantity.map(FieldValue::Quantity),
                };
                if now != Some(w.old) {
                    let now = now.map_or_else(|| "not tracked".to_owned(), |v| v.to_string());
                    outcomes[i] = Some(WriteOutcome::Stale(format!(
                        "{} changed in WooCommerce since it was read ({} → {now}); not overwritten, it is planned again",
                        w.field, w.old
                    )));
                    continue;
                }
                // Two variations sharing their parent's stock, told different quantities.
                if let Some(other) = seen.get(&w.field)
                    && *other != w.new
                {
                    outcomes[i] = Some(WriteOutcome::Failed(format!(
                        "shares its {} with another listing of this batch that gets {other}; fix the mapping so one accounting item owns the shared stock",
                        w.field
                    )));
                    continue;
                }
                seen.insert(w.field, w.new);
                match w.new {
                    FieldValue::Price(p) => price_fields(&mut item, p, w.sale),
                    FieldValue::Quantity(q) => {
                        item.insert("stock_quantity".into(), json!(q));
                    }
                }
                carried.push(i);
            }
            if !carried.is_empty() {
                body.push(Value::Object(item));
                sent.push(carried);
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        let path = match parent {
            None => "products/batch".to_owned(),
            Some(p) => format!("products/{p}/variations/batch"),
        };
        let (response, _) = self
            .call(Method::POST, &path, &[], Some(&json!({ "update": body })))
            .await?;
        let results = response
            .get("update")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Items come back in request order (class-wc-rest-controller.php batch_items).
        for (k, carried) in sent.iter().enumerate() {
            let outcome = match results.get(k) {
                Some(r) => match r.get("error") {
                    Some(e) => WriteOutcome::Failed(format!(
                        "WooCommerce refused it: {} ({})",
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("no message"),
                        e.get("code").and_then(Value::as_str).unwrap_or("no code"),
                    )),
                    None => WriteOutcome::Applied,
                },
                None => WriteOutcome::Failed(
                    "WooCommerce's batch response has no result for this item".into(),
                ),
            };
            for &i in carried {
                outcomes[i] = Some(outcome.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn dec(s: &str) -> rust_decimal::Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn prices_must_be_strings() {
        let number: vendor::WooProduct = serde_json::from_value(json!({
            "id": 1, "type": "simple", "sku": "A", "regular_price": 12.5, "manage_stock": true, "stock_quantity": 1
        }))
        .expect("parses");
        let e = number
            .record(chrono::Utc::now())
            .expect_err("a number is not this API's price");
        assert!(e.contains("not a string"), "{e}");
        assert_eq!(vendor::price_string(dec("12.50")), "12.5");
        assert_eq!(vendor::price_string(dec("1000")), "1000");
    }

    /// A `_gmt` date in the fake's payloads reads back as the instant it was set to.
    #[test]
    fn sale_dates_are_gmt() {
        let t = Utc.with_ymd_and_hms(2026, 12, 24, 23, 59, 59).single();
        assert_eq!(parse_gmt("2026-12-24T23:59:59"), t);
    }
}
