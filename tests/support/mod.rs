//! Helpers shared by the end-to-end tests of the platform stores (`mod support;`).

use serde_json::Value;
use std::path::Path;

/// Writes `accounting.csv` and an `invsync.toml` with a SQLite database, that file as the
/// accounting side and `store` (a `[stores.NAME]` table) as the store.
pub fn write_setup(dir: &Path, accounting_csv: &str, store: &str) {
    std::fs::write(dir.join("accounting.csv"), accounting_csv).expect("accounting");
    std::fs::write(
        dir.join("invsync.toml"),
        format!(
            r#"
[database]
url = "sqlite://invsync.db"

[accounting]
kind = "file"
path = "accounting.csv"

{store}"#
        ),
    )
    .expect("config");
}

/// `sale_price = "…"` for a store table, or nothing for the default.
pub fn sale_price_line(policy: Option<&str>) -> String {
    policy.map_or_else(String::new, |p| format!("sale_price = \"{p}\"\n"))
}

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
