//! Executing validated documents against the fake shop with apollo-compiler's resolver
//! API: one `Obj` per GraphQL object type the connector can select. A field the fake does
//! not implement is a field error naming it, so a test notices instead of reading `null`.

use super::state::{BulkOperation, IdempotentRecord, Level, Order, Shop, Variant};
use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::str::FromStr;

/// Connection page size cap: "You can retrieve up to a maximum of 250 resources."
/// (shopify.dev/docs/api/usage/pagination-graphql)
pub const MAX_PAGE: i64 = 250;
/// Input arrays: "Requests return an error if an input array exceeds 250 items."
/// (shopify.dev/docs/api/usage/limits)
pub const MAX_INPUT_ARRAY: usize = 250;

/// Valid `reason` values of inventory mutations (shopify.dev, "possible reasons").
const REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// What one request may do, beyond the document.
pub(crate) struct RequestCtx {
    /// The API version of the endpoint path, e.g. `2026-04`.
    pub version: String,
    /// Raw variables, to read directive arguments given as variables.
    pub variables: serde_json::Map<String, Value>,
    /// `http://host:port` the request came to.
    pub origin: String,
    /// Bulk mode: the inner query of a bulk operation (no page sizes, no caps).
    pub bulk: bool,
}

impl RequestCtx {
    fn at_least(&self, version: &str) -> bool {
        self.version == "unstable" || self.version.as_str() >= version
    }

    /// 2026-04 and later make `changeFromQuantity` and `@idempotent` mandatory.
    fn strict_inventory(&self) -> bool {
        self.at_least("2026-04")
    }

    /// `changeFromQuantity` and `@idempotent` exist from 2026-01.
    fn has_change_from(&self) -> bool {
        self.at_least("2026-01")
    }
}

pub(crate) fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

pub(crate) fn parse_gid(kind: &str, text: &str) -> Option<u64> {
    text.strip_prefix("gid://shopify/")?
        .strip_prefix(kind)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

fn err(message: impl Into<String>) -> FieldError {
    FieldError {
        message: message.into(),
    }
}

fn args(info: &ResolveInfo<'_>) -> Value {
    serde_json::to_value(info.arguments()).unwrap_or(Value::Null)
}

fn leaf<'a>(v: impl Into<apollo_compiler::response::JsonValue>) -> ResolvedValue<'a> {
    ResolvedValue::leaf(v)
}

fn opt_str<'a>(v: Option<&str>) -> ResolvedValue<'a> {
    match v {
        Some(s) => leaf(s),
        None => ResolvedValue::null(),
    }
}

fn objects<'a>(items: Vec<Obj<'a>>) -> ResolvedValue<'a> {
    ResolvedValue::list(items.into_iter().map(ResolvedValue::object))
}

#[derive(Debug, Clone)]
pub(crate) struct UserError {
    pub code: Option<String>,
    pub field: Vec<String>,
    pub message: String,
}

fn user_error(code: Option<&str>, field: &[&str], message: impl Into<String>) -> UserError {
    UserError {
        code: code.map(str::to_owned),
        field: field.iter().map(|s| (*s).to_owned()).collect(),
        message: message.into(),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub name: &'static str,
    pub delta: i64,
    pub after: i64,
    pub item: u64,
    pub location: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct SetQuantitiesOutcome {
    pub group: Option<(u64, String, Vec<Change>)>,
    pub errors: Vec<UserError>,
}

/// One page of a connection: `(cursor, node)` pairs and whether more follow.
pub(crate) struct Page<'a> {
    edge_type: &'static str,
    type_name: &'static str,
    items: Vec<(String, Obj<'a>)>,
    has_next: bool,
    has_previous: bool,
}

pub(crate) enum Obj<'a> {
    Query(&'a Shop, &'a RequestCtx),
    Mutation(&'a RefCell<&'a mut Shop>, &'a RequestCtx),
    Variant(Variant),
    Product(u64, String),
    InventoryItem(Variant),
    InventoryLevel(Variant, u64, Level),
    InventoryQuantity(&'static str, i64),
    Location(u64, String, bool),
    /// A location read from the root (`location(id:)`), which can list its levels.
    LocationIn(&'a Shop, &'a RequestCtx, u64),
    Connection(Page<'a>),
    Edge(&'static str, String, Box<Obj<'a>>),
    PageInfo(bool, bool, Option<String>, Option<String>),
    Order(Order),
    LineItem(super::state::OrderLine),
    Count(u64),
    Bulk(BulkOperation),
    UserError(&'static str, UserError),
    SetQuantitiesPayload(SetQuantitiesOutcome),
    AdjustmentGroup(u64, String, Vec<Change>),
    InventoryChange(Change),
    VariantsBulkUpdatePayload(Option<Vec<Variant>>, Vec<UserError>),
    /// `bulkOperationRunQuery`'s or `bulkOperationRunMutation`'s payload: its type, its
    /// user errors' type, the operation, the errors.
    BulkRunPayload(
        &'static str,
        &'static str,
        Option<BulkOperation>,
        Vec<UserError>,
    ),
    StagedUploadsPayload(Vec<super::bulk::StagedTarget>, Vec<UserError>),
    StagedTarget(super::bulk::StagedTarget),
    StagedParameter(String, String),
}

impl ObjectValue for Obj<'_> {
    fn type_name(&self) -> &str {
        match self {
            Obj::Query(..) => "QueryRoot",
            Obj::Mutation(..) => "Mutation",
            Obj::Variant(_) => "ProductVariant",
            Obj::Product(..) => "Product",
            Obj::InventoryItem(_) => "InventoryItem",
            Obj::InventoryLevel(..) => "InventoryLevel",
            Obj::InventoryQuantity(..) => "InventoryQuantity",
            Obj::Location(..) | Obj::LocationIn(..) => "Location",
            Obj::Connection(p) => p.type_name,
            Obj::Edge(t, ..) => t,
            Obj::PageInfo(..) => "PageInfo",
            Obj::Order(_) => "Order",
            Obj::LineItem(_) => "LineItem",
            Obj::Count(_) => "Count",
            Obj::Bulk(_) => "BulkOperation",
            Obj::UserError(t, _) => t,
            Obj::SetQuantitiesPayload(_) => "InventorySetQuantitiesPayload",
            Obj::AdjustmentGroup(..) => "InventoryAdjustmentGroup",
            Obj::InventoryChange(_) => "InventoryChange",
            Obj::VariantsBulkUpdatePayload(..) => "ProductVariantsBulkUpdatePayload",
            Obj::BulkRunPayload(t, ..) => t,
            Obj::StagedUploadsPayload(..) => "StagedUploadsCreatePayload",
            Obj::StagedTarget(_) => "StagedMediaUploadTarget",
            Obj::StagedParameter(..) => "StagedUploadParameter",
        }
    }

    fn resolve_field<'b>(
        &'b self,
        info: &'b ResolveInfo<'b>,
    ) -> Result<ResolvedValue<'b>, FieldError> {
        let field = info.field_name();
        let unknown = || {
            err(format!(
                "the Shopify fake does not implement {}.{field}",
                self.type_name()
            ))
        };
        match self {
            Obj::Query(shop, ctx) => query_field(shop, ctx, field, info).ok_or_else(unknown)?,
            Obj::Mutation(shop, ctx) => mutation_field(shop, ctx, field, info),
            Obj::Variant(v) => Ok(match field {
                "id" => leaf(gid("ProductVariant", v.id)),
                "legacyResourceId" => leaf(v.id.to_string()),
                "sku" => opt_str(v.sku.as_deref()),
                "title" => leaf(v.title.as_str()),
                "displayName" => leaf(format!("{} - {}", v.product_title, v.title)),
                "price" => leaf(v.price.to_string()),
                "requiresComponents" => leaf(v.requires_components),
                "inventoryQuantity" => leaf(v.levels.values().map(|l| l.available).sum::<i64>()),
                "updatedAt" => leaf(time(v.updated_at)),
                "product" => {
                    ResolvedValue::object(Obj::Product(v.product_id, v.product_title.clone()))
                }
                "inventoryItem" => ResolvedValue::object(Obj::InventoryItem(v.clone())),
                _ => return Err(unknown()),
            }),
            Obj::Product(id, title) => Ok(match field {
                "id" => leaf(gid("Product", *id)),
                "title" => leaf(title.as_str()),
                _ => return Err(unknown()),
            }),
            Obj::InventoryItem(v) => Ok(match field {
                "id" => leaf(gid("InventoryItem", v.inventory_item_id)),
                "tracked" => leaf(v.tracked),
                "sku" => opt_str(v.sku.as_deref()),
                "updatedAt" => leaf(time(v.item_updated_at)),
                "variant" => ResolvedValue::object(Obj::Variant(v.clone())),
                "inventoryLevel" => {
                    let a = args(info);
                    let location = a["locationId"]
                        .as_str()
                        .and_then(|l| parse_gid("Location", l))
                        .ok_or_else(|| err("locationId is not a Location id"))?;
                    match v.levels.get(&location) {
                        Some(level) => {
                            ResolvedValue::object(Obj::InventoryLevel(v.clone(), location, *level))
                        }
                        None => ResolvedValue::null(),
                    }
                }
                _ => return Err(unknown()),
            }),
            Obj::InventoryLevel(v, location, level) => Ok(match field {
                "id" => leaf(format!(
                    "gid://shopify/InventoryLevel/{}?inventory_item_id={}",
                    location, v.inventory_item_id
                )),
                "location" => ResolvedValue::object(Obj::Location(*location, String::new(), true)),
                "item" => ResolvedValue::object(Obj::InventoryItem(v.clone())),
                "updatedAt" => leaf(time(level.updated_at)),
                "quantities" => {
                    let a = args(info);
                    let mut out = Vec::new();
                    for name in a["names"].as_array().into_iter().flatten() {
                        let (name, q) = match name.as_str() {
                            Some("available") => ("available", level.available),
                            Some("on_hand") => ("on_hand", level.on_hand),
                            Some("committed") => ("committed", level.on_hand - level.available),
                            Some(other) => {
                                return Err(err(format!(
                                    "the fake knows the quantity names available, on_hand and committed, not {other}"
                                )));
                            }
                            None => continue,
                        };
                        out.push(Obj::InventoryQuantity(name, q));
                    }
                    objects(out)
                }
                _ => return Err(unknown()),
            }),
            Obj::InventoryQuantity(name, q) => Ok(match field {
                "name" => leaf(*name),
                "quantity" => leaf(*q),
                _ => return Err(unknown()),
            }),
            Obj::Location(id, name, active) => Ok(match field {
                "id" => leaf(gid("Location", *id)),
                "name" => leaf(name.as_str()),
                "isActive" => leaf(*active),
                _ => return Err(unknown()),
            }),
            Obj::LocationIn(shop, ctx, id) => {
                let location = shop.locations.iter().find(|l| l.id == *id);
                Ok(match field {
                    "id" => leaf(gid("Location", *id)),
                    "name" => opt_str(location.map(|l| l.name.as_str())),
                    "isActive" => leaf(location.is_some_and(|l| l.active)),
                    "inventoryLevels" => return inventory_levels(shop, ctx, *id, &args(info)),
                    _ => return Err(unknown()),
                })
            }
            Obj::Connection(page) => Ok(match field {
                "nodes" => ResolvedValue::list(
                    page.items
                        .iter()
                        .map(|(_, o)| ResolvedValue::object(o.shallow())),
                ),
                "edges" => ResolvedValue::list(page.items.iter().map(|(c, o)| {
                    ResolvedValue::object(Obj::Edge(
                        page.edge_type,
                        c.clone(),
                        Box::new(o.shallow()),
                    ))
                })),
                "pageInfo" => ResolvedValue::object(Obj::PageInfo(
                    page.has_next,
                    page.has_previous,
                    page.items.first().map(|(c, _)| c.clone()),
                    page.items.last().map(|(c, _)| c.clone()),
                )),
                _ => return Err(unknown()),
            }),
            Obj::Edge(_, cursor, node) => Ok(match field {
                "cursor" => leaf(cursor.as_str()),
                "node" => ResolvedValue::object(node.shallow()),
                _ => return Err(unknown()),
            }),
            Obj::PageInfo(next, previous, start, end) => Ok(match field {
                "hasNextPage" => leaf(*next),
                "hasPreviousPage" => leaf(*previous),
                "startCursor" => opt_str(start.as_deref()),
                "endCursor" => opt_str(end.as_deref()),
                _ => return Err(unknown()),
            }),
            Obj::Order(o) => Ok(match field {
                "id" => leaf(gid("Order", o.id)),
                "name" => leaf(o.name.as_str()),
                "closed" => leaf(o.closed),
                "cancelledAt" => {
                    if o.cancelled {
                        leaf("2026-01-01T00:00:00Z")
                    } else {
                        ResolvedValue::null()
                    }
                }
                "updatedAt" => leaf(time(o.updated_at)),
                "displayFulfillmentStatus" => leaf(fulfillment_status(o)),
                "lineItems" => {
                    let lines: Vec<(u64, Obj<'_>)> = o
                        .lines
                        .iter()
                        .map(|l| (l.id, Obj::LineItem(l.clone())))
                        .collect();
                    ResolvedValue::object(Obj::Connection(page(
                        "LineItemConnection",
                        "LineItemEdge",
                        lines,
                        &args(info),
                        false,
                    )?))
                }
                _ => return Err(unknown()),
            }),
            Obj::LineItem(l) => Ok(match field {
                "id" => leaf(gid("LineItem", l.id)),
                "sku" => opt_str(l.sku.as_deref()),
                "quantity" => leaf(l.quantity),
                "currentQuantity" => leaf(l.quantity),
                "unfulfilledQuantity" => leaf(l.unfulfilled),
                _ => return Err(unknown()),
            }),
            Obj::Count(n) => Ok(match field {
                "count" => leaf(i64::try_from(*n).unwrap_or(i64::MAX)),
                "precision" => leaf("EXACT"),
                _ => return Err(unknown()),
            }),
            Obj::Bulk(b) => Ok(match field {
                "id" => leaf(gid("BulkOperation", b.id)),
                "status" => leaf(b.status),
                "query" => leaf(b.query.as_str()),
                "type" => leaf(b.kind),
                "errorCode" => opt_str(b.error_code),
                "objectCount" => leaf(b.object_count.to_string()),
                "rootObjectCount" => leaf(b.root_object_count.to_string()),
                "fileSize" => leaf(b.jsonl.len().to_string()),
                "createdAt" => leaf("2026-01-01T00:00:00Z"),
                "completedAt" if matches!(b.status, "CREATED" | "RUNNING" | "CANCELING") => {
                    ResolvedValue::null()
                }
                "completedAt" => match b.completed_at {
                    Some(t) => leaf(time(t)),
                    None => leaf("2026-01-01T00:00:01Z"),
                },
                "url" if b.status == "COMPLETED" => {
                    leaf(format!("{}/bulk/{}.jsonl", b.origin, b.id))
                }
                // What a failed or cancelled operation did before it stopped.
                "partialDataUrl" if matches!(b.status, "FAILED" | "CANCELED") && b.done > 0 => {
                    leaf(format!("{}/bulk/{}.partial.jsonl", b.origin, b.id))
                }
                "url" | "partialDataUrl" => ResolvedValue::null(),
                _ => return Err(unknown()),
            }),
            Obj::UserError(_, e) => Ok(match field {
                "code" => opt_str(e.code.as_deref()),
                "field" => {
                    if e.field.is_empty() {
                        ResolvedValue::null()
                    } else {
                        ResolvedValue::list(e.field.iter().map(|f| leaf(f.as_str())))
                    }
                }
                "message" => leaf(e.message.as_str()),
                _ => return Err(unknown()),
            }),
            Obj::SetQuantitiesPayload(outcome) => Ok(match field {
                "inventoryAdjustmentGroup" => match &outcome.group {
                    Some((id, reason, changes)) => ResolvedValue::object(Obj::AdjustmentGroup(
                        *id,
                        reason.clone(),
                        changes.clone(),
                    )),
                    None => ResolvedValue::null(),
                },
                "userErrors" => objects(
                    outcome
                        .errors
                        .iter()
                        .map(|e| Obj::UserError("InventorySetQuantitiesUserError", e.clone()))
                        .collect(),
                ),
                _ => return Err(unknown()),
            }),
            Obj::AdjustmentGroup(id, reason, changes) => Ok(match field {
                "id" => leaf(gid("InventoryAdjustmentGroup", *id)),
                "reason" => leaf(reason.as_str()),
                "changes" => objects(changes.iter().cloned().map(Obj::InventoryChange).collect()),
                _ => return Err(unknown()),
            }),
            Obj::InventoryChange(c) => Ok(match field {
                "name" => leaf(c.name),
                "delta" => leaf(c.delta),
                "quantityAfterChange" => leaf(c.after),
                "item" => {
                    let mut v = Variant {
                        id: 0,
                        product_id: 0,
                        product_title: String::new(),
                        title: String::new(),
                        sku: None,
                        price: Decimal::ZERO,
                        inventory_item_id: c.item,
                        tracked: true,
                        requires_components: false,
                        levels: Default::default(),
                        updated_at: DateTime::default(),
                        item_updated_at: DateTime::default(),
                    };
                    v.levels.insert(c.location, Level::default());
                    ResolvedValue::object(Obj::InventoryItem(v))
                }
                "location" => ResolvedValue::object(Obj::Location(c.location, String::new(), true)),
                _ => return Err(unknown()),
            }),
            Obj::VariantsBulkUpdatePayload(variants, errors) => Ok(match field {
                "productVariants" => match variants {
                    Some(vs) => objects(vs.iter().cloned().map(Obj::Variant).collect()),
                    None => ResolvedValue::null(),
                },
                "userErrors" => objects(
                    errors
                        .iter()
                        .map(|e| Obj::UserError("ProductVariantsBulkUpdateUserError", e.clone()))
                        .collect(),
                ),
                _ => return Err(unknown()),
            }),
            Obj::StagedUploadsPayload(targets, errors) => Ok(match field {
                "stagedTargets" => {
                    objects(targets.iter().cloned().map(Obj::StagedTarget).collect())
                }
                "userErrors" => objects(
                    errors
                        .iter()
                        .map(|e| Obj::UserError("UserError", e.clone()))
                        .collect(),
                ),
                _ => return Err(unknown()),
            }),
            Obj::StagedTarget((url, resource, parameters)) => Ok(match field {
                "url" => leaf(url.as_str()),
                "resourceUrl" => opt_str(resource.as_deref()),
                "parameters" => objects(
                    parameters
                        .iter()
                        .map(|(n, v)| Obj::StagedParameter(n.clone(), v.clone()))
                        .collect(),
                ),
                _ => return Err(unknown()),
            }),
            Obj::StagedParameter(name, value) => Ok(match field {
                "name" => leaf(name.as_str()),
                "value" => leaf(value.as_str()),
                _ => return Err(unknown()),
            }),
            Obj::BulkRunPayload(_, error_type, op, errors) => Ok(match field {
                "bulkOperation" => match op {
                    Some(b) => ResolvedValue::object(Obj::Bulk(b.clone())),
                    None => ResolvedValue::null(),
                },
                "userErrors" => objects(
                    errors
                        .iter()
                        .map(|e| Obj::UserError(error_type, e.clone()))
                        .collect(),
                ),
                _ => return Err(unknown()),
            }),
        }
    }
}

impl<'a> Obj<'a> {
    /// A copy of a node object for `nodes`/`edges` (they are small owned values).
    fn shallow(&self) -> Obj<'a> {
        match self {
            Obj::Variant(v) => Obj::Variant(v.clone()),
            Obj::InventoryItem(v) => Obj::InventoryItem(v.clone()),
            Obj::InventoryLevel(v, l, level) => Obj::InventoryLevel(v.clone(), *l, *level),
            Obj::Order(o) => Obj::Order(o.clone()),
            Obj::LineItem(l) => Obj::LineItem(l.clone()),
            Obj::Location(i, n, a) => Obj::Location(*i, n.clone(), *a),
            // Connections only hold the node kinds above.
            _ => Obj::Count(0),
        }
    }
}

fn fulfillment_status(o: &Order) -> &'static str {
    let total: i64 = o.lines.iter().map(|l| l.quantity).sum();
    let open: i64 = o.lines.iter().map(|l| l.unfulfilled).sum();
    if open == 0 {
        "FULFILLED"
    } else if open < total {
        "PARTIALLY_FULFILLED"
    } else {
        "UNFULFILLED"
    }
}

/// Where an item sits in a connection's order; a page cursor names the last one read
/// (keyset paging, as Shopify's opaque cursors do: an item that moves while a client pages
/// is met again further on or not at all, never shifts others past the client).
trait SortKey: Ord + Sized {
    fn encode(&self) -> String;
    fn decode(text: &str) -> Option<Self>;
}

/// Sorted by id (`sortKey: ID`, the default of most connections).
impl SortKey for u64 {
    fn encode(&self) -> String {
        self.to_string()
    }
    fn decode(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// Sorted by a time in milliseconds, then id (`sortKey: UPDATED_AT`).
impl SortKey for (i64, u64) {
    fn encode(&self) -> String {
        format!("{}.{}", self.0, self.1)
    }
    fn decode(text: &str) -> Option<Self> {
        let (t, id) = text.split_once('.')?;
        Some((t.parse().ok()?, id.parse().ok()?))
    }
}

/// Cuts one page out of `items` (sorted by id) per `first`/`after`. Outside bulk mode,
/// `first` is required and capped at 250, as on Shopify.
fn page<'a>(
    type_name: &'static str,
    edge_type: &'static str,
    items: Vec<(u64, Obj<'a>)>,
    a: &Value,
    bulk: bool,
) -> Result<Page<'a>, FieldError> {
    page_by(type_name, edge_type, items, a, bulk)
}

/// [`page`] over any sort key; `items` must be sorted by it.
fn page_by<'a, K: SortKey>(
    type_name: &'static str,
    edge_type: &'static str,
    items: Vec<(K, Obj<'a>)>,
    a: &Value,
    bulk: bool,
) -> Result<Page<'a>, FieldError> {
    if !a["last"].is_null() || !a["before"].is_null() {
        return Err(err("the Shopify fake pages forwards only (first/after)"));
    }
    if a["reverse"].as_bool() == Some(true) {
        return Err(err("the Shopify fake does not implement reverse"));
    }
    let first = match a["first"].as_i64() {
        Some(n) if !(0..=MAX_PAGE).contains(&n) => {
            return Err(err(format!(
                "first must be between 0 and {MAX_PAGE} (it was {n})"
            )));
        }
        Some(n) => usize::try_from(n).unwrap_or(0),
        None if bulk => usize::MAX,
        None => return Err(err("you must provide one of first or last")),
    };
    let after = match a["after"].as_str() {
        None => None,
        Some(c) => Some(
            c.strip_prefix("fake-cursor:")
                .and_then(K::decode)
                .ok_or_else(|| err(format!("invalid cursor: {c}")))?,
        ),
    };
    let has_previous = after.is_some();
    let mut rest = items
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
        .peekable();
    let mut out = Vec::new();
    while out.len() < first {
        match rest.next() {
            Some((key, o)) => out.push((format!("fake-cursor:{}", key.encode()), o)),
            None => break,
        }
    }
    let has_next = rest.peek().is_some();
    Ok(Page {
        edge_type,
        type_name,
        items: out,
        has_next,
        has_previous,
    })
}

/// A search-syntax value: quoted (single or double) or bare. "Date values must be a string
/// surrounded by quotes" (shopify.dev/docs/api/usage/search-syntax); the filter tables'
/// own examples leave them bare, so both are taken.
fn unquote(value: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

/// `updated_at:>'2026-11-28T10:00:00Z'` (also `>=`, `<`, `<=`, `=`): whether the order's
/// `updatedAt` compares so.
fn time_matches(value: &str, t: DateTime<Utc>) -> Result<bool, FieldError> {
    let (op, rest) = ["<=", ">=", "<", ">", "="]
        .iter()
        .find_map(|op| value.strip_prefix(op).map(|r| (*op, r)))
        .unwrap_or(("=", value));
    let text = unquote(rest);
    let bound = DateTime::parse_from_rfc3339(text)
        .map(|b| b.with_timezone(&Utc))
        .map_err(|_| {
            err(format!(
                "the Shopify fake takes ISO 8601 times with a zone in time filters, not `{text}`"
            ))
        })?;
    Ok(match op {
        "<=" => t <= bound,
        ">=" => t >= bound,
        "<" => t < bound,
        ">" => t > bound,
        _ => t == bound,
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The filters the fake understands on variants, inventory items and levels: none, or
/// `updated_at` terms (all must hold).
fn updated_matches(
    what: &str,
    query: Option<&str>,
    updated_at: DateTime<Utc>,
) -> Result<bool, FieldError> {
    let Some(query) = query else {
        return Ok(true);
    };
    for term in query.split_whitespace() {
        match term.split_once(':') {
            Some(("updated_at", value)) => {
                if !time_matches(value, updated_at)? {
                    return Ok(false);
                }
            }
            _ => {
                return Err(err(format!(
                    "the Shopify fake does not implement the {what} filter `{term}`"
                )));
            }
        }
    }
    Ok(true)
}

/// `Location.inventoryLevels`: the levels of items stocked at the location, by inventory
/// item id, filtered by `updated_at`.
fn inventory_levels<'b>(
    shop: &'b Shop,
    ctx: &'b RequestCtx,
    location: u64,
    a: &Value,
) -> Result<ResolvedValue<'b>, FieldError> {
    let mut items = Vec::new();
    for v in shop.variants.values() {
        if let Some(level) = v.levels.get(&location)
            && updated_matches("inventory level", a["query"].as_str(), level.updated_at)?
        {
            items.push((
                v.inventory_item_id,
                Obj::InventoryLevel(v.clone(), location, *level),
            ));
        }
    }
    items.sort_by_key(|(id, _)| *id);
    page(
        "InventoryLevelConnection",
        "InventoryLevelEdge",
        items,
        a,
        ctx.bulk,
    )
    .map(|p| ResolvedValue::object(Obj::Connection(p)))
}

/// `status:open fulfillment_status:unfulfilled`-style order filters the fake understands.
fn order_matches(query: Option<&str>, o: &Order) -> Result<bool, FieldError> {
    let Some(query) = query else {
        return Ok(true);
    };
    for term in query.split_whitespace() {
        let ok = match term.split_once(':') {
            Some(("status", "open")) => !o.closed && !o.cancelled,
            Some(("status", "closed")) => o.closed,
            Some(("status", "cancelled")) => o.cancelled,
            Some(("status", "any")) => true,
            Some(("fulfillment_status", "unfulfilled")) => {
                fulfillment_status(o) != "FULFILLED" && !o.closed && !o.cancelled
            }
            Some(("fulfillment_status", "unshipped")) => fulfillment_status(o) == "UNFULFILLED",
            Some(("fulfillment_status", "partial")) => {
                fulfillment_status(o) == "PARTIALLY_FULFILLED"
            }
            Some(("fulfillment_status", "shipped" | "fulfilled")) => {
                fulfillment_status(o) == "FULFILLED"
            }
            Some(("updated_at", value)) => time_matches(value, o.updated_at)?,
            _ => {
                return Err(err(format!(
                    "the Shopify fake does not implement the order filter `{term}`"
                )));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn query_field<'b>(
    shop: &'b Shop,
    ctx: &'b RequestCtx,
    field: &str,
    info: &'b ResolveInfo<'b>,
) -> Option<Result<ResolvedValue<'b>, FieldError>> {
    let a = args(info);
    Some(match field {
        "productVariants" => {
            if a["savedSearchId"].is_string() {
                return Some(Err(err("the Shopify fake does not take saved searches")));
            }
            let mut items = Vec::new();
            for v in shop.variants.values() {
                match updated_matches("variant", a["query"].as_str(), v.updated_at) {
                    Ok(true) => items.push((v.id, Obj::Variant(v.clone()))),
                    Ok(false) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            page(
                "ProductVariantConnection",
                "ProductVariantEdge",
                items,
                &a,
                ctx.bulk,
            )
            .map(|p| ResolvedValue::object(Obj::Connection(p)))
        }
        "productVariantsCount" => {
            let mut n = 0;
            for v in shop.variants.values() {
                match updated_matches("variant", a["query"].as_str(), v.updated_at) {
                    Ok(true) => n += 1,
                    Ok(false) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            Ok(ResolvedValue::object(Obj::Count(n)))
        }
        "inventoryItems" => {
            let mut items = Vec::new();
            for v in shop.variants.values() {
                match updated_matches("inventory item", a["query"].as_str(), v.item_updated_at) {
                    Ok(true) => items.push((v.inventory_item_id, Obj::InventoryItem(v.clone()))),
                    Ok(false) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            items.sort_by_key(|(id, _)| *id);
            page(
                "InventoryItemConnection",
                "InventoryItemEdge",
                items,
                &a,
                ctx.bulk,
            )
            .map(|p| ResolvedValue::object(Obj::Connection(p)))
        }
        "orders" => {
            let query = a["query"].as_str();
            let mut matching = Vec::new();
            for o in shop.orders.values() {
                match order_matches(query, o) {
                    Ok(true) => matching.push(o),
                    Ok(false) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            // The schema's default sort is PROCESSED_AT; orders are processed in id order.
            match a["sortKey"].as_str().unwrap_or("PROCESSED_AT") {
                "ID" | "PROCESSED_AT" | "CREATED_AT" => {
                    let items = matching
                        .into_iter()
                        .map(|o| (o.id, Obj::Order(o.clone())))
                        .collect();
                    page("OrderConnection", "OrderEdge", items, &a, ctx.bulk)
                }
                "UPDATED_AT" => {
                    let mut items: Vec<((i64, u64), Obj<'_>)> = matching
                        .into_iter()
                        .map(|o| {
                            (
                                (o.updated_at.timestamp_millis(), o.id),
                                Obj::Order(o.clone()),
                            )
                        })
                        .collect();
                    items.sort_by_key(|(k, _)| *k);
                    page_by("OrderConnection", "OrderEdge", items, &a, ctx.bulk)
                }
                other => Err(err(format!(
                    "the Shopify fake does not implement orders sorted by {other}"
                ))),
            }
            .map(|p| ResolvedValue::object(Obj::Connection(p)))
        }
        "order" => Ok(a["id"]
            .as_str()
            .and_then(|id| parse_gid("Order", id))
            .and_then(|id| shop.orders.get(&id))
            .map_or_else(ResolvedValue::null, |o| {
                ResolvedValue::object(Obj::Order(o.clone()))
            })),
        "location" => {
            let id = match a["id"].as_str() {
                None => Some(shop.primary_location),
                Some(g) => parse_gid("Location", g),
            };
            Ok(id
                .and_then(|id| shop.locations.iter().find(|l| l.id == id))
                .map_or_else(ResolvedValue::null, |l| {
                    ResolvedValue::object(Obj::LocationIn(shop, ctx, l.id))
                }))
        }
        "nodes" => {
            let ids = a["ids"].as_array().cloned().unwrap_or_default();
            if ids.len() > MAX_INPUT_ARRAY {
                return Some(Err(err(format!(
                    "The input array size of {} is greater than the maximum allowed of {MAX_INPUT_ARRAY}.",
                    ids.len()
                ))));
            }
            let found: Vec<Option<Obj<'_>>> = ids
                .iter()
                .map(|id| {
                    let id = id.as_str()?;
                    parse_gid("ProductVariant", id)
                        .and_then(|n| shop.variants.get(&n))
                        .map(|v| Obj::Variant(v.clone()))
                        .or_else(|| {
                            parse_gid("BulkOperation", id)
                                .and_then(|n| shop.bulk.get(&n))
                                .map(|b| Obj::Bulk(b.clone()))
                        })
                })
                .collect();
            Ok(ResolvedValue::list(
                found.into_iter().map(ResolvedValue::nullable_object),
            ))
        }
        "node" => {
            let id = a["id"].as_str().unwrap_or_default();
            let found = parse_gid("BulkOperation", id)
                .and_then(|n| shop.bulk.get(&n))
                .map(|b| Obj::Bulk(b.clone()))
                .or_else(|| {
                    parse_gid("ProductVariant", id)
                        .and_then(|n| shop.variants.get(&n))
                        .map(|v| Obj::Variant(v.clone()))
                });
            Ok(ResolvedValue::nullable_object(found))
        }
        // The app's newest operation of the type asked for (`QUERY` unless given).
        "currentBulkOperation" => {
            let kind = a["type"].as_str().unwrap_or("QUERY");
            Ok(ResolvedValue::nullable_object(
                shop.bulk
                    .values()
                    .rev()
                    .find(|b| b.kind == kind)
                    .map(|b| Obj::Bulk(b.clone())),
            ))
        }
        _ => return None,
    })
}

fn mutation_field<'b>(
    shop: &'b RefCell<&mut Shop>,
    ctx: &'b RequestCtx,
    field: &str,
    info: &'b ResolveInfo<'b>,
) -> Result<ResolvedValue<'b>, FieldError> {
    let a = args(info);
    let key = idempotency_key(ctx, info);
    let mut shop = shop.borrow_mut();
    match field {
        "inventorySetQuantities" => {
            let outcome = set_quantities(&mut shop, ctx, &a["input"], key)?;
            Ok(ResolvedValue::object(Obj::SetQuantitiesPayload(outcome)))
        }
        "productVariantsBulkUpdate" => {
            let (variants, errors) = variants_bulk_update(&mut shop, &a)?;
            Ok(ResolvedValue::object(Obj::VariantsBulkUpdatePayload(
                variants, errors,
            )))
        }
        "bulkOperationRunMutation" => {
            let (op, errors) = super::bulk::run_mutation(
                &mut shop,
                ctx,
                a["mutation"].as_str(),
                a["stagedUploadPath"].as_str(),
                a["clientIdentifier"].as_str(),
            );
            Ok(ResolvedValue::object(Obj::BulkRunPayload(
                "BulkOperationRunMutationPayload",
                "BulkMutationUserError",
                op,
                errors,
            )))
        }
        "stagedUploadsCreate" => {
            let inputs = a["input"].as_array().cloned().unwrap_or_default();
            let (targets, errors) = super::bulk::staged_uploads_create(&mut shop, ctx, &inputs);
            Ok(ResolvedValue::object(Obj::StagedUploadsPayload(
                targets, errors,
            )))
        }
        "bulkOperationRunQuery" => {
            let (op, errors) = super::bulk::run_query(&mut shop, ctx, a["query"].as_str());
            Ok(ResolvedValue::object(Obj::BulkRunPayload(
                "BulkOperationRunQueryPayload",
                "BulkOperationUserError",
                op,
                errors,
            )))
        }
        other => Err(err(format!(
            "the Shopify fake does not implement Mutation.{other}"
        ))),
    }
}

/// The `key` of an `@idempotent(key:)` on the field, a literal or a variable.
fn idempotency_key(ctx: &RequestCtx, info: &ResolveInfo<'_>) -> Option<String> {
    let field = info.field_selections().first()?;
    let directive = field.directives.get("idempotent")?;
    let value = directive.specified_argument_by_name("key")?;
    match value.as_ref() {
        apollo_compiler::ast::Value::String(s) => Some(s.clone()),
        apollo_compiler::ast::Value::Variable(name) => ctx
            .variables
            .get(name.as_str())
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

fn set_quantities(
    shop: &mut Shop,
    ctx: &RequestCtx,
    input: &Value,
    key: Option<String>,
) -> Result<SetQuantitiesOutcome, FieldError> {
    let quantities = input["quantities"].as_array().cloned().unwrap_or_default();
    if quantities.len() > MAX_INPUT_ARRAY {
        return Err(err(format!(
            "The input array size of {} is greater than the maximum allowed of {MAX_INPUT_ARRAY}.",
            quantities.len()
        )));
    }
    // Before 2026-01 neither the directive nor the field exists (the fake's schema has both,
    // so the version decides).
    if !ctx.has_change_from() {
        if key.is_some() {
            return Err(err(format!(
                "Directive 'idempotent' doesn't exist in API version {}",
                ctx.version
            )));
        }
        if quantities
            .iter()
            .any(|q| q.get("changeFromQuantity").is_some())
        {
            return Err(err(format!(
                "InventoryQuantityInput isn't a defined input type field changeFromQuantity in API version {}",
                ctx.version
            )));
        }
    }
    // 2026-04: "@idempotent is mandatory at runtime for inventory adjustment mutations"
    // (shopify.dev changelog, making idempotency mandatory for inventory adjustments).
    if ctx.strict_inventory() && key.is_none() {
        return Err(err(
            "The @idempotent directive is required for this mutation (API version 2026-04 and later).",
        ));
    }
    if let Some(key) = &key {
        let fingerprint = input.to_string();
        if let Some(record) = shop.idempotency.get(key) {
            // A replay returns the original result; the same key with other arguments is
            // refused (IDEMPOTENCY_KEY_PARAMETER_MISMATCH).
            if record.fingerprint == fingerprint {
                let outcome = record.outcome.clone();
                shop.idempotent_replays += 1;
                return Ok(outcome);
            }
            return Ok(SetQuantitiesOutcome {
                group: None,
                errors: vec![user_error(
                    Some("IDEMPOTENCY_KEY_PARAMETER_MISMATCH"),
                    &[],
                    "The idempotency key was already used with different parameters.",
                )],
            });
        }
    }
    let outcome = apply_set_quantities(shop, ctx, input, &quantities);
    if let Some(key) = key {
        shop.idempotency.insert(
            key,
            IdempotentRecord {
                fingerprint: input.to_string(),
                outcome: outcome.clone(),
            },
        );
    }
    Ok(outcome)
}

fn apply_set_quantities(
    shop: &mut Shop,
    ctx: &RequestCtx,
    input: &Value,
    quantities: &[Value],
) -> SetQuantitiesOutcome {
    let mut errors = Vec::new();
    let name = input["name"].as_str().unwrap_or_default();
    if !matches!(name, "available" | "on_hand") {
        errors.push(user_error(
            Some("INVALID_NAME"),
            &["input", "name"],
            "The quantity name must be either 'available' or 'on_hand'.",
        ));
    }
    let reason = input["reason"].as_str().unwrap_or_default().to_owned();
    if !REASONS.contains(&reason.as_str()) {
        errors.push(user_error(
            Some("INVALID_REASON"),
            &["input", "reason"],
            "The specified reason is invalid.",
        ));
    }
    let ignore_compare = input["ignoreCompareQuantity"].as_bool() == Some(true);
    let mut planned: Vec<(u64, u64, i64)> = Vec::new();
    for (i, q) in quantities.iter().enumerate() {
        let index = i.to_string();
        let at = |f: &'static str| ["input", "quantities", index.as_str(), f].map(str::to_owned);
        let err_at = |code: &str, f: &'static str, message: &str| UserError {
            code: Some(code.to_owned()),
            field: at(f).to_vec(),
            message: message.to_owned(),
        };
        let Some(item) = q["inventoryItemId"]
            .as_str()
            .and_then(|g| parse_gid("InventoryItem", g))
            .filter(|item| shop.by_item.contains_key(item))
        else {
            errors.push(err_at(
                "INVALID_INVENTORY_ITEM",
                "inventoryItemId",
                "The specified inventory item could not be found.",
            ));
            continue;
        };
        let Some(location) = q["locationId"]
            .as_str()
            .and_then(|g| parse_gid("Location", g))
            .filter(|l| shop.locations.iter().any(|loc| loc.id == *l))
        else {
            errors.push(err_at(
                "INVALID_LOCATION",
                "locationId",
                "The specified location could not be found.",
            ));
            continue;
        };
        let variant = shop.by_item.get(&item).and_then(|id| shop.variants.get(id));
        let Some(level) = variant.and_then(|v| v.levels.get(&location)) else {
            errors.push(err_at(
                "ITEM_NOT_STOCKED_AT_LOCATION",
                "locationId",
                "The specified inventory item is not stocked at the location.",
            ));
            continue;
        };
        if variant.is_some_and(|v| !v.tracked) {
            errors.push(err_at(
                "NON_MUTABLE_INVENTORY_ITEM",
                "inventoryItemId",
                "The inventory item is not tracked.",
            ));
            continue;
        }
        let quantity = q["quantity"].as_i64().unwrap_or_default();
        if quantity > 1_000_000_000 {
            errors.push(err_at(
                "INVALID_QUANTITY_TOO_HIGH",
                "quantity",
                "The quantity can't be higher than 1,000,000,000.",
            ));
            continue;
        }
        if planned
            .iter()
            .any(|(it, loc, _)| *it == item && *loc == location)
        {
            errors.push(err_at(
                "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                "inventoryItemId",
                "The combination of inventoryItemId and locationId must be unique.",
            ));
            continue;
        }
        let current = if name == "on_hand" {
            level.on_hand
        } else {
            level.available
        };
        // Which check applies: 2026-04+ requires changeFromQuantity (null opts out);
        // 2026-01..04 uses it when given, else compareQuantity; older versions only know
        // compareQuantity (with ignoreCompareQuantity to opt out).
        let change_from = q.get("changeFromQuantity");
        if ctx.strict_inventory() && change_from.is_none() {
            errors.push(UserError {
                code: None,
                field: at("changeFromQuantity").to_vec(),
                message: "changeFromQuantity is required; pass null to opt out of the check."
                    .into(),
            });
            continue;
        }
        match change_from {
            Some(Value::Null) => {}
            Some(expected) => {
                if expected.as_i64() != Some(current) {
                    errors.push(err_at(
                        "CHANGE_FROM_QUANTITY_STALE",
                        "changeFromQuantity",
                        "The changeFromQuantity argument no longer matches the persisted quantity.",
                    ));
                    continue;
                }
            }
            None if ignore_compare => {}
            None => match q["compareQuantity"].as_i64() {
                None => {
                    errors.push(err_at(
                        "COMPARE_QUANTITY_REQUIRED",
                        "compareQuantity",
                        "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
                    ));
                    continue;
                }
                Some(c) if c != current => {
                    errors.push(err_at(
                        "COMPARE_QUANTITY_STALE",
                        "compareQuantity",
                        "The compareQuantity argument no longer matches the persisted quantity.",
                    ));
                    continue;
                }
                Some(_) => {}
            },
        }
        planned.push((item, location, quantity));
    }
    // All or nothing: any user error leaves every quantity unchanged.
    if !errors.is_empty() {
        return SetQuantitiesOutcome {
            group: None,
            errors,
        };
    }
    let mut changes = Vec::new();
    let at = shop.tick();
    for (item, location, quantity) in planned {
        let Some(id) = shop.by_item.get(&item).copied() else {
            continue;
        };
        let Some(level) = shop
            .variants
            .get_mut(&id)
            .and_then(|v| v.levels.get_mut(&location))
        else {
            continue;
        };
        // Setting `available` moves `on_hand` by the same delta, and the other way round.
        let delta = if name == "on_hand" {
            quantity - level.on_hand
        } else {
            quantity - level.available
        };
        level.available += delta;
        level.on_hand += delta;
        level.updated_at = at;
        changes.push(Change {
            name: "available",
            delta,
            after: level.available,
            item,
            location,
        });
        changes.push(Change {
            name: "on_hand",
            delta,
            after: level.on_hand,
            item,
            location,
        });
        *shop.quantity_writes.entry(id).or_default() += 1;
    }
    shop.adjustment_groups += 1;
    SetQuantitiesOutcome {
        group: Some((shop.adjustment_groups, reason, changes)),
        errors: Vec::new(),
    }
}

type BulkUpdateResult = (Option<Vec<Variant>>, Vec<UserError>);

fn variants_bulk_update(shop: &mut Shop, a: &Value) -> Result<BulkUpdateResult, FieldError> {
    let variants = a["variants"].as_array().cloned().unwrap_or_default();
    if variants.len() > MAX_INPUT_ARRAY {
        return Err(err(format!(
            "The input array size of {} is greater than the maximum allowed of {MAX_INPUT_ARRAY}.",
            variants.len()
        )));
    }
    let partial = a["allowPartialUpdates"].as_bool() == Some(true);
    let Some(product) = a["productId"]
        .as_str()
        .and_then(|p| parse_gid("Product", p))
        .filter(|p| shop.variants.values().any(|v| v.product_id == *p))
    else {
        return Ok((
            None,
            vec![user_error(
                Some("PRODUCT_DOES_NOT_EXIST"),
                &["productId"],
                "Product does not exist",
            )],
        ));
    };
    let mut errors = Vec::new();
    let mut updates = Vec::new();
    for (i, input) in variants.iter().enumerate() {
        let index = i.to_string();
        let at = |f: &str| vec!["variants".to_owned(), index.clone(), f.to_owned()];
        let Some(id) = input["id"].as_str() else {
            errors.push(UserError {
                code: Some("PRODUCT_VARIANT_ID_MISSING".into()),
                field: at("id"),
                message: "Product variant is missing ID attribute for update.".into(),
            });
            continue;
        };
        let Some(variant) = parse_gid("ProductVariant", id).and_then(|n| shop.variants.get(&n))
        else {
            errors.push(UserError {
                code: Some("PRODUCT_VARIANT_DOES_NOT_EXIST".into()),
                field: at("id"),
                message: "Product variant does not exist".into(),
            });
            continue;
        };
        if variant.product_id != product {
            errors.push(UserError {
                code: Some("MUST_BE_FOR_THIS_PRODUCT".into()),
                field: at("id"),
                message: "Product variant does not belong to this product".into(),
            });
            continue;
        }
        if input
            .get("inventoryQuantities")
            .is_some_and(|q| !q.is_null())
        {
            errors.push(UserError {
                code: Some("NO_INVENTORY_QUANTITIES_ON_VARIANTS_UPDATE".into()),
                field: at("inventoryQuantities"),
                message: "Inventory quantities can only be provided during create.".into(),
            });
            continue;
        }
        let price = match input.get("price") {
            None | Some(Value::Null) => None,
            Some(p) => {
                let text = match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match Decimal::from_str(&text) {
                    Ok(d) if d.is_sign_negative() => {
                        errors.push(UserError {
                            code: Some("NEGATIVE_PRICE_VALUE".into()),
                            field: at("price"),
                            message: "Price can't be negative".into(),
                        });
                        continue;
                    }
                    Ok(d) => Some(d),
                    Err(_) => {
                        errors.push(UserError {
                            code: Some("INVALID_INPUT".into()),
                            field: at("price"),
                            message: format!("Price is invalid: {text}"),
                        });
                        continue;
                    }
                }
            }
        };
        updates.push((variant.id, price));
    }
    if !errors.is_empty() && !partial {
        return Ok((None, errors));
    }
    let mut updated = Vec::new();
    let at = shop.tick();
    for (id, price) in updates {
        if let Some(v) = shop.variants.get_mut(&id) {
            if let Some(p) = price {
                v.price = p;
                v.updated_at = at;
                *shop.price_writes.entry(id).or_default() += 1;
            }
            updated.push(v.clone());
        }
    }
    Ok((Some(updated), errors))
}

/// Shopify's JSON for a response's cost extension.
pub(crate) fn cost_extension(requested: f64, actual: Option<f64>, shop: &Shop) -> Value {
    json!({
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": shop.limits.bucket,
                "currentlyAvailable": shop.bucket.available.floor(),
                "restoreRate": shop.limits.restore_rate,
            }
        }
    })
}
