//! Contract tests of the platform connectors against their fakes over real HTTP on
//! loopback, and fuzzing of every connector's response decoding (ADR 0040). They reach
//! the connections' test-only hooks through the `testing` feature.

mod bigcommerce;
mod fuzz;
mod shopify;
mod woocommerce;

use invsync_connectors::{Connection, ConnectorError};
use invsync_core::OrderLine;

/// The lines of the store's open orders as a snapshot read (`read_orders` without a
/// cursor) gives them: what the engine holds stock back for.
pub async fn open_lines(c: &dyn Connection) -> Result<Option<Vec<OrderLine>>, ConnectorError> {
    let Some(feed) = c.read_orders(None).await? else {
        return Ok(None);
    };
    assert!(
        feed.snapshot.is_some(),
        "a read without a cursor is a snapshot"
    );
    Ok(Some(
        feed.orders
            .iter()
            .filter(|o| o.open)
            .flat_map(|o| {
                o.lines.iter().map(|l| OrderLine {
                    store: c.name().into(),
                    order: o.number.clone(),
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                })
            })
            .collect(),
    ))
}
