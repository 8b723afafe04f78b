//! The Web Connector bridge (ADR 0080 §2–4) with the Desktop dialect against the company
//! fake, sessions driven the way the endpoint drives them (no HTTP): what a session does in
//! which order, what runs get back, and what QuickBooks ends up with.

use super::dec;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invsync_connectors::quickbooks_desktop::{
    Bridge, DesktopDialect, KeptSnapshot, SessionProgress, SkuField, SnapshotStore,
};
use invsync_connectors::{ErrorKind, RecordRef, Write, WriteOutcome};
use invsync_core::FieldValue;
use invsync_test_support::quickbooks_desktop::{Company, DEFAULT_ADJUSTMENT_ACCOUNT, NewItem};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct MemStore(Mutex<Option<KeptSnapshot>>);

#[async_trait]
impl SnapshotStore for MemStore {
    async fn load(&self, _: &str) -> Result<Option<KeptSnapshot>, String> {
        Ok(self.0.lock().expect("lock").clone())
    }
    async fn save(&self, _: &str, snapshot: &KeptSnapshot) -> Result<(), String> {
        *self.0.lock().expect("lock") = Some(snapshot.clone());
        Ok(())
    }
    async fn last_seen(&self, _: &str) -> Option<DateTime<Utc>> {
        None
    }
}

fn bridge(max_returned: u32, max_age: Duration) -> (Arc<Bridge>, Arc<MemStore>) {
    let store = Arc::new(MemStore::default());
    let dialect = DesktopDialect {
        sku_field: SkuField::Name,
        max_returned,
        adjustment_account: Some(DEFAULT_ADJUSTMENT_ACCOUNT.to_owned()),
        site: None,
    };
    let bridge = Bridge::new("c", Arc::new(dialect), store.clone(), max_age, true);
    (bridge, store)
}

/// How a driven session ends.
enum Drop {
    Never,
    /// The session dies once a request containing this was handed out — after QuickBooks
    /// did it (`true`) or before it got there (`false`).
    At(&'static str, bool),
}

/// One session as the endpoint runs it: the requests handed out, in order.
async fn session(bridge: &Bridge, company: &Company, id: u64, drop: Drop) -> Vec<String> {
    session_with(bridge, company, id, drop, |_| {}).await
}

/// [`session`], with `before` called on each request before QuickBooks gets it (what a
/// user does in QuickBooks meanwhile).
async fn session_with(
    bridge: &Bridge,
    company: &Company,
    id: u64,
    drop: Drop,
    mut before: impl FnMut(&str),
) -> Vec<String> {
    let name = format!("s{id}");
    let mut sent = Vec::new();
    let mut noops = 0;
    loop {
        let Some(request) = bridge.next_request(id).await.expect("next request") else {
            if bridge.has_work() && noops < 50 {
                noops += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            break;
        };
        before(&request);
        sent.push(request.clone());
        if let Drop::At(what, done) = drop
            && request.contains(what)
        {
            if done {
                let _ = company.handle(&name, &request);
            }
            break;
        }
        let answer = company
            .handle(&name, &request)
            .map_err(|h| (h.to_string(), "QuickBooks error".to_owned()));
        match bridge.receive_response(id, answer).await {
            Ok(SessionProgress::Done) => break,
            Ok(SessionProgress::Working(_)) => {}
            Err(e) => panic!("session {id} failed: {e}"),
        }
    }
    bridge.close(id);
    company.end_session(&name);
    sent
}

/// A run handing `writes` to the bridge (as the engine's write does); returns once they
/// wait for a session.
async fn queued(
    bridge: &Arc<Bridge>,
    writes: Vec<Write>,
) -> tokio::task::JoinHandle<Result<Vec<WriteOutcome>, invsync_connectors::ConnectorError>> {
    let run = {
        let bridge = Arc::clone(bridge);
        tokio::spawn(async move { bridge.write(writes).await })
    };
    while bridge.status().waiting_jobs == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run
}

fn write(id: &str, sku: &str, old: FieldValue, new: FieldValue, key: &str) -> Write {
    Write {
        id: id.into(),
        sku: sku.into(),
        field: old.field(),
        old,
        new,
        sale: None,
        key: key.to_owned(),
    }
}

fn count(requests: &[String], element: &str) -> usize {
    requests
        .iter()
        .map(|r| r.matches(&format!("<{element} ")).count())
        .sum()
}

#[tokio::test]
async fn a_session_reads_everything_whole_and_keeps_it_and_a_half_read_is_never_kept() {
    let company = Company::new();
    for i in 0..5 {
        company.add_item(NewItem::inventory(&format!("A{i}"), dec("2.00"), 3));
    }
    company.add_item(NewItem::assembly("KIT", dec("9.00"), 1));
    company.add_item(NewItem::group("BOX"));
    company.add_item(NewItem::inventory("OLD", dec("1.00"), 1).inactive());
    let (bridge, store) = bridge(2, Duration::from_secs(600));

    // Nothing read yet: runs are told so (and skipped), never handed an empty catalog.
    let e = bridge.snapshot().await.expect_err("nothing read yet");
    assert_eq!(e.kind, ErrorKind::Outdated);
    assert!(e.message.contains("has not been read yet"), "{e}");

    // The session dies on its second page: the iterator dies with it, nothing is kept.
    let sent = session(
        &bridge,
        &company,
        1,
        Drop::At("iterator=\"Continue\"", false),
    )
    .await;
    assert_eq!(sent.len(), 2);
    assert!(
        store.0.lock().expect("lock").is_none(),
        "a half read is never kept"
    );
    assert!(bridge.snapshot().await.is_err());

    // The next session starts from `Start` and reads every list whole.
    let sent = session(&bridge, &company, 2, Drop::Never).await;
    assert!(sent[0].contains("iterator=\"Start\""), "{}", sent[0]);
    assert_eq!(count(&sent, "ItemInventoryQueryRq"), 3, "5 items, 2 a page");
    let snapshot = bridge.snapshot().await.expect("kept");
    let mut skus: Vec<&str> = snapshot.records.iter().map(|r| r.sku.as_str()).collect();
    skus.sort_unstable();
    assert_eq!(
        skus,
        ["A0", "A1", "A2", "A3", "A4", "BOX", "KIT"],
        "inactive items left out"
    );
    assert!(store.0.lock().expect("lock").is_some(), "kept in the store");
}

#[tokio::test]
async fn a_snapshot_older_than_max_age_is_refused_with_the_reason() {
    let (bridge, store) = bridge(500, Duration::from_secs(1800));
    *store.0.lock().expect("lock") = Some(KeptSnapshot {
        records: Vec::new(),
        rejects: Vec::new(),
        read_at: Utc::now() - chrono::Duration::minutes(130),
        posted: BTreeSet::new(),
    });
    let e = bridge.snapshot().await.expect_err("too old");
    assert_eq!(e.kind, ErrorKind::Outdated);
    assert!(
        e.message.contains("2 h 10 min ago") && e.message.contains("max_age = 30 min"),
        "{e}"
    );
    assert!(e.message.contains("Web Connector"), "{e}");

    // A write no session takes up within max_age is withdrawn, unsent.
    let (bridge, _) = self::bridge(500, Duration::from_millis(200));
    let e = bridge
        .write(vec![write(
            "X",
            "x",
            FieldValue::Quantity(1),
            FieldValue::Quantity(2),
            "k",
        )])
        .await
        .expect_err("no session");
    assert_eq!(e.kind, ErrorKind::Outdated);
    assert!(e.message.contains("nothing was written"), "{e}");
    assert_eq!(bridge.status().waiting_jobs, 0);
}

#[tokio::test]
async fn a_quantity_write_whose_answer_was_lost_is_found_by_its_marker_and_never_sent_twice() {
    let company = Company::new();
    let a = company.add_item(NewItem::inventory("A", dec("5.00"), 10));
    let b = company.add_item(NewItem::inventory("B", dec("5.00"), 10));
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    session(&bridge, &company, 1, Drop::Never).await;

    // A run (store master) writes A: 10 → 15 and B: 10 → 7.
    let run = queued(
        &bridge,
        vec![
            write(
                &a,
                "A",
                FieldValue::Quantity(10),
                FieldValue::Quantity(15),
                "key-a",
            ),
            write(
                &b,
                "B",
                FieldValue::Quantity(10),
                FieldValue::Quantity(7),
                "key-b",
            ),
        ],
    )
    .await;
    // QuickBooks applies the adjustments, and the answer never comes back.
    let sent = session(
        &bridge,
        &company,
        2,
        Drop::At("InventoryAdjustmentAddRq", true),
    )
    .await;
    assert_eq!(
        count(&sent, "InventoryAdjustmentAddRq"),
        2,
        "both in one message set"
    );
    assert_eq!(company.adjustments().len(), 2);
    assert_eq!(bridge.status().unsettled, 2);

    // The next session looks for their markers first, finds them, sends nothing again.
    let sent = session(&bridge, &company, 3, Drop::Never).await;
    assert!(
        sent[0].contains("InventoryAdjustmentQueryRq"),
        "{}",
        sent[0]
    );
    assert_eq!(count(&sent, "InventoryAdjustmentAddRq"), 0);
    let outcomes = run.await.expect("join").expect("outcomes");
    assert_eq!(outcomes, vec![WriteOutcome::Applied, WriteOutcome::Applied]);
    assert_eq!(company.adjustments().len(), 2, "exactly once");
    let qty = |id: &str| company.item(id).expect("item").quantity_on_hand;
    assert_eq!((qty(&a), qty(&b)), (dec("15"), dec("7")));
    let adjustment = &company.adjustments()[0];
    assert_eq!(
        adjustment.account.as_deref(),
        Some(DEFAULT_ADJUSTMENT_ACCOUNT)
    );
}

#[tokio::test]
async fn a_quantity_write_lost_before_quickbooks_got_it_is_computed_again_from_the_next_read() {
    let company = Company::new();
    let a = company.add_item(NewItem::inventory("A", dec("5.00"), 10));
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    session(&bridge, &company, 1, Drop::Never).await;
    let run = queued(
        &bridge,
        vec![write(
            &a,
            "A",
            FieldValue::Quantity(10),
            FieldValue::Quantity(12),
            "key-a",
        )],
    )
    .await;
    session(
        &bridge,
        &company,
        2,
        Drop::At("InventoryAdjustmentAddRq", false),
    )
    .await;
    assert!(company.adjustments().is_empty());
    let sent = session(&bridge, &company, 3, Drop::Never).await;
    assert!(sent[0].contains("InventoryAdjustmentQueryRq"));
    assert_eq!(
        count(&sent, "InventoryAdjustmentAddRq"),
        1,
        "not found: sent once"
    );
    assert_eq!(
        run.await.expect("join").expect("ok"),
        vec![WriteOutcome::Applied]
    );
    assert_eq!(company.item(&a).expect("item").quantity_on_hand, dec("12"));
    assert_eq!(company.adjustments().len(), 1);
}

#[tokio::test]
async fn a_price_changed_in_quickbooks_mid_session_comes_back_stale_and_is_re_read_never_overwritten()
 {
    let company = Arc::new(Company::new());
    let a = company.add_item(NewItem::inventory("A", dec("10.00"), 1));
    let b = company.add_item(NewItem::inventory("B", dec("20.00"), 1));
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    session(&bridge, &company, 1, Drop::Never).await;

    // The run: write both prices; what comes back stale is re-read and planned again
    // (here: still wanted), all within the session it holds open.
    let run = {
        let bridge = Arc::clone(&bridge);
        let (a, b) = (a.clone(), b.clone());
        tokio::spawn(async move {
            let _attached = bridge.attach();
            let first = bridge
                .write(vec![
                    write(
                        &a,
                        "A",
                        FieldValue::Price(dec("10.00")),
                        FieldValue::Price(dec("11.00")),
                        "pa",
                    ),
                    write(
                        &b,
                        "B",
                        FieldValue::Price(dec("20.00")),
                        FieldValue::Price(dec("21.00")),
                        "pb",
                    ),
                ])
                .await
                .expect("first round");
            let fresh = bridge
                .reread(vec![RecordRef {
                    id: a.as_str().into(),
                    sku: "A".into(),
                }])
                .await
                .expect("re-read");
            let now = fresh[0].price.expect("price");
            let second = bridge
                .write(vec![write(
                    &a,
                    "A",
                    FieldValue::Price(now),
                    FieldValue::Price(dec("11.00")),
                    "pa2",
                )])
                .await
                .expect("second round");
            (first, now, second)
        })
    };
    while bridge.status().waiting_jobs == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Someone edits A in QuickBooks after the session's read, before the mod lands.
    let mut edited = false;
    let sent = session_with(&bridge, &company, 2, Drop::Never, |request| {
        if request.contains("ItemInventoryModRq") && !edited {
            edited = true;
            company.edit_in_quickbooks(&a, |item| item.sales_price = dec("10.50"));
        }
    })
    .await;
    let (first, now, second) = run.await.expect("join");
    assert!(
        matches!(&first[0], WriteOutcome::Stale(m) if m.contains("3200")),
        "{first:?}"
    );
    assert_eq!(first[1], WriteOutcome::Applied);
    assert_eq!(now, dec("10.50"), "the re-read sees the edit");
    assert_eq!(second, vec![WriteOutcome::Applied]);
    assert_eq!(
        count(&sent, "ItemInventoryModRq"),
        3,
        "2 in the first set, 1 after the re-read"
    );
    assert_eq!(company.item(&a).expect("item").sales_price, dec("11.00"));
    assert_eq!(company.item(&b).expect("item").sales_price, dec("21.00"));
}

#[tokio::test]
async fn posted_orders_are_asked_before_the_read_and_kept_with_the_snapshot() {
    let company = Company::new();
    let a = company.add_item(NewItem::inventory("A", dec("1.00"), 10));
    company.enter_sales_receipt("1001", &[(&a, 2)]);
    company.enter_invoice("1003", &[(&a, 1)]);
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    bridge.ask_posted(["1001".to_owned(), "1002".to_owned(), "1003".to_owned()]);
    let sent = session(&bridge, &company, 1, Drop::Never).await;
    assert!(sent[0].contains("SalesReceiptQueryRq") && sent[0].contains("InvoiceQueryRq"));
    assert!(sent[1].contains("ItemInventoryQueryRq"), "then the read");
    let snapshot = bridge.snapshot().await.expect("kept");
    assert_eq!(
        snapshot.posted,
        BTreeSet::from(["1001".to_owned(), "1003".to_owned()])
    );
    assert_eq!(
        snapshot.records[0].quantity,
        Some(7),
        "the read after the postings"
    );
}

#[tokio::test]
async fn a_rejected_message_set_ends_the_session_in_words_and_the_command_line_never_writes() {
    let company = Company::new();
    company.add_item(NewItem::inventory("A", dec("1.00"), 1));
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    bridge.next_request(1).await.expect("ok").expect("a read");
    let e = bridge
        .receive_response(1, Err(("0x80040400".into(), "parse error".into())))
        .await
        .expect_err("fatal");
    assert!(
        e.contains("0x80040400") && e.contains("ItemInventoryQueryRq"),
        "{e}"
    );
    bridge.close(1);

    let store = Arc::new(MemStore::default());
    let offline = Bridge::new(
        "c",
        Arc::new(DesktopDialect {
            sku_field: SkuField::Name,
            max_returned: 500,
            adjustment_account: None,
            site: None,
        }),
        store,
        Duration::from_secs(60),
        false,
    );
    let e = offline
        .write(vec![write(
            "X",
            "x",
            FieldValue::Price(dec("1")),
            FieldValue::Price(dec("2")),
            "k",
        )])
        .await
        .expect_err("no endpoint here");
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert!(e.message.contains("invsync daemon"), "{e}");
}

#[tokio::test]
async fn a_locked_item_is_written_in_the_next_session_and_the_run_waits_for_it() {
    let company = Company::new();
    let a = company.add_item(NewItem::inventory("A", dec("10.00"), 1));
    let b = company.add_item(NewItem::inventory("B", dec("20.00"), 1));
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    session(&bridge, &company, 1, Drop::Never).await;
    let run = queued(
        &bridge,
        vec![
            write(
                &a,
                "A",
                FieldValue::Price(dec("10.00")),
                FieldValue::Price(dec("12.00")),
                "pa",
            ),
            write(
                &b,
                "B",
                FieldValue::Price(dec("20.00")),
                FieldValue::Price(dec("22.00")),
                "pb",
            ),
        ],
    )
    .await;
    // Someone has A open in QuickBooks for this session.
    company.lock(&a, 3175, 1);
    let sent = session(&bridge, &company, 2, Drop::Never).await;
    assert_eq!(count(&sent, "ItemInventoryModRq"), 2);
    assert!(!run.is_finished(), "the run waits for the next session");
    assert_eq!(company.item(&b).expect("item").sales_price, dec("22.00"));
    let sent = session(&bridge, &company, 3, Drop::Never).await;
    assert_eq!(
        count(&sent, "ItemInventoryModRq"),
        1,
        "only the locked one, again"
    );
    let outcomes = run.await.expect("join").expect("outcomes");
    assert_eq!(outcomes, vec![WriteOutcome::Applied, WriteOutcome::Applied]);
    assert_eq!(company.item(&a).expect("item").sales_price, dec("12.00"));
}

#[tokio::test]
async fn a_session_that_could_not_reach_quickbooks_is_named_in_what_runs_are_told() {
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    bridge.connection_error(
        1,
        "0x80040408: Could not start QuickBooks. — QuickBooks could not be started",
    );
    bridge.close(1);
    let e = bridge.snapshot().await.expect_err("nothing read");
    assert!(
        e.message.contains("its last session failed: 0x80040408"),
        "{e}"
    );
    assert!(
        bridge
            .status()
            .last_error
            .is_some_and(|e| e.contains("Could not start QuickBooks"))
    );
}

#[tokio::test]
async fn the_connection_answers_posted_orders_from_the_snapshot_and_asks_the_next_session() {
    use invsync_connectors::Connection;
    use invsync_connectors::quickbooks_desktop::DesktopConnection;
    use invsync_core::OrderLine;
    let company = Company::new();
    let a = company.add_item(NewItem::inventory("A", dec("1.00"), 10));
    company.enter_sales_receipt("web-1001", &[(&a, 2)]);
    let (bridge, _) = bridge(500, Duration::from_secs(600));
    let config = invsync_config::QuickBooksDesktopConfig {
        company: "c".into(),
        sku_field: invsync_config::DesktopSkuField::Name,
        adjustment_account: None,
        site: None,
        order_ref_number: "{store}-{order}".into(),
        max_age: Duration::from_secs(600),
        max_returned: 500,
    };
    let connection = DesktopConnection::new("accounting", &config, Arc::clone(&bridge));
    let line = |store: &str, order: &str| OrderLine {
        store: store.into(),
        order: order.into(),
        sku: "A".into(),
        quantity: 2,
    };
    let lines = [line("web", "1001"), line("web", "1002")];
    // No snapshot yet: it cannot tell (every line unposted), and the next session asks.
    assert_eq!(connection.posted_orders(&lines).await.expect("ok"), None);
    let sent = session(&bridge, &company, 1, Drop::Never).await;
    assert!(
        sent[0].contains("<RefNumber>web-1001</RefNumber>"),
        "{}",
        sent[0]
    );
    let connection = DesktopConnection::new("accounting", &config, Arc::clone(&bridge));
    assert_eq!(
        connection.posted_orders(&lines).await.expect("ok"),
        Some(vec![true, false])
    );
    let catalog = connection.read_catalog().await.expect("catalog");
    assert_eq!(
        catalog.records[0].quantity,
        Some(8),
        "the sale is in the read"
    );
}
