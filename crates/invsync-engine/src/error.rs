//! Why a run could not be done at all, and how errors are written down (one line, with
//! their causes).

use crate::orders::UnreadOrders;
use invsync_connectors::{ConnectorError, ErrorKind};
use invsync_store::{Failure, StoreError};

/// Why a run could not be done at all (as opposed to a run that had failures).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("`{0}` is not a configured store")]
    UnknownStore(String),
    #[error(transparent)]
    Plan(#[from] invsync_core::PlanError),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("run history")]
    Store(#[from] StoreError),
    /// Quantity needs every store's open orders, and these stores' could not be read.
    /// `synced` is the store the request was for.
    #[error("{}", orders_unknown(synced, stores))]
    OrdersUnknown {
        synced: String,
        stores: Vec<UnreadOrders>,
    },
    /// The run's row could not be written (a full disk, a read-only or unreachable
    /// database): the run did not start, and nothing was read or written.
    #[error(
        "the run history could not be written, so the run did not start and nothing was synced"
    )]
    NotStarted(#[source] StoreError),
    #[error("interrupted before it finished")]
    Interrupted,
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// True when the operator's input (config, request, data files) is at fault rather
    /// than a platform or the database.
    pub fn is_input_error(&self) -> bool {
        match self {
            EngineError::UnknownStore(_) | EngineError::Plan(_) => true,
            EngineError::Connector(e) => is_input(e),
            // Input only when every unread store's problem is one the operator fixes.
            EngineError::OrdersUnknown { stores, .. } => stores.iter().all(|s| is_input(&s.error)),
            EngineError::Store(_)
            | EngineError::NotStarted(_)
            | EngineError::Interrupted
            | EngineError::Internal(_) => false,
        }
    }

    /// What kind of database failure this is, when it is one.
    pub fn store_failure(&self) -> Option<Failure> {
        match self {
            EngineError::Store(e) | EngineError::NotStarted(e) => Some(e.failure()),
            _ => None,
        }
    }
}

/// Whether a connector error is the operator's to fix (a malformed or missing file).
pub(crate) fn is_input(e: &ConnectorError) -> bool {
    matches!(e.kind, ErrorKind::InvalidData | ErrorKind::NotFound)
}

/// "store `pos`: its open orders could not be read (why): quantities are not written while
/// another store's orders are unknown".
fn orders_unknown(synced: &str, stores: &[UnreadOrders]) -> String {
    let mut text = stores
        .iter()
        .map(|s| {
            format!(
                "store `{}`: its open orders could not be read ({})",
                s.store, s.error.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let whose = match stores {
        [one] if one.store == synced => "its",
        [_] => "another store's",
        _ => "these stores'",
    };
    text.push_str(&format!(
        ": quantities are not written while {whose} orders are unknown"
    ));
    text
}

/// An error and its causes on one line, `outer: inner: root`, as stored in `sync_runs.error`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Transparent wrappers repeat their inner message; say it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{EngineError, UnreadOrders};
    use invsync_connectors::{ConnectorError, ErrorKind};

    fn unread(store: &str, kind: ErrorKind, why: &str) -> UnreadOrders {
        UnreadOrders {
            store: store.to_owned(),
            error: ConnectorError::new(store, kind, why),
        }
    }

    /// Which store, why, and what is held back because of it; exit 2 only when every
    /// cause is the operator's to fix.
    #[test]
    fn unread_orders_name_the_store_and_why() {
        let one = EngineError::OrdersUnknown {
            synced: "shop".into(),
            stores: vec![unread(
                "pos",
                ErrorKind::NotFound,
                "pos.csv: file not found",
            )],
        };
        assert_eq!(
            one.to_string(),
            "store `pos`: its open orders could not be read (pos.csv: file not found): \
             quantities are not written while another store's orders are unknown"
        );
        assert!(one.is_input_error());
        let own = EngineError::OrdersUnknown {
            synced: "pos".into(),
            stores: vec![unread("pos", ErrorKind::NotFound, "gone")],
        };
        assert!(own.to_string().ends_with("while its orders are unknown"));
        let two = EngineError::OrdersUnknown {
            synced: "shop".into(),
            stores: vec![
                unread("pos", ErrorKind::NotFound, "gone"),
                unread("web", ErrorKind::Unavailable, "HTTP 503"),
            ],
        };
        assert_eq!(
            two.to_string(),
            "store `pos`: its open orders could not be read (gone); store `web`: its open \
             orders could not be read (HTTP 503): quantities are not written while these \
             stores' orders are unknown"
        );
        assert!(
            !two.is_input_error(),
            "a platform outage is not the operator's input"
        );
    }
}
