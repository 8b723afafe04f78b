//! OAuth 2.0 for QuickBooks Online: access tokens last an hour, refresh tokens rotate.
//!
//! Intuit may answer a refresh with a new refresh token and then refuses the old one
//! (`invalid_grant`); the FAQ says to always use "the latest refresh_token value from the
//! most recent server response" (developer.intuit.com …/authentication-and-authorization/faq,
//! reliability-research.md §5.2). So:
//!
//! * tokens live in the [`TokenVault`] (the run-history database), encrypted
//!   ([`super::seal`]); the config's `refresh_token` seeds it once and is never used
//!   again once the vault holds tokens;
//! * a refresh runs under the vault's lock and stores the new tokens in that same
//!   transaction, so one refresh is in flight per realm across every process, and the
//!   others then use what it stored;
//! * within a process, one task refreshes (an async mutex) while the rest wait for it;
//! * on `invalid_grant` the row is read again once (another process may have rotated the
//!   token); if that does not help, the connection is marked as needing re-authorisation
//!   and every run fails with the fix: `invsync auth quickbooks-online`.

use super::seal::{OpenError, Sealer, TokenSet};
use crate::http::{self, Backoff, Call, Pipeline, Plain, Timeouts};
use crate::redact::Redactor;
use crate::{ConnectorError, ErrorKind, SealedTokens, TokenVault, VaultDecision};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use invsync_config::{ConnectionConfig, QuickBooksOnlineConfig};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::{Arc, Mutex};

/// The token endpoint's part in the pipeline: the app's Basic credentials, no budget, and
/// never sent again once it may have arrived (a refresh rotates the token).
struct TokenEndpoint {
    plain: Plain,
    client_id: String,
    client_secret: SecretString,
}

impl http::Platform for TokenEndpoint {
    type Permit<'p> = ();

    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::RequestBuilder, Option<SecretString>), ConnectorError> {
        Ok((
            request
                .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
                .header(reqwest::header::ACCEPT, "application/json"),
            None,
        ))
    }

    async fn admit(&self, _call: &Call<'_>) {}

    fn throttle_limit(&self) -> Option<u32> {
        self.plain.throttle_limit()
    }

    fn status_error(&self, call: &Call<'_>, answer: &http::Answer) -> ConnectorError {
        self.plain.status_error(call, answer)
    }
}

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

/// An access token in use.
#[derive(Clone)]
struct Access {
    token: SecretString,
}

/// Everything a refresh needs, shared with the work a vault runs under its lock.
struct TokenContext {
    connection: String,
    realm: String,
    key: String,
    vault: Option<Arc<dyn TokenVault>>,
    sealer: Sealer,
    pipeline: Pipeline,
    token_url: url::Url,
    client_id: String,
    client_secret: SecretString,
    seed: Option<SecretString>,
    /// Masks the app's secret and every token this connection sends or is granted.
    redactor: Redactor,
}

/// The access tokens of one connection.
pub(crate) struct Tokens {
    ctx: Arc<TokenContext>,
    cached: tokio::sync::Mutex<Option<(Access, DateTime<Utc>, i64)>>,
}

/// What a token endpoint call gave.
struct Granted {
    tokens: TokenSet,
    access_expires_at: DateTime<Utc>,
    refresh_expires_at: Option<DateTime<Utc>>,
}

enum TokenCallError {
    /// `invalid_grant`: the refresh token (or code) is expired, revoked or replaced.
    InvalidGrant(String),
    Other(ConnectorError),
}

/// What the work under the vault's lock decided.
enum Decided {
    Done(VaultDecision, Outcome),
    /// `invalid_grant` for this refresh token: store nothing, read the row again.
    Retry(SecretString),
}

/// What the work under the vault's lock found out.
enum Outcome {
    Use(Access, DateTime<Utc>, i64),
    InvalidGrant(SecretString),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    x_refresh_token_expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// Refresh this long before the access token expires: 5 minutes, or a fifth of its
/// lifetime when that is shorter.
fn margin(lifetime_secs: i64) -> ChronoDuration {
    ChronoDuration::seconds((lifetime_secs / 5).clamp(0, 300))
}

fn fresh(expires_at: DateTime<Utc>, lifetime_secs: i64) -> bool {
    expires_at - Utc::now() > margin(lifetime_secs)
}

impl Tokens {
    pub fn new(
        connection: &str,
        config: &QuickBooksOnlineConfig,
        vault: Option<Arc<dyn TokenVault>>,
        timeouts: Timeouts,
        backoff: Backoff,
    ) -> Result<Tokens, ConnectorError> {
        Ok(Tokens {
            ctx: Arc::new(TokenContext {
                connection: connection.to_owned(),
                realm: config.realm_id.clone(),
                key: vault_key(&config.realm_id),
                vault,
                sealer: Sealer::new(config.token_key.clone()),
                pipeline: Pipeline::new(connection, timeouts, backoff)?,
                token_url: config.token_url.clone(),
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                seed: config.refresh_token.clone(),
                redactor: Redactor::for_config(&ConnectionConfig::QuickBooksOnline(Box::new(
                    config.clone(),
                ))),
            }),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// Masks this connection's credentials, the tokens it obtains included.
    pub fn redactor(&self) -> Redactor {
        self.ctx.redactor.clone()
    }

    /// A valid access token: the one in use, the one another process stored, or a new one.
    pub async fn access_token(&self) -> Result<SecretString, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some((access, expires_at, lifetime)) = &*cached
            && fresh(*expires_at, *lifetime)
        {
            return Ok(access.token.clone());
        }
        let (access, expires_at, lifetime) = self.ctx.obtain(None).await?;
        let token = access.token.clone();
        // Also one another process stored: it was never granted to this one.
        self.ctx.redactor.add(token.expose_secret());
        *cached = Some((access, expires_at, lifetime));
        Ok(token)
    }

    /// QuickBooks answered 401 to `rejected`: get another access token (from the vault if
    /// another process refreshed, else by refreshing), once.
    pub async fn after_unauthorized(&self, rejected: &SecretString) -> Result<(), ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some((access, ..)) = &*cached
            && access.token.expose_secret() != rejected.expose_secret()
        {
            return Ok(()); // another task already replaced it
        }
        let (access, expires_at, lifetime) = self.ctx.obtain(Some(rejected.clone())).await?;
        *cached = Some((access, expires_at, lifetime));
        Ok(())
    }
}

impl TokenContext {
    fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(&self.connection, kind, message)
    }

    fn needs_reauth_error(&self, why: &str) -> ConnectorError {
        self.error(
            ErrorKind::Auth,
            format!(
                "QuickBooks Online needs to be connected again: {why}. To fix it, {}",
                reauth_hint(&self.realm)
            ),
        )
    }

    /// Gets a usable access token through the vault (see the module docs). `rejected` is
    /// an access token QuickBooks just refused: never hand it out again.
    async fn obtain(
        self: &Arc<Self>,
        rejected: Option<SecretString>,
    ) -> Result<(Access, DateTime<Utc>, i64), ConnectorError> {
        let Some(vault) = self.vault.clone() else {
            return Err(self.error(
                ErrorKind::Other,
                "QuickBooks Online keeps its rotating tokens in the run-history database, but this connection was opened without it",
            ));
        };
        let mut refused: Option<SecretString> = None;
        // Attempt 0 refreshes; attempt 1 is the one re-read after `invalid_grant`.
        for attempt in 0..2 {
            let outcome: Arc<Mutex<Option<Outcome>>> = Arc::new(Mutex::new(None));
            let work = {
                let ctx = Arc::clone(self);
                let outcome = Arc::clone(&outcome);
                let rejected = rejected.clone();
                let refused = refused.clone();
                let last = attempt == 1;
                Box::new(move |row: Option<SealedTokens>| {
                    Box::pin(async move {
                        let (result, found) = match ctx.decide(row, rejected, refused, last).await?
                        {
                            Decided::Done(decision, found) => (Ok(decision), found),
                            // Fail the update so nothing is stored; the outcome says why.
                            Decided::Retry(token) => (
                                Err(ctx.error(
                                    ErrorKind::Auth,
                                    "Intuit refused the refresh token (invalid_grant)",
                                )),
                                Outcome::InvalidGrant(token),
                            ),
                        };
                        if let Ok(mut slot) = outcome.lock() {
                            *slot = Some(found);
                        }
                        result
                    }) as crate::VaultFuture
                })
            };
            let stored = vault.update(&self.key, work).await;
            let found = outcome.lock().ok().and_then(|mut slot| slot.take());
            match (stored, found) {
                (Ok(_), Some(Outcome::Use(access, expires_at, lifetime))) => {
                    return Ok((access, expires_at, lifetime));
                }
                (Ok(stored), _) => {
                    let why = stored
                        .and_then(|s| s.needs_reauth)
                        .unwrap_or_else(|| "Intuit refused the refresh token".to_owned());
                    return Err(self.needs_reauth_error(&why));
                }
                (Err(_), Some(Outcome::InvalidGrant(token))) if attempt == 0 => {
                    tracing::warn!(
                        connection = %self.connection,
                        "Intuit refused the refresh token (invalid_grant); reading the stored tokens again"
                    );
                    refused = Some(token);
                }
                (Err(e), _) => return Err(e),
            }
        }
        Err(self.needs_reauth_error("Intuit refused the refresh token"))
    }

    /// The work done under the vault's lock.
    async fn decide(
        &self,
        row: Option<SealedTokens>,
        rejected: Option<SecretString>,
        refused: Option<SecretString>,
        last: bool,
    ) -> Result<Decided, ConnectorError> {
        let mut current: Option<(TokenSet, Option<DateTime<Utc>>)> = None;
        if let Some(row) = row {
            if let Some(why) = &row.needs_reauth {
                return Err(self.needs_reauth_error(why));
            }
            if let Some(sealed) = &row.sealed {
                let tokens = self.sealer.open(sealed, &self.key).map_err(|e| match e {
                    OpenError::Unreadable => self.error(
                        ErrorKind::Auth,
                        format!(
                            "the QuickBooks Online tokens stored in the database cannot be decrypted with accounting.token_key (was the key changed?). Restore the old key, or {}",
                            reauth_hint(&self.realm)
                        ),
                    ),
                    OpenError::UnknownVersion(v) => self.error(
                        ErrorKind::Other,
                        format!("the stored QuickBooks Online tokens were written by a newer invsync (format {v}); upgrade invsync"),
                    ),
                })?;
                current = Some((tokens, row.access_expires_at));
            }
        }
        // Someone (this process earlier, or another one) stored a token that still works.
        if let Some((tokens, Some(expires_at))) = &current {
            let refused_now = rejected
                .as_ref()
                .is_some_and(|r| r.expose_secret() == tokens.access_token.expose_secret());
            if !refused_now && fresh(*expires_at, tokens.access_lifetime_secs) {
                return Ok(Decided::Done(
                    VaultDecision::Keep,
                    Outcome::Use(
                        Access {
                            token: tokens.access_token.clone(),
                        },
                        *expires_at,
                        tokens.access_lifetime_secs,
                    ),
                ));
            }
        }
        let refresh_token = match current {
            Some((tokens, _)) => tokens.refresh_token,
            None => match &self.seed {
                Some(seed) => seed.clone(),
                None => {
                    return Err(self.error(
                        ErrorKind::Auth,
                        format!(
                            "no QuickBooks Online tokens are stored for company {} and accounting.refresh_token is not set. To connect, {}",
                            self.realm,
                            reauth_hint(&self.realm)
                        ),
                    ));
                }
            },
        };
        if let Some(refused) = &refused
            && refused.expose_secret() == refresh_token.expose_secret()
        {
            // Read again after invalid_grant, and nobody has stored a newer token.
            return Ok(Decided::Done(
                self.needs_reauth_decision("Intuit refused the refresh token (invalid_grant)"),
                Outcome::InvalidGrant(refresh_token),
            ));
        }
        match self
            .call(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
            ])
            .await
        {
            Ok(granted) => {
                tracing::info!(connection = %self.connection, "refreshed the QuickBooks Online access token");
                let access = Access {
                    token: granted.tokens.access_token.clone(),
                };
                let lifetime = granted.tokens.access_lifetime_secs;
                let expires_at = granted.access_expires_at;
                Ok(Decided::Done(
                    VaultDecision::Store(self.sealed(&granted)),
                    Outcome::Use(access, expires_at, lifetime),
                ))
            }
            Err(TokenCallError::InvalidGrant(description)) if last => Ok(Decided::Done(
                self.needs_reauth_decision(&format!(
                    "Intuit refused the refresh token (invalid_grant{description})"
                )),
                Outcome::InvalidGrant(refresh_token),
            )),
            // Nothing is stored; the caller reads the row again once.
            Err(TokenCallError::InvalidGrant(_)) => Ok(Decided::Retry(refresh_token)),
            Err(TokenCallError::Other(e)) => Err(e),
        }
    }

    fn needs_reauth_decision(&self, why: &str) -> VaultDecision {
        VaultDecision::Store(SealedTokens {
            sealed: None,
            access_expires_at: None,
            refresh_expires_at: None,
            needs_reauth: Some(why.to_owned()),
        })
    }

    fn sealed(&self, granted: &Granted) -> SealedTokens {
        SealedTokens {
            sealed: Some(self.sealer.seal(&granted.tokens, &self.key)),
            access_expires_at: Some(granted.access_expires_at),
            refresh_expires_at: granted.refresh_expires_at,
            needs_reauth: None,
        }
    }

    /// One call of the token endpoint. Never retried once it may have reached Intuit: a
    /// refresh that went through rotated the token, and sending the old one again would
    /// be refused.
    async fn call(&self, form: &[(&str, &str)]) -> Result<Granted, TokenCallError> {
        for (key, value) in form {
            if matches!(*key, "refresh_token" | "code") {
                self.redactor.add(value);
            }
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let endpoint = TokenEndpoint {
            plain: Plain::once(&self.connection),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        };
        let call = Call::new(reqwest::Method::POST, self.token_url.clone(), "token")
            .form(encoded.as_bytes())
            .idempotent(false);
        let answer = self
            .pipeline
            .exchange(&endpoint, &call)
            .await
            .map_err(|e| {
                TokenCallError::Other(ConnectorError {
                    message: format!("Intuit's token endpoint: {}", e.message),
                    ..e
                })
            })?;
        let (status, body) = (answer.status, answer.body);
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
                TokenCallError::Other(self.error(
                    ErrorKind::Unavailable,
                    format!("Intuit's token endpoint answered HTTP {status} with a body invsync cannot read"),
                ))
            })?;
            self.redactor.add(&parsed.access_token);
            self.redactor.add(&parsed.refresh_token);
            let now = Utc::now();
            return Ok(Granted {
                access_expires_at: expires_at(now, parsed.expires_in),
                refresh_expires_at: parsed
                    .x_refresh_token_expires_in
                    .map(|s| expires_at(now, s)),
                tokens: TokenSet {
                    access_token: SecretString::from(parsed.access_token),
                    refresh_token: SecretString::from(parsed.refresh_token),
                    access_lifetime_secs: parsed.expires_in.clamp(0, MAX_TOKEN_LIFETIME_SECS),
                },
            });
        }
        // Error bodies are OAuth errors ({"error": "invalid_grant"}), never tokens.
        let error: TokenErrorBody = serde_json::from_slice(&body).unwrap_or(TokenErrorBody {
            error: None,
            error_description: None,
        });
        let code = error.error.unwrap_or_default();
        let description = error
            .error_description
            .map(|d| format!(": {}", http::truncate(&self.redactor.scrub(&d), 200)))
            .unwrap_or_default();
        if code == "invalid_grant" {
            return Err(TokenCallError::InvalidGrant(description));
        }
        let e = match (status.as_u16(), code.as_str()) {
            (_, "invalid_client") | (401, _) => self.error(
                ErrorKind::Auth,
                format!(
                    "Intuit's token endpoint refused the app's credentials (HTTP {status}{}{description}): check accounting.client_id and accounting.client_secret against the app's Keys & credentials on developer.intuit.com (production and development keys differ)",
                    if code.is_empty() { String::new() } else { format!(", {code}") }
                ),
            ),
            (s, _) if s == 429 || s >= 500 => self.error(
                ErrorKind::Unavailable,
                format!("Intuit's token endpoint is unavailable (HTTP {status}); the next run tries again"),
            ),
            _ => self.error(
                ErrorKind::Other,
                format!(
                    "Intuit's token endpoint answered HTTP {status}{}{description}",
                    if code.is_empty() { String::new() } else { format!(" ({code})") }
                ),
            ),
        };
        Err(TokenCallError::Other(e))
    }
}

/// A random `state` for the authorise URL (CSRF protection: the redirect must carry it).
pub fn new_state() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The URL an operator opens to let invsync access the company.
pub fn authorize_url(client_id: &str, redirect_uri: &str, state: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", SCOPE)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    format!("{AUTHORIZE_URL}?{query}")
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

/// When the refresh token obtained by [`connect_with_code`] expires, if Intuit said.
#[derive(Debug, Clone)]
pub struct Connected {
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// Exchanges an authorisation code for tokens and stores them in the vault, replacing
/// whatever was stored (and clearing "needs re-authorisation").
pub async fn connect_with_code(
    config: &QuickBooksOnlineConfig,
    vault: Arc<dyn TokenVault>,
    code: &str,
    redirect_uri: &str,
) -> Result<Connected, ConnectorError> {
    let tokens = Tokens::new(
        "accounting",
        config,
        Some(Arc::clone(&vault)),
        Timeouts {
            connect: std::time::Duration::from_secs(10),
            request: std::time::Duration::from_secs(30),
        },
        Backoff::default(),
    )?;
    let ctx = Arc::clone(&tokens.ctx);
    let granted = match ctx
        .call(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ])
        .await
    {
        Ok(g) => g,
        Err(TokenCallError::InvalidGrant(description)) => {
            return Err(ctx.error(
                ErrorKind::Auth,
                format!(
                    "Intuit refused the authorisation code (invalid_grant{description}): codes are valid for a few minutes and only once, and redirect_uri must be the one used in the authorise URL; start again"
                ),
            ));
        }
        Err(TokenCallError::Other(e)) => return Err(e),
    };
    let sealed = ctx.sealed(&granted);
    let refresh_expires_at = sealed.refresh_expires_at;
    vault
        .update(
            &ctx.key,
            Box::new(move |_| {
                Box::pin(async move { Ok(VaultDecision::Store(sealed)) }) as crate::VaultFuture
            }),
        )
        .await?;
    Ok(Connected { refresh_expires_at })
}

/// The longest token lifetime believed: Intuit's refresh tokens live at most 5 years.
/// A larger `expires_in` is a garbled answer (found by fuzzing: 8,208,471,043,197 s
/// overflowed the date arithmetic and panicked).
const MAX_TOKEN_LIFETIME_SECS: i64 = 5 * 366 * 24 * 3600;

/// When a token granted at `now` for `secs` seconds expires, `secs` clamped to
/// `0..=MAX_TOKEN_LIFETIME_SECS`.
fn expires_at(now: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    now + ChronoDuration::seconds(secs.clamp(0, MAX_TOKEN_LIFETIME_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzzing found `expires_in: 8208471043197` panicking in the date arithmetic.
    #[test]
    fn implausible_token_lifetimes_are_clamped_not_a_panic() {
        let now = Utc::now();
        assert_eq!(
            expires_at(now, 8_208_471_043_197),
            now + ChronoDuration::seconds(MAX_TOKEN_LIFETIME_SECS)
        );
        assert_eq!(
            expires_at(now, i64::MAX),
            expires_at(now, MAX_TOKEN_LIFETIME_SECS)
        );
        assert_eq!(expires_at(now, -5), now);
        assert_eq!(expires_at(now, 3600), now + ChronoDuration::seconds(3600));
    }

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

    #[test]
    fn refresh_margin_is_five_minutes_or_a_fifth() {
        assert_eq!(margin(3600), ChronoDuration::seconds(300));
        assert_eq!(margin(60), ChronoDuration::seconds(12));
        assert!(fresh(Utc::now() + ChronoDuration::minutes(10), 3600));
        assert!(!fresh(Utc::now() + ChronoDuration::minutes(4), 3600));
    }
}
