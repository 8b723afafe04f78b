//! BigCommerce stores (`kind = "bigcommerce"`): the v3 Catalog and Inventory APIs and the v2
//! Orders API at `{base_url}` (default `https://api.bigcommerce.com/stores/{store_hash}`),
//! per shared/docs/platform-apis.md §4 and BigCommerce's OpenAPI files.
//!
//! * **Reads**: `GET /v3/catalog/products?include=variants&limit=250`, page by page
//!   (`meta.pagination.total_pages`). One record per sellable variant: a product without
//!   options is its base variant; a product with options is a `base` parent record plus its
//!   variants. Ids are `"{product}/{variant}/v"` (stock tracked per variant) or
//!   `"{product}/{variant}/p"` (tracked on the product: every variant shows, and writes, the
//!   product's stock). Under `inventory_tracking: "none"` the variants are sold without
//!   stock: `untracked`, their prices synced (ADR 0022). Prices are JSON numbers, taken
//!   into `Decimal` through their shortest text form (no float arithmetic). A sale price
//!   above 0 (the variant's, or the product's where the variant's is `null`) is a running
//!   sale: the storefront charges it instead of the price (`calculated_price`), whatever
//!   its size.
//!   For a location other than 1 the catalog's stock (the default location's) is replaced
//!   by `GET /v3/inventory/locations/{id}/items`.
//! * **Price writes**: `PUT /v3/catalog/variants`, at most 50 variants a call: `price`; or,
//!   for a listing on sale, `price` with `sale_price: 0` (the sale ended) or `sale_price`
//!   alone, as the store's `sale_price` policy planned.
//! * **Quantity writes**: `PUT /v3/inventory/adjustments/absolute`, at most 2,000 items a
//!   call, at the configured location — never through the catalog (its inventory fields are
//!   a legacy path onto the same Inventory API). Adjustments apply asynchronously, so the
//!   written quantities are read back from `/v3/inventory/locations/{id}/items` until they
//!   show (or a deadline passes: the item fails) before a write counts as applied.
//! * **Open orders**: v2 orders in status 11 (Awaiting Fulfillment), 9 (Awaiting Shipment)
//!   and 3 (Partially Shipped), and their products' unshipped units. Tracked orders are
//!   read incrementally (ADR 0060): those lists as a snapshot first, then every order with
//!   `min_date_modified` at the cursor (any status; products only for the open ones).
//! * **Rate limit**: every response tells the requests left in the window and when it
//!   resets; the connection stops sending when none are left and waits for the reset, also
//!   on a 429 (ADR 0023). 5xx and timeouts are retried with backoff.

mod pace;

#[cfg(test)]
mod tests;

use crate::http::{self, Backoff, Timeouts};
use crate::order_feed::OrderClock;
use crate::{
    Catalog, Connection, ConnectorError, ErrorKind, OrderFeed, RecordRef, Reject, Write,
    WriteOutcome, order_feed,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use compact_str::CompactString;
use futures::stream::{self, StreamExt, TryStreamExt};
use invsync_config::BigCommerceConfig;
use invsync_core::{
    Field, FieldValue, ItemKind, OrderLine, Record, Sale, SaleAction, StoreOrder, StoreOrderLine,
};
use pace::Pacer;
use reqwest::Method;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// `limit` maximum of the catalog (products_catalog.v3.yml LimitParam).
const PRODUCT_PAGE: usize = 250;
/// "Currently the limit is 50 variants" (product-variants_catalog.v3.yml).
const VARIANT_BATCH: usize = 50;
/// "Limit of 2000 items for payload length" (inventory.v3.yml).
const ADJUSTMENT_BATCH: usize = 2_000;
/// "Limit of 1000 items for payload length" of the inventory item reads.
const INVENTORY_PAGE: usize = 1_000;
/// The v2 orders API's largest `limit`.
const ORDERS_PAGE: usize = 250;
/// Writes per `write()` call: 2,000 quantity writes fill one adjustment, and price writes
/// fill whole 50-variant calls, so grouping inside a call costs at most one partly filled
/// request of each kind per 2,000 writes.
const WRITE_BATCH: usize = 2_000;
/// Requests in flight while reading; the pacer keeps them within the quota.
const READ_CONCURRENCY: usize = 4;
use crate::http::MAX_PAGES;
/// Order statuses that still hold stock: Awaiting Fulfillment, Awaiting Shipment,
/// Partially Shipped (orders.v2.oas2.yml status list).
const OPEN_STATUSES: [u32; 3] = [11, 9, 3];

const AUTH_HINT: &str = "Check access_token and store_hash of this store: the API account \
     needs Products (modify), Orders (read-only) and Store Inventory (modify) scopes; create a \
     new store-level API account in Settings > API > Store-level API accounts if it was deleted";

/// How long written quantities may take to show before they count as failed.
#[derive(Debug, Clone, Copy)]
pub struct ConfirmPolicy {
    pub first_wait: Duration,
    pub deadline: Duration,
}

impl Default for ConfirmPolicy {
    fn default() -> Self {
        ConfirmPolicy {
            first_wait: Duration::from_millis(250),
            deadline: Duration::from_secs(60),
        }
    }
}

pub struct BigCommerceConnection {
    name: String,
    /// `{base_url}/` with the trailing slash.
    base: url::Url,
    token: SecretString,
    location: u64,
    client: reqwest::Client,
    backoff: Backoff,
    confirm: ConfirmPolicy,
    pacer: Pacer,
    /// invsync's clock for settling order cursors (ADR 0060); tests set their own.
    order_clock: OrderClock,
}

#[derive(Debug, Clone, Deserialize)]
struct BcProduct {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    price: Option<serde_json::Number>,
    /// 0 (or absent) for none.
    #[serde(default)]
    sale_price: Option<serde_json::Number>,
    #[serde(default)]
    inventory_tracking: String,
    #[serde(default)]
    inventory_level: Option<i64>,
    #[serde(default)]
    variants: Vec<BcVariant>,
}

#[derive(Debug, Clone, Deserialize)]
struct BcVariant {
    id: u64,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    price: Option<serde_json::Number>,
    /// `null`: the product's sale price applies.
    #[serde(default)]
    sale_price: Option<serde_json::Number>,
    #[serde(default)]
    inventory_level: Option<i64>,
    #[serde(default)]
    option_values: Vec<Value>,
}

/// What a record id says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RecordId {
    product: u64,
    variant: u64,
    /// Stock tracked on the product rather than the variant.
    by_product: bool,
}

impl RecordId {
    fn parse(s: &str) -> Result<RecordId, String> {
        let bad = || format!("`{s}` is not a BigCommerce record id");
        let mut parts = s.split('/');
        let product = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let variant = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let by_product = match parts.next() {
            Some("p") => true,
            Some("v") => false,
            _ => return Err(bad()),
        };
        Ok(RecordId {
            product,
            variant,
            by_product,
        })
    }

    fn text(self) -> String {
        format!(
            "{}/{}/{}",
            self.product,
            self.variant,
            if self.by_product { "p" } else { "v" }
        )
    }

    /// The inventory item this record's stock is.
    fn item(self) -> InventoryItem {
        if self.by_product {
            InventoryItem::Product(self.product)
        } else {
            InventoryItem::Variant(self.variant)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum InventoryItem {
    Product(u64),
    Variant(u64),
}

/// A price as BigCommerce sends it (a JSON number) as a `Decimal`, through the number's
/// shortest round-trip text: `19.99` stays `19.99`.
fn decimal(n: &serde_json::Number) -> Result<Decimal, String> {
    let text = n.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("price {text} is not a usable amount"))
}

fn price_of(
    variant: Option<&serde_json::Number>,
    product: Option<&serde_json::Number>,
) -> Result<Option<Decimal>, String> {
    variant.or(product).map(decimal).transpose()
}

/// The sale a variant is on: its `sale_price`, or the product's where the variant's is
/// `null` ("If … this value is null, the product's sale price … will be used as the sale
/// price", product-variants_catalog.v3.yml). A product's sale price "will be used instead of
/// value in the price field when calculating the product's cost", and `calculated_price` "is
/// equal to the sale price if set" (products_catalog.v3.yml): so any sale price above 0 is
/// what shoppers pay, even one equal to or above the price (the live payload of issue 12
/// has `price` 3.35, `sale_price` 3.35: writing `price` alone left the storefront at 3.35).
/// BigCommerce keeps no sale dates on catalog prices.
fn sale_of(
    variant: Option<&serde_json::Number>,
    product: Option<&serde_json::Number>,
) -> Result<Option<Sale>, String> {
    let Some(price) = variant.or(product).map(decimal).transpose()? else {
        return Ok(None);
    };
    Ok((price > Decimal::ZERO).then_some(Sale { price, until: None }))
}

/// The records of one product (see the module docs).
fn product_records(p: &BcProduct) -> Result<Vec<Record>, String> {
    let untracked = p.inventory_tracking == "none" || p.inventory_tracking.is_empty();
    let by_product = p.inventory_tracking == "product";
    if !untracked && !by_product && p.inventory_tracking != "variant" {
        return Err(format!(
            "unknown inventory_tracking `{}`",
            p.inventory_tracking
        ));
    }
    let has_options = p.variants.iter().any(|v| !v.option_values.is_empty());
    let mut out = Vec::new();
    if has_options {
        out.push(Record {
            id: p.id.to_string().into(),
            sku: p.sku.trim().into(),
            name: p.name.as_str().into(),
            kind: ItemKind::Base,
            price: price_of(None, p.price.as_ref())?,
            quantity: None,
            sale: None,
        });
    }
    for v in &p.variants {
        if has_options && v.option_values.is_empty() {
            continue;
        }
        let quantity = if untracked {
            None
        } else if by_product {
            Some(
                p.inventory_level
                    .ok_or("inventory is tracked by product but inventory_level is missing")?,
            )
        } else {
            Some(
                v.inventory_level
                    .ok_or("inventory is tracked by variant but inventory_level is missing")?,
            )
        };
        let sku = if v.sku.trim().is_empty() && !has_options {
            p.sku.trim()
        } else {
            v.sku.trim()
        };
        out.push(Record {
            id: RecordId {
                product: p.id,
                variant: v.id,
                by_product,
            }
            .text()
            .into(),
            sku: sku.into(),
            name: if has_options {
                format!("{} ({sku})", p.name).into()
            } else {
                p.name.as_str().into()
            },
            // Every variant is sold; without tracking only its price syncs.
            kind: if untracked {
                ItemKind::Untracked
            } else {
                ItemKind::Inventory
            },
            price: price_of(v.price.as_ref(), p.price.as_ref())?,
            quantity,
            sale: sale_of(v.sale_price.as_ref(), p.sale_price.as_ref())?,
        });
    }
    Ok(out)
}

impl BigCommerceConnection {
    /// The same connection measuring order-cursor ages on `clock` instead of the system
    /// clock (tests).
    pub fn with_order_clock(mut self, clock: OrderClock) -> Self {
        self.order_clock = clock;
        self
    }

    pub fn new(name: &str, config: &BigCommerceConfig) -> Result<Self, ConnectorError> {
        let (timeouts, backoff) = http::policy(&config.http);
        Self::with_policy(name, config, timeouts, backoff, ConfirmPolicy::default())
    }

    pub fn with_policy(
        name: &str,
        config: &BigCommerceConfig,
        timeouts: Timeouts,
        backoff: Backoff,
        confirm: ConfirmPolicy,
    ) -> Result<Self, ConnectorError> {
        let mut base = config.base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(BigCommerceConnection {
            name: name.to_owned(),
            base,
            token: config.access_token.clone(),
            location: config.location_id,
            client: http::client(name, timeouts)?,
            backoff,
            confirm,
            pacer: Pacer::default(),
            order_clock: order_feed::system_clock(),
        })
    }

    /// One request, paced by the rate-limit headers; 429s wait for the window, 5xx and
    /// timeouts are retried with backoff (every request here is idempotent: reads, absolute
    /// prices, absolute quantities). `Ok(None)` is a 204.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Option<Value>, ConnectorError> {
        let url = self.base.join(path).map_err(|e| {
            ConnectorError::new(&self.name, ErrorKind::Other, format!("bad API path: {e}"))
        })?;
        let single = Backoff {
            attempts: 1,
            ..self.backoff
        };
        let mut attempt = 0;
        loop {
            self.pacer.acquire().await;
            let sent = http::send(&self.name, single, true, || {
                let mut r = self
                    .client
                    .request(method.clone(), url.clone())
                    .header("X-Auth-Token", self.token.expose_secret())
                    .header("Accept", "application/json")
                    .query(query);
                if let Some(body) = body {
                    r = r
                        .header("Content-Type", "application/json")
                        .body(body.to_vec());
                }
                r
            })
            .await;
            attempt += 1;
            let last = attempt >= self.backoff.attempts;
            let response = match sent {
                Ok(r) => r,
                Err(e) if e.retryable && !last => {
                    tokio::time::sleep(self.backoff.delay(attempt)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = response.status();
            let limited = self
                .pacer
                .observe(response.headers(), status.as_u16() == 429);
            if status.as_u16() == 429 && !last {
                if !limited {
                    // No rate headers: the platform is under load (api-rate-limits.mdx).
                    tokio::time::sleep(self.backoff.delay(attempt)).await;
                }
                continue;
            }
            if status.is_server_error() && !last {
                tokio::time::sleep(self.backoff.delay(attempt)).await;
                continue;
            }
            let text = response
                .text()
                .await
                .map_err(|e| http::transport_error(&self.name, e))?;
            if status.as_u16() == 204 {
                return Ok(None);
            }
            if !status.is_success() {
                let mut e = http::status_error(&self.name, status, &error_detail(&text), AUTH_HINT);
                if status.as_u16() == 413 {
                    e.message = format!(
                        "{}; BigCommerce accepted fewer items than it documents",
                        e.message
                    );
                }
                return Err(e);
            }
            return serde_json::from_str(&text).map(Some).map_err(|e| {
                ConnectorError::new(
                    &self.name,
                    ErrorKind::InvalidData,
                    format!(
                        "{path}: the response is not BigCommerce's JSON ({e}); is base_url right?"
                    ),
                )
            });
        }
    }

    /// Every item of a v3 list, page 1 first, the rest concurrently. The page count is
    /// the platform's word; one that no store could have ([`MAX_PAGES`]) is an error
    /// rather than an endless read.
    async fn v3_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        limit: usize,
    ) -> Result<Vec<Value>, ConnectorError> {
        let page = |n: usize| {
            let mut q = query.to_vec();
            q.push(("limit", limit.to_string()));
            q.push(("page", n.to_string()));
            async move {
                let body = self
                    .call(Method::GET, path, &q, None)
                    .await?
                    .unwrap_or(Value::Null);
                let pages = body
                    .pointer("/meta/pagination/total_pages")
                    .and_then(Value::as_u64)
                    .unwrap_or(1) as usize;
                match body.get("data") {
                    Some(Value::Array(items)) => Ok((items.clone(), pages)),
                    _ => Err(ConnectorError::new(
                        &self.name,
                        ErrorKind::InvalidData,
                        format!("{path}: no `data` array"),
                    )),
                }
            }
        };
        let (mut items, pages) = page(1).await?;
        if pages > MAX_PAGES {
            return Err(ConnectorError::new(
                &self.name,
                ErrorKind::InvalidData,
                format!(
                    "{path}: BigCommerce reports {pages} pages of {limit}; more than {MAX_PAGES} is not a real catalog, so nothing was read"
                ),
            ));
        }
        let rest: Vec<Vec<Value>> = stream::iter(2..=pages.max(1))
            .map(|n| {
                let fetch = page(n);
                async move { fetch.await.map(|(items, _)| items) }
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        items.extend(rest.into_iter().flatten());
        Ok(items)
    }

    /// Every item of a v2 list: pages until a short one (v2 has no totals; 204 is empty).
    async fn v2_all(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        for page in 1.. {
            let mut q = query.to_vec();
            q.push(("limit", ORDERS_PAGE.to_string()));
            q.push(("page", page.to_string()));
            let items = match self.call(Method::GET, path, &q, None).await? {
                None => Vec::new(),
                Some(Value::Array(items)) => items,
                Some(_) => {
                    return Err(ConnectorError::new(
                        &self.name,
                        ErrorKind::InvalidData,
                        format!("{path}: expected a JSON array"),
                    ));
                }
            };
            let n = items.len();
            out.extend(items);
            if n < ORDERS_PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// Orders in the statuses that hold stock, one list per status. Newest first: orders
    /// leave these lists while they page (shipped between two pages shifts the later ones
    /// forward), and those that leave are mostly old ones, behind the pages still to read.
    async fn open_orders(&self) -> Result<Vec<Value>, ConnectorError> {
        let mut orders = Vec::new();
        for status in OPEN_STATUSES {
            orders.extend(
                self.v2_all(
                    "v2/orders",
                    &[
                        ("status_id", status.to_string()),
                        ("sort", "id:desc".to_owned()),
                    ],
                )
                .await?,
            );
        }
        Ok(orders)
    }

    /// The unshipped units per SKU of each open order (one products call each); closed
    /// orders hold nothing and cost no call.
    async fn with_unshipped(
        &self,
        orders: &[Value],
    ) -> Result<Vec<Vec<(CompactString, i64)>>, ConnectorError> {
        // Owned ids: the stream's futures must not borrow from `orders`' elements.
        let open: Vec<Option<u64>> = orders
            .iter()
            .map(|o| o.get("id").and_then(Value::as_u64).filter(|_| is_open(o)))
            .collect();
        stream::iter(open)
            .map(|id| async move {
                let Some(id) = id else {
                    return Ok(Vec::new());
                };
                let lines = self
                    .v2_all(&format!("v2/orders/{id}/products"), &[])
                    .await?;
                Ok::<_, ConnectorError>(
                    lines
                        .iter()
                        .filter_map(|line| {
                            let sku = line.get("sku").and_then(Value::as_str).unwrap_or("").trim();
                            let quantity =
                                line.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                            let shipped = line
                                .get("quantity_shipped")
                                .and_then(Value::as_i64)
                                .unwrap_or(0);
                            // Partly shipped orders hold only what has not left yet.
                            let open = quantity - shipped;
                            (!sku.is_empty() && open > 0).then(|| (CompactString::from(sku), open))
                        })
                        .collect(),
                )
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await
    }

    /// On-hand quantities at the configured location for some items (all when `None`).
    async fn location_quantities(
        &self,
        items: Option<&[InventoryItem]>,
    ) -> Result<HashMap<InventoryItem, i64>, ConnectorError> {
        let path = format!("v3/inventory/locations/{}/items", self.location);
        let mut values = Vec::new();
        match items {
            None => values = self.v3_all(&path, &[], INVENTORY_PAGE).await?,
            Some(items) => {
                let variants: Vec<u64> = items
                    .iter()
                    .filter_map(|i| match i {
                        InventoryItem::Variant(v) => Some(*v),
                        _ => None,
                    })
                    .collect();
                let products: Vec<u64> = items
                    .iter()
                    .filter_map(|i| match i {
                        InventoryItem::Product(p) => Some(*p),
                        _ => None,
                    })
                    .collect();
                for (key, ids) in [("variant_id:in", variants), ("product_id:in", products)] {
                    for chunk in ids.chunks(INVENTORY_PAGE) {
                        values.extend(
                            self.v3_all(&path, &[(key, join(chunk))], INVENTORY_PAGE)
                                .await?,
                        );
                    }
                }
            }
        }
        Ok(quantities_by_item(&values))
    }

    async fn products(
        &self,
        ids: Option<&[u64]>,
    ) -> Result<(Vec<Record>, Vec<Reject>), ConnectorError> {
        let mut query = vec![("include", "variants".to_owned())];
        let mut items = Vec::new();
        match ids {
            None => {
                items = self
                    .v3_all("v3/catalog/products", &query, PRODUCT_PAGE)
                    .await?
            }
            Some(ids) => {
                for chunk in ids.chunks(PRODUCT_PAGE) {
                    query.truncate(1);
                    query.push(("id:in", join(chunk)));
                    items.extend(
                        self.v3_all("v3/catalog/products", &query, PRODUCT_PAGE)
                            .await?,
                    );
                }
            }
        }
        let mut records = Vec::with_capacity(items.len());
        let mut rejects = Vec::new();
        for item in items {
            let parsed = serde_json::from_value::<BcProduct>(item.clone())
                .map_err(|e| format!("unreadable product: {e}"))
                .and_then(|p| product_records(&p));
            match parsed {
                Ok(r) => records.extend(r),
                Err(error) => rejects.push(Reject {
                    sku: item.get("sku").and_then(Value::as_str).map(str::to_owned),
                    id: item.get("id").map(Value::to_string),
                    error,
                }),
            }
        }
        // The catalog shows the default location's stock; another location's comes from
        // the Inventory API.
        if self.location != 1 {
            let wanted: Vec<InventoryItem> = records
                .iter()
                .filter(|r| r.quantity.is_some())
                .filter_map(|r| RecordId::parse(&r.id).ok().map(RecordId::item))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let at = self
                .location_quantities(if ids.is_some() { Some(&wanted) } else { None })
                .await?;
            for r in &mut records {
                if r.quantity.is_some()
                    && let Ok(id) = RecordId::parse(&r.id)
                {
                    r.quantity = Some(at.get(&id.item()).copied().unwrap_or(0));
                }
            }
        }
        Ok((records, rejects))
    }

    /// Sends absolute adjustments, then reads them back until they show.
    async fn write_quantities(
        &self,
        writes: &[Write],
        which: &[usize],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        // One item per inventory item; two records sharing a product's stock must agree.
        let mut wanted: HashMap<InventoryItem, (i64, Vec<usize>)> = HashMap::new();
        let mut order = Vec::new();
        for &i in which {
            let Ok(id) = RecordId::parse(&writes[i].id) else {
                outcomes[i] = Some(WriteOutcome::Failed(format!(
                    "`{}` is not a BigCommerce record id",
                    writes[i].id
                )));
                continue;
            };
            let FieldValue::Quantity(q) = writes[i].new else {
                continue;
            };
            match wanted.get_mut(&id.item()) {
                Some((existing, _)) if *existing != q => {
                    outcomes[i] = Some(WriteOutcome::Failed(format!(
                        "shares its product's stock with another listing of this batch that gets {existing}; fix the mapping so one accounting item owns the shared stock"
                    )));
                }
                Some((_, indexes)) => indexes.push(i),
                None => {
                    order.push(id.item());
                    wanted.insert(id.item(), (q, vec![i]));
                }
            }
        }
        let mut sent: Vec<InventoryItem> = Vec::new();
        for chunk in order.chunks(ADJUSTMENT_BATCH) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|item| {
                    let q = wanted.get(item).map_or(0, |w| w.0);
                    match item {
                        InventoryItem::Variant(v) => serde_json::json!({"location_id": self.location, "variant_id": v, "quantity": q}),
                        InventoryItem::Product(p) => serde_json::json!({"location_id": self.location, "product_id": p, "quantity": q}),
                    }
                })
                .collect();
            let body = serde_json::json!({"reason": "invsync: quantity from the master inventory", "items": items});
            let bytes = serde_json::to_vec(&body)
                .map_err(|e| ConnectorError::new(&self.name, ErrorKind::Other, e))?;
            match self
                .call(
                    Method::PUT,
                    "v3/inventory/adjustments/absolute",
                    &[],
                    Some(&bytes),
                )
                .await
            {
                Ok(_) => sent.extend_from_slice(chunk),
                Err(e) if e.status == Some(422) => {
                    for item in chunk {
                        for &i in wanted.get(item).map(|w| &w.1).into_iter().flatten() {
                            outcomes[i] = Some(WriteOutcome::Failed(format!(
                                "BigCommerce refused the adjustment: {}",
                                e.message
                            )));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // Confirm: the Inventory API applies adjustments asynchronously
        // (inventory-adjustments.mdx), so a 200 does not mean the stock shows yet.
        let started = Instant::now();
        let mut waiting: Vec<InventoryItem> = sent;
        let mut wait = self.confirm.first_wait;
        let mut last_seen: HashMap<InventoryItem, i64> = HashMap::new();
        while !waiting.is_empty() {
            tokio::time::sleep(wait).await;
            let now = self.location_quantities(Some(&waiting)).await?;
            waiting.retain(|item| {
                let target = wanted.get(item).map_or(0, |w| w.0);
                match now.get(item) {
                    Some(q) if *q == target => {
                        for &i in wanted.get(item).map(|w| &w.1).into_iter().flatten() {
                            outcomes[i] = Some(WriteOutcome::Applied);
                        }
                        false
                    }
                    Some(q) => {
                        last_seen.insert(*item, *q);
                        true
                    }
                    None => true,
                }
            });
            if started.elapsed() >= self.confirm.deadline {
                break;
            }
            wait = (wait * 2).min(Duration::from_secs(5)).min(
                self.confirm
                    .deadline
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(10)),
            );
        }
        for item in waiting {
            let target = wanted.get(&item).map_or(0, |w| w.0);
            let seen = last_seen
                .get(&item)
                .map_or_else(|| "nothing".to_owned(), i64::to_string);
            for &i in wanted.get(&item).map(|w| &w.1).into_iter().flatten() {
                outcomes[i] = Some(WriteOutcome::Failed(format!(
                    "BigCommerce accepted quantity {target} but still shows {seen} after {} s (a sale in between, or a slow inventory queue); the next run checks it again",
                    self.confirm.deadline.as_secs()
                )));
            }
        }
        Ok(())
    }

    async fn write_prices(
        &self,
        writes: &[Write],
        which: &[usize],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        /// One variant of a `PUT /v3/catalog/variants` body: its price, or its price and a
        /// sale price of 0 (the sale ended), or its sale price alone.
        #[derive(serde::Serialize)]
        struct VariantPrice {
            id: u64,
            /// The decimal's own digits as a JSON number: no float conversion.
            #[serde(skip_serializing_if = "Option::is_none")]
            price: Option<Box<RawValue>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sale_price: Option<Box<RawValue>>,
        }
        let mut items: Vec<(VariantPrice, usize)> = Vec::new();
        for &i in which {
            let (Ok(id), FieldValue::Price(p)) = (RecordId::parse(&writes[i].id), writes[i].new)
            else {
                outcomes[i] = Some(WriteOutcome::Failed(format!(
                    "`{}` is not a BigCommerce record id",
                    writes[i].id
                )));
                continue;
            };
            let Ok(raw) = RawValue::from_string(p.normalize().to_string()) else {
                outcomes[i] = Some(WriteOutcome::Failed(format!("price {p} cannot be sent")));
                continue;
            };
            let zero = || RawValue::from_string("0".to_owned()).ok();
            let (price, sale_price) = match writes[i].sale {
                None => (Some(raw), None),
                // 0 is the variant's own "no sale" (null would fall back to the product's).
                Some(SaleAction::End) => (Some(raw), zero()),
                Some(SaleAction::Set) => (None, Some(raw)),
            };
            items.push((
                VariantPrice {
                    id: id.variant,
                    price,
                    sale_price,
                },
                i,
            ));
        }
        for chunk in items.chunks(VARIANT_BATCH) {
            let body: Vec<&VariantPrice> = chunk.iter().map(|(v, _)| v).collect();
            let bytes = serde_json::to_vec(&body)
                .map_err(|e| ConnectorError::new(&self.name, ErrorKind::Other, e))?;
            let outcome = match self
                .call(Method::PUT, "v3/catalog/variants", &[], Some(&bytes))
                .await
            {
                Ok(_) => WriteOutcome::Applied,
                // 422 {"batch_errors": [...]}: the call was refused as a whole. (The batch
                // endpoint documents no 207; the single-variant endpoints' 207 is about
                // inventory, which invsync never sends through the catalog.)
                Err(e) if e.status == Some(422) => WriteOutcome::Failed(format!(
                    "BigCommerce refused the price update: {}",
                    e.message
                )),
                Err(e) => return Err(e),
            };
            for (_, i) in chunk {
                outcomes[*i] = Some(outcome.clone());
            }
        }
        Ok(())
    }
}

/// On-hand quantity per inventory item of `/v3/inventory/locations/{id}/items` rows.
/// A row's `identity` may carry `variant_id`, `product_id` or both (LocationItemsResponse
/// in inventory.v3.yml). A variant id keys the variant's stock. The product's stock (what a
/// product-tracked record reads) is the row without a variant id when there is one, else
/// the first row naming the product: the spec does not say whether a product-tracked
/// product's row names its base variant too, and either way its quantity is found.
fn quantities_by_item(rows: &[Value]) -> HashMap<InventoryItem, i64> {
    let mut out = HashMap::new();
    for row in rows {
        let Some(q) = row.get("total_inventory_onhand").and_then(Value::as_i64) else {
            continue;
        };
        let id = row.get("identity");
        let variant = id.and_then(|i| i.get("variant_id")).and_then(Value::as_u64);
        let product = id.and_then(|i| i.get("product_id")).and_then(Value::as_u64);
        if let Some(vid) = variant {
            out.insert(InventoryItem::Variant(vid), q);
        }
        if let Some(pid) = product {
            if variant.is_none() {
                out.insert(InventoryItem::Product(pid), q);
            } else {
                out.entry(InventoryItem::Product(pid)).or_insert(q);
            }
        }
    }
    out
}

/// Whether a v2 order still holds stock (its `status_id` is one of [`OPEN_STATUSES`]).
fn is_open(order: &Value) -> bool {
    order
        .get("status_id")
        .and_then(Value::as_u64)
        .is_some_and(|s| OPEN_STATUSES.iter().any(|o| u64::from(*o) == s))
}

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// `title` of a v3 error, `batch_errors` titles, or v2's `[{"message"}]`.
fn error_detail(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return String::new();
    };
    if let Some(t) = v.get("title").and_then(Value::as_str) {
        return t.to_owned();
    }
    if let Some(errors) = v.get("batch_errors").and_then(Value::as_array) {
        return errors
            .iter()
            .filter_map(|e| e.get("title").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Some(m) = v
        .get(0)
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
    {
        return m.to_owned();
    }
    String::new()
}

#[async_trait]
impl Connection for BigCommerceConnection {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "bigcommerce"
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let (records, rejects) = self.products(None).await?;
        Ok(Catalog { records, rejects })
    }

    async fn read_open_orders(&self) -> Result<Option<Vec<OrderLine>>, ConnectorError> {
        let orders = self.open_orders().await?;
        let with_lines = self.with_unshipped(&orders).await?;
        let mut out = Vec::new();
        for (order, lines) in orders.iter().zip(with_lines) {
            let Some(id) = order.get("id").and_then(Value::as_u64) else {
                continue;
            };
            for (sku, quantity) in lines {
                out.push(OrderLine {
                    store: self.name.as_str().into(),
                    order: id.to_string().into(),
                    sku,
                    quantity,
                });
            }
        }
        Ok(Some(out))
    }

    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        let mark = order_feed::resume(&self.name, cursor);
        let orders = match mark {
            None => self.open_orders().await?,
            Some(mark) => {
                // Every status, modified since the cursor's bound (ISO 8601,
                // which the v2 API takes beside RFC 2822). Sorted by id: a modification
                // never moves an order out of this list or within it, so the page numbers
                // cannot skip one; an order modified meanwhile joins it and at worst shows
                // twice.
                // The filter is inclusive and times are whole seconds: one second past the
                // exclusive bound.
                let since = (mark.since() + chrono::Duration::seconds(1))
                    .to_rfc3339_opts(SecondsFormat::Secs, false);
                self.v2_all(
                    "v2/orders",
                    &[("min_date_modified", since), ("sort", "id:asc".to_owned())],
                )
                .await?
            }
        };
        let lines = self.with_unshipped(&orders).await?;
        let orders = orders
            .iter()
            .zip(lines)
            .filter_map(|(order, lines)| {
                let id = order.get("id").and_then(Value::as_u64)?;
                let open = is_open(order);
                Some(StoreOrder {
                    id: id.to_string().into(),
                    // The order id is also what the merchant and the accounting side use.
                    number: id.to_string().into(),
                    open,
                    updated_at: order
                        .get("date_modified")
                        .and_then(Value::as_str)
                        .and_then(|t| DateTime::parse_from_rfc2822(t).ok())
                        .map(|t| t.with_timezone(&Utc)),
                    lines: lines
                        .into_iter()
                        .map(|(sku, quantity)| StoreOrderLine { sku, quantity })
                        .collect(),
                })
            })
            .collect();
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
        let ids: Vec<RecordId> = records
            .iter()
            .filter_map(|r| RecordId::parse(&r.id).ok())
            .collect();
        let products: Vec<u64> = ids
            .iter()
            .map(|i| i.product)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (fresh, _) = self.products(Some(&products)).await?;
        let by_id: HashMap<&str, &Record> = fresh.iter().map(|r| (r.id.as_str(), r)).collect();
        Ok(Some(
            ids.iter()
                .filter_map(|id| by_id.get(id.text().as_str()).map(|r| (*r).clone()))
                .collect(),
        ))
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; writes.len()];
        let prices: Vec<usize> = (0..writes.len())
            .filter(|&i| writes[i].field == Field::Price)
            .collect();
        let quantities: Vec<usize> = (0..writes.len())
            .filter(|&i| writes[i].field == Field::Quantity)
            .collect();
        let mut error = self
            .write_prices(writes, &prices, &mut outcomes)
            .await
            .err();
        if error.is_none() {
            error = self
                .write_quantities(writes, &quantities, &mut outcomes)
                .await
                .err();
        }
        crate::batch_outcomes(outcomes, error)
    }
}
