//! Shopify stores (`kind = "shopify"`) through the Admin GraphQL API
//! (docs/platform-apis.md §1).
//!
//! * **Listings** are product variants; a record's `id` is the variant GID. Quantity is the
//!   `available` quantity at one location (configured, or the primary one). Untracked
//!   variants are `untracked` and tracked ones not stocked at the location `not-stocked`:
//!   both sync their price, never their quantity. Bundles (`requiresComponents`) are
//!   `base`. `price` is what shoppers pay; `compareAtPrice` is only the struck-through
//!   "was" price, so a Shopify listing is never on sale in invsync's sense.
//! * **Reading** pages `productVariants` (100, then as many as fit under the single-query
//!   cost limit), or — above `bulk_above` variants — runs one bulk operation and downloads
//!   its JSONL result (ADR 0011). Later runs get the kept catalog back and read only the
//!   variants, inventory items and levels changed since (`catalog`, ADR 0017).
//! * **Open orders** are open orders with unfulfilled units (ADR 0013). Tracked orders are
//!   read incrementally (ADR 0060): a snapshot of the open orders first, then every order
//!   updated since the cursor (`updated_at:>'…'`, sorted by `UPDATED_AT`), in any status;
//!   an order is open while not cancelled, not closed and with units unfulfilled.
//! * **Quantity writes** are one `inventorySetQuantities` per batch of ≤ 250, each
//!   quantity with `changeFromQuantity` = the value read (compare-and-set) and the mutation
//!   under `@idempotent(key:)` derived from the engine's keys; before API version 2026-01
//!   `compareQuantity` without a key (ADRs 0010, 0012). Stale items come back `Stale`; the
//!   rest of the batch is sent again without them.
//! * **Price writes** are `productVariantsBulkUpdate`, one call per product; Shopify has no
//!   concurrency token for prices, so they are last-writer-wins (ADR 0014).
//!
//! Module map: `client` sends a GraphQL call (token, retries, cost budget, errors);
//! `vendor` holds Shopify's JSON shapes; `graphql/*.graphql` are the documents.

mod bucket;
mod bulk_write;
mod catalog;
mod client;
mod vendor;

use crate::order_feed::OrderClock;
use crate::{
    CachedCatalog, Catalog, CatalogRead, Connection, ConnectorError, ErrorKind, OrderFeed,
    RecordRef, Reject, Write, WriteOutcome, order_feed,
};
use async_trait::async_trait;
use chrono::SecondsFormat;
use client::Client;
use compact_str::CompactString;
use futures::StreamExt as _;
use invsync_config::ShopifyConnectionConfig;
use invsync_core::{Field, FieldValue, Record, StoreOrder, StoreOrderLine};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{Mutex, OnceCell};
use vendor::VariantNode;

/// The GraphQL documents, kept as files so tests validate them against the real schema.
pub mod documents {
    pub const LOCATION: &str = include_str!("graphql/location.graphql");
    pub const VARIANTS_COUNT: &str = include_str!("graphql/variants_count.graphql");
    pub const CATALOG_COUNTS: &str = include_str!("graphql/catalog_counts.graphql");
    pub const VARIANTS_PAGE: &str = concat!(
        include_str!("graphql/variants_page.graphql"),
        include_str!("graphql/variant_fields.graphql")
    );
    pub const VARIANTS_BY_ID: &str = concat!(
        include_str!("graphql/variants_by_id.graphql"),
        include_str!("graphql/variant_fields.graphql")
    );
    pub const VARIANTS_CHANGED: &str = concat!(
        include_str!("graphql/variants_changed.graphql"),
        include_str!("graphql/variant_fields.graphql")
    );
    pub const ITEMS_CHANGED: &str = concat!(
        include_str!("graphql/items_changed.graphql"),
        include_str!("graphql/variant_fields.graphql")
    );
    pub const LEVELS_CHANGED: &str = concat!(
        include_str!("graphql/levels_changed.graphql"),
        include_str!("graphql/variant_fields.graphql")
    );
    /// With `LOCATION_ID` in place of the location's GID.
    pub const BULK_VARIANTS: &str = include_str!("graphql/bulk_variants.graphql");
    pub const BULK_RUN: &str = include_str!("graphql/bulk_run.graphql");
    pub const BULK_POLL: &str = include_str!("graphql/bulk_poll.graphql");
    pub const OPEN_ORDERS: &str = include_str!("graphql/open_orders.graphql");
    pub const CHANGED_ORDERS: &str = include_str!("graphql/changed_orders.graphql");
    pub const ORDER_LINE_ITEMS: &str = include_str!("graphql/order_line_items.graphql");
    pub const SET_QUANTITIES: &str = include_str!("graphql/set_quantities.graphql");
    pub const SET_QUANTITIES_COMPARE: &str = include_str!("graphql/set_quantities_compare.graphql");
    pub const SET_PRICES: &str = include_str!("graphql/set_prices.graphql");
    /// The mutation each line of a bulk price write runs (ADR 0110).
    pub const BULK_SET_PRICES: &str = include_str!("graphql/bulk_set_prices.graphql");
    pub const STAGE_UPLOAD: &str = include_str!("graphql/stage_upload.graphql");
    pub const BULK_RUN_MUTATION: &str = include_str!("graphql/bulk_run_mutation.graphql");
    pub const BULK_MUTATION_POLL: &str = include_str!("graphql/bulk_mutation_poll.graphql");
    pub const CURRENT_BULK_MUTATION: &str = include_str!("graphql/current_bulk_mutation.graphql");

    /// Every document as it is sent, by name (the bulk query with a sample location), for
    /// tests that validate them against the schema.
    #[cfg(any(test, feature = "testing"))]
    pub fn all() -> Vec<(&'static str, String)> {
        vec![
            ("location", LOCATION.to_owned()),
            ("variants_count", VARIANTS_COUNT.to_owned()),
            ("catalog_counts", CATALOG_COUNTS.to_owned()),
            ("variants_page", VARIANTS_PAGE.to_owned()),
            ("variants_by_id", VARIANTS_BY_ID.to_owned()),
            ("variants_changed", VARIANTS_CHANGED.to_owned()),
            ("items_changed", ITEMS_CHANGED.to_owned()),
            ("levels_changed", LEVELS_CHANGED.to_owned()),
            (
                "bulk_variants",
                super::bulk_query("gid://shopify/Location/1"),
            ),
            ("bulk_run", BULK_RUN.to_owned()),
            ("bulk_poll", BULK_POLL.to_owned()),
            ("open_orders", OPEN_ORDERS.to_owned()),
            ("changed_orders", CHANGED_ORDERS.to_owned()),
            ("order_line_items", ORDER_LINE_ITEMS.to_owned()),
            ("set_quantities", SET_QUANTITIES.to_owned()),
            ("set_quantities_compare", SET_QUANTITIES_COMPARE.to_owned()),
            ("set_prices", SET_PRICES.to_owned()),
            ("bulk_set_prices", BULK_SET_PRICES.to_owned()),
            ("stage_upload", STAGE_UPLOAD.to_owned()),
            ("bulk_run_mutation", BULK_RUN_MUTATION.to_owned()),
            ("bulk_mutation_poll", BULK_MUTATION_POLL.to_owned()),
            ("current_bulk_mutation", CURRENT_BULK_MUTATION.to_owned()),
        ]
    }
}

/// Variants on the first page: 100 × ~5 points + 2 ≈ 502 requested points. Later pages are
/// sized from what Shopify says the first one requested, as large as the single-query
/// limit allows (≈199 at 5 points a variant; 250 would request 1252).
const VARIANT_PAGE: i64 = 100;
/// `first` may not exceed 250 (shopify.dev/docs/api/usage/pagination-graphql).
const MAX_PAGE: i64 = 250;
/// Orders per page: 25 × (1 + 2 + 30 line items) + 2 = 827 points.
const ORDER_PAGE: i64 = 25;
/// Writes per batch: `inventorySetQuantities.quantities` is an input array, capped at 250.
const WRITE_BATCH: usize = 250;
/// Price calls (one per product) in flight at once.
const PRICE_CALLS_IN_FLIGHT: usize = 4;
/// Replays of a call whose first attempt Shopify is still processing.
const CONCURRENT_RETRIES: u32 = 5;
/// `reason` of every quantity write.
const REASON: &str = "correction";
/// How often to poll a bulk operation: from 100 ms, doubling, up to 5 s; at most an hour.
const BULK_POLL_FIRST: Duration = Duration::from_millis(100);
const BULK_POLL_MAX: Duration = Duration::from_secs(5);
const BULK_TIMEOUT: Duration = Duration::from_secs(3600);

fn bulk_query(location: &str) -> String {
    documents::BULK_VARIANTS.replace("LOCATION_ID", location)
}

/// What a write needs beyond the variant id.
#[derive(Debug, Clone)]
struct VariantRef {
    product: String,
    inventory_item: String,
    /// As last read; `None` when the variant could not be read.
    stock: Option<vendor::Stock>,
}

pub struct ShopifyConnection {
    name: String,
    config: ShopifyConnectionConfig,
    client: Client,
    location: OnceCell<String>,
    /// Variant GID → product and inventory item, filled by every read.
    refs: Mutex<HashMap<CompactString, VariantRef>>,
    /// invsync's clock, for settling order and catalog cursors and timing whole catalog
    /// reads (ADRs 0060, 0017); tests set their own.
    order_clock: OrderClock,
    /// Whether this connection looked for a bulk price write an earlier run left running.
    bulk_checked: Mutex<bool>,
    /// Shopify's clock when this connection's first catalog read began (its `Date`), to
    /// tell a bulk price write that ended before the read from one that ended after it.
    read_started: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// How long a run waits for a bulk price write ([`bulk_write::BULK_WRITE_WAIT`]).
    bulk_wait: Duration,
}

impl ShopifyConnection {
    /// The same connection measuring order-cursor ages on `clock` instead of the system
    /// clock (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_order_clock(mut self, clock: OrderClock) -> Self {
        self.order_clock = clock;
        self
    }

    pub fn new(
        name: &str,
        config: ShopifyConnectionConfig,
    ) -> Result<ShopifyConnection, ConnectorError> {
        let client = Client::new(
            name,
            &config.base_url,
            &config.api_version,
            config.access_token.clone(),
            &config.http,
        )?;
        Ok(ShopifyConnection {
            name: name.to_owned(),
            config,
            client,
            location: OnceCell::new(),
            refs: Mutex::new(HashMap::new()),
            order_clock: order_feed::system_clock(),
            bulk_checked: Mutex::new(false),
            read_started: std::sync::Mutex::new(None),
            bulk_wait: bulk_write::BULK_WRITE_WAIT,
        })
    }

    /// How long this connection waits for a bulk price write before leaving it running
    /// (tests; [`bulk_write::BULK_WRITE_WAIT`] otherwise).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_bulk_write_wait(mut self, wait: Duration) -> Self {
        self.bulk_wait = wait;
        self
    }

    /// Short retries for tests that answer with errors on purpose (the fuzzers).
    #[cfg(any(test, feature = "testing"))]
    pub fn set_backoff(&mut self, backoff: crate::http::Backoff) {
        self.client.set_backoff(backoff);
    }

    fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(&self.name, kind, message)
    }

    /// Whether this API version has `changeFromQuantity` and `@idempotent` (2026-01 and
    /// later); older ones compare with `compareQuantity`.
    fn has_change_from(&self) -> bool {
        let v = self.config.api_version.as_str();
        v == "unstable" || v >= "2026-01"
    }

    /// The location's GID, checked once per connection.
    async fn location(&self) -> Result<&str, ConnectorError> {
        self.location
            .get_or_try_init(|| async {
                let data = self
                    .client
                    .call(
                        "Location",
                        documents::LOCATION,
                        json!({ "id": self.config.location }),
                        true,
                    )
                    .await?;
                let location: Option<vendor::Location> =
                    serde_json::from_value(data["location"].clone()).ok();
                match location {
                    Some(l) if l.is_active => Ok(l.id),
                    Some(l) => Err(self.error(
                        ErrorKind::InvalidData,
                        format!("location {} ({}) is deactivated in Shopify; set the store's location to an active one", l.id, l.name),
                    )),
                    None => Err(self.error(
                        ErrorKind::NotFound,
                        match &self.config.location {
                            Some(l) => format!("location {l} does not exist on this shop; check the store's location (Shopify admin → Settings → Locations)"),
                            None => "the shop has no primary location".to_owned(),
                        },
                    )),
                }
            })
            .await
            .map(String::as_str)
    }

    /// Keeps Shopify's clock at the start of the first catalog read (the location call
    /// just answered).
    fn note_read_start(&self) {
        let mut started = self
            .read_started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if started.is_none() {
            *started = self.client.server_time();
        }
    }

    async fn remember(&self, nodes: &[VariantNode]) {
        let mut refs = self.refs.lock().await;
        for n in nodes {
            refs.insert(
                CompactString::from(n.id.as_str()),
                VariantRef {
                    product: n.product.id.clone(),
                    inventory_item: n.inventory_item.id.clone(),
                    stock: n.stock,
                },
            );
        }
    }

    async fn read_paged(&self, location: &str) -> Result<Vec<VariantNode>, ConnectorError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut first = VARIANT_PAGE;
        let mut ceiling = MAX_PAGE;
        loop {
            let answer = self
                .client
                .call(
                    "VariantsPage",
                    documents::VARIANTS_PAGE,
                    json!({ "first": first, "after": after, "locationId": location }),
                    true,
                )
                .await;
            let data = match answer {
                Err(e) if e.message.contains("MAX_COST_EXCEEDED") && first > 1 => {
                    // Shopify prices the fields higher than expected: smaller pages.
                    first /= 2;
                    ceiling = first;
                    continue;
                }
                other => other?,
            };
            let page: vendor::Connection<Value> =
                serde_json::from_value(data["productVariants"].clone()).map_err(|e| {
                    self.error(
                        ErrorKind::Unavailable,
                        format!("productVariants: unexpected answer: {e}"),
                    )
                })?;
            out.extend(page.nodes.into_iter().map(VariantNode::parse));
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => break,
            }
            // Fewest pages: as many variants as fit under the single-query cost limit.
            if let Some(requested) = self.client.last_cost("VariantsPage").await {
                let per_variant = ((requested - 2.0) / first as f64).max(1.0);
                let fits = ((self.client.max_query_cost().await - 2.0) / per_variant).floor();
                first = (fits as i64).clamp(1, ceiling);
            }
        }
        Ok(out)
    }

    async fn read_bulk(&self, location: &str) -> Result<Vec<VariantNode>, ConnectorError> {
        let data = self
            .client
            .call(
                "BulkRun",
                documents::BULK_RUN,
                json!({ "query": bulk_query(location) }),
                false,
            )
            .await?;
        let payload = &data["bulkOperationRunQuery"];
        let errors: Vec<vendor::UserError> =
            serde_json::from_value(payload["userErrors"].clone()).unwrap_or_default();
        if let Some(e) = errors.first() {
            let (kind, message) = if e.code.as_deref() == Some("OPERATION_IN_PROGRESS") {
                (
                    ErrorKind::Unavailable,
                    "another bulk query is running on this shop for the same app (another invsync, or another tool using this app's token); the next run tries again".to_owned(),
                )
            } else {
                (
                    ErrorKind::Other,
                    format!("bulk query refused: {}", e.message),
                )
            };
            return Err(self.error(kind, message));
        }
        let Some(id) = payload["bulkOperation"]["id"].as_str().map(str::to_owned) else {
            return Err(self.error(
                ErrorKind::Unavailable,
                "bulkOperationRunQuery answered without an operation",
            ));
        };
        let started = std::time::Instant::now();
        let mut wait = BULK_POLL_FIRST;
        let url = loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(BULK_POLL_MAX);
            let op = self
                .bulk_operation("BulkPoll", documents::BULK_POLL, &id)
                .await?;
            match op.status.as_str() {
                "COMPLETED" => break op.url,
                "CREATED" | "RUNNING" => {}
                other => {
                    return Err(self.error(
                        ErrorKind::Unavailable,
                        format!(
                            "bulk operation {id} ended {other} ({}); the next run tries again",
                            op.error_code.as_deref().unwrap_or("no error code")
                        ),
                    ));
                }
            }
            if started.elapsed() > BULK_TIMEOUT {
                return Err(self.error(
                    ErrorKind::Unavailable,
                    format!(
                        "bulk operation {id} did not complete within {} minutes",
                        BULK_TIMEOUT.as_secs() / 60
                    ),
                ));
            }
        };
        // No URL: the query matched no objects.
        let Some(url) = url else {
            return Ok(Vec::new());
        };
        let text = self.client.download(&url).await?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line).map_err(|e| {
                self.error(
                    ErrorKind::Unavailable,
                    format!("bulk result line {}: {e}", i + 1),
                )
            })?;
            out.push(VariantNode::parse(value));
        }
        Ok(out)
    }

    /// One look at a bulk operation (`node(id:)` with `document`'s fields).
    async fn bulk_operation(
        &self,
        operation: &'static str,
        document: &str,
        id: &str,
    ) -> Result<vendor::BulkOperation, ConnectorError> {
        let data = self
            .client
            .call(operation, document, json!({ "id": id }), true)
            .await?;
        serde_json::from_value(data["node"].clone()).map_err(|e| {
            self.error(
                ErrorKind::Unavailable,
                format!("bulk operation {id}: unexpected answer: {e}"),
            )
        })
    }

    /// Every order of an orders query, page by page, each with all its line items (the
    /// first 30 come with the order; longer orders are completed with `order(id:)`).
    async fn read_order_pages(
        &self,
        operation: &'static str,
        document: &'static str,
        query: Option<&str>,
    ) -> Result<Vec<(vendor::Order, Vec<vendor::LineItem>)>, ConnectorError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut variables = json!({ "first": ORDER_PAGE, "after": after });
            if let Some(q) = query {
                variables["query"] = json!(q);
            }
            let data = self
                .client
                .call(operation, document, variables, true)
                .await?;
            let page: vendor::Connection<vendor::Order> =
                serde_json::from_value(data["orders"].clone()).map_err(|e| {
                    self.error(
                        ErrorKind::Unavailable,
                        format!("orders: unexpected answer: {e}"),
                    )
                })?;
            for mut order in page.nodes {
                let mut lines = std::mem::take(&mut order.line_items.nodes);
                let mut more = std::mem::replace(
                    &mut order.line_items.page_info,
                    vendor::PageInfo {
                        has_next_page: false,
                        end_cursor: None,
                    },
                );
                while more.has_next_page {
                    let data = self
                        .client
                        .call(
                            "OrderLineItems",
                            documents::ORDER_LINE_ITEMS,
                            json!({ "id": order.id, "after": more.end_cursor }),
                            true,
                        )
                        .await?;
                    let page: vendor::Connection<vendor::LineItem> = serde_json::from_value(
                        data["order"]["lineItems"].clone(),
                    )
                    .map_err(|e| {
                        self.error(
                            ErrorKind::Unavailable,
                            format!("order {}: unexpected answer: {e}", order.name),
                        )
                    })?;
                    lines.extend(page.nodes);
                    more = page.page_info;
                }
                out.push((order, lines));
            }
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => break,
            }
        }
        Ok(out)
    }

    fn to_records(&self, nodes: &[VariantNode]) -> Catalog {
        let mut catalog = Catalog::default();
        for node in nodes {
            match node.to_record() {
                Ok(r) => catalog.records.push(r),
                Err(error) => catalog.rejects.push(Reject {
                    sku: node.sku.clone(),
                    id: Some(node.id.clone()),
                    error,
                }),
            }
        }
        catalog
    }

    /// The refs of these variants, reading those no read of this connection saw; the
    /// second set holds the ids read just now (their state may be newer than the plan's).
    async fn variant_refs(
        &self,
        ids: &[&CompactString],
    ) -> Result<(HashMap<CompactString, VariantRef>, HashSet<CompactString>), ConnectorError> {
        let missing: Vec<RecordRef> = {
            let refs = self.refs.lock().await;
            ids.iter()
                .filter(|id| !refs.contains_key(**id))
                .map(|id| RecordRef {
                    id: (*id).clone(),
                    sku: CompactString::default(),
                })
                .collect()
        };
        let read_now = missing.iter().map(|r| r.id.clone()).collect();
        if !missing.is_empty() {
            self.read_records(&missing).await?;
        }
        let refs = self.refs.lock().await;
        let found = ids
            .iter()
            .filter_map(|id| refs.get(*id).map(|r| ((*id).clone(), r.clone())))
            .collect();
        Ok((found, read_now))
    }

    /// Quantity writes: one `inventorySetQuantities` for all of them; items it refuses are
    /// taken out and the rest sent again (the mutation is all-or-nothing).
    async fn write_quantities(
        &self,
        writes: &[(usize, &Write)],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        if writes.is_empty() {
            return Ok(());
        }
        let location = self.location().await?.to_owned();
        let ids: Vec<&CompactString> = writes.iter().map(|(_, w)| &w.id).collect();
        let (refs, read_now) = self.variant_refs(&ids).await?;
        let mut pending: Vec<(usize, &Write, String)> = Vec::new();
        for (i, w) in writes {
            let (FieldValue::Quantity(_), FieldValue::Quantity(_)) = (w.old, w.new) else {
                outcomes[*i] = Some(WriteOutcome::Failed("not a quantity".into()));
                continue;
            };
            // Plans never write the quantity of an untracked, unstocked or bundle
            // listing; should one arrive anyway, it is refused here, per item. A variant
            // read just now (after an incremental read) may have changed since the plan
            // read it: that is stale, and the engine reads and plans it again.
            if let Some(why) = refs
                .get(&w.id)
                .and_then(|r| r.stock)
                .and_then(vendor::Stock::refuses_quantity)
            {
                outcomes[*i] = Some(if read_now.contains(&w.id) {
                    WriteOutcome::Stale(format!("changed since it was read: {why}"))
                } else {
                    WriteOutcome::Failed(why.to_owned())
                });
                continue;
            }
            match refs.get(&w.id) {
                Some(r) => pending.push((*i, w, r.inventory_item.clone())),
                None => {
                    outcomes[*i] = Some(WriteOutcome::Stale(
                        "the variant no longer exists in Shopify".into(),
                    ));
                }
            }
        }
        let mut concurrent = 0;
        // Each round applies everything left, removes at least one item, or (a first
        // attempt still running) waits and asks again with the same key.
        while !pending.is_empty() {
            let change_from = self.has_change_from();
            let quantities: Vec<Value> = pending
                .iter()
                .map(|(_, w, item)| {
                    let (FieldValue::Quantity(old), FieldValue::Quantity(new)) = (w.old, w.new)
                    else {
                        return Value::Null;
                    };
                    let compare = if change_from {
                        "changeFromQuantity"
                    } else {
                        "compareQuantity"
                    };
                    json!({
                        "inventoryItemId": item,
                        "locationId": location,
                        "quantity": new,
                        compare: old,
                    })
                })
                .collect();
            let input = json!({ "name": "available", "reason": REASON, "quantities": quantities });
            let (operation, document, variables) = if change_from {
                let keys: Vec<&str> = pending.iter().map(|(_, w, _)| w.key.as_str()).collect();
                (
                    "SetQuantities",
                    documents::SET_QUANTITIES,
                    json!({ "input": input, "key": batch_key(&keys) }),
                )
            } else {
                (
                    "SetQuantitiesCompare",
                    documents::SET_QUANTITIES_COMPARE,
                    json!({ "input": input }),
                )
            };
            // Safe to retry: with a key Shopify replays the first result; without one the
            // compare of an applied call fails, so nothing applies twice.
            let data = self
                .client
                .call(operation, document, variables, true)
                .await?;
            let payload = &data["inventorySetQuantities"];
            let errors: Vec<vendor::UserError> =
                serde_json::from_value(payload["userErrors"].clone()).unwrap_or_default();
            if errors.is_empty() {
                for (i, ..) in &pending {
                    outcomes[*i] = Some(WriteOutcome::Applied);
                }
                return Ok(());
            }
            // "A request with the same idempotency key is still being processed"
            // (InventorySetQuantitiesUserErrorCode, 2026-01+): the first attempt's result
            // is what counts, so wait and replay it rather than fail or send a new key.
            if concurrent < CONCURRENT_RETRIES
                && errors
                    .iter()
                    .any(|e| e.code.as_deref() == Some("IDEMPOTENCY_CONCURRENT_REQUEST"))
            {
                concurrent += 1;
                tokio::time::sleep(Duration::from_millis(200) * concurrent).await;
                continue;
            }
            let mut removed = vec![false; pending.len()];
            let mut unplaced = Vec::new();
            for e in &errors {
                match e.quantity_index().filter(|i| *i < pending.len()) {
                    Some(at) => {
                        let (i, w, _) = &pending[at];
                        removed[at] = true;
                        outcomes[*i] = Some(quantity_outcome(e, w));
                    }
                    None => unplaced.push(e),
                }
            }
            if !unplaced.is_empty() || !removed.iter().any(|r| *r) {
                // An error about the whole call (reason, name, idempotency): every item
                // in it fails with the platform's words.
                let message = errors
                    .iter()
                    .map(vendor::UserError::describe)
                    .collect::<Vec<_>>()
                    .join("; ");
                for (i, ..) in &pending {
                    outcomes[*i] = Some(WriteOutcome::Failed(message.clone()));
                }
                return Ok(());
            }
            pending = pending
                .into_iter()
                .zip(removed)
                .filter_map(|(p, r)| (!r).then_some(p))
                .collect();
        }
        Ok(())
    }

    /// Price writes: first what an earlier run's bulk price write settles; then, above
    /// `bulk_write_above`, one bulk mutation (ADR 0110), else one
    /// `productVariantsBulkUpdate` per product, partial updates allowed so one bad variant
    /// does not hold back the others.
    async fn write_prices(
        &self,
        writes: &[(usize, &Write)],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<(), ConnectorError> {
        let writes = self.settle_earlier_bulk(writes.to_vec(), outcomes).await?;
        if writes.is_empty() {
            return Ok(());
        }
        let ids: Vec<&CompactString> = writes.iter().map(|(_, w)| &w.id).collect();
        let (refs, _) = self.variant_refs(&ids).await?;
        let mut by_product: Vec<(String, Vec<(usize, &Write)>)> = Vec::new();
        let mut product_at: HashMap<String, usize> = HashMap::new();
        for (i, w) in &writes {
            let Some(r) = refs.get(&w.id) else {
                outcomes[*i] = Some(WriteOutcome::Stale(
                    "the variant no longer exists in Shopify".into(),
                ));
                continue;
            };
            match product_at.get(&r.product) {
                Some(&at) => by_product[at].1.push((*i, w)),
                None => {
                    product_at.insert(r.product.clone(), by_product.len());
                    by_product.push((r.product.clone(), vec![(*i, w)]));
                }
            }
        }
        if self.writes_prices_in_bulk(writes.len()) {
            return self.write_prices_bulk(&by_product, outcomes).await;
        }
        // Calls for different products are independent: a few in flight at once hide the
        // round trip; the cost budget still paces them.
        let requests: Vec<(Vec<usize>, Value)> = by_product
            .into_iter()
            .map(|(product, list)| {
                let variants: Vec<Value> = list
                    .iter()
                    .map(|(_, w)| match w.new {
                        // Money is a string in Shopify's API ("100.57"), never a float.
                        FieldValue::Price(p) => {
                            json!({ "id": w.id.as_str(), "price": p.to_string() })
                        }
                        FieldValue::Quantity(_) => json!({ "id": w.id.as_str() }),
                    })
                    .collect();
                let indices = list.iter().map(|(i, _)| *i).collect();
                (
                    indices,
                    json!({ "productId": product, "variants": variants }),
                )
            })
            .collect();
        let client = &self.client;
        let calls = requests.into_iter().map(|(indices, variables)| async move {
            // An absolute set: sending it twice sets the same price.
            let data = client
                .call("SetPrices", documents::SET_PRICES, variables, true)
                .await;
            (indices, data)
        });
        let mut results = futures::stream::iter(calls).buffer_unordered(PRICE_CALLS_IN_FLIGHT);
        let mut first_error = None;
        while let Some((list, data)) = results.next().await {
            let data = match data {
                Ok(d) => d,
                Err(e) => {
                    // Leave these writes without an outcome; `write` decides whether the
                    // batch failed as a whole.
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            let payload = &data["productVariantsBulkUpdate"];
            let errors: Vec<vendor::UserError> =
                serde_json::from_value(payload["userErrors"].clone()).unwrap_or_default();
            let whole_call = errors.iter().any(|e| e.variant_index().is_none());
            for (at, i) in list.iter().enumerate() {
                let mine: Vec<String> = errors
                    .iter()
                    .filter(|e| whole_call || e.variant_index() == Some(at))
                    .map(vendor::UserError::describe)
                    .collect();
                outcomes[*i] = Some(if mine.is_empty() {
                    WriteOutcome::Applied
                } else {
                    WriteOutcome::Failed(mine.join("; "))
                });
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(())
    }
}

/// The units of each line not fulfilled yet, by SKU: lines without a SKU cannot hold back a
/// product matched by SKU, and fulfilled ones hold nothing.
fn unfulfilled(lines: &[vendor::LineItem]) -> impl Iterator<Item = (CompactString, i64)> + '_ {
    lines
        .iter()
        .filter_map(|line| match line.sku.as_deref().map(str::trim) {
            Some(sku) if !sku.is_empty() && line.unfulfilled_quantity > 0 => {
                Some((CompactString::from(sku), line.unfulfilled_quantity))
            }
            _ => None,
        })
}

fn quantity_outcome(e: &vendor::UserError, w: &Write) -> WriteOutcome {
    match e.code.as_deref() {
        Some("CHANGE_FROM_QUANTITY_STALE" | "COMPARE_QUANTITY_STALE") => {
            WriteOutcome::Stale(format!(
                "the quantity in Shopify is no longer {} (a sale or another change since it was read); not overwritten",
                w.old
            ))
        }
        // Stocked when read, not any more (its level at the location was removed): the
        // engine reads it again, and the fresh read holds its quantity back as
        // `not-stocked` with what to do about it.
        Some("ITEM_NOT_STOCKED_AT_LOCATION") => WriteOutcome::Stale(format!(
            "no longer stocked at the store's location (Shopify: {}); not written",
            e.describe()
        )),
        _ => WriteOutcome::Failed(e.describe()),
    }
}

/// The idempotency key of one `inventorySetQuantities` call: the same writes give the same
/// key (so a retry replays), other writes another key. Readable start, a hash of all keys;
/// at most [`crate::MAX_KEY_LEN`] + 21 characters (`+250-` and 16 hex digits), inside the
/// 255 Shopify allows.
fn batch_key(keys: &[&str]) -> String {
    let hash = crate::keys::stable_hash(keys.iter().map(|k| k.as_bytes()));
    format!(
        "{}+{}-{hash:016x}",
        keys.first().copied().unwrap_or_default(),
        keys.len()
    )
}

#[async_trait]
impl Connection for ShopifyConnection {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let location = self.location().await?.to_owned();
        self.note_read_start();
        let now = (self.order_clock)();
        Ok(self.read_whole(&location, now).await?.catalog)
    }

    async fn read_catalog_since(
        &self,
        cached: Option<CachedCatalog>,
    ) -> Result<CatalogRead, ConnectorError> {
        self.location().await?;
        self.note_read_start();
        self.read_catalog_cached(cached).await
    }

    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        let mark = order_feed::resume(&self.name, cursor);
        let orders = match mark {
            None => {
                self.read_order_pages("OpenOrders", documents::OPEN_ORDERS, None)
                    .await?
            }
            Some(mark) => {
                let since = mark.since().to_rfc3339_opts(SecondsFormat::Secs, true);
                let query = format!("updated_at:>'{since}'");
                self.read_order_pages("ChangedOrders", documents::CHANGED_ORDERS, Some(&query))
                    .await?
            }
        };
        let orders = orders
            .into_iter()
            .map(|(order, lines)| {
                let lines: Vec<StoreOrderLine> = unfulfilled(&lines)
                    .map(|(sku, quantity)| StoreOrderLine { sku, quantity })
                    .collect();
                StoreOrder {
                    id: CompactString::from(order.id.as_str()),
                    // The accounting side knows the order by its name (#1001): QuickBooks
                    // posted-order lookups use it as DocNumber (ADR 0035).
                    number: CompactString::from(order.name.as_str()),
                    open: !order.closed && order.cancelled_at.is_none() && !lines.is_empty(),
                    updated_at: Some(order.updated_at),
                    lines,
                }
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

    /// Above `bulk_write_above`, all of a run's price changes (up to
    /// [`bulk_write::BULK_WRITE_MAX`]) in one call: one bulk mutation.
    fn write_batch_size_for(&self, field: Field, pending: usize) -> usize {
        if field == Field::Price && self.writes_prices_in_bulk(pending) {
            pending.min(bulk_write::BULK_WRITE_MAX)
        } else {
            WRITE_BATCH
        }
    }

    async fn read_records(
        &self,
        records: &[RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        let location = self.location().await?.to_owned();
        let mut nodes = Vec::new();
        for chunk in records.chunks(VARIANT_PAGE as usize) {
            let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
            let data = self
                .client
                .call(
                    "VariantsById",
                    documents::VARIANTS_BY_ID,
                    json!({ "ids": ids, "locationId": location }),
                    true,
                )
                .await?;
            for node in data["nodes"].as_array().into_iter().flatten() {
                if node.get("id").is_some() {
                    nodes.push(VariantNode::parse(node.clone()));
                }
            }
        }
        self.remember(&nodes).await;
        // A record that cannot be understood now is left out: the engine leaves it for
        // the next run, whose catalog read reports it.
        Ok(Some(
            nodes
                .into_iter()
                .filter_map(|n| n.to_record().ok())
                .collect(),
        ))
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; writes.len()];
        let (quantities, prices): (Vec<(usize, &Write)>, Vec<(usize, &Write)>) = writes
            .iter()
            .enumerate()
            .partition(|(_, w)| w.field == Field::Quantity);
        let mut result = self.write_quantities(&quantities, &mut outcomes).await;
        if result.is_ok() {
            result = self.write_prices(&prices, &mut outcomes).await;
        }
        if let Err(e) = result {
            // `Err` promises that nothing was applied; once part of the batch was, the
            // error becomes the outcome of the items it stopped.
            if outcomes.iter().all(Option::is_none) {
                return Err(e);
            }
            for o in outcomes.iter_mut().filter(|o| o.is_none()) {
                *o = Some(WriteOutcome::Failed(e.to_string()));
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| WriteOutcome::Failed("not attempted (internal error)".into()))
            })
            .collect())
    }
}

/// What the contract tests need of the connection's insides (the `testing` feature).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::ShopifyConnection;
    use crate::ConnectorError;
    use serde_json::Value;

    /// Orders per page of the order reads.
    pub const ORDER_PAGE: i64 = super::ORDER_PAGE;

    /// Runs one GraphQL operation through the connection's client.
    pub async fn graphql(
        connection: &ShopifyConnection,
        operation: &'static str,
        document: &str,
        variables: Value,
    ) -> Result<Value, ConnectorError> {
        connection
            .client
            .call(operation, document, variables, true)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn the_endpoint_keeps_a_base_path() {
        let endpoint = |base: &str| {
            Client::new(
                "shop",
                &reqwest::Url::parse(base).expect("url"),
                "2026-04",
                SecretString::from("t".to_owned()),
                &Default::default(),
            )
            .expect("client")
            .endpoint()
            .to_string()
        };
        assert_eq!(
            endpoint("https://example.myshopify.com"),
            "https://example.myshopify.com/admin/api/2026-04/graphql.json"
        );
        assert_eq!(
            endpoint("https://proxy.example/shopify"),
            "https://proxy.example/shopify/admin/api/2026-04/graphql.json"
        );
    }

    #[test]
    fn batch_keys_are_stable_and_distinct() {
        let a = batch_key(&["k-0", "k-1", "k-2"]);
        assert_eq!(
            a,
            batch_key(&["k-0", "k-1", "k-2"]),
            "a retry gets the same key"
        );
        assert_ne!(
            a,
            batch_key(&["k-0", "k-2"]),
            "a smaller batch gets another"
        );
        assert_ne!(batch_key(&["k-0", "k-1"]), batch_key(&["k-0k", "-1"]));
        assert!(a.starts_with("k-0+3-"));
    }

    #[test]
    fn the_longest_batch_key_fits_shopifys_limit() {
        let longest = "k".repeat(crate::MAX_KEY_LEN);
        let keys = vec![longest.as_str(); WRITE_BATCH];
        let key = batch_key(&keys);
        assert_eq!(key.len(), crate::MAX_KEY_LEN + 21, "{key}");
        assert!(key.len() <= 255);
    }
}
