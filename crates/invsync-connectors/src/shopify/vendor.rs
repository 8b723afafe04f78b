//! Shopify's JSON shapes, private to the connector. Prices arrive as strings (`Money`:
//! "A monetary value string without a currency symbol or code", schema 2025-01) and are
//! parsed into `Decimal`, never through a float.

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use invsync_core::{ItemKind, Record};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use std::str::FromStr;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Connection<T> {
    pub page_info: PageInfo,
    pub nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Location {
    pub id: String,
    pub name: String,
    pub is_active: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkOperation {
    #[serde(default)]
    pub id: String,
    pub status: String,
    pub error_code: Option<String>,
    pub url: Option<String>,
    /// What a failed or cancelled bulk mutation did before it stopped.
    #[serde(default)]
    pub partial_data_url: Option<String>,
    /// The mutation a bulk mutation runs (how invsync knows its own price operation).
    #[serde(default)]
    pub query: Option<String>,
    /// When it ended, on Shopify's clock.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Order {
    pub id: String,
    pub name: String,
    /// `DateTime!`: ISO 8601 in UTC, e.g. `2026-11-28T10:00:00Z`.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub closed: bool,
    pub cancelled_at: Option<String>,
    pub line_items: Connection<LineItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LineItem {
    pub sku: Option<String>,
    pub unfulfilled_quantity: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserError {
    pub code: Option<String>,
    pub field: Option<Vec<String>>,
    pub message: String,
}

impl UserError {
    /// `["input", "quantities", "3", …]` → 3.
    pub fn quantity_index(&self) -> Option<usize> {
        match self.field.as_deref()? {
            [input, quantities, i, ..] if input == "input" && quantities == "quantities" => {
                i.parse().ok()
            }
            _ => None,
        }
    }

    /// `["variants", "3", …]` → 3.
    pub fn variant_index(&self) -> Option<usize> {
        match self.field.as_deref()? {
            [variants, i, ..] if variants == "variants" => i.parse().ok(),
            _ => None,
        }
    }

    /// `message (CODE)`, the platform's words.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!("{} ({code})", self.message),
            None => self.message.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct IdOnly {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVariant {
    id: String,
    sku: Option<String>,
    #[serde(default)]
    display_name: String,
    price: Option<String>,
    #[serde(default)]
    requires_components: bool,
    #[serde(default)]
    product: IdOnly,
    inventory_item: Option<RawInventoryItem>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInventoryItem {
    id: String,
    tracked: bool,
    inventory_level: Option<RawLevel>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLevel {
    quantities: Vec<RawQuantity>,
    updated_at: Option<DateTime<Utc>>,
}

/// When Shopify last changed each part of a variant a catalog record is made of: the
/// variant (price, SKU, bundle), its inventory item (tracking) and its level at the
/// location (quantities). Incremental reads follow each by its own `updated_at`
/// (ADR 0017).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Changed {
    pub variant: Option<DateTime<Utc>>,
    pub item: Option<DateTime<Utc>>,
    pub level: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct RawQuantity {
    name: String,
    quantity: i64,
}

/// What a variant's stock is at the synced location, which decides its [`ItemKind`]
/// (product.md rule 3): the one classification every read path (paged, bulk, incremental,
/// by id) and the quantity writes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stock {
    /// Tracked, with a level at the location: `available` syncs.
    Tracked(i64),
    /// `inventoryItem.tracked: false`: sold, stock not counted. Its price syncs.
    Untracked,
    /// Tracked, but `inventoryItem.inventoryLevel(locationId:)` is null: the item is not
    /// stocked at the synced location. Its price syncs; its quantity waits until it is
    /// stocked there (or the store's `location` changes).
    NotStocked,
    /// A bundle (`requiresComponents`): display-only, never synced.
    Bundle,
}

impl Stock {
    pub fn kind(self) -> ItemKind {
        match self {
            Stock::Tracked(_) => ItemKind::Inventory,
            Stock::Untracked => ItemKind::Untracked,
            Stock::NotStocked => ItemKind::NotStocked,
            Stock::Bundle => ItemKind::Base,
        }
    }

    /// Why a quantity must not be written to this variant, or `None`.
    pub fn refuses_quantity(self) -> Option<&'static str> {
        match self {
            Stock::Tracked(_) => None,
            Stock::Untracked => Some(
                "stock not tracked in Shopify (inventory tracking is off for this variant); invsync never writes its quantity",
            ),
            Stock::NotStocked => Some(
                "not stocked at the store's location: stock it there, or change the store's `location`; quantity not written",
            ),
            Stock::Bundle => Some(
                "a bundle (its stock comes from its components); invsync never writes its quantity",
            ),
        }
    }
}

/// One variant as read (paged, by id, or a line of a bulk result). A node Shopify sent in
/// a shape invsync cannot use is kept with its problem, to become a reject.
#[derive(Debug)]
pub(super) struct VariantNode {
    pub id: String,
    pub sku: Option<String>,
    pub product: IdOnly,
    pub inventory_item: IdOnly,
    name: String,
    price: Option<String>,
    /// `None` with `problem` set.
    pub stock: Option<Stock>,
    pub changed: Changed,
    problem: Option<String>,
}

impl VariantNode {
    pub fn parse(value: Value) -> VariantNode {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let sku = value.get("sku").and_then(Value::as_str).map(str::to_owned);
        let unreadable = |id: String, sku: Option<String>, problem: String| VariantNode {
            id,
            sku,
            product: IdOnly::default(),
            inventory_item: IdOnly::default(),
            name: String::new(),
            price: None,
            stock: None,
            changed: Changed::default(),
            problem: Some(problem),
        };
        match serde_json::from_value::<RawVariant>(value) {
            Ok(raw) => {
                let item = raw.inventory_item;
                let level = item.as_ref().and_then(|i| i.inventory_level.as_ref());
                let tracked = item.as_ref().is_some_and(|i| i.tracked);
                // Bundles first (display-only whatever their tracking), then tracking:
                // an untracked variant has no stock to sync wherever it is stocked.
                let stock = if raw.requires_components {
                    Stock::Bundle
                } else if !tracked {
                    Stock::Untracked
                } else {
                    match level {
                        None => Stock::NotStocked,
                        Some(l) => match l.quantities.iter().find(|q| q.name == "available") {
                            Some(q) => Stock::Tracked(q.quantity),
                            None => {
                                return unreadable(
                                    raw.id,
                                    raw.sku,
                                    "Shopify sent a stock level without an `available` quantity"
                                        .to_owned(),
                                );
                            }
                        },
                    }
                };
                VariantNode {
                    id: raw.id,
                    sku: raw.sku,
                    product: raw.product,
                    inventory_item: IdOnly {
                        id: item.as_ref().map(|i| i.id.clone()).unwrap_or_default(),
                    },
                    name: raw.display_name,
                    price: raw.price,
                    stock: Some(stock),
                    changed: Changed {
                        variant: raw.updated_at,
                        item: item.as_ref().and_then(|i| i.updated_at),
                        level: level.and_then(|l| l.updated_at),
                    },
                    problem: None,
                }
            }
            Err(e) => unreadable(
                id,
                sku,
                format!("Shopify sent a variant invsync cannot read: {e}"),
            ),
        }
    }

    /// The listing, or why it cannot be one.
    pub fn to_record(&self) -> Result<Record, String> {
        if let Some(p) = &self.problem {
            return Err(p.clone());
        }
        let Some(stock) = self.stock else {
            return Err("Shopify sent a variant invsync cannot read".to_owned());
        };
        let price = match self.price.as_deref() {
            None => None,
            Some(p) => Some(
                Decimal::from_str(p.trim())
                    .map_err(|_| format!("price `{p}` is not a decimal number"))?,
            ),
        };
        Ok(Record {
            id: CompactString::from(self.id.as_str()),
            sku: CompactString::from(self.sku.as_deref().unwrap_or_default().trim()),
            name: CompactString::from(self.name.as_str()),
            kind: stock.kind(),
            price,
            quantity: match stock {
                Stock::Tracked(q) => Some(q),
                Stock::Untracked | Stock::NotStocked | Stock::Bundle => None,
            },
            // `price` is what Shopify charges; `compareAtPrice` is the "was" price shown
            // struck through next to it, not a sale price in invsync's sense (rule 3).
            sale: None,
        })
    }
}
