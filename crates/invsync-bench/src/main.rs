//! `invsync-bench`: the project's benchmark harness. Each subcommand measures one target
//! of docs/benchmarks.md and prints the numbers to copy there. Build it in release mode:
//!
//! ```text
//! cargo run --release -p invsync-bench -- plan --products 1000000
//! cargo run --release -p invsync-bench -- dry-run --products 1000000
//! cargo run --release -p invsync-bench -- record-items --items 100000
//! cargo run --release -p invsync-bench -- recovery --intents 1000000
//! cargo run --release -p invsync-bench -- woocommerce --products 100000
//! cargo run --release -p invsync-bench -- bigcommerce --products 100000
//! cargo run --release -p invsync-bench -- quickbooks-online
//! cargo run --release -p invsync-bench -- shopify --products 10000
//! cargo run --release -p invsync-bench -- simulate --seeds 5 --ticks 500
//! cargo run --release -p invsync-bench -- watch-pass --products 100000
//! cargo run --release -p invsync-bench -- soak --duration 1h --schedules 50 --faults on
//! cargo run --release -p invsync-bench -- idle-flood --connections 1100 --nofile 1024
//! cargo run --release -p invsync-bench -- web-connector --requests 2000 --response-kib 150
//! cargo run --release -p invsync-bench -- web-connector-session --items 50000
//! cargo run --release -p invsync-bench -- web --products 100000
//! ```
//!
//! Benchmarks are commands, never timed tests: a loaded CI machine must not fail a build.

mod idle_flood;
mod platforms;
mod quickbooks_desktop;
mod quickbooks_online;
mod recovery;
mod simulate;
mod soak;
mod watch_pass;
mod web;
mod web_connector;
mod web_connector_session;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use invsync_core::{
    FieldSet, InOrdersMode, ItemOutcome, MasterQuantities, OrderBook, PlanInput, PlanRequest,
    QuantityRules, Selection, Side, Trigger, match_catalogs, plan,
};
use invsync_test_support::catalog::{self, Shape};
use invsync_test_support::shopify::{FakeShopify, Limits};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "invsync benchmarks (see docs/benchmarks.md)")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Match + classify + plan N products in memory, on one thread; time and peak RSS
    Plan {
        #[arg(long, default_value_t = 1_000_000)]
        products: usize,
        /// Repetitions; the best and the median are reported
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// `invsync sync --dry-run` over two generated CSV files of N rows; wall time
    DryRun {
        #[arg(long, default_value_t = 1_000_000)]
        products: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// The invsync binary to run [default: next to this one]
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// `invsync daemon` holding N schedules: delay from due time to run start (p50/p99/max),
    /// then idle CPU and RSS once every schedule has run
    Daemon {
        #[arg(long, default_value_t = 1000)]
        schedules: usize,
        /// Due times are spread evenly over this many seconds after the daemon is ready
        #[arg(long, default_value_t = 60)]
        spread: u64,
        /// How long to measure idle CPU afterwards, in seconds
        #[arg(long, default_value_t = 60)]
        idle: u64,
        /// The invsync binary to run [default: next to this one]
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Record N run items in Postgres (a fresh database on the test server, or --database-url)
    RecordItems {
        #[arg(long, default_value_t = 100_000)]
        items: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Any run-history database URL [default: a fresh database on $INVSYNC_TEST_POSTGRES_URL's server]
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Recovery of a run that died with N writes intended (all but the last batch of 250
    /// recorded as items): marking, settling step by step, the recount (issue 13, item 1)
    Recovery {
        #[arg(long, default_value_t = 1_000_000)]
        intents: usize,
        /// postgres, sqlite or both
        #[arg(long, default_value = "both", value_parser = ["postgres", "sqlite", "both"])]
        backend: String,
        /// Also time the statement recovery used before issue 13 (quadratic: keep N small)
        #[arg(long)]
        old: bool,
    },
    /// `invsync sync` of N products (~10% of them different) into the WooCommerce fake:
    /// API calls against the minimum the batch limits allow
    Woocommerce {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// `invsync sync` of N products (~10% of them different) into the BigCommerce fake:
    /// API calls against the minimum, wall time against what the rate limit allows
    Bigcommerce {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// Requests per window (BigCommerce Standard/Plus: 150)
        #[arg(long, default_value_t = 150)]
        quota: u32,
        /// The rate-limit window in ms (BigCommerce: 30000; shorter keeps the run short,
        /// the bound scales with it)
        #[arg(long, default_value_t = 3000)]
        window_ms: u64,
        /// How long the fake's inventory takes to show an adjustment
        #[arg(long, default_value_t = 200)]
        inventory_delay_ms: u64,
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// The qbXML layer against the QuickBooks Desktop company fake: N items read, P price
    /// mods and A adjustments in message sets; round trips against the least possible and
    /// the fake's latency model (150 ms + 0.2 ms per item) against the CPU time spent
    QuickbooksDesktop {
        #[arg(long, default_value_t = 50_000)]
        items: usize,
        #[arg(long, default_value_t = 5_000)]
        prices: usize,
        #[arg(long, default_value_t = 5_000)]
        adjustments: usize,
        #[arg(long, default_value_t = 500)]
        max_returned: u32,
        /// Mods or adjustments per qbXML message set
        #[arg(long, default_value_t = 100)]
        per_message_set: usize,
    },
    /// QuickBooks Online against its fake at the documented limits: read N items, write
    /// quantity adjustments and price updates; wall time vs. the least the limits allow
    QuickbooksOnline {
        #[arg(long, default_value_t = 50_000)]
        items: usize,
        #[arg(long, default_value_t = 5_000)]
        adjustments: usize,
        #[arg(long, default_value_t = 5_000)]
        prices: usize,
        /// Divide the one-minute limit window by this (quick checks); 1 = as documented
        #[arg(long, default_value_t = 1)]
        time_scale: u32,
    },
    /// `invsync sync` (price and quantity) of N products to the Shopify fake under its
    /// rate limit; wall time against the bound the cost bucket sets
    Shopify {
        #[arg(long, default_value_t = 10_000)]
        products: usize,
        /// Bucket size in cost points (Standard: 1000)
        #[arg(long, default_value_t = 1000.0)]
        bucket: f64,
        /// Points restored per second (Standard: 100; Advanced 200; Plus 1000)
        #[arg(long, default_value_t = 100.0)]
        restore_rate: f64,
        /// Read with a bulk operation above this many variants (the store's bulk_above)
        #[arg(long, default_value_t = 1000)]
        bulk_above: u64,
        /// Delay the fake adds to every GraphQL answer, in milliseconds
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Later syncs after the first, 15 shop minutes apart (incremental reads, ADR 0017)
        #[arg(long, default_value_t = 0)]
        ticks: u32,
        /// Stock levels edited by hand in the shop before each later sync
        #[arg(long, default_value_t = 100)]
        tick_changes: usize,
        /// The store's full_read_every ("0s": every sync reads the whole catalog)
        #[arg(long, default_value = "24h")]
        full_read_every: String,
        /// Every price differs (a catalog-wide price change, issue 17), not 1 in 100
        #[arg(long)]
        all_prices: bool,
        /// The store's bulk_write_above: more price changes than this go as one bulk
        /// mutation (100000: never, for the per-call path)
        #[arg(long, default_value_t = invsync_config::DEFAULT_SHOPIFY_BULK_WRITE_ABOVE)]
        bulk_write_above: u64,
        /// Lines per second the fake's bulk mutations process (Shopify documents no rate)
        #[arg(long, default_value_t = invsync_test_support::shopify::DEFAULT_BULK_MUTATION_RATE)]
        bulk_rate: f64,
        /// The invsync binary to run [default: next to this one]
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// The shared-stock simulation at length: three stores, POS sales, postings and
    /// connector failures; oversold sales under invsync (skip and reserve) vs a naive sync
    Simulate {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seeds seed, seed+1, …
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        #[arg(long, default_value_t = 500)]
        ticks: u32,
        #[arg(long, default_value_t = 40)]
        skus: usize,
        #[arg(long, default_value_t = 12)]
        stock: i64,
        #[arg(long, default_value_t = 30)]
        events_per_tick: u32,
        #[arg(long, default_value_t = 0.3)]
        event_rate: f64,
        #[arg(long, default_value_t = 0.03)]
        failure_rate: f64,
        /// Order watch passes per tick for reserve+watch (a tick is a 15-minute slot: 15
        /// is the default 1-minute `order_watch`)
        #[arg(long, default_value_t = 15)]
        watch_passes: u32,
        /// Only these policies (skip, reserve, reserve+watch) [default: all three]
        #[arg(long, value_delimiter = ',')]
        policies: Vec<String>,
    },
    /// One order-watch pass with a file accounting side of N products (ADR 0102): the
    /// first pass, quiet passes, and a pass after one accounting quantity moved
    WatchPass {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Keep the baseline in Postgres (a fresh database on the test server) instead of
        /// SQLite
        #[arg(long)]
        postgres: bool,
    },
    /// `invsync daemon` for a long time with many schedules against the fakes, faults on:
    /// runs by status, failures by cause, RSS over time (docs/reliability.md)
    Soak {
        /// How long, e.g. 1h or 15m
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 50)]
        schedules: usize,
        /// Fault injection in the Shopify fakes: on or off
        #[arg(long, default_value = "on", value_parser = ["on", "off"])]
        faults: String,
        /// One slot per schedule this often (the harness moves due times, compressing the
        /// 15-minute minimum cadence); 0s keeps the real cadence
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        every: Duration,
        /// How often the daemon's RSS is sampled
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        sample: Duration,
        /// Products per store
        #[arg(long, default_value_t = 20)]
        products: usize,
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// The "Synchronize Products" page of a store of N products (file connections): the
    /// first view, then pages, filters and searches from the kept read; the daemon's RSS
    /// with and without the page (issue 16, item 8)
    Web {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// Requests per measured page
        #[arg(long, default_value_t = 50)]
        requests: usize,
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// `invsync daemon` under a descriptor limit with N idle connections open: /healthz
    /// latency, a SIGHUP reload and a run (docs/benchmarks.md, issue 13 item 3)
    IdleFlood {
        #[arg(long, default_value_t = 1100)]
        connections: usize,
        /// The daemon's RLIMIT_NOFILE (soft and hard), as `ulimit -n`
        #[arg(long, default_value_t = 1024)]
        nofile: u64,
        /// /healthz probes before and during the flood
        #[arg(long, default_value_t = 50)]
        probes: usize,
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// One Web Connector session of N requests through the real endpoint over loopback
    /// (QuickBooks answering at once): the endpoint's own time per round trip
    WebConnector {
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// The size of each qbXML response, in KiB (a trimmed 500-item page is ~150)
        #[arg(long, default_value_t = 150)]
        response_kib: usize,
        /// Lease the session in Postgres (a fresh database on the test server) instead of
        /// SQLite
        #[arg(long)]
        postgres: bool,
    },
    /// Issue 15 item 15: QuickBooks Desktop sessions through the endpoint and the bridge,
    /// the company fake answering under the latency model (150 ms + 0.2 ms per item)
    WebConnectorSession {
        #[arg(long, default_value_t = 50_000)]
        items: usize,
        #[arg(long, default_value_t = 5_000)]
        prices: usize,
        #[arg(long, default_value_t = 5_000)]
        adjustments: usize,
        #[arg(long, default_value_t = 500)]
        max_returned: u32,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Bench::Simulate {
            seed,
            seeds,
            ticks,
            skus,
            stock,
            events_per_tick,
            event_rate,
            failure_rate,
            watch_passes,
            policies,
        } => simulate::run(simulate::Options {
            seed,
            seeds,
            ticks,
            skus,
            stock,
            events_per_tick,
            event_rate,
            failure_rate,
            watch_passes,
            policies,
        }),
        Bench::WatchPass {
            products,
            repeat,
            postgres,
        } => watch_pass::run(watch_pass::Options {
            products,
            repeat,
            postgres,
        }),
        Bench::Plan { products, repeat } => bench_plan(products, repeat),
        Bench::DryRun {
            products,
            repeat,
            binary,
        } => bench_dry_run(products, repeat, binary),
        Bench::RecordItems {
            items,
            repeat,
            database_url,
        } => bench_record_items(items, repeat, database_url),
        Bench::Daemon {
            schedules,
            spread,
            idle,
            binary,
        } => bench_daemon(schedules, spread, idle, binary),
        Bench::Recovery {
            intents,
            backend,
            old,
        } => recovery::run(recovery::Options {
            intents,
            backends: match backend.as_str() {
                "postgres" => vec![invsync_store::Backend::Postgres],
                "sqlite" => vec![invsync_store::Backend::Sqlite],
                _ => vec![
                    invsync_store::Backend::Postgres,
                    invsync_store::Backend::Sqlite,
                ],
            },
            old,
        }),
        Bench::Woocommerce { products, binary } => platforms::woocommerce(products, binary),
        Bench::Bigcommerce {
            products,
            quota,
            window_ms,
            inventory_delay_ms,
            binary,
        } => platforms::bigcommerce(
            products,
            quota,
            Duration::from_millis(window_ms),
            Duration::from_millis(inventory_delay_ms),
            binary,
        ),
        Bench::QuickbooksDesktop {
            items,
            prices,
            adjustments,
            max_returned,
            per_message_set,
        } => quickbooks_desktop::run(quickbooks_desktop::Options {
            items,
            prices,
            adjustments,
            max_returned,
            per_message_set,
        }),
        Bench::QuickbooksOnline {
            items,
            adjustments,
            prices,
            time_scale,
        } => quickbooks_online::run(quickbooks_online::Options {
            items,
            adjustments,
            prices,
            time_scale,
        }),
        Bench::Soak {
            duration,
            schedules,
            faults,
            every,
            sample,
            products,
            binary,
        } => soak::run(soak::Options {
            duration,
            schedules,
            faults: faults == "on",
            every,
            sample,
            products,
            binary,
        }),
        Bench::WebConnector {
            requests,
            response_kib,
            postgres,
        } => web_connector::run(web_connector::Options {
            requests,
            response_kib,
            postgres,
        }),
        Bench::WebConnectorSession {
            items,
            prices,
            adjustments,
            max_returned,
        } => web_connector_session::run(web_connector_session::Options {
            items,
            prices,
            adjustments,
            max_returned,
        }),
        Bench::Web {
            products,
            requests,
            binary,
        } => web::run(web::Options {
            products,
            requests,
            binary,
        }),
        Bench::IdleFlood {
            connections,
            nofile,
            probes,
            binary,
        } => idle_flood::run(idle_flood::Options {
            connections,
            nofile,
            probes,
            binary,
        }),
        Bench::Shopify {
            products,
            bucket,
            restore_rate,
            bulk_above,
            latency_ms,
            ticks,
            tick_changes,
            full_read_every,
            all_prices,
            bulk_write_above,
            bulk_rate,
            binary,
        } => bench_shopify(ShopifyBench {
            products,
            limits: Limits {
                bucket,
                restore_rate,
                ..Limits::standard()
            },
            bulk_above,
            latency: Duration::from_millis(latency_ms),
            ticks,
            tick_changes,
            full_read_every,
            all_prices,
            bulk_write_above,
            bulk_rate,
            binary,
        }),
    }
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let best = times.first().copied().unwrap_or_default();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    println!(
        "{what}: best {:.3} s, median {:.3} s over {} runs",
        best.as_secs_f64(),
        median.as_secs_f64(),
        times.len()
    );
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn bench_plan(products: usize, repeat: usize) -> anyhow::Result<()> {
    let (accounting, store) = catalog::generate(Shape::new(products));
    println!(
        "generated {products} accounting items and {products} listings; RSS so far {:.0} MB",
        peak_rss_mb().unwrap_or(0.0)
    );
    let orders = OrderBook::new();
    let request = PlanRequest {
        update: Side::Store,
        fields: FieldSet::BOTH,
        selection: Selection::All,
    };
    let mut times = Vec::with_capacity(repeat);
    let mut changes = 0;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let matching = match_catalogs(&accounting, &store, &[]);
        let input = PlanInput {
            accounting: &accounting,
            store: &store,
            matching: &matching,
            master: MasterQuantities::Accounting,
            orders: &orders,
            in_orders: InOrdersMode::Skip,
            rules: QuantityRules::default(),
            sale_price: invsync_core::SalePolicy::default(),
        };
        let plan = plan(&input, &request)?;
        times.push(start.elapsed());
        changes = plan.changes.len();
        drop(plan);
    }
    println!("{changes} planned changes");
    report(
        &format!("match + classify + plan {products} products (1 thread)"),
        &mut times,
    );
    println!("peak RSS: {:.0} MB", peak_rss_mb().unwrap_or(0.0));
    Ok(())
}

fn bench_dry_run(products: usize, repeat: usize, binary: Option<PathBuf>) -> anyhow::Result<()> {
    let binary = match binary {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name("invsync"),
    };
    if !binary.exists() {
        bail!(
            "{} does not exist: build it first (cargo build --release)",
            binary.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let (accounting, store) = catalog::generate(Shape::new(products));
    catalog::write_csv(&dir.path().join("accounting.csv"), &accounting)?;
    catalog::write_csv(&dir.path().join("shop.csv"), &store)?;
    std::fs::write(
        dir.path().join("invsync.toml"),
        "[database]\nurl = \"sqlite://invsync.db\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\n",
    )?;
    println!(
        "wrote two {products}-row CSV files to {}",
        dir.path().display()
    );
    let mut times = Vec::with_capacity(repeat);
    let mut lines = 0;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let out = std::process::Command::new(&binary)
            .arg("--config")
            .arg(dir.path().join("invsync.toml"))
            .args([
                "sync",
                "--store",
                "shop",
                "--update",
                "store",
                "--fields",
                "price,quantity",
                "--dry-run",
            ])
            .output()
            .context("running invsync")?;
        times.push(start.elapsed());
        if !out.status.success() {
            bail!("invsync failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        lines = out.stdout.iter().filter(|b| **b == b'\n').count();
    }
    println!("dry run printed {lines} lines (every planned change)");
    report(
        &format!("invsync sync --dry-run over two {products}-row CSV files (wall)"),
        &mut times,
    );
    Ok(())
}

fn bench_record_items(items: usize, repeat: usize, url: Option<String>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let fresh;
        let url = match url {
            Some(u) => u,
            None => {
                fresh = invsync_test_support::pg::fresh_database().await;
                fresh.url().to_owned()
            }
        };
        let db = invsync_store::Db::connect(
            &url,
            &invsync_store::PoolOptions {
                max_connections: 4,
                connect_timeout: Duration::from_secs(10),
            },
        )
        .await?;
        db.migrate().await?;
        println!(
            "database: {} ({})",
            db.redacted_url(),
            db.backend().as_str()
        );
        let rows: Vec<invsync_store::NewRunItem> = (0..items)
            .map(|i| invsync_store::NewRunItem {
                sku: format!("SKU-{i:08}"),
                field: if i % 2 == 0 {
                    invsync_core::Field::Price
                } else {
                    invsync_core::Field::Quantity
                },
                old_value: Some("12.50".into()),
                new_value: Some("13.00".into()),
                outcome: ItemOutcome::Updated,
                error: None,
            })
            .collect();
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat.max(1) {
            let run = db
                .start_run(&invsync_store::NewRun {
                    schedule: None,
                    store: format!("bench-{}", times.len()),
                    trigger: Trigger::Manual,
                    update_side: Side::Store,
                    fields: FieldSet::BOTH,
                    owner: invsync_store::ProcessIdentity::current(),
                    scheduled_for: None,
                })
                .await?;
            let start = Instant::now();
            // The engine records in batches of 5,000 as writes complete; do the same.
            for chunk in rows.chunks(5_000) {
                db.record_items(run, chunk).await?;
            }
            times.push(start.elapsed());
        }
        report(
            &format!(
                "record {items} run items ({} backend)",
                db.backend().as_str()
            ),
            &mut times,
        );
        Ok(())
    })
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the state (field 3).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn bench_daemon(
    schedules: usize,
    spread: u64,
    idle: u64,
    binary: Option<PathBuf>,
) -> anyhow::Result<()> {
    let binary = match binary {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name("invsync"),
    };
    if !binary.exists() {
        bail!(
            "{} does not exist: build it first (cargo build --release)",
            binary.display()
        );
    }
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("accounting.csv"),
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,3\n",
    )?;
    let mut config = String::from(
        "[database]\nurl = \"sqlite://invsync.db\"\n[daemon]\nlisten = \"off\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n",
    );
    for i in 0..schedules {
        std::fs::write(
            dir.path().join(format!("s{i}.csv")),
            "sku,name,price,quantity\nA,A,1.50,0\nB,B,2.00,3\n",
        )?;
        config.push_str(&format!("[stores.s{i}]\nkind = \"file\"\npath = \"s{i}.csv\"\n[[schedules]]\nname = \"s{i}\"\nstore = \"s{i}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\", \"quantity\"]\n"));
    }
    let config_path = dir.path().join("invsync.toml");
    std::fs::write(&config_path, config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let url = format!("sqlite://{}/invsync.db", dir.path().display());
    // Seed the schedules with due times spread over the next `spread` seconds (plus a few
    // seconds for the daemon to start), so the daemon must wake for each one on time.
    let start_at = runtime.block_on(async {
        let db = invsync_store::Db::connect(&url, &invsync_store::PoolOptions::default()).await?;
        db.migrate().await?;
        let now = db.now().await?;
        let first = now + chrono::TimeDelta::seconds(5);
        for i in 0..schedules {
            let offset = chrono::TimeDelta::milliseconds(
                (spread * 1000 * i as u64 / schedules.max(1) as u64) as i64,
            );
            db.insert_schedule(
                &format!("s{i}"),
                &format!("s{i}"),
                "every 15m",
                first + offset,
            )
            .await?;
        }
        db.close().await;
        Ok::<_, anyhow::Error>(first)
    })?;
    let mut child = std::process::Command::new(&binary)
        .arg("--config")
        .arg(&config_path)
        .arg("daemon")
        .env("INVSYNC_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the daemon")?;
    let pid = child.id();
    println!(
        "daemon pid {pid} with {schedules} schedules; first due {start_at}, spread over {spread}s"
    );
    let deadline = Instant::now() + Duration::from_secs(spread + 120);
    let delays = runtime.block_on(async {
        let db = invsync_store::Db::connect(&url, &invsync_store::PoolOptions::default()).await?;
        loop {
            let runs = db
                .list_runs(&invsync_store::RunFilter {
                    store: None,
                    limit: (schedules * 2) as i64,
                })
                .await?;
            let finished = runs.iter().filter(|r| r.status.is_terminal()).count();
            if finished >= schedules {
                let mut delays: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| {
                        r.scheduled_for.map(|due| {
                            (r.started_at - due).num_microseconds().unwrap_or(0) as f64 / 1e6
                        })
                    })
                    .collect();
                delays.sort_by(|a, b| a.total_cmp(b));
                db.close().await;
                return Ok::<_, anyhow::Error>(delays);
            }
            if Instant::now() > deadline {
                bail!("only {finished} of {schedules} runs finished in time");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })?;
    println!(
        "start delay (started_at - scheduled_for) over {} runs: p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(0.0)
    );
    // Idle: every schedule ran; the next slots are 15 minutes away.
    std::thread::sleep(Duration::from_secs(2));
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid).unwrap_or(0);
    std::thread::sleep(Duration::from_secs(idle));
    let after = cpu_ticks(pid).unwrap_or(0);
    let cpu = (after - before) as f64 / ticks_per_sec / idle as f64 * 100.0;
    let rss = proc_field(pid, "status", "VmRSS:").unwrap_or(0.0) / 1024.0;
    let hwm = proc_field(pid, "status", "VmHWM:").unwrap_or(0.0) / 1024.0;
    println!("idle over {idle} s: CPU {cpu:.2}% of one core; RSS {rss:.1} MB (peak {hwm:.1} MB)");
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    Ok(())
}

struct ShopifyBench {
    products: usize,
    limits: Limits,
    bulk_above: u64,
    latency: Duration,
    ticks: u32,
    tick_changes: usize,
    full_read_every: String,
    all_prices: bool,
    bulk_write_above: u64,
    bulk_rate: f64,
    binary: Option<PathBuf>,
}

/// One real `invsync sync` against the fake: the time it takes, the requests and cost
/// points it spends, and the bound the bucket sets: whatever does not fit in the first
/// full bucket must be restored at `restore_rate` points per second.
fn bench_shopify(b: ShopifyBench) -> anyhow::Result<()> {
    let binary = match b.binary {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("invsync"),
    };
    if !binary.exists() {
        bail!(
            "{} does not exist: build it first (cargo build --release)",
            binary.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        const TOKEN: &str = "shpat_bench";
        let shape = Shape {
            price_diff: if b.all_prices { 1.0 } else { 0.01 },
            ..Shape::new(b.products)
        };
        let (accounting, store) = catalog::generate(shape);
        let fake = FakeShopify::new(TOKEN, b.limits);
        fake.set_bulk_mutation_rate(b.bulk_rate);
        fake.populate(&store);
        // The catalog was made long before invsync first reads it.
        fake.advance_clock(Duration::from_secs(24 * 3600));
        fake.set_latency(b.latency);
        let server = fake.serve().await;
        let dir = tempfile::tempdir()?;
        catalog::write_csv(&dir.path().join("accounting.csv"), &accounting)?;
        std::fs::write(
            dir.path().join("invsync.toml"),
            format!(
                "[database]\nurl = \"sqlite://invsync.db\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.shop]\nkind = \"shopify\"\nshop = \"bench.myshopify.com\"\naccess_token = \"{TOKEN}\"\nbase_url = \"{}\"\nbulk_above = {}\nbulk_write_above = {}\nfull_read_every = \"{}\"\n",
                server.base_url(),
                b.bulk_above,
                b.bulk_write_above,
                b.full_read_every
            ),
        )?;
        println!(
            "{} products on the fake (bucket {}, restore {}/s, latency {:?}); bulk read: {}",
            b.products,
            b.limits.bucket,
            b.limits.restore_rate,
            b.latency,
            b.products as u64 > b.bulk_above
        );
        let config = dir.path().join("invsync.toml");
        let sync = || {
            let (binary, config) = (binary.clone(), config.clone());
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(&binary)
                    .arg("--config")
                    .arg(&config)
                    .args([
                        "--format",
                        "json",
                        "sync",
                        "--store",
                        "shop",
                        "--update",
                        "store",
                        "--fields",
                        "price,quantity",
                    ])
                    .output()
            })
        };
        // When the last quantity call was applied, and the points spent by then: issue 17
        // wants every quantity written within 1.2x of its own rate-limit bound, whatever
        // the prices do.
        let quantities_done = std::sync::Arc::new(std::sync::Mutex::new((0u64, Duration::ZERO, 0.0f64)));
        let sampler = {
            let (fake, done) = (fake.clone(), quantities_done.clone());
            tokio::spawn(async move {
                let start = Instant::now();
                loop {
                    let s = fake.stats();
                    if let Ok(mut d) = done.lock()
                        && s.quantity_calls_applied > d.0
                    {
                        *d = (s.quantity_calls_applied, start.elapsed(), s.points_spent);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let start = Instant::now();
        let out = sync().await??;
        let wall = start.elapsed();
        sampler.abort();
        if !out.status.success() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            bail!(
                "invsync failed ({}): {} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                &stdout[..stdout.len().min(2000)]
            );
        }
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let stats = fake.stats();
        let changes = report["changes"].as_array().cloned().unwrap_or_default();
        let count = |field: &str| {
            changes
                .iter()
                .filter(|c| c["field"] == field && c["outcome"] == "updated")
                .count()
        };
        let (prices, quantities) = (count("price"), count("quantity"));
        // The fewest calls that can do this: reads (location, count, and either a bulk
        // operation — run, one poll, the download — or pages of 199), the open orders, one
        // price call per product (one variant per product here), one quantity call per 250.
        let bulk = b.products as u64 > b.bulk_above;
        let reads = if bulk { 2 + 3 } else { 2 + b.products.div_ceil(199) };
        // In bulk (ADR 0110): the check for an earlier operation, stage, upload, run and at
        // least one poll, whatever the number of prices.
        let price_calls = if prices as u64 > b.bulk_write_above { 5 } else { prices };
        let minimum = reads + 1 + price_calls + quantities.div_ceil(250);
        let bound = ((stats.points_spent - b.limits.bucket).max(0.0)) / b.limits.restore_rate;
        println!(
            "status {}; {prices} price and {quantities} quantity changes; {:.0} cost points",
            report["status"], stats.points_spent
        );
        println!(
            "API calls {} ({} throttled) vs minimum {minimum}: {:.3}x",
            stats.requests,
            stats.throttled,
            stats.requests as f64 / minimum as f64
        );
        println!(
            "wall {:.2} s (of which the fake {:.2} s) vs rate-limit bound {:.2} s ((points - bucket) / restore rate): {:.3}x",
            wall.as_secs_f64(),
            stats.busy.as_secs_f64(),
            bound,
            if bound > 0.0 { wall.as_secs_f64() / bound } else { f64::NAN }
        );
        let (calls, at, points) = quantities_done.lock().map(|d| *d).unwrap_or_default();
        if calls > 0 {
            let bound = (points - b.limits.bucket).max(0.0) / b.limits.restore_rate;
            println!(
                "quantities all written {:.2} s after the start ({calls} calls applied; {points:.0} points spent by then, bound {bound:.2} s): {:.3}x",
                at.as_secs_f64(),
                if bound > 0.0 { at.as_secs_f64() / bound } else { f64::NAN }
            );
        }
        let bulk_ops = fake.bulk_mutations();
        if !bulk_ops.is_empty() {
            println!(
                "bulk price writes: {}",
                bulk_ops
                    .iter()
                    .map(|o| format!("{} {} ({} of {} lines)", o.id, o.status, o.done, o.lines))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        // Later ticks: stock edited by hand on `tick_changes` listings, then a sync that
        // must put each back; what the read costs is what incremental reads save.
        let skus: Vec<String> = fake
            .variants()
            .into_iter()
            .filter(|v| v.tracked)
            .filter_map(|v| v.sku)
            .collect();
        for tick in 1..=b.ticks {
            // Fifteen minutes pass: the shop's clock moves, and the bucket refills (a full
            // bucket takes bucket / restore_rate seconds).
            fake.advance_clock(Duration::from_secs(15 * 60));
            tokio::time::sleep(Duration::from_secs_f64(b.limits.bucket / b.limits.restore_rate))
                .await;
            let step = (skus.len() / b.tick_changes.max(1)).max(1);
            let mut edited = 0;
            for sku in skus.iter().skip(tick as usize).step_by(step).take(b.tick_changes) {
                if let Some(v) = fake.variant(sku) {
                    fake.set_available(sku, v.available + 5);
                    edited += 1;
                }
            }
            let before = fake.stats();
            let logged = fake.requests().len();
            let start = Instant::now();
            let out = sync().await??;
            let wall = start.elapsed();
            if !out.status.success() {
                bail!("invsync failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let updated = report["changes"]
                .as_array()
                .map(|c| c.iter().filter(|c| c["outcome"] == "updated").count())
                .unwrap_or(0);
            let after = fake.stats();
            let whole = fake.requests().iter().skip(logged).any(|r| {
                r.query.as_deref().is_some_and(|q| {
                    q.contains("bulkOperationRunQuery") || q.contains("query VariantsPage")
                })
            });
            println!(
                "tick {tick}: {edited} levels edited by hand, {updated} written back; {} read; {} API calls, {:.0} cost points, wall {:.2} s",
                if whole { "whole" } else { "only changes" },
                after.requests - before.requests,
                after.points_spent - before.points_spent,
                wall.as_secs_f64()
            );
        }
        server.stop().await;
        Ok(())
    })
}
