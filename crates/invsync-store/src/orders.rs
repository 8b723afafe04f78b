//! Tracked store orders (`store_orders`, `store_order_lines`, `store_order_cursors`): every
//! store order invsync has seen, from its first sighting until it is posted to the
//! accounting side or leaves the store's open orders. While it is open and unposted it
//! *holds* its lines' stock (product.md rule 3): the accounting quantity still counts those
//! units, so they are `in-orders` (skip) or reserved (reserve).
//!
//! A store's connection is read incrementally: it gets back the cursor it returned last
//! time and answers with the orders new or changed since ([`OrderFeed`]). A feed applies in
//! one transaction, cursor included, so a crash between the two never skips orders.

use crate::db::Db;
use crate::error::{Context, StoreError};
use crate::time::{Ts, truncate};
use chrono::{DateTime, Utc};
pub use invsync_core::OrderFeed;
use invsync_core::{Absent, StoreOrderLine};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A store's stored order cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCursor {
    pub cursor: String,
    /// When the store's orders were last read whole.
    pub snapshot_at: DateTime<Utc>,
}

/// What applying a feed changed, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FeedApplied {
    /// Orders seen for the first time.
    pub new: u64,
    /// Known orders whose state or lines were replaced.
    pub updated: u64,
    /// Orders in the feed older than what is tracked (left alone).
    pub older: u64,
    /// Orders that stopped holding stock: closed, or posted by absence.
    pub released: u64,
}

/// A tracked order with its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRow {
    pub store: String,
    pub order_id: String,
    pub order_number: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub posted_at: Option<DateTime<Utc>>,
    pub posted_by: Option<String>,
    pub lines: Vec<StoreOrderLine>,
}

impl OrderRow {
    /// Open and not posted: its lines hold stock.
    pub fn holding(&self) -> bool {
        self.closed_at.is_none() && self.posted_at.is_none()
    }
}

/// An order's units per SKU (a SKU may be on several lines).
fn units_by_sku(lines: impl IntoIterator<Item = (String, i64)>) -> BTreeMap<String, i64> {
    let mut units = BTreeMap::new();
    for (sku, quantity) in lines {
        *units.entry(sku).or_insert(0) += quantity;
    }
    units
}

#[derive(sqlx::FromRow)]
struct RawOrder {
    store: String,
    order_id: String,
    order_number: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    posted_at: Option<DateTime<Utc>>,
    posted_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RawLine {
    store: String,
    order_id: String,
    sku: String,
    quantity: i64,
}

/// Which orders [`Db::list_orders`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderFilter<'a> {
    /// Orders that hold stock, of one store or of all.
    Holding(Option<&'a str>),
    /// Every tracked order of one store or of all.
    All(Option<&'a str>),
}

const ORDER_COLUMNS: &str = "store, order_id, order_number, first_seen, last_seen, updated_at, \
                             closed_at, posted_at, posted_by";

impl Db {
    /// The cursor a store's connection returned last time (`None` before the first read,
    /// or when its last read returned none).
    pub async fn order_cursor(&self, store: &str) -> Result<Option<OrderCursor>, StoreError> {
        let row: Option<(String, DateTime<Utc>)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT cursor, snapshot_at FROM store_order_cursors WHERE store = $1")
                .bind(store)
                .fetch_optional(pool)
                .await
        })
        .context("read the order cursor")?;
        Ok(row.map(|(cursor, snapshot_at)| OrderCursor {
            cursor,
            snapshot_at,
        }))
    }

    /// Applies one read of a store's orders, and its cursor, in one transaction.
    pub async fn apply_order_feed(
        &self,
        store: &str,
        feed: &OrderFeed,
        now: DateTime<Utc>,
    ) -> Result<FeedApplied, StoreError> {
        self.apply_order_feed_noting(store, feed, now, false).await
    }

    /// [`Db::apply_order_feed`], and with `note_changes` (the order watch is on) the SKUs
    /// whose held stock the feed moved go into `store_order_changes` in the same
    /// transaction: lines of a new order, of an order whose lines or open state changed
    /// (old and new lines both), of an order a snapshot released. Whichever read applies a
    /// change — a scheduled run's or the watch's — the watch finds it there.
    pub async fn apply_order_feed_noting(
        &self,
        store: &str,
        feed: &OrderFeed,
        now: DateTime<Utc>,
        note_changes: bool,
    ) -> Result<FeedApplied, StoreError> {
        let now = Ts(truncate(now));
        on_pool!(self, |pool| {
            async {
                let mut applied = FeedApplied::default();
                let mut tx = crate::db::begin(pool, None).await?;
                let mut touched: Vec<(String, String)> = Vec::new();
                for order in &feed.orders {
                    let known: Option<(Option<DateTime<Utc>>, bool)> = sqlx::query_as(
                        "SELECT updated_at, closed_at IS NULL AND posted_at IS NULL \
                         FROM store_orders WHERE store = $1 AND order_id = $2",
                    )
                    .bind(store)
                    .bind(order.id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    match known {
                        Some((Some(tracked), _)) if order.updated_at.is_some_and(|u| u < tracked) => {
                            applied.older += 1;
                            continue;
                        }
                        Some(_) => applied.updated += 1,
                        None => applied.new += 1,
                    }
                    if note_changes {
                        let new_lines = units_by_sku(
                            order.lines.iter().map(|l| (l.sku.to_string(), l.quantity)),
                        );
                        let (old_lines, was_holding) = match known {
                            None => (BTreeMap::new(), false),
                            Some((_, holding)) => {
                                let old: Vec<(String, i64)> = sqlx::query_as(
                                    "SELECT sku, quantity FROM store_order_lines \
                                     WHERE store = $1 AND order_id = $2",
                                )
                                .bind(store)
                                .bind(order.id.as_str())
                                .fetch_all(&mut *tx)
                                .await?;
                                (units_by_sku(old), holding)
                            }
                        };
                        // Opened or closed: every SKU it holds moved; otherwise only those
                        // whose units changed.
                        let all = known.is_none() || was_holding != order.open;
                        let skus: BTreeSet<&String> = old_lines.keys().chain(new_lines.keys()).collect();
                        touched.extend(
                            skus.into_iter()
                                .filter(|sku| all || old_lines.get(*sku) != new_lines.get(*sku))
                                .map(|sku| (order.id.to_string(), sku.clone())),
                        );
                    }
                    // An order back in a feed holds stock again if only its absence had
                    // marked it posted; a posting the accounting side reported stays.
                    sqlx::query(
                        "INSERT INTO store_orders (store, order_id, order_number, first_seen, \
                           last_seen, updated_at, closed_at) \
                         VALUES ($1, $2, $3, $4, $4, $5, CASE WHEN $6 THEN NULL ELSE $4 END) \
                         ON CONFLICT (store, order_id) DO UPDATE SET \
                           order_number = excluded.order_number, \
                           last_seen = excluded.last_seen, \
                           updated_at = excluded.updated_at, \
                           closed_at = CASE WHEN $6 THEN NULL \
                                            ELSE COALESCE(store_orders.closed_at, $4) END, \
                           posted_at = CASE WHEN store_orders.posted_by = 'absent' THEN NULL \
                                            ELSE store_orders.posted_at END, \
                           posted_by = CASE WHEN store_orders.posted_by = 'absent' THEN NULL \
                                            ELSE store_orders.posted_by END",
                    )
                    .bind(store)
                    .bind(order.id.as_str())
                    .bind(order.number.as_str())
                    .bind(now)
                    .bind(order.updated_at.map(|t| Ts(truncate(t))))
                    .bind(order.open)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM store_order_lines WHERE store = $1 AND order_id = $2")
                        .bind(store)
                        .bind(order.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    for (i, line) in order.lines.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO store_order_lines (store, order_id, line, sku, quantity) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(store)
                        .bind(order.id.as_str())
                        .bind(i32::try_from(i).unwrap_or(i32::MAX))
                        .bind(line.sku.as_str())
                        .bind(line.quantity)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                if let Some(absent) = feed.snapshot {
                    let listed: HashSet<&str> = feed.orders.iter().map(|o| o.id.as_str()).collect();
                    let holding: Vec<String> = sqlx::query_scalar(
                        "SELECT order_id FROM store_orders WHERE store = $1 \
                         AND closed_at IS NULL AND posted_at IS NULL",
                    )
                    .bind(store)
                    .fetch_all(&mut *tx)
                    .await?;
                    let sql = match absent {
                        Absent::Closed => {
                            "UPDATE store_orders SET closed_at = $3 \
                             WHERE store = $1 AND order_id = $2"
                        }
                        Absent::Posted => {
                            "UPDATE store_orders SET posted_at = $3, posted_by = 'absent' \
                             WHERE store = $1 AND order_id = $2"
                        }
                    };
                    for id in holding.iter().filter(|id| !listed.contains(id.as_str())) {
                        if note_changes {
                            let skus: Vec<String> = sqlx::query_scalar(
                                "SELECT sku FROM store_order_lines \
                                 WHERE store = $1 AND order_id = $2",
                            )
                            .bind(store)
                            .bind(id)
                            .fetch_all(&mut *tx)
                            .await?;
                            touched.extend(skus.into_iter().map(|sku| (id.clone(), sku)));
                        }
                        sqlx::query(sql)
                            .bind(store)
                            .bind(id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        applied.released += 1;
                    }
                }
                touched.sort();
                touched.dedup();
                for (order_id, sku) in &touched {
                    sqlx::query(
                        "INSERT INTO store_order_changes (store, order_id, sku, seen_at, changed_at) \
                         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (store, order_id, sku) \
                         DO UPDATE SET changed_at = excluded.changed_at",
                    )
                    .bind(store)
                    .bind(order_id)
                    .bind(sku)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                match feed.cursor.as_deref() {
                    Some(cursor) => {
                        sqlx::query(
                            "INSERT INTO store_order_cursors (store, cursor, updated_at, snapshot_at) \
                             VALUES ($1, $2, $3, $3) ON CONFLICT (store) DO UPDATE SET \
                               cursor = excluded.cursor, updated_at = excluded.updated_at, \
                               snapshot_at = CASE WHEN $4 THEN excluded.snapshot_at \
                                                  ELSE store_order_cursors.snapshot_at END",
                        )
                        .bind(store)
                        .bind(cursor)
                        .bind(now)
                        .bind(feed.snapshot.is_some())
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM store_order_cursors WHERE store = $1")
                            .bind(store)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(applied)
            }
            .await
        })
        .context("apply a store's orders")
    }

    /// Marks orders posted because the accounting side has them (e.g. a QuickBooks
    /// document with the order's DocNumber). Returns how many were still unposted.
    pub async fn mark_orders_posted(
        &self,
        store: &str,
        order_ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let now = Ts(truncate(now));
        on_pool!(self, |pool| {
            async {
                let mut tx = crate::db::begin(pool, None).await?;
                let mut marked = 0;
                for id in order_ids {
                    marked += sqlx::query(
                        "UPDATE store_orders SET posted_at = $3, posted_by = 'accounting' \
                         WHERE store = $1 AND order_id = $2 AND posted_at IS NULL",
                    )
                    .bind(store)
                    .bind(*id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(marked)
            }
            .await
        })
        .context("mark orders posted")
    }

    /// Tracked orders with their lines, by store and first sighting.
    pub async fn list_orders(&self, filter: OrderFilter<'_>) -> Result<Vec<OrderRow>, StoreError> {
        let (store, holding) = match filter {
            OrderFilter::Holding(store) => (store, true),
            OrderFilter::All(store) => (store, false),
        };
        let condition = "(CAST($1 AS TEXT) IS NULL OR o.store = $1) \
                         AND (NOT $2 OR (o.closed_at IS NULL AND o.posted_at IS NULL))";
        let orders_sql = format!(
            "SELECT {ORDER_COLUMNS} FROM store_orders o WHERE {condition} \
             ORDER BY store, first_seen, order_id"
        );
        let lines_sql = format!(
            "SELECT l.store, l.order_id, l.sku, l.quantity FROM store_order_lines l \
             JOIN store_orders o ON o.store = l.store AND o.order_id = l.order_id \
             WHERE {condition} ORDER BY l.store, l.order_id, l.line"
        );
        let (orders, lines): (Vec<RawOrder>, Vec<RawLine>) = on_pool!(self, |pool| {
            async {
                let orders = sqlx::query_as(sqlx::AssertSqlSafe(orders_sql.as_str()))
                    .bind(store)
                    .bind(holding)
                    .fetch_all(pool)
                    .await?;
                let lines = sqlx::query_as(sqlx::AssertSqlSafe(lines_sql.as_str()))
                    .bind(store)
                    .bind(holding)
                    .fetch_all(pool)
                    .await?;
                Ok::<_, sqlx::Error>((orders, lines))
            }
            .await
        })
        .context("list tracked orders")?;
        let mut by_order: BTreeMap<(String, String), Vec<StoreOrderLine>> = BTreeMap::new();
        for line in lines {
            by_order
                .entry((line.store, line.order_id))
                .or_default()
                .push(StoreOrderLine {
                    sku: line.sku.into(),
                    quantity: line.quantity,
                });
        }
        Ok(orders
            .into_iter()
            .map(|o| OrderRow {
                lines: by_order
                    .remove(&(o.store.clone(), o.order_id.clone()))
                    .unwrap_or_default(),
                store: o.store,
                order_id: o.order_id,
                order_number: o.order_number,
                first_seen: o.first_seen,
                last_seen: o.last_seen,
                updated_at: o.updated_at,
                closed_at: o.closed_at,
                posted_at: o.posted_at,
                posted_by: o.posted_by,
            })
            .collect())
    }

    /// Forgets orders that stopped holding stock before `cutoff` (closed or posted), with
    /// their lines. Returns how many.
    pub async fn prune_orders(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = Ts(truncate(cutoff));
        on_pool!(self, |pool| {
            async {
                // Changes the watch never took (it was turned off) go with them.
                sqlx::query("DELETE FROM store_order_changes WHERE changed_at < $1")
                    .bind(cutoff)
                    .execute(pool)
                    .await?;
                sqlx::query("DELETE FROM store_orders WHERE closed_at < $1 OR posted_at < $1")
                    .bind(cutoff)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            .await
        })
        .context("prune tracked orders")
    }
}
