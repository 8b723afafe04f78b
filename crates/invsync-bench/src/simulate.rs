//! `simulate`: the shared-stock simulation of `invsync-sim` at length, in both
//! `in_orders` modes and `reserve` with the order watch, against the naive sync (copy the
//! accounting quantity to every store each tick), over the same seeds.

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
    /// Order watch passes per tick for `reserve+watch`.
    pub watch_passes: u32,
    /// Only these policies by name; empty: all three.
    pub policies: Vec<String>,
}

/// Oversold sales of all sales, summed over the seeds.
#[derive(Default, Clone, Copy)]
struct Tally {
    oversold: u64,
    sales: u64,
}

impl Tally {
    fn add(&mut self, oversold: u64, sales: u64) {
        self.oversold += oversold;
        self.sales += sales;
    }

    fn cell(self) -> String {
        let pct = if self.sales == 0 {
            0.0
        } else {
            100.0 * self.oversold as f64 / self.sales as f64
        };
        format!("{}/{} ({pct:.2} %)", self.oversold, self.sales)
    }
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{} seed(s) from {}, {} ticks × 3 stores, {} SKUs of {} units, {} events/tick, event rate {} and failure rate {} per connector call; reserve+watch: {} watch passes per tick",
        o.seeds,
        o.seed,
        o.ticks,
        o.skus,
        o.stock,
        o.events_per_tick,
        o.event_rate,
        o.failure_rate,
        o.watch_passes
    );
    println!(
        "{:<14} {:>5} {:>13} {:>13} {:>13} {:>6} {:>8} {:>7} {:>6}  runs",
        "policy",
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
    let policies = [
        (InOrdersMode::Skip, 0),
        (InOrdersMode::Reserve, 0),
        (InOrdersMode::Reserve, o.watch_passes.max(1)),
    ];
    let mut broken = 0;
    let mut naive = Tally::default();
    let mut ours = [Tally::default(); 3];
    // Per seed: naive, then each policy.
    let mut per_seed: Vec<(u64, Tally, [Tally; 3])> = Vec::new();
    for seed in o.seed..o.seed + o.seeds {
        let mut row = (seed, Tally::default(), [Tally::default(); 3]);
        for (i, (mode, watch_passes)) in policies.iter().enumerate() {
            let name = if *watch_passes > 0 {
                format!("{}+watch", mode.as_str())
            } else {
                mode.as_str().to_owned()
            };
            if !o.policies.is_empty() && !o.policies.contains(&name) {
                continue;
            }
            let sim = SimConfig {
                seed,
                ticks: o.ticks,
                skus: o.skus,
                stock: o.stock,
                mode: *mode,
                events_per_tick: o.events_per_tick,
                event_rate: o.event_rate,
                failure_rate: o.failure_rate,
                database_url: None,
                watch_passes: *watch_passes,
            };
            let started = Instant::now();
            let r: SimReport = runtime.block_on(simulate(&sim))?;
            let runs: Vec<String> = r.runs.iter().map(|(s, n)| format!("{n} {s}")).collect();
            println!(
                "{:<14} {:>5} {:>13} {:>13} {:>13} {:>6} {:>8} {:>7} {:>6.1}  {}",
                r.mode,
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
            println!(
                "{:<14} {:>5}   oversold while the accounting quantity was negative (a rejected value, never written; issue 13 item 8): n {} / i {}",
                "", "", r.naive.oversold_while_negative, r.invsync.oversold_while_negative
            );
            for (cause, n) in &r.oversold_causes {
                println!(
                    "{:<14} {:>5}   oversold, the listing not told of: {cause}: {n}",
                    "", ""
                );
            }
            for v in &r.violations {
                println!("  VIOLATION: {v}");
            }
            broken += r.violations.len();
            if i == 0 {
                // The naive sync meets the demand of the first policy's run.
                row.1.add(r.naive.oversold_sales, r.naive.sales);
                naive.add(r.naive.oversold_sales, r.naive.sales);
            }
            if let (Some(cell), Some(total)) = (row.2.get_mut(i), ours.get_mut(i)) {
                cell.add(r.invsync.oversold_sales, r.invsync.sales);
                total.add(r.invsync.oversold_sales, r.invsync.sales);
            }
        }
        per_seed.push(row);
    }
    println!();
    println!("oversold / sales (%), side by side:");
    println!("| seed | naive | skip | reserve | reserve+watch |\n|---|---|---|---|---|");
    for (seed, n, p) in &per_seed {
        println!(
            "| {seed} | {} | {} | {} | {} |",
            n.cell(),
            p[0].cell(),
            p[1].cell(),
            p[2].cell()
        );
    }
    println!(
        "| all | {} | {} | {} | {} |",
        naive.cell(),
        ours[0].cell(),
        ours[1].cell(),
        ours[2].cell()
    );
    if broken > 0 {
        bail!("{broken} invariant violation(s)");
    }
    Ok(())
}
