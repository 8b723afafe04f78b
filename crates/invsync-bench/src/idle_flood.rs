//! `invsync-bench idle-flood`: the daemon under a flood of idle connections (issue 13,
//! item 3). It starts `invsync daemon` under a descriptor limit (`ulimit -n`), opens
//! `--connections` connections that never send a byte, and measures what the issue saw
//! break: `/healthz` (latency of fresh probes, before and during the flood), a SIGHUP
//! reload that adds a schedule, and the run of that schedule opening its CSV files; plus
//! the daemon's RSS and what its listener did (`/metrics`).

use anyhow::{Context as _, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Options {
    pub connections: usize,
    pub nofile: u64,
    pub probes: usize,
    pub binary: Option<PathBuf>,
}

const STORE: &str = "sku,name,price,quantity\nA,A,1.50,0\nB,B,2.00,3\n";

fn schedule(store: &str) -> String {
    format!(
        "[[schedules]]\nstore = \"{store}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n"
    )
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let binary = crate::platforms::binary(o.binary)?;
    // This process holds every connection of the flood.
    let wanted = u64::try_from(o.connections).unwrap_or(u64::MAX) + 256;
    let own = rlimit::increase_nofile_limit(wanted)?;
    if own < wanted {
        bail!("this process may open only {own} files; {wanted} are needed (raise its hard limit)");
    }
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("accounting.csv"),
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,3\n",
    )?;
    std::fs::write(dir.path().join("s0.csv"), STORE)?;
    std::fs::write(dir.path().join("s1.csv"), STORE)?;
    let base = "[database]\nurl = \"sqlite://invsync.db\"\n[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"200ms\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.s0]\nkind = \"file\"\npath = \"s0.csv\"\n[stores.s1]\nkind = \"file\"\npath = \"s1.csv\"\n";
    let config = dir.path().join("invsync.toml");
    std::fs::write(&config, format!("{base}{}", schedule("s0")))?;
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon(
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {} && exec \"$0\" \"$@\"", o.nofile))
            .arg(&binary)
            .arg("--config")
            .arg(&config)
            .arg("daemon")
            .env("INVSYNC_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("start the daemon")?,
    );
    let port = wait(Duration::from_secs(60), || port(&log)).context("the daemon's port")?;
    wait(Duration::from_secs(60), || {
        (read(&log).matches("run finished").count() >= 1).then_some(())
    })
    .context("the first run")?;
    println!(
        "daemon under `ulimit -n {}`: {}",
        o.nofile,
        read(&log)
            .lines()
            .find(|l| l.contains("descriptors:"))
            .and_then(|l| l.split("runs ").nth(1))
            .unwrap_or("(no descriptor line in its log)")
    );

    let quiet = probe(port, o.probes);
    println!("/healthz, no flood:       {quiet}");

    let started = Instant::now();
    let mut flood = Vec::with_capacity(o.connections);
    let mut refused = 0;
    for _ in 0..o.connections {
        match TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5)) {
            Ok(s) => flood.push(s),
            Err(_) => refused += 1,
        }
    }
    println!(
        "opened {} idle connections in {:.2} s ({refused} could not connect)",
        flood.len(),
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(1));
    let loud = probe(port, o.probes);
    println!("/healthz, {} idle:  {loud}", flood.len());
    let rss = rss_mb(daemon.0.id());
    println!(
        "daemon RSS with the flood open: {}",
        rss.map_or("?".into(), |m| format!("{m:.1} MB"))
    );

    std::fs::write(
        &config,
        format!("{base}{}{}", schedule("s0"), schedule("s1")),
    )?;
    let hup = Instant::now();
    let sent = Command::new("kill")
        .arg("-HUP")
        .arg(daemon.0.id().to_string())
        .status()?;
    if !sent.success() {
        bail!("kill -HUP failed");
    }
    let reloaded = wait(Duration::from_secs(60), || {
        read(&log)
            .contains("configuration reloaded")
            .then(|| hup.elapsed())
    });
    let ran = wait(Duration::from_secs(60), || {
        (read(&log).matches("run finished").count() >= 2).then(|| hup.elapsed())
    });
    let secs = |d: Option<Duration>| {
        d.map_or("never (60 s)".into(), |d| {
            format!("{:.3} s", d.as_secs_f64())
        })
    };
    println!(
        "SIGHUP with the flood open: reloaded after {}, the added schedule's run finished after {}",
        secs(reloaded),
        secs(ran)
    );
    let too_many = read(&log).contains("Too many open files");
    println!("\"Too many open files\" in the log: {too_many}");

    let (_, page) = get(port, "/metrics").unwrap_or_default();
    for line in page
        .lines()
        .filter(|l| l.starts_with("invsync_http_connections"))
    {
        println!("  {line}");
    }
    drop(flood);
    daemon.stop();
    Ok(())
}

pub(crate) struct Daemon(pub(crate) Child);

impl Daemon {
    pub(crate) fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

pub(crate) fn port(log: &Path) -> Option<u16> {
    read(log)
        .lines()
        .find(|l| l.contains("serving /healthz and /metrics"))?
        .split("addr=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

pub(crate) fn wait<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = check() {
            return Some(t);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A GET on a fresh connection, answered within 10 s: (status, body).
pub(crate) fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_within(port, path, Duration::from_secs(10))
}

/// A GET on a fresh connection, answered within `limit`: (status, body).
pub(crate) fn get_within(port: u16, path: &str, limit: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer.split_once("\r\n\r\n")?.1.to_owned()))
}

/// `n` probes of /healthz, one after the other: p50, max, and how many failed.
fn probe(port: u16, n: usize) -> String {
    let mut times = Vec::with_capacity(n);
    let mut failed = 0;
    for _ in 0..n.max(1) {
        let t = Instant::now();
        match get(port, "/healthz") {
            Some((200, _)) => times.push(t.elapsed().as_secs_f64() * 1000.0),
            _ => failed += 1,
        }
    }
    times.sort_by(f64::total_cmp);
    let p50 = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    let max = times.last().copied().unwrap_or(f64::NAN);
    format!(
        "p50 {p50:.2} ms, max {max:.2} ms over {} probes, {failed} failed",
        times.len() + failed
    )
}

pub(crate) fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
