//! QuickBooks Point of Sale (issue 15 item 11): the qbposXML 3.0 layer. POS is reached like
//! QuickBooks Desktop, through the QuickBooks Web Connector (`QBType` `QBPOS` in the
//! `.qwc`), but speaks its own dialect: `<?qbposxml version="3.0"?><QBPOSXML>
//! <QBPOSXMLMsgsRq onError="…">`, one item list (`ItemInventoryQueryRq` answers every item
//! type), `Price1` for the regular price and absolute quantities (`NewQuantity`). This
//! module is text in, text out, like [`crate::quickbooks_desktop`], and shares its XML
//! reading and writing, decimal checks and status types.
//!
//! * [`request`]: builders of qbposXML message sets ([`MessageSet`]) — item reads with
//!   iterators (`MaxReturned`, `IncludeRetElement` for only the fields used), price writes
//!   (`ItemInventoryModRq` with `ListID` + `Price1`), stock writes
//!   (`InventoryQtyAdjustmentAddRq`: a `NewQuantity` per line, the marker of the write key
//!   in `Comments`, [`AdjustmentMarker`]), look-ups of adjustments by that marker and of
//!   sales receipts by the order's reference (`Comments` or `TrackingNumber`).
//! * [`response`]: parsers of the answers into typed items (decimal prices, whole
//!   quantities rounded down), adjustments and receipts; a bad item fails alone.
//! * [`status`]: what each `statusCode` and HRESULT means for POS.
//!
//! What POS does not have, and what that changes (ADR 0081): no `EditSequence` — a price
//! mod is not compare-and-set, so it is planned from a read of the same session and sent
//! at once; no `IsActive` — every item is read; `ItemType` says what an item is.
//!
//! Every element and its place comes from Intuit's qbposXML 3.0 reference (the onscreen
//! reference, developer.intuit.com/app/developer/qbdesktop/docs/api-reference/qbpos/…, and
//! the sample document of `qbposxml30.dtd` Intuit shipped with the SDK); no schema ships
//! for qbposXML, so the tests check requests with `invsync_test_support::qbposxml_lite`.

mod dialect;
mod request;
mod response;
mod status;

pub use dialect::PosDialect;

pub use request::{
    AdjustmentLine, AdjustmentLookup, AdjustmentMarker, BuildError, ItemQuery, IteratorStep,
    MAX_COMMENTS, MAX_MAX_RETURNED, MAX_REASON, MessageSet, PriceMod, QtyAdjustment, ReceiptLookup,
    ReceiptRefField, Request, RequestId, Selection,
};
pub use response::{
    Adjustment, HistoryStatus, Item, ItemError, ParseError, Receipt, Response, ResponseSet,
    parse_response_set,
};
pub use status::{classify, classify_hresult};

pub use crate::quickbooks_desktop::{
    HResult, IteratorState, Next, Outcome, QbError, Scope, Severity, Status,
};

/// The qbposXML version invsync speaks (QuickBooks POS 8.0 and later).
pub const QBPOSXML_VERSION: &str = "3.0";

/// Items per page of an iterated read unless configured otherwise (as for Desktop).
pub const DEFAULT_MAX_RETURNED: u32 = crate::quickbooks_desktop::DEFAULT_MAX_RETURNED;

/// Which item field is the SKU (`sku_field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SkuField {
    /// `ALU` (default): the "alternate lookup", the shop's own code for the item — what
    /// shops that sell online keep their SKU in.
    #[default]
    Alu,
    /// `ItemNumber`: the number POS gives every item (a whole number).
    ItemNumber,
    /// `UPC`: the bar code.
    Upc,
}

impl SkuField {
    pub const ALL: [SkuField; 3] = [SkuField::Alu, SkuField::ItemNumber, SkuField::Upc];

    /// The value of `sku_field` in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SkuField::Alu => "alu",
            SkuField::ItemNumber => "item_number",
            SkuField::Upc => "upc",
        }
    }

    pub fn parse(text: &str) -> Option<SkuField> {
        SkuField::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The element of an `ItemInventoryRet` that holds it.
    pub fn ret_element(self) -> &'static str {
        match self {
            SkuField::Alu => "ALU",
            SkuField::ItemNumber => "ItemNumber",
            SkuField::Upc => "UPC",
        }
    }
}

/// Whose stock a read reports and an adjustment changes: the company as a whole
/// (`QuantityOnHand`, single-store POS) or one store of a multi-store company
/// (`OnHandStoreNN`, adjustments with `StoreNumber`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum StockScope {
    #[default]
    Company,
    /// Store 1 to 20 (qbposXML 3.0 has `OnHandStore01` … `OnHandStore20`).
    Store(u8),
}

/// Highest store number qbposXML 3.0 reports stock for.
pub const MAX_STORE_NUMBER: u8 = 20;

impl StockScope {
    /// The `ItemInventoryRet` element holding the quantity on hand.
    pub fn on_hand_element(self) -> String {
        match self {
            StockScope::Company => "QuantityOnHand".to_owned(),
            StockScope::Store(n) => format!("OnHandStore{n:02}"),
        }
    }
}
