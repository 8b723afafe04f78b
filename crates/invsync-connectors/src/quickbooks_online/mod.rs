//! QuickBooks Online (`[accounting] kind = "quickbooks-online"`): the Accounting API v3,
//! minor version 75 (platform-apis.md §3; the real schemas are in
//! `../shared/specs/quickbooks-online/`).
//!
//! * **Reads**: `select * from Item`, paged with `STARTPOSITION`/`MAXRESULTS 1000`, pages
//!   fetched concurrently after a `count(*)`. Tracked `Inventory` items are inventory;
//!   `NonInventory`, `Service` and untracked `Inventory` items are `untracked` (their
//!   price syncs, ADR 0037); bundles, categories and the other types are `base`; inactive
//!   items are left out. Fractional `QtyOnHand` is rounded down (ADR 0034).
//! * **Writes**, in `/batch` requests of at most 30 operations (several in flight): price
//!   as a sparse Item update of `UnitPrice` with the item's `SyncToken`; quantity as an
//!   `InventoryAdjustment` of `QtyDiff = new − current` read just before (default) or a
//!   sparse `QtyOnHand` update (`quantity_write = "item"`). A stale `SyncToken` (Fault
//!   5010) re-reads the item and retries once; other Faults fail that item with
//!   QuickBooks' message.
//! * **Posted orders**: SalesReceipts and Invoices whose `DocNumber` is the configured
//!   template, looked up with `where DocNumber in (…)`.
//! * **Limits**: 500 requests and 40 batches a minute, 10 in flight, per realm
//!   ([`limits`]); 429 waits (`Retry-After`, else 60 s); 5xx and timeouts are retried
//!   where that cannot apply a change twice; a 401 refreshes the token once.
//! * **Tokens**: OAuth 2.0 with rotating refresh tokens kept, encrypted, in the
//!   [`crate::TokenVault`] (the shared [`crate::oauth`], with Intuit's endpoints in
//!   `auth`).

mod auth;
mod json;
mod limits;
mod orders;
mod read;
mod write;

pub use auth::{
    AUTHORIZE_URL, Connected, SCOPE, authorize_url, code_from_redirect, connect_with_code,
    new_state, vault_key,
};
pub use limits::Limits;

use crate::http::{self, Answer, Backoff, Call, Pipeline, Platform, Timeouts};
use crate::oauth::Tokens;
use crate::{
    Catalog, Connection, ConnectorError, ErrorKind, OpenContext, RecordRef, Write, WriteOutcome,
};
use async_trait::async_trait;
use invsync_config::QuickBooksOnlineConfig;
use invsync_core::{OrderLine, Record};
use json::{
    BatchItem, BatchItemResponse, BatchRequest, BatchResponse, QueryEnvelope, QueryResponse,
};
use limits::Limiter;
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::SemaphorePermit;

/// The API minor version every request asks for. Intuit ignores minor versions below 75
/// since 2025-08-01 (platform-apis.md §3, "minorversion").
pub const MINOR_VERSION: &str = "75";
/// Most operations one `/batch` request may carry ("The maximum number of payloads in a
/// single batch request is 30": developer.intuit.com …/learn/limits-and-throttles).
pub const MAX_BATCH: usize = 30;
/// Most results one query returns (`MAXRESULTS` cap).
pub const MAX_RESULTS: usize = 1000;

/// Knobs with QuickBooks' documented values as defaults; tests and benchmarks shrink them.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub limits: Limits,
    /// How long to wait after a 429 that carries no `Retry-After` ("wait 60 seconds
    /// before retrying": limits-and-throttles).
    pub throttle_wait: Duration,
    /// 429s in a row before a request gives up.
    pub throttle_retries: u32,
    /// Retries of 5xx answers and timeouts (`retries`, `retry_backoff`).
    pub backoff: Backoff,
    /// API requests (`timeout`; QuickBooks itself times requests out after 120 s).
    pub timeouts: Timeouts,
    /// The token endpoint.
    pub token_timeouts: Timeouts,
    /// Operations per `/batch` request, at most [`MAX_BATCH`].
    pub batch_size: usize,
    /// `MAXRESULTS` of catalog pages, at most [`MAX_RESULTS`].
    pub page_size: usize,
    /// Writes per [`Connection::write`] call: several batches go out concurrently.
    pub writes_per_call: usize,
    /// DocNumbers per posted-order query.
    pub doc_numbers_per_query: usize,
    /// A limiter of this connection's own instead of the realm's process-wide one.
    pub own_limiter: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            limits: Limits::default(),
            throttle_wait: Duration::from_secs(60),
            throttle_retries: 5,
            backoff: Backoff::default(),
            timeouts: Timeouts {
                connect: Duration::from_secs(10),
                request: Duration::from_secs(100),
            },
            token_timeouts: Timeouts {
                connect: Duration::from_secs(10),
                request: Duration::from_secs(30),
            },
            batch_size: MAX_BATCH,
            page_size: MAX_RESULTS,
            writes_per_call: MAX_BATCH * 10,
            doc_numbers_per_query: 100,
            own_limiter: false,
        }
    }
}

impl Tuning {
    /// The documented limits, with the API requests' timeout and retries from the
    /// connection's `timeout`, `retries` and `retry_backoff` (`[accounting]`).
    pub fn for_config(config: &QuickBooksOnlineConfig) -> Tuning {
        let (timeouts, backoff) = http::policy(&config.http);
        Tuning {
            timeouts,
            backoff,
            ..Tuning::default()
        }
    }
}

/// A QuickBooks Online company as the accounting side.
pub struct QuickBooksOnline {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    name: String,
    config: QuickBooksOnlineConfig,
    tuning: Tuning,
    pipeline: Pipeline,
    /// `{base}/v3/company/{realm}`, without a trailing slash.
    company: String,
    limiter: Arc<Limiter>,
    tokens: Tokens,
    /// The newest `SyncToken` seen per item Id: an update must carry it.
    sync_tokens: Mutex<HashMap<String, String>>,
    /// Items last seen not tracking their quantity: a quantity write to one is refused
    /// before it is sent (plans never make one).
    untracked: Mutex<HashSet<String>>,
}

impl QuickBooksOnline {
    /// Opens the connection. Nothing is sent until it is used.
    pub fn open(
        name: &str,
        config: &QuickBooksOnlineConfig,
        ctx: &OpenContext,
    ) -> Result<QuickBooksOnline, ConnectorError> {
        QuickBooksOnline::open_with(name, config, ctx, Tuning::for_config(config))
    }

    /// [`QuickBooksOnline::open`] with other limits and timings (tests, benchmarks).
    pub fn open_with(
        name: &str,
        config: &QuickBooksOnlineConfig,
        ctx: &OpenContext,
        tuning: Tuning,
    ) -> Result<QuickBooksOnline, ConnectorError> {
        let mut tuning = tuning;
        tuning.batch_size = tuning.batch_size.clamp(1, MAX_BATCH);
        tuning.page_size = tuning.page_size.clamp(1, MAX_RESULTS);
        tuning.writes_per_call = tuning.writes_per_call.max(1);
        tuning.doc_numbers_per_query = tuning.doc_numbers_per_query.max(1);
        let base = config.base_url.as_str().trim_end_matches('/');
        let company = format!("{base}/v3/company/{}", config.realm_id);
        let limiter = if tuning.own_limiter {
            Arc::new(Limiter::new(tuning.limits))
        } else {
            // The realm's limits are the company's, whoever asks: one limiter per realm.
            crate::budget::shared("quickbooks-online", &company, || {
                Limiter::new(tuning.limits)
            })
        };
        Ok(QuickBooksOnline {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                tokens: auth::tokens(
                    name,
                    config,
                    ctx.token_vault.clone(),
                    tuning.token_timeouts,
                    tuning.backoff,
                )?,
                pipeline: Pipeline::new(name, tuning.timeouts, tuning.backoff)?,
                config: config.clone(),
                company,
                limiter,
                tuning,
                sync_tokens: Mutex::new(HashMap::new()),
                untracked: Mutex::new(HashSet::new()),
            }),
        })
    }
}

impl QuickBooksOnline {
    /// Masks this connection's credentials, the OAuth tokens it obtains included
    /// ([`crate::redact`]).
    pub fn redactor(&self) -> crate::redact::Redactor {
        self.inner.tokens.redactor()
    }
}

#[async_trait]
impl Connection for QuickBooksOnline {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        read::read_catalog(&self.inner).await
    }

    fn write_batch_size(&self) -> usize {
        self.inner.tuning.writes_per_call
    }

    async fn read_records(
        &self,
        records: &[RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        read::read_records(&self.inner, records).await.map(Some)
    }

    async fn posted_orders(
        &self,
        orders: &[OrderLine],
    ) -> Result<Option<Vec<bool>>, ConnectorError> {
        orders::posted_orders(&self.inner, orders).await.map(Some)
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        write::write(&self.inner, writes).await
    }
}

impl Inner {
    fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(&self.name, kind, message)
    }

    /// Remembers what an update of this item needs: its `SyncToken`, and whether it
    /// tracks its quantity.
    fn remember_item(&self, item: &json::ItemJson) {
        let Some(id) = &item.id else { return };
        if let (Some(token), Ok(mut tokens)) = (&item.sync_token, self.sync_tokens.lock()) {
            tokens.insert(id.clone(), token.clone());
        }
        if let Ok(mut untracked) = self.untracked.lock() {
            if item.tracks_quantity() {
                untracked.remove(id);
            } else {
                untracked.insert(id.clone());
            }
        }
    }

    /// Whether the item was last seen not tracking its quantity.
    fn untracked(&self, id: &str) -> bool {
        self.untracked.lock().is_ok_and(|u| u.contains(id))
    }

    fn sync_token(&self, id: &str) -> Option<String> {
        self.sync_tokens.lock().ok()?.get(id).cloned()
    }

    /// Runs a query (`GET …/query?query=…`).
    async fn query(&self, query: &str) -> Result<QueryResponse, ConnectorError> {
        let params = [
            ("minorversion", MINOR_VERSION.to_owned()),
            ("query", query.to_owned()),
        ];
        let body = self
            .send(&Call::new(Method::GET, self.url("query")?, "query").query(&params))
            .await?;
        let envelope: QueryEnvelope = serde_json::from_slice(&body).map_err(|e| {
            self.error(
                ErrorKind::Unavailable,
                format!("QuickBooks Online answered a query with JSON invsync cannot read: {e}"),
            )
        })?;
        if let Some(fault) = envelope.fault {
            return Err(self.error(ErrorKind::Other, fault.describe()));
        }
        Ok(envelope.response.unwrap_or_default())
    }

    /// Sends one `/batch` request. `idempotent`: every operation is guarded (a sparse
    /// update with its `SyncToken`), so sending it again cannot apply anything twice.
    async fn batch(
        &self,
        items: &[BatchItem],
        idempotent: bool,
    ) -> Result<Vec<BatchItemResponse>, ConnectorError> {
        let body = serde_json::to_string(&BatchRequest { items })
            .map_err(|e| self.error(ErrorKind::Other, format!("cannot write a batch: {e}")))?;
        let params = [("minorversion", MINOR_VERSION.to_owned())];
        let body = self
            .send(
                &Call::new(Method::POST, self.url("batch")?, "batch")
                    .query(&params)
                    .json(body.as_bytes())
                    .idempotent(idempotent),
            )
            .await?;
        let response: BatchResponse = serde_json::from_slice(&body).map_err(|e| {
            self.error(
                ErrorKind::Unavailable,
                format!("QuickBooks Online answered a batch with JSON invsync cannot read: {e}"),
            )
        })?;
        if let Some(fault) = response.fault {
            return Err(self.error(ErrorKind::Other, fault.describe()));
        }
        Ok(response.items)
    }

    /// `{company}/{path}`.
    fn url(&self, path: &str) -> Result<reqwest::Url, ConnectorError> {
        reqwest::Url::parse(&format!("{}/{path}", self.company))
            .map_err(|e| self.error(ErrorKind::Other, format!("bad API URL: {e}")))
    }

    /// Sends a request through the pipeline: within the realm's limits, with a valid
    /// access token, retrying what is safe to retry. Returns the body of a 2xx answer.
    async fn send(&self, call: &Call<'_>) -> Result<Vec<u8>, ConnectorError> {
        self.pipeline.send(self, call).await.map(|a| a.body)
    }

    /// An error answer as a connector error, with QuickBooks' Fault text and what to do.
    fn status_error(&self, status: StatusCode, body: &[u8], what: &str) -> ConnectorError {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "Fault", alias = "fault")]
            fault: Option<json::Fault>,
        }
        let detail = serde_json::from_slice::<Body>(body)
            .ok()
            .and_then(|b| b.fault)
            .map(|f| self.tokens.redactor().scrub(&f.describe()))
            .unwrap_or_default();
        let realm = &self.config.realm_id;
        let hint = match status.as_u16() {
            401 => format!(
                "QuickBooks Online refused the access token even right after a refresh: check that accounting.client_id and client_secret belong to the app connected to company {realm} (production and development keys differ), or run `invsync auth quickbooks-online` to connect again"
            ),
            403 => format!(
                "The app may not access company {realm} (or this feature of it): check realm_id, or run `invsync auth quickbooks-online` to connect again"
            ),
            _ => String::new(),
        };
        let mut e = http::status_error(&self.name, status, &detail, &hint);
        e.message = format!("QuickBooks Online {what}: {}", e.message);
        if status == StatusCode::TOO_MANY_REQUESTS {
            e.message.push_str(
                " (ThrottleExceeded, still after waiting; another program may share the company's limits); the next run tries again",
            );
        }
        e
    }
}

/// QuickBooks Online's part in the request pipeline: a fresh access token per attempt
/// (refreshed once after a 401), the realm's limiter (a 429 pauses every request of the
/// realm), and Fault bodies.
impl Platform for Inner {
    type Permit<'p> = SemaphorePermit<'p>;

    async fn credential(&self) -> Result<Option<SecretString>, ConnectorError> {
        self.tokens.access_token().await.map(Some)
    }

    fn sign(&self, request: RequestBuilder, token: Option<&SecretString>) -> RequestBuilder {
        let request = request.header(reqwest::header::ACCEPT, "application/json");
        match token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    async fn admit<'p>(&'p self, call: &Call<'_>) -> SemaphorePermit<'p> {
        // Counts against the batch limit too.
        self.limiter.acquire(call.what == "batch").await
    }

    fn throttle_limit(&self) -> Option<u32> {
        Some(self.tuning.throttle_retries)
    }

    fn throttle_wait(&self, call: &Call<'_>, answer: &Answer, _backoff: Duration) -> Duration {
        // Throttled requests are not executed, so sending again is safe; every request of
        // the realm waits.
        let wait = http::retry_after(&answer.headers).unwrap_or(self.tuning.throttle_wait);
        tracing::warn!(connection = %self.name, what = call.what, wait_s = wait.as_secs_f64(), "QuickBooks Online throttled a request (ThrottleExceeded); waiting");
        self.limiter.pause(wait);
        Duration::ZERO
    }

    async fn unauthorized(&self, rejected: &SecretString) -> Result<bool, ConnectorError> {
        // Usually an expired or revoked access token: refresh once.
        self.tokens.after_unauthorized(rejected).await?;
        Ok(true)
    }

    fn status_error(&self, call: &Call<'_>, answer: &Answer) -> ConnectorError {
        Inner::status_error(self, answer.status, &answer.body, call.what)
    }

    fn transport_error(&self, call: &Call<'_>, e: ConnectorError) -> ConnectorError {
        ConnectorError {
            message: format!("QuickBooks Online {}: {}", call.what, e.message),
            ..e
        }
    }
}

/// Quotes a value for a QuickBooks query: `'it\'s'`.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_quickbooks_documented_limits() {
        let t = Tuning::default();
        assert_eq!(t.limits.requests_per_window, 500);
        assert_eq!(t.limits.batches_per_window, 40);
        assert_eq!(t.limits.in_flight, 10);
        assert_eq!(t.limits.window, Duration::from_secs(60));
        assert_eq!(
            t.throttle_wait,
            Duration::from_secs(60),
            "429 without Retry-After"
        );
        assert_eq!(t.batch_size, 30);
        assert_eq!(t.page_size, 1000);
        assert!(
            t.timeouts.request < Duration::from_secs(120),
            "QuickBooks times out at 120 s"
        );
        assert_eq!(MINOR_VERSION, "75");
    }

    #[test]
    fn query_values_are_quoted_and_escaped() {
        assert_eq!(super::quote("1001"), "'1001'");
        assert_eq!(super::quote("it's"), "'it\\'s'");
        assert_eq!(super::quote("a\\b"), "'a\\\\b'");
    }
}
