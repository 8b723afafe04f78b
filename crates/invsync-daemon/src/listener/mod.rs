//! The HTTP listener everything invsync serves goes through — `/healthz` and `/metrics`
//! now, the "Synchronize Products" page and the Web Connector's SOAP endpoint later
//! (docs/adr/0070-http-listener.md). [`Listener::bind`], then [`Listener::serve`] an axum
//! `Router` with:
//!
//! * **limits** — HTTP/1.1 only. At most `max_connections` at once: past it, a new
//!   connection closes the oldest one that has no request in flight (an idle keep-alive,
//!   a client that never sent a byte), or is closed at once when every one is busy — so
//!   idle clients can neither use up the process's descriptors nor crowd out a probe. A
//!   request head must arrive within `header_timeout` of the connection being ready for
//!   one (new, or kept alive after an answer); a connection on which no byte moves either
//!   way for `idle_timeout` is closed. The TLS handshake counts against `header_timeout`.
//! * **TLS**, optional — rustls over the PEM files of `tls_cert` and `tls_key`.
//! * **a password**, optional — HTTP Basic on every path but the open ones ([`Access`]);
//!   handlers see whether a request had it ([`Authenticated`]).

mod access;
mod io;
mod tls;

pub use access::{Access, Authenticated, SessionCheck};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use invsync_config::TlsFiles;
use io::{Activity, Tracked};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

/// How much a listener takes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Where and how to listen.
pub struct ListenerConfig<'a> {
    /// The config section (`daemon`, `web_connector`): errors name its keys, metrics carry
    /// it as `listener`.
    pub section: &'static str,
    pub addr: SocketAddr,
    pub tls: Option<&'a TlsFiles>,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr} ({section}.listen)")]
    Bind {
        section: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key that cannot be used; `key` is the config key (`daemon.tls_key`).
    #[error("{key}: {message}")]
    Tls { key: String, message: String },
}

/// A bound listener, not yet serving.
pub struct Listener {
    tcp: TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    section: &'static str,
}

/// How long connections get to finish their requests at shutdown before they are cut.
const DRAIN: Duration = Duration::from_secs(5);
/// After an accept error (descriptors used up: `EMFILE`), wait this long before the next
/// accept; the waiting connection stays in the kernel's queue, holding none of ours.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Warnings about refused connections and accept errors: at most one per this long.
const WARN_EVERY: Duration = Duration::from_secs(60);

impl Listener {
    /// Loads the TLS files (a bad certificate fails before the port is taken), then binds.
    pub async fn bind(config: ListenerConfig<'_>) -> Result<Listener, ListenError> {
        let tls = config
            .tls
            .map(|files| tls::acceptor(config.section, files))
            .transpose()?;
        let tcp = TcpListener::bind(config.addr)
            .await
            .map_err(|source| ListenError::Bind {
                section: config.section,
                addr: config.addr,
                source,
            })?;
        // With port 0 the system picked the port.
        let addr = tcp.local_addr().unwrap_or(config.addr);
        Ok(Listener {
            tcp,
            addr,
            tls,
            limits: config.limits,
            section: config.section,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:9187` or `http://…`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Serves `app` until `shutdown`; then lets requests in flight finish (up to 5 s) and
    /// closes every connection.
    pub async fn serve(self, app: Router, access: Access, shutdown: CancellationToken) {
        let shared = Arc::new(Shared {
            app,
            access,
            tls: self.tls,
            limits: self.limits,
            section: self.section,
            shutdown: shutdown.clone(),
            connections: Mutex::new(Connections::default()),
        });
        let tasks = TaskTracker::new();
        let mut last_warning: Option<tokio::time::Instant> = None;
        let mut warn_now = |what: &str, detail: String| {
            let due = last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY);
            if due {
                last_warning = Some(tokio::time::Instant::now());
                warn!(listener = self.section, detail, "{what}");
            }
        };
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.tcp.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // EMFILE/ENFILE: out of descriptors; anything else: a connection that
                    // died in the queue. Either way try again shortly.
                    warn_now("cannot accept connections", e.to_string());
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let admitted = match shared.connections.lock() {
                Ok(mut c) => c.admit(self.limits.max_connections),
                Err(_) => Admission::Full,
            };
            let (id, slot) = match admitted {
                Admission::Admitted { id, slot, evicted } => {
                    if evicted {
                        closed(self.section, "evicted");
                        warn_now(
                            "at the connection cap: idle connections are closed to make room",
                            format!("max_connections = {}", self.limits.max_connections),
                        );
                    }
                    (id, slot)
                }
                Admission::Full => {
                    closed(self.section, "refused");
                    warn_now(
                        "a connection was refused: every connection is busy",
                        format!("max_connections = {}", self.limits.max_connections),
                    );
                    drop(stream);
                    continue;
                }
            };
            open_connections(&shared);
            let _ = stream.set_nodelay(true);
            tasks.spawn(connection(shared.clone(), stream, id, slot));
        }
        tasks.close();
        if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
            if let Ok(c) = shared.connections.lock() {
                for slot in c.open.values() {
                    slot.close.cancel();
                }
            }
            tasks.wait().await;
        }
    }
}

/// What every connection task of one listener shares.
struct Shared {
    app: Router,
    access: Access,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    section: &'static str,
    shutdown: CancellationToken,
    connections: Mutex<Connections>,
}

/// One open connection, as the accept loop sees it.
struct Slot {
    /// Requests whose answers are not yet fully sent.
    in_flight: AtomicUsize,
    /// Cancelled to close the connection (to make room for a new one, or at shutdown).
    close: CancellationToken,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    next: u64,
    open: BTreeMap<u64, Arc<Slot>>,
}

enum Admission {
    Admitted {
        id: u64,
        slot: Arc<Slot>,
        /// An idle connection was closed to make room.
        evicted: bool,
    },
    Full,
}

impl Connections {
    /// Room for one more: below `max` there is; at `max`, the oldest connection with no
    /// request in flight is closed for it; if all are busy, there is none.
    fn admit(&mut self, max: usize) -> Admission {
        let mut evicted = false;
        if self.open.len() >= max {
            let idle = self
                .open
                .iter()
                .find(|(_, slot)| slot.in_flight.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id);
            match idle.and_then(|id| self.open.remove(&id)) {
                Some(slot) => {
                    slot.close.cancel();
                    evicted = true;
                }
                None => return Admission::Full,
            }
        }
        let id = self.next;
        self.next += 1;
        let slot = Arc::new(Slot {
            in_flight: AtomicUsize::new(0),
            close: CancellationToken::new(),
        });
        self.open.insert(id, slot.clone());
        Admission::Admitted { id, slot, evicted }
    }
}

fn open_connections(shared: &Shared) {
    if let Ok(c) = shared.connections.lock() {
        metrics::gauge!("invsync_http_connections", "listener" => shared.section)
            .set(c.open.len() as f64);
    }
}

fn closed(section: &'static str, reason: &'static str) {
    metrics::counter!("invsync_http_connections_closed_total", "listener" => section, "reason" => reason)
        .increment(1);
}

/// Takes the connection off the list when its task ends, however it ends.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut c) = self.shared.connections.lock() {
            c.open.remove(&self.id);
        }
        open_connections(&self.shared);
    }
}

async fn connection(shared: Arc<Shared>, stream: TcpStream, id: u64, slot: Arc<Slot>) {
    let _registered = Registered {
        shared: shared.clone(),
        id,
    };
    let activity = Activity::new();
    let io = Tracked::new(stream, activity.clone());
    match shared.tls.clone() {
        None => http(&shared, io, activity, slot).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(shared.limits.header_timeout, acceptor.accept(io));
            let io = tokio::select! {
                done = handshake => match done {
                    Ok(Ok(io)) => io,
                    Ok(Err(e)) => {
                        debug!(error = %e, "TLS handshake failed");
                        closed(shared.section, "tls_failed");
                        return;
                    }
                    Err(_) => {
                        closed(shared.section, "header_timeout");
                        return;
                    }
                },
                _ = slot.close.cancelled() => return,
                _ = shared.shutdown.cancelled() => return,
            };
            http(&shared, io, activity, slot).await;
        }
    }
}

/// Serves HTTP/1.1 on one connection until it ends, times out or is closed.
async fn http<I>(shared: &Arc<Shared>, io: I, activity: Activity, slot: Arc<Slot>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn({
        let shared = shared.clone();
        let slot = slot.clone();
        move |request| handle(shared.clone(), slot.clone(), request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let idle_until = activity.last() + shared.limits.idle_timeout;
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    if e.is_timeout() {
                        closed(shared.section, "header_timeout");
                    }
                    debug!(error = %e, "connection ended");
                }
                return;
            }
            // Dropping the connection closes it.
            _ = slot.close.cancelled() => return,
            _ = shared.shutdown.cancelled(), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            _ = tokio::time::sleep_until(idle_until) => {
                if activity.last() + shared.limits.idle_timeout <= tokio::time::Instant::now() {
                    closed(shared.section, "idle_timeout");
                    return;
                }
            }
        }
    }
}

/// Counts a request in flight until its answer is sent (the body dropped).
struct InFlight(Arc<Slot>);

impl InFlight {
    fn enter(slot: Arc<Slot>) -> InFlight {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(slot)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn handle(
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    mut request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let in_flight = InFlight::enter(slot);
    let authenticated = shared.access.authenticated(request.headers());
    if !authenticated && !shared.access.is_open(request.uri().path()) {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        return Ok(shared
            .access
            .login_redirect(request.method(), request.headers(), path)
            .unwrap_or_else(access::challenge));
    }
    request
        .extensions_mut()
        .insert(Authenticated(authenticated));
    let response = shared.app.clone().oneshot(request).await?;
    Ok(response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _answering = &in_flight;
            frame
        }))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room_and_busy_ones_never_do() {
        let mut c = Connections::default();
        let mut slots = Vec::new();
        for _ in 0..3 {
            match c.admit(3) {
                Admission::Admitted { slot, evicted, .. } => {
                    assert!(!evicted);
                    slots.push(slot);
                }
                Admission::Full => panic!("room below the cap"),
            }
        }
        // The oldest is busy: the second one, idle, goes.
        slots[0].in_flight.store(1, Ordering::Release);
        assert!(matches!(
            c.admit(3),
            Admission::Admitted { evicted: true, .. }
        ));
        assert!(!slots[0].close.is_cancelled());
        assert!(slots[1].close.is_cancelled());
        assert_eq!(c.open.len(), 3);
        // Everyone busy: refused.
        for slot in c.open.values() {
            slot.in_flight.store(1, Ordering::Release);
        }
        assert!(matches!(c.admit(3), Admission::Full));
        assert_eq!(c.open.len(), 3);
    }
}
