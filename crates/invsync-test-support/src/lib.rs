//! Helpers shared by invsync's tests. Test code only: nothing here is used by the daemon.

pub mod catalog;
pub mod fake;
pub mod pg;
pub mod shopify;
pub mod specs;
