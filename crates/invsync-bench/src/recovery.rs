//! `invsync-bench recovery`: how long recovery takes for a run that died with N writes on
//! record as intents, N − 250 of them also recorded as items (killed while its last batch
//! of 250 was in flight) — issue 13, item 1. On each backend: marking the run, settling it
//! step by step (time, number of steps, the longest step: what a stopping daemon or a CLI
//! budget may wait for), and the recount; the counts are checked against the items.
//!
//! `--old` also times the statement recovery used before (one `INSERT … NOT EXISTS` over
//! all intents, without the `(run_id, sku, field)` index), to show its quadratic growth.

use invsync_core::{Field, FieldSet, ItemOutcome, RunStatus, Side, Trigger};
use invsync_store::{Db, NewRun, NewRunItem, PoolOptions, ProcessIdentity, WriteIntent};
use std::time::{Duration, Instant};

pub struct Options {
    pub intents: usize,
    pub backends: Vec<invsync_store::Backend>,
    pub old: bool,
}

/// The batch the run was killed in: its intents are on record, its items are not.
const IN_FLIGHT: usize = 250;

pub fn run(options: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for backend in &options.backends {
            let (db, _url, _keep) = fresh(*backend).await?;
            let run = seed(&db, options.intents).await?;
            measure(&db, run, options.intents).await?;
            db.close().await;
            if options.old {
                let (db, url, _keep) = fresh(*backend).await?;
                let run = seed(&db, options.intents).await?;
                db.close().await;
                measure_old(*backend, &url, run, options.intents).await?;
            }
        }
        Ok(())
    })
}

/// A fresh, migrated database of `backend`, its URL, and what keeps it alive.
async fn fresh(
    backend: invsync_store::Backend,
) -> anyhow::Result<(Db, String, Box<dyn std::any::Any>)> {
    let (url, keep): (String, Box<dyn std::any::Any>) = match backend {
        invsync_store::Backend::Postgres => {
            let pg = invsync_test_support::pg::fresh_database().await;
            (pg.url().to_owned(), Box::new(pg))
        }
        invsync_store::Backend::Sqlite => {
            let dir = tempfile::tempdir()?;
            (
                format!("sqlite://{}/invsync.db", dir.path().display()),
                Box::new(dir),
            )
        }
    };
    let db = Db::connect(
        &url,
        &PoolOptions {
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
        },
    )
    .await?;
    db.migrate().await?;
    Ok((db, url, keep))
}

/// A run of a process that is gone (another host, heartbeat stale), with `intents` writes
/// intended and all but the last batch recorded as `updated` items.
async fn seed(db: &Db, intents: usize) -> anyhow::Result<i64> {
    let started = Instant::now();
    let run = db
        .start_run(&NewRun {
            schedule: None,
            store: "bench".into(),
            trigger: Trigger::Manual,
            update_side: Side::Store,
            fields: FieldSet::QUANTITY,
            owner: ProcessIdentity {
                host: "elsewhere".into(),
                pid: 1,
                start_marker: "gone".into(),
            },
            scheduled_for: None,
        })
        .await?;
    let sku = |n: usize| format!("SKU-{n:08}");
    for chunk in (0..intents).collect::<Vec<_>>().chunks(10_000) {
        let batch: Vec<WriteIntent> = chunk
            .iter()
            .map(|&n| WriteIntent {
                key: format!("invsync-run-{run}-change-{n}"),
                sku: sku(n),
                field: Field::Quantity,
                old_value: "1".into(),
                new_value: "2".into(),
            })
            .collect();
        db.record_intents(run, &batch).await?;
    }
    let recorded = intents.saturating_sub(IN_FLIGHT);
    for chunk in (0..recorded).collect::<Vec<_>>().chunks(5_000) {
        let items: Vec<NewRunItem> = chunk
            .iter()
            .map(|&n| NewRunItem {
                sku: sku(n),
                field: Field::Quantity,
                old_value: Some("1".into()),
                new_value: Some("2".into()),
                outcome: ItemOutcome::Updated,
                error: None,
            })
            .collect();
        db.record_items(run, &items).await?;
    }
    println!(
        "{}: a dead run with {intents} write intents and {recorded} items (seeded in {:.1} s)",
        db.backend(),
        started.elapsed().as_secs_f64()
    );
    Ok(run)
}

async fn measure(db: &Db, run: i64, intents: usize) -> anyhow::Result<()> {
    let me = ProcessIdentity::current();
    let started = Instant::now();
    let marked = db.mark_interrupted(&me, Duration::ZERO).await?;
    let mark = started.elapsed();
    anyhow::ensure!(marked == vec![run], "marked {marked:?}, not run {run}");
    let mut steps = 0;
    let mut longest = Duration::ZERO;
    let mut last = Duration::ZERO;
    let mut times: Vec<Duration> = Vec::new();
    let mut previous = None;
    let settling = Instant::now();
    loop {
        let step_started = Instant::now();
        match db.settle_step(previous.as_ref()).await? {
            Some(step) => {
                last = step_started.elapsed();
                longest = longest.max(last);
                times.push(last);
                steps += 1;
                previous = Some(step);
            }
            None => break,
        }
    }
    let settle = settling.elapsed();
    let row = db
        .get_run(run)
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {run} is gone"))?;
    let recorded = intents.saturating_sub(IN_FLIGHT) as i64;
    anyhow::ensure!(
        row.status == RunStatus::Interrupted
            && row.counts.updated == recorded
            && row.counts.failed == (intents as i64 - recorded)
            && !row.recovery_pending,
        "wrong outcome: {row:?}"
    );
    println!(
        "{}: recovered {intents} intents in {:.2} s (mark {:.3} s, {steps} steps, longest step {:.3} s, \
         last step with the recount {:.3} s); {:.0} intents/s; counts: updated {}, failed {}",
        db.backend(),
        (mark + settle).as_secs_f64(),
        mark.as_secs_f64(),
        longest.as_secs_f64(),
        last.as_secs_f64(),
        intents as f64 / (mark + settle).as_secs_f64(),
        row.counts.updated,
        row.counts.failed
    );
    // Linear means every chunk costs the same, however far into the run: compare the
    // first and the last tenth of the steps (the final one, with the recount, aside).
    times.pop();
    let tenth = (times.len() / 10).max(1);
    let mean =
        |d: &[Duration]| d.iter().map(Duration::as_secs_f64).sum::<f64>() / d.len().max(1) as f64;
    println!(
        "{}: mean step of {} intents: {:.3} s in the first tenth, {:.3} s in the last tenth",
        db.backend(),
        invsync_store::SETTLE_CHUNK,
        mean(&times[..tenth.min(times.len())]),
        mean(&times[times.len().saturating_sub(tenth)..])
    );
    Ok(())
}

/// The statement recovery ran before issue 13, on the indexes it had then.
async fn measure_old(
    backend: invsync_store::Backend,
    url: &str,
    run: i64,
    intents: usize,
) -> anyhow::Result<()> {
    let old = "INSERT INTO sync_run_items (run_id, sku, field, old_value, new_value, outcome, error) \
         SELECT i.run_id, i.sku, i.field, i.old_value, i.new_value, 'failed', \
           'outcome unknown: invsync stopped after sending this write (idempotency key ' \
           || i.key || '); the next run reads the value again and plans it afresh' \
         FROM sync_write_intents i \
         WHERE i.run_id = $1 AND NOT EXISTS ( \
           SELECT 1 FROM sync_run_items t WHERE t.run_id = i.run_id AND t.sku = i.sku \
             AND t.field = i.field AND t.old_value = i.old_value \
             AND t.new_value = i.new_value) \
         ORDER BY i.key";
    let added = match backend {
        invsync_store::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await?;
            sqlx::query("DROP INDEX sync_run_items_run_sku")
                .execute(&pool)
                .await?;
            sqlx::query("ANALYZE").execute(&pool).await?;
            let started_query = Instant::now();
            let n = sqlx::query(old)
                .bind(run)
                .execute(&pool)
                .await?
                .rows_affected();
            pool.close().await;
            (n, started_query.elapsed())
        }
        invsync_store::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await?;
            sqlx::query("DROP INDEX sync_run_items_run_sku")
                .execute(&pool)
                .await?;
            let started_query = Instant::now();
            let n = sqlx::query(old)
                .bind(run)
                .execute(&pool)
                .await?
                .rows_affected();
            pool.close().await;
            (n, started_query.elapsed())
        }
    };
    println!(
        "{backend}: the statement before issue 13 settled {intents} intents ({} items added) in {:.2} s",
        added.0,
        added.1.as_secs_f64()
    );
    Ok(())
}
