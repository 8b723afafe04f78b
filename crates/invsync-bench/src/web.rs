//! `invsync-bench web`: the "Synchronize Products" page on a big store (issue 16, item
//! 8). It writes an accounting CSV and a store CSV of `--products` rows, starts
//! `invsync daemon` with a schedule for the store (which runs at start: the daemon reads
//! both catalogs, as a daemon on that store does anyway), and measures:
//!
//! * the daemon's RSS once that run is over — the daemon without the page;
//! * the first view of the page (the status read it keeps);
//! * the first page served again and again, other pages, a filter and a search, from the
//!   kept read: the 300 ms target;
//! * the daemon's RSS with the page open — against the 2× target.

use crate::idle_flood::{Daemon, get, get_within, port, read, rss_mb, wait};
use anyhow::{Context as _, bail};
use invsync_test_support::catalog::{self, Shape};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Options {
    pub products: usize,
    /// Requests per measured page.
    pub requests: usize,
    pub binary: Option<PathBuf>,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let binary = crate::platforms::binary(o.binary)?;
    let dir = tempfile::tempdir()?;
    let (accounting, store) = catalog::generate(Shape::new(o.products));
    catalog::write_csv(&dir.path().join("accounting.csv"), &accounting)?;
    catalog::write_csv(&dir.path().join("s.csv"), &store)?;
    drop((accounting, store));
    let config = dir.path().join("invsync.toml");
    std::fs::write(
        &config,
        "[database]\nurl = \"sqlite://invsync.db\"\n[daemon]\nlisten = \"127.0.0.1:0\"\npoll = \"1s\"\n\
         [accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\
         [stores.s]\nkind = \"file\"\npath = \"s.csv\"\n\
         [[schedules]]\nstore = \"s\"\nevery = \"24h\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n",
    )?;
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon(
        Command::new(&binary)
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
    let started = Instant::now();
    wait(Duration::from_secs(600), || {
        read(&log).contains("run finished").then_some(())
    })
    .context("the schedule's first run")?;
    println!(
        "{} products; the schedule's run at start took {:.1} s",
        o.products,
        started.elapsed().as_secs_f64()
    );
    // Let the allocator settle after the run.
    std::thread::sleep(Duration::from_secs(3));
    let pid = daemon.0.id();
    let without = rss_mb(pid).context("RSS")?;
    println!("daemon RSS without the page (after its run): {without:.1} MB");

    let t = Instant::now();
    let (status, body) = get_within(port, "/products?store=s", Duration::from_secs(600))
        .context("the first view")?;
    if status != 200 || !body.contains("products, read") {
        bail!("the first view answered {status}");
    }
    println!(
        "first view (reads and keeps the store's status): {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );

    let pages = o.products.div_ceil(50);
    for (what, path) in [
        ("first page", "/products?store=s".to_owned()),
        (
            "first page, All filter",
            "/products?store=s&status=all&page=1".to_owned(),
        ),
        (
            "middle page",
            format!("/products?store=s&page={}", pages / 2),
        ),
        ("last page", format!("/products?store=s&page={pages}")),
        (
            "Out of Sync filter",
            "/products?store=s&status=out-of-sync".to_owned(),
        ),
        ("Base filter", "/products?store=s&status=base".to_owned()),
        (
            "search (one SKU)",
            "/products?store=s&q=SKU-00000099".to_owned(),
        ),
        (
            "search (no match)",
            "/products?store=s&q=nothing-like-it".to_owned(),
        ),
    ] {
        let mut times = Vec::with_capacity(o.requests);
        for _ in 0..o.requests.max(1) {
            let t = Instant::now();
            match get(port, &path) {
                Some((200, _)) => times.push(t.elapsed().as_secs_f64() * 1000.0),
                other => bail!("{path}: {:?}", other.map(|(s, _)| s)),
            }
        }
        times.sort_by(f64::total_cmp);
        let p50 = times[times.len() / 2];
        let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
        let max = times[times.len() - 1];
        println!(
            "{what:<24} p50 {p50:7.1} ms   p95 {p95:7.1} ms   max {max:7.1} ms   ({} requests)",
            times.len()
        );
    }
    let with = rss_mb(pid).context("RSS")?;
    println!(
        "daemon RSS with the page open: {with:.1} MB = {:.2}× the daemon without it",
        with / without
    );
    daemon.stop();
    Ok(())
}
