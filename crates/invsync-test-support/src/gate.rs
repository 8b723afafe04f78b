//! A platform that stalls for as long as a test needs. [`Gate`] holds every request in
//! front of a fake until it is opened; [`GatedShop`] is a Shopify fake behind one, served
//! from its own runtime for tests of the built binary.
//!
//! End-to-end tests that must catch a run in flight (SIGTERM, kill -9, the shutdown grace)
//! used to make a file connection's catalog a FIFO, whose read blocks until something
//! writes to it. File connections refuse FIFOs now (issue 13, item 5: a read that blocks
//! for good is a hang), so those tests hold the run in a store's HTTP read instead.

use crate::fake::{self, FakeServer};
use crate::shopify::{FakeShopify, Limits};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::watch;

/// Holds requests until [`Gate::open`].
#[derive(Clone)]
pub struct Gate {
    open: Arc<watch::Sender<bool>>,
    held: Arc<AtomicUsize>,
}

impl Gate {
    pub fn closed() -> Gate {
        Gate {
            open: Arc::new(watch::Sender::new(false)),
            held: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// `router` with the gate in front of every route.
    pub fn layer(&self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), hold))
    }

    /// Lets every held and later request through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Requests waiting at the gate now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

async fn hold(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    gate.held.fetch_add(1, Ordering::SeqCst);
    let mut open = gate.open.subscribe();
    // An error means the gate was dropped: let the request through.
    let _ = open.wait_for(|open| *open).await;
    gate.held.fetch_sub(1, Ordering::SeqCst);
    next.run(request).await
}

/// A Shopify fake behind a closed [`Gate`], served on loopback from a runtime of its own
/// (tests of the binary are synchronous).
pub struct GatedShop {
    pub shop: FakeShopify,
    pub gate: Gate,
    // Dropped before the runtime that serves it (fields drop in order).
    server: FakeServer,
    _rt: tokio::runtime::Runtime,
}

impl GatedShop {
    /// The access token the fake accepts.
    pub const TOKEN: &'static str = "shpat_gated-test-token";

    /// A shop with these variants `(sku, price, available)`; requests wait at the gate.
    pub fn start(variants: &[(&str, &str, i64)]) -> GatedShop {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let shop = FakeShopify::new(Self::TOKEN, Limits::unlimited());
        for (sku, price, available) in variants {
            shop.add_variant(sku, price, *available);
        }
        let gate = Gate::closed();
        let server = rt.block_on(fake::serve(gate.layer(shop.router())));
        GatedShop {
            shop,
            gate,
            server,
            _rt: rt,
        }
    }

    /// A `[stores.NAME]` table of a Shopify store reading from this fake. Its timeout is
    /// an hour: the gate, not the client, decides how long a request takes.
    pub fn store_toml(&self, name: &str) -> String {
        format!(
            "[stores.{name}]\nkind = \"shopify\"\nshop = \"example.myshopify.com\"\naccess_token = \"{}\"\nbase_url = \"{}\"\ntimeout = \"1h\"\n",
            Self::TOKEN,
            self.server.base_url()
        )
    }

    pub fn open(&self) {
        self.gate.open();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_wait_until_the_gate_opens() {
        let gate = Gate::closed();
        let router =
            gate.layer(axum::Router::new().route("/", axum::routing::get(|| async { "ok" })));
        let server = fake::serve(router).await;
        let url = server.base_url();
        let request = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
        while gate.held() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!request.is_finished(), "held");
        gate.open();
        let status = request.await.expect("join").expect("answer");
        assert_eq!(status, 200);
        assert_eq!(gate.held(), 0);
    }
}
