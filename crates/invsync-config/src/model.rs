//! The validated configuration, as the rest of invsync sees it. Built by
//! [`crate::load`]; every path is absolute and every secret resolved.

use chrono_tz::Tz;
use invsync_core::{FieldSet, InOrdersMode, QuantityRules, SalePolicy, Side};
use secrecy::{SecretSlice, SecretString};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    /// A digest of every key's value, to tell what a reload changed.
    pub(crate) fingerprint: crate::changes::Fingerprint,
    pub database: DatabaseConfig,
    pub daemon: DaemonConfig,
    /// `[web_connector]`: the QuickBooks Web Connector's endpoint and `.qwc` (ADR 0080);
    /// `None` when the table is absent.
    pub web_connector: Option<crate::WebConnectorConfig>,
    pub inventory: InventoryConfig,
    pub accounting: ConnectionConfig,
    /// Stores by name.
    pub stores: BTreeMap<String, StoreConfig>,
    pub schedules: Vec<ScheduleConfig>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; may carry a password, hence secret. Relative SQLite
    /// paths are already resolved against the config file's folder.
    pub url: SecretString,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection before failing.
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// `/healthz` and `/metrics`; `None` when `listen = "off"`. An address other hosts can
    /// reach comes with `tls` and `password` (checked at load).
    pub listen: Option<SocketAddr>,
    /// `tls_cert` + `tls_key`: serve HTTPS.
    pub tls: Option<TlsFiles>,
    /// HTTP Basic password for everything but `/healthz` (docs/adr/0070-http-listener.md).
    pub password: Option<SecretString>,
    /// The most connections the listener holds at once (fewer if the descriptor limit
    /// is too low to keep a reserve for runs).
    pub max_connections: u32,
    /// A connection must deliver a request head within this long of being ready for one
    /// (a new connection, or a kept-alive one after its last answer).
    pub header_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout: Duration,
    /// How long in-flight runs may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// The longest the scheduling loop sleeps before looking at due times again (it also
    /// wakes exactly when the next slot is due).
    pub poll: Duration,
}

/// A PEM certificate chain and its private key, as given by `tls_cert` and `tls_key`
/// (absolute paths; both were readable and held PEM of the right kind at load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Master {
    Accounting,
    Store(String),
}

#[derive(Debug, Clone)]
pub struct InventoryConfig {
    pub master: Master,
    pub in_orders: InOrdersMode,
    /// `order_watch`: how often the daemon reads every store's orders and pushes the
    /// quantities of the SKUs they touched (issue 18); `None` when `"off"`. It acts only
    /// under `in_orders = "reserve"` ([`InventoryConfig::watches_orders`]).
    pub order_watch: Option<std::time::Duration>,
}

impl InventoryConfig {
    /// The order watch's period, when it runs: not `"off"`, and under `reserve` (with
    /// `skip`, a SKU an unposted order holds is never written, so a pass could push
    /// nothing; ADR 0100).
    pub fn watches_orders(&self) -> Option<std::time::Duration> {
        self.order_watch
            .filter(|_| self.in_orders == InOrdersMode::Reserve)
    }
}

/// How to reach one connection (the accounting system or a store).
#[derive(Debug, Clone)]
pub enum ConnectionConfig {
    File(FileConnectionConfig),
    WooCommerce(WooCommerceConfig),
    BigCommerce(BigCommerceConfig),
    /// Boxed: it is much larger than the other kinds.
    QuickBooksOnline(Box<QuickBooksOnlineConfig>),
    Shopify(ShopifyConnectionConfig),
    /// Reached only through the Web Connector (`[web_connector]`, ADR 0080).
    QuickBooksDesktop(QuickBooksDesktopConfig),
    /// QuickBooks Point of Sale, through the Web Connector too (ADR 0080, 0081).
    QuickBooksPos(QuickBooksPosConfig),
}

impl ConnectionConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionConfig::File(_) => "file",
            ConnectionConfig::WooCommerce(_) => "woocommerce",
            ConnectionConfig::BigCommerce(_) => "bigcommerce",
            ConnectionConfig::QuickBooksOnline(_) => "quickbooks-online",
            ConnectionConfig::Shopify(_) => "shopify",
            ConnectionConfig::QuickBooksDesktop(_) => "quickbooks-desktop",
            ConnectionConfig::QuickBooksPos(_) => "quickbooks-pos",
        }
    }

    /// Whether the order watch sees this accounting side's quantities move between
    /// schedules (ADR 0102): kinds whose catalog is read again at no platform cost — a
    /// file, the snapshot a Web Connector session keeps. The connections say the same
    /// through `Connection::cheap_to_watch`; this answers without opening one
    /// (`config check`).
    pub fn watched_between_schedules(&self) -> bool {
        matches!(
            self,
            ConnectionConfig::File(_)
                | ConnectionConfig::QuickBooksDesktop(_)
                | ConnectionConfig::QuickBooksPos(_)
        )
    }
}

/// The most `retries` an HTTP connection may be configured with.
pub const MAX_HTTP_RETRIES: u32 = 20;

/// How an HTTP connection (Shopify, WooCommerce, BigCommerce, QuickBooks Online) waits and
/// retries: the keys `timeout`, `retries` and `retry_backoff` of its `[stores.NAME]` (or
/// `[accounting]`) table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpPolicy {
    /// The longest one request may take, the answer included; a platform that hangs longer
    /// is given up on (and the request retried when that is safe).
    pub timeout: Duration,
    /// Retries after the first attempt, for connection failures always, and for timeouts,
    /// 429 and 5xx of requests that cannot apply twice.
    pub retries: u32,
    /// The first retry waits up to this long, each next one up to twice as long (at most
    /// 30 s, jittered); a `Retry-After` answer wins.
    pub retry_backoff: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(60),
            retries: 4,
            retry_backoff: Duration::from_millis(500),
        }
    }
}

/// `kind = "woocommerce"` (stores only): the WooCommerce REST API v3 of one site.
#[derive(Debug, Clone)]
pub struct WooCommerceConfig {
    /// The site, e.g. `https://shop.example.com`; the API is `{url}/wp-json/wc/v3`.
    /// `https://`, or `http://` to loopback only (credentials travel as HTTP Basic).
    pub url: url::Url,
    pub consumer_key: SecretString,
    pub consumer_secret: SecretString,
    pub http: HttpPolicy,
}

/// `kind = "bigcommerce"` (stores only): one BigCommerce store's REST APIs.
#[derive(Debug, Clone)]
pub struct BigCommerceConfig {
    pub store_hash: String,
    pub access_token: SecretString,
    /// The inventory location quantities are written to (and read back from). Default 1.
    pub location_id: u64,
    /// `https://api.bigcommerce.com/stores/{store_hash}` unless overridden; the APIs are
    /// `{base_url}/v3/…` and `{base_url}/v2/…`.
    pub base_url: url::Url,
    pub http: HttpPolicy,
}

/// `kind = "file"`: a CSV or JSON export (product.md, "File connections").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConnectionConfig {
    /// The catalog file, `.csv` or `.json`; absolute.
    pub path: PathBuf,
    /// Stores only: the open, unposted orders (`order,sku,quantity`); absolute.
    pub orders: Option<PathBuf>,
    /// The largest file (catalog or orders) this connection reads, in bytes
    /// ([`crate::input_file::DEFAULT_MAX_FILE_SIZE`] unless set).
    pub max_file_size: u64,
}

/// `kind = "quickbooks-online"` (accounting side only): the QuickBooks Online Accounting
/// API v3. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct QuickBooksOnlineConfig {
    /// The company ("realm") ID.
    pub realm_id: String,
    /// The app's OAuth 2.0 client ID. Not secret (it is part of the authorise URL).
    pub client_id: String,
    pub client_secret: SecretString,
    /// The initial refresh token. Used only while the database holds no tokens for this
    /// realm: refresh tokens rotate, and the newest one lives (encrypted) in the database.
    pub refresh_token: Option<SecretString>,
    /// 32 bytes that encrypt the tokens stored in the database.
    pub token_key: SecretSlice<u8>,
    pub environment: QboEnvironment,
    /// The API host, e.g. `https://quickbooks.api.intuit.com` (from `environment` unless
    /// overridden); `/v3/company/{realm_id}/…` is appended.
    pub base_url: url::Url,
    /// The OAuth 2.0 token endpoint.
    pub token_url: url::Url,
    /// The redirect URI `invsync auth quickbooks-online` sends (one registered for the app).
    pub redirect_uri: Option<String>,
    /// How quantities are written when a store is the master.
    pub quantity_write: QboQuantityWrite,
    /// The Id of the account inventory adjustments post to (`AdjustAccountRef`).
    pub adjustment_account: Option<String>,
    /// The `DocNumber` a posted store order gets: `{order}` and `{store}` are replaced.
    pub order_doc_number: String,
    /// API requests' timeout and retries (not the token endpoint's: a refresh is never
    /// sent twice).
    pub http: HttpPolicy,
}

/// `kind = "quickbooks-desktop"` (accounting side only): QuickBooks Desktop through the Web
/// Connector (ADR 0080). The Web Connector's login (`username`, `password`,
/// `company_file`) lives in `[web_connector]` (ADR 0080 §7), which must say `qb_type =
/// "QBFS"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickBooksDesktopConfig {
    /// The company file's name in invsync: `[web_connector] username`.
    pub company: String,
    /// Which item field is the SKU.
    pub sku_field: DesktopSkuField,
    /// The FullName of the account inventory adjustments post to (needed when a store is
    /// the master).
    pub adjustment_account: Option<String>,
    /// The Advanced Inventory site adjustments go to (FullName).
    pub site: Option<String>,
    /// The `RefNumber` a posted store order gets: `{order}` and `{store}` are replaced.
    pub order_ref_number: String,
    /// Quantities (and prices) read longer ago than this are never written to a store;
    /// runs that wait for a session wait at most this long.
    pub max_age: Duration,
    /// Items per page of the iterated reads (`MaxReturned`).
    pub max_returned: u32,
}

/// `sku_field` of QuickBooks Desktop: the item field that holds the SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DesktopSkuField {
    /// `Name` (default).
    #[default]
    Name,
    /// `FullName` (`Parent:Child`).
    FullName,
    ManufacturerPartNumber,
    /// `BarCodeValue`.
    BarCode,
}

/// `kind = "quickbooks-pos"` (accounting side only): QuickBooks Point of Sale through the
/// Web Connector (ADR 0080, 0081), whose `[web_connector]` must say `qb_type = "QBPOS"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickBooksPosConfig {
    /// The company's name in invsync: `[web_connector] username`.
    pub company: String,
    /// Which item field is the SKU.
    pub sku_field: PosSkuField,
    /// One store of a multi-store company (1 to 20): its on-hand quantity is read and
    /// written. `None`: the company's total, memos to the default store.
    pub store_number: Option<u8>,
    /// `Reason` of the New Quantity Memos invsync adds (at most 8 characters).
    pub adjustment_reason: String,
    /// Where a sales receipt carries a store order's reference.
    pub order_ref_field: PosOrderRefField,
    /// The reference a posted store order carries: `{order}` and `{store}` are replaced.
    pub order_ref_number: String,
    /// As for QuickBooks Desktop: older quantities are never written to a store.
    pub max_age: Duration,
    /// Items per page of the iterated reads (`MaxReturned`).
    pub max_returned: u32,
}

/// `sku_field` of QuickBooks POS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PosSkuField {
    /// `ALU`, the "alternate lookup" (default).
    #[default]
    Alu,
    /// `ItemNumber`.
    ItemNumber,
    /// `UPC`.
    Upc,
}

/// `order_ref_field` of QuickBooks POS: the sales receipt field holding an order's
/// reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PosOrderRefField {
    /// `Comments` (default).
    #[default]
    Comments,
    /// `TrackingNumber`.
    TrackingNumber,
}

/// `environment`: which Intuit API host to use by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QboEnvironment {
    Production,
    Sandbox,
}

/// `quantity_write`: how an accounting-side quantity change is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QboQuantityWrite {
    /// An `InventoryAdjustment` with `QtyDiff = new − current` (current from a fresh read).
    Adjustment,
    /// A sparse Item update of `QtyOnHand`, guarded by the item's `SyncToken`.
    Item,
}

/// `kind = "shopify"`: a store through the Shopify Admin GraphQL API.
#[derive(Debug, Clone)]
pub struct ShopifyConnectionConfig {
    /// The permanent domain, `example.myshopify.com`, lower case.
    pub shop: String,
    /// The Admin API access token (`X-Shopify-Access-Token`).
    pub access_token: SecretString,
    /// `https://{shop}` unless overridden (proxies, tests); https, or http to loopback.
    pub base_url: url::Url,
    /// The Admin API version in the endpoint path, e.g. `2026-10` (2025-01 or newer).
    pub api_version: String,
    /// The location whose `available` quantity is synced, as a GID; `None`: the shop's
    /// primary location.
    pub location: Option<String>,
    /// Read the catalog with a bulk operation when the shop has more variants than this.
    pub bulk_above: u64,
    /// Write a run's prices with one bulk mutation when it has more price changes than
    /// this; at or below it, one `productVariantsBulkUpdate` call per product (ADR 0110).
    pub bulk_write_above: u64,
    /// How long runs may go on reading only what changed since the last read before one
    /// reads the whole catalog again; zero: every run reads it whole (ADR 0017).
    pub full_read_every: std::time::Duration,
    pub http: HttpPolicy,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub connection: ConnectionConfig,
    pub rules: QuantityRules,
    /// `sale_price`: what a price sync does to a listing on sale (stores with sale
    /// prices: WooCommerce, BigCommerce).
    pub sale_price: SalePolicy,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// A fixed interval, 15 minutes to 24 hours.
    Every(Duration),
    /// A cron expression (seconds first: `sec min hour dom month dow`) in a time zone.
    Cron { expr: String, timezone: Tz },
}

#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Unique; default `<store>-<update>`.
    pub name: String,
    pub store: String,
    pub cadence: Cadence,
    pub update: Side,
    pub fields: FieldSet,
}
