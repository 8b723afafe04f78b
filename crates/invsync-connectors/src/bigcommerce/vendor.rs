//! BigCommerce's JSON, as far as invsync reads it, and the ids invsync gives its records.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use std::str::FromStr;

use super::OPEN_STATUSES;
use crate::lenient::Lenient;
use invsync_core::Sale;

#[derive(Debug, Clone, Deserialize)]
pub(super) struct BcProduct {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub price: Option<serde_json::Number>,
    /// 0 (or absent) for none.
    #[serde(default)]
    pub sale_price: Option<serde_json::Number>,
    #[serde(default)]
    pub inventory_tracking: String,
    #[serde(default)]
    pub inventory_level: Option<i64>,
    #[serde(default)]
    pub variants: Vec<BcVariant>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct BcVariant {
    pub id: u64,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub price: Option<serde_json::Number>,
    /// `null`: the product's sale price applies.
    #[serde(default)]
    pub sale_price: Option<serde_json::Number>,
    #[serde(default)]
    pub inventory_level: Option<i64>,
    #[serde(default)]
    pub option_values: Vec<Value>,
}

/// What a record id says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct RecordId {
    pub product: u64,
    pub variant: u64,
    /// Stock tracked on the product rather than the variant.
    pub by_product: bool,
}

impl RecordId {
    pub fn parse(s: &str) -> Result<RecordId, String> {
        let bad = || format!("`{s}` is not a BigCommerce record id");
        let mut parts = s.split('/');
        let product = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let variant = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let by_product = match parts.next() {
            Some("p") => true,
            Some("v") => false,
            _ => return Err(bad()),
        };
        Ok(RecordId {
            product,
            variant,
            by_product,
        })
    }

    pub fn text(self) -> String {
        format!(
            "{}/{}/{}",
            self.product,
            self.variant,
            if self.by_product { "p" } else { "v" }
        )
    }

    /// The inventory item this record's stock is.
    pub fn item(self) -> InventoryItem {
        if self.by_product {
            InventoryItem::Product(self.product)
        } else {
            InventoryItem::Variant(self.variant)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum InventoryItem {
    Product(u64),
    Variant(u64),
}

/// A price as BigCommerce sends it (a JSON number) as a `Decimal`, through the number's
/// shortest round-trip text: `19.99` stays `19.99`.
pub(super) fn decimal(n: &serde_json::Number) -> Result<Decimal, String> {
    let text = n.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("price {text} is not a usable amount"))
}

pub(super) fn price_of(
    variant: Option<&serde_json::Number>,
    product: Option<&serde_json::Number>,
) -> Result<Option<Decimal>, String> {
    variant.or(product).map(decimal).transpose()
}

/// The sale a variant is on: its `sale_price`, or the product's where the variant's is
/// `null` ("If … this value is null, the product's sale price … will be used as the sale
/// price", product-variants_catalog.v3.yml). A product's sale price "will be used instead of
/// value in the price field when calculating the product's cost", and `calculated_price` "is
/// equal to the sale price if set" (products_catalog.v3.yml): so any sale price above 0 is
/// what shoppers pay, even one equal to or above the price (the live payload of issue 12
/// has `price` 3.35, `sale_price` 3.35: writing `price` alone left the storefront at 3.35).
/// BigCommerce keeps no sale dates on catalog prices.
pub(super) fn sale_of(
    variant: Option<&serde_json::Number>,
    product: Option<&serde_json::Number>,
) -> Result<Option<Sale>, String> {
    let Some(price) = variant.or(product).map(decimal).transpose()? else {
        return Ok(None);
    };
    Ok((price > Decimal::ZERO).then_some(Sale { price, until: None }))
}

/// A v2 order (orders.v2.oas2.yml), read leniently: an odd field reads as absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct BcOrder {
    /// Orders without one are left out.
    pub id: Lenient<u64>,
    pub status_id: Lenient<u64>,
    /// RFC 2822, the store's clock.
    pub date_modified: Lenient<String>,
}

impl BcOrder {
    /// Whether the order still holds stock (its `status_id` is one of [`OPEN_STATUSES`]).
    pub fn is_open(&self) -> bool {
        self.status_id
            .0
            .is_some_and(|s| OPEN_STATUSES.iter().any(|o| u64::from(*o) == s))
    }
}

/// A line of `GET /v2/orders/{id}/products`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct BcOrderProduct {
    pub sku: Lenient<String>,
    pub quantity: Lenient<i64>,
    pub quantity_shipped: Lenient<i64>,
}

impl BcOrderProduct {
    /// The units not shipped yet, by SKU; `None` for a line that holds nothing a SKU can
    /// be matched to. Partly shipped orders hold only what has not left yet.
    pub fn unshipped(&self) -> Option<(&str, i64)> {
        let sku = self.sku.0.as_deref().unwrap_or("").trim();
        let open = self.quantity.0.unwrap_or(0) - self.quantity_shipped.0.unwrap_or(0);
        (!sku.is_empty() && open > 0).then_some((sku, open))
    }
}

/// A row of `GET /v3/inventory/locations/{id}/items` (LocationItemsResponse).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct LocationItem {
    pub total_inventory_onhand: Lenient<i64>,
    pub identity: Lenient<Identity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct Identity {
    pub variant_id: Lenient<u64>,
    pub product_id: Lenient<u64>,
}

/// `title` of a v3 error, `batch_errors` titles, or v2's `[{"message"}]`.
pub(super) fn error_detail(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return String::new();
    };
    if let Some(t) = v.get("title").and_then(Value::as_str) {
        return t.to_owned();
    }
    if let Some(errors) = v.get("batch_errors").and_then(Value::as_array) {
        return errors
            .iter()
            .filter_map(|e| e.get("title").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Some(m) = v
        .get(0)
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
    {
        return m.to_owned();
    }
    String::new()
}
