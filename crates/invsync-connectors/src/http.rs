//! The one request pipeline of every HTTP connection (ADR 0026): one `reqwest::Client` per
//! connection with timeouts and a user agent, one retry loop ([`Pipeline::exchange`]),
//! jittered exponential backoff, `Retry-After`, the API metrics counted in one place, and
//! errors that say what to do without ever carrying a URL (query strings can hold
//! credentials) or a token. Each platform plugs in through [`Platform`]: its credentials
//! (and QuickBooks' refresh after a 401), its account's rate budget ([`crate::budget`]),
//! what a throttle looks like, and its error messages.
//!
//! Retry policy (house style, after docs.rs' registry client): retry only what cannot have
//! been applied twice — connection failures always; timeouts and 5xx only for requests
//! the caller marks idempotent (reads, absolute sets, or writes carrying an idempotency key
//! or a concurrency token); throttles (429, or a throttle reported inside a 200) always,
//! as the platform did not execute them.

/// The most pages any connector reads one list in (10,000: a million WooCommerce
/// products at 100 a page, 2.5 million BigCommerce variants at 250, ten million QuickBooks
/// items at 1,000). A platform answer that claims more is garbled, and reading it would go
/// on for good or allocate without end — as fuzzing showed on all three — so it is an
/// error instead.
pub const MAX_PAGES: usize = 10_000;

use crate::{ConnectorError, ErrorKind};
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use secrecy::SecretString;
use std::time::Duration;

/// Metric names every connection reports through the `metrics` facade (the daemon exports
/// them at `/metrics`). Label: `connection` (`accounting` or the store name).
pub mod metrics_names {
    /// Every HTTP request sent, retries included.
    pub const API_CALLS: &str = "invsync_api_calls_total";
    /// Every time a platform said "slow down" (HTTP 429, or a throttle inside a 200 body).
    pub const API_THROTTLES: &str = "invsync_api_throttles_total";
}

/// `invsync/<version>`: platforms ask integrations to identify themselves.
pub const USER_AGENT: &str = concat!("invsync/", env!("CARGO_PKG_VERSION"));

/// Timeouts of one connection's client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// The whole request, body included.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// The timeouts and backoff of a connection configured with `timeout`, `retries` and
/// `retry_backoff` (`invsync_config::HttpPolicy`).
pub fn policy(config: &invsync_config::HttpPolicy) -> (Timeouts, Backoff) {
    let defaults = (Timeouts::default(), Backoff::default());
    (
        Timeouts {
            // Opening a connection never gets longer than the whole request.
            connect: defaults.0.connect.min(config.timeout),
            request: config.timeout,
        },
        Backoff {
            base: config.retry_backoff,
            max: defaults.1.max.max(config.retry_backoff),
            attempts: config.retries.saturating_add(1),
        },
    )
}

/// A client for one connection. Cheap to clone (reqwest pools connections inside).
pub fn client(connection: &str, timeouts: Timeouts) -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .build()
        .map_err(|e| {
            ConnectorError::new(
                connection,
                ErrorKind::Other,
                format!("cannot build an HTTP client: {}", e.without_url()),
            )
        })
}

/// Jittered exponential backoff ("full jitter"): attempt `n` waits a random time in
/// `0..=min(max, base × 2ⁿ)`, so many clients retrying after one outage spread out.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Attempts in total, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
            attempts: 5,
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// `Retry-After` as seconds or an HTTP date, if present and sane (at most an hour).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = match value.parse::<f64>() {
        // `try_from`: a number too large for a Duration (`1e300`) is not sane either.
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs).ok()?,
        _ => {
            let when = httpdate_to_system_time(value)?;
            when.duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
        }
    };
    (wait <= Duration::from_secs(3600)).then_some(wait)
}

fn httpdate_to_system_time(value: &str) -> Option<std::time::SystemTime> {
    // RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    let parsed = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = u64::try_from(parsed.timestamp()).ok()?;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

/// A transport failure as a connector error; the URL is stripped.
pub fn transport_error(connection: &str, e: reqwest::Error) -> ConnectorError {
    let e = e.without_url();
    let (kind, what) = if e.is_timeout() {
        (ErrorKind::Unavailable, "timed out")
    } else if e.is_connect() {
        (ErrorKind::Unavailable, "cannot connect")
    } else if e.is_decode() || e.is_body() {
        (ErrorKind::Unavailable, "the response could not be read")
    } else {
        (ErrorKind::Other, "request failed")
    };
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ConnectorError::new(connection, kind, message)
}

/// An HTTP status as a connector error. `hint` tells the operator what to do for auth
/// failures (which credential, where to renew it).
pub fn status_error(
    connection: &str,
    status: StatusCode,
    detail: &str,
    hint: &str,
) -> ConnectorError {
    let detail = truncate(detail, 300);
    let (kind, message) = match status.as_u16() {
        401 | 403 => (
            ErrorKind::Auth,
            format!(
                "HTTP {status}: credentials were refused{}. {hint}",
                with(detail)
            ),
        ),
        404 => (
            ErrorKind::NotFound,
            format!("HTTP {status}: not found{}", with(detail)),
        ),
        429 => (
            ErrorKind::Unavailable,
            format!("HTTP {status}: rate limited{}", with(detail)),
        ),
        500..=599 => (
            ErrorKind::Unavailable,
            format!("HTTP {status}: server error{}", with(detail)),
        ),
        _ => (ErrorKind::Other, format!("HTTP {status}{}", with(detail))),
    };
    let mut e = ConnectorError::new(connection, kind, message.trim_end_matches(". ").to_owned());
    e.status = Some(status.as_u16());
    e
}

fn with(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

/// At most `max` characters, on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The boundary of the multipart bodies invsync builds. They carry only invsync's own
/// field values and JSON of GIDs and decimal prices, which never contain it.
pub(crate) const MULTIPART_BOUNDARY: &str = "invsync-form-boundary-5c1e0a";
const MULTIPART_CONTENT_TYPE: &str = "multipart/form-data; boundary=invsync-form-boundary-5c1e0a";

/// One request through the [`Pipeline`]: what to send, and whether sending it twice is
/// harmless.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: Url,
    pub query: &'a [(&'a str, String)],
    /// The body and its content type.
    pub body: Option<(&'static str, &'a [u8])>,
    /// Safe to send again after a timeout or a 5xx: a read, an absolute set, a write
    /// guarded by a concurrency token or carrying an idempotency key.
    pub idempotent: bool,
    /// What it is, for the platform's budget (Shopify prices operations by name,
    /// QuickBooks counts `batch` requests apart) and for messages.
    pub what: &'a str,
    /// How many items it asks for, where the platform prices a call by that (Shopify's
    /// `first`).
    pub size: Option<u32>,
}

impl<'a> Call<'a> {
    /// An idempotent request without a body.
    pub fn new(method: Method, url: Url, what: &'a str) -> Call<'a> {
        Call {
            method,
            url,
            query: &[],
            body: None,
            idempotent: true,
            what,
            size: None,
        }
    }

    pub fn size(mut self, size: Option<u32>) -> Call<'a> {
        self.size = size;
        self
    }

    pub fn query(mut self, query: &'a [(&'a str, String)]) -> Call<'a> {
        self.query = query;
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: &'a [u8]) -> Call<'a> {
        self.body = Some(("application/json", body));
        self
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form(mut self, body: &'a [u8]) -> Call<'a> {
        self.body = Some(("application/x-www-form-urlencoded", body));
        self
    }

    /// A `multipart/form-data` body delimited by [`MULTIPART_BOUNDARY`].
    pub fn multipart(mut self, body: &'a [u8]) -> Call<'a> {
        self.body = Some((MULTIPART_CONTENT_TYPE, body));
        self
    }

    pub fn idempotent(mut self, idempotent: bool) -> Call<'a> {
        self.idempotent = idempotent;
        self
    }
}

/// A whole answer: its body is read inside the pipeline, while the platform's budget
/// permit is still held (QuickBooks counts a request in flight until then) and so the
/// platform can see throttles reported inside a 200 (Shopify).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (platforms answer UTF-8; anything else is replaced, not an error).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// What one platform adds to the [`Pipeline`]: credentials, its rate budget, what counts
/// as a throttle, and its error messages. Every method but [`Platform::status_error`]
/// has a default that suits a platform without a budget of its own.
pub(crate) trait Platform: Sync {
    /// Held from before a request is sent until its answer is read (a QuickBooks
    /// in-flight slot, a Shopify cost reservation).
    type Permit<'p>: Send
    where
        Self: 'p;

    /// A credential obtained for one attempt (QuickBooks' access token), handed to
    /// [`Platform::sign`], and to [`Platform::unauthorized`] if the platform refuses it.
    fn credential(
        &self,
    ) -> impl Future<Output = Result<Option<SecretString>, ConnectorError>> + Send {
        async { Ok(None) }
    }

    /// Adds the credentials and the platform's headers to one attempt.
    fn sign(&self, request: RequestBuilder, credential: Option<&SecretString>) -> RequestBuilder;

    /// Waits until the account's rate budget has room for the call, and takes it.
    fn admit<'p>(&'p self, call: &Call<'_>) -> impl Future<Output = Self::Permit<'p>> + Send;

    /// Takes an answer in (rate headers, reported costs, the server's clock) and says
    /// whether the platform throttled the call: throttled calls were not executed, so
    /// they are always sent again (up to [`Platform::throttle_limit`]).
    fn observe(&self, _call: &Call<'_>, answer: &Answer, _permit: &Self::Permit<'_>) -> bool {
        answer.status == StatusCode::TOO_MANY_REQUESTS
    }

    /// Throttles one call sits out before it gives up. `None`: each counts as one of the
    /// connection's retries.
    fn throttle_limit(&self) -> Option<u32> {
        None
    }

    /// How long a throttled call waits before it is sent again. The default is
    /// `Retry-After`, else `backoff` (the next jittered backoff delay). A platform whose
    /// budget holds every call of the account back instead returns zero.
    fn throttle_wait(&self, _call: &Call<'_>, answer: &Answer, backoff: Duration) -> Duration {
        retry_after(&answer.headers).unwrap_or(backoff)
    }

    /// The credential `rejected` got a 401: renew it. `Ok(true)` sends the call once
    /// more with the new one; `Ok(false)` lets the 401 stand.
    fn unauthorized(
        &self,
        _rejected: &SecretString,
    ) -> impl Future<Output = Result<bool, ConnectorError>> + Send {
        async { Ok(false) }
    }

    /// The final answer of a call, not a success, as an error that says what to do.
    fn status_error(&self, call: &Call<'_>, answer: &Answer) -> ConnectorError;

    /// A transport failure of a call, as reported (a platform may add what the call
    /// was).
    fn transport_error(&self, _call: &Call<'_>, error: ConnectorError) -> ConnectorError {
        error
    }
}

/// `request` with an API token in `header` and `Accept: application/json`.
pub(crate) fn with_token(
    request: RequestBuilder,
    header: &'static str,
    token: &SecretString,
) -> RequestBuilder {
    use secrecy::ExposeSecret as _;
    request
        .header(header, token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json")
}

/// A platform with no budget, credentials or messages of its own: downloads from a
/// storage URL, OAuth token endpoints.
pub(crate) struct Plain {
    connection: String,
    throttle_limit: Option<u32>,
}

impl Plain {
    pub fn new(connection: &str) -> Plain {
        Plain {
            connection: connection.to_owned(),
            throttle_limit: None,
        }
    }

    /// Never sends a throttled call again (an OAuth refresh is sent once).
    pub fn once(connection: &str) -> Plain {
        Plain {
            connection: connection.to_owned(),
            throttle_limit: Some(0),
        }
    }
}

impl Platform for Plain {
    type Permit<'p> = ();

    fn sign(&self, request: RequestBuilder, _: Option<&SecretString>) -> RequestBuilder {
        request
    }

    async fn admit(&self, _call: &Call<'_>) {}

    fn throttle_limit(&self) -> Option<u32> {
        self.throttle_limit
    }

    fn status_error(&self, _call: &Call<'_>, answer: &Answer) -> ConnectorError {
        status_error(&self.connection, answer.status, "", "")
    }
}

/// The one way every HTTP connector sends requests: a client with timeouts and a user
/// agent, the retry policy of this module, the platform's hooks, and the API metrics.
#[derive(Clone)]
pub(crate) struct Pipeline {
    connection: String,
    client: reqwest::Client,
    backoff: Backoff,
}

impl Pipeline {
    pub fn new(
        connection: &str,
        timeouts: Timeouts,
        backoff: Backoff,
    ) -> Result<Pipeline, ConnectorError> {
        Ok(Pipeline {
            connection: connection.to_owned(),
            client: client(connection, timeouts)?,
            backoff,
        })
    }

    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// The same pipeline with other retries (tests answer with errors on purpose).
    #[cfg(any(test, feature = "testing"))]
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// Sends a call and returns its answer when it is a success; any other final answer
    /// is the platform's error.
    pub async fn send<P: Platform>(
        &self,
        platform: &P,
        call: &Call<'_>,
    ) -> Result<Answer, ConnectorError> {
        let answer = self.exchange(platform, call).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(platform.status_error(call, &answer))
        }
    }

    /// Sends a call, retrying per this module's policy, and returns its final answer
    /// whatever its status (OAuth endpoints explain themselves in their error bodies).
    ///
    /// Per attempt: the platform's credentials, a place in its budget, one request
    /// counted in `invsync_api_calls_total`, the whole body read. Then, in order: a
    /// throttle (counted in `invsync_api_throttles_total`) waits and goes again; a 401
    /// renews the credential once; a 5xx of an idempotent call and a failure to connect
    /// (or a timeout of an idempotent call) go again after the jittered backoff, or
    /// `Retry-After`, while retries are left.
    pub async fn exchange<P: Platform>(
        &self,
        platform: &P,
        call: &Call<'_>,
    ) -> Result<Answer, ConnectorError> {
        let mut retries = 0u32;
        let mut throttles = 0u32;
        let mut renewed = false;
        let may_retry = |retries: u32| retries.saturating_add(1) < self.backoff.attempts;
        loop {
            let credential = platform.credential().await?;
            let request = platform.sign(self.request(call), credential.as_ref());
            let permit = platform.admit(call).await;
            metrics::counter!(metrics_names::API_CALLS, "connection" => self.connection.clone())
                .increment(1);
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    response.bytes().await.map(|body| Answer {
                        status,
                        headers,
                        body: Vec::from(body),
                    })
                }
                Err(e) => Err(e),
            };
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    drop(permit);
                    // A connection that never opened cannot have applied anything.
                    let retry = e.is_connect()
                        || (call.idempotent
                            && (e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()));
                    if retry && may_retry(retries) {
                        let wait = self.backoff.delay(retries);
                        retries += 1;
                        tracing::debug!(connection = %self.connection, what = call.what, error = %e.without_url(), wait_ms = wait.as_millis() as u64, "retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(
                        platform.transport_error(call, transport_error(&self.connection, e))
                    );
                }
            };
            let throttled = platform.observe(call, &answer, &permit);
            drop(permit);
            if throttled {
                metrics::counter!(metrics_names::API_THROTTLES, "connection" => self.connection.clone())
                    .increment(1);
                let limit = platform.throttle_limit();
                let again = match limit {
                    Some(limit) => throttles < limit,
                    None => may_retry(retries),
                };
                if !again {
                    return Ok(answer);
                }
                let used = if limit.is_some() {
                    &mut throttles
                } else {
                    &mut retries
                };
                let wait = platform.throttle_wait(call, &answer, self.backoff.delay(*used));
                *used += 1;
                tracing::debug!(connection = %self.connection, what = call.what, wait_ms = wait.as_millis() as u64, "throttled; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            if answer.status == StatusCode::UNAUTHORIZED
                && !renewed
                && let Some(rejected) = &credential
            {
                renewed = true;
                if platform.unauthorized(rejected).await? {
                    continue;
                }
            }
            if answer.status.is_server_error() && call.idempotent && may_retry(retries) {
                let wait =
                    retry_after(&answer.headers).unwrap_or_else(|| self.backoff.delay(retries));
                retries += 1;
                tracing::debug!(connection = %self.connection, what = call.what, status = %answer.status, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok(answer);
        }
    }

    /// Every item of a paged list whose first page said how many pages there are: pages
    /// 2 to `pages`, `in_flight` at a time, in page order, after `first`.
    pub async fn later_pages<T, F, Fut>(
        first: Vec<T>,
        pages: usize,
        in_flight: usize,
        page: F,
    ) -> Result<Vec<T>, ConnectorError>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Result<Vec<T>, ConnectorError>>,
    {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let rest: Vec<Vec<T>> = stream::iter(2..=pages)
            .map(page)
            .buffered(in_flight)
            .try_collect()
            .await?;
        let mut items = first;
        items.extend(rest.into_iter().flatten());
        Ok(items)
    }

    fn request(&self, call: &Call<'_>) -> RequestBuilder {
        let mut request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .query(call.query);
        if let Some((content_type, body)) = call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_vec());
        }
        request
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_its_ceiling() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            attempts: 5,
        };
        for attempt in 0..40 {
            let ceiling = Duration::from_millis(100)
                .saturating_mul(1 << attempt.min(20))
                .min(Duration::from_secs(1));
            assert!(b.delay(attempt) <= ceiling);
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(reqwest::header::RETRY_AFTER, "1.5".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().expect("header"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        h.insert(
            reqwest::header::RETRY_AFTER,
            "99999".parse().expect("header"),
        );
        assert_eq!(retry_after(&h), None, "absurd waits are ignored");
        h.insert(
            reqwest::header::RETRY_AFTER,
            "soon".parse().expect("header"),
        );
        assert_eq!(retry_after(&h), None);
    }

    /// Found by fuzzing: `Retry-After: 1e300` overflowed `Duration` and panicked.
    #[test]
    fn retry_after_too_large_for_a_duration_is_ignored() {
        for value in ["1e300", "18446744073709551616", "1e20"] {
            let mut h = HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, value.parse().expect("header"));
            assert_eq!(retry_after(&h), None, "{value}");
        }
    }

    #[test]
    fn statuses_map_to_kinds_and_keep_the_hint() {
        let e = status_error(
            "shop",
            StatusCode::UNAUTHORIZED,
            "Invalid API key",
            "Renew the access token in the Shopify admin.",
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_eq!(e.status, Some(401));
        assert!(e.to_string().contains("Renew the access token"), "{e}");
        assert_eq!(
            status_error("shop", StatusCode::BAD_GATEWAY, "", "").kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            status_error("shop", StatusCode::TOO_MANY_REQUESTS, "", "").kind,
            ErrorKind::Unavailable
        );
        assert!(status_error("shop", StatusCode::BAD_GATEWAY, "", "").retryable);
        assert_eq!(
            status_error("shop", StatusCode::UNPROCESSABLE_ENTITY, "", "").kind,
            ErrorKind::Other
        );
    }
}
