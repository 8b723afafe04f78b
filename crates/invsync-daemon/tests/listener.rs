//! The listener over real sockets on loopback: the connection cap (idle connections make
//! room, busy ones are kept, a newcomer is refused when all are busy), the idle timeout on
//! a stalled upload, and the password over HTTPS. The daemon's own use of it (1,100 idle
//! connections, header timeouts, TLS and the password through the binary) is in
//! tests/e2e_daemon.rs.

use axum::Router;
use axum::routing::{get, post};
use invsync_daemon::listener::{Access, Authenticated, Limits, Listener, ListenerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// Handlers of `/slow` that have started.
    started: Arc<AtomicUsize>,
    /// Lets `/slow` handlers answer.
    gate: Arc<Semaphore>,
}

impl Server {
    async fn start(limits: Limits) -> Server {
        let started = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let app = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/slow",
                get({
                    let (started, gate) = (started.clone(), gate.clone());
                    move || async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        let _permit = gate.acquire().await;
                        "done"
                    }
                }),
            )
            .route(
                "/upload",
                post(|body: String| async move { body.len().to_string() }),
            );
        let listener = Listener::bind(ListenerConfig {
            section: "test",
            addr: "127.0.0.1:0".parse().expect("addr"),
            tls: None,
            limits,
        })
        .await
        .expect("bind");
        let addr = listener.local_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(listener.serve(app, Access::new(None, &[]), stop.clone()));
        Server {
            addr,
            stop,
            task,
            started,
            gate,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }

    async fn stop(self) {
        self.gate.add_permits(1000);
        self.stop.cancel();
        self.task.await.expect("the listener ends");
    }
}

async fn send(stream: &mut TcpStream, path: &str) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("send");
}

/// Reads until the connection closes (or `within` passes): what came, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// Reads one answer (up to its body's first bytes) without waiting for the close.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_cap_idle_connections_make_room_and_busy_ones_are_kept() {
    let server = Server::start(Limits {
        max_connections: 4,
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
    })
    .await;
    // Two busy connections (their requests wait in the handler), then two idle ones.
    let mut busy1 = server.connect().await;
    send(&mut busy1, "/slow").await;
    let mut busy2 = server.connect().await;
    send(&mut busy2, "/slow").await;
    wait_until("both handlers", || {
        server.started.load(Ordering::SeqCst) == 2
    })
    .await;
    let mut idle1 = server.connect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut idle2 = server.connect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A fifth: the oldest idle connection makes room, and the newcomer is answered.
    let mut fifth = server.connect().await;
    send(&mut fifth, "/ok").await;
    assert!(read_answer(&mut fifth).await.starts_with("HTTP/1.1 200"));
    let (_, closed) = read_until_closed(&mut idle1, Duration::from_secs(5)).await;
    assert!(closed, "the oldest idle connection was closed");

    // Every connection busy: a newcomer is refused at once, unanswered.
    send(&mut idle2, "/slow").await;
    send(&mut fifth, "/slow").await;
    wait_until("four handlers", || {
        server.started.load(Ordering::SeqCst) == 4
    })
    .await;
    let mut refused = server.connect().await;
    send(&mut refused, "/ok").await;
    let (got, closed) = read_until_closed(&mut refused, Duration::from_secs(5)).await;
    assert!(closed && got.is_empty(), "refused: {got:?}");

    // The busy ones were never touched: they get their answers.
    server.gate.add_permits(4);
    for stream in [&mut busy1, &mut busy2, &mut idle2, &mut fifth] {
        let answer = read_answer(stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_upload_is_closed_after_the_idle_timeout() {
    let server = Server::start(Limits {
        max_connections: 4,
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(1),
    })
    .await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .expect("send");
    let started = Instant::now();
    let (got, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(closed, "{got}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "closed after the idle timeout (1 s), not {took:?}"
    );

    // A complete upload is answered as usual.
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .expect("send");
    let answer = read_answer(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with('3'),
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn over_https_the_password_guards_all_but_the_open_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("a certificate");
    let files = invsync_config::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, certified.cert.pem()).expect("cert");
    std::fs::write(&files.key, certified.signing_key.serialize_pem()).expect("key");
    let app = Router::new()
        .route(
            "/open",
            get(
                |axum::Extension(Authenticated(yes)): axum::Extension<Authenticated>| async move {
                    if yes { "you" } else { "anyone" }
                },
            ),
        )
        .route("/closed", get(|| async { "secret" }));
    let listener = Listener::bind(ListenerConfig {
        section: "test",
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls: Some(&files),
        limits: Limits {
            max_connections: 8,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(30),
        },
    })
    .await
    .expect("bind");
    assert!(listener.url().starts_with("https://127.0.0.1:"));
    let addr = listener.local_addr();
    let access = Access::new(Some(&"pw".to_owned().into()), &["/open"]);
    let stop = CancellationToken::new();
    let task = tokio::spawn(listener.serve(app, access.clone(), stop.clone()));

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("pem"),
        )
        .build()
        .expect("client");
    let get = |path: &str, password: Option<&str>| {
        let mut request = client.get(format!("https://{addr}{path}"));
        if let Some(p) = password {
            request = request.basic_auth("someone", Some(p));
        }
        async move {
            let r = request.send().await.expect("send");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    assert_eq!(get("/open", None).await, (200, "anyone".into()));
    assert_eq!(get("/open", Some("pw")).await, (200, "you".into()));
    assert_eq!(get("/closed", None).await.0, 401);
    assert_eq!(get("/closed", Some("wrong")).await.0, 401);
    assert_eq!(get("/closed", Some("pw")).await, (200, "secret".into()));
    // A new password applies to the next request.
    access.set_password(Some(&"new".to_owned().into()));
    assert_eq!(get("/closed", Some("pw")).await.0, 401);
    assert_eq!(get("/closed", Some("new")).await.0, 200);

    // A connection that never starts its TLS handshake is closed after header_timeout.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a silent TLS connection is closed");

    stop.cancel();
    task.await.expect("the listener ends");
}
