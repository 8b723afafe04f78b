//! Pacing by BigCommerce's rate-limit headers (api-rate-limits.mdx): every response says
//! how many requests are left in the current window (`X-Rate-Limit-Requests-Left`) and
//! when it resets (`X-Rate-Limit-Time-Reset-Ms`). The pacer spends what is left, then
//! holds every request of the connection until the reset, instead of running into 429s.

use reqwest::header::HeaderMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(super) struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Requests left in the window, as last reported and counted down since; `None` when
    /// unknown (before the first response, after a reset).
    left: Option<u64>,
    reset_at: Option<Instant>,
}

/// When nothing says how long to wait.
const UNKNOWN_RESET: Duration = Duration::from_secs(1);

/// The longest wait a reset header can impose. BigCommerce's windows are seconds long;
/// a larger value is garbage and must not hold the connection's requests for good.
const MAX_RESET_WAIT: Duration = Duration::from_secs(60);

impl Pacer {
    /// How long a request sent now would wait (without counting it).
    #[cfg(test)]
    fn wait(&self) -> Duration {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match (s.left, s.reset_at) {
            (_, Some(r)) if now >= r => Duration::ZERO,
            (Some(0), reset) => reset.map_or(UNKNOWN_RESET, |r| r.saturating_duration_since(now)),
            _ => Duration::ZERO,
        }
    }

    /// Waits until a request may be sent, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if s.reset_at.is_some_and(|r| now >= r) {
                    s.left = None;
                    s.reset_at = None;
                }
                match s.left {
                    // Without a reset time, assume one: else nothing would ever be sent
                    // again to learn of the next window.
                    Some(0) => s
                        .reset_at
                        .get_or_insert(now + UNKNOWN_RESET)
                        .saturating_duration_since(now),
                    Some(n) => {
                        s.left = Some(n - 1);
                        return;
                    }
                    None => return,
                }
            };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "BigCommerce rate limit: waiting for the window to reset"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a response's rate headers in; `throttled` for a 429. Returns whether the
    /// headers were there (a 429 without them means the platform is under load).
    pub fn observe(&self, headers: &HeaderMap, throttled: bool) -> bool {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let left = number("x-rate-limit-requests-left");
        let reset = number("x-rate-limit-time-reset-ms");
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ms) = reset {
            let wait = Duration::from_millis(ms).min(MAX_RESET_WAIT);
            s.reset_at = Some(Instant::now() + wait);
        }
        match (left, throttled) {
            (_, true) if reset.is_some() => s.left = Some(0),
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
        let pacer = Pacer::default();
        pacer.acquire().await;
        assert!(pacer.observe(&headers(2, 300), false));
        let started = Instant::now();
        pacer.acquire().await;
        pacer.acquire().await;
        assert!(started.elapsed() < Duration::from_millis(100));
        pacer.acquire().await;
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_429_with_headers_waits_for_the_window() {
        let pacer = Pacer::default();
        assert!(pacer.observe(&headers(5, 200), true));
        let started = Instant::now();
        pacer.acquire().await;
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
        let pacer = Pacer::default();
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
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::fuzz::cases(2000)))]

        #[test]
        fn pacing_takes_any_rate_headers(
            left in crate::fuzz::header_value(),
            reset in crate::fuzz::header_value(),
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
}
