//! The order watch's state (issue 18, migration 0013): `store_order_changes`, the SKUs
//! that order changes moved and the watch has not pushed yet, and `order_watch_lease`, the
//! one pass under way across daemons.

use crate::db::Db;
use crate::error::{Context, StoreError};
use crate::time::{Ts, truncate};
use chrono::{DateTime, Utc};

/// A store SKU whose held stock an order change moved (noted by
/// [`Db::apply_order_feed_noting`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderChange {
    pub store: String,
    pub order_id: String,
    /// The order line's SKU, as the store spells it.
    pub sku: String,
    /// When invsync first saw a change of this order and SKU not pushed yet.
    pub seen_at: DateTime<Utc>,
    /// The latest such change.
    pub changed_at: DateTime<Utc>,
}

impl Db {
    /// Every change the watch has not pushed yet, oldest first.
    pub async fn order_changes(&self) -> Result<Vec<OrderChange>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT store, order_id, sku, seen_at, changed_at FROM store_order_changes \
                 ORDER BY seen_at, store, order_id, sku",
            )
            .fetch_all(pool)
            .await
        })
        .context("read the order changes")
    }

    /// Forgets changes the watch pushed: each row as it was taken, unless it changed again
    /// since (then it stays for the next pass). Returns how many were deleted.
    pub async fn clear_order_changes(&self, pushed: &[OrderChange]) -> Result<u64, StoreError> {
        on_pool!(self, |pool| {
            async {
                let mut tx = crate::db::begin(pool, None).await?;
                let mut deleted = 0;
                for c in pushed {
                    deleted += sqlx::query(
                        "DELETE FROM store_order_changes WHERE store = $1 AND order_id = $2 \
                         AND sku = $3 AND changed_at <= $4",
                    )
                    .bind(&c.store)
                    .bind(&c.order_id)
                    .bind(&c.sku)
                    .bind(Ts(truncate(c.changed_at)))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(deleted)
            }
            .await
        })
        .context("clear pushed order changes")
    }

    /// Takes the order watch's lease until `until` if it is free, expired or already
    /// `owner`'s: one watch pass at a time across the daemons sharing this database.
    pub async fn claim_order_watch(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO order_watch_lease (id, owner, expires_at) VALUES (1, $1, $3) \
                 ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, \
                   expires_at = excluded.expires_at \
                 WHERE order_watch_lease.expires_at <= $2 OR order_watch_lease.owner = excluded.owner",
            )
            .bind(owner)
            .bind(Ts(truncate(now)))
            .bind(Ts(truncate(until)))
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1)
        })
        .context("claim the order watch")
    }

    /// Gives the order watch's lease back (a pass ended).
    pub async fn release_order_watch(&self, owner: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM order_watch_lease WHERE id = 1 AND owner = $1")
                .bind(owner)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .context("release the order watch")
    }
}
