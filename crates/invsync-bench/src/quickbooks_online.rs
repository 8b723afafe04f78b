//! `invsync-bench quickbooks-online`: the QuickBooks Online connector against the fake,
//! with the documented limits on both sides (500 requests and 40 batch requests a minute
//! per realm, 10 in flight). It reads N items, then writes A quantity adjustments and P
//! price updates through `Connection::write` in calls of `write_batch_size`, as the engine
//! does, and compares the wall time with the least time those limits allow for the calls
//! the connector needs.
//!
//! `--time-scale S` divides the one-minute window by S on both sides (a quick check; the
//! result in docs/benchmarks.md is from S = 1).

use anyhow::{Context as _, bail};
use compact_str::CompactString;
use invsync_config::{QboEnvironment, QboQuantityWrite, QuickBooksOnlineConfig};
use invsync_connectors::quickbooks_online::{Limits, MAX_BATCH, QuickBooksOnline, Tuning};
use invsync_connectors::{Connection, MemoryVault, OpenContext, Write, WriteOutcome};
use invsync_core::{Field, FieldValue};
use invsync_test_support::quickbooks_online::{FakeConfig, FakeLimits, QboFake};
use rust_decimal::Decimal;
use secrecy::{SecretSlice, SecretString};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub items: usize,
    pub adjustments: usize,
    pub prices: usize,
    pub time_scale: u32,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    if o.adjustments + o.prices > o.items {
        bail!("--adjustments + --prices must not exceed --items (each item is written once)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(o))
}

async fn bench(o: Options) -> anyhow::Result<()> {
    let scale = o.time_scale.max(1);
    let window = Duration::from_secs(60) / scale;
    let documented = Limits::default();
    let (server, fake) = QboFake::serve(FakeConfig {
        limits: FakeLimits {
            requests_per_window: documented.requests_per_window,
            batches_per_window: documented.batches_per_window,
            in_flight: documented.in_flight,
            window,
        },
        ..FakeConfig::default()
    })
    .await;
    let base = server.base_url();
    let ids = fake.add_items((0..o.items).map(|i| {
        json!({
            "Name": format!("Item {i}"),
            "Sku": format!("SKU-{i:06}"),
            "Type": "Inventory",
            "TrackQtyOnHand": true,
            "QtyOnHand": 100,
            "UnitPrice": 10.00,
        })
    }));
    let config = QuickBooksOnlineConfig {
        realm_id: fake.config().realm_id.clone(),
        client_id: fake.config().client_id.clone(),
        client_secret: SecretString::from(fake.config().client_secret.clone()),
        refresh_token: Some(SecretString::from(fake.issue_refresh_token())),
        token_key: SecretSlice::from(vec![7u8; 32]),
        environment: QboEnvironment::Sandbox,
        base_url: url::Url::parse(&base)?,
        token_url: url::Url::parse(&QboFake::token_url(&base))?,
        redirect_uri: None,
        quantity_write: QboQuantityWrite::Adjustment,
        adjustment_account: Some("97".into()),
        order_doc_number: "{order}".into(),
        http: invsync_config::HttpPolicy::default(),
    };
    let tuning = Tuning {
        limits: Limits {
            window,
            // The margin covers request latency, which does not shrink with the window.
            margin: (documented.margin / scale).max(Duration::from_millis(250)),
            ..documented
        },
        own_limiter: true,
        ..Tuning::default()
    };
    let vault = Arc::new(MemoryVault::new());
    let qbo = QuickBooksOnline::open_with(
        "accounting",
        &config,
        &OpenContext::new().with_token_vault(vault),
        tuning,
    )?;
    println!(
        "fake QuickBooks Online at {base} with {} items; limits per {:.1} s window: {} requests, {} batch requests, {} in flight",
        o.items,
        window.as_secs_f64(),
        documented.requests_per_window,
        documented.batches_per_window,
        documented.in_flight
    );

    let started = Instant::now();
    let catalog = qbo.read_catalog().await.context("read")?;
    let read = started.elapsed();
    if catalog.records.len() != o.items {
        bail!("read {} items, expected {}", catalog.records.len(), o.items);
    }
    println!("read {} items in {:.2} s", o.items, read.as_secs_f64());

    let quantity: Vec<Write> = ids[..o.adjustments]
        .iter()
        .enumerate()
        .map(|(i, id)| write(id, i, Field::Quantity))
        .collect();
    let t = Instant::now();
    let applied = write_all(&qbo, &quantity).await?;
    let adjust = t.elapsed();
    println!(
        "{applied} quantity adjustments in {:.2} s",
        adjust.as_secs_f64()
    );

    let price: Vec<Write> = ids[o.adjustments..o.adjustments + o.prices]
        .iter()
        .enumerate()
        .map(|(i, id)| write(id, i, Field::Price))
        .collect();
    let t = Instant::now();
    let applied = write_all(&qbo, &price).await?;
    let prices = t.elapsed();
    println!("{applied} price updates in {:.2} s", prices.as_secs_f64());
    let total = started.elapsed();

    let stats = fake.stats();
    // The calls the connector needs: a count and one query per page to read (plus an
    // empty page when the last one is full: items may have been added since the count);
    // per batch of 30 adjustments one query (the fresh read) and one batch; per 30 prices
    // one batch.
    let pages = o.items.div_ceil(1000) + usize::from(o.items.is_multiple_of(1000));
    let adjustment_batches = o.adjustments.div_ceil(MAX_BATCH);
    let price_batches = o.prices.div_ceil(MAX_BATCH);
    let batches = adjustment_batches + price_batches;
    let requests = 1 + pages + adjustment_batches + batches;
    // The least time the limits allow: at most 40 batch requests in any minute, so the
    // k-th (0-based) batch request cannot start before floor(k / 40) minutes; the request
    // limit (500 a minute) does not bind for this mix, and reads need no batch requests.
    let bound = window * u32::try_from((batches.max(1) - 1) / documented.batches_per_window)?;
    println!(
        "calls: {} requests ({} batch requests) — needed by the design: {requests} ({batches}); the fake throttled {} of them",
        stats.requests, stats.batches, stats.throttled
    );
    println!(
        "total {:.1} s; the documented limits allow it in no less than {:.1} s; ratio {:.3}",
        total.as_secs_f64(),
        bound.as_secs_f64(),
        total.as_secs_f64() / bound.as_secs_f64().max(f64::EPSILON)
    );
    server.stop().await;
    Ok(())
}

fn write(id: &str, i: usize, field: Field) -> Write {
    let (old, new) = match field {
        Field::Quantity => (
            FieldValue::Quantity(100),
            FieldValue::Quantity(100 + (i % 7) as i64 + 1),
        ),
        Field::Price => (
            FieldValue::Price(Decimal::new(1000, 2)),
            FieldValue::Price(Decimal::new(1234, 2)),
        ),
    };
    Write {
        id: CompactString::from(id),
        sku: CompactString::from(format!("SKU-{id}")),
        field,
        old,
        new,
        key: format!("invsync-run-1-change-{i}"),
        sale: None,
    }
}

/// Like the engine: calls of `write_batch_size` writes, one after another.
async fn write_all(qbo: &QuickBooksOnline, writes: &[Write]) -> anyhow::Result<usize> {
    let mut applied = 0;
    for chunk in writes.chunks(qbo.write_batch_size()) {
        for outcome in qbo.write(chunk).await? {
            match outcome {
                WriteOutcome::Applied => applied += 1,
                other => bail!("a write was not applied: {other:?}"),
            }
        }
    }
    Ok(applied)
}
