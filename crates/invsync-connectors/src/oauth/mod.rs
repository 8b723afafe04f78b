//! OAuth 2.0 with rotating refresh tokens, for any connector whose platform rotates them
//! (QuickBooks Online now, Xero next): access tokens last an hour or so, refresh tokens
//! rotate.
//!
//! A platform may answer a refresh with a new refresh token and then refuse the old one
//! (`invalid_grant`); Intuit's FAQ says to always use "the latest refresh_token value from
//! the most recent server response" (reliability-research.md §5.2). So:
//!
//! * tokens live in the [`TokenVault`] (the run-history database), sealed ([`seal`]:
//!   XChaCha20-Poly1305 with the connection's `token_key`, ADR 0031); the config's
//!   refresh token seeds it once and is never used again once the vault holds tokens;
//! * a refresh runs under the vault's lock and stores the new tokens in that same
//!   transaction, so one refresh is in flight per account across every process, and the
//!   others then use what it stored (ADR 0030);
//! * within a process, one task refreshes (an async mutex) while the rest wait for it;
//! * on `invalid_grant` the row is read again once (another process may have rotated the
//!   token); if that does not help, the connection is marked as needing re-authorisation
//!   and every run fails with the fix the [`Provider`] names.
//!
//! A connector describes its platform in a [`Provider`] (names for messages, the token
//! endpoint, the app's credentials, the vault key) and asks [`Tokens`] for an access token
//! per request ([`crate::http::Platform::authorize`]) and for another after a 401.

pub(crate) mod seal;

use crate::http::{self, Backoff, Call, Pipeline, Plain, Timeouts};
use crate::redact::Redactor;
use crate::{ConnectorError, ErrorKind, SealedTokens, TokenVault, VaultDecision};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::Rng;
use seal::{OpenError, Sealer, TokenSet};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Deserialize;
use std::sync::{Arc, Mutex};

/// One platform account's OAuth setup, and how messages name things.
pub(crate) struct Provider {
    /// `accounting` or the store name.
    pub connection: String,
    /// The platform in messages: "QuickBooks Online".
    pub product: &'static str,
    /// Who runs the token endpoint, in messages: "Intuit".
    pub issuer: &'static str,
    /// The account in messages: "company 123".
    pub account: String,
    /// The account's row in the vault, also the sealed tokens' associated data.
    pub key: String,
    /// How to connect again: "run `invsync auth …` …".
    pub reauth_hint: String,
    /// Where the sealing key is configured: "accounting.token_key".
    pub token_key_setting: &'static str,
    /// Where the first refresh token is configured: "accounting.refresh_token".
    pub seed_setting: &'static str,
    /// What to check when the token endpoint refuses the app's credentials.
    pub credentials_hint: &'static str,
    pub token_url: url::Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The 32-byte key that seals the tokens.
    pub token_key: SecretSlice<u8>,
    /// The configured refresh token, used once while the vault holds none.
    pub seed: Option<SecretString>,
    /// Masks the app's secret and every token this connection sends or is granted.
    pub redactor: Redactor,
}

/// When the refresh token obtained by [`Tokens::connect_with_code`] expires, if the
/// platform said.
#[derive(Debug, Clone)]
pub struct Connected {
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// The token endpoint's part in the pipeline: the app's Basic credentials, no budget, and
/// never sent again once it may have arrived (a refresh rotates the token).
struct TokenEndpoint {
    plain: Plain,
    client_id: String,
    client_secret: SecretString,
}

impl http::Platform for TokenEndpoint {
    type Permit<'p> = ();

    fn sign(
        &self,
        request: reqwest::RequestBuilder,
        _: Option<&SecretString>,
    ) -> reqwest::RequestBuilder {
        request
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn admit(&self, _call: &Call<'_>) {}

    fn throttle_limit(&self) -> Option<u32> {
        self.plain.throttle_limit()
    }

    fn status_error(&self, call: &Call<'_>, answer: &http::Answer) -> ConnectorError {
        self.plain.status_error(call, answer)
    }
}

/// An access token in use.
#[derive(Clone)]
struct Access {
    token: SecretString,
}

/// Everything a refresh needs, shared with the work a vault runs under its lock.
struct TokenContext {
    provider: Provider,
    vault: Option<Arc<dyn TokenVault>>,
    sealer: Sealer,
    pipeline: Pipeline,
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
    /// The tokens of one connection to `provider`'s account, kept in `vault`; the token
    /// endpoint is called with these timeouts and retries.
    pub fn new(
        provider: Provider,
        vault: Option<Arc<dyn TokenVault>>,
        timeouts: Timeouts,
        backoff: Backoff,
    ) -> Result<Tokens, ConnectorError> {
        Ok(Tokens {
            ctx: Arc::new(TokenContext {
                pipeline: Pipeline::new(&provider.connection, timeouts, backoff)?,
                sealer: Sealer::new(provider.token_key.clone()),
                provider,
                vault,
            }),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// Masks this connection's credentials, the tokens it obtains included.
    pub fn redactor(&self) -> Redactor {
        self.ctx.provider.redactor.clone()
    }

    /// Exchanges an authorisation code for tokens and stores them in the vault,
    /// replacing whatever was stored (and clearing "needs re-authorisation").
    pub async fn connect_with_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Connected, ConnectorError> {
        let ctx = &self.ctx;
        let Some(vault) = ctx.vault.clone() else {
            return Err(ctx.no_vault());
        };
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
                        "{} refused the authorisation code (invalid_grant{description}): codes are valid for a few minutes and only once, and redirect_uri must be the one used in the authorise URL; start again",
                        ctx.provider.issuer
                    ),
                ));
            }
            Err(TokenCallError::Other(e)) => return Err(e),
        };
        let sealed = ctx.sealed(&granted);
        let refresh_expires_at = sealed.refresh_expires_at;
        vault
            .update(
                &ctx.provider.key,
                Box::new(move |_| {
                    Box::pin(async move { Ok(VaultDecision::Store(sealed)) }) as crate::VaultFuture
                }),
            )
            .await?;
        Ok(Connected { refresh_expires_at })
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
        self.ctx.provider.redactor.add(token.expose_secret());
        *cached = Some((access, expires_at, lifetime));
        Ok(token)
    }

    /// The platform answered 401 to `rejected`: get another access token (from the vault if
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
        ConnectorError::new(&self.provider.connection, kind, message)
    }

    fn needs_reauth_error(&self, why: &str) -> ConnectorError {
        self.error(
            ErrorKind::Auth,
            format!(
                "{} needs to be connected again: {why}. To fix it, {}",
                self.provider.product, self.provider.reauth_hint
            ),
        )
    }

    fn no_vault(&self) -> ConnectorError {
        self.error(
            ErrorKind::Other,
            format!(
                "{} keeps its rotating tokens in the run-history database, but this connection was opened without it",
                self.provider.product
            ),
        )
    }

    /// `{issuer} refused the refresh token`, and what came with it.
    fn refused(&self, more: &str) -> String {
        format!("{} refused the refresh token{more}", self.provider.issuer)
    }

    /// Gets a usable access token through the vault (see the module docs). `rejected` is
    /// an access token QuickBooks just refused: never hand it out again.
    async fn obtain(
        self: &Arc<Self>,
        rejected: Option<SecretString>,
    ) -> Result<(Access, DateTime<Utc>, i64), ConnectorError> {
        let Some(vault) = self.vault.clone() else {
            return Err(self.no_vault());
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
                                Err(ctx.error(ErrorKind::Auth, ctx.refused(" (invalid_grant)"))),
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
            let stored = vault.update(&self.provider.key, work).await;
            let found = outcome.lock().ok().and_then(|mut slot| slot.take());
            match (stored, found) {
                (Ok(_), Some(Outcome::Use(access, expires_at, lifetime))) => {
                    return Ok((access, expires_at, lifetime));
                }
                (Ok(stored), _) => {
                    let why = stored
                        .and_then(|s| s.needs_reauth)
                        .unwrap_or_else(|| self.refused(""));
                    return Err(self.needs_reauth_error(&why));
                }
                (Err(_), Some(Outcome::InvalidGrant(token))) if attempt == 0 => {
                    tracing::warn!(
                        connection = %self.provider.connection,
                        "{}; reading the stored tokens again",
                        self.refused(" (invalid_grant)")
                    );
                    refused = Some(token);
                }
                (Err(e), _) => return Err(e),
            }
        }
        Err(self.needs_reauth_error(&self.refused("")))
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
                let p = &self.provider;
                let tokens = self.sealer.open(sealed, &p.key).map_err(|e| match e {
                    OpenError::Unreadable => self.error(
                        ErrorKind::Auth,
                        format!(
                            "the {} tokens stored in the database cannot be decrypted with {} (was the key changed?). Restore the old key, or {}",
                            p.product, p.token_key_setting, p.reauth_hint
                        ),
                    ),
                    OpenError::UnknownVersion(v) => self.error(
                        ErrorKind::Other,
                        format!("the stored {} tokens were written by a newer invsync (format {v}); upgrade invsync", p.product),
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
            None => match &self.provider.seed {
                Some(seed) => seed.clone(),
                None => {
                    let p = &self.provider;
                    return Err(self.error(
                        ErrorKind::Auth,
                        format!(
                            "no {} tokens are stored for {} and {} is not set. To connect, {}",
                            p.product, p.account, p.seed_setting, p.reauth_hint
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
                self.needs_reauth_decision(&self.refused(" (invalid_grant)")),
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
                tracing::info!(connection = %self.provider.connection, "refreshed the {} access token", self.provider.product);
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
                self.needs_reauth_decision(
                    &self.refused(&format!(" (invalid_grant{description})")),
                ),
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
            sealed: Some(self.sealer.seal(&granted.tokens, &self.provider.key)),
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
                self.provider.redactor.add(value);
            }
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let p = &self.provider;
        let issuer = p.issuer;
        let endpoint = TokenEndpoint {
            plain: Plain::once(&p.connection),
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.clone(),
        };
        let call = Call::new(reqwest::Method::POST, p.token_url.clone(), "token")
            .form(encoded.as_bytes())
            .idempotent(false);
        let answer = self
            .pipeline
            .exchange(&endpoint, &call)
            .await
            .map_err(|e| {
                TokenCallError::Other(ConnectorError {
                    message: format!("{issuer}'s token endpoint: {}", e.message),
                    ..e
                })
            })?;
        let (status, body) = (answer.status, answer.body);
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
                TokenCallError::Other(self.error(
                    ErrorKind::Unavailable,
                    format!("{issuer}'s token endpoint answered HTTP {status} with a body invsync cannot read"),
                ))
            })?;
            p.redactor.add(&parsed.access_token);
            p.redactor.add(&parsed.refresh_token);
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
            .map(|d| format!(": {}", http::truncate(&p.redactor.scrub(&d), 200)))
            .unwrap_or_default();
        if code == "invalid_grant" {
            return Err(TokenCallError::InvalidGrant(description));
        }
        let e = match (status.as_u16(), code.as_str()) {
            (_, "invalid_client") | (401, _) => self.error(
                ErrorKind::Auth,
                format!(
                    "{issuer}'s token endpoint refused the app's credentials (HTTP {status}{}{description}): {}",
                    if code.is_empty() { String::new() } else { format!(", {code}") },
                    p.credentials_hint
                ),
            ),
            (s, _) if s == 429 || s >= 500 => self.error(
                ErrorKind::Unavailable,
                format!("{issuer}'s token endpoint is unavailable (HTTP {status}); the next run tries again"),
            ),
            _ => self.error(
                ErrorKind::Other,
                format!(
                    "{issuer}'s token endpoint answered HTTP {status}{}{description}",
                    if code.is_empty() { String::new() } else { format!(" ({code})") }
                ),
            ),
        };
        Err(TokenCallError::Other(e))
    }
}

/// A random `state` for an authorise URL (CSRF protection: the redirect must carry it).
pub fn new_state() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The URL an operator opens to let invsync access an account: `authorize` with the
/// authorisation-code request's parameters.
pub fn authorize_url(
    authorize: &str,
    client_id: &str,
    scope: &str,
    redirect_uri: &str,
    state: &str,
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    format!("{authorize}?{query}")
}

/// The longest token lifetime believed: Intuit's refresh tokens live at most 5 years, and
/// no platform grants longer.
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
    fn refresh_margin_is_five_minutes_or_a_fifth() {
        assert_eq!(margin(3600), ChronoDuration::seconds(300));
        assert_eq!(margin(60), ChronoDuration::seconds(12));
        assert!(fresh(Utc::now() + ChronoDuration::minutes(10), 3600));
        assert!(!fresh(Utc::now() + ChronoDuration::minutes(4), 3600));
    }
}
