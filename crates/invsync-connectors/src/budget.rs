//! One rate budget per platform account per process (ADR 0026).
//!
//! A platform limits an account, not a connection: a BigCommerce store's request quota, a
//! Shopify shop's cost bucket, a QuickBooks company's requests a minute, whatever a
//! WordPress host allows one site. A run opens a store's connection to read its catalog
//! while other runs open it again to read its orders; each of those connection objects
//! must spend from the same budget, or together they overshoot it. So every connector
//! takes its budget from this registry, keyed by platform and account (the account's API
//! root: it names the store hash, shop, realm or site, and two fakes in one test process
//! never share one), and holds it behind an `Arc`: every connection and every run of the
//! process that talks to that account shares it.
//!
//! Processes do not share budgets (fleet mode: several daemons on one database). Each
//! pacer reads what the platform reports is left (BigCommerce's requests left, Shopify's
//! available points), which counts every process's spending; QuickBooks and WooCommerce
//! report nothing, and a 429 there pauses the account's calls in the process that got it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

type Budgets = HashMap<(&'static str, String), Arc<dyn Any + Send + Sync>>;

/// The process-wide budget of one account of `platform`, made by `make` the first time.
pub(crate) fn shared<T: Any + Send + Sync>(
    platform: &'static str,
    account: &str,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    static BUDGETS: LazyLock<Mutex<Budgets>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut all = BUDGETS.lock().unwrap_or_else(|e| e.into_inner());
    let key = (platform, account.to_owned());
    if let Some(existing) = all.get(&key)
        && let Ok(budget) = Arc::clone(existing).downcast::<T>()
    {
        return budget;
    }
    let budget = Arc::new(make());
    all.insert(key, budget.clone());
    budget
}

/// Waits until `answered` is notified or `known()` holds, at most `limit`: a budget that
/// knows nothing of the account yet lets one request go alone, and the others wait for
/// its answer (or for it to fail).
pub(crate) async fn until_answered(
    answered: &tokio::sync::Notify,
    known: impl Fn() -> bool,
    limit: Duration,
) {
    let notified = answered.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    // Checked after `enable`: an answer between the caller's look and now still wakes.
    if !known() {
        let _ = tokio::time::timeout(limit, notified).await;
    }
}

/// The budget of an account whose platform announces no limits (WooCommerce): after a
/// throttle, no call to the account goes before the wait it asked for is over.
#[derive(Debug, Default)]
pub(crate) struct Pause {
    until: Mutex<Option<Instant>>,
}

impl Pause {
    /// Holds every call of the account for `wait` (or longer, if already paused so).
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut current = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
    }

    /// Waits until the account is not paused.
    pub async fn admit(&self) {
        loop {
            let wait = {
                let current = self.until.lock().unwrap_or_else(|e| e.into_inner());
                current.map(|u| u.saturating_duration_since(Instant::now()))
            };
            match wait {
                Some(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_budget_per_platform_and_account() {
        let a = shared("test", "http://127.0.0.1:1/a", Pause::default);
        let b = shared("test", "http://127.0.0.1:1/a", Pause::default);
        let other = shared("test", "http://127.0.0.1:1/b", Pause::default);
        let other_platform = shared("test2", "http://127.0.0.1:1/a", Pause::default);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
        assert!(!Arc::ptr_eq(&a, &other_platform));
    }

    #[tokio::test]
    async fn a_pause_holds_every_call_of_the_account() {
        let pause = Pause::default();
        pause.pause(Duration::from_millis(150));
        pause.pause(Duration::from_millis(10));
        let started = Instant::now();
        pause.admit().await;
        assert!(started.elapsed() >= Duration::from_millis(140));
    }
}
