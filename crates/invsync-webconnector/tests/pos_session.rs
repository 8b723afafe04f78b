//! QuickBooks POS behind the Web Connector endpoint, over real HTTP: an endpoint for a
//! `QBPOS` company, the Web Connector client fake, and the POS company fake playing
//! QuickBooks POS. The work is a queue of qbposXML message sets built by
//! `invsync_connectors::quickbooks_pos` (what the POS dialect will send once it plugs into
//! the Desktop bridge); every one is validated by the fake on arrival and every answer
//! parses with the connector's parser.

use invsync_config::QbType;
use invsync_connectors::quickbooks_pos::{
    AdjustmentLine, AdjustmentMarker, ItemQuery, MessageSet, PriceMod, QtyAdjustment,
    ReceiptLookup, ReceiptRefField, SkuField, StockScope, parse_response_set,
};
use invsync_store::{Db, PoolOptions};
use invsync_test_support::fake::serve;
use invsync_test_support::quickbooks_pos::{Company, HResult as PosHResult, NewItem};
use invsync_test_support::web_connector::WebConnectorClient;
use invsync_webconnector::{
    CompanySetup, Endpoint, EndpointOptions, QbxmlVersion, QueueEvent, QueueWork,
};
use rust_decimal::Decimal;
use secrecy::SecretString;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "shop-pos";
const PASSWORD: &str = "correct horse battery";

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn set_of(requests: Vec<invsync_connectors::quickbooks_pos::Request>) -> String {
    let mut set = MessageSet::new();
    for request in requests {
        set.push(request).expect("valid");
    }
    set.to_xml()
}

#[tokio::test]
async fn a_pos_session_reads_writes_and_looks_up_over_the_web_connector() {
    let pos = Arc::new(Company::new());
    let mug = pos.add_item(NewItem::inventory("MUG", dec("10.00"), 8));
    let cup = pos.add_item(NewItem::inventory("CUP", dec("4.00"), 3));
    pos.enter_sales_receipt(1, Some("#1001"), None, &[(&mug, 1)]);

    let work = Arc::new(QueueWork::new([
        set_of(vec![
            ItemQuery::start(500, SkuField::Alu, StockScope::Company).into(),
            ReceiptLookup {
                field: ReceiptRefField::Comments,
                reference: "#1001".into(),
            }
            .into(),
        ]),
        set_of(vec![
            PriceMod {
                list_id: mug.clone(),
                price: dec("12.50"),
            }
            .into(),
            PriceMod {
                list_id: cup.clone(),
                price: dec("4.25"),
            }
            .into(),
        ]),
        set_of(vec![
            QtyAdjustment {
                reason: "invsync".into(),
                scope: StockScope::Company,
                marker: AdjustmentMarker::for_write_key("run-1-change-1"),
                lines: vec![AdjustmentLine {
                    list_id: cup.clone(),
                    new_quantity: 9,
                }],
            }
            .into(),
        ]),
    ]));

    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(
        &format!("sqlite://{}/invsync.db", dir.path().display()),
        &PoolOptions::default(),
    )
    .await
    .expect("sqlite");
    db.migrate().await.expect("migrate");
    let endpoint = Endpoint::new(
        vec![CompanySetup {
            username: USER.into(),
            password: SecretString::from(PASSWORD),
            company_file: None,
            qb_type: QbType::PointOfSale,
            work: work.clone(),
        }],
        EndpointOptions {
            db,
            session_timeout: Duration::from_secs(600),
            owner: format!("test:{}", std::process::id()),
            app_name: "invsync <test>".into(),
        },
    );
    let server = serve(endpoint.router()).await;
    let mut client = WebConnectorClient::new(format!("{}/qbwc", server.base_url()));
    client.qbxml_version = (3, 0);

    let quickbooks_pos = pos.clone();
    let log = client
        .run_session(USER, PASSWORD, move |request| {
            quickbooks_pos
                .handle("qbwc-session", request)
                .map_err(|PosHResult(code)| (format!("0x{code:08X}"), String::new()))
        })
        .await
        .expect("session");
    assert_eq!(log.progress, [33, 66, 100]);
    assert_eq!(work.remaining(), 0);
    assert_eq!(pos.stats().rejected, 0, "every request was valid qbposXML");

    let answers: Vec<String> = work
        .events()
        .into_iter()
        .filter_map(|e| match e {
            QueueEvent::Received {
                response: Ok(text), ..
            } => Some(text),
            QueueEvent::Sent { version, .. } => {
                assert_eq!(version, Some(QbxmlVersion::new(3, 0)));
                None
            }
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 3);
    let read = parse_response_set(&answers[0]).expect("qbposXML");
    let records: Vec<_> = read.responses[0]
        .items
        .iter()
        .map(|i| {
            i.as_ref()
                .expect("item")
                .to_record(SkuField::Alu, StockScope::Company)
                .expect("record")
        })
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].quantity, Some(7), "the sale rung up in POS");
    assert!(read.responses[1].receipts.iter().any(|r| r.stands()));

    assert_eq!(pos.item(&mug).expect("mug").price1, dec("12.50"));
    let cup_now = pos.item(&cup).expect("cup");
    assert_eq!(
        (cup_now.price1, cup_now.quantity_on_hand()),
        (dec("4.25"), dec("9"))
    );
    assert_eq!(
        pos.adjustments()[0].comments.as_deref(),
        Some(
            AdjustmentMarker::for_write_key("run-1-change-1")
                .comments
                .as_str()
        )
    );
}
