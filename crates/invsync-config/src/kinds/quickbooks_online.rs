//! `kind = "quickbooks-online"`: the QuickBooks Online Accounting API v3 (accounting side
//! only). See the connector in `invsync-connectors` and `docs/adr/0030-*` … `0035-*`.

use crate::secret::SecretSource;
use crate::{
    ConnectionConfig, InventoryConfig, Master, QboEnvironment, QboQuantityWrite,
    QuickBooksOnlineConfig, Validator,
};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice};
use serde::Deserialize;
use std::path::Path;

/// Production API host (platform-apis.md §3).
pub const PRODUCTION_BASE_URL: &str = "https://quickbooks.api.intuit.com";
/// Sandbox API host (platform-apis.md §3).
pub const SANDBOX_BASE_URL: &str = "https://sandbox-quickbooks.api.intuit.com";
/// Intuit's OAuth 2.0 token endpoint, the same for production and sandbox.
pub const TOKEN_URL: &str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer";
/// The default `order_doc_number`: a store order is posted when a SalesReceipt or
/// Invoice carries the store's order number as its `DocNumber`.
pub const DEFAULT_ORDER_DOC_NUMBER: &str = "{order}";

/// `[accounting] kind = "quickbooks-online"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuickBooksOnline {
    #[allow(dead_code)] // read first, to pick this struct
    kind: String,
    realm_id: String,
    client_id: SecretSource,
    client_secret: SecretSource,
    refresh_token: Option<SecretSource>,
    token_key: SecretSource,
    environment: Option<String>,
    base_url: Option<String>,
    token_url: Option<String>,
    redirect_uri: Option<String>,
    quantity_write: Option<String>,
    adjustment_account: Option<String>,
    order_doc_number: Option<String>,
    timeout: Option<String>,
    #[serde(default, deserialize_with = "crate::integer::option")]
    retries: Option<i64>,
    retry_backoff: Option<String>,
}

pub(super) fn accounting(
    v: &mut Validator<'_>,
    value: config::Value,
    base: &Path,
) -> Option<ConnectionConfig> {
    let raw: RawQuickBooksOnline = v.deserialize("accounting", value)?;
    let realm_id = raw.realm_id.trim().to_owned();
    let realm_ok = !realm_id.is_empty() && realm_id.chars().all(|c| c.is_ascii_alphanumeric());
    if !realm_ok {
        v.error(
            "accounting.realm_id",
            "must be the company's realm ID (digits, shown in QuickBooks under Settings → Account and settings, or returned as realmId when the app is connected)",
        );
    }
    // The client ID is not a secret (it is part of the authorise URL by OAuth's design),
    // but it may come from the environment or a file like the secrets next to it.
    let client_id = v
        .secret("accounting.client_id", &raw.client_id, base)
        .map(|s| s.expose_secret().trim().to_owned());
    let client_secret = v.secret("accounting.client_secret", &raw.client_secret, base);
    let refresh_token = match &raw.refresh_token {
        None => Some(None),
        Some(source) => v.secret("accounting.refresh_token", source, base).map(Some),
    };
    let token_key = v.parsed_secret("accounting.token_key", &raw.token_key, base, |key| {
        decode_token_key(key)
    });
    let environment = match raw.environment.as_deref().map(str::trim) {
        None | Some("production") => Some(QboEnvironment::Production),
        Some("sandbox") => Some(QboEnvironment::Sandbox),
        Some(other) => {
            v.error(
                "accounting.environment",
                format!("`{other}` is not an environment: use \"production\" or \"sandbox\""),
            );
            None
        }
    };
    let base_url = match (&raw.base_url, environment) {
        (Some(text), _) => v.base_url("accounting.base_url", text),
        (None, Some(env)) => url::Url::parse(match env {
            QboEnvironment::Production => PRODUCTION_BASE_URL,
            QboEnvironment::Sandbox => SANDBOX_BASE_URL,
        })
        .ok(),
        (None, None) => None,
    };
    let token_url = match &raw.token_url {
        Some(text) => v.base_url("accounting.token_url", text),
        None => url::Url::parse(TOKEN_URL).ok(),
    };
    let redirect_uri = match &raw.redirect_uri {
        None => Some(None),
        Some(text) => match url::Url::parse(text.trim()) {
            Ok(u) if matches!(u.scheme(), "https" | "http") => Some(Some(text.trim().to_owned())),
            _ => {
                v.error(
                    "accounting.redirect_uri",
                    format!(
                        "`{text}` is not an http(s) URL; use one of the redirect URIs registered for the app on developer.intuit.com"
                    ),
                );
                None
            }
        },
    };
    let quantity_write = match raw.quantity_write.as_deref().map(str::trim) {
        None | Some("adjustment") => Some(QboQuantityWrite::Adjustment),
        Some("item") => Some(QboQuantityWrite::Item),
        Some(other) => {
            v.error(
                "accounting.quantity_write",
                format!("`{other}` is not a way to write quantity: use \"adjustment\" (an InventoryAdjustment, the default) or \"item\" (QtyOnHand on the item)"),
            );
            None
        }
    };
    let adjustment_account = match raw.adjustment_account.as_deref().map(str::trim) {
        None => Some(None),
        Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Some(Some(id.to_owned()))
        }
        Some(other) => {
            v.error(
                "accounting.adjustment_account",
                format!("`{other}` is not an account Id: give the Id (a number) of the account that inventory adjustments post to, e.g. Inventory Shrinkage"),
            );
            None
        }
    };
    let order_doc_number = match &raw.order_doc_number {
        None => Some(DEFAULT_ORDER_DOC_NUMBER.to_owned()),
        Some(t) => match check_template(t) {
            Ok(()) => Some(t.clone()),
            Err(e) => {
                v.error("accounting.order_doc_number", e);
                None
            }
        },
    };
    let http = v.http(
        "accounting",
        raw.timeout.as_deref(),
        raw.retries,
        raw.retry_backoff.as_deref(),
    );
    if !realm_ok {
        return None;
    }
    Some(ConnectionConfig::QuickBooksOnline(Box::new(
        QuickBooksOnlineConfig {
            realm_id,
            client_id: client_id?,
            client_secret: client_secret?,
            refresh_token: refresh_token?,
            token_key: token_key?,
            environment: environment?,
            base_url: base_url?,
            token_url: token_url?,
            redirect_uri: redirect_uri?,
            quantity_write: quantity_write?,
            adjustment_account: adjustment_account?,
            order_doc_number: order_doc_number?,
            http: http?,
        },
    )))
}

/// Checks that need the rest of the config: an InventoryAdjustment needs the account it
/// posts to (`AdjustAccountRef` is required, Finance.xsd `InventoryAdjustment`), and
/// invsync only writes the accounting side's quantity when a store is the master.
pub(super) fn check_with_inventory(
    v: &mut Validator<'_>,
    accounting: &QuickBooksOnlineConfig,
    inventory: &InventoryConfig,
) {
    if let Master::Store(store) = &inventory.master
        && accounting.quantity_write == QboQuantityWrite::Adjustment
        && accounting.adjustment_account.is_none()
    {
        v.error(
            "accounting.adjustment_account",
            format!(
                "missing: store `{store}` is the master inventory location, so invsync writes QuickBooks quantities as inventory adjustments, which post to an account; give its Id (e.g. the Inventory Shrinkage account), or set quantity_write = \"item\""
            ),
        );
    }
}

/// `token_key`: 32 bytes, as base64 (44 characters) or hex (64 characters).
fn decode_token_key(text: &str) -> Result<SecretSlice<u8>, String> {
    const HOW: &str = "must be 32 random bytes written as base64 (44 characters) or hex (64 characters); generate one with `openssl rand -base64 32`";
    let text = text.trim();
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| HOW.to_owned())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| HOW.to_owned())?
    };
    if bytes.len() != 32 {
        return Err(format!("is {} bytes long; it {HOW}", bytes.len()));
    }
    Ok(SecretSlice::from(bytes))
}

/// `order_doc_number`: text with `{order}` (the store's order number) and optionally
/// `{store}` (the store's name); no other placeholders.
pub(super) fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    let mut has_order = false;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("`{template}` has a `}}` without `{{`"));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{template}` has a `{{` without `}}`"));
        };
        match &after[..close] {
            "order" => has_order = true,
            "store" => {}
            other => {
                return Err(format!(
                    "`{{{other}}}` is not a placeholder; use {{order}} (the store's order number) and {{store}} (the store's name)"
                ));
            }
        }
        rest = &after[close + 1..];
    }
    if !has_order {
        return Err(format!(
            "`{template}` must contain {{order}}, or every order would look posted by the same document"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_keys_are_32_bytes_of_base64_or_hex() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(
            decode_token_key(hex).expect("hex").expose_secret().len(),
            32
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(
            decode_token_key(&b64).expect("base64").expose_secret(),
            &[7u8; 32]
        );
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert!(decode_token_key(&short).is_err());
        assert!(decode_token_key("not a key").is_err());
    }

    #[test]
    fn templates_need_the_order_and_known_placeholders() {
        assert!(check_template("{order}").is_ok());
        assert!(check_template("{store}-{order}").is_ok());
        assert!(check_template("WEB{order}").is_ok());
        assert!(check_template("{store}").is_err());
        assert!(check_template("{id}").is_err());
        assert!(check_template("{order").is_err());
        assert!(check_template("order}").is_err());
    }
}
