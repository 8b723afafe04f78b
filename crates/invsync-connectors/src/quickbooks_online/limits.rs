//! Client-side throttling to QuickBooks Online's documented limits, per realm
//! (platform-apis.md §3, "Rate limits"; developer.intuit.com …/learn/limits-and-throttles):
//! 500 requests a minute, 40 batch requests a minute, at most 10 requests in flight.
//!
//! A sliding-window log rather than a token bucket: "at most N in any minute" is exactly a
//! window, and a bucket that allowed a burst of N would also allow up to 2N in the first
//! minute (ADR 0033). Every process keeps one limiter per realm in the registry of rate
//! budgets (`crate::budget`, ADR 0026: connections opened for different runs share it);
//! processes do not coordinate, so a 429 is still handled.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The limits one realm is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests of any kind per window.
    pub requests_per_window: usize,
    /// `/batch` requests per window (they count as requests too).
    pub batches_per_window: usize,
    /// Requests in flight at once.
    pub in_flight: usize,
    pub window: Duration,
    /// Added to the window on this side: QuickBooks counts a request from when it
    /// arrives, a little after it is sent, so a window measured here must end later.
    pub margin: Duration,
}

impl Default for Limits {
    /// QuickBooks Online's documented limits.
    fn default() -> Self {
        Limits {
            requests_per_window: 500,
            batches_per_window: 40,
            in_flight: 10,
            window: Duration::from_secs(60),
            margin: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Default)]
struct Windows {
    requests: VecDeque<Instant>,
    batches: VecDeque<Instant>,
    /// After a 429 every request of the realm waits until then.
    paused_until: Option<Instant>,
}

/// One realm's limiter.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: Limits,
    in_flight: Semaphore,
    windows: Mutex<Windows>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            in_flight: Semaphore::new(limits.in_flight.max(1)),
            windows: Mutex::new(Windows::default()),
        }
    }

    fn windows(&self) -> MutexGuard<'_, Windows> {
        // A panic while holding this lock leaves plain timestamps behind: still usable.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until one more request (a `/batch` one when `batch`) stays within every
    /// limit, and takes its place. Hold the permit until the response is read.
    pub async fn acquire(&self, batch: bool) -> SemaphorePermit<'_> {
        loop {
            // Wait for room in the windows first, without holding an in-flight slot, so
            // a batch waiting for its per-minute turn does not block queries.
            if let Some(wait) = self.wait_needed(batch, false) {
                tokio::time::sleep(wait).await;
                continue;
            }
            let Ok(permit) = self.in_flight.acquire().await else {
                // The semaphore is never closed; if it were, don't spin.
                tokio::time::sleep(self.limits.window).await;
                continue;
            };
            // Recorded now, when the request is about to leave: the window ends late
            // rather than early.
            if self.wait_needed(batch, true).is_none() {
                return permit;
            }
            drop(permit);
        }
    }

    /// `None` when a request may go now (and then, if `take`, records it); else how long
    /// to wait before asking again.
    fn wait_needed(&self, batch: bool, take: bool) -> Option<Duration> {
        let now = Instant::now();
        let span = self.limits.window + self.limits.margin;
        let mut guard = self.windows();
        let w = &mut *guard;
        if let Some(until) = w.paused_until {
            if until > now {
                return Some(until - now);
            }
            w.paused_until = None;
        }
        for q in [&mut w.requests, &mut w.batches] {
            while q.front().is_some_and(|t| now.duration_since(*t) >= span) {
                q.pop_front();
            }
        }
        let full = |q: &VecDeque<Instant>, max: usize| -> Option<Duration> {
            if q.len() < max.max(1) {
                return None;
            }
            // The oldest entry that must leave the window before there is room.
            let i = q.len() - max.max(1);
            q.get(i).map(|t| (*t + span).saturating_duration_since(now))
        };
        let wait = [
            full(&w.requests, self.limits.requests_per_window),
            if batch {
                full(&w.batches, self.limits.batches_per_window)
            } else {
                None
            },
        ]
        .into_iter()
        .flatten()
        .max();
        match wait {
            Some(wait) => Some(wait.max(Duration::from_millis(1))),
            None => {
                if take {
                    w.requests.push_back(now);
                    if batch {
                        w.batches.push_back(now);
                    }
                }
                None
            }
        }
    }

    /// QuickBooks said "slow down": no request of this realm goes before `wait` is over.
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut w = self.windows();
        if w.paused_until.is_none_or(|p| p < until) {
            w.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn small() -> Limits {
        Limits {
            requests_per_window: 5,
            batches_per_window: 2,
            in_flight: 3,
            window: Duration::from_millis(300),
            margin: Duration::from_millis(20),
        }
    }

    #[tokio::test]
    async fn never_more_than_the_window_allows() {
        let limiter = Arc::new(Limiter::new(small()));
        let started = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..6 {
            let _permit = limiter.acquire(true).await;
            sent.push(started.elapsed());
        }
        // 2 batches per 320 ms: pairs at 0, ~320 and ~640 ms.
        assert!(sent[1] < Duration::from_millis(100), "{sent:?}");
        assert!(sent[2] >= Duration::from_millis(320), "{sent:?}");
        assert!(sent[4] >= Duration::from_millis(640), "{sent:?}");
        assert!(sent[5] < Duration::from_millis(900), "{sent:?}");
    }

    #[tokio::test]
    async fn queries_pass_batches_that_wait() {
        let limiter = Limiter::new(small());
        for _ in 0..2 {
            drop(limiter.acquire(true).await);
        }
        let started = Instant::now();
        drop(limiter.acquire(false).await);
        assert!(started.elapsed() < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn in_flight_is_bounded() {
        let limiter = Limiter::new(Limits {
            requests_per_window: 100,
            ..small()
        });
        let a = limiter.acquire(false).await;
        let _b = limiter.acquire(false).await;
        let _c = limiter.acquire(false).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), limiter.acquire(false)).await;
        assert!(blocked.is_err(), "a fourth request waits");
        drop(a);
        let _d = tokio::time::timeout(Duration::from_millis(50), limiter.acquire(false))
            .await
            .expect("room again");
    }

    #[test]
    fn connections_to_one_realm_share_its_limiter() {
        let shared = |key: &str, limits: Limits| {
            crate::budget::shared("quickbooks-online", key, || Limiter::new(limits))
        };
        let a = shared("http://127.0.0.1:1/v3/company/111", small());
        let b = shared("http://127.0.0.1:1/v3/company/111", Limits::default());
        let other = shared("http://127.0.0.1:1/v3/company/222", small());
        assert!(Arc::ptr_eq(&a, &b), "one limiter per realm in a process");
        assert!(!Arc::ptr_eq(&a, &other), "each realm has its own");
    }

    #[tokio::test]
    async fn a_pause_holds_everyone() {
        let limiter = Limiter::new(small());
        limiter.pause(Duration::from_millis(150));
        let started = Instant::now();
        drop(limiter.acquire(false).await);
        assert!(started.elapsed() >= Duration::from_millis(140));
    }
}
