//! The vocabulary of product.md as types.

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The two sides of every sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Accounting,
    Store,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Accounting => "accounting",
            Side::Store => "store",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "accounting" => Ok(Side::Accounting),
            "store" => Ok(Side::Store),
            other => Err(format!(
                "`{other}` is not a side: use `store` or `accounting`"
            )),
        }
    }
}

/// A field invsync keeps in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Price,
    Quantity,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Price => "price",
            Field::Quantity => "quantity",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "price" => Ok(Field::Price),
            "quantity" => Ok(Field::Quantity),
            other => Err(format!(
                "`{other}` is not a field: use `price` and/or `quantity`"
            )),
        }
    }
}

/// A non-empty-or-empty set of fields, kept as two flags so it is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct FieldSet {
    pub price: bool,
    pub quantity: bool,
}

impl FieldSet {
    pub const PRICE: FieldSet = FieldSet {
        price: true,
        quantity: false,
    };
    pub const QUANTITY: FieldSet = FieldSet {
        price: false,
        quantity: true,
    };
    pub const BOTH: FieldSet = FieldSet {
        price: true,
        quantity: true,
    };

    pub fn contains(self, field: Field) -> bool {
        match field {
            Field::Price => self.price,
            Field::Quantity => self.quantity,
        }
    }

    pub fn len(self) -> usize {
        usize::from(self.price) + usize::from(self.quantity)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Field> {
        [(self.price, Field::Price), (self.quantity, Field::Quantity)]
            .into_iter()
            .filter_map(|(on, f)| on.then_some(f))
    }

    /// `price,quantity` — the form stored in run history.
    pub fn to_list(self) -> String {
        self.iter().map(Field::as_str).collect::<Vec<_>>().join(",")
    }
}

impl FromIterator<Field> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Field>>(iter: I) -> Self {
        let mut set = FieldSet::default();
        for f in iter {
            match f {
                Field::Price => set.price = true,
                Field::Quantity => set.quantity = true,
            }
        }
        set
    }
}

impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list())
    }
}

/// What kind of product a record is, which decides what invsync may sync of it
/// (product.md, rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// A sold product whose stock is tracked: price and quantity sync.
    #[default]
    Inventory,
    /// A sold product whose stock is not tracked (WooCommerce `manage_stock: false`, an
    /// untracked Shopify variant, BigCommerce `inventory_tracking: none`, a QuickBooks
    /// `NonInventory` item): its price syncs; its quantity does not apply and is held back
    /// with that reason.
    Untracked,
    /// A tracked product with no stock record at the location invsync syncs (a Shopify
    /// inventory item not stocked there): its price syncs; its quantity is held back until
    /// it is stocked there or the store's `location` changes.
    NotStocked,
    /// Display-only: a variable/parent product, a bundle, group or kit. Never synced.
    Base,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Inventory => "inventory",
            ItemKind::Untracked => "untracked",
            ItemKind::NotStocked => "not-stocked",
            ItemKind::Base => "base",
        }
    }
}

/// A sale running in a store: shoppers pay `price`, not the listing's regular price.
/// Connections report only sales that are active when they read (a scheduled sale that
/// has not started, or one that has ended, is no sale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sale {
    pub price: Decimal,
    /// When the sale ends, where the store says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl fmt::Display for Sale {
    /// `on sale in the store at 3.35 until 2026-12-31 23:59 UTC`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "on sale in the store at {}", self.price)?;
        match self.until {
            Some(until) => write!(f, " until {}", until.format("%Y-%m-%d %H:%M UTC")),
            None => f.write_str(" with no end date"),
        }
    }
}

/// What a store does about a listing's active sale when its price is synced
/// (`[stores.NAME] sale_price`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SalePolicy {
    /// Leave the sale alone and hold the price back, with the sale as the reason.
    #[default]
    Hold,
    /// End the sale and write the price as the regular price.
    Clear,
    /// Write the price as the sale price (the regular price stays as the "was" price).
    Write,
}

impl SalePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SalePolicy::Hold => "hold",
            SalePolicy::Clear => "clear",
            SalePolicy::Write => "write",
        }
    }
}

impl fmt::Display for SalePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SalePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "hold" => Ok(SalePolicy::Hold),
            "clear" => Ok(SalePolicy::Clear),
            "write" => Ok(SalePolicy::Write),
            other => Err(format!(
                "`{other}` is not a sale price policy: use `hold`, `clear` or `write`"
            )),
        }
    }
}

/// How a price write treats a listing's sale ([`SalePolicy`]). `None` on a write: the
/// listing is not on sale and its (regular) price is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaleAction {
    /// Write the new price as the regular price and end the sale.
    End,
    /// Write the new price as the sale price; the regular price is left alone.
    Set,
}

/// One product as a connection reports it: an accounting item or a store listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The connection's own identifier (a variant id, a row key …). Empty where the
    /// connection addresses products by SKU.
    pub id: CompactString,
    pub sku: CompactString,
    pub name: CompactString,
    pub kind: ItemKind,
    /// `None` when the connection has no price for this product.
    pub price: Option<Decimal>,
    /// `None` when the quantity is not tracked.
    pub quantity: Option<i64>,
    /// An active sale: what shoppers pay instead of `price` (stores only). Boxed: few
    /// listings are on sale, and a record is held twice per product in a plan (1M
    /// products: 8 bytes here instead of 40 is ~60 MB of peak memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale: Option<Box<Sale>>,
}

impl Record {
    /// The price shoppers pay: the sale price while a sale runs, else the price.
    pub fn charged_price(&self) -> Option<Decimal> {
        self.sale.as_ref().map(|s| s.price).or(self.price)
    }

    pub fn value(&self, field: Field) -> Option<FieldValue> {
        match field {
            Field::Price => self.price.map(FieldValue::Price),
            Field::Quantity => self.quantity.map(FieldValue::Quantity),
        }
    }

    /// Applies a written change, with what it did to a sale ([`SaleAction`]).
    pub fn apply(&mut self, value: FieldValue, sale: Option<SaleAction>) {
        match (sale, value) {
            (Some(SaleAction::End), FieldValue::Price(p)) => {
                self.sale = None;
                self.price = Some(p);
            }
            (Some(SaleAction::Set), FieldValue::Price(p)) => match &mut self.sale {
                Some(sale) => sale.price = p,
                None => {
                    self.sale = Some(Box::new(Sale {
                        price: p,
                        until: None,
                    }))
                }
            },
            _ => self.set(value),
        }
    }

    /// Sets a field; used when a change has been applied (and by tests that apply plans).
    pub fn set(&mut self, value: FieldValue) {
        match value {
            FieldValue::Price(p) => self.price = Some(p),
            FieldValue::Quantity(q) => self.quantity = Some(q),
        }
    }
}

/// The value of one field: money is a `Decimal`, stock an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Price(Decimal),
    Quantity(i64),
}

impl FieldValue {
    pub fn field(self) -> Field {
        match self {
            FieldValue::Price(_) => Field::Price,
            FieldValue::Quantity(_) => Field::Quantity,
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Price(p) => write!(f, "{p}"),
            FieldValue::Quantity(q) => write!(f, "{q}"),
        }
    }
}

/// A manual mapping: this store listing belongs to that accounting item, whatever their
/// SKUs say. Manual mappings override automatic matching (rule 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub store_sku: String,
    pub accounting_sku: String,
}
