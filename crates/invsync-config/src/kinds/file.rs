//! `kind = "file"`: a CSV or JSON export (product.md, "File connections").

use crate::{ConnectionConfig, FileConnectionConfig, StoreConfig, Validator};
use invsync_core::SalePolicy;
use serde::Deserialize;
use std::path::Path;

/// `[accounting] kind = "file"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccountingFile {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    path: String,
    /// The largest file read, e.g. "1GiB" (a number alone is bytes).
    max_file_size: Option<String>,
}

/// `[stores.NAME] kind = "file"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStoreFile {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    path: String,
    orders: Option<String>,
    max_file_size: Option<String>,
    // Quantity rules every store kind takes (product.md rule 7). Listed per kind rather
    // than flattened: serde cannot combine `flatten` with `deny_unknown_fields`.
    #[serde(default, deserialize_with = "crate::integer::option")]
    buffer: Option<i64>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    max_quantity: Option<i64>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    share: Option<i64>,
}

pub(super) fn accounting(
    v: &mut Validator<'_>,
    value: config::Value,
    base: &Path,
) -> Option<ConnectionConfig> {
    let raw: RawAccountingFile = v.deserialize("accounting", value)?;
    let path = v.data_path("accounting.path", &raw.path, base);
    let max_file_size = v.max_file_size("accounting.max_file_size", raw.max_file_size.as_deref());
    Some(ConnectionConfig::File(FileConnectionConfig {
        path: path?,
        orders: None,
        max_file_size: max_file_size?,
    }))
}

pub(super) fn store(
    v: &mut Validator<'_>,
    key: &str,
    value: config::Value,
    base: &Path,
) -> Option<StoreConfig> {
    let raw: RawStoreFile = v.deserialize(key, value)?;
    let path = v.data_path(&format!("{key}.path"), &raw.path, base);
    let orders = match &raw.orders {
        None => Some(None),
        Some(o) => v.data_path(&format!("{key}.orders"), o, base).map(Some),
    };
    let max_file_size = v.max_file_size(
        &format!("{key}.max_file_size"),
        raw.max_file_size.as_deref(),
    );
    let rules = v.rules(key, raw.buffer, raw.max_quantity, raw.share);
    Some(StoreConfig {
        connection: ConnectionConfig::File(FileConnectionConfig {
            path: path?,
            orders: orders?,
            max_file_size: max_file_size?,
        }),
        rules: rules?,
        // No sale prices on this kind: a listing is never on sale.
        sale_price: SalePolicy::default(),
    })
}
