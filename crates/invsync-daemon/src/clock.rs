//! Where "now" comes from. Due times are judged by the database's clock, so daemons on
//! hosts whose clocks disagree still agree on what is due; tests drive a manual clock
//! (feature `testing`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invsync_store::{Db, StoreError};

#[async_trait]
pub trait Clock: Send + Sync {
    async fn now(&self) -> Result<DateTime<Utc>, StoreError>;
}

/// The database's `now()`.
pub struct DbClock(pub Db);

#[async_trait]
impl Clock for DbClock {
    async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        self.0.now().await
    }
}

#[cfg(feature = "testing")]
pub use manual::ManualClock;

#[cfg(feature = "testing")]
mod manual {
    use super::Clock;
    use async_trait::async_trait;
    use chrono::{DateTime, TimeDelta, Utc};
    use invsync_store::StoreError;
    use std::sync::Mutex;

    /// A clock tests set and move, forwards and backwards.
    pub struct ManualClock(Mutex<DateTime<Utc>>);

    impl ManualClock {
        pub fn new(at: DateTime<Utc>) -> Self {
            ManualClock(Mutex::new(invsync_store::truncate_timestamp(at)))
        }

        pub fn set(&self, at: DateTime<Utc>) {
            if let Ok(mut t) = self.0.lock() {
                *t = invsync_store::truncate_timestamp(at);
            }
        }

        pub fn advance(&self, by: TimeDelta) {
            if let Ok(mut t) = self.0.lock() {
                *t += by;
            }
        }

        pub fn get(&self) -> DateTime<Utc> {
            self.0.lock().map(|t| *t).unwrap_or_default()
        }
    }

    #[async_trait]
    impl Clock for ManualClock {
        async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
            Ok(self.get())
        }
    }
}
