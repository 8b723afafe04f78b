//! QuickBooks Desktop (issue 15): the qbXML layer. QuickBooks Desktop has no web API; the
//! QuickBooks Web Connector polls invsync over SOAP, hands each qbXML request document to
//! QuickBooks and posts the answer back. This module is the part that does not care how
//! the text travels: request text out, response text in, no HTTP.
//!
//! * [`request`]: typed builders of qbXML 13.0 message sets ([`MessageSet`]) — item reads
//!   with iterators (`ItemInventoryQueryRq`, `ItemInventoryAssemblyQueryRq`,
//!   `ItemGroupQueryRq`; `MaxReturned`, default [`DEFAULT_MAX_RETURNED`], `ActiveStatus`,
//!   `IncludeRetElement` for only the fields used), price writes (`ItemInventoryModRq` /
//!   `ItemInventoryAssemblyModRq`: `ListID` + `EditSequence` + `SalesPrice`, several per
//!   message set), stock writes (`InventoryAdjustmentAddRq` with a marker tied to the
//!   write key, [`AdjustmentMarker`]) and look-ups by `RefNumber` (adjustments by their
//!   marker, sales receipts and invoices by the order's reference). Element order
//!   follows the XSDs; every value is checked and escaped.
//! * [`response`]: parsers of the answers into typed items (decimal prices, whole
//!   quantities rounded down, ADR 0034) and transactions; a bad item fails alone.
//! * [`status`]: what each `statusCode` and Web Connector HRESULT means and what to do —
//!   an item or run error, retried next session, re-read and planned again, or fixed.
//!
//! The SKU is the item's `Name` by default (what the product we model matches store
//! SKUs on), or `FullName`, `ManufacturerPartNumber` or `BarCodeValue` ([`SkuField`]).
//! Group items (bundles, kits) are `base`; inactive items are left out (`ActiveOnly`).
//!
//! A sale entered in QuickBooks changes an item's `QuantityOnHand` without changing its
//! `TimeModified` (Intuit, *ItemInventoryQuery*, onscreen reference: "modifications
//! through these transactions do not result in changing the TimeModified stamp (only the
//! Mod operation will do that)"); the Web Connector design (ADR of issue 15) decides how
//! reads account for it. The fake company in `invsync-test-support` behaves so.

pub mod bridge;
mod connection;
pub mod dialect;
// `request`, `response` and `xml` are shared with the qbposXML layer
// (`crate::quickbooks_pos`): the XML writing and reading, the decimal checks and the
// status attributes are the same in both dialects.
pub(crate) mod request;
pub(crate) mod response;
mod status;
pub(crate) mod xml;

pub use bridge::{Bridge, BridgeStatus, KeptSnapshot, SessionProgress, SnapshotStore};
pub use connection::{DesktopConnection, WRITES_PER_MESSAGE_SET};
pub use dialect::{DesktopDialect, Dialect, KeptItem};

pub use request::{
    ActiveStatus, AdjustmentAdd, AdjustmentLine, AdjustmentMarker, BuildError, ItemList, ItemQuery,
    IteratorStep, MAX_MAX_RETURNED, MAX_REF_NUMBER, MessageSet, PriceMod, RefQuery, Request,
    RequestId, Selection, TxnKind,
};
pub use response::{
    Item, ItemError, IteratorState, ParseError, Response, ResponseSet, Transaction,
    parse_response_set,
};
pub use status::{HResult, Next, Outcome, QbError, Scope, Severity, Status, classify};

/// The qbXML version invsync speaks (QuickBooks 2015 and later; the XSDs in
/// `../shared/specs/quickbooks-desktop/`).
pub const QBXML_VERSION: &str = "13.0";

/// Items per page of an iterated read unless configured otherwise.
pub const DEFAULT_MAX_RETURNED: u32 = 500;

/// Which item field is the SKU (`sku_field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SkuField {
    /// `Name` (default): the item's own name, without its parents.
    #[default]
    Name,
    /// `FullName`: `Parent:Child`.
    FullName,
    ManufacturerPartNumber,
    /// `BarCodeValue`.
    BarCode,
}

impl DesktopDialect {
    /// The dialect of a configured accounting side.
    pub fn from_config(config: &invsync_config::QuickBooksDesktopConfig) -> DesktopDialect {
        DesktopDialect {
            sku_field: SkuField::from_config(config.sku_field),
            max_returned: config.max_returned,
            adjustment_account: config.adjustment_account.clone(),
            site: config.site.clone(),
        }
    }
}

impl SkuField {
    pub const ALL: [SkuField; 4] = [
        SkuField::Name,
        SkuField::FullName,
        SkuField::ManufacturerPartNumber,
        SkuField::BarCode,
    ];

    /// The value of `sku_field` in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SkuField::Name => "name",
            SkuField::FullName => "full_name",
            SkuField::ManufacturerPartNumber => "manufacturer_part_number",
            SkuField::BarCode => "bar_code",
        }
    }

    pub fn parse(text: &str) -> Option<SkuField> {
        SkuField::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The element of an item's `…Ret` that holds it.
    /// The `sku_field` of the configuration.
    pub fn from_config(field: invsync_config::DesktopSkuField) -> SkuField {
        match field {
            invsync_config::DesktopSkuField::Name => SkuField::Name,
            invsync_config::DesktopSkuField::FullName => SkuField::FullName,
            invsync_config::DesktopSkuField::ManufacturerPartNumber => {
                SkuField::ManufacturerPartNumber
            }
            invsync_config::DesktopSkuField::BarCode => SkuField::BarCode,
        }
    }

    pub fn ret_element(self) -> &'static str {
        match self {
            SkuField::Name => "Name",
            SkuField::FullName => "FullName",
            SkuField::ManufacturerPartNumber => "ManufacturerPartNumber",
            SkuField::BarCode => "BarCodeValue",
        }
    }
}
