//! One GraphQL call to the Admin API: the token header, the shared retry policy, the cost
//! budget, and Shopify's error shapes turned into errors that say what to do.
//!
//! Rate limit (shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits): a leaky bucket
//! of cost points per app and shop. Every response reports `extensions.cost.throttleStatus`
//! (`currentlyAvailable`, `restoreRate`); before a call whose last requested cost is
//! known, the client waits until the bucket has refilled enough, so it rarely gets
//! throttled at all. A `THROTTLED` answer — inside an HTTP 200, or as a 429 — is waited
//! out and retried: the request was not executed.

use crate::http::{self, Backoff, metrics_names};
use crate::{ConnectorError, ErrorKind};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// "A single query to the API cannot exceed a cost of 1000" (shopify.dev rate limits).
pub(crate) const MAX_QUERY_COST: f64 = 1000.0;
/// Throttled answers waited out per call before giving up.
const MAX_THROTTLED: u32 = 30;

/// What to tell the operator when the shop refuses the token.
const TOKEN_HINT: &str = "Check the store's access_token: it must be the Admin API access token of a custom app installed on this shop (Shopify admin → Settings → Apps and sales channels → Develop apps → API credentials); uninstalling the app or rotating the token invalidates it.";
/// …and when a scope is missing.
const SCOPE_HINT: &str = "Give the app the Admin API scopes read_products, write_products, read_inventory, write_inventory and read_orders (Develop apps → Configuration), then reinstall it and use the new token.";

pub(crate) struct Client {
    connection: String,
    http: reqwest::Client,
    endpoint: reqwest::Url,
    token: SecretString,
    backoff: Backoff,
    budget: Mutex<Budget>,
    /// The `Date` of the last answer: Shopify's clock, second-precise (ADR 0017).
    server_time: std::sync::Mutex<Option<DateTime<Utc>>>,
}

#[derive(Default)]
struct Budget {
    /// The last throttle status: points available then, restore rate, bucket size.
    status: Option<(f64, f64, f64, Instant)>,
    /// The last requested cost, per operation.
    costs: HashMap<&'static str, f64>,
}

impl Budget {
    /// Points in the bucket now, as last reported and refilled since (`None`: unknown).
    fn available(&self) -> Option<(f64, f64)> {
        let (available, rate, max, at) = self.status?;
        Some((
            (available + at.elapsed().as_secs_f64() * rate).min(max),
            rate,
        ))
    }

    /// How long to wait before an operation that requests `cost` points fits.
    fn wait_for(&self, cost: f64) -> Duration {
        match self.available() {
            Some((now, rate)) if now < cost && rate > 0.0 => {
                Duration::from_secs_f64(((cost - now) / rate).min(60.0))
            }
            _ => Duration::ZERO,
        }
    }

    /// Takes `cost` points for a call about to be sent, so concurrent calls do not all
    /// count on the same points; the next response's `throttleStatus` corrects it.
    fn reserve(&mut self, cost: f64) {
        if let (Some((now, _)), Some((_, rate, max, _))) = (self.available(), self.status) {
            self.status = Some((now - cost, rate, max, Instant::now()));
        }
    }
}

/// `extensions.cost` of a response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    requested_query_cost: Option<f64>,
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThrottleStatus {
    maximum_available: f64,
    currently_available: f64,
    restore_rate: f64,
}

#[derive(Debug, Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(default)]
    extensions: Option<Value>,
}

impl GraphqlError {
    fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.get("code")?.as_str()
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
    #[serde(default)]
    extensions: Option<Value>,
}

impl Client {
    pub(crate) fn new(
        connection: &str,
        base_url: &reqwest::Url,
        api_version: &str,
        token: SecretString,
        policy: &invsync_config::HttpPolicy,
    ) -> Result<Client, ConnectorError> {
        // A base URL with a path (a proxy at https://proxy/shopify) keeps it: join relative
        // to it as a folder.
        let mut base = base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let endpoint = base
            .join(&format!("admin/api/{api_version}/graphql.json"))
            .map_err(|e| {
                ConnectorError::new(
                    connection,
                    ErrorKind::Other,
                    format!("cannot build the Admin API URL: {e}"),
                )
            })?;
        let (timeouts, backoff) = http::policy(policy);
        Ok(Client {
            connection: connection.to_owned(),
            http: http::client(connection, timeouts)?,
            endpoint,
            token,
            backoff,
            budget: Mutex::new(Budget::default()),
            server_time: std::sync::Mutex::new(None),
        })
    }

    /// Shopify's clock when it answered the last call (its `Date` header), if it sent one.
    pub(crate) fn server_time(&self) -> Option<DateTime<Utc>> {
        *self
            .server_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The requested cost of the last call of `operation`, if any.
    pub(crate) async fn last_cost(&self, operation: &'static str) -> Option<f64> {
        self.budget.lock().await.costs.get(operation).copied()
    }

    /// The most one query may request: Shopify's single-query limit, and never more than
    /// the bucket holds.
    pub(crate) async fn max_query_cost(&self) -> f64 {
        let bucket = self.budget.lock().await.status.map(|(_, _, max, _)| max);
        bucket.map_or(MAX_QUERY_COST, |b| b.min(MAX_QUERY_COST))
    }

    #[cfg(test)]
    pub(crate) fn endpoint(&self) -> &reqwest::Url {
        &self.endpoint
    }

    /// Shorter waits, for tests.
    #[cfg(test)]
    pub(crate) fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    pub(crate) fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(&self.connection, kind, message)
    }

    /// Runs one GraphQL operation and returns its `data`. `operation` names it for the
    /// budget and in errors; `idempotent` says whether a timeout or 5xx may be retried
    /// (reads, absolute price sets, inventory sets carrying an idempotency key).
    pub(crate) async fn call(
        &self,
        operation: &'static str,
        query: &str,
        variables: Value,
        idempotent: bool,
    ) -> Result<Value, ConnectorError> {
        let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
        let mut throttled = 0;
        loop {
            // Wait until the bucket holds what this operation asked for last time, then
            // take it (re-checked after each wait: concurrent calls share the bucket).
            loop {
                let wait = {
                    let mut budget = self.budget.lock().await;
                    let cost = budget.costs.get(operation).copied();
                    let wait = cost.map_or(Duration::ZERO, |c| budget.wait_for(c));
                    if wait.is_zero()
                        && let Some(c) = cost
                    {
                        budget.reserve(c);
                    }
                    wait
                };
                if wait.is_zero() {
                    break;
                }
                tracing::debug!(connection = %self.connection, operation, wait_ms = wait.as_millis() as u64, "waiting for the rate-limit bucket");
                tokio::time::sleep(wait).await;
            }
            let response = http::send(&self.connection, self.backoff, idempotent, || {
                self.http
                    .post(self.endpoint.clone())
                    .header("X-Shopify-Access-Token", self.token.expose_secret())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::ACCEPT, "application/json")
                    .body(body.clone())
            })
            .await?;
            let status = response.status();
            let retry_after = http::retry_after(response.headers());
            if let Some(date) = response
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            {
                *self
                    .server_time
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(date.to_utc());
            }
            let text = response
                .text()
                .await
                .map_err(|e| http::transport_error(&self.connection, e))?;
            let envelope: Option<Envelope> = serde_json::from_str(&text).ok();
            if let Some(cost) = envelope
                .as_ref()
                .and_then(|e| e.extensions.as_ref())
                .and_then(|x| x.get("cost"))
                .and_then(|c| serde_json::from_value::<Cost>(c.clone()).ok())
            {
                let mut budget = self.budget.lock().await;
                if let Some(t) = &cost.throttle_status {
                    budget.status = Some((
                        t.currently_available,
                        t.restore_rate,
                        t.maximum_available,
                        Instant::now(),
                    ));
                }
                if let Some(requested) = cost.requested_query_cost {
                    budget.costs.insert(operation, requested);
                }
            }
            let errors: Vec<GraphqlError> = envelope
                .as_ref()
                .and_then(|e| e.errors.clone())
                .and_then(|e| serde_json::from_value(e).ok())
                .unwrap_or_default();
            let is_throttled = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || errors.iter().any(|e| e.code() == Some("THROTTLED"));
            if is_throttled {
                if status.is_success() {
                    metrics::counter!(metrics_names::API_THROTTLES, "connection" => self.connection.clone()).increment(1);
                }
                throttled += 1;
                if throttled > MAX_THROTTLED {
                    return Err(self.error(
                        ErrorKind::Unavailable,
                        format!("{operation}: still throttled by Shopify after {MAX_THROTTLED} waits; another app may be using this shop's API budget. The next run tries again."),
                    ));
                }
                // Not executed: wait until the bucket holds the requested cost.
                let wait = {
                    let budget = self.budget.lock().await;
                    let cost = budget.costs.get(operation).copied().unwrap_or(100.0);
                    budget.wait_for(cost)
                };
                let wait = retry_after.unwrap_or(wait).max(Duration::from_millis(50));
                tracing::debug!(connection = %self.connection, operation, wait_ms = wait.as_millis() as u64, "throttled; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            if !status.is_success() {
                return Err(self.status_error(status, &text));
            }
            if !errors.is_empty() {
                return Err(self.graphql_error(operation, &errors));
            }
            return envelope.and_then(|e| e.data).ok_or_else(|| {
                self.error(
                    ErrorKind::Unavailable,
                    format!("{operation}: Shopify answered without data"),
                )
            });
        }
    }

    fn status_error(&self, status: reqwest::StatusCode, body: &str) -> ConnectorError {
        let detail = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("errors").cloned())
            .map(|e| match e {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_default();
        let mut e = match status.as_u16() {
            // shopify.dev/docs/api/usage/response-codes
            402 => self.error(
                ErrorKind::Auth,
                "HTTP 402: the shop is frozen (Shopify: Payment Required). The shop owner must pay the outstanding Shopify bill; invsync can read and write again once Shopify unfreezes the shop.",
            ),
            423 => self.error(
                ErrorKind::Auth,
                "HTTP 423: the shop is locked by Shopify. The shop owner must contact Shopify support to unlock it; nothing can be read or written until then.",
            ),
            403 => http::status_error(&self.connection, status, &detail, SCOPE_HINT),
            404 => self.error(
                ErrorKind::NotFound,
                format!(
                    "HTTP 404 from {}: check the store's shop (the permanent *.myshopify.com domain), base_url and api_version (Shopify retires each version after a year)",
                    self.endpoint.path()
                ),
            ),
            _ => http::status_error(&self.connection, status, &detail, TOKEN_HINT),
        };
        e.status = Some(status.as_u16());
        e.retryable = status.is_server_error() || status.as_u16() == 429;
        e
    }

    fn graphql_error(&self, operation: &str, errors: &[GraphqlError]) -> ConnectorError {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| match e.code() {
                Some(code) => format!("{} ({code})", e.message),
                None => e.message.clone(),
            })
            .collect();
        let text = http::truncate(&messages.join("; "), 500).to_owned();
        if errors.iter().any(|e| e.code() == Some("ACCESS_DENIED")) {
            return self.error(
                ErrorKind::Auth,
                format!("{operation}: access denied: {text}. {SCOPE_HINT}"),
            );
        }
        if errors
            .iter()
            .any(|e| matches!(e.code(), Some("INTERNAL_SERVER_ERROR")))
        {
            return self.error(ErrorKind::Unavailable, format!("{operation}: {text}"));
        }
        self.error(ErrorKind::Other, format!("{operation}: {text}"))
    }

    /// Downloads a bulk operation's result file. It lives on Shopify's storage, not the
    /// Admin API: the access token is never sent there.
    pub(crate) async fn download(&self, url: &str) -> Result<String, ConnectorError> {
        let url = invsync_config::validate_base_url(url).map_err(|_| {
            self.error(
                ErrorKind::Other,
                "the bulk operation's result URL is not https; refusing to download it",
            )
        })?;
        let response = http::send(&self.connection, self.backoff, true, || {
            self.http.get(url.clone())
        })
        .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(http::status_error(&self.connection, status, "", ""));
        }
        response
            .text()
            .await
            .map_err(|e| http::transport_error(&self.connection, e))
    }
}
