//! `invsync-bench web-connector-session`: issue 15 item 15 through everything a Web
//! Connector session goes through — the real endpoint over loopback HTTP (SOAP, tickets,
//! the lease), the QuickBooks Desktop bridge and its dialect (the whole read, the snapshot
//! kept in SQLite, write jobs checked against the session's read), driven by the Web
//! Connector client fake, with the company fake answering under the latency model
//! (150 ms per message set + 0.2 ms per `…Ret` answered, slept for real).
//!
//! Session 1 reads `--items` items and keeps them. Then a "run" (what the engine does:
//! batches of `WRITES_PER_MESSAGE_SET`, one after the other, attached to the session)
//! hands over `--prices` price writes and `--adjustments` quantity writes, and session 2
//! reads everything again and carries them. Printed: round trips against the least that
//! `MaxReturned` and the message-set size allow, and wall time against the latency
//! model's own total for the same message sets.

use invsync_connectors::Write;
use invsync_connectors::quickbooks_desktop::{
    Bridge, DesktopDialect, SkuField, WRITES_PER_MESSAGE_SET,
};
use invsync_core::FieldValue;
use invsync_engine::DbSnapshots;
use invsync_store::{Db, PoolOptions};
use invsync_test_support::fake::serve;
use invsync_test_support::quickbooks_desktop::{
    Company, DEFAULT_ADJUSTMENT_ACCOUNT, LatencyModel, NewItem,
};
use invsync_test_support::web_connector::{SessionLog, WebConnectorClient};
use invsync_webconnector::BridgeWork;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub items: usize,
    pub prices: usize,
    pub adjustments: usize,
    pub max_returned: u32,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    runtime.block_on(measure(o))
}

async fn session(
    client: &WebConnectorClient,
    company: &Arc<Company>,
    name: &str,
) -> anyhow::Result<(SessionLog, Duration, Duration)> {
    let before = company.stats().modeled;
    let started = Instant::now();
    let log = client
        .run_session("bench", "bench-password", |request| {
            // The Web Connector waits for QuickBooks: the model's time, slept.
            let (answer, time) = company.handle_timed(name, request);
            std::thread::sleep(time);
            answer.map_err(|h| (h.to_string(), "QuickBooks error".to_owned()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("session: {e:?}"))?;
    company.end_session(name);
    Ok((log, started.elapsed(), company.stats().modeled - before))
}

fn count(log: &SessionLog, element: &str) -> usize {
    log.requests
        .iter()
        .filter(|r| r.contains(&format!("<{element} ")))
        .count()
}

async fn measure(o: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let db = Db::connect(&url, &PoolOptions::default()).await?;
    db.migrate().await?;

    let company = Arc::new(
        Company::new()
            .without_xsd_check()
            .with_latency(LatencyModel::default()),
    );
    for i in 0..o.items {
        company.add_item(NewItem::inventory(
            &format!("SKU-{i:06}"),
            Decimal::new(1000 + (i % 500) as i64, 2),
            (i % 90) as i64,
        ));
    }
    let dialect = DesktopDialect {
        sku_field: SkuField::Name,
        max_returned: o.max_returned,
        adjustment_account: Some(DEFAULT_ADJUSTMENT_ACCOUNT.to_owned()),
        site: None,
    };
    let bridge = Bridge::new(
        "bench",
        Arc::new(dialect),
        Arc::new(DbSnapshots::new(db.clone())),
        Duration::from_secs(3600),
        true,
    );
    let endpoint = crate::web_connector::endpoint(db, Arc::new(BridgeWork(Arc::clone(&bridge))));
    let server = serve(endpoint.router()).await;
    let mut client = WebConnectorClient::new(format!("{}/qbwc", server.base_url()));
    client.max_noops = 1000;

    // Session 1: the whole read, kept.
    let (log1, wall1, modeled1) = session(&client, &company, "s1").await?;
    let snapshot = bridge.snapshot().await?;
    anyhow::ensure!(
        snapshot.records.len() == o.items,
        "read {} items",
        snapshot.records.len()
    );
    let pages = o.items.div_ceil(o.max_returned as usize);
    let min_read = pages + 1; // + the assembly list, asked once even when empty
    let read1 = count(&log1, "ItemInventoryQueryRq") + count(&log1, "ItemInventoryAssemblyQueryRq");

    // The run: prices for the first `prices` items, quantities for the next `adjustments`.
    let records = &snapshot.records;
    let writes: Vec<Write> = records
        .iter()
        .take(o.prices)
        .enumerate()
        .map(|(i, r)| {
            let old = r.price.unwrap_or_default();
            Write {
                id: r.id.clone(),
                sku: r.sku.clone(),
                field: invsync_core::Field::Price,
                old: FieldValue::Price(old),
                new: FieldValue::Price(old + Decimal::ONE),
                sale: None,
                key: format!("bench-price-{i}"),
            }
        })
        .chain(
            records
                .iter()
                .skip(o.prices)
                .take(o.adjustments)
                .enumerate()
                .map(|(i, r)| {
                    let old = r.quantity.unwrap_or_default();
                    Write {
                        id: r.id.clone(),
                        sku: r.sku.clone(),
                        field: invsync_core::Field::Quantity,
                        old: FieldValue::Quantity(old),
                        new: FieldValue::Quantity(old + 3),
                        sale: None,
                        key: format!("bench-qty-{i}"),
                    }
                }),
        )
        .collect();
    let run = {
        let bridge = Arc::clone(&bridge);
        tokio::spawn(async move {
            let _attached = bridge.attach();
            let mut applied = 0usize;
            let mut other = Vec::new();
            for batch in writes.chunks(WRITES_PER_MESSAGE_SET) {
                for outcome in bridge.write(batch.to_vec()).await? {
                    match outcome {
                        invsync_connectors::WriteOutcome::Applied => applied += 1,
                        o => other.push(o),
                    }
                }
            }
            anyhow::Ok((applied, other))
        })
    };
    while bridge.status().waiting_jobs == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (log2, wall2, modeled2) = session(&client, &company, "s2").await?;
    let (applied, other) = run.await??;
    anyhow::ensure!(
        applied == o.prices + o.adjustments,
        "applied {applied}; others: {:?}",
        other.iter().take(3).collect::<Vec<_>>()
    );
    let read2 = count(&log2, "ItemInventoryQueryRq") + count(&log2, "ItemInventoryAssemblyQueryRq");
    let mods = count(&log2, "ItemInventoryModRq");
    let adds = count(&log2, "InventoryAdjustmentAddRq");
    let min_mods = o.prices.div_ceil(WRITES_PER_MESSAGE_SET);
    let min_adds = o.adjustments.div_ceil(WRITES_PER_MESSAGE_SET);
    let noops = log2.last_errors.iter().filter(|e| *e == "NoOp").count();
    let trips2 = log2.requests.len();
    let min2 = min_read + min_mods + min_adds;

    println!(
        "web-connector-session: {} items, {} price writes, {} adjustments, MaxReturned {}, {} writes per message set",
        o.items, o.prices, o.adjustments, o.max_returned, WRITES_PER_MESSAGE_SET
    );
    println!(
        "  session 1 (read): {} round trips (item reads {read1}, least {min_read}; ItemGroupQueryRq 1 more), wall {wall1:.2?}, model {modeled1:.2?}: wall/model {:.3}",
        log1.requests.len(),
        wall1.as_secs_f64() / modeled1.as_secs_f64()
    );
    println!(
        "  session 2 (read + writes): {trips2} round trips (item reads {read2}, mods {mods}, adjustments {adds}; least {min2} + 1 group read) = {:.3}x, NoOps {noops}",
        trips2 as f64 / (min2 + 1) as f64
    );
    println!(
        "  session 2 wall {wall2:.2?}, model {modeled2:.2?}: wall/model {:.3}",
        wall2.as_secs_f64() / modeled2.as_secs_f64()
    );
    println!(
        "  QuickBooks: {} price mods, {} adjustments applied",
        company.stats().price_mods,
        company.stats().adjustments
    );
    Ok(())
}
