//! The platforms' real machine-readable specs (`../shared/specs/` next to the repository:
//! Shopify's GraphQL schema, BigCommerce's OpenAPI files, QuickBooks' XSDs …). Tests check
//! what connectors send against them. They are never copied into this repository; a
//! missing spec fails the test — it is never skipped.

use std::path::PathBuf;

/// The specs folder: `$INVSYNC_SPECS_DIR`, else `shared/specs` in the nearest folder above
/// the repository that has one (normally `<repository>/../shared/specs`).
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INVSYNC_SPECS_DIR") {
        return PathBuf::from(dir);
    }
    // crates/invsync-test-support → crates → the repository root.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.ancestors()
        .skip(1)
        .map(|above| above.join("shared/specs"))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| root.join("../shared/specs"))
}

/// The path of one spec file, e.g. `path("shopify/admin_schema_2025-01.json.gz")`.
/// Panics with a clear message when it is missing.
pub fn path(relative: &str) -> PathBuf {
    let path = dir().join(relative);
    assert!(
        path.exists(),
        "platform spec {} is missing: the specs live in ../shared/specs next to the repository (or set INVSYNC_SPECS_DIR)",
        path.display()
    );
    path
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_specs_are_there() {
        for spec in [
            "shopify/admin_schema_2025-01.json.gz",
            "bigcommerce/inventory.v3.yml",
            "quickbooks-online/Finance.xsd",
        ] {
            assert!(super::path(spec).is_file());
        }
    }
}
