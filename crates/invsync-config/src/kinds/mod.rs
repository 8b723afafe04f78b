//! Connection kinds. Each kind is one module with its own `Raw*` structs
//! (`deny_unknown_fields`, so unknown keys are errors at their own key) and a function
//! that validates them into a [`ConnectionConfig`]. Adding a kind: a module here, its
//! names in the lists below, an arm in each `match`, and a [`ConnectionConfig`] variant.

mod bigcommerce;
mod file;
pub mod quickbooks_desktop;
pub mod quickbooks_online;
pub mod quickbooks_pos;
mod shopify;
mod woocommerce;

pub use shopify::{
    DEFAULT_SHOPIFY_API_VERSION, DEFAULT_SHOPIFY_BULK_ABOVE, DEFAULT_SHOPIFY_BULK_WRITE_ABOVE,
    DEFAULT_SHOPIFY_FULL_READ_EVERY,
};

use crate::{ConnectionConfig, InventoryConfig, StoreConfig, Validator};
use std::path::Path;

/// Kinds the `[accounting]` section takes in this version.
pub(crate) const ACCOUNTING_KINDS: &[&str] = &[
    "file",
    "quickbooks-online",
    "quickbooks-desktop",
    "quickbooks-pos",
];
/// Kinds a `[stores.NAME]` section takes in this version.
pub(crate) const STORE_KINDS: &[&str] = &["file", "shopify", "woocommerce", "bigcommerce"];
/// Kinds that are planned but not built yet: they get "not available in this version"
/// rather than "not a kind of connection".
pub(crate) const PLANNED_KINDS: &[&str] = &["xero"];

pub(crate) fn accounting(
    v: &mut Validator<'_>,
    kind: &str,
    value: config::Value,
    base: &Path,
) -> Option<ConnectionConfig> {
    match kind {
        "file" => file::accounting(v, value, base),
        "quickbooks-online" => quickbooks_online::accounting(v, value, base),
        "quickbooks-desktop" => quickbooks_desktop::accounting(v, value),
        "quickbooks-pos" => quickbooks_pos::accounting(v, value),
        _ => None,
    }
}

/// Checks of the accounting connection that need the `[inventory]` section.
pub(crate) fn check_accounting(
    v: &mut Validator<'_>,
    accounting: &ConnectionConfig,
    inventory: &InventoryConfig,
) {
    match accounting {
        ConnectionConfig::QuickBooksOnline(q) => {
            quickbooks_online::check_with_inventory(v, q, inventory)
        }
        ConnectionConfig::QuickBooksDesktop(q) => {
            quickbooks_desktop::check_with_inventory(v, q, inventory)
        }
        _ => {}
    }
}

pub(crate) fn store(
    v: &mut Validator<'_>,
    key: &str,
    kind: &str,
    value: config::Value,
    base: &Path,
) -> Option<StoreConfig> {
    match kind {
        "file" => file::store(v, key, value, base),
        "woocommerce" => woocommerce::store(v, key, value, base),
        "bigcommerce" => bigcommerce::store(v, key, value, base),
        "shopify" => shopify::store(v, key, value, base),
        _ => None,
    }
}
