//! `soak`: the built daemon for a long time with many schedules against the platform fakes,
//! with faults switched on; reports runs by status, failures by cause and the daemon's RSS
//! over time (it must stay flat).
//!
//! Set-up: one Postgres database (a fresh one on the test server), a file accounting export
//! of `--products` items, and `--schedules` stores with one schedule each — four in five
//! Shopify fakes behind the fault layer (`invsync_test_support::faults`), one in five a
//! file store. While it runs, the harness changes the accounting export and the shops'
//! stock (so every run has work) and, with `--every` set, makes one schedule due every
//! `every / schedules` by moving its `next_due_at` to now: what the database clock does
//! after 15 minutes, compressed, so an hour holds more than four slots per schedule. The
//! daemon itself is unchanged; `--every 0` keeps the real cadence (15 minutes, the product's
//! minimum).

use anyhow::{Context as _, bail};
use invsync_test_support::fake::{self, FakeServer};
use invsync_test_support::faults::{Fault, Faults, Match};
use invsync_test_support::shopify::{FakeShopify, Limits};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKEN: &str = "shpat_soak-token";

pub struct Options {
    pub duration: Duration,
    pub schedules: usize,
    pub faults: bool,
    pub every: Duration,
    pub sample: Duration,
    pub products: usize,
    pub binary: Option<PathBuf>,
}

struct Shop {
    fake: FakeShopify,
    faults: Faults,
    _server: FakeServer,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let binary = crate::platforms::binary(o.binary.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(soak(o, binary))
}

fn sku(i: usize) -> String {
    format!("SKU-{i:04}")
}

/// Writes the accounting export atomically: the daemon may be reading it.
fn write_accounting(dir: &Path, rows: &[(String, i64, i64)]) -> anyhow::Result<()> {
    let mut text = String::from("sku,name,price,quantity\n");
    for (sku, cents, quantity) in rows {
        text.push_str(&format!(
            "{sku},{sku},{}.{:02},{quantity}\n",
            cents / 100,
            cents % 100
        ));
    }
    let tmp = dir.join(".accounting.csv.soak");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join("accounting.csv"))?;
    Ok(())
}

fn arm(faults: &Faults) {
    // The weather of a bad day, per request: bursts of 5xx, throttling with Retry-After,
    // hung connections (longer than the store's 2 s timeout) and writes whose response is
    // lost after the shop applied them.
    faults.sometimes(0.03, Match::Any, Fault::status(503));
    faults.sometimes(0.01, Match::Any, Fault::status(500));
    faults.sometimes(0.02, Match::Any, Fault::throttled("1"));
    faults.sometimes(0.01, Match::Any, Fault::Hang(Duration::from_secs(30)));
    faults.sometimes(
        0.05,
        Match::body("inventorySetQuantities"),
        Fault::ApplyThenDrop,
    );
}

async fn soak(o: Options, binary: PathBuf) -> anyhow::Result<()> {
    let database = invsync_test_support::pg::fresh_database().await;
    let dir = tempfile::tempdir()?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut accounting: Vec<(String, i64, i64)> = (0..o.products)
        .map(|i| {
            (
                sku(i),
                rng.random_range(100..10_000),
                rng.random_range(0..50),
            )
        })
        .collect();
    write_accounting(dir.path(), &accounting)?;
    let mut config = format!(
        "[database]\nurl = \"{}\"\n[daemon]\nlisten = \"off\"\npoll = \"1s\"\nshutdown_grace = \"10s\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n",
        database.url()
    );
    let mut shops = Vec::new();
    for i in 0..o.schedules {
        if i % 5 == 4 {
            let mut text = String::from("sku,name,price,quantity\n");
            for (sku, cents, quantity) in &accounting {
                text.push_str(&format!(
                    "{sku},{sku},{}.{:02},{}\n",
                    cents / 100,
                    cents % 100,
                    quantity + 1
                ));
            }
            std::fs::write(dir.path().join(format!("s{i}.csv")), text)?;
            config.push_str(&format!(
                "[stores.s{i}]\nkind = \"file\"\npath = \"s{i}.csv\"\n"
            ));
        } else {
            let fake = FakeShopify::new(TOKEN, Limits::standard());
            for (sku, cents, _) in &accounting {
                fake.add_variant(
                    sku,
                    &format!("{}.{:02}", cents / 100, cents % 100),
                    rng.random_range(0..50),
                );
            }
            let faults = Faults::seeded(i as u64);
            if o.faults {
                arm(&faults);
            }
            let server = fake::serve(faults.layer(fake.router())).await;
            config.push_str(&format!(
                "[stores.s{i}]\nkind = \"shopify\"\nshop = \"s{i}.myshopify.com\"\naccess_token = {{ env = \"SOAK_SHOP_TOKEN\" }}\nbase_url = \"{}\"\ntimeout = \"2s\"\nretries = 2\nretry_backoff = \"100ms\"\n",
                server.base_url()
            ));
            shops.push(Shop {
                fake,
                faults,
                _server: server,
            });
        }
        config.push_str(&format!(
            "[[schedules]]\nname = \"s{i}\"\nstore = \"s{i}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n"
        ));
    }
    let config_path = dir.path().join("invsync.toml");
    std::fs::write(&config_path, config)?;
    let log_path = dir.path().join("daemon.log");
    let mut child = std::process::Command::new(&binary)
        .arg("--config")
        .arg(&config_path)
        .arg("daemon")
        .env("SOAK_SHOP_TOKEN", TOKEN)
        .env("INVSYNC_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .context("starting the daemon")?;
    let pid = child.id();
    println!(
        "soak: daemon pid {pid}, {} schedules ({} Shopify fakes, faults {}), {} products, for {}; one slot per schedule every {}",
        o.schedules,
        shops.len(),
        if o.faults { "on" } else { "off" },
        o.products,
        humantime::format_duration(o.duration),
        if o.every.is_zero() {
            "15m (real cadence)".to_owned()
        } else {
            humantime::format_duration(o.every).to_string()
        }
    );

    let pool = sqlx::PgPool::connect(database.url()).await?;
    let started = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut next_due = Duration::from_secs(30);
    let mut next_weather = Duration::from_secs(5);
    let mut round_robin = 0usize;
    let step = if o.every.is_zero() {
        Duration::MAX
    } else {
        o.every / o.schedules.max(1) as u32
    };
    while started.elapsed() < o.duration {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the daemon exited ({status}) after {:?}; log:\n{}",
                started.elapsed(),
                tail(&log_path)
            );
        }
        let now = started.elapsed();
        if now >= next_sample {
            if let Some(kb) = vm_rss_kb(pid) {
                samples.push((now.as_secs_f64(), kb / 1024.0));
            }
            next_sample += o.sample;
        }
        while step != Duration::MAX && now >= next_due {
            let name = format!("s{}", round_robin % o.schedules.max(1));
            round_robin += 1;
            // Ignored when the table is not there yet (the daemon is still migrating).
            let _ = sqlx::query("UPDATE sync_schedules SET next_due_at = now() WHERE name = $1")
                .bind(&name)
                .execute(&pool)
                .await;
            next_due += step;
        }
        if now >= next_weather {
            // Stock and prices move on both sides, so runs have work to do.
            for _ in 0..2 {
                let i = rng.random_range(0..accounting.len());
                accounting[i].2 = rng.random_range(0..50);
                if rng.random_bool(0.3) {
                    accounting[i].1 = rng.random_range(100..10_000);
                }
            }
            write_accounting(dir.path(), &accounting)?;
            if !shops.is_empty() {
                let shop = &shops[rng.random_range(0..shops.len())];
                shop.fake.set_available(
                    &sku(rng.random_range(0..o.products)),
                    rng.random_range(0..50),
                );
                // Now and then a shop is down for longer than its retries last: those runs
                // fail, and the next slot catches up.
                if o.faults && rng.random_bool(0.05) {
                    let shop = &shops[rng.random_range(0..shops.len())];
                    shop.faults.next(8, Match::Any, Fault::status(503));
                }
            }
            next_weather += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(kb) = vm_rss_kb(pid) {
        samples.push((started.elapsed().as_secs_f64(), kb / 1024.0));
    }
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let stop = Instant::now();
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if stop.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The record.
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM sync_runs GROUP BY status ORDER BY 2 DESC")
            .fetch_all(&pool)
            .await?;
    let run_errors: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status || ': ' || coalesce(error, '(no run error)'), count(*) FROM sync_runs WHERE status IN ('failed', 'partial', 'interrupted', 'skipped') GROUP BY 1",
    )
    .fetch_all(&pool)
    .await?;
    let item_errors: Vec<(String, i64)> = sqlx::query_as(
        "SELECT 'item: ' || coalesce(error, ''), count(*) FROM sync_run_items WHERE outcome = 'failed' GROUP BY 1",
    )
    .fetch_all(&pool)
    .await?;
    let (runs, items): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM sync_runs), (SELECT count(*) FROM sync_run_items)",
    )
    .fetch_one(&pool)
    .await?;
    pool.close().await;

    let mut causes: BTreeMap<String, i64> = BTreeMap::new();
    for (error, n) in run_errors.into_iter().chain(item_errors) {
        *causes.entry(cause(&error)).or_default() += n;
    }
    let mut injected: BTreeMap<String, u64> = BTreeMap::new();
    let (mut requests, mut replays, mut applied) = (0, 0, 0);
    for shop in &shops {
        for (k, v) in shop.faults.injected() {
            *injected.entry(k).or_default() += v;
        }
        requests += shop.faults.requests();
        let stats = shop.fake.stats();
        replays += stats.idempotent_replays;
        applied += stats.quantity_calls_applied;
    }

    let elapsed = started.elapsed();
    println!(
        "\nsoak: {} of {} schedules; daemon stopped with {}",
        humantime::format_duration(Duration::from_secs(elapsed.as_secs())),
        o.schedules,
        match exit {
            Some(s) => s.to_string(),
            None => "no exit within 60 s of SIGTERM (killed)".to_owned(),
        }
    );
    println!("runs: {runs} ({items} item rows)");
    for (status, n) in &by_status {
        println!("  {status:<12} {n}");
    }
    println!("failures by cause (runs and failed items):");
    let mut causes: Vec<(String, i64)> = causes.into_iter().collect();
    causes.sort_by_key(|c| std::cmp::Reverse(c.1));
    for (c, n) in &causes {
        println!("  {n:>6}  {c}");
    }
    println!(
        "faults injected over {requests} requests: {}",
        injected
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "Shopify quantity writes applied: {applied}; answered by idempotent replay (retries of lost responses): {replays}"
    );
    report_rss(&samples, elapsed);
    let running = by_status
        .iter()
        .find(|(s, _)| s == "running")
        .map_or(0, |(_, n)| *n);
    if running > 0 {
        bail!("{running} runs are still `running` after the daemon stopped");
    }
    Ok(())
}

/// An error message with the parts that differ per run (ids, numbers, SKUs) blanked, so
/// the same cause counts once.
fn cause(error: &str) -> String {
    let mut out = String::new();
    let mut last_hash = false;
    for c in error.chars() {
        if c.is_ascii_digit() {
            if !last_hash {
                out.push('#');
            }
            last_hash = true;
        } else {
            out.push(c);
            last_hash = false;
        }
    }
    let out = out.replace("SKU-#", "SKU");
    match out.char_indices().nth(140) {
        Some((i, _)) => format!("{}…", &out[..i]),
        None => out,
    }
}

fn vm_rss_kb(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// RSS samples: start, middle, end, max, and the least-squares slope after warm-up (the
/// first tenth of the run, while allocator arenas and connection pools fill).
fn report_rss(samples: &[(f64, f64)], elapsed: Duration) {
    if samples.is_empty() {
        println!("RSS: no samples");
        return;
    }
    let at = |i: usize| samples[i.min(samples.len() - 1)];
    let max = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    println!(
        "RSS (MB): start {:.1} (at {:.0} s), middle {:.1}, end {:.1}, max {:.1}",
        at(0).1,
        at(0).0,
        at(samples.len() / 2).1,
        at(samples.len() - 1).1,
        max
    );
    let warm = elapsed.as_secs_f64() / 10.0;
    let steady: Vec<(f64, f64)> = samples.iter().copied().filter(|s| s.0 >= warm).collect();
    if steady.len() >= 3 {
        let n = steady.len() as f64;
        let mx = steady.iter().map(|s| s.0).sum::<f64>() / n;
        let my = steady.iter().map(|s| s.1).sum::<f64>() / n;
        let sxy: f64 = steady.iter().map(|s| (s.0 - mx) * (s.1 - my)).sum();
        let sxx: f64 = steady.iter().map(|s| (s.0 - mx) * (s.0 - mx)).sum();
        let slope = if sxx > 0.0 { sxy / sxx * 3600.0 } else { 0.0 };
        let first = steady[0].1;
        let last = steady[steady.len() - 1].1;
        println!(
            "RSS after warm-up ({:.0} s on): {first:.1} → {last:.1} MB, slope {slope:+.2} MB/hour over {} samples",
            warm,
            steady.len()
        );
    }
    println!("RSS series (s, MB):");
    let line: Vec<String> = samples
        .iter()
        .map(|(t, mb)| format!("{t:.0}:{mb:.1}"))
        .collect();
    for chunk in line.chunks(12) {
        println!("  {}", chunk.join("  "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_blank_what_differs_per_run() {
        assert_eq!(
            cause("failed: s12: HTTP 503: server error after 3 attempts"),
            "failed: s#: HTTP #: server error after # attempts"
        );
        assert_eq!(cause("item: SKU-0042 stale"), "item: SKU stale");
    }
}
