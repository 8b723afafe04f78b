//! The fake shop's data: products and variants with inventory levels, locations, orders,
//! bulk operations, idempotency records, the cost bucket, and what tests inject.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Rate limits of one app on one shop (docs/platform-apis.md §1, "Rate limiting").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The bucket size: `throttleStatus.maximumAvailable`.
    pub bucket: f64,
    /// Points restored per second: `throttleStatus.restoreRate`.
    pub restore_rate: f64,
    /// "A single query to the API cannot exceed a cost of 1000."
    pub max_query_cost: u32,
    /// The HTTP status of a THROTTLED response: 200 (what Shopify is reported to send for
    /// GraphQL) or 429 (what some community reports show); clients must handle both.
    pub throttle_status: u16,
}

impl Limits {
    /// Standard plan: restore 100 points/s (current shopify.dev rate-limits table), bucket
    /// 1000 (the bucket size of the older docs; the current table gives only rates).
    pub fn standard() -> Limits {
        Limits {
            bucket: 1000.0,
            restore_rate: 100.0,
            max_query_cost: 1000,
            throttle_status: 200,
        }
    }

    /// The older documented limits: bucket 1000, restore 50/s.
    pub fn legacy() -> Limits {
        Limits {
            restore_rate: 50.0,
            ..Limits::standard()
        }
    }

    /// Effectively unlimited (for tests that are not about rate limits).
    pub fn unlimited() -> Limits {
        Limits {
            bucket: 1e12,
            restore_rate: 1e12,
            max_query_cost: 1000,
            throttle_status: 200,
        }
    }
}

/// Whether the shop answers at all (docs: shopify.dev/docs/api/usage/response-codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShopStatus {
    #[default]
    Active,
    /// 402 Payment Required: the shop is frozen until its owner pays.
    Frozen,
    /// 423 Locked: the shop is locked (e.g. fraud risk, repeated abuse of rate limits).
    Locked,
}

/// A canned failure for the next request(s).
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
}

/// One inventory level: the quantities of one item at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    pub available: i64,
    pub on_hand: i64,
    /// The shop's clock at the level's last quantity change (`InventoryLevel.updatedAt`).
    pub updated_at: DateTime<Utc>,
}

impl Level {
    /// A level holding `available` (and as many on hand), changed at `at`.
    pub fn new(available: i64, at: DateTime<Utc>) -> Level {
        Level {
            available,
            on_hand: available,
            updated_at: at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Variant {
    pub id: u64,
    pub product_id: u64,
    pub product_title: String,
    pub title: String,
    pub sku: Option<String>,
    pub price: Decimal,
    pub inventory_item_id: u64,
    pub tracked: bool,
    /// Bundles: a variant made of components is display-only for invsync.
    pub requires_components: bool,
    /// By location id. An item is "stocked at" a location when it has a level there.
    pub levels: BTreeMap<u64, Level>,
    /// The shop's clock at the variant's last change (`ProductVariant.updatedAt`): price,
    /// SKU, bundle. Like Shopify's, it does not move when only stock changes (ADR 0017).
    pub updated_at: DateTime<Utc>,
    /// The shop's clock at the inventory item's last change (`InventoryItem.updatedAt`):
    /// tracking turned on or off.
    pub item_updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub id: u64,
    pub name: String,
    pub active: bool,
}

/// Where the shop's clock starts.
const START_CLOCK: &str = "2026-11-28T10:00:00Z";

#[derive(Debug, Clone)]
pub struct OrderLine {
    pub id: u64,
    pub sku: Option<String>,
    pub quantity: i64,
    pub unfulfilled: i64,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: u64,
    pub name: String,
    pub closed: bool,
    pub cancelled: bool,
    pub lines: Vec<OrderLine>,
    /// The shop's clock at the order's last change (`updatedAt`).
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct BulkOperation {
    pub id: u64,
    /// `QUERY` (`bulkOperationRunQuery`) or `MUTATION` (`bulkOperationRunMutation`).
    pub kind: &'static str,
    pub query: String,
    pub status: &'static str,
    /// `BulkOperationErrorCode` of a FAILED operation.
    pub error_code: Option<&'static str>,
    /// The result file: a query's nodes, or one result line per input line processed so
    /// far (a mutation's; what is there when it fails or is cancelled is its partial data).
    pub jsonl: String,
    pub object_count: u64,
    pub root_object_count: u64,
    /// Polls left before a query operation reports COMPLETED.
    pub polls_left: u32,
    /// `http://host:port` of the request that created it, for the result URL.
    pub origin: String,
    /// `clientIdentifier` given to `bulkOperationRunMutation`.
    pub client_identifier: Option<String>,
    /// A mutation's work: the variables of every input line, how many are processed, the
    /// API version it was started with, and when it started running.
    pub inputs: Vec<Value>,
    pub done: usize,
    pub version: String,
    pub running_since: Option<Instant>,
    /// The shop's clock when it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// How a test made it end (`FakeShopify::end_next_bulk_mutation`).
    pub ending: Option<BulkEnding>,
}

/// How the next bulk mutation ends, for tests: Shopify's documented terminal states other
/// than COMPLETED (shopify.dev/docs/api/admin-graphql/2025-01/enums/BulkOperationStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkEnding {
    /// FAILED with this `errorCode` (`ACCESS_DENIED`, `INTERNAL_SERVER_ERROR`, `TIMEOUT`)
    /// after this many lines were processed; their results are its `partialDataUrl`.
    Fail {
        after_lines: usize,
        code: &'static str,
    },
    /// CANCELED (e.g. by `bulkOperationCancel` or the merchant) after this many lines.
    Cancel { after_lines: usize },
    /// Completes, but its result file is gone by the time anyone asks (EXPIRED: no `url`).
    Expire,
}

/// A staged upload target issued by `stagedUploadsCreate`.
#[derive(Debug, Clone)]
pub struct StagedUpload {
    /// The form fields the upload must carry, in order, before the `file` part.
    pub parameters: Vec<(String, String)>,
    pub file: Option<String>,
}

/// Lines per second of a bulk mutation unless a test sets another rate. Shopify documents
/// no rate; this one (about 6 minutes for 100,000 price updates) is an assumption the
/// benchmark states next to its numbers.
pub const DEFAULT_BULK_MUTATION_RATE: f64 = 300.0;

/// One request the fake received, for tests to inspect.
#[derive(Debug, Clone)]
pub struct RequestLog {
    pub path: String,
    /// Whether an `X-Shopify-Access-Token` header was sent (its value is never logged).
    pub had_token: bool,
    pub query: Option<String>,
    pub variables: Option<Value>,
    /// The response's HTTP status.
    pub status: u16,
    /// The top-level GraphQL error codes of the response (`THROTTLED`, …).
    pub error_codes: Vec<String>,
    /// Validation errors of the document, if it was invalid.
    pub invalid: Option<String>,
}

/// The stored result of a mutation sent with `@idempotent(key:)`.
#[derive(Debug, Clone)]
pub(crate) struct IdempotentRecord {
    pub fingerprint: String,
    pub outcome: super::exec::SetQuantitiesOutcome,
}

pub(crate) struct Bucket {
    pub available: f64,
    pub at: Instant,
}

/// Everything behind the fake's lock.
pub(crate) struct Shop {
    pub token: String,
    pub limits: Limits,
    pub status: ShopStatus,
    pub variants: BTreeMap<u64, Variant>,
    pub by_item: HashMap<u64, u64>,
    pub locations: Vec<Location>,
    pub primary_location: u64,
    pub orders: BTreeMap<u64, Order>,
    /// The shop's clock (Shopify's, not the test's): it stamps `updatedAt` and moves on a
    /// second with every change, and tests move it further.
    pub clock: DateTime<Utc>,
    pub bulk: BTreeMap<u64, BulkOperation>,
    pub bulk_polls: u32,
    /// Input lines a bulk mutation processes per second of wall time (Shopify's side; no
    /// cost points). `0.0` holds every bulk mutation RUNNING.
    pub bulk_mutation_rate: f64,
    pub next_bulk_ending: Option<BulkEnding>,
    /// Staged uploads by path (`key`): the form parameters issued, and the file once
    /// uploaded.
    pub staged: HashMap<String, StagedUpload>,
    pub idempotency: HashMap<String, IdempotentRecord>,
    /// Mutations answered from `idempotency` without applying anything again.
    pub idempotent_replays: u64,
    /// Quantity sets and price sets applied, per variant id: a write applied twice shows.
    pub quantity_writes: HashMap<u64, u64>,
    pub price_writes: HashMap<u64, u64>,
    pub adjustment_groups: u64,
    pub bucket: Bucket,
    pub faults: VecDeque<Fault>,
    /// Answers given as they were recorded or written down (fixtures): the next request of
    /// the named operation gets `data` (validated and charged like any request), and the
    /// next bulk operation's result is `recorded_bulk`, instead of what the shop holds.
    pub recorded: Vec<(String, Value)>,
    pub recorded_bulk: Option<String>,
    /// `Retry-After` of the fault being answered.
    pub faults_retry_after: Option<String>,
    /// Sales applied when the next mutation arrives: "a customer bought this between
    /// invsync's read and its write".
    pub sales_before_next_write: Vec<(String, i64)>,
    pub log: Vec<RequestLog>,
    pub next_id: u64,
    pub throttled: u64,
    pub points_spent: f64,
    pub latency: Duration,
    /// Time spent handling requests (benchmarks subtract it from the wall time).
    pub busy: Duration,
}

impl Shop {
    pub fn new(token: &str, limits: Limits) -> Shop {
        let primary = 1;
        Shop {
            token: token.to_owned(),
            limits,
            status: ShopStatus::Active,
            variants: BTreeMap::new(),
            by_item: HashMap::new(),
            locations: vec![Location {
                id: primary,
                name: "Shop location".into(),
                active: true,
            }],
            primary_location: primary,
            orders: BTreeMap::new(),
            clock: DateTime::parse_from_rfc3339(START_CLOCK)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            bulk: BTreeMap::new(),
            bulk_polls: 1,
            bulk_mutation_rate: DEFAULT_BULK_MUTATION_RATE,
            next_bulk_ending: None,
            staged: HashMap::new(),
            idempotency: HashMap::new(),
            idempotent_replays: 0,
            quantity_writes: HashMap::new(),
            price_writes: HashMap::new(),
            adjustment_groups: 0,
            bucket: Bucket {
                available: limits.bucket,
                at: Instant::now(),
            },
            faults: VecDeque::new(),
            recorded: Vec::new(),
            recorded_bulk: None,
            faults_retry_after: None,
            sales_before_next_write: Vec::new(),
            log: Vec::new(),
            next_id: 1000,
            throttled: 0,
            points_spent: 0.0,
            latency: Duration::ZERO,
            busy: Duration::ZERO,
        }
    }

    /// The time of a change happening now: the clock, which then moves on a second so the
    /// next change is later.
    pub fn tick(&mut self) -> DateTime<Utc> {
        let now = self.clock;
        self.clock += chrono::Duration::seconds(1);
        now
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn variant_by_sku(&self, sku: &str) -> Option<&Variant> {
        self.variants.values().find(|v| {
            v.sku
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(sku))
        })
    }

    /// A sale of `quantity` units of `sku` at the primary location: `available` drops
    /// (Shopify moves the units to `committed`; `on_hand` drops only at fulfilment), and an
    /// open, unfulfilled order holds them.
    pub fn sell(&mut self, sku: &str, quantity: i64) {
        let location = self.primary_location;
        let Some(id) = self.variant_by_sku(sku).map(|v| v.id) else {
            panic!("the fake has no variant with SKU {sku}");
        };
        let at = self.tick();
        if let Some(v) = self.variants.get_mut(&id) {
            let level = v.levels.entry(location).or_default();
            level.available -= quantity;
            level.updated_at = at;
        }
        let order_id = self.next_id();
        let line_id = self.next_id();
        let name = format!("#{}", 1000 + self.orders.len() + 1);
        let updated_at = self.tick();
        self.orders.insert(
            order_id,
            Order {
                id: order_id,
                name,
                closed: false,
                cancelled: false,
                lines: vec![OrderLine {
                    id: line_id,
                    sku: Some(sku.to_owned()),
                    quantity,
                    unfulfilled: quantity,
                }],
                updated_at,
            },
        );
    }

    /// Refills the bucket for the time passed and returns what is available now.
    pub fn refill(&mut self) -> f64 {
        let now = Instant::now();
        let elapsed = now.duration_since(self.bucket.at).as_secs_f64();
        self.bucket.available =
            (self.bucket.available + elapsed * self.limits.restore_rate).min(self.limits.bucket);
        self.bucket.at = now;
        self.bucket.available
    }
}
