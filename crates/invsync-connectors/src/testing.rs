//! Hooks for tests, behind the `testing` feature (only dev-dependencies enable it): our own
//! clock for order cursors, captured payloads, price writes as the planner makes them, and
//! fuzzing inputs. The connections' own test hooks (`with_policy`, `with_order_clock`,
//! `set_backoff`, `shopify::documents::all`) are behind the same feature.

use crate::Write;
use invsync_core::{Field, FieldValue, Record, SaleAction};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;

pub use crate::order_feed::testing::OurClock;

/// The order cursor's format and overlap (ADR 0060), to check what connections hand back.
pub mod order_feed {
    pub use crate::order_feed::{Cursor, OVERLAP, Settle, parse};
}

/// A captured payload: `tests/fixtures/{platform}/{name}` (its README names every source).
pub fn fixture(platform: &str, name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/{platform}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A price write as the planner makes one: `old` is the price shoppers pay (the sale price
/// while a sale runs), `sale` what to do about the sale.
pub fn price_write(record: &Record, new: &str, sale: Option<SaleAction>) -> Write {
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

/// Cases per fuzzing property: `INVSYNC_FUZZ_CASES`, else `default` (the CI budget).
pub fn fuzz_cases(default: u32) -> u32 {
    std::env::var("INVSYNC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Header values as servers send them, and as they should not.
pub fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "0", "1", "-1", "1.5", "-0", "NaN", "inf", "-inf", "1e308", "1e400",
            "18446744073709551615", "18446744073709551616", "99999999999999999999",
            "3600", "3601", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", " 5 ", "",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => "[0-9]{1,30}".prop_map(String::into_bytes),
        1 => any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        1 => any::<f64>().prop_map(|f| f.to_string().into_bytes()),
        1 => "[ -~]{0,40}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..20),
    ]
}
