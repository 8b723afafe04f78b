//! A TCP proxy that a test can cut and restore: a real outage of a real server, as the
//! client sees it, without disturbing anyone else using that server.
//!
//! [`TcpProxy::cut`] resets every connection through it and refuses new ones (they are
//! accepted and closed at once, like a server that is restarting); [`TcpProxy::restore`]
//! lets connections through again. [`postgres`] puts one in front of a test database —
//! restarting the shared cluster (`pg_ctlcluster … restart`) would also cut every other
//! test running against it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where a proxy forwards to.
#[derive(Debug, Clone)]
pub enum Target {
    Tcp(SocketAddr),
    /// A Unix socket (Postgres' `/var/run/postgresql/.s.PGSQL.5432`).
    Unix(PathBuf),
}

struct Shared {
    open: AtomicBool,
    /// Bumped by every cut: connections watching it end.
    cuts: watch::Sender<u64>,
}

/// A running proxy on `127.0.0.1`. Dropping it stops it and closes its connections.
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: Target) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the proxy");
        let addr = listener.local_addr().expect("local address");
        let (cuts, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            open: AtomicBool::new(true),
            cuts,
        });
        let accept = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accept.open.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let cut = accept.cuts.subscribe();
                tokio::spawn(pipe(client, target, cut));
            }
        });
        TcpProxy { addr, shared, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Resets every connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.shared.open.store(false, Ordering::SeqCst);
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.shared.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.open.store(false, Ordering::SeqCst);
        self.shared.cuts.send_modify(|n| *n += 1);
        self.task.abort();
    }
}

async fn pipe(mut client: TcpStream, target: Target, mut cut: watch::Receiver<u64>) {
    let _ = client.set_nodelay(true);
    match target {
        Target::Tcp(addr) => {
            let Ok(mut server) = TcpStream::connect(addr).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut.changed() => {}
            }
        }
        Target::Unix(path) => {
            let Ok(mut server) = UnixStream::connect(&path).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut.changed() => {}
            }
        }
    }
    // Both streams drop here: the client sees its connection reset mid-conversation.
}

/// A proxy in front of the Postgres database at `url` (a [`crate::pg::TestDatabase`] URL)
/// and the URL to reach the database through it.
pub async fn postgres(url: &str) -> (TcpProxy, String) {
    let parsed = url::Url::parse(url).expect("a Postgres URL");
    let query: std::collections::HashMap<String, String> =
        parsed.query_pairs().into_owned().collect();
    let port = parsed.port().unwrap_or(5432);
    let target = match (query.get("host"), parsed.host_str()) {
        (Some(dir), _) if dir.starts_with('/') => {
            Target::Unix(PathBuf::from(dir).join(format!(".s.PGSQL.{port}")))
        }
        (_, Some(host)) if !host.is_empty() => {
            let addr = tokio::net::lookup_host((host, port))
                .await
                .expect("resolve the Postgres host")
                .next()
                .expect("an address for the Postgres host");
            Target::Tcp(addr)
        }
        _ => Target::Unix(PathBuf::from(format!(
            "/var/run/postgresql/.s.PGSQL.{port}"
        ))),
    };
    let proxy = TcpProxy::start(target).await;
    let mut through = parsed.clone();
    let mut pairs: Vec<(String, String)> = query.into_iter().filter(|(k, _)| k != "host").collect();
    pairs.sort();
    through.set_query(None);
    if !pairs.is_empty() {
        through.query_pairs_mut().extend_pairs(pairs);
    }
    through
        .set_host(Some("127.0.0.1"))
        .expect("a URL that takes a host");
    through
        .set_port(Some(proxy.port()))
        .expect("a URL that takes a port");
    (proxy, through.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn forwards_until_cut_and_again_after_restore() {
        let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = TcpProxy::start(Target::Tcp(echo_addr)).await;
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .expect("connect");
        c.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.expect("echo");
        assert_eq!(&buf, b"ping");

        proxy.cut();
        let mut rest = Vec::new();
        let n = c.read_to_end(&mut rest).await.unwrap_or(0);
        assert_eq!(n, 0, "the live connection was closed");
        let mut refused = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .expect("accepted");
        let _ = refused.write_all(b"ping").await;
        assert_eq!(refused.read(&mut buf).await.unwrap_or(0), 0, "and closed");

        proxy.restore();
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .expect("connect");
        c.write_all(b"pong").await.expect("write");
        c.read_exact(&mut buf).await.expect("echo");
        assert_eq!(&buf, b"pong");
    }
}
