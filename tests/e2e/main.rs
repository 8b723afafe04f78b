//! The end-to-end tests: the built `invsync` binary (its commands and the daemon, as
//! processes) on temporary copies of the tests' own data, against the platform fakes of
//! `invsync-test-support` served in this process over loopback, with SQLite and a real
//! Postgres as run history. One test binary, so the suite is compiled and linked once;
//! what the modules share lives once, in `support/`.
//!
//! `cargo test -p invsync --test e2e` runs it all; one module by its path, e.g.
//! `cargo test -p invsync --test e2e faults::`.

mod support;

mod bigcommerce;
mod cli;
mod daemon;
mod demo;
mod deploy;
mod faults;
mod order_watch;
mod output;
mod process;
mod quickbooks_desktop;
mod quickbooks_online;
mod quickbooks_pos;
mod secrets;
mod shopify;
mod web;
mod web_connector;
mod woocommerce;
