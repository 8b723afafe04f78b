//! `simulate`: the shared-stock simulation of `invsync-sim` at length, in both
//! `in_orders` modes, against the naive sync (copy the accounting quantity to every store
//! each tick).

use anyhow::bail;
use invsync_core::InOrdersMode;
use invsync_sim::{SimConfig, SimReport, simulate};
use std::time::Instant;

pub struct Options {
    pub seed: u64,
    pub seeds: u64,
    pub ticks: u32,
    pub skus: usize,
    pub stock: i64,
    pub events_per_tick: u32,
    pub event_rate: f64,
    pub failure_rate: f64,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{} seed(s) from {}, {} ticks × 3 stores, {} SKUs of {} units, {} events/tick, event rate {} and failure rate {} per connector call",
        o.seeds, o.seed, o.ticks, o.skus, o.stock, o.events_per_tick, o.event_rate, o.failure_rate
    );
    println!(
        "{:<8} {:>5} {:>13} {:>13} {:>13} {:>6} {:>8} {:>7} {:>6}  runs",
        "mode",
        "seed",
        "sales n/i",
        "oversold n/i",
        "os units n/i",
        "stale",
        "failures",
        "during",
        "secs"
    );
    println!(
        "(n = naive sync, i = invsync; during = events that landed while a run was reading or writing)"
    );
    let mut broken = 0;
    for mode in [InOrdersMode::Skip, InOrdersMode::Reserve] {
        let (mut naive, mut ours, mut sales, mut naive_sales) = (0, 0, 0, 0);
        for seed in o.seed..o.seed + o.seeds {
            let started = Instant::now();
            let r: SimReport = runtime.block_on(simulate(&SimConfig {
                seed,
                ticks: o.ticks,
                skus: o.skus,
                stock: o.stock,
                mode,
                events_per_tick: o.events_per_tick,
                event_rate: o.event_rate,
                failure_rate: o.failure_rate,
                database_url: None,
            }))?;
            let runs: Vec<String> = r.runs.iter().map(|(s, n)| format!("{n} {s}")).collect();
            println!(
                "{:<8} {:>5} {:>13} {:>13} {:>13} {:>6} {:>8} {:>7} {:>6.1}  {}",
                mode.as_str(),
                seed,
                format!("{}/{}", r.naive.sales, r.invsync.sales),
                format!("{}/{}", r.naive.oversold_sales, r.invsync.oversold_sales),
                format!("{}/{}", r.naive.oversold_units, r.invsync.oversold_units),
                r.writes_stale,
                r.injected_failures,
                r.events_during_runs,
                started.elapsed().as_secs_f64(),
                runs.join(", ")
            );
            for v in &r.violations {
                println!("  VIOLATION: {v}");
            }
            broken += r.violations.len();
            naive += r.naive.oversold_sales;
            ours += r.invsync.oversold_sales;
            sales += r.invsync.sales;
            naive_sales += r.naive.sales;
        }
        println!(
            "{:<8} total: naive sync {naive} of {naive_sales} sales oversold; invsync {ours} of {sales}",
            mode.as_str()
        );
    }
    if broken > 0 {
        bail!("{broken} invariant violation(s)");
    }
    Ok(())
}
