//! A fault layer for the platform fakes: what the network and a struggling platform do to a
//! sync, switched on from a test (or the soak command) and counted.
//!
//! Wrap any fake's router with [`Faults::layer`], serve it, and arm faults:
//!
//! ```ignore
//! let faults = Faults::new();
//! let server = fake::serve(faults.layer(shop.router())).await;
//! faults.next(3, Match::Any, Fault::status(503));                      // a 5xx burst
//! faults.next(5, Match::Any, Fault::throttled("1"));                  // a 429 storm
//! faults.next(1, Match::Any, Fault::Hang(Duration::from_secs(3600))); // a hung connection
//! faults.next(1, Match::body("inventorySetQuantities"), Fault::ApplyThenDrop);
//! faults.sometimes(0.05, Match::Any, Fault::status(502));             // the soak's weather
//! ```
//!
//! A fault answers instead of the fake (`Status`), before it (`Hang`: when the client gives
//! up first, the fake never sees the request) or after it (`ApplyThenDrop`: the fake applied
//! the request, then the connection closes without an answer — the "write applied, response
//! lost" case every retry policy must survive).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What to do to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After`, when given) without calling the fake.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Hold the request this long before the fake sees it. Longer than the client's timeout:
    /// the client gives up, the connection closes and the fake never handles it.
    Hang(Duration),
    /// Let the fake handle the request — a write is applied — then close the connection
    /// without sending a response.
    ApplyThenDrop,
}

impl Fault {
    /// An HTTP error status, e.g. 503.
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// HTTP 429 with `Retry-After` (seconds, or an HTTP date).
    pub fn throttled(retry_after: &str) -> Fault {
        Fault::Status {
            status: 429,
            retry_after: Some(retry_after.to_owned()),
        }
    }

    /// A short name for counting: `503`, `429`, `hang`, `apply-then-drop`.
    pub fn label(&self) -> String {
        match self {
            Fault::Status { status, .. } => status.to_string(),
            Fault::Hang(_) => "hang".to_owned(),
            Fault::ApplyThenDrop => "apply-then-drop".to_owned(),
        }
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Any,
    /// Requests with this HTTP method (`POST`, `PUT`, …): writes of REST platforms.
    Method(String),
    /// Requests whose body contains this text: one GraphQL operation (e.g.
    /// `inventorySetQuantities`).
    Body(String),
}

impl Match {
    pub fn body(text: &str) -> Match {
        Match::Body(text.to_owned())
    }

    pub fn method(method: &str) -> Match {
        Match::Method(method.to_ascii_uppercase())
    }

    fn matches(&self, method: &str, body: &[u8]) -> bool {
        match self {
            Match::Any => true,
            Match::Method(m) => m == method,
            Match::Body(text) => body
                .windows(text.len().max(1))
                .any(|w| w == text.as_bytes()),
        }
    }
}

struct Rule {
    when: Match,
    fault: Fault,
    /// Requests it still applies to; `None`: any number, at `probability`.
    remaining: Option<usize>,
    probability: f64,
}

struct State_ {
    rules: Vec<Rule>,
    delay: Duration,
    rng: StdRng,
    requests: u64,
    injected: BTreeMap<String, u64>,
}

/// A handle on one fake's faults. Clones share them.
#[derive(Clone)]
pub struct Faults {
    state: Arc<Mutex<State_>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new()
    }
}

/// Bodies larger than this are passed through unmatched by [`Match::Body`]; the fakes'
/// requests are far smaller.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

impl Faults {
    /// No faults armed; random faults (see [`Faults::sometimes`]) are seeded with 42.
    pub fn new() -> Faults {
        Faults::seeded(42)
    }

    /// Random faults drawn from this seed: the same seed and requests give the same faults.
    pub fn seeded(seed: u64) -> Faults {
        Faults {
            state: Arc::new(Mutex::new(State_ {
                rules: Vec::new(),
                delay: Duration::ZERO,
                rng: StdRng::seed_from_u64(seed),
                requests: 0,
                injected: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State_> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `router` with the faults in front of every route.
    pub fn layer(&self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), apply))
    }

    /// The next `n` matching requests get `fault` (rules armed earlier are used up first).
    pub fn next(&self, n: usize, when: Match, fault: Fault) {
        self.lock().rules.push(Rule {
            when,
            fault,
            remaining: Some(n),
            probability: 1.0,
        });
    }

    /// Every matching request gets `fault` with this probability, until [`Faults::clear`].
    pub fn sometimes(&self, probability: f64, when: Match, fault: Fault) {
        self.lock().rules.push(Rule {
            when,
            fault,
            remaining: None,
            probability,
        });
    }

    /// Every request waits this long before the fake handles it (a slow platform).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Disarms every fault and the delay.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.delay = Duration::ZERO;
    }

    /// Requests seen so far, faulted or not.
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Faults injected so far, by [`Fault::label`].
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.lock().injected.clone()
    }

    /// Armed `next` faults not used yet.
    pub fn pending(&self) -> usize {
        self.lock()
            .rules
            .iter()
            .filter_map(|r| r.remaining)
            .sum::<usize>()
    }

    /// The fault for this request, if any, counted.
    fn pick(&self, method: &str, body: &[u8]) -> (Option<Fault>, Duration) {
        let mut state = self.lock();
        state.requests += 1;
        let delay = state.delay;
        let mut chosen = None;
        let state = &mut *state;
        for rule in state.rules.iter_mut() {
            if !rule.when.matches(method, body) {
                continue;
            }
            match &mut rule.remaining {
                Some(0) => continue,
                Some(n) => {
                    *n -= 1;
                    chosen = Some(rule.fault.clone());
                    break;
                }
                None => {
                    if state.rng.random::<f64>() < rule.probability {
                        chosen = Some(rule.fault.clone());
                        break;
                    }
                }
            }
        }
        state.rules.retain(|r| r.remaining != Some(0));
        if let Some(fault) = &chosen {
            *state.injected.entry(fault.label()).or_default() += 1;
        }
        (chosen, delay)
    }

    fn needs_body(&self) -> bool {
        self.lock()
            .rules
            .iter()
            .any(|r| matches!(r.when, Match::Body(_)))
    }
}

async fn apply(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let (request, body) = if faults.needs_body() {
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(bytes) => (Request::from_parts(parts, Body::from(bytes.clone())), bytes),
            Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        }
    } else {
        (request, axum::body::Bytes::new())
    };
    let (fault, delay) = faults.pick(&method, &body);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        None => next.run(request).await,
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                format!(
                    "{{\"errors\":\"{}\"}}",
                    status.canonical_reason().unwrap_or("fault")
                ),
            )
                .into_response();
            if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            response
        }
        Some(Fault::Hang(d)) => {
            // If the client gives up first, hyper drops this future: the fake never runs.
            tokio::time::sleep(d).await;
            next.run(request).await
        }
        Some(Fault::ApplyThenDrop) => {
            let applied = next.run(request).await;
            drop(applied);
            // Closing a connection without an answer is not something a handler can ask
            // of hyper; ending the connection's task does it. `resume_unwind` unwinds
            // without the panic hook (no noise in test output); tokio contains it to this
            // connection's task, and the client sees the connection closed mid-request.
            std::panic::resume_unwind(Box::new(
                "fault: response dropped after the fake applied the request",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn served() -> (Faults, crate::fake::FakeServer, Arc<Mutex<u32>>) {
        let hits = Arc::new(Mutex::new(0u32));
        let counter = Arc::clone(&hits);
        let router = axum::Router::new().route(
            "/write",
            axum::routing::post(move |body: String| {
                let counter = Arc::clone(&counter);
                async move {
                    *counter.lock().expect("lock") += 1;
                    format!("applied {body}")
                }
            }),
        );
        let faults = Faults::new();
        let server = crate::fake::serve(faults.layer(router)).await;
        (faults, server, hits)
    }

    async fn post(server: &crate::fake::FakeServer, body: &str) -> Result<(u16, String), String> {
        let response = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .expect("client")
            .post(format!("{}/write", server.base_url()))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    e.to_string()
                }
            })?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.map_err(|e| e.to_string())?))
    }

    #[tokio::test]
    async fn bursts_are_used_up_in_order_and_counted() {
        let (faults, server, hits) = served().await;
        faults.next(2, Match::Any, Fault::status(503));
        faults.next(1, Match::Any, Fault::throttled("1"));
        assert_eq!(post(&server, "a").await.expect("answer").0, 503);
        assert_eq!(post(&server, "a").await.expect("answer").0, 503);
        assert_eq!(post(&server, "a").await.expect("answer").0, 429);
        assert_eq!(
            post(&server, "a").await.expect("answer"),
            (200, "applied a".to_owned())
        );
        assert_eq!(
            *hits.lock().expect("lock"),
            1,
            "faults never reach the fake"
        );
        assert_eq!(faults.requests(), 4);
        assert_eq!(faults.injected().get("503"), Some(&2));
        assert_eq!(faults.pending(), 0);
    }

    #[tokio::test]
    async fn apply_then_drop_applies_and_loses_the_response() {
        let (faults, server, hits) = served().await;
        faults.next(1, Match::body("write-me"), Fault::ApplyThenDrop);
        assert!(post(&server, "other").await.is_ok(), "only matching bodies");
        let lost = post(&server, "write-me").await;
        assert!(lost.is_err(), "no response: {lost:?}");
        assert_eq!(*hits.lock().expect("lock"), 2, "but the fake applied it");
        assert!(
            post(&server, "write-me").await.is_ok(),
            "the server is still up"
        );
    }

    #[tokio::test]
    async fn a_hang_longer_than_the_client_timeout_never_reaches_the_fake() {
        let (faults, server, hits) = served().await;
        faults.next(1, Match::Any, Fault::Hang(Duration::from_secs(5)));
        let e = post(&server, "a").await.expect_err("timed out");
        assert!(e.contains("timed out") || e.contains("timeout"), "{e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*hits.lock().expect("lock"), 0);
    }

    #[tokio::test]
    async fn random_faults_follow_their_probability() {
        let (faults, server, _) = served().await;
        faults.sometimes(0.5, Match::Any, Fault::status(502));
        let mut failed = 0;
        for _ in 0..200 {
            if post(&server, "a").await.expect("answer").0 == 502 {
                failed += 1;
            }
        }
        assert!((60..=140).contains(&failed), "{failed} of 200");
    }
}
