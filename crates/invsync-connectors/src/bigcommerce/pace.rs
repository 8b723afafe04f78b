//! Pacing by BigCommerce's rate-limit headers (api-rate-limits.mdx): every response says
//! how many requests are left in the current window (`X-Rate-Limit-Requests-Left`), when
//! it resets (`X-Rate-Limit-Time-Reset-Ms`) and the window's quota
//! (`X-Rate-Limit-Requests-Quota`). The pacer spends what is left, then holds every
//! request until the reset, instead of running into 429s.
//!
//! One pacer per store and process (ADR 0026): every connection to the store and every
//! run shares it, so it counts the requests in flight — a store's answer cannot count
//! requests it has not received yet — and never lets more go than the store has left.
//! Before anything is known (the first request of the process), one request goes alone
//! and its answer tells the rest.

use reqwest::header::HeaderMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(super) struct Pacer {
    state: Mutex<State>,
    /// Woken when a request ends: a request waiting for the first answer may go.
    answered: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Requests left in the window, as last reported (less the requests in flight) and
    /// counted down since; `None` when unknown (before the first response, after a reset
    /// of a window whose quota is not known).
    left: Option<u64>,
    reset_at: Option<Instant>,
    /// The window's quota, as last reported.
    quota: Option<u64>,
    /// The window's length, as last reported.
    window: Option<Duration>,
    /// Requests sent and not answered yet.
    in_flight: u64,
}

/// Whether an answer carries the window's reset time (a 429 without it means the
/// platform is under load, not that the quota is spent).
pub(super) fn announces_reset(headers: &HeaderMap) -> bool {
    headers
        .get("x-rate-limit-time-reset-ms")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().parse::<u64>().is_ok())
}

/// When nothing says how long to wait.
const UNKNOWN_RESET: Duration = Duration::from_secs(1);

/// The longest wait a reset header can impose. BigCommerce's windows are seconds long;
/// a larger value is garbage and must not hold the connection's requests for good.
const MAX_RESET_WAIT: Duration = Duration::from_secs(60);

/// A request's place in the window, held until its answer is read.
pub(super) struct Permit {
    pacer: Arc<Pacer>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut s = self.pacer.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.pacer.answered.notify_waiters();
    }
}

impl Pacer {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a request sent now would wait (without counting it).
    #[cfg(test)]
    fn wait(&self) -> Duration {
        let s = self.state();
        let now = Instant::now();
        match (s.left, s.reset_at) {
            (_, Some(r)) if now >= r => Duration::ZERO,
            (Some(0), reset) => reset.map_or(UNKNOWN_RESET, |r| r.saturating_duration_since(now)),
            _ => Duration::ZERO,
        }
    }

    /// Waits until a request may be sent, and counts it.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let wait = {
                let mut s = self.state();
                let now = Instant::now();
                if s.reset_at.is_some_and(|r| now >= r) {
                    // A new window: its whole quota, less what is in flight (those may
                    // land in it).
                    s.left = s.quota.map(|q| q.saturating_sub(s.in_flight));
                    s.reset_at = None;
                }
                match s.left {
                    // Without a reset time, assume one: else nothing would ever be sent
                    // again to learn of the next window.
                    Some(0) => Some(
                        s.reset_at
                            .get_or_insert(now + UNKNOWN_RESET)
                            .saturating_duration_since(now),
                    ),
                    Some(n) => {
                        s.left = Some(n - 1);
                        s.in_flight += 1;
                        return Permit {
                            pacer: Arc::clone(self),
                        };
                    }
                    // Nothing known: one request goes, the others wait for its answer.
                    None if s.in_flight == 0 => {
                        s.in_flight += 1;
                        return Permit {
                            pacer: Arc::clone(self),
                        };
                    }
                    None => None,
                }
            };
            match wait {
                Some(wait) => {
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "BigCommerce rate limit: waiting for the window to reset"
                    );
                    tokio::time::sleep(wait).await;
                }
                None => {
                    let known = || {
                        let s = self.state();
                        s.left.is_some() || s.in_flight == 0
                    };
                    crate::budget::until_answered(&self.answered, known, UNKNOWN_RESET).await;
                }
            }
        }
    }

    /// Takes a response's rate headers in; `throttled` for a 429. Call it while the
    /// request's [`Permit`] is held. Returns whether the headers were there (a 429
    /// without them means the platform is under load).
    pub fn observe(&self, headers: &HeaderMap, throttled: bool) -> bool {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let left = number("x-rate-limit-requests-left");
        let reset = number("x-rate-limit-time-reset-ms");
        let quota = number("x-rate-limit-requests-quota");
        let window = number("x-rate-limit-time-window-ms")
            .map(|ms| Duration::from_millis(ms).min(MAX_RESET_WAIT));
        let mut s = self.state();
        let now = Instant::now();
        // The store counted this request; the others in flight it may not have yet.
        let others = s.in_flight.saturating_sub(1);
        if quota.is_some() {
            s.quota = quota;
        }
        if window.is_some() {
            s.window = window;
        }
        let mut new_window = false;
        if let Some(ms) = reset {
            let reset_at = now + Duration::from_millis(ms).min(MAX_RESET_WAIT);
            // An answer from a later window than the one counted down: a reset time
            // more than half a window past the known one.
            let slack = s.window.unwrap_or(UNKNOWN_RESET) / 2;
            new_window = s.reset_at.is_none_or(|known| reset_at > known + slack);
            if new_window || s.reset_at.is_some_and(|known| reset_at > known) {
                s.reset_at = Some(reset_at);
            }
        }
        let reported = left.map(|l| l.saturating_sub(others));
        match (reported, throttled) {
            (_, true) if reset.is_some() => s.left = Some(0),
            (Some(l), _) if new_window => s.left = Some(l),
            (Some(l), _) => s.left = Some(l.min(s.left.unwrap_or(u64::MAX))),
            _ => {}
        }
        reset.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(left: u64, reset_ms: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-requests-left", left.into());
        h.insert("x-rate-limit-time-reset-ms", reset_ms.into());
        h
    }

    #[tokio::test]
    async fn spends_what_is_left_then_waits_for_the_reset() {
        let pacer = Arc::new(Pacer::default());
        let first = pacer.acquire().await;
        assert!(pacer.observe(&headers(2, 300), false));
        drop(first);
        let started = Instant::now();
        drop(pacer.acquire().await);
        drop(pacer.acquire().await);
        assert!(started.elapsed() < Duration::from_millis(100));
        drop(pacer.acquire().await);
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_429_with_headers_waits_for_the_window() {
        let pacer = Arc::new(Pacer::default());
        assert!(pacer.observe(&headers(5, 200), true));
        let started = Instant::now();
        drop(pacer.acquire().await);
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(
            !pacer.observe(&HeaderMap::new(), true),
            "no headers: under load"
        );
    }

    /// Found by fuzzing: `X-Rate-Limit-Requests-Left: 0` without a reset header held
    /// every later request of the connection for good (nothing could be sent to learn of
    /// a new window).
    #[tokio::test]
    async fn nothing_left_without_a_reset_waits_once() {
        let pacer = Arc::new(Pacer::default());
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-requests-left", 0u64.into());
        assert!(!pacer.observe(&h, false));
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), pacer.acquire())
            .await
            .expect("a request goes out after UNKNOWN_RESET");
        assert!(started.elapsed() >= UNKNOWN_RESET - Duration::from_millis(50));
    }

    /// Found by fuzzing: a reset of 2⁶⁴−1 ms held every request of the connection for
    /// half a billion years (and may overflow `Instant` where it is narrower).
    #[test]
    fn a_huge_reset_is_capped() {
        let pacer = Pacer::default();
        assert!(pacer.observe(&headers(0, u64::MAX), true));
        assert!(pacer.wait() <= MAX_RESET_WAIT);
        assert!(pacer.wait() >= MAX_RESET_WAIT - Duration::from_secs(1));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::testing::fuzz_cases(2000)))]

        #[test]
        fn pacing_takes_any_rate_headers(
            left in crate::testing::header_value(),
            reset in crate::testing::header_value(),
            throttled: bool,
        ) {
            let mut h = HeaderMap::new();
            for (name, value) in [("x-rate-limit-requests-left", left), ("x-rate-limit-time-reset-ms", reset)] {
                if let Ok(value) = reqwest::header::HeaderValue::from_bytes(&value) {
                    h.insert(name, value);
                }
            }
            let pacer = Pacer::default();
            pacer.observe(&h, throttled);
            proptest::prop_assert!(pacer.wait() <= MAX_RESET_WAIT);
        }
    }

    fn headers_with_quota(left: u64, reset_ms: u64, quota: u64) -> HeaderMap {
        let mut h = headers(left, reset_ms);
        h.insert("x-rate-limit-requests-quota", quota.into());
        h.insert("x-rate-limit-time-window-ms", 1_000u64.into());
        h
    }

    /// One pacer for every connection to a store: requests in flight count against what
    /// an answer says is left, since the store may not have counted them yet.
    #[tokio::test]
    async fn requests_in_flight_count_against_what_is_left() {
        let pacer = Arc::new(Pacer::default());
        let probe = pacer.acquire().await;
        // Nothing known yet: a second request waits for the first answer.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), pacer.acquire())
                .await
                .is_err()
        );
        assert!(pacer.observe(&headers_with_quota(4, 500, 5), false));
        drop(probe);
        let in_flight: Vec<Permit> = vec![
            pacer.acquire().await,
            pacer.acquire().await,
            pacer.acquire().await,
        ];
        // The first answer of the three says 3 left (the store counted only it): the
        // other two in flight leave 1, of which nothing is taken yet.
        assert!(pacer.observe(&headers_with_quota(3, 480, 5), false));
        let started = Instant::now();
        drop(pacer.acquire().await);
        assert!(started.elapsed() < Duration::from_millis(50));
        drop(in_flight);
        drop(pacer.acquire().await);
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "the sixth request waits for the next window: {:?}",
            started.elapsed()
        );
    }
}
