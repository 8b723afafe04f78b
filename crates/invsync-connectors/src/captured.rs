//! Test helpers shared by the platform connectors' tests: captured payloads
//! (`tests/fixtures/`, whose README names every source) and price writes as the planner
//! makes them.

use crate::Write;
use invsync_core::{Field, FieldValue, Record, SaleAction};
use rust_decimal::Decimal;
use serde_json::Value;

/// A captured payload: `tests/fixtures/{platform}/{name}`.
pub(crate) fn fixture(platform: &str, name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/{platform}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A price write as the planner makes one: `old` is the price shoppers pay (the sale price
/// while a sale runs), `sale` what to do about the sale.
pub(crate) fn price_write(record: &Record, new: &str, sale: Option<SaleAction>) -> Write {
    Write {
        id: record.id.clone(),
        sku: record.sku.clone(),
        field: Field::Price,
        old: FieldValue::Price(record.charged_price().expect("a price")),
        new: FieldValue::Price(new.parse::<Decimal>().expect("a decimal")),
        key: format!("k-{}", record.sku),
        sale,
    }
}
