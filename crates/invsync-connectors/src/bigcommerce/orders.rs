//! Orders: the open ones as a snapshot, then every order changed since the cursor
//! (ADR 0060), with the unshipped units of the open ones.

use super::vendor::{BcOrder, BcOrderProduct};
use super::{BigCommerceConnection, OPEN_STATUSES, READ_CONCURRENCY};
use crate::{ConnectorError, OrderFeed, lenient, order_feed};
use chrono::{DateTime, SecondsFormat, Utc};
use compact_str::CompactString;
use futures::stream::{self, StreamExt, TryStreamExt};
use invsync_core::{StoreOrder, StoreOrderLine};

impl BigCommerceConnection {
    /// Orders in the statuses that hold stock, one list per status. Newest first: orders
    /// leave these lists while they page (shipped between two pages shifts the later ones
    /// forward), and those that leave are mostly old ones, behind the pages still to read.
    async fn open_orders(&self) -> Result<Vec<BcOrder>, ConnectorError> {
        let mut orders = Vec::new();
        for status in OPEN_STATUSES {
            orders.extend(
                self.v2_all(
                    "v2/orders",
                    &[
                        ("status_id", status.to_string()),
                        ("sort", "id:desc".to_owned()),
                    ],
                )
                .await?,
            );
        }
        Ok(orders.into_iter().map(decode_order).collect())
    }

    /// The unshipped units per SKU of each open order (one products call each); closed
    /// orders hold nothing and cost no call.
    async fn with_unshipped(
        &self,
        orders: &[BcOrder],
    ) -> Result<Vec<Vec<(CompactString, i64)>>, ConnectorError> {
        // Owned ids: the stream's futures must not borrow from `orders`' elements.
        let open: Vec<Option<u64>> = orders
            .iter()
            .map(|o| o.id.0.filter(|_| o.is_open()))
            .collect();
        stream::iter(open)
            .map(|id| async move {
                let Some(id) = id else {
                    return Ok(Vec::new());
                };
                let lines = self
                    .v2_all(&format!("v2/orders/{id}/products"), &[])
                    .await?;
                Ok::<_, ConnectorError>(
                    lines
                        .into_iter()
                        .filter_map(|line| {
                            // Anything but an object reads as a line without a SKU.
                            let line: BcOrderProduct = lenient::decode(line);
                            line.unshipped()
                                .map(|(sku, open)| (CompactString::from(sku), open))
                        })
                        .collect(),
                )
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await
    }

    /// [`crate::Connection::read_orders`].
    pub(super) async fn orders(&self, cursor: Option<&str>) -> Result<OrderFeed, ConnectorError> {
        let mark = order_feed::resume(&self.name, cursor);
        let orders = match mark {
            None => self.open_orders().await?,
            Some(mark) => {
                // Every status, modified since the cursor's bound (ISO 8601,
                // which the v2 API takes beside RFC 2822). Sorted by id: a modification
                // never moves an order out of this list or within it, so the page numbers
                // cannot skip one; an order modified meanwhile joins it and at worst shows
                // twice.
                // The filter is inclusive and times are whole seconds: one second past the
                // exclusive bound.
                let since = (mark.since() + chrono::Duration::seconds(1))
                    .to_rfc3339_opts(SecondsFormat::Secs, false);
                self.v2_all(
                    "v2/orders",
                    &[("min_date_modified", since), ("sort", "id:asc".to_owned())],
                )
                .await?
                .into_iter()
                .map(decode_order)
                .collect()
            }
        };
        let lines = self.with_unshipped(&orders).await?;
        let orders = orders
            .iter()
            .zip(lines)
            .filter_map(|(order, lines)| {
                let id = order.id.0?;
                let open = order.is_open();
                Some(StoreOrder {
                    id: id.to_string().into(),
                    // The order id is also what the merchant and the accounting side use.
                    number: id.to_string().into(),
                    open,
                    updated_at: order
                        .date_modified
                        .0
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc2822(t).ok())
                        .map(|t| t.with_timezone(&Utc)),
                    lines: lines
                        .into_iter()
                        .map(|(sku, quantity)| StoreOrderLine { sku, quantity })
                        .collect(),
                })
            })
            .collect();
        Ok(order_feed::feed(
            orders,
            mark,
            mark.is_none(),
            (self.order_clock)(),
        ))
    }
}

/// An order of a v2 list; anything but an object reads as an order without an id (left
/// out).
fn decode_order(order: serde_json::Value) -> BcOrder {
    lenient::decode(order)
}
