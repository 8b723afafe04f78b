//! WooCommerce's JSON, as far as invsync reads it, and the ids invsync gives its records.

use crate::lenient::{Each, Lenient};
use chrono::{DateTime, Utc};
use invsync_core::{Field, ItemKind, Record, Sale};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A product of `GET /products`.
#[derive(Debug, Clone, Deserialize)]
pub struct WooProduct {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub sku: Option<String>,
    /// Prices and the sale ([`WooPrices`]), kept raw: they are checked when used. (Not a
    /// flattened struct: serde buffers every field of a flattened struct's parent.)
    #[serde(default)]
    pub regular_price: Option<Value>,
    #[serde(default)]
    pub sale_price: Option<Value>,
    #[serde(default)]
    pub on_sale: Option<Value>,
    #[serde(default)]
    pub date_on_sale_from_gmt: Option<Value>,
    #[serde(default)]
    pub date_on_sale_to_gmt: Option<Value>,
    #[serde(default)]
    pub manage_stock: Option<Value>,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
}

/// A variation of `GET /products/{id}/variations`.
#[derive(Debug, Clone, Deserialize)]
pub struct WooVariation {
    pub id: u64,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub regular_price: Option<Value>,
    #[serde(default)]
    pub sale_price: Option<Value>,
    #[serde(default)]
    pub on_sale: Option<Value>,
    #[serde(default)]
    pub date_on_sale_from_gmt: Option<Value>,
    #[serde(default)]
    pub date_on_sale_to_gmt: Option<Value>,
    /// `true`, `false` or `"parent"`: a variation that does not manage stock while its
    /// parent does shows `"parent"` (`WC_Product_Variation::get_manage_stock`, view context;
    /// woocommerce PR #19598), and its `stock_quantity` is then the parent's.
    #[serde(default)]
    pub manage_stock: Option<Value>,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
}

/// The price fields of a product or variation (`_products.md`, "Product properties"):
/// `regular_price`, `sale_price` (decimal strings, "" for none), the read-only `on_sale`,
/// and the sale's dates in GMT. The read-only `price` is the current price: the sale price
/// while a sale runs.
#[derive(Debug, Clone, Copy)]
pub struct WooPrices<'a> {
    regular_price: &'a Option<Value>,
    sale_price: &'a Option<Value>,
    on_sale: &'a Option<Value>,
    date_on_sale_from_gmt: &'a Option<Value>,
    date_on_sale_to_gmt: &'a Option<Value>,
}

macro_rules! prices_of {
    ($item:expr) => {
        WooPrices {
            regular_price: &$item.regular_price,
            sale_price: &$item.sale_price,
            on_sale: &$item.on_sale,
            date_on_sale_from_gmt: &$item.date_on_sale_from_gmt,
            date_on_sale_to_gmt: &$item.date_on_sale_to_gmt,
        }
    };
}

impl WooPrices<'_> {
    /// The regular price: what the listing costs when no sale runs.
    pub fn regular(self) -> Result<Option<Decimal>, String> {
        parse_price("regular_price", self.regular_price)
    }

    /// The sale shoppers get now, if one runs.
    ///
    /// `on_sale` is the site's own answer, at its own clock (`WC_Product::is_on_sale`: a
    /// sale price below the regular price, its start passed and its end not), so it decides;
    /// invsync's clock and the site's may differ. Only a payload without `on_sale` (a plugin
    /// filtering the response) is judged here from the sale price and the GMT dates at
    /// `now`. The sale ends at `date_on_sale_to_gmt`, where one is set.
    pub fn sale(self, now: DateTime<Utc>) -> Result<Option<Sale>, String> {
        let on_sale = self.on_sale.as_ref().and_then(Value::as_bool);
        if on_sale == Some(false) {
            return Ok(None);
        }
        let Some(price) = parse_price("sale_price", self.sale_price)? else {
            return Ok(None);
        };
        let from = parse_date("date_on_sale_from_gmt", self.date_on_sale_from_gmt)?;
        let until = parse_date("date_on_sale_to_gmt", self.date_on_sale_to_gmt)?;
        let active = match on_sale {
            Some(on) => on,
            None => {
                self.regular()?.is_some_and(|regular| price < regular)
                    && from.is_none_or(|from| from <= now)
                    && until.is_none_or(|until| until >= now)
            }
        };
        Ok(active.then_some(Sale { price, until }))
    }

    /// What shoppers pay now: the sale price while a sale runs, else the regular price.
    pub fn charged(self, now: DateTime<Utc>) -> Result<Option<Decimal>, String> {
        Ok(match self.sale(now)? {
            Some(sale) => Some(sale.price),
            None => self.regular()?,
        })
    }
}

/// A price as this API sends it: a JSON string, "" for none.
fn parse_price(field: &str, value: &Option<Value>) -> Result<Option<Decimal>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Decimal::from_str(s.trim())
            .map(Some)
            .map_err(|_| format!("{field} `{s}` is not a decimal number")),
        Some(other) => Err(format!(
            "{field} is {other}, not a string as WooCommerce's API sends prices; a plugin may be changing the API"
        )),
    }
}

/// A `_gmt` date: `2023-10-31T23:59:59` (GMT, no zone), null when unset.
fn parse_date(field: &str, value: &Option<Value>) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => super::parse_gmt(s.trim())
            .map(Some)
            .ok_or_else(|| format!("{field} `{s}` is not a date")),
        Some(other) => Err(format!("{field} is {other}, not a date")),
    }
}

/// A price as this API takes it: a decimal string.
pub fn price_string(price: Decimal) -> String {
    price.normalize().to_string()
}

fn sku_of(sku: &Option<String>) -> &str {
    sku.as_deref().map(str::trim).unwrap_or("")
}

impl WooProduct {
    pub fn prices(&self) -> WooPrices<'_> {
        prices_of!(self)
    }

    pub fn is_variable(&self) -> bool {
        self.kind == "variable"
    }

    fn manages_stock(&self) -> bool {
        self.manage_stock.as_ref().and_then(Value::as_bool) == Some(true)
    }

    /// The stock WooCommerce keeps for this product, when it keeps one.
    pub fn managed_quantity(&self) -> Option<i64> {
        if self.manages_stock() {
            self.stock_quantity
        } else {
            None
        }
    }

    /// What the product is to invsync (product.md rule 3, ADR 0020). A simple product is
    /// sold here: with stock management it syncs price and quantity, without it its price
    /// (`untracked`). Display-only: variable parents (their variations are sold), grouped
    /// products (a page of other products), external products (sold on another site: the
    /// "Buy" button links away, so WooCommerce never charges their price) and types added by
    /// plugins (bundles, composites …, whose stock and price rules vary).
    fn item_kind(&self) -> ItemKind {
        match self.kind.as_str() {
            "simple" if self.manages_stock() => ItemKind::Inventory,
            "simple" => ItemKind::Untracked,
            _ => ItemKind::Base,
        }
    }

    pub fn record(&self, now: DateTime<Utc>) -> Result<Record, String> {
        let price = self.prices().regular()?;
        let kind = self.item_kind();
        let quantity = match kind {
            ItemKind::Inventory => Some(
                self.stock_quantity
                    .ok_or("manage_stock is true but stock_quantity is missing")?,
            ),
            _ => None,
        };
        Ok(Record {
            id: RecordId::Product(self.id).to_string().into(),
            sku: sku_of(&self.sku).into(),
            name: self.name.as_str().into(),
            kind,
            price,
            quantity,
            // A display-only product's sale is its children's; it is never synced.
            sale: match kind {
                ItemKind::Base => None,
                _ => self.prices().sale(now)?.map(Box::new),
            },
        })
    }
}

/// How a variation keeps stock, from its `manage_stock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VariationStock {
    Own,
    Parent,
    NotTracked,
}

impl WooVariation {
    pub fn prices(&self) -> WooPrices<'_> {
        prices_of!(self)
    }

    fn stock(&self) -> VariationStock {
        match self.manage_stock.as_ref() {
            Some(Value::Bool(true)) => VariationStock::Own,
            Some(Value::String(s)) if s == "parent" => VariationStock::Parent,
            _ => VariationStock::NotTracked,
        }
    }

    /// The stock this variation keeps itself, when it does.
    pub fn own_quantity(&self) -> Option<i64> {
        match self.stock() {
            VariationStock::Own => self.stock_quantity,
            _ => None,
        }
    }

    /// `parent_stock` is the parent's `stock_quantity` as read with the parent. Every
    /// variation is sold: without stock of its own or its parent's it is `untracked`.
    pub fn record(
        &self,
        parent: u64,
        parent_stock: Option<i64>,
        parent_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Record, String> {
        let price = self.prices().regular()?;
        let stock = self.stock();
        let quantity = match stock {
            // The variation shows its parent's stock; prefer the parent's own field.
            VariationStock::Parent => Some(
                parent_stock
                    .or(self.stock_quantity)
                    .ok_or("the variation uses its parent's stock but has no stock_quantity")?,
            ),
            VariationStock::Own => Some(
                self.stock_quantity
                    .ok_or("the variation manages stock but has no stock_quantity")?,
            ),
            VariationStock::NotTracked => None,
        };
        let sku = sku_of(&self.sku);
        Ok(Record {
            id: RecordId::Variation {
                parent,
                id: self.id,
                parent_stock: stock == VariationStock::Parent,
            }
            .to_string()
            .into(),
            sku: sku.into(),
            name: if parent_name.is_empty() {
                sku.into()
            } else {
                format!("{parent_name} ({sku})").into()
            },
            kind: match stock {
                VariationStock::NotTracked => ItemKind::Untracked,
                _ => ItemKind::Inventory,
            },
            price,
            quantity,
            sale: self.prices().sale(now)?.map(Box::new),
        })
    }
}

/// What a record's id says: `"{id}"`, `"{parent}/{id}"` or `"{parent}/{id}/parent-stock"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordId {
    Product(u64),
    Variation {
        parent: u64,
        id: u64,
        parent_stock: bool,
    },
}

/// Where a write of one field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductTarget {
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

/// An order of `GET /orders` (`_orders.md`, "Order properties"), read leniently: an odd
/// field reads as absent rather than losing the order's other lines.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WooOrder {
    /// Orders without one are left out.
    pub(crate) id: Lenient<u64>,
    /// What the merchant and the accounting side call it.
    pub(crate) number: Lenient<String>,
    pub(crate) status: Lenient<String>,
    /// GMT without a zone: `2026-11-28T10:00:00`.
    pub(crate) date_modified_gmt: Lenient<String>,
    pub(crate) line_items: Each<WooLineItem>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WooLineItem {
    pub(crate) sku: Lenient<String>,
    pub(crate) quantity: Lenient<i64>,
}

impl WooOrder {
    /// The order's `number`, else its id.
    pub(crate) fn number(&self) -> String {
        match (&self.number.0, self.id.0) {
            (Some(n), _) => n.clone(),
            (None, Some(id)) => id.to_string(),
            (None, None) => String::new(),
        }
    }
}
