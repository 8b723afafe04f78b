//! Shopify's cost bucket, one per shop and process (ADR 0026): a leaky bucket of cost
//! points per app and shop (shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits).
//! Every response reports `extensions.cost.throttleStatus` (`currentlyAvailable`,
//! `restoreRate`) and the operation's `requestedQueryCost`; before a call, the bucket
//! waits until it holds what the operation requested last time (scaled to the page size
//! asked for: a page of 199 costs about twice one of 100) — or, for an operation not priced
//! yet, the most one query may request — and reserves it, so concurrent calls of every
//! connection to the shop do not count on the same points. Calls are admitted in
//! turn (first come, first served), so an expensive call is never starved by cheap ones.
//! Before the shop's state is known, one call goes alone and its answer tells the rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// "A single query to the API cannot exceed a cost of 1000" (shopify.dev rate limits).
pub(crate) const MAX_QUERY_COST: f64 = 1000.0;

/// The longest single wait for points: a bucket that claims to refill slower than this
/// is garbage and must not hold the shop's calls for good.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(crate) struct Bucket {
    state: Mutex<State>,
    /// Whose turn it is to be admitted: a fair (FIFO) lock.
    turn: tokio::sync::Mutex<()>,
    answered: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The last throttle status: points available then (less the reservations of calls
    /// in flight), restore rate, bucket size, when.
    status: Option<(f64, f64, f64, Instant)>,
    /// The last requested cost per operation, and the page size it asked for.
    costs: HashMap<String, (f64, Option<u32>)>,
    /// Points reserved by calls in flight.
    reserved: f64,
    in_flight: usize,
}

impl State {
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
                Duration::from_secs_f64(((cost - now) / rate).min(MAX_WAIT.as_secs_f64()))
            }
            _ => Duration::ZERO,
        }
    }

    /// The most one query may request: Shopify's single-query limit, and never more than
    /// the bucket holds.
    fn max_query_cost(&self) -> f64 {
        self.status
            .map_or(MAX_QUERY_COST, |(_, _, max, _)| max.min(MAX_QUERY_COST))
    }

    /// What a call of `operation` asking for `size` items will request: the last cost,
    /// scaled to the size (2 points for the connection, the rest per item), else the most
    /// a query may cost.
    fn cost(&self, operation: &str, size: Option<u32>) -> f64 {
        let max = self.max_query_cost();
        let cost = match (self.costs.get(operation), size) {
            (Some(&(requested, Some(before))), Some(now)) if before > 0 && before != now => {
                2.0 + (requested - 2.0).max(0.0) / f64::from(before) * f64::from(now)
            }
            (Some(&(requested, _)), _) => requested,
            (None, _) => max,
        };
        cost.min(max)
    }
}

/// A call's points, held until its answer is read.
pub(crate) struct Reservation {
    bucket: Arc<Bucket>,
    cost: f64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut s = self.bucket.state();
        s.reserved = (s.reserved - self.cost).max(0.0);
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.bucket.answered.notify_waiters();
    }
}

/// What an answer said of the bucket (`extensions.cost`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reported {
    pub requested: Option<f64>,
    /// `currentlyAvailable`, `restoreRate`, `maximumAvailable`.
    pub throttle_status: Option<(f64, f64, f64)>,
}

impl Bucket {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for this call's turn and for the points `operation` needs, and reserves them.
    pub async fn admit(self: &Arc<Self>, operation: &str, size: Option<u32>) -> Reservation {
        let _turn = self.turn.lock().await;
        loop {
            let wait = {
                let mut s = self.state();
                if s.status.is_none() {
                    if s.in_flight == 0 {
                        s.in_flight += 1;
                        return Reservation {
                            bucket: Arc::clone(self),
                            cost: 0.0,
                        };
                    }
                    None
                } else {
                    let cost = s.cost(operation, size);
                    let wait = s.wait_for(cost);
                    if wait.is_zero() {
                        if let (Some((now, _)), Some((_, rate, max, _))) = (s.available(), s.status)
                        {
                            s.status = Some((now - cost, rate, max, Instant::now()));
                        }
                        s.reserved += cost;
                        s.in_flight += 1;
                        return Reservation {
                            bucket: Arc::clone(self),
                            cost,
                        };
                    }
                    Some(wait)
                }
            };
            match wait {
                Some(wait) => {
                    tracing::debug!(
                        operation,
                        wait_ms = wait.as_millis() as u64,
                        "waiting for the rate-limit bucket"
                    );
                    tokio::time::sleep(wait).await;
                }
                None => {
                    // The first answer tells the bucket's state.
                    let known = || {
                        let s = self.state();
                        s.status.is_some() || s.in_flight == 0
                    };
                    let limit = Duration::from_secs(1);
                    crate::budget::until_answered(&self.answered, known, limit).await;
                }
            }
        }
    }

    /// Takes an answer's `extensions.cost` in. Call it while the call's reservation is
    /// held: the reported points do not count the other calls in flight yet.
    pub fn observe(
        &self,
        operation: &str,
        size: Option<u32>,
        reported: Reported,
        mine: &Reservation,
    ) {
        let mut s = self.state();
        if let Some((available, rate, max)) = reported.throttle_status {
            let others = (s.reserved - mine.cost).max(0.0);
            s.status = Some((available - others, rate, max, Instant::now()));
        }
        if let Some(requested) = reported.requested {
            s.costs.insert(operation.to_owned(), (requested, size));
        }
        drop(s);
        self.answered.notify_waiters();
    }

    /// How long a throttled call of `operation` waits for its points to come back.
    pub fn throttle_wait(&self, operation: &str, size: Option<u32>) -> Duration {
        let s = self.state();
        let cost = if s.costs.contains_key(operation) {
            s.cost(operation, size)
        } else {
            100.0
        };
        s.wait_for(cost)
    }

    /// The requested cost of the last call of `operation`, if any.
    pub fn last_cost(&self, operation: &str) -> Option<f64> {
        self.state().costs.get(operation).map(|c| c.0)
    }

    /// The most one query may request.
    pub fn max_query_cost(&self) -> f64 {
        self.state().max_query_cost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(available: f64, requested: f64) -> Reported {
        Reported {
            requested: Some(requested),
            throttle_status: Some((available, 100.0, 1000.0)),
        }
    }

    #[tokio::test]
    async fn concurrent_calls_never_count_on_the_same_points() {
        let bucket = Arc::new(Bucket::default());
        let first = bucket.admit("Page", None).await;
        // Unknown state: the second call waits for the first answer.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), bucket.admit("Page", None))
                .await
                .is_err()
        );
        bucket.observe("Page", None, reported(1000.0, 400.0), &first);
        drop(first);
        let a = bucket.admit("Page", None).await;
        let b = bucket.admit("Page", None).await;
        // 200 left after reserving 400 twice: a third call waits about 2 s.
        let c = tokio::time::timeout(Duration::from_millis(100), bucket.admit("Page", None)).await;
        assert!(c.is_err(), "the third call waits for its points");
        // The first answer reports 600 available: Shopify has not seen the second call
        // yet, whose reservation the bucket keeps counting.
        bucket.observe("Page", None, reported(600.0, 400.0), &a);
        let available = bucket.state().available().expect("known").0;
        assert!(available < 250.0, "{available}");
        drop((a, b));
    }

    #[test]
    fn a_bigger_page_is_priced_by_its_size() {
        let mut s = State::default();
        s.costs.insert("Page".into(), (502.0, Some(100)));
        assert_eq!(s.cost("Page", Some(100)), 502.0);
        assert_eq!(s.cost("Page", Some(199)), 2.0 + 5.0 * 199.0);
        assert_eq!(
            s.cost("Page", Some(250)),
            MAX_QUERY_COST,
            "never above the limit"
        );
        assert_eq!(s.cost("Page", None), 502.0);
        assert_eq!(s.cost("Other", Some(10)), MAX_QUERY_COST, "not priced yet");
    }

    #[tokio::test]
    async fn an_operation_not_priced_yet_waits_for_the_most_a_query_may_cost() {
        let bucket = Arc::new(Bucket::default());
        let probe = bucket.admit("Location", None).await;
        bucket.observe("Location", None, reported(900.0, 2.0), &probe);
        drop(probe);
        let started = Instant::now();
        let _call = bucket.admit("New", None).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900),
            "waited {waited:?} for 1,000 points at 100/s from 900"
        );
    }
}
