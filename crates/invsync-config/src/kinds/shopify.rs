//! `kind = "shopify"`: a Shopify store through the Admin GraphQL API
//! (docs/platform-apis.md §1).

use crate::{ConnectionConfig, SecretSource, ShopifyConnectionConfig, StoreConfig, Validator};
use invsync_core::SalePolicy;
use serde::Deserialize;
use std::path::Path;

/// The Admin API version invsync speaks when `api_version` is not set: the newest stable
/// (quarterly) version.
pub const DEFAULT_SHOPIFY_API_VERSION: &str = "2026-10";
/// The oldest version whose semantics the connector implements: inventory writes use
/// `compareQuantity` before 2026-01 and `changeFromQuantity` with `@idempotent(key:)` from
/// 2026-01 (mandatory from 2026-04; docs/platform-apis.md §1).
const OLDEST_SHOPIFY_API_VERSION: &str = "2025-01";
/// `bulk_above` when not set: catalogs with more variants than this are read with one bulk
/// operation instead of paged queries (ADR 0011).
pub const DEFAULT_SHOPIFY_BULK_ABOVE: u64 = 1_000;
/// `bulk_write_above` when not set: a run with more price changes than this writes them
/// with one bulk mutation (ADR 0110). 1,000 price calls at ~11 points are ~110 s of the
/// Standard plan's 100 points/s; above that the bulk path's few calls (stage, upload, run,
/// polls) cost less of the rate limit and of the run's time.
pub const DEFAULT_SHOPIFY_BULK_WRITE_ABOVE: u64 = 1_000;
/// The largest `bulk_write_above`: above it a catalog-wide price change would go one call
/// per product for hours (100,000 prices ≈ 3 h on Standard), the case the key exists for.
pub const MAX_SHOPIFY_BULK_WRITE_ABOVE: u64 = 100_000;
/// `full_read_every` when not set: between full reads, runs read only what changed since
/// the last read (ADR 0017). A day bounds what an incremental read could miss (a level
/// deactivated at the location) to a day, for one full read a day.
pub const DEFAULT_SHOPIFY_FULL_READ_EVERY: std::time::Duration =
    std::time::Duration::from_secs(24 * 3600);

/// `[stores.NAME] kind = "shopify"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStoreShopify {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    shop: String,
    access_token: SecretSource,
    base_url: Option<String>,
    api_version: Option<String>,
    location: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    bulk_above: Option<i64>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    bulk_write_above: Option<i64>,
    full_read_every: Option<String>,
    // How requests wait and retry (HttpPolicy).
    timeout: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    retries: Option<i64>,
    retry_backoff: Option<String>,
    // Quantity rules every store kind takes (product.md rule 7); see file.rs.
    #[serde(default, deserialize_with = "crate::integer::option")]
    buffer: Option<i64>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    max_quantity: Option<i64>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    share: Option<i64>,
}

pub(super) fn store(
    v: &mut Validator<'_>,
    key: &str,
    value: config::Value,
    base: &Path,
) -> Option<StoreConfig> {
    let raw: RawStoreShopify = v.deserialize(key, value)?;
    let shop = raw.shop.trim().to_ascii_lowercase();
    let shop_ok = valid_shop_domain(&shop);
    if !shop_ok {
        v.error(
            &format!("{key}.shop"),
            format!(
                "`{}` is not a shop domain; write the store's permanent domain like \"example.myshopify.com\" (Shopify admin → Settings → Domains)",
                raw.shop
            ),
        );
    }
    let access_token = v.secret(&format!("{key}.access_token"), &raw.access_token, base);
    let base_url = match &raw.base_url {
        Some(text) => v.base_url(&format!("{key}.base_url"), text),
        None if shop_ok => url::Url::parse(&format!("https://{shop}")).ok(),
        None => None,
    };
    let api_version = raw
        .api_version
        .as_deref()
        .map(str::trim)
        .unwrap_or(DEFAULT_SHOPIFY_API_VERSION)
        .to_owned();
    let version_ok = valid_api_version(&api_version);
    if !version_ok {
        v.error(
            &format!("{key}.api_version"),
            format!(
                "`{api_version}` is not a supported Admin API version; use a quarterly version like \"{DEFAULT_SHOPIFY_API_VERSION}\" (YYYY-01/04/07/10), {OLDEST_SHOPIFY_API_VERSION} or newer"
            ),
        );
    }
    let location = match raw.location.as_deref().map(str::trim) {
        None => Some(None),
        Some(l) => match location_gid(l) {
            Some(gid) => Some(Some(gid)),
            None => {
                v.error(
                    &format!("{key}.location"),
                    format!(
                        "`{l}` is not a location id; write \"gid://shopify/Location/123\" or the number from the location's admin URL"
                    ),
                );
                None
            }
        },
    };
    let bulk_above = match raw.bulk_above {
        None => Some(DEFAULT_SHOPIFY_BULK_ABOVE),
        Some(n) => match u64::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                v.error(
                    &format!("{key}.bulk_above"),
                    format!("{n} is out of range: 0 or more variants"),
                );
                None
            }
        },
    };
    let bulk_write_above = match raw.bulk_write_above {
        None => Some(DEFAULT_SHOPIFY_BULK_WRITE_ABOVE),
        Some(n) => match u64::try_from(n) {
            Ok(n) if n <= MAX_SHOPIFY_BULK_WRITE_ABOVE => Some(n),
            _ => {
                v.error(
                    &format!("{key}.bulk_write_above"),
                    format!(
                        "{n} is out of range: 0 to {MAX_SHOPIFY_BULK_WRITE_ABOVE} price changes (0: every run's prices go as one bulk mutation)"
                    ),
                );
                None
            }
        },
    };
    let full_read_every = match raw.full_read_every.as_deref() {
        None => Some(DEFAULT_SHOPIFY_FULL_READ_EVERY),
        // "0s": no incremental reads.
        Some(text) if humantime::parse_duration(text.trim()).is_ok_and(|d| d.is_zero()) => {
            Some(std::time::Duration::ZERO)
        }
        Some(text) => v.duration(&format!("{key}.full_read_every"), text),
    };
    let rules = v.rules(key, raw.buffer, raw.max_quantity, raw.share);
    let http = v.http(
        key,
        raw.timeout.as_deref(),
        raw.retries,
        raw.retry_backoff.as_deref(),
    );
    if !(shop_ok && version_ok) {
        return None;
    }
    Some(StoreConfig {
        connection: ConnectionConfig::Shopify(ShopifyConnectionConfig {
            shop,
            access_token: access_token?,
            base_url: base_url?,
            api_version,
            location: location?,
            bulk_above: bulk_above?,
            bulk_write_above: bulk_write_above?,
            full_read_every: full_read_every?,
            http: http?,
        }),
        rules: rules?,
        // No sale prices on this kind: a listing is never on sale.
        sale_price: SalePolicy::default(),
    })
}

/// `NAME.myshopify.com`, NAME of letters, digits and hyphens.
fn valid_shop_domain(shop: &str) -> bool {
    shop.strip_suffix(".myshopify.com").is_some_and(|name| {
        !name.is_empty()
            && !name.starts_with('-')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// `YYYY-MM` with a quarterly month, not older than the oldest supported, or `unstable`.
fn valid_api_version(version: &str) -> bool {
    if version == "unstable" {
        return true;
    }
    let Some((year, month)) = version.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && matches!(month, "01" | "04" | "07" | "10")
        // Same-length, zero-padded: string order is date order.
        && version >= OLDEST_SHOPIFY_API_VERSION
}

/// A location GID, or the bare number of one.
fn location_gid(text: &str) -> Option<String> {
    let digits = text.strip_prefix("gid://shopify/Location/").unwrap_or(text);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("gid://shopify/Location/{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_domains_versions_and_locations() {
        assert!(valid_shop_domain("example.myshopify.com"));
        assert!(valid_shop_domain("my-shop-2.myshopify.com"));
        assert!(!valid_shop_domain("example.com"));
        assert!(!valid_shop_domain(".myshopify.com"));
        assert!(!valid_shop_domain("a/b.myshopify.com"));
        assert!(valid_api_version("2026-04"));
        assert!(valid_api_version("2025-01"));
        assert!(valid_api_version("2027-01"));
        assert!(valid_api_version("unstable"));
        assert!(
            !valid_api_version("2024-10"),
            "older than the supported semantics"
        );
        assert!(!valid_api_version("2026-05"));
        assert!(!valid_api_version("latest"));
        assert_eq!(
            location_gid("123").as_deref(),
            Some("gid://shopify/Location/123")
        );
        assert_eq!(
            location_gid("gid://shopify/Location/9").as_deref(),
            Some("gid://shopify/Location/9")
        );
        assert_eq!(location_gid("Main street"), None);
    }
}
