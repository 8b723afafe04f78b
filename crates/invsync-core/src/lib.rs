//! The invsync domain: what a product is on each side, how listings are matched to
//! accounting items, which status each product has, how much stock a store may be
//! offered, and which changes a sync would make.
//!
//! Everything here is pure: no I/O, no clocks, no async. The engine feeds it the
//! catalogs it read and gets back a [`plan::Plan`]; the rules of `product.md` live here
//! and are tested here (table-driven unit tests and property tests).

pub mod matching;
pub mod model;
pub mod orders;
pub mod plan;
pub mod quantity;
pub mod run;
pub mod sku;

pub use matching::{Matching, Pair, PairKind, match_catalogs};
pub use model::{
    Field, FieldSet, FieldValue, ItemKind, Mapping, Record, Sale, SaleAction, SalePolicy, Side,
};
pub use orders::{Absent, OrderBook, OrderFeed, OrderLine, StoreOrder, StoreOrderLine};
pub use plan::{
    InOrdersMode, MasterQuantities, Plan, PlanError, PlanInput, PlanRequest, PlannedChange,
    ProductPlan, Selection, SkipReason, SkippedChange, Status, plan, validate_request,
};
pub use quantity::{QuantityRules, offered_quantity};
pub use run::{
    ChangeResult, IN_ORDERS_ITEM_PREFIX, ItemOutcome, ItemSummary, RunCounts, RunStatus, Trigger,
};
pub use sku::SkuKey;
