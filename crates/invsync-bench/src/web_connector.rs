//! `invsync-bench web-connector`: what the Web Connector endpoint itself costs per round
//! trip (issue 15 items 2 and 15). One session of `--requests` qbXML requests through the
//! real endpoint (SOAP parsing, ticket lookup, the lease renewed in the database on every
//! call) over loopback HTTP, driven by the Web Connector client fake; QuickBooks answers
//! at once with `--response-kib` of qbXML (a trimmed read of 500 items is about 150 KiB),
//! so the time measured is ours alone. Issue 15's latency model gives QuickBooks 150 ms
//! + 0.2 ms per item for each round trip; the endpoint's share should be a small part of it.

use invsync_config::QbType;
use invsync_store::{Db, PoolOptions};
use invsync_test_support::fake::serve;
use invsync_test_support::pg;
use invsync_test_support::web_connector::WebConnectorClient;
use invsync_webconnector::{CompanySetup, CompanyWork, Endpoint, EndpointOptions, QueueWork};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub requests: usize,
    pub response_kib: usize,
    pub postgres: bool,
}

/// The endpoint of one QuickBooks Desktop company file, user `bench`, password
/// `bench-password`, with `work` behind it.
pub(crate) fn endpoint(db: Db, work: Arc<dyn CompanyWork>) -> Endpoint {
    Endpoint::new(
        vec![CompanySetup {
            username: "bench".into(),
            password: SecretString::from("bench-password"),
            company_file: None,
            qb_type: QbType::Desktop,
            work,
        }],
        EndpointOptions {
            db,
            session_timeout: Duration::from_secs(600),
            owner: "bench".into(),
            app_name: "invsync".into(),
        },
    )
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(o))
}

async fn measure(o: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (db, _pg) = if o.postgres {
        let database = pg::fresh_database().await;
        let db = Db::connect(database.url(), &PoolOptions::default()).await?;
        (db, Some(database))
    } else {
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        (Db::connect(&url, &PoolOptions::default()).await?, None)
    };
    db.migrate().await?;
    let request = format!(
        "<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?><QBXML><QBXMLMsgsRq onError=\"continueOnError\">{}</QBXMLMsgsRq></QBXML>",
        "<ItemInventoryModRq requestID=\"1\"><ItemInventoryMod><ListID>80000001-1234567890</ListID><EditSequence>1234567890</EditSequence><SalesPrice>12.50</SalesPrice></ItemInventoryMod></ItemInventoryModRq>".repeat(10)
    );
    let work = Arc::new(QueueWork::new(std::iter::repeat_n(request, o.requests)));
    let endpoint = endpoint(db, work.clone());
    let server = serve(endpoint.router()).await;
    let client = WebConnectorClient::new(format!("{}/qbwc", server.base_url()));
    let item = "<ItemInventoryRet><ListID>80000001-1234567890</ListID><EditSequence>1234567890</EditSequence><Name>SKU-000001</Name><SalesPrice>12.50</SalesPrice><QuantityOnHand>7</QuantityOnHand></ItemInventoryRet>";
    let per_kib = 1024 / item.len() + 1;
    let response = format!(
        "<?xml version=\"1.0\" ?><QBXML><QBXMLMsgsRs><ItemInventoryQueryRs requestID=\"1\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\">{}</ItemInventoryQueryRs></QBXMLMsgsRs></QBXML>",
        item.repeat(per_kib * o.response_kib)
    );
    let mut marks: Vec<Instant> = Vec::with_capacity(o.requests + 1);
    let started = Instant::now();
    let log = client
        .run_session("bench", "bench-password", |_| {
            marks.push(Instant::now());
            Ok(response.clone())
        })
        .await
        .map_err(|e| anyhow::anyhow!("session: {e:?}"))?;
    let total = started.elapsed();
    anyhow::ensure!(
        log.requests.len() == o.requests && log.progress.last() == Some(&100),
        "the session did not finish: {} requests, progress {:?}",
        log.requests.len(),
        log.progress.last()
    );
    // A round trip: from QuickBooks answering one request to it being handed the next
    // (receiveResponseXML, then sendRequestXML).
    let mut trips: Vec<Duration> = marks.windows(2).map(|w| w[1] - w[0]).collect();
    trips.sort();
    let pick = |q: f64| {
        trips
            .get(((trips.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let mean = trips.iter().sum::<Duration>() / u32::try_from(trips.len().max(1))?;
    println!(
        "web-connector: {} requests, responses of {} KiB, {} database",
        o.requests,
        o.response_kib,
        if o.postgres { "Postgres" } else { "SQLite" }
    );
    println!("  whole session (authenticate to closeConnection): {total:.2?}");
    println!(
        "  round trip (receiveResponseXML + sendRequestXML): mean {mean:.2?}, p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    let model = Duration::from_millis(150) + Duration::from_micros(200 * 500);
    println!(
        "  against issue 15's model for a 500-item page ({model:.0?} in QuickBooks): the endpoint adds {:.2}% at p50",
        pick(0.5).as_secs_f64() * 100.0 / model.as_secs_f64()
    );
    Ok(())
}
