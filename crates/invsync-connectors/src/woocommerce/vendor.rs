//! WooCommerce's JSON, as far as invsync reads it, and the ids invsync gives its records.

use invsync_core::{Field, ItemKind, Record};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// A product of `GET /products`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct WooProduct {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub sku: Option<String>,
    /// A decimal string, "" when unset. Kept raw: strings are checked when used.
    #[serde(default)]
    pub regular_price: Option<serde_json::Value>,
    #[serde(default)]
    pub manage_stock: Option<serde_json::Value>,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
}

/// A variation of `GET /products/{id}/variations`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct WooVariation {
    pub id: u64,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub regular_price: Option<serde_json::Value>,
    /// `true`, `false` or `"parent"` (woocommerce PR #19598).
    #[serde(default)]
    pub manage_stock: Option<serde_json::Value>,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
}

/// A price as this API sends it: a JSON string, "" for none.
fn parse_price(value: &Option<serde_json::Value>) -> Result<Option<Decimal>, String> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => Decimal::from_str(s.trim())
            .map(Some)
            .map_err(|_| format!("regular_price `{s}` is not a decimal number")),
        Some(other) => Err(format!(
            "regular_price is {other}, not a string as WooCommerce's API sends prices; a plugin may be changing the API"
        )),
    }
}

/// A price as this API takes it: a decimal string.
pub(super) fn price_string(price: Decimal) -> String {
    price.normalize().to_string()
}

fn sku_of(sku: &Option<String>) -> &str {
    sku.as_deref().map(str::trim).unwrap_or("")
}

impl WooProduct {
    pub fn is_variable(&self) -> bool {
        self.kind == "variable"
    }

    pub fn price(&self) -> Result<Option<Decimal>, String> {
        parse_price(&self.regular_price)
    }

    fn manages_stock(&self) -> bool {
        self.manage_stock
            .as_ref()
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    }

    /// The stock WooCommerce keeps for this product, when it keeps one.
    pub fn managed_quantity(&self) -> Option<i64> {
        if self.manages_stock() {
            self.stock_quantity
        } else {
            None
        }
    }

    pub fn record(&self) -> Result<Record, String> {
        let price = self.price()?;
        // Only simple products carry stock of their own; variable parents (their variations
        // do), grouped and external products, and types added by plugins are display-only.
        let inventory = self.kind == "simple" && self.manages_stock();
        if inventory && self.stock_quantity.is_none() {
            return Err("manage_stock is true but stock_quantity is missing".into());
        }
        Ok(Record {
            id: RecordId::Product(self.id).to_string().into(),
            sku: sku_of(&self.sku).into(),
            name: self.name.as_str().into(),
            kind: if inventory {
                ItemKind::Inventory
            } else {
                ItemKind::Base
            },
            price,
            quantity: if inventory { self.stock_quantity } else { None },
            sale: None,
        })
    }
}

impl WooVariation {
    pub fn price(&self) -> Result<Option<Decimal>, String> {
        parse_price(&self.regular_price)
    }

    fn uses_parent_stock(&self) -> bool {
        self.manage_stock
            .as_ref()
            .and_then(serde_json::Value::as_str)
            == Some("parent")
    }

    /// The stock this variation keeps itself, when it does.
    pub fn own_quantity(&self) -> Option<i64> {
        if self
            .manage_stock
            .as_ref()
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            self.stock_quantity
        } else {
            None
        }
    }

    /// `parent_stock` is the parent's `stock_quantity` as read with the parent.
    pub fn record(
        &self,
        parent: u64,
        parent_stock: Option<i64>,
        parent_name: &str,
    ) -> Result<Record, String> {
        let price = self.price()?;
        let parent_mode = self.uses_parent_stock();
        let quantity = if parent_mode {
            // The variation shows its parent's stock; prefer the parent's own field.
            parent_stock.or(self.stock_quantity)
        } else {
            self.own_quantity()
        };
        let inventory = parent_mode || self.own_quantity().is_some();
        let managed = parent_mode
            || self
                .manage_stock
                .as_ref()
                .and_then(serde_json::Value::as_bool)
                == Some(true);
        if managed && quantity.is_none() {
            return Err("the variation manages stock but has no stock_quantity".into());
        }
        let sku = sku_of(&self.sku);
        Ok(Record {
            id: RecordId::Variation {
                parent,
                id: self.id,
                parent_stock: parent_mode,
            }
            .to_string()
            .into(),
            sku: sku.into(),
            name: if parent_name.is_empty() {
                sku.into()
            } else {
                format!("{parent_name} ({sku})").into()
            },
            kind: if inventory {
                ItemKind::Inventory
            } else {
                ItemKind::Base
            },
            price,
            quantity: if inventory { quantity } else { None },
            sale: None,
        })
    }
}

/// What a record's id says: `"{id}"`, `"{parent}/{id}"` or `"{parent}/{id}/parent-stock"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum RecordId {
    Product(u64),
    Variation {
        parent: u64,
        id: u64,
        parent_stock: bool,
    },
}

/// Where a write of one field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProductTarget {
    Product(u64),
    Variation { parent: u64, id: u64 },
}

impl RecordId {
    pub fn target(self, field: Field) -> ProductTarget {
        match (self, field) {
            (RecordId::Product(p), _) => ProductTarget::Product(p),
            // The variation's stock is its parent's: write the parent.
            (
                RecordId::Variation {
                    parent,
                    parent_stock: true,
                    ..
                },
                Field::Quantity,
            ) => ProductTarget::Product(parent),
            (RecordId::Variation { parent, id, .. }, _) => ProductTarget::Variation { parent, id },
        }
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordId::Product(id) => write!(f, "{id}"),
            RecordId::Variation {
                parent,
                id,
                parent_stock: false,
            } => write!(f, "{parent}/{id}"),
            RecordId::Variation {
                parent,
                id,
                parent_stock: true,
            } => {
                write!(f, "{parent}/{id}/parent-stock")
            }
        }
    }
}

impl FromStr for RecordId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a WooCommerce record id");
        let mut parts = s.split('/');
        let first: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        match (parts.next(), parts.next(), parts.next()) {
            (None, ..) => Ok(RecordId::Product(first)),
            (Some(v), tail, None) => {
                let id: u64 = v.parse().map_err(|_| bad())?;
                let parent_stock = match tail {
                    None => false,
                    Some("parent-stock") => true,
                    Some(_) => return Err(bad()),
                };
                Ok(RecordId::Variation {
                    parent: first,
                    id,
                    parent_stock,
                })
            }
            _ => Err(bad()),
        }
    }
}
