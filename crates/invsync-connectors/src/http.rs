//! What every HTTP connection shares: one `reqwest::Client` per connection with timeouts
//! and a user agent, jittered exponential backoff, `Retry-After`, and errors that say
//! what to do without ever carrying a URL (query strings can hold credentials) or a token.
//!
//! Retry policy (house style, after docs.rs' registry client): retry only what cannot have
//! been applied twice — connection failures always; timeouts, 429 and 5xx only for requests
//! the caller marks idempotent (reads, absolute sets, or writes carrying an idempotency key).

/// The most pages any connector reads one list in (10,000: a million WooCommerce
/// products at 100 a page, 2.5 million BigCommerce variants at 250, ten million QuickBooks
/// items at 1,000). A platform answer that claims more is garbled, and reading it would go
/// on for good or allocate without end — as fuzzing showed on all three — so it is an
/// error instead.
pub const MAX_PAGES: usize = 10_000;

use crate::{ConnectorError, ErrorKind};
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
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

/// Sends a request, retrying per the policy above. `make` builds the request afresh for
/// each attempt. Returns the first response that is not retried (any status: the caller
/// reads platform error bodies), or the last error.
pub async fn send(
    connection: &str,
    backoff: Backoff,
    idempotent: bool,
    make: impl Fn() -> RequestBuilder,
) -> Result<Response, ConnectorError> {
    let mut attempt = 0;
    loop {
        let last = attempt + 1 >= backoff.attempts;
        metrics::counter!(metrics_names::API_CALLS, "connection" => connection.to_owned())
            .increment(1);
        match make().send().await {
            Ok(response) => {
                let status = response.status();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    metrics::counter!(metrics_names::API_THROTTLES, "connection" => connection.to_owned()).increment(1);
                }
                let retryable = idempotent
                    && (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error());
                if !retryable || last {
                    return Ok(response);
                }
                let wait =
                    retry_after(response.headers()).unwrap_or_else(|| backoff.delay(attempt));
                tracing::debug!(connection, %status, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                // A connection that never opened cannot have applied anything.
                let retryable =
                    e.is_connect() || (idempotent && (e.is_timeout() || e.is_request()));
                if !retryable || last {
                    return Err(transport_error(connection, e));
                }
                let wait = backoff.delay(attempt);
                tracing::debug!(connection, error = %e.without_url(), wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
            }
        }
        attempt += 1;
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
