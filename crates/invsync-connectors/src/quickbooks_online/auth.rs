//! OAuth 2.0 for QuickBooks Online: the shared rotating-token machinery
//! ([`crate::oauth`]) with Intuit's endpoints, names and hints, and the authorisation-code
//! flow of `invsync auth quickbooks-online`.

use crate::http::{Backoff, Timeouts};
use crate::oauth::{self, Provider, Tokens};
use crate::redact::Redactor;
use crate::{ConnectorError, TokenVault};
use invsync_config::{ConnectionConfig, QuickBooksOnlineConfig};
use std::sync::Arc;

pub use crate::oauth::{Connected, new_state};

/// Where an operator authorises the app (Intuit's OAuth 2.0 authorisation endpoint).
pub const AUTHORIZE_URL: &str = "https://appcenter.intuit.com/connect/oauth2";
/// The scope invsync asks for: the Accounting API.
pub const SCOPE: &str = "com.intuit.quickbooks.accounting";

/// The vault key of a realm.
pub fn vault_key(realm_id: &str) -> String {
    format!("quickbooks-online:{realm_id}")
}

/// How to fix a connection whose refresh token was refused.
fn reauth_hint(realm: &str) -> String {
    format!(
        "run `invsync auth quickbooks-online` (with the same --config) to connect QuickBooks Online company {realm} again; syncs resume with the new tokens"
    )
}

/// The OAuth setup of a QuickBooks Online company.
fn provider(connection: &str, config: &QuickBooksOnlineConfig) -> Provider {
    Provider {
        connection: connection.to_owned(),
        product: "QuickBooks Online",
        issuer: "Intuit",
        account: format!("company {}", config.realm_id),
        key: vault_key(&config.realm_id),
        reauth_hint: reauth_hint(&config.realm_id),
        token_key_setting: "accounting.token_key",
        seed_setting: "accounting.refresh_token",
        credentials_hint: "check accounting.client_id and accounting.client_secret against the app's Keys & credentials on developer.intuit.com (production and development keys differ)",
        token_url: config.token_url.clone(),
        client_id: config.client_id.clone(),
        client_secret: config.client_secret.clone(),
        token_key: config.token_key.clone(),
        seed: config.refresh_token.clone(),
        redactor: Redactor::for_config(&ConnectionConfig::QuickBooksOnline(Box::new(
            config.clone(),
        ))),
    }
}

/// The access tokens of a connection to this company.
pub(crate) fn tokens(
    connection: &str,
    config: &QuickBooksOnlineConfig,
    vault: Option<Arc<dyn TokenVault>>,
    timeouts: Timeouts,
    backoff: Backoff,
) -> Result<Tokens, ConnectorError> {
    Tokens::new(provider(connection, config), vault, timeouts, backoff)
}

/// The URL an operator opens to let invsync access the company.
pub fn authorize_url(client_id: &str, redirect_uri: &str, state: &str) -> String {
    oauth::authorize_url(AUTHORIZE_URL, client_id, SCOPE, redirect_uri, state)
}

/// The authorisation code from what an operator pasted: the whole URL QuickBooks
/// redirected to (`…?code=…&state=…&realmId=…`), or the bare code. A URL must carry the
/// expected `state` (when one is given) and the configured realm.
pub fn code_from_redirect(
    input: &str,
    expected_state: Option<&str>,
    realm_id: &str,
) -> Result<String, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err(
            "nothing was entered: paste the URL QuickBooks redirected to, or its `code` parameter"
                .into(),
        );
    }
    let Ok(url) = url::Url::parse(input) else {
        if input.chars().any(char::is_whitespace) {
            return Err("that is neither a URL nor a code".into());
        }
        return Ok(input.to_owned());
    };
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Err(format!(
            "QuickBooks did not authorise invsync ({error}); start again and choose Connect"
        ));
    }
    let code = param("code").ok_or(
        "the URL has no `code` parameter: paste the whole address QuickBooks redirected to",
    )?;
    if let (Some(expected), Some(state)) = (expected_state, param("state"))
        && expected != state
    {
        return Err("the URL's `state` does not match this authorisation: open the URL printed above and paste the address it redirects to".into());
    }
    if let Some(realm) = param("realmId")
        && realm != realm_id
    {
        return Err(format!(
            "you connected company {realm}, but accounting.realm_id is {realm_id}: connect that company, or change realm_id"
        ));
    }
    Ok(code)
}

/// Exchanges an authorisation code for tokens and stores them in the vault, replacing
/// whatever was stored (and clearing "needs re-authorisation").
pub async fn connect_with_code(
    config: &QuickBooksOnlineConfig,
    vault: Arc<dyn TokenVault>,
    code: &str,
    redirect_uri: &str,
) -> Result<Connected, ConnectorError> {
    tokens(
        "accounting",
        config,
        Some(vault),
        Timeouts {
            connect: std::time::Duration::from_secs(10),
            request: std::time::Duration::from_secs(30),
        },
        Backoff::default(),
    )?
    .connect_with_code(code, redirect_uri)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorise_url_carries_client_scope_redirect_and_state() {
        let url = authorize_url("client-1", "https://example.com/cb", "abc");
        let parsed = url::Url::parse(&url).expect("url");
        let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(parsed.host_str(), Some("appcenter.intuit.com"));
        assert_eq!(q["client_id"], "client-1");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "com.intuit.quickbooks.accounting");
        assert_eq!(q["redirect_uri"], "https://example.com/cb");
        assert_eq!(q["state"], "abc");
        assert_eq!(new_state().len(), 32);
        assert_ne!(new_state(), new_state());
    }

    #[test]
    fn codes_come_from_the_redirect_or_as_they_are() {
        let realm = "123";
        assert_eq!(
            code_from_redirect(
                "https://example.com/cb?code=C1&state=S&realmId=123",
                Some("S"),
                realm
            ),
            Ok("C1".into())
        );
        assert_eq!(
            code_from_redirect("  C2\n", Some("S"), realm),
            Ok("C2".into())
        );
        assert!(
            code_from_redirect("https://example.com/cb?code=C1&state=X", Some("S"), realm)
                .expect_err("state")
                .contains("state")
        );
        assert!(
            code_from_redirect("https://example.com/cb?code=C1&realmId=9", None, realm)
                .expect_err("realm")
                .contains("company 9")
        );
        assert!(
            code_from_redirect("https://example.com/cb?error=access_denied", None, realm)
                .expect_err("denied")
                .contains("access_denied")
        );
        assert!(code_from_redirect("https://example.com/cb", None, realm).is_err());
        assert!(code_from_redirect("", None, realm).is_err());
    }
}
