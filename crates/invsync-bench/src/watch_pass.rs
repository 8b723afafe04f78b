//! `watch-pass`: what one order-watch pass costs locally when the accounting side is a
//! file it re-reads each pass (ADR 0102) — the file parsed and compared with the baseline
//! kept in the database — on a catalog of N products, two file stores sharing the stock.
//! Times `Engine::watch_orders` + `acknowledge_order_changes` for the first pass (keeps the
//! baseline), quiet passes, and a pass after one accounting quantity moved (with and
//! without its pushes).

use anyhow::Context as _;
use invsync_config::LoadOptions;
use invsync_core::Record;
use invsync_engine::{Engine, NoProgress, SyncRequest};
use invsync_store::{Db, PoolOptions};
use invsync_test_support::catalog::{self, Shape};
use invsync_test_support::pg;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Options {
    pub products: usize,
    pub repeat: usize,
    pub postgres: bool,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(o))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One pass that finds nothing to push: read, compare, acknowledge.
async fn pass(engine: &Engine) -> anyhow::Result<(Duration, invsync_engine::OrderWatch)> {
    let started = Instant::now();
    let watch = engine.watch_orders().await?;
    engine.acknowledge_order_changes(&watch).await?;
    Ok((started.elapsed(), watch))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

async fn measure(o: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, _pg) = if o.postgres {
        let database = pg::fresh_database().await;
        (database.url().to_owned(), Some(database))
    } else {
        (format!("sqlite://{}/bench.db", dir.path().display()), None)
    };
    let (mut accounting, store) = catalog::generate(Shape {
        quantity_diff: 0.0,
        price_diff: 0.0,
        ..Shape::new(o.products)
    });
    let write_accounting = |records: &[Record]| {
        catalog::write_csv(&dir.path().join("accounting.csv"), records)
            .context("write the accounting file")
    };
    write_accounting(&accounting)?;
    let mut toml = format!(
        "[database]\nurl = \"{url}\"\n[inventory]\nin_orders = \"reserve\"\norder_watch = \"1m\"\n\
         [accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n"
    );
    for name in ["a", "b"] {
        catalog::write_csv(&dir.path().join(format!("{name}.csv")), &store)?;
        std::fs::write(
            dir.path().join(format!("{name}-orders.csv")),
            "order,sku,quantity\n",
        )?;
        toml.push_str(&format!(
            "[stores.{name}]\nkind = \"file\"\npath = \"{name}.csv\"\norders = \"{name}-orders.csv\"\n\
             [[schedules]]\nstore = \"{name}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n"
        ));
    }
    let path = dir.path().join("invsync.toml");
    std::fs::write(&path, toml)?;
    let config = invsync_config::load_with(
        &path,
        &LoadOptions {
            env: Some(Default::default()),
            now: None,
        },
    )
    .context("load the config")?;
    let db = Db::connect(&url, &PoolOptions::default()).await?;
    db.migrate().await?;
    let engine = Engine::new(Arc::new(config), db);
    let size = std::fs::metadata(dir.path().join("accounting.csv"))?.len();
    println!(
        "{} products, accounting file {:.1} MB, two file stores, run history in {}",
        o.products,
        size as f64 / 1e6,
        if o.postgres { "Postgres" } else { "SQLite" }
    );

    let (first, watch) = pass(&engine).await?;
    anyhow::ensure!(watch.is_quiet(), "the first pass pushes nothing");
    println!("first pass (keeps the baseline): {}", ms(first));

    let mut quiet = Vec::new();
    for _ in 0..o.repeat.max(1) {
        let (took, watch) = pass(&engine).await?;
        anyhow::ensure!(watch.is_quiet(), "nothing moved");
        quiet.push(took);
    }
    println!(
        "quiet pass: median {} of {} (min {}, max {})",
        ms(median(quiet.clone())),
        quiet.len(),
        ms(quiet.iter().min().copied().unwrap_or_default()),
        ms(quiet.iter().max().copied().unwrap_or_default()),
    );

    let cancel = CancellationToken::new();
    let (mut read, mut pushed) = (Vec::new(), Vec::new());
    for i in 0..o.repeat.max(1) {
        // One till sale: the first product's quantity moves.
        if let Some(q) = accounting.get_mut(i).and_then(|r| r.quantity.as_mut()) {
            *q = (*q - 1).max(0) + if *q == 0 { 5 } else { 0 };
        }
        write_accounting(&accounting)?;
        let started = Instant::now();
        let watch = engine.watch_orders().await?;
        read.push(started.elapsed());
        anyhow::ensure!(watch.skus.len() == 1, "one SKU moved: {:?}", watch.skus);
        let mut watch = watch;
        for store in watch.targets.clone() {
            let result = engine
                .sync(
                    &SyncRequest::order_push(&store, &watch.skus),
                    &NoProgress,
                    &cancel,
                )
                .await;
            watch.account(&result);
        }
        engine.acknowledge_order_changes(&watch).await?;
        pushed.push(started.elapsed());
    }
    println!(
        "one accounting quantity moved: the pass's read {} (median of {}); with its two pushes and the baseline saved {}",
        ms(median(read)),
        o.repeat.max(1),
        ms(median(pushed))
    );
    Ok(())
}
