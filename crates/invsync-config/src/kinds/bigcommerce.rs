//! `kind = "bigcommerce"` (stores only): a BigCommerce store's v3 Catalog and Inventory
//! APIs and its v2 Orders API (shared/docs/platform-apis.md §4).

use crate::{BigCommerceConfig, ConnectionConfig, SecretSource, StoreConfig, Validator};
use serde::Deserialize;
use std::path::Path;

/// `[stores.NAME] kind = "bigcommerce"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStoreBig {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    store_hash: String,
    access_token: SecretSource,
    #[serde(default, deserialize_with = "crate::integer::option")]
    location_id: Option<i64>,
    base_url: Option<String>,
    // How requests wait and retry (HttpPolicy).
    timeout: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    retries: Option<i64>,
    retry_backoff: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    buffer: Option<i64>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    max_quantity: Option<i64>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    share: Option<i64>,
    /// What a price sync does to a listing on sale: "hold" (default), "clear", "write".
    sale_price: Option<String>,
}

pub(super) fn store(
    v: &mut Validator<'_>,
    key: &str,
    value: config::Value,
    base: &Path,
) -> Option<StoreConfig> {
    let raw: RawStoreBig = v.deserialize(key, value)?;
    let hash = raw.store_hash.trim().to_owned();
    let hash_ok = !hash.is_empty() && hash.chars().all(|c| c.is_ascii_alphanumeric());
    if !hash_ok {
        v.error(
            &format!("{key}.store_hash"),
            format!(
                "`{}` is not a store hash: use the letters and digits after /stores/ in the API path of your API account",
                raw.store_hash
            ),
        );
    }
    let location_id = match raw.location_id {
        None => Some(1),
        Some(id) if id >= 1 => u64::try_from(id).ok(),
        Some(id) => {
            v.error(
                &format!("{key}.location_id"),
                format!(
                    "{id} is not a location id: use a positive number (1 is the default location)"
                ),
            );
            None
        }
    };
    let base_url = match &raw.base_url {
        Some(text) => v.base_url(&format!("{key}.base_url"), text),
        None if hash_ok => {
            url::Url::parse(&format!("https://api.bigcommerce.com/stores/{hash}")).ok()
        }
        None => None,
    };
    let access_token = v.secret(&format!("{key}.access_token"), &raw.access_token, base);
    let rules = v.rules(key, raw.buffer, raw.max_quantity, raw.share);
    let sale_price = v.sale_price(key, raw.sale_price.as_deref());
    let http = v.http(
        key,
        raw.timeout.as_deref(),
        raw.retries,
        raw.retry_backoff.as_deref(),
    );
    if !hash_ok {
        return None;
    }
    Some(StoreConfig {
        connection: ConnectionConfig::BigCommerce(BigCommerceConfig {
            store_hash: hash,
            access_token: access_token?,
            location_id: location_id?,
            base_url: base_url?,
            http: http?,
        }),
        rules: rules?,
        sale_price: sale_price?,
    })
}
