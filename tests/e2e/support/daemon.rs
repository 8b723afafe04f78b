//! `invsync daemon` as a process: started with its log (stderr) in a file, stopped by
//! signal or on drop, its port read from the log, and plain HTTP/1.1 requests to it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon process; killed (and reaped) when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// `invsync --config CONFIG daemon` logging at `info`, with `env` set.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(config, env, None)
    }

    /// With `nofile`: started with RLIMIT_NOFILE (soft and hard) at that, as under a unit
    /// whose limit is that low — the daemon cannot raise it.
    pub fn start_with(config: &Path, env: &[(&str, &str)], nofile: Option<u64>) -> Daemon {
        let log = config.with_extension(format!("{}.log", super::unique()));
        let mut cmd = match nofile {
            None => super::command(),
            Some(n) => {
                let mut sh = Command::new("sh");
                super::clean_env(&mut sh)
                    .arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(super::binary());
                sh
            }
        };
        cmd.arg("--config")
            .arg(config)
            .arg("daemon")
            .env("INVSYNC_LOG", "info")
            .envs(env.iter().copied());
        Daemon::spawn(cmd, log)
    }

    /// Spawns `cmd` (an `invsync … daemon` command) with its stderr into the file `log`.
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn the daemon");
        Daemon { child, log }
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `done` holds for the log; fails with the log after `within`.
    pub fn wait_log(&self, what: &str, within: Duration, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if done(&log) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port of /healthz and /metrics, from the daemon's log: tests listen on port 0, so
    /// no other test can take a port picked in advance before the daemon binds it.
    pub fn http_port(&self) -> u16 {
        Daemon::port_in(&self.log, Duration::from_secs(60))
    }

    /// [`Daemon::http_port`] from the log file `log`, waiting up to `within`.
    pub fn port_in(log: &Path, within: Duration) -> u16 {
        Daemon::port_of_line(log, "serving /healthz and /metrics", within)
    }

    /// The port of the first log line that contains `what` (each listener logs the
    /// address it bound, `addr=HOST:PORT`), waiting up to 60 s.
    pub fn port(&self, what: &str) -> u16 {
        Daemon::port_of_line(&self.log, what, Duration::from_secs(60))
    }

    fn port_of_line(log: &Path, what: &str, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(port) = Daemon::served_port(log, what) {
                return port;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never logged `{what}`: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port the log at `log` gives on its first line containing `what`, if any yet.
    fn served_port(log: &Path, what: &str) -> Option<u16> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains(what))
            .and_then(|l| l.split("addr=").nth(1))
            .and_then(|a| a.split_whitespace().next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
    }

    pub fn signal(&self, sig: &str) {
        super::signal(self.child.id(), sig);
    }

    /// Waits for the process to exit; returns its exit code. In an async test the
    /// runtime's other tasks (the fakes the daemon talks to) go on meanwhile.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        tokio::task::block_in_place(|| {
            loop {
                if let Some(status) = self.child.try_wait().expect("wait") {
                    return status.code();
                }
                assert!(
                    Instant::now() < deadline,
                    "the daemon did not exit; log:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    }

    /// SIGTERM, then the daemon must exit with 0 within `within`.
    pub fn stop(&mut self, within: Duration) {
        self.signal("TERM");
        assert_eq!(self.wait_exit(within), Some(0), "log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.1, the connection closed after the answer),
/// with HTTP Basic `auth` if given: the status (0 when nothing answered) and the whole
/// answer, head and body. Reads wait up to 10 s each.
pub fn http_get_raw(port: u16, path: &str, auth: Option<&str>) -> (u16, String) {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(stream, "{}", request(path, auth));
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    (status_of(&response).unwrap_or(0), response)
}

/// `GET path` on 127.0.0.1:`port`: the status (0 when nothing answered) and the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let (status, response) = http_get_raw(port, path, None);
    (status, body_of(&response))
}

/// A GET that must be answered within `within` (connect, request and answer), or `None`.
pub fn http_get_within(port: u16, path: &str, within: Duration) -> Option<(u16, String)> {
    let started = Instant::now();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, within).ok()?;
    stream.set_read_timeout(Some(within)).ok()?;
    write!(stream, "{}", request(path, None)).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    if started.elapsed() > within {
        return None;
    }
    Some((status_of(&response)?, body_of(&response)))
}

fn request(path: &str, auth: Option<&str>) -> String {
    let auth = auth.map_or_else(String::new, |a| format!("Authorization: Basic {a}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
}

fn status_of(response: &str) -> Option<u16> {
    response.split_whitespace().nth(1)?.parse().ok()
}

fn body_of(response: &str) -> String {
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The value of an unlabelled metric in a /metrics page.
pub fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
