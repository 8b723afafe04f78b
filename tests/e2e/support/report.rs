//! Lookups in the JSON reports of `status` and `sync` (`--format json`).

use serde_json::Value;

/// One product's row of `invsync status --format json`.
pub fn status_of<'a>(report: &'a Value, sku: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["sku"] == sku)
        .unwrap_or_else(|| panic!("{sku} in {report}"))
}

/// Why a sync report held a product's field back.
pub fn held_reason(report: &Value, sku: &str, field: &str) -> String {
    report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .find(|s| s["sku"] == sku && s["field"] == field)
        .and_then(|s| s["reason"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{sku}'s {field} held back: {report}"))
}

/// A sync report's change of one product's field.
pub fn change<'a>(report: &'a Value, sku: &str, field: &str) -> Option<&'a Value> {
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["sku"] == sku && c["field"] == field)
}
