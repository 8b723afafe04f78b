//! Connections: how invsync reads catalogs and orders from, and writes changes to, the
//! accounting system and the stores.
//!
//! Every kind implements [`Connection`]. The engine only talks to this trait, so adding a
//! platform means adding a module here and a variant to
//! [`invsync_config::ConnectionConfig`]. Vendor types stay private to their module; the
//! trait speaks the domain types of `invsync-core`.

pub mod bigcommerce;
mod budget;
pub mod file;
pub mod http;
mod keys;
mod lenient;
pub mod oauth;
pub use keys::{KeyRound, MAX_KEY_LEN, WriteKeys};
mod order_feed;
pub use order_feed::OrderClock;
pub mod quickbooks_desktop;
pub mod quickbooks_online;
pub mod quickbooks_pos;
pub mod redact;
pub mod shopify;
pub mod vault;
pub mod woocommerce;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

use async_trait::async_trait;
use compact_str::CompactString;
use invsync_config::ConnectionConfig;
pub use invsync_core::{Absent, OrderFeed};
use invsync_core::{Field, FieldValue, OrderLine, Record, SaleAction};
use std::fmt;
use std::sync::Arc;
pub use vault::{MemoryVault, SealedTokens, TokenVault, VaultDecision, VaultFuture, VaultUpdate};

/// A catalog as read from a connection.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub records: Vec<Record>,
    /// Products the connection returned but could not understand (bad API data). They fail
    /// as items of the run; they never fail the whole run.
    pub rejects: Vec<Reject>,
}

/// A catalog kept between runs (ADR 0017): the records the last read gave, and the cursor
/// it handed back with them.
#[derive(Debug, Clone, Default)]
pub struct CachedCatalog {
    pub records: Vec<Record>,
    pub cursor: String,
    /// Values invsync wrote to the store since: the next read meets them as changes.
    pub writes_since: u64,
}

/// One read of a catalog through [`Connection::read_catalog_since`].
#[derive(Debug, Clone, Default)]
pub struct CatalogRead {
    /// Every product: a whole read, or the cached records with what changed applied.
    pub catalog: Catalog,
    /// What to hand the next read along with `catalog.records`. `None`: the connection
    /// reads whole catalogs only; nothing is worth keeping.
    pub cursor: Option<String>,
    /// Whether only what changed was read.
    pub incremental: bool,
}

/// One product a connection could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub sku: Option<String>,
    /// The connection's id for it, when known.
    pub id: Option<String>,
    pub error: String,
}

/// One field of one record to write. `old` is the value read when planning: connections
/// with compare-and-set semantics must only write when the current value still equals it.
/// For a price that is the price shoppers paid ([`Record::charged_price`]): a listing's sale
/// price while it is on sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub id: CompactString,
    pub sku: CompactString,
    pub field: Field,
    pub old: FieldValue,
    pub new: FieldValue,
    /// For a price written to a listing on sale (`sale_price = "clear"` or `"write"`):
    /// end the sale with the new regular price, or write the new sale price. Connections
    /// without sale prices fail a write that carries one.
    pub sale: Option<SaleAction>,
    /// Stable across retries of this write and unique across writes, runs and databases
    /// ([`WriteKeys`]). Connections that support idempotency keys send it.
    pub key: String,
}

/// A record to read again: the `id` and `sku` its catalog read gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub id: CompactString,
    pub sku: CompactString,
}

/// What happened to one [`Write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// The platform refused this item; the message is the platform's, secrets removed.
    Failed(String),
    /// The current value no longer equals `old` (for example a sale landed between read and
    /// write). Nothing was written; the next run plans the item again.
    Stale(String),
}

/// What went wrong with a connection as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Input data is malformed (a file that cannot be parsed). Fix the data.
    InvalidData,
    /// The file or endpoint is not there or not readable.
    NotFound,
    /// Credentials were refused.
    Auth,
    /// Throttled, timed out or a server error: worth retrying later.
    Unavailable,
    /// The connection cannot do what was asked (e.g. a store without an orders source).
    Unsupported,
    /// What the connection would plan or write from is older than allowed (QuickBooks
    /// Desktop's snapshot past `max_age`, no Web Connector session within it): the run is
    /// `skipped` with the message, never written from stale data.
    Outdated,
    Other,
}

/// A connection-level failure. The message never contains secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{connection}: {message}")]
pub struct ConnectorError {
    /// `accounting` or the store name.
    pub connection: String,
    pub kind: ErrorKind,
    /// Whether retrying the same call later may succeed.
    pub retryable: bool,
    /// HTTP status, where there was one.
    pub status: Option<u16>,
    pub message: String,
}

impl ConnectorError {
    pub fn new(connection: impl Into<String>, kind: ErrorKind, message: impl fmt::Display) -> Self {
        ConnectorError {
            connection: connection.into(),
            kind,
            retryable: kind == ErrorKind::Unavailable,
            status: None,
            message: message.to_string(),
        }
    }
}

/// The accounting system or one store.
#[async_trait]
pub trait Connection: Send + Sync {
    /// `accounting` or the store's name, as in the config.
    fn name(&self) -> &str;

    /// Reads every product.
    async fn read_catalog(&self) -> Result<Catalog, ConnectorError>;

    /// Reads the catalog, given what the last read returned (`cached`, the caller's copy):
    /// a connection that can read only what changed since then does so and applies it to
    /// the cached records; otherwise, or without a usable cache, it reads every product.
    /// The default always reads every product ([`Connection::read_catalog`]).
    async fn read_catalog_since(
        &self,
        _cached: Option<CachedCatalog>,
    ) -> Result<CatalogRead, ConnectorError> {
        Ok(CatalogRead {
            catalog: self.read_catalog().await?,
            cursor: None,
            incremental: false,
        })
    }

    /// Reads the store's orders for tracking: with the `cursor` this method returned last
    /// time, only orders new or changed since; without one (first read, or a connection
    /// that cannot read incrementally), a snapshot of every open order. `Ok(None)` when
    /// this connection has no source of orders (the default: the accounting side).
    async fn read_orders(
        &self,
        _cursor: Option<&str>,
    ) -> Result<Option<OrderFeed>, ConnectorError> {
        Ok(None)
    }

    /// Whether the order watch may read this (accounting) side's whole catalog on every
    /// pass to see which quantities moved (a sale at the till, a delivery): true only
    /// where that read costs no platform call — a local file, a snapshot invsync keeps.
    /// The default, false, leaves such changes to the schedules (ADR 0102).
    fn cheap_to_watch(&self) -> bool {
        false
    }

    /// The most writes one [`Connection::write`] call may carry.
    fn write_batch_size(&self) -> usize;

    /// The most writes of `field` one [`Connection::write`] call may carry when the run
    /// has `pending` such changes left in a row. A size above
    /// [`Connection::write_batch_size`] asks for a batch of that field only (the engine then
    /// cuts it where the field changes): Shopify sends a catalog's prices as one bulk
    /// mutation (ADR 0110). The default is [`Connection::write_batch_size`].
    fn write_batch_size_for(&self, _field: Field, _pending: usize) -> usize {
        self.write_batch_size()
    }

    /// Reads the current state of some records again (by the `id` and `sku` the catalog
    /// gave them), after a write came back [`WriteOutcome::Stale`]: the engine re-plans those
    /// products from fresh values instead of overwriting a concurrent change. `Ok(None)`
    /// when the connection cannot read single records; the stale writes are then left for
    /// the next run.
    async fn read_records(
        &self,
        _records: &[RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        Ok(None)
    }

    /// For the accounting side: which of these store order lines are already posted to
    /// the accounting system (so they no longer hold stock back, rule 3), one answer per
    /// line. `Ok(None)` when the connection cannot tell; every line then counts as
    /// unposted.
    async fn posted_orders(
        &self,
        _orders: &[OrderLine],
    ) -> Result<Option<Vec<bool>>, ConnectorError> {
        Ok(None)
    }

    /// Applies a batch of writes, at most [`Connection::write_batch_size`] of them, and
    /// returns one outcome per write, in order. `Err` means the whole batch failed and
    /// nothing in it was applied.
    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError>;
}

/// The outcomes of a batch a connection sent in several requests, one of which may have
/// failed as a whole (`error`). `Err` only when nothing was applied (the trait's contract
/// for `Err`); once something was, the writes without an outcome fail with the error and
/// the applied ones stay recorded as applied.
pub(crate) fn batch_outcomes(
    outcomes: Vec<Option<WriteOutcome>>,
    error: Option<ConnectorError>,
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    let applied = outcomes
        .iter()
        .any(|o| matches!(o, Some(WriteOutcome::Applied)));
    let missing = match error {
        Some(e) if !applied => return Err(e),
        Some(e) => format!("not written: {e}"),
        None => "the connection returned no outcome for this item".to_owned(),
    };
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| WriteOutcome::Failed(missing.clone())))
        .collect())
}

/// What connections may need beyond their own config, provided by the engine. Kinds with
/// state that outlives a process (rotating OAuth tokens) get their store through here.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct OpenContext {
    /// Durable, locked token storage (the run-history database). Connections with
    /// rotating refresh tokens refuse to work without it.
    pub token_vault: Option<Arc<dyn TokenVault>>,
    /// The company file's Web Connector bridge (QuickBooks Desktop): the daemon's serves
    /// sessions; the command line's only reads the kept snapshot.
    pub web_connector: Option<Arc<quickbooks_desktop::Bridge>>,
}

impl OpenContext {
    pub fn new() -> Self {
        OpenContext::default()
    }

    /// The same context with this token vault.
    pub fn with_token_vault(mut self, vault: Arc<dyn TokenVault>) -> Self {
        self.token_vault = Some(vault);
        self
    }

    /// The same context with this Web Connector bridge.
    pub fn with_web_connector(mut self, bridge: Arc<quickbooks_desktop::Bridge>) -> Self {
        self.web_connector = Some(bridge);
        self
    }
}

/// What a bridge needs of an accounting side reached through the Web Connector
/// (QuickBooks Desktop or POS, ADR 0080/0081): the company (the Web Connector user), the
/// dialect its sessions speak, and `max_age`. `None` for every other kind.
pub fn web_connector_side(
    config: &ConnectionConfig,
) -> Option<(
    String,
    Arc<dyn quickbooks_desktop::Dialect>,
    std::time::Duration,
)> {
    match config {
        ConnectionConfig::QuickBooksDesktop(q) => Some((
            q.company.clone(),
            Arc::new(quickbooks_desktop::DesktopDialect::from_config(q)),
            q.max_age,
        )),
        ConnectionConfig::QuickBooksPos(q) => Some((
            q.company.clone(),
            Arc::new(quickbooks_pos::PosDialect::from_config(q)),
            q.max_age,
        )),
        _ => None,
    }
}

/// Opens a connection of the configured kind. `name` is `accounting` or the store name.
/// What it reports never shows its credentials ([`redact`]).
pub fn open(
    name: &str,
    config: &ConnectionConfig,
    ctx: &OpenContext,
) -> Result<Box<dyn Connection>, ConnectorError> {
    let redactor = redact::Redactor::for_config(config);
    let connection: Box<dyn Connection> = match config {
        ConnectionConfig::File(file) => {
            return Ok(Box::new(file::FileConnection::new(name, file.clone())));
        }
        ConnectionConfig::WooCommerce(woo) => Box::new(
            woocommerce::WooCommerceConnection::new(name, woo).map_err(|e| redactor.error(e))?,
        ),
        ConnectionConfig::BigCommerce(big) => Box::new(
            bigcommerce::BigCommerceConnection::new(name, big).map_err(|e| redactor.error(e))?,
        ),
        ConnectionConfig::QuickBooksOnline(qbo) => {
            let qbo = quickbooks_online::QuickBooksOnline::open(name, qbo, ctx)
                .map_err(|e| redactor.error(e))?;
            // Its own list: OAuth tokens it obtains later are masked as well.
            let redactor = qbo.redactor();
            return Ok(Box::new(redact::Redacted::new(Box::new(qbo), redactor)));
        }
        ConnectionConfig::QuickBooksDesktop(qbd) => {
            let bridge = ctx.web_connector.clone().ok_or_else(|| {
                ConnectorError::new(
                    name,
                    ErrorKind::Unsupported,
                    "QuickBooks Desktop is reached only through the Web Connector, and nothing set up its bridge here (a bug)",
                )
            })?;
            Box::new(quickbooks_desktop::DesktopConnection::new(
                name, qbd, bridge,
            ))
        }
        // The same bridge and connection as Desktop, with the POS dialect (ADR 0081).
        ConnectionConfig::QuickBooksPos(pos) => {
            let bridge = ctx.web_connector.clone().ok_or_else(|| {
                ConnectorError::new(
                    name,
                    ErrorKind::Unsupported,
                    "QuickBooks POS is reached only through the Web Connector, and nothing set up its bridge here (a bug)",
                )
            })?;
            Box::new(quickbooks_desktop::DesktopConnection::for_bridge(
                name,
                &pos.order_ref_number,
                bridge,
            ))
        }
        ConnectionConfig::Shopify(shopify) => Box::new(
            shopify::ShopifyConnection::new(name, shopify.clone())
                .map_err(|e| redactor.error(e))?,
        ),
    };
    Ok(Box::new(redact::Redacted::new(connection, redactor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_request_after_applied_ones_fails_only_the_unwritten_items() {
        let e = ConnectorError::new("shop", ErrorKind::Unavailable, "HTTP 503: server error");
        let outcomes = batch_outcomes(
            vec![
                Some(WriteOutcome::Applied),
                Some(WriteOutcome::Stale("changed".into())),
                None,
            ],
            Some(e.clone()),
        )
        .expect("something was applied: per-item outcomes");
        assert_eq!(outcomes[0], WriteOutcome::Applied);
        assert!(matches!(&outcomes[2], WriteOutcome::Failed(m) if m.contains("503")));
        let nothing = batch_outcomes(vec![None, Some(WriteOutcome::Stale("x".into()))], Some(e));
        assert!(
            nothing.is_err(),
            "nothing applied: the batch failed as a whole"
        );
    }
}
