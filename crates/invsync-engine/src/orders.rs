//! Every store's orders as one run sees them: each store's feed applied to the tracked
//! orders, the ones the accounting side has posted marked, and what is left — the orders
//! holding stock — with their lines in accounting SKUs.

use crate::connections::Connections;
use crate::snapshot::mappings;
use crate::{Engine, EngineError};
use compact_str::CompactString;
use invsync_connectors::Connection;
use invsync_core::{OrderLine, SkuKey};
use invsync_store::{Db, OrderFilter, OrderRow};
use std::collections::HashMap;

/// How often each store's orders are read whole even when its connection can read only
/// the changes.
const ORDER_SNAPSHOT_EVERY: chrono::Duration = chrono::Duration::hours(24);

/// How long orders that stopped holding stock stay in `store_orders` for operators.
const ORDER_RETENTION: chrono::Duration = chrono::Duration::days(90);

/// Every store's unposted orders, their lines keyed by accounting SKU. Every store's orders hold stock
/// back, not only the synced store's (rule 3): the accounting quantity still counts units
/// sold anywhere.
///
/// Orders are tracked in the database (issue 7): each store's connection is asked for the
/// orders new or changed since its cursor, the feed is applied, the accounting side is
/// asked which of the orders still holding stock it has posted, and the book is built
/// from what is left. Order lines carry store SKUs; manually mapped ones are translated to
/// the accounting SKU they belong to.
///
/// A store whose orders cannot be read fails the read with [`EngineError::OrdersUnknown`],
/// naming it and why, before anything is applied: planning quantities without them could
/// re-inflate sold stock. With `tolerate_unread`, the other stores' orders are applied and
/// held as usual and the unread stores come back in [`HeldOrders::unread`].
pub(crate) async fn held_orders(
    engine: &Engine,
    connections: &Connections,
    synced: &str,
    tolerate_unread: bool,
) -> Result<HeldOrders, EngineError> {
    let db = engine.db();
    // With the order watch on, every read notes the SKUs order changes moved, for the
    // watch to push (whichever read applied them: a scheduled run's or its own).
    let note_changes = engine.config().inventory.watches_orders().is_some();
    let now = db.now().await?;
    let reads = connections.stores().map(|(name, c)| async move {
        // A daily snapshot releases orders no changed-since read can see leave (trashed or
        // deleted orders; ADR 0060).
        let cursor = db
            .order_cursor(name)
            .await?
            .filter(|c| now - c.snapshot_at < ORDER_SNAPSHOT_EVERY)
            .map(|c| c.cursor);
        // A store's read failing is its own outcome: the others are still read.
        let feed = c.read_orders(cursor.as_deref()).await;
        Ok::<_, EngineError>((name, feed))
    });
    let mut feeds = Vec::new();
    let mut unread = Vec::new();
    for (name, feed) in futures::future::try_join_all(reads).await? {
        match feed {
            Ok(feed) => feeds.push((name, feed)),
            Err(error) => unread.push(UnreadOrders {
                store: name.to_owned(),
                error,
            }),
        }
    }
    if !unread.is_empty() && !tolerate_unread {
        return Err(EngineError::OrdersUnknown {
            synced: synced.to_owned(),
            stores: unread,
        });
    }
    let mut sources: Vec<&str> = Vec::new();
    for (name, feed) in &feeds {
        let Some(feed) = feed else { continue };
        sources.push(name);
        let applied = db
            .apply_order_feed_noting(name, feed, now, note_changes)
            .await?;
        tracing::debug!(
            store = %name, read = feed.orders.len(), new = applied.new,
            updated = applied.updated, released = applied.released, "tracked store orders"
        );
    }
    let holding: Vec<OrderRow> = db
        .list_orders(OrderFilter::Holding(None))
        .await?
        .into_iter()
        .filter(|o| sources.contains(&o.store.as_str()))
        .collect();
    let holding = drop_posted(db, connections.accounting(), holding, now).await?;
    // Pruning scans the table: do it with the (at least daily) snapshots, not on every
    // incremental tick.
    if feeds
        .iter()
        .any(|(_, feed)| feed.as_ref().is_some_and(|f| f.snapshot.is_some()))
    {
        db.prune_orders(now - ORDER_RETENTION).await?;
    }

    let mut held = Vec::with_capacity(holding.len());
    for name in sources {
        let by_store_sku: HashMap<SkuKey, String> = mappings(db, name)
            .await?
            .iter()
            .filter_map(|m| SkuKey::new(&m.store_sku).map(|k| (k, m.accounting_sku.clone())))
            .collect();
        for order in holding.iter().filter(|o| o.store == name) {
            let lines = order
                .lines
                .iter()
                .map(|line| OrderLine {
                    store: CompactString::from(name),
                    order: CompactString::from(order.order_number.as_str()),
                    sku: SkuKey::new(&line.sku)
                        .and_then(|k| by_store_sku.get(&k))
                        .map_or_else(|| line.sku.clone(), |a| CompactString::from(a.as_str())),
                    quantity: line.quantity,
                })
                .collect();
            held.push(HeldOrder {
                store: order.store.clone(),
                order_id: order.order_id.clone(),
                lines,
            });
        }
    }
    Ok(HeldOrders { held, unread })
}

/// What [`held_orders`] read.
#[derive(Debug, Default)]
pub(crate) struct HeldOrders {
    pub held: Vec<HeldOrder>,
    /// Stores whose orders could not be read (only when tolerated).
    pub unread: Vec<UnreadOrders>,
}

/// A store whose open orders could not be read, and why.
#[derive(Debug, Clone)]
pub struct UnreadOrders {
    pub store: String,
    pub error: invsync_connectors::ConnectorError,
}

/// An order holding stock, its lines keyed by accounting SKU.
#[derive(Debug, Clone)]
pub(crate) struct HeldOrder {
    pub store: String,
    pub order_id: String,
    pub lines: Vec<OrderLine>,
}

/// Orders the accounting side already has as posted (QuickBooks Online: a SalesReceipt or
/// Invoice with the order's DocNumber) no longer hold stock back: the accounting quantity
/// already counts them. They are marked posted in the database and left out. Connections
/// that cannot tell keep them all.
async fn drop_posted(
    db: &Db,
    accounting: &dyn Connection,
    holding: Vec<OrderRow>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<OrderRow>, EngineError> {
    if holding.is_empty() {
        return Ok(holding);
    }
    let questions: Vec<OrderLine> = holding
        .iter()
        .map(|o| OrderLine {
            store: CompactString::from(o.store.as_str()),
            order: CompactString::from(o.order_number.as_str()),
            sku: CompactString::default(),
            quantity: 0,
        })
        .collect();
    let Some(posted) = accounting.posted_orders(&questions).await? else {
        return Ok(holding);
    };
    if posted.len() != holding.len() {
        return Err(EngineError::Internal(format!(
            "the accounting connection answered {} of {} posted-order questions",
            posted.len(),
            holding.len()
        )));
    }
    let mut kept = Vec::with_capacity(holding.len());
    let mut newly_posted: HashMap<String, Vec<String>> = HashMap::new();
    for (order, posted) in holding.into_iter().zip(posted) {
        if posted {
            newly_posted
                .entry(order.store.clone())
                .or_default()
                .push(order.order_id);
        } else {
            kept.push(order);
        }
    }
    for (store, ids) in &newly_posted {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        db.mark_orders_posted(store, &ids, now).await?;
        tracing::debug!(store = %store, posted = ids.len(), "orders posted to the accounting side");
    }
    Ok(kept)
}
