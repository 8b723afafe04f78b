//! Serving a platform fake over real HTTP on loopback. Each platform's fake is an axum
//! `Router` over its own state (in its own module of this crate); tests, end-to-end tests of
//! the binary and benchmarks start it with [`serve`] and point a connection's `base_url` at
//! [`FakeServer::base_url`].

use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running fake. Dropping it stops the server.
pub struct FakeServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `router` on `127.0.0.1` at a free port, on the current tokio runtime.
pub async fn serve(router: axum::Router) -> FakeServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port for the fake");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    FakeServer {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_a_router_on_loopback() {
        let router = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let server = serve(router).await;
        let body = reqwest::get(format!("{}/ping", server.base_url()))
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        assert_eq!(body, "pong");
        server.stop().await;
    }
}
