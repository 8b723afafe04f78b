//! Fuzzing every connector's response decoding (issue 8, item 2).
//!
//! * [`replay`]: each platform's real conversation with its fake is recorded once through
//!   a proxy on loopback, then replayed to a fresh connection with random mutations —
//!   values of another type or out of range, removed keys, duplicated items, other
//!   statuses, truncated or garbage bodies. This reaches every decoder (catalog pages,
//!   bulk-operation JSONL, orders, write answers, error bodies, OAuth token answers)
//!   through the code that really calls it.
//! * [`units`]: the shared HTTP helpers and the pacing inputs, on arbitrary headers and
//!   bodies.
//!
//! Properties: nothing panics or hangs; an error has a message; a product the connection
//! rejects names its SKU or id.
//!
//! A few dozen cases per platform run in `cargo test`; a longer run:
//! `INVSYNC_FUZZ_CASES=20000 cargo test --release -p invsync-connectors --test platforms fuzz`.

mod platforms;
mod replay;
mod units;

pub(crate) use invsync_connectors::testing::fuzz_cases as cases;
