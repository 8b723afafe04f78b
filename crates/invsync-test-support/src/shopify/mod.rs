//! A fake Shopify Admin GraphQL API for contract tests, end-to-end tests and benchmarks.
//!
//! It enforces what docs/platform-apis.md §1 documents: the access token (401), frozen and
//! locked shops (402, 423), every document validated against the real 2025-01 schema plus
//! the documented 2026 additions, cursor pagination with `first` ≤ 250, input arrays
//! ≤ 250, the calculated query cost with a leaky bucket (`extensions.cost`, THROTTLED,
//! MAX_COST_EXCEEDED), `inventorySetQuantities` with `changeFromQuantity` /
//! `compareQuantity` staleness checks and `@idempotent(key:)` replays,
//! `productVariantsBulkUpdate` with per-variant `userErrors`, and bulk operations with JSONL
//! results, bulk mutations (staged multipart uploads, `bulkOperationRunMutation` with one
//! result line per input line, FAILED/CANCELED/EXPIRED endings with partial data, one at a
//! time per shop before 2026-01 and five from then), and orders with `updatedAt` from a
//! shop clock tests move, filtered by `status`, `fulfillment_status` and `updated_at` (`>`, `>=`, `<`, `<=`, quoted or bare)
//! and sorted by `ID`/`PROCESSED_AT`/`CREATED_AT` or `UPDATED_AT` (keyset cursors). Tests
//! can inject a sale between a read and a write, faults, latency and shop states, fulfil,
//! cancel, close and edit orders, have an operation answered with a recorded or written-down
//! answer (`answer_next`, `answer_next_bulk`), and inspect every request. Variants may be
//! untracked, not stocked at a location (`inventoryLevel` answers `null`) or bundles.

mod bulk;
mod cost;
mod exec;
mod schema;
mod server;
mod state;

pub use exec::{MAX_INPUT_ARRAY, MAX_PAGE};
pub use schema::{SPEC, check_answer, check_bulk_line, introspection_to_sdl, schema, validate};
pub use state::{BulkEnding, DEFAULT_BULK_MUTATION_RATE, Fault, Limits, RequestLog, ShopStatus};

use chrono::{DateTime, Utc};
use invsync_core::{ItemKind, Record};
use rust_decimal::Decimal;
use state::{Level, Location, Order, OrderLine, Shop, Variant};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The ids of one variant, as GIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantIds {
    pub variant: String,
    pub product: String,
    pub inventory_item: String,
}

/// One variant as the fake holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantState {
    pub id: String,
    pub sku: Option<String>,
    pub price: Decimal,
    pub tracked: bool,
    /// Whether it has a level at the primary location (is stocked there).
    pub stocked: bool,
    /// At the primary location (0 when not stocked there).
    pub available: i64,
    pub on_hand: i64,
}

/// Counters for benchmarks and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub requests: usize,
    pub throttled: u64,
    /// Actual query cost charged, in points.
    pub points_spent: f64,
    /// Time the fake spent handling requests.
    pub busy: Duration,
    /// `inventorySetQuantities` calls that changed quantities (replays not counted).
    pub quantity_calls_applied: u64,
    /// Mutations answered by replaying the result stored under their idempotency key.
    pub idempotent_replays: u64,
}

/// Uploads `file` to a staged upload target — `stagedUploadsCreate`'s `stagedTargets[n]`
/// (`url`, `parameters`) — the way Shopify documents it: every parameter, then the file, as
/// `multipart/form-data`. Returns the upload's HTTP status (201 when stored).
pub async fn upload_staged(target: &serde_json::Value, file: &str) -> u16 {
    let mut form = String::new();
    for p in target["parameters"].as_array().into_iter().flatten() {
        let (name, value) = (
            p["name"].as_str().unwrap_or_default(),
            p["value"].as_str().unwrap_or_default(),
        );
        form.push_str(&format!(
            "--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    form.push_str(&format!("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"vars.jsonl\"\r\nContent-Type: text/jsonl\r\n\r\n{file}\r\n--B--\r\n"));
    reqwest::Client::new()
        .post(target["url"].as_str().unwrap_or_default())
        .header("Content-Type", "multipart/form-data; boundary=B")
        .body(form)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// One bulk mutation as the fake holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkMutationState {
    pub id: String,
    pub status: &'static str,
    pub client_identifier: Option<String>,
    /// Input lines uploaded, and lines processed so far.
    pub lines: usize,
    pub done: usize,
}

/// How many times the fake applied a write to one variant: more than the sync meant to
/// means a write was applied twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Writes {
    pub quantity: u64,
    pub price: u64,
}

/// A fake shop. Clones share the same shop.
#[derive(Clone)]
pub struct FakeShopify {
    shop: Arc<Mutex<Shop>>,
}

impl FakeShopify {
    /// An empty shop with one (primary) location that accepts `token`.
    pub fn new(token: &str, limits: Limits) -> FakeShopify {
        FakeShopify {
            shop: Arc::new(Mutex::new(Shop::new(token, limits))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shop> {
        self.shop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The axum router; serve it with [`crate::fake::serve`].
    pub fn router(&self) -> axum::Router {
        server::router(Arc::clone(&self.shop))
    }

    /// Serves the fake on loopback; the connection's `base_url` is the server's.
    pub async fn serve(&self) -> crate::fake::FakeServer {
        crate::fake::serve(self.router()).await
    }

    /// The primary location's GID.
    pub fn primary_location(&self) -> String {
        exec::gid("Location", self.lock().primary_location)
    }

    /// Adds a location; items get no level there unless [`FakeShopify::stock_at`] adds one.
    pub fn add_location(&self, name: &str) -> String {
        let mut shop = self.lock();
        let id = shop.next_id();
        shop.locations.push(Location {
            id,
            name: name.to_owned(),
            active: true,
        });
        exec::gid("Location", id)
    }

    /// Adds a product with one variant, tracked and stocked at the primary location.
    pub fn add_variant(&self, sku: &str, price: &str, available: i64) -> VariantIds {
        let ids = self.add_product(&format!("Product {sku}"), &[(sku, price, available)]);
        ids.into_iter().next().expect("one variant")
    }

    /// Adds a product with several variants `(sku, price, available)`.
    pub fn add_product(&self, title: &str, variants: &[(&str, &str, i64)]) -> Vec<VariantIds> {
        let mut shop = self.lock();
        let product = shop.next_id();
        let location = shop.primary_location;
        let at = shop.tick();
        variants
            .iter()
            .map(|(sku, price, available)| {
                let id = shop.next_id();
                let item = shop.next_id();
                let mut levels = std::collections::BTreeMap::new();
                levels.insert(location, Level::new(*available, at));
                shop.variants.insert(
                    id,
                    Variant {
                        id,
                        product_id: product,
                        product_title: title.to_owned(),
                        title: format!("Variant {sku}"),
                        sku: (!sku.is_empty()).then(|| (*sku).to_owned()),
                        price: price.parse().expect("a decimal price"),
                        inventory_item_id: item,
                        tracked: true,
                        requires_components: false,
                        levels,
                        updated_at: at,
                        item_updated_at: at,
                    },
                );
                shop.by_item.insert(item, id);
                VariantIds {
                    variant: exec::gid("ProductVariant", id),
                    product: exec::gid("Product", product),
                    inventory_item: exec::gid("InventoryItem", item),
                }
            })
            .collect()
    }

    /// Fills the shop from generated records: one product per record. `inventory` records
    /// are tracked variants stocked at the primary location, `untracked` ones untracked
    /// variants, `not-stocked` ones tracked variants with no level there, `base` ones
    /// bundles. Returns nothing; look variants up by SKU.
    pub fn populate(&self, records: &[Record]) {
        let mut shop = self.lock();
        let location = shop.primary_location;
        // One moment for the whole catalog, as an import would be.
        let at = shop.tick();
        for r in records {
            let product = shop.next_id();
            let id = shop.next_id();
            let item = shop.next_id();
            let available = r.quantity.unwrap_or(0);
            let mut levels = std::collections::BTreeMap::new();
            if r.kind != ItemKind::NotStocked {
                levels.insert(location, Level::new(available, at));
            }
            shop.variants.insert(
                id,
                Variant {
                    id,
                    product_id: product,
                    product_title: r.name.to_string(),
                    title: "Default Title".into(),
                    sku: Some(r.sku.to_string()),
                    price: r.price.unwrap_or_default(),
                    inventory_item_id: item,
                    tracked: r.kind != ItemKind::Untracked,
                    requires_components: r.kind == ItemKind::Base,
                    levels,
                    updated_at: at,
                    item_updated_at: at,
                },
            );
            shop.by_item.insert(item, id);
        }
    }

    /// Adds a product with one untracked variant (`inventoryItem.tracked: false`): sold,
    /// its stock not counted. Shopify keeps the level it had; invsync reads none of it.
    pub fn add_untracked_variant(&self, sku: &str, price: &str) -> VariantIds {
        let ids = self.add_variant(sku, price, 0);
        self.set_tracked(sku, false);
        ids
    }

    /// Adds a product with one tracked variant that is not stocked at the primary
    /// location: `inventoryItem.inventoryLevel(locationId:)` answers `null` there.
    pub fn add_unstocked_variant(&self, sku: &str, price: &str) -> VariantIds {
        let ids = self.add_variant(sku, price, 0);
        self.unstock(sku);
        ids
    }

    /// Changes the variant with this SKU, as an admin would, at the shop's clock (`at`).
    fn with_variant(&self, sku: &str, f: impl FnOnce(&mut Variant, u64, DateTime<Utc>)) {
        let mut shop = self.lock();
        let location = shop.primary_location;
        let id = shop
            .variant_by_sku(sku)
            .map(|v| v.id)
            .unwrap_or_else(|| panic!("the fake has no variant with SKU {sku}"));
        let at = shop.tick();
        if let Some(v) = shop.variants.get_mut(&id) {
            f(v, location, at);
        }
    }

    /// Turns inventory tracking off (an untracked variant: invsync syncs its price only)
    /// or on: a change of the inventory item, not of the variant.
    pub fn set_tracked(&self, sku: &str, tracked: bool) {
        self.with_variant(sku, |v, _, at| {
            v.tracked = tracked;
            v.item_updated_at = at;
        });
    }

    /// Marks a variant as a bundle (`requiresComponents`).
    pub fn set_bundle(&self, sku: &str) {
        self.with_variant(sku, |v, _, at| {
            v.requires_components = true;
            v.updated_at = at;
        });
    }

    /// Sets the price, as an admin would.
    pub fn set_price(&self, sku: &str, price: &str) {
        self.with_variant(sku, |v, _, at| {
            v.price = price.parse().expect("a decimal price");
            v.updated_at = at;
        });
    }

    /// Deletes the variant (its levels go with it).
    pub fn delete_variant(&self, sku: &str) {
        let mut shop = self.lock();
        let Some((id, item)) = shop
            .variant_by_sku(sku)
            .map(|v| (v.id, v.inventory_item_id))
        else {
            panic!("the fake has no variant with SKU {sku}");
        };
        shop.variants.remove(&id);
        shop.by_item.remove(&item);
    }

    /// Sets `available` (and `on_hand`) at the primary location, as an admin would: the
    /// level's `updatedAt` moves, the variant's does not. A variant not stocked there is
    /// stocked there with it.
    pub fn set_available(&self, sku: &str, available: i64) {
        self.with_variant(sku, |v, location, at| {
            v.levels.insert(location, Level::new(available, at));
        });
    }

    /// Removes the variant's level at the primary location ("not stocked there":
    /// `inventoryLevel(locationId:)` answers `null`, `inventorySetQuantities` refuses with
    /// `ITEM_NOT_STOCKED_AT_LOCATION`). Like a deactivation in Shopify, no `updatedAt`
    /// moves. [`FakeShopify::set_available`] stocks it there again.
    pub fn unstock(&self, sku: &str) {
        self.with_variant(sku, |v, location, _| {
            v.levels.remove(&location);
        });
    }

    /// Gives the variant a level at another location.
    pub fn stock_at(&self, sku: &str, location_gid: &str, available: i64) {
        let location = location_gid
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a Location GID");
        self.with_variant(sku, |v, _, at| {
            v.levels.insert(location, Level::new(available, at));
        });
    }

    /// The variant with this SKU now.
    pub fn variant(&self, sku: &str) -> Option<VariantState> {
        let shop = self.lock();
        let location = shop.primary_location;
        shop.variant_by_sku(sku).map(|v| {
            let level = v.levels.get(&location).copied().unwrap_or_default();
            VariantState {
                id: exec::gid("ProductVariant", v.id),
                sku: v.sku.clone(),
                price: v.price,
                tracked: v.tracked,
                stocked: v.levels.contains_key(&location),
                available: level.available,
                on_hand: level.on_hand,
            }
        })
    }

    /// Every variant now, in id order.
    pub fn variants(&self) -> Vec<VariantState> {
        let skus: Vec<String> = self
            .lock()
            .variants
            .values()
            .filter_map(|v| v.sku.clone())
            .collect();
        skus.iter().filter_map(|s| self.variant(s)).collect()
    }

    /// Adds an order; `lines` are `(sku, quantity, unfulfilled)`. Returns its GID.
    pub fn add_order(&self, lines: &[(&str, i64, i64)], closed: bool, cancelled: bool) -> String {
        let mut shop = self.lock();
        let id = shop.next_id();
        let lines = lines
            .iter()
            .map(|(sku, quantity, unfulfilled)| OrderLine {
                id: shop.next_id(),
                sku: Some((*sku).to_owned()),
                quantity: *quantity,
                unfulfilled: *unfulfilled,
            })
            .collect();
        let name = format!("#{}", 1001 + shop.orders.len());
        let updated_at = shop.tick();
        shop.orders.insert(
            id,
            Order {
                id,
                name,
                closed,
                cancelled,
                lines,
                updated_at,
            },
        );
        exec::gid("Order", id)
    }

    /// Changes an order (by GID) the way the admin or a fulfilment app would: its
    /// `updatedAt` becomes the shop's clock, which moves on.
    fn change_order(&self, order: &str, f: impl FnOnce(&mut Order)) {
        let mut shop = self.lock();
        let id = exec::parse_gid("Order", order)
            .unwrap_or_else(|| panic!("{order} is not an order GID"));
        let now = shop.tick();
        let o = shop
            .orders
            .get_mut(&id)
            .unwrap_or_else(|| panic!("the fake has no order {order}"));
        f(o);
        o.updated_at = now;
    }

    /// Fulfils `quantity` units of `sku` in an order.
    pub fn fulfill(&self, order: &str, sku: &str, quantity: i64) {
        self.change_order(order, |o| {
            let line = o
                .lines
                .iter_mut()
                .find(|l| l.sku.as_deref() == Some(sku))
                .unwrap_or_else(|| panic!("the order has no line with SKU {sku}"));
            line.unfulfilled = (line.unfulfilled - quantity).max(0);
        });
    }

    /// Cancels an order: Shopify restocks and nothing is left to fulfil.
    pub fn cancel_order(&self, order: &str) {
        self.change_order(order, |o| {
            o.cancelled = true;
            o.closed = true;
            for l in &mut o.lines {
                l.unfulfilled = 0;
            }
        });
    }

    /// Archives (closes) an order, fulfilled or not.
    pub fn close_order(&self, order: &str) {
        self.change_order(order, |o| o.closed = true);
    }

    /// A change that touches nothing invsync reads (a note, a tag): only `updatedAt` moves.
    pub fn touch_order(&self, order: &str) {
        self.change_order(order, |_| {});
    }

    /// Adds a line to an order (an order edit).
    pub fn add_order_line(&self, order: &str, sku: &str, quantity: i64) {
        let line = self.lock().next_id();
        self.change_order(order, |o| {
            o.lines.push(OrderLine {
                id: line,
                sku: Some(sku.to_owned()),
                quantity,
                unfulfilled: quantity,
            });
        });
    }

    /// The shop's clock now (what the next change is stamped with).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.lock().clock
    }

    /// Moves the shop's clock on: time passing at Shopify.
    pub fn advance_clock(&self, by: Duration) {
        let mut shop = self.lock();
        shop.clock += chrono::Duration::from_std(by).unwrap_or_default();
    }

    /// A sale now: `available` drops and an open order holds the units.
    pub fn sell(&self, sku: &str, quantity: i64) {
        self.lock().sell(sku, quantity);
    }

    /// A sale that lands when the next mutation arrives, before it runs: the race between
    /// invsync's read and its write, made deterministic.
    pub fn sell_before_next_write(&self, sku: &str, quantity: i64) {
        self.lock()
            .sales_before_next_write
            .push((sku.to_owned(), quantity));
    }

    /// The next request of the operation named `operation` (e.g. `VariantsPage`) is
    /// answered with `data` as given — a recorded answer or a fixture — after the usual
    /// checks (token, schema validation, cost), instead of from the shop's state.
    pub fn answer_next(&self, operation: &str, data: serde_json::Value) {
        self.lock().recorded.push((operation.to_owned(), data));
    }

    /// The next bulk operation's result file is `jsonl` as given, instead of the shop's
    /// variants.
    pub fn answer_next_bulk(&self, jsonl: &str) {
        self.lock().recorded_bulk = Some(jsonl.to_owned());
    }

    /// The next request is answered with this fault instead.
    pub fn inject_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    pub fn set_status(&self, status: ShopStatus) {
        self.lock().status = status;
    }

    pub fn set_limits(&self, limits: Limits) {
        let mut shop = self.lock();
        shop.limits = limits;
        shop.bucket.available = limits.bucket;
    }

    /// How many requests a bulk operation takes to complete after it is created.
    pub fn set_bulk_polls(&self, polls: u32) {
        self.lock().bulk_polls = polls;
    }

    /// Input lines a bulk mutation processes per second (wall time); `0.0` holds every
    /// bulk mutation RUNNING until the rate is raised again.
    pub fn set_bulk_mutation_rate(&self, lines_per_second: f64) {
        self.lock().bulk_mutation_rate = lines_per_second;
    }

    /// The next bulk mutation ends this way instead of COMPLETED.
    pub fn end_next_bulk_mutation(&self, ending: BulkEnding) {
        self.lock().next_bulk_ending = Some(ending);
    }

    /// Bulk mutations `(id, status, clientIdentifier, input lines, lines processed)`, oldest
    /// first.
    pub fn bulk_mutations(&self) -> Vec<BulkMutationState> {
        self.lock()
            .bulk
            .values()
            .filter(|b| b.kind == "MUTATION")
            .map(|b| BulkMutationState {
                id: exec::gid("BulkOperation", b.id),
                status: b.status,
                client_identifier: b.client_identifier.clone(),
                lines: b.inputs.len(),
                done: b.done,
            })
            .collect()
    }

    /// Delay before every GraphQL answer (a distant shop).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.lock().log.clone()
    }

    /// Documents the fake received that did not validate against the schema.
    pub fn invalid_documents(&self) -> Vec<String> {
        self.lock()
            .log
            .iter()
            .filter_map(|l| l.invalid.clone())
            .collect()
    }

    pub fn stats(&self) -> Stats {
        let shop = self.lock();
        Stats {
            requests: shop.log.len(),
            throttled: shop.throttled,
            points_spent: shop.points_spent,
            busy: shop.busy,
            quantity_calls_applied: shop.adjustment_groups,
            idempotent_replays: shop.idempotent_replays,
        }
    }

    /// Writes applied to the variant with this SKU (the first one, if several share it).
    pub fn writes(&self, sku: &str) -> Writes {
        let shop = self.lock();
        let Some(id) = shop.variant_by_sku(sku).map(|v| v.id) else {
            return Writes::default();
        };
        Writes {
            quantity: shop.quantity_writes.get(&id).copied().unwrap_or(0),
            price: shop.price_writes.get(&id).copied().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    async fn post(
        server: &crate::fake::FakeServer,
        token: &str,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        post_to(server, "2026-04", token, query, variables).await
    }

    async fn post_to(
        server: &crate::fake::FakeServer,
        version: &str,
        token: &str,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/admin/api/{version}/graphql.json",
                server.base_url()
            ))
            .header("X-Shopify-Access-Token", token)
            .header("Content-Type", "application/json")
            .body(json!({"query": query, "variables": variables}).to_string())
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    const SET: &str = "mutation($input: InventorySetQuantitiesInput!, $key: String!) { inventorySetQuantities(input: $input) @idempotent(key: $key) { userErrors { code field message } } }";

    #[tokio::test]
    async fn the_fake_enforces_the_documented_rules() {
        let fake = FakeShopify::new("t", Limits::unlimited());
        let ids = fake.add_variant("A", "1.00", 5);
        let location = fake.primary_location();
        let server = fake.serve().await;

        let (status, _) = post(&server, "wrong", "{ shop { id } }", json!({})).await;
        assert_eq!(status, 401);

        let (_, body) = post(
            &server,
            "t",
            "{ productVariants(first: 1) { nodes { skew } } }",
            json!({}),
        )
        .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
        assert_eq!(fake.invalid_documents().len(), 1);

        let (_, body) = post(
            &server,
            "t",
            "{ productVariants(first: 251) { nodes { id } } }",
            json!({}),
        )
        .await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("between 0 and 250")),
            "{body}"
        );
        let (_, body) = post(
            &server,
            "t",
            "{ productVariants { nodes { id } } }",
            json!({}),
        )
        .await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("first or last")),
            "{body}"
        );

        let (_, body) = post(&server, "t", "{ productVariants(first: 250) { nodes { id product { id } inventoryItem { id inventoryLevel(locationId: \"gid://shopify/Location/1\") { quantities(names: [\"available\"]) { quantity } } } } } }", json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "MAX_COST_EXCEEDED",
            "{body}"
        );

        let input = |change: Value| json!({"name": "available", "reason": "correction", "quantities": [{"inventoryItemId": ids.inventory_item, "locationId": location, "quantity": 9, "changeFromQuantity": change}]});
        let unkeyed = "mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { code } } }";
        let (_, body) = post(&server, "t", unkeyed, json!({"input": input(json!(5))})).await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("@idempotent")),
            "{body}"
        );

        let (_, body) = post(
            &server,
            "t",
            SET,
            json!({"input": input(json!(4)), "key": "k1"}),
        )
        .await;
        assert_eq!(
            body["data"]["inventorySetQuantities"]["userErrors"][0]["code"],
            "CHANGE_FROM_QUANTITY_STALE"
        );
        assert_eq!(fake.variant("A").expect("A").available, 5);
        let (_, body) = post(
            &server,
            "t",
            SET,
            json!({"input": input(json!(5)), "key": "k2"}),
        )
        .await;
        assert_eq!(
            body["data"]["inventorySetQuantities"]["userErrors"],
            json!([])
        );
        assert_eq!(fake.variant("A").expect("A").available, 9);
        let (_, body) = post(
            &server,
            "t",
            SET,
            json!({"input": input(json!(5)), "key": "k2"}),
        )
        .await;
        assert_eq!(
            body["data"]["inventorySetQuantities"]["userErrors"],
            json!([]),
            "a replay returns the original result"
        );
        let (_, body) = post(
            &server,
            "t",
            SET,
            json!({"input": input(json!(9)), "key": "k2"}),
        )
        .await;
        assert_eq!(
            body["data"]["inventorySetQuantities"]["userErrors"][0]["code"],
            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
        );
        assert_eq!(fake.variant("A").expect("A").available, 9);
        assert!(body["extensions"]["cost"]["throttleStatus"]["restoreRate"].is_number());

        // Before 2026-01 the field and the directive do not exist; compareQuantity is the
        // check there.
        let (_, body) = post_to(
            &server,
            "2025-10",
            "t",
            SET,
            json!({"input": input(json!(9)), "key": "k3"}),
        )
        .await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("idempotent")),
            "{body}"
        );
        let old_style = |compare: i64| json!({"input": {"name": "available", "reason": "correction", "quantities": [{"inventoryItemId": ids.inventory_item, "locationId": location, "quantity": 3, "compareQuantity": compare}]}});
        let (_, body) = post_to(&server, "2025-10", "t", unkeyed, old_style(8)).await;
        assert_eq!(
            body["data"]["inventorySetQuantities"]["userErrors"][0]["code"],
            "COMPARE_QUANTITY_STALE"
        );
        let (_, body) = post_to(&server, "2025-10", "t", unkeyed, old_style(9)).await;
        assert_eq!(
            body["data"]["inventorySetQuantities"]["userErrors"],
            json!([])
        );
        assert_eq!(fake.variant("A").expect("A").available, 3);
    }

    const STAGE: &str = "mutation($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) { stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }";
    const RUN: &str = "mutation($mutation: String!, $path: String!, $client: String) { bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $path, clientIdentifier: $client) { bulkOperation { id status } userErrors { code field message } } }";
    const PRICES: &str = "mutation($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $productId, variants: $variants, allowPartialUpdates: true) { productVariants { id price } userErrors { code field message } } }";
    const POLL: &str = "query($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl type } } }";
    const CURRENT: &str = "{ currentBulkOperation(type: MUTATION) { id status type } }";

    /// Stages `jsonl` the way Shopify documents it (the issued fields, then the file, as
    /// multipart/form-data) and returns the staged upload path.
    async fn stage(server: &crate::fake::FakeServer, version: &str, jsonl: &str) -> String {
        let (_, body) = post_to(
            server,
            version,
            "t",
            STAGE,
            json!({"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "vars.jsonl", "mimeType": "text/jsonl", "httpMethod": "POST"}]}),
        )
        .await;
        let target = &body["data"]["stagedUploadsCreate"]["stagedTargets"][0];
        assert_eq!(upload_staged(target, jsonl).await, 201);
        target["parameters"][0]["value"]
            .as_str()
            .expect("the key")
            .to_owned()
    }

    async fn run(server: &crate::fake::FakeServer, version: &str, path: &str) -> Value {
        let (_, body) = post_to(
            server,
            version,
            "t",
            RUN,
            json!({"mutation": PRICES, "path": path, "client": "invsync-test-0001"}),
        )
        .await;
        body["data"]["bulkOperationRunMutation"].clone()
    }

    async fn poll_until_done(server: &crate::fake::FakeServer, id: &str) -> Value {
        for _ in 0..200 {
            let (_, body) = post(server, "t", POLL, json!({"id": id})).await;
            let op = body["data"]["node"].clone();
            if !matches!(op["status"].as_str(), Some("CREATED" | "RUNNING")) {
                return op;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the bulk operation never finished");
    }

    fn line(ids: &VariantIds, price: &str) -> String {
        json!({"productId": ids.product, "variants": [{"id": ids.variant, "price": price}]})
            .to_string()
    }

    #[tokio::test]
    async fn bulk_mutations_run_each_line_and_report_it_on_its_own_line() {
        let fake = FakeShopify::new("t", Limits::standard());
        let a = fake.add_variant("A", "1.00", 5);
        let b = fake.add_variant("B", "2.00", 5);
        let server = fake.serve().await;
        let bad = json!({"productId": b.product, "variants": [{"id": b.variant, "price": "-1"}]})
            .to_string();
        let path = stage(
            &server,
            "2025-01",
            &format!("{}\n{bad}\n", line(&a, "1.50")),
        )
        .await;
        let spent = fake.stats().points_spent;
        let ran = run(&server, "2025-01", &path).await;
        assert_eq!(ran["userErrors"], json!([]), "{ran}");
        let id = ran["bulkOperation"]["id"].as_str().expect("id").to_owned();
        assert_eq!(ran["bulkOperation"]["status"], "CREATED");
        let (_, current) = post(&server, "t", CURRENT, json!({})).await;
        assert_eq!(current["data"]["currentBulkOperation"]["id"], id.as_str());
        assert_eq!(current["data"]["currentBulkOperation"]["type"], "MUTATION");
        let op = poll_until_done(&server, &id).await;
        assert_eq!(op["status"], "COMPLETED", "{op}");
        assert_eq!(op["objectCount"], "2");
        let lines = reqwest::get(op["url"].as_str().expect("url"))
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let lines: Vec<Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0]["__lineNumber"], 0);
        assert_eq!(
            lines[0]["data"]["productVariantsBulkUpdate"]["productVariants"][0]["price"],
            "1.50"
        );
        assert_eq!(lines[1]["__lineNumber"], 1);
        assert_eq!(
            lines[1]["data"]["productVariantsBulkUpdate"]["userErrors"][0]["code"],
            "NEGATIVE_PRICE_VALUE"
        );
        assert_eq!(fake.variant("A").expect("A").price.to_string(), "1.50");
        assert_eq!(fake.variant("B").expect("B").price.to_string(), "2.00");
        assert_eq!(
            fake.bulk_mutations()[0].client_identifier.as_deref(),
            Some("invsync-test-0001")
        );
        // The lines spend nothing of the app's bucket: only the calls around them do.
        assert!(
            fake.stats().points_spent - spent < 40.0,
            "{}",
            fake.stats().points_spent - spent
        );
    }

    #[tokio::test]
    async fn one_bulk_mutation_at_a_time_before_2026_01_five_from_then() {
        let fake = FakeShopify::new("t", Limits::unlimited());
        let a = fake.add_variant("A", "1.00", 5);
        fake.set_bulk_mutation_rate(0.0);
        let server = fake.serve().await;
        let path = stage(&server, "2025-01", &line(&a, "2.00")).await;
        let first = run(&server, "2025-01", &path).await;
        let id = first["bulkOperation"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let second = run(&server, "2025-01", &path).await;
        assert_eq!(second["bulkOperation"], Value::Null);
        assert_eq!(second["userErrors"][0]["code"], "OPERATION_IN_PROGRESS");
        assert!(
            second["userErrors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&id)),
            "{second}"
        );
        // Refusals of the file and of the mutation.
        let (_, nofile) = post_to(
            &server,
            "2026-04",
            "t",
            RUN,
            json!({"mutation": PRICES, "path": "tmp/none"}),
        )
        .await;
        assert_eq!(
            nofile["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"],
            "NO_SUCH_FILE"
        );
        let two = "mutation($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { a: productVariantsBulkUpdate(productId: $productId, variants: $variants) { userErrors { message } } b: productVariantsBulkUpdate(productId: $productId, variants: $variants) { userErrors { message } } }";
        let (_, invalid) = post_to(
            &server,
            "2026-04",
            "t",
            RUN,
            json!({"mutation": two, "path": path}),
        )
        .await;
        assert_eq!(
            invalid["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"],
            "INVALID_MUTATION",
            "{invalid}"
        );
        for _ in 0..4 {
            let more = run(&server, "2026-01", &path).await;
            assert_eq!(more["userErrors"], json!([]), "{more}");
        }
        let sixth = run(&server, "2026-01", &path).await;
        assert_eq!(sixth["userErrors"][0]["code"], "OPERATION_IN_PROGRESS");
        // Only mutations count: a bulk query still runs beside them.
        let (_, q) = post(&server, "t", "mutation { bulkOperationRunQuery(query: \"{ productVariants { edges { node { id } } } }\") { bulkOperation { id } userErrors { message } } }", json!({})).await;
        assert_eq!(
            q["data"]["bulkOperationRunQuery"]["userErrors"],
            json!([]),
            "{q}"
        );
    }

    #[tokio::test]
    async fn a_failed_or_cancelled_bulk_mutation_leaves_partial_data_and_an_expired_one_none() {
        let fake = FakeShopify::new("t", Limits::unlimited());
        let ids: Vec<VariantIds> = (0..4)
            .map(|i| fake.add_variant(&format!("S-{i}"), "1.00", 1))
            .collect();
        let server = fake.serve().await;
        let jsonl: String = ids.iter().map(|v| line(v, "3.00") + "\n").collect();

        fake.end_next_bulk_mutation(BulkEnding::Fail {
            after_lines: 2,
            code: "TIMEOUT",
        });
        let path = stage(&server, "2025-01", &jsonl).await;
        let ran = run(&server, "2025-01", &path).await;
        let op = poll_until_done(&server, ran["bulkOperation"]["id"].as_str().expect("id")).await;
        assert_eq!(
            (op["status"].as_str(), op["errorCode"].as_str()),
            (Some("FAILED"), Some("TIMEOUT"))
        );
        assert_eq!(op["url"], Value::Null);
        let partial = reqwest::get(op["partialDataUrl"].as_str().expect("partial"))
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert_eq!(partial.lines().count(), 2);
        assert_eq!(fake.variant("S-1").expect("S-1").price.to_string(), "3.00");
        assert_eq!(fake.variant("S-2").expect("S-2").price.to_string(), "1.00");

        fake.end_next_bulk_mutation(BulkEnding::Cancel { after_lines: 1 });
        let path = stage(&server, "2025-01", &jsonl).await;
        let ran = run(&server, "2025-01", &path).await;
        let op = poll_until_done(&server, ran["bulkOperation"]["id"].as_str().expect("id")).await;
        assert_eq!(op["status"], "CANCELED");
        assert!(op["partialDataUrl"].is_string());

        fake.end_next_bulk_mutation(BulkEnding::Expire);
        let path = stage(&server, "2025-01", &jsonl).await;
        let ran = run(&server, "2025-01", &path).await;
        let op = poll_until_done(&server, ran["bulkOperation"]["id"].as_str().expect("id")).await;
        assert_eq!(op["status"], "EXPIRED");
        assert_eq!(
            (op["url"].clone(), op["partialDataUrl"].clone()),
            (Value::Null, Value::Null)
        );
    }

    #[tokio::test]
    async fn a_staged_upload_must_carry_the_issued_fields_before_the_file() {
        let fake = FakeShopify::new("t", Limits::unlimited());
        let server = fake.serve().await;
        let (_, body) = post(&server, "t", STAGE, json!({"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "v.jsonl", "mimeType": "text/jsonl", "httpMethod": "POST"}]})).await;
        let target = &body["data"]["stagedUploadsCreate"]["stagedTargets"][0];
        // A catalog's worth of variables (megabytes) is taken.
        assert_eq!(upload_staged(target, &"{}\n".repeat(2_000_000)).await, 201);
        let key_only = json!({"url": target["url"], "parameters": [target["parameters"][0]]});
        assert_eq!(
            upload_staged(&key_only, "{}").await,
            400,
            "the policy fields are missing"
        );
    }

    #[tokio::test]
    async fn an_empty_bucket_throttles() {
        let fake = FakeShopify::new(
            "t",
            Limits {
                bucket: 100.0,
                restore_rate: 1.0,
                max_query_cost: 1000,
                throttle_status: 200,
            },
        );
        for i in 0..40 {
            fake.add_variant(&format!("S-{i}"), "1.00", 5);
        }
        let server = fake.serve().await;
        let q = "{ productVariants(first: 45) { nodes { id product { id } } } }";
        let (_, first) = post(&server, "t", q, json!({})).await;
        assert_eq!(
            first["extensions"]["cost"]["requestedQueryCost"], 92.0,
            "2 + 45 × 2"
        );
        assert_eq!(
            first["extensions"]["cost"]["actualQueryCost"], 82.0,
            "2 + 40 × 2"
        );
        let (status, body) = post(&server, "t", q, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "THROTTLED",
            "{body}"
        );
        assert!(body.get("data").is_none());
        assert!(body["extensions"]["cost"]["actualQueryCost"].is_null());
        assert_eq!(fake.stats().throttled, 1);
    }
}
