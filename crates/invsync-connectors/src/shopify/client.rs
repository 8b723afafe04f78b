//! One GraphQL call to the Admin API through the request pipeline
//! ([`crate::http::Pipeline`]): the token header, the shop's cost bucket ([`Bucket`], one
//! per shop and process), and Shopify's error shapes turned into errors that say what to
//! do.
//!
//! A `THROTTLED` answer — inside an HTTP 200, or as a 429 — is waited out and retried: the
//! request was not executed.

use super::bucket::{Bucket, Reported, Reservation};
use crate::budget;
use crate::http::{self, Answer, Call, Pipeline, Plain, Platform};
use crate::{ConnectorError, ErrorKind};
use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Throttled answers waited out per call before giving up.
const MAX_THROTTLED: u32 = 30;

/// What to tell the operator when the shop refuses the token.
const TOKEN_HINT: &str = "Check the store's access_token: it must be the Admin API access token of a custom app installed on this shop (Shopify admin → Settings → Apps and sales channels → Develop apps → API credentials); uninstalling the app or rotating the token invalidates it.";
/// …and when a scope is missing.
const SCOPE_HINT: &str = "Give the app the Admin API scopes read_products, write_products, read_inventory, write_inventory and read_orders (Develop apps → Configuration), then reinstall it and use the new token.";

pub(crate) struct Client {
    pipeline: Pipeline,
    shop: Shop,
}

/// Shopify's part in the pipeline.
struct Shop {
    connection: String,
    endpoint: reqwest::Url,
    token: SecretString,
    bucket: Arc<Bucket>,
    /// The `Date` of the last answer: Shopify's clock, second-precise (ADR 0017).
    server_time: std::sync::Mutex<Option<DateTime<Utc>>>,
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

impl Envelope {
    fn errors(&self) -> Vec<GraphqlError> {
        self.errors
            .clone()
            .and_then(|e| serde_json::from_value(e).ok())
            .unwrap_or_default()
    }

    fn cost(&self) -> Option<Cost> {
        let cost = self.extensions.as_ref()?.get("cost")?;
        serde_json::from_value(cost.clone()).ok()
    }
}

fn throttled(errors: &[GraphqlError]) -> bool {
    errors.iter().any(|e| e.code() == Some("THROTTLED"))
}

impl Platform for Shop {
    type Permit<'p> = Reservation;

    fn sign(&self, request: RequestBuilder, _: Option<&SecretString>) -> RequestBuilder {
        http::with_token(request, "X-Shopify-Access-Token", &self.token)
    }

    async fn admit(&self, call: &Call<'_>) -> Reservation {
        self.bucket.admit(call.what, call.size).await
    }

    fn observe(&self, call: &Call<'_>, answer: &Answer, permit: &Reservation) -> bool {
        if let Some(date) = answer
            .headers
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        {
            *self
                .server_time
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(date.to_utc());
        }
        let envelope: Option<Envelope> = serde_json::from_slice(&answer.body).ok();
        if let Some(cost) = envelope.as_ref().and_then(Envelope::cost) {
            self.bucket.observe(
                call.what,
                call.size,
                Reported {
                    requested: cost.requested_query_cost,
                    throttle_status: cost
                        .throttle_status
                        .map(|t| (t.currently_available, t.restore_rate, t.maximum_available)),
                },
                permit,
            );
        }
        answer.status == StatusCode::TOO_MANY_REQUESTS
            || envelope.is_some_and(|e| throttled(&e.errors()))
    }

    fn throttle_limit(&self) -> Option<u32> {
        Some(MAX_THROTTLED)
    }

    fn throttle_wait(&self, call: &Call<'_>, answer: &Answer, _backoff: Duration) -> Duration {
        // Not executed: wait until the bucket holds the requested cost.
        http::retry_after(&answer.headers)
            .unwrap_or_else(|| self.bucket.throttle_wait(call.what, call.size))
            .max(Duration::from_millis(50))
    }

    fn status_error(&self, call: &Call<'_>, answer: &Answer) -> ConnectorError {
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            return self.still_throttled(call.what);
        }
        let detail = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("errors").cloned())
            .map(|e| match e {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_default();
        let status = answer.status;
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
}

impl Shop {
    fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(&self.connection, kind, message)
    }

    fn still_throttled(&self, operation: &str) -> ConnectorError {
        self.error(
            ErrorKind::Unavailable,
            format!("{operation}: still throttled by Shopify after {MAX_THROTTLED} waits; another app may be using this shop's API budget. The next run tries again."),
        )
    }
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
            pipeline: Pipeline::new(connection, timeouts, backoff)?,
            shop: Shop {
                connection: connection.to_owned(),
                endpoint,
                token,
                // The bucket is the shop's (per app and shop): one per shop, whatever the
                // API version.
                bucket: budget::shared("shopify", base.as_str(), Bucket::default),
                server_time: std::sync::Mutex::new(None),
            },
        })
    }

    /// Shopify's clock when it answered the last call (its `Date` header), if it sent one.
    pub(crate) fn server_time(&self) -> Option<DateTime<Utc>> {
        *self
            .shop
            .server_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The requested cost of the last call of `operation`, if any.
    pub(crate) async fn last_cost(&self, operation: &'static str) -> Option<f64> {
        self.shop.bucket.last_cost(operation)
    }

    /// The most one query may request: Shopify's single-query limit, and never more than
    /// the bucket holds.
    pub(crate) async fn max_query_cost(&self) -> f64 {
        self.shop.bucket.max_query_cost()
    }

    #[cfg(test)]
    pub(crate) fn endpoint(&self) -> &reqwest::Url {
        &self.shop.endpoint
    }

    /// Shorter waits, for tests.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn set_backoff(&mut self, backoff: crate::http::Backoff) {
        self.pipeline.set_backoff(backoff);
    }

    pub(crate) fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        self.shop.error(kind, message)
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
        // Shopify prices a connection by the items it asks for.
        let size = variables
            .get("first")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok());
        let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
        let call = Call::new(Method::POST, self.shop.endpoint.clone(), operation)
            .json(body.as_bytes())
            .idempotent(idempotent)
            .size(size);
        let answer = self.pipeline.send(&self.shop, &call).await?;
        let envelope: Option<Envelope> = serde_json::from_slice(&answer.body).ok();
        let errors = envelope.as_ref().map(Envelope::errors).unwrap_or_default();
        if throttled(&errors) {
            return Err(self.shop.still_throttled(operation));
        }
        if !errors.is_empty() {
            return Err(self.graphql_error(operation, &errors));
        }
        envelope.and_then(|e| e.data).ok_or_else(|| {
            self.error(
                ErrorKind::Unavailable,
                format!("{operation}: Shopify answered without data"),
            )
        })
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

    /// Uploads `file` to a staged upload target (Shopify's storage, not the Admin API: the
    /// access token is never sent there) as the multipart form Shopify documents: every
    /// parameter it issued, in order, then the file
    /// (shopify.dev/docs/api/usage/bulk-operations/imports).
    pub(crate) async fn upload(
        &self,
        url: &str,
        parameters: &[(String, String)],
        file: &str,
    ) -> Result<(), ConnectorError> {
        let url = invsync_config::validate_base_url(url).map_err(|_| {
            self.error(
                ErrorKind::Other,
                "the staged upload URL is not https; refusing to upload to it",
            )
        })?;
        let boundary = crate::http::MULTIPART_BOUNDARY;
        let mut body = String::with_capacity(file.len() + 512);
        for (name, value) in parameters {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"prices.jsonl\"\r\nContent-Type: text/jsonl\r\n\r\n"
        ));
        body.push_str(file);
        body.push_str(&format!("\r\n--{boundary}--\r\n"));
        let storage = Plain::new(self.pipeline.connection());
        // Sending the same file to the same key again stores the same file.
        self.pipeline
            .send(
                &storage,
                &Call::new(Method::POST, url, "staged upload").multipart(body.as_bytes()),
            )
            .await?;
        Ok(())
    }

    /// Downloads a bulk operation's result file. It lives on Shopify's storage, not the
    /// Admin API: the access token is never sent there, and it spends nothing of the
    /// shop's bucket.
    pub(crate) async fn download(&self, url: &str) -> Result<String, ConnectorError> {
        let url = invsync_config::validate_base_url(url).map_err(|_| {
            self.error(
                ErrorKind::Other,
                "the bulk operation's result URL is not https; refusing to download it",
            )
        })?;
        let storage = Plain::new(self.pipeline.connection());
        let answer = self
            .pipeline
            .send(&storage, &Call::new(Method::GET, url, "bulk result"))
            .await?;
        Ok(String::from_utf8(answer.body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}
