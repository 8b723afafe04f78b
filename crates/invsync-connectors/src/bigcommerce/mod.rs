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
//!   resets; the store's pacer stops sending when none are left and waits for the reset,
//!   also on a 429 (ADR 0023). One pacer per store and process: every connection and run
//!   that talks to the store shares it (ADR 0026). 5xx and timeouts are retried with
//!   backoff by the shared pipeline ([`crate::http::Pipeline`]).
//!
//! Module map: `api` sends a request (token, pacing, errors) and reads paged lists;
//! `pace` is the pacer; `vendor` holds BigCommerce's JSON shapes and the record ids;
//! `catalog` reads products, `orders` reads orders, `write` writes prices and
//! `inventory` writes quantities and confirms them.

mod api;
mod catalog;
mod inventory;
mod orders;
mod pace;
mod vendor;
mod write;

pub use inventory::ConfirmPolicy;

use crate::budget;
use crate::http::{self, Backoff, Pipeline, Timeouts};
use crate::order_feed::OrderClock;
use crate::{
    Catalog, Connection, ConnectorError, OrderFeed, RecordRef, Write, WriteOutcome, order_feed,
};
use api::Store;
use async_trait::async_trait;
use invsync_config::BigCommerceConfig;
use invsync_core::Record;
use pace::Pacer;
use std::collections::{BTreeSet, HashMap};
use vendor::RecordId;

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

pub struct BigCommerceConnection {
    name: String,
    /// `{base_url}/` with the trailing slash.
    base: url::Url,
    location: u64,
    pipeline: Pipeline,
    store: Store,
    confirm: ConfirmPolicy,
    /// invsync's clock for settling order cursors (ADR 0060); tests set their own.
    order_clock: OrderClock,
}

impl BigCommerceConnection {
    /// The same connection measuring order-cursor ages on `clock` instead of the system
    /// clock (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_order_clock(mut self, clock: OrderClock) -> Self {
        self.order_clock = clock;
        self
    }

    pub fn new(name: &str, config: &BigCommerceConfig) -> Result<Self, ConnectorError> {
        let (timeouts, backoff) = http::policy(&config.http);
        Self::open(name, config, timeouts, backoff, ConfirmPolicy::default())
    }

    /// With explicit timeouts, backoff and read-back deadline (tests use short ones).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_policy(
        name: &str,
        config: &BigCommerceConfig,
        timeouts: Timeouts,
        backoff: Backoff,
        confirm: ConfirmPolicy,
    ) -> Result<Self, ConnectorError> {
        Self::open(name, config, timeouts, backoff, confirm)
    }

    fn open(
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
            store: Store {
                name: name.to_owned(),
                token: config.access_token.clone(),
                // The store's quota is the store's, whoever asks: one pacer per store
                // (its API root names the store hash).
                pacer: budget::shared("bigcommerce", base.as_str(), Pacer::default),
            },
            base,
            location: config.location_id,
            pipeline: Pipeline::new(name, timeouts, backoff)?,
            confirm,
            order_clock: order_feed::system_clock(),
        })
    }
}

#[async_trait]
impl Connection for BigCommerceConnection {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let (records, rejects) = self.products(None).await?;
        Ok(Catalog { records, rejects })
    }

    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        self.orders(cursor).await.map(Some)
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
        self.write_all(writes).await
    }
}

/// What the contract tests need of the decoding (the `testing` feature).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use invsync_core::Record;

    /// The records one product of the catalog API decodes to.
    pub fn records_of(product: &serde_json::Value) -> Result<Vec<Record>, String> {
        let p: super::vendor::BcProduct =
            serde_json::from_value(product.clone()).map_err(|e| e.to_string())?;
        super::catalog::product_records(&p)
    }

    /// The variant a record id names.
    pub fn variant_of(record_id: &str) -> Option<u64> {
        super::RecordId::parse(record_id).ok().map(|id| id.variant)
    }
}
