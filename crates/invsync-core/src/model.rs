//! The vocabulary of product.md as types.

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

/// Whether a product's stock is synced (`inventory`) or it is display-only (`base`:
/// variable/parent products, bundles, groups, untracked items).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    #[default]
    Inventory,
    Base,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Inventory => "inventory",
            ItemKind::Base => "base",
        }
    }
}

/// One product as a connection reports it: an accounting item or a store listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Record {
    pub fn value(&self, field: Field) -> Option<FieldValue> {
        match field {
            Field::Price => self.price.map(FieldValue::Price),
            Field::Quantity => self.quantity.map(FieldValue::Quantity),
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
