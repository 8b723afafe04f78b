//! `kind = "woocommerce"` (stores only): a WooCommerce site's REST API v3
//! (shared/docs/platform-apis.md §2).

use crate::{ConnectionConfig, SecretSource, StoreConfig, Validator, WooCommerceConfig};
use serde::Deserialize;
use std::path::Path;

/// `[stores.NAME] kind = "woocommerce"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStoreWoo {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    url: String,
    consumer_key: SecretSource,
    consumer_secret: SecretSource,
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
    let raw: RawStoreWoo = v.deserialize(key, value)?;
    // HTTP Basic sends the secret with every request: https only (loopback http for tests).
    let url = v.base_url(&format!("{key}.url"), &raw.url);
    let url = url.and_then(|u| {
        if u.query().is_some() || u.fragment().is_some() {
            v.error(
                &format!("{key}.url"),
                "must be the site's address without a query or fragment, e.g. https://shop.example.com",
            );
            None
        } else {
            Some(u)
        }
    });
    let consumer_key = v.secret(&format!("{key}.consumer_key"), &raw.consumer_key, base);
    let consumer_secret = v.secret(
        &format!("{key}.consumer_secret"),
        &raw.consumer_secret,
        base,
    );
    let rules = v.rules(key, raw.buffer, raw.max_quantity, raw.share);
    let sale_price = v.sale_price(key, raw.sale_price.as_deref());
    let http = v.http(
        key,
        raw.timeout.as_deref(),
        raw.retries,
        raw.retry_backoff.as_deref(),
    );
    Some(StoreConfig {
        connection: ConnectionConfig::WooCommerce(WooCommerceConfig {
            url: url?,
            consumer_key: consumer_key?,
            consumer_secret: consumer_secret?,
            http: http?,
        }),
        rules: rules?,
        sale_price: sale_price?,
    })
}
