//! Helpers shared by invsync's tests. Test code only: nothing here is used by the daemon.

pub mod bigcommerce;
pub mod catalog;
pub mod echo;
pub mod fake;
pub mod faults;
pub mod gate;
pub mod openapi;
pub mod pg;
pub mod proxy;
pub mod qbposxml_lite;
pub mod qbxml_xsd;
pub mod quickbooks_desktop;
pub mod quickbooks_online;
pub mod quickbooks_pos;
pub mod shopify;
pub mod specs;
pub mod web_connector;
pub mod woocommerce;
