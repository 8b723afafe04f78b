//! Platform benchmarks: the built `invsync` binary syncs generated catalogs (a file
//! accounting master, a store fake served in this process) and the fake counts the calls.
//!
//! The minimum number of API calls is what the documented limits allow for the same work:
//! catalog pages at the largest page size, one open-orders call per status queried, and
//! the writes at the largest batch sizes — for WooCommerce one re-read per batch (the
//! issue's required check before writing) and one batch per 100 changed products; for
//! BigCommerce one variants call per 50 prices, one adjustment per 2,000 quantities and one
//! read-back per 1,000 of them. BigCommerce's wall time is measured against the earliest
//! moment its quota lets the last of those calls start.

use anyhow::{Context as _, bail};
use invsync_test_support::bigcommerce::{BigFake, BigOptions, BigProduct};
use invsync_test_support::catalog::{self, Shape};
use invsync_test_support::fake;
use invsync_test_support::woocommerce::{WooFake, WooOptions, WooProduct};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// 100,000 products with 5% price and 5% quantity differences: about 10,000 changes.
fn shape(products: usize) -> Shape {
    Shape {
        products,
        price_diff: 0.05,
        quantity_diff: 0.05,
        base: 0.0,
        seed: 42,
    }
}

pub(crate) fn binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let binary = match given {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name("invsync"),
    };
    if !binary.exists() {
        bail!(
            "{} does not exist: build it first (cargo build --release)",
            binary.display()
        );
    }
    Ok(binary)
}

fn sync(
    binary: &Path,
    dir: &Path,
    env: &[(&str, &str)],
    store: &str,
) -> anyhow::Result<serde_json::Value> {
    let out = std::process::Command::new(binary)
        .envs(env.iter().copied())
        .arg("--config")
        .arg(dir.join("invsync.toml"))
        .args([
            "sync",
            "--store",
            store,
            "--update",
            "store",
            "--fields",
            "price,quantity",
            "--format",
            "json",
        ])
        .output()
        .context("running invsync")?;
    if !out.status.success() {
        bail!("invsync failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("invsync's JSON report")
}

fn counts(report: &serde_json::Value) -> String {
    let c = &report["counts"];
    format!(
        "status {}, {} updated, {} failed, {} in sync",
        report["status"], c["updated"], c["failed"], c["in_sync"]
    )
}

pub fn woocommerce(products: usize, binary: Option<PathBuf>) -> anyhow::Result<()> {
    let binary = self::binary(binary)?;
    let (accounting, store) = catalog::generate(shape(products));
    let dir = tempfile::tempdir()?;
    catalog::write_csv(&dir.path().join("accounting.csv"), &accounting)?;
    let fake = WooFake::new(WooOptions::default());
    let mut changed = 0usize;
    let mut writes = 0usize;
    for (i, (a, r)) in accounting.iter().zip(&store).enumerate() {
        let price = r.price.map(|p| p.to_string()).unwrap_or_default();
        fake.insert(WooProduct::simple(
            i as u64 + 1,
            &r.sku,
            &price,
            r.quantity.unwrap_or(0),
        ));
        let n = usize::from(a.price != r.price) + usize::from(a.quantity != r.quantity);
        writes += n;
        changed += usize::from(n > 0);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let server = runtime.block_on(fake::serve(fake.router()));
    let options = fake.options().clone();
    std::fs::write(
        dir.path().join("invsync.toml"),
        format!(
            "[database]\nurl = \"sqlite://invsync.db\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\
             [stores.woo]\nkind = \"woocommerce\"\nurl = \"{}\"\nconsumer_key = \"{}\"\nconsumer_secret = \"{}\"\n",
            server.base_url(),
            options.consumer_key,
            options.consumer_secret
        ),
    )?;
    println!("{products} products, {changed} of them different ({writes} field writes)");
    let started = Instant::now();
    let report = sync(&binary, dir.path(), &[], "woo")?;
    let wall = started.elapsed();
    let calls = fake.calls();
    let minimum = products.div_ceil(100) + 1 + 2 * changed.div_ceil(100);
    let batches = calls.iter().filter(|c| c.method == "POST").count();
    let rereads = calls
        .iter()
        .filter(|c| c.method == "GET" && c.query.contains_key("include"))
        .count();
    println!("{}", counts(&report));
    println!(
        "API calls: {} ({} catalog pages, {} re-reads, {} batches, {} orders) — minimum {minimum}: {:.3}× (bound 1.05×); wall {:.1} s",
        calls.len(),
        calls
            .iter()
            .filter(|c| c.path == "/products" && !c.query.contains_key("include"))
            .count(),
        rereads,
        batches,
        calls.iter().filter(|c| c.path == "/orders").count(),
        calls.len() as f64 / minimum as f64,
        wall.as_secs_f64()
    );
    if std::env::var_os("INVSYNC_BENCH_TRACE").is_some() {
        for c in &calls {
            println!(
                "{:>9.3} s {} {} {:?} {}",
                c.at.as_secs_f64(),
                c.method,
                c.path,
                c.query.get("page"),
                c.status
            );
        }
    }
    runtime.block_on(server.stop());
    Ok(())
}

pub fn bigcommerce(
    products: usize,
    quota: u32,
    window: Duration,
    inventory_delay: Duration,
    binary: Option<PathBuf>,
) -> anyhow::Result<()> {
    let binary = self::binary(binary)?;
    let (accounting, store) = catalog::generate(shape(products));
    let dir = tempfile::tempdir()?;
    catalog::write_csv(&dir.path().join("accounting.csv"), &accounting)?;
    let fake = BigFake::new(BigOptions {
        quota,
        window,
        inventory_delay,
        ..BigOptions::default()
    });
    let (mut prices, mut quantities) = (0usize, 0usize);
    let mut seen = HashSet::new();
    for (i, (a, r)) in accounting.iter().zip(&store).enumerate() {
        let id = i as u64 + 1;
        let Some(price) = r.price else { continue };
        fake.insert(
            BigProduct::simple(id, &r.sku, price),
            1,
            r.quantity.unwrap_or(0),
        );
        prices += usize::from(a.price != r.price);
        quantities += usize::from(a.quantity != r.quantity);
        seen.insert(id);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let server = runtime.block_on(fake::serve(fake.router()));
    std::fs::write(
        dir.path().join("invsync.toml"),
        format!(
            "[database]\nurl = \"sqlite://invsync.db\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\
             [stores.big]\nkind = \"bigcommerce\"\nstore_hash = \"{}\"\naccess_token = \"{}\"\nbase_url = \"{}\"\n",
            fake.options().store_hash,
            fake.options().access_token,
            fake.base_url(&server)
        ),
    )?;
    println!(
        "{} products, {prices} price and {quantities} quantity differences; quota {quota} per {} ms",
        seen.len(),
        window.as_millis()
    );
    let started = Instant::now();
    let report = sync(&binary, dir.path(), &[], "big")?;
    let wall = started.elapsed();
    let calls = fake.calls();
    let ok: Vec<_> = calls.iter().filter(|c| c.status != 429).collect();
    let minimum = products.div_ceil(250)
        + 3
        + prices.div_ceil(50)
        + quantities.div_ceil(2000)
        + quantities.div_ceil(1000);
    let of = |path: &str| ok.iter().filter(|c| c.path.starts_with(path)).count();
    println!("{}", counts(&report));
    println!(
        "API calls: {} answered + {} throttled ({} catalog pages, {} variant batches, {} adjustments, {} read-backs, {} orders) — minimum {minimum}: {:.3}× (bound 1.05×)",
        ok.len(),
        calls.len() - ok.len(),
        of("/v3/catalog/products"),
        of("/v3/catalog/variants"),
        of("/v3/inventory/adjustments"),
        of("/v3/inventory/locations"),
        of("/v2/orders"),
        ok.len() as f64 / minimum as f64,
    );
    // What the rate limit allows: a fresh window's whole quota at once, then `quota` more
    // after each reset, so the k-th call (from 0) cannot start before ⌊k / quota⌋ windows;
    // the last of the minimum calls starts after ⌊(minimum − 1) / quota⌋ windows. The
    // steady rate (quota per window, no burst) is shown beside it: the looser figure.
    let windows = minimum.saturating_sub(1) / (quota as usize).max(1);
    let allowed = window.as_secs_f64() * windows as f64;
    let steady = window.as_secs_f64() * minimum as f64 / f64::from(quota.max(1));
    let wall_s = wall.as_secs_f64();
    if windows == 0 {
        println!(
            "wall {wall_s:.1} s (process start to exit); {minimum} calls fit in one window's quota: the rate limit does not bind"
        );
    } else {
        println!(
            "wall {wall_s:.1} s (process start to exit); the rate limit allows {minimum} calls in {allowed:.1} s ({windows} resets): {:.3}× (bound 1.2×); at the steady rate {steady:.1} s: {:.3}×",
            wall_s / allowed,
            wall_s / steady
        );
    }
    runtime.block_on(server.stop());
    Ok(())
}
