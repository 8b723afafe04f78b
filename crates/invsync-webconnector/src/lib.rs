//! invsync's side of the QuickBooks Web Connector (QBWC), for QuickBooks Desktop and
//! QuickBooks Point of Sale, which have no web API: the Web Connector, on the merchant's
//! Windows machine, calls *us* over SOAP and runs our qbXML against the open company file
//! (docs/adr/0080-quickbooks-desktop-through-the-web-connector.md).
//!
//! * [`soap`] — the SOAP 1.1 envelope in and out; the eight operations' element names.
//! * [`endpoint`] — `/qbwc`: sessions, tickets, the lease of one session per company file,
//!   versions, progress, errors; the support page.
//! * [`work`] — the seam: [`CompanyWork`], what the endpoint asks of the qbXML side, and
//!   [`QueueWork`], a queue of canned requests for tests.
//! * [`qwc`] — the `.qwc` file.
//! * [`hresult`] — the Web Connector's COM errors in words.
//! * [`bridge_work`] — [`BridgeWork`]: a QuickBooks accounting side's bridge
//!   (`invsync_connectors::quickbooks_desktop::Bridge`) as the company file's work.
//!
//! Dependencies: `config` (the `[web_connector]` table), `store` (leases, ids) and
//! `connectors` (the bridge behind [`BridgeWork`]); the
//! daemon serves the router, the binary writes the `.qwc`.

pub mod bridge_work;
pub mod endpoint;
pub mod hresult;
pub mod qwc;
pub mod soap;
pub mod work;

pub use bridge_work::BridgeWork;
pub use endpoint::{CompanySetup, CompanyStats, Endpoint, EndpointOptions, choose_version};
pub use qwc::Qwc;
pub use work::{
    CloseReason, CompanyWork, HResult, NoWork, Progress, QbxmlVersion, QueueEvent, QueueWork,
    SessionInfo, WorkError,
};
