//! The Web Connector bridge (ADR 0080 §2–4) with the POS dialect (ADR 0081) against the POS
//! company fake, sessions driven the way the endpoint drives them (no HTTP).

use super::dec;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invsync_connectors::quickbooks_desktop::{
    Bridge, KeptSnapshot, SessionProgress, SnapshotStore,
};
use invsync_connectors::quickbooks_pos::{PosDialect, ReceiptRefField, SkuField, StockScope};
use invsync_connectors::{ErrorKind, Write, WriteOutcome};
use invsync_core::{FieldValue, ItemKind};
use invsync_test_support::quickbooks_pos::{Company, ItemType, NewItem};
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

fn dialect(max_returned: u32, scope: StockScope) -> PosDialect {
    PosDialect {
        sku_field: SkuField::Alu,
        scope,
        max_returned,
        adjustment_reason: "invsync".into(),
        order_ref_field: ReceiptRefField::Comments,
    }
}

fn bridge(dialect: PosDialect) -> (Arc<Bridge>, Arc<MemStore>) {
    let store = Arc::new(MemStore::default());
    let bridge = Bridge::new(
        "pos",
        Arc::new(dialect),
        store.clone(),
        Duration::from_secs(600),
        true,
    );
    (bridge, store)
}

/// One session as the endpoint runs it; with `drop_after_applying`, the session dies once
/// a request containing it was handed out and applied by POS (the answer is lost).
async fn session(
    bridge: &Bridge,
    pos: &Company,
    id: u64,
    drop_after_applying: Option<&str>,
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
        sent.push(request.clone());
        if drop_after_applying.is_some_and(|what| request.contains(what)) {
            let _ = pos.handle(&name, &request);
            break;
        }
        let answer = pos
            .handle(&name, &request)
            .map_err(|h| (h.to_string(), "QuickBooks POS error".to_owned()));
        match bridge.receive_response(id, answer).await {
            Ok(SessionProgress::Done) => break,
            Ok(SessionProgress::Working(_)) => {}
            Err(e) => panic!("session {id} failed: {e}"),
        }
    }
    bridge.close(id);
    pos.end_session(&name);
    sent
}

fn write(id: &str, old: FieldValue, new: FieldValue, key: &str) -> Write {
    Write {
        id: id.into(),
        sku: "sku".into(),
        field: old.field(),
        old,
        new,
        sale: None,
        key: key.to_owned(),
    }
}

#[tokio::test]
async fn a_session_asks_posted_orders_then_reads_every_item_into_the_snapshot() {
    let pos = Company::new().with_stores(2);
    let mug = pos.add_item(NewItem::inventory("MUG", dec("10.00"), 0).stocked(&[(1, 4), (2, 6)]));
    for n in 0..4 {
        pos.add_item(NewItem::inventory(&format!("CUP-{n}"), dec("3.00"), 1));
    }
    pos.add_item(NewItem::inventory("GIFT", dec("0"), 0).of_type(ItemType::Group));
    pos.add_item(NewItem::inventory("NOALU", dec("1"), 1).without_alu());
    pos.enter_sales_receipt(2, Some("1001"), None, &[(&mug, 1)]);
    let reversed = pos.enter_sales_receipt(2, Some("1002"), None, &[(&mug, 1)]);
    pos.reverse_receipt(&reversed);

    let (bridge, _) = bridge(dialect(2, StockScope::Store(2)));
    assert_eq!(
        bridge.snapshot().await.expect_err("nothing yet").kind,
        ErrorKind::Outdated
    );
    bridge.ask_posted(["1001".to_owned(), "1002".to_owned(), "1003".to_owned()]);
    let sent = session(&bridge, &pos, 1, None).await;
    assert!(sent[0].contains("SalesReceiptQueryRq"), "{}", sent[0]);
    assert!(sent[1].contains("ItemInventoryQueryRq"), "then the read");
    assert_eq!(sent.len(), 1 + 4, "7 items at 2 a page");
    assert_eq!(pos.stats().rejected, 0, "every request valid qbposXML");

    let snapshot = bridge.snapshot().await.expect("kept");
    assert_eq!(
        snapshot.posted,
        BTreeSet::from(["1001".to_owned()]),
        "a reversed receipt does not count"
    );
    assert_eq!(snapshot.records.len(), 6);
    assert_eq!(snapshot.rejects.len(), 1, "no ALU: {:?}", snapshot.rejects);
    let record = |sku: &str| {
        snapshot
            .records
            .iter()
            .find(|r| r.sku == sku)
            .unwrap_or_else(|| panic!("{sku}"))
    };
    assert_eq!(record("MUG").quantity, Some(5), "store 2, after the sale");
    assert_eq!(record("MUG").price, Some(dec("10.00")));
    assert_eq!(record("GIFT").kind, ItemKind::Base);
}

#[tokio::test]
async fn a_memo_whose_answer_was_lost_is_found_by_its_marker_and_a_later_sale_survives() {
    let pos = Company::new();
    let a = pos.add_item(NewItem::inventory("A", dec("5.00"), 10));
    let (bridge, _) = bridge(dialect(500, StockScope::Company));
    session(&bridge, &pos, 1, None).await;

    let run = {
        let bridge = Arc::clone(&bridge);
        let a = a.clone();
        tokio::spawn(async move {
            bridge
                .write(vec![write(
                    &a,
                    FieldValue::Quantity(10),
                    FieldValue::Quantity(15),
                    "key-a",
                )])
                .await
        })
    };
    while bridge.status().waiting_jobs == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // POS applies the memo; its answer never comes back.
    let sent = session(&bridge, &pos, 2, Some("InventoryQtyAdjustmentAddRq")).await;
    assert!(
        sent.last()
            .is_some_and(|r| r.contains("<NewQuantity>15</NewQuantity>"))
    );
    assert_eq!(bridge.status().unsettled, 1);
    // A sale is rung up in POS before the next session.
    pos.enter_sales_receipt(1, None, None, &[(&a, 1)]);

    let sent = session(&bridge, &pos, 3, None).await;
    assert!(
        sent[0].contains("InventoryQtyAdjustmentQueryRq"),
        "{}",
        sent[0]
    );
    assert!(
        sent.iter()
            .all(|r| !r.contains("InventoryQtyAdjustmentAddRq")),
        "never sent again"
    );
    assert_eq!(
        run.await.expect("join").expect("outcomes"),
        vec![WriteOutcome::Applied]
    );
    assert_eq!(pos.adjustments().len(), 1, "exactly once");
    assert_eq!(
        pos.item(&a).expect("item").quantity_on_hand(),
        dec("14"),
        "the sale after the memo stands"
    );
}

#[tokio::test]
async fn price_writes_land_and_a_price_changed_in_pos_since_the_snapshot_is_stale() {
    let pos = Company::new();
    let a = pos.add_item(NewItem::inventory("A", dec("10.00"), 1));
    let b = pos.add_item(NewItem::inventory("B", dec("20.00"), 1));
    let (bridge, _) = bridge(dialect(500, StockScope::Company));
    session(&bridge, &pos, 1, None).await;
    // Edited in POS after the snapshot the run plans from.
    pos.edit_in_pos(&b, |i| i.price1 = dec("25.00"));

    let run = {
        let bridge = Arc::clone(&bridge);
        let (a, b) = (a.clone(), b.clone());
        tokio::spawn(async move {
            bridge
                .write(vec![
                    write(
                        &a,
                        FieldValue::Price(dec("10.00")),
                        FieldValue::Price(dec("11.00")),
                        "pa",
                    ),
                    write(
                        &b,
                        FieldValue::Price(dec("20.00")),
                        FieldValue::Price(dec("21.00")),
                        "pb",
                    ),
                ])
                .await
        })
    };
    while bridge.status().waiting_jobs == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = session(&bridge, &pos, 2, None).await;
    let outcomes = run.await.expect("join").expect("outcomes");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Stale(why) if why.contains("25")),
        "{outcomes:?}"
    );
    assert_eq!(
        sent.iter()
            .map(|r| r.matches("<ItemInventoryModRq ").count())
            .sum::<usize>(),
        1
    );
    assert_eq!(pos.item(&a).expect("a").price1, dec("11.00"));
    assert_eq!(
        pos.item(&b).expect("b").price1,
        dec("25.00"),
        "never overwritten"
    );
    let kept = bridge.snapshot().await.expect("kept");
    assert_eq!(kept.records.len(), 2);
}

#[tokio::test]
async fn a_memo_for_an_item_locked_in_pos_is_sent_in_the_next_session_and_the_run_waits() {
    let pos = Company::new();
    let a = pos.add_item(NewItem::inventory("A", dec("1.00"), 4));
    let b = pos.add_item(NewItem::inventory("B", dec("1.00"), 4));
    let (bridge, _) = bridge(dialect(500, StockScope::Company));
    session(&bridge, &pos, 1, None).await;
    let run = {
        let bridge = Arc::clone(&bridge);
        let (a, b) = (a.clone(), b.clone());
        tokio::spawn(async move {
            bridge
                .write(vec![
                    write(&a, FieldValue::Quantity(4), FieldValue::Quantity(9), "qa"),
                    write(&b, FieldValue::Quantity(4), FieldValue::Quantity(2), "qb"),
                ])
                .await
        })
    };
    while bridge.status().waiting_jobs == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Someone has A open in POS for this session.
    pos.lock(&a, 3175, 1);
    session(&bridge, &pos, 2, None).await;
    assert!(!run.is_finished(), "the run waits for the next session");
    assert_eq!(pos.item(&b).expect("b").quantity_on_hand(), dec("2"));
    let sent = session(&bridge, &pos, 3, None).await;
    assert_eq!(
        sent.iter()
            .map(|r| r.matches("<InventoryQtyAdjustmentAddRq ").count())
            .sum::<usize>(),
        1,
        "only the locked one, again"
    );
    assert_eq!(
        run.await.expect("join").expect("outcomes"),
        vec![WriteOutcome::Applied, WriteOutcome::Applied]
    );
    assert_eq!(pos.item(&a).expect("a").quantity_on_hand(), dec("9"));
    assert_eq!(pos.adjustments().len(), 2);
}
