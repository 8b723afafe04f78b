//! The qbposXML layer of QuickBooks POS against the element-order validator
//! (`invsync_test_support::qbposxml_lite`, written from Intuit's qbposXML 3.0 layouts) and
//! the fake POS company (which validates every request it is sent): what the builders
//! write, what the parsers read, and the conversations issue 15 item 11 needs — iterated
//! reads (restarted after `3391`), `Price1` writes, exactly-once `NewQuantity` memos,
//! posted-order look-ups — as text in, text out.

use invsync_connectors::quickbooks_pos::{
    AdjustmentLine, AdjustmentLookup, AdjustmentMarker, DEFAULT_MAX_RETURNED, Item, ItemQuery,
    MessageSet, Next, Outcome, PriceMod, QtyAdjustment, ReceiptLookup, ReceiptRefField, Request,
    Response, ResponseSet, Scope, SkuField, StockScope, classify, parse_response_set,
};
use invsync_core::ItemKind;
use invsync_test_support::qbposxml_lite;
use invsync_test_support::quickbooks_pos::{Company, ItemType, NewItem};
use rust_decimal::Decimal;
use std::str::FromStr;

#[path = "quickbooks_pos/bridge.rs"]
mod bridge;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// Sends `set` in `session` (after checking it with the validator) and parses the answer.
fn exchange(company: &Company, session: &str, set: &MessageSet) -> ResponseSet {
    let xml = set.to_xml();
    qbposxml_lite::assert_valid(&xml);
    let text = company
        .handle(session, &xml)
        .unwrap_or_else(|h| panic!("the company answered {h} to:\n{xml}"));
    parse_response_set(&text).expect("a qbposXML response")
}

fn response(answer: &ResponseSet, id: impl std::fmt::Display) -> &Response {
    answer
        .get(&id.to_string())
        .unwrap_or_else(|| panic!("no response {id}"))
}

fn outcome(answer: &ResponseSet, set: &MessageSet, id: impl std::fmt::Display) -> Outcome {
    let id = id.to_string();
    let request = set
        .requests()
        .iter()
        .find(|(i, _)| i.to_string() == id)
        .map_or("?", |(_, r)| r.element());
    classify(&response(answer, &id).status, request)
}

/// Every item, page by page in one session: (items, round trips). `3391` restarts the
/// read from `Start` (a half read is never kept).
fn read_all(
    company: &Company,
    session: &str,
    max_returned: u32,
    sku_field: SkuField,
    scope: StockScope,
) -> (Vec<Item>, usize) {
    let mut items = Vec::new();
    let mut trips = 0;
    let mut query = ItemQuery::start(max_returned, sku_field, scope);
    loop {
        let mut set = MessageSet::new();
        let id = set.push(query.clone()).expect("valid read");
        let answer = exchange(company, session, &set);
        trips += 1;
        let r = response(&answer, id);
        match classify(&r.status, "ItemInventoryQueryRq") {
            Outcome::Ok | Outcome::NoMatch => {}
            Outcome::Error(e) if e.next == Next::RestartIterator => {
                items.clear();
                query = ItemQuery::start(max_returned, sku_field, scope);
                continue;
            }
            other => panic!("read failed: {other:?}"),
        }
        items.extend(r.items.iter().map(|i| i.clone().expect("a good item")));
        match &r.iterator {
            Some(it) if it.remaining > 0 => {
                query = ItemQuery::next_page(&it.id, max_returned, sku_field, scope);
            }
            _ => break,
        }
    }
    (items, trips)
}

#[test]
fn a_whole_read_pages_through_every_item_type_into_records() {
    let company = Company::new().with_stores(2);
    for n in 0..23 {
        company.add_item(
            NewItem::inventory(&format!("SKU-{n:02}"), dec("9.99"), 0)
                .stocked(&[(1, n), (2, 1)])
                .with_upc(&format!("0000{n:08}")),
        );
    }
    company.add_item(NewItem::inventory("LABOUR", dec("40"), 0).of_type(ItemType::Service));
    company.add_item(NewItem::inventory("KIT", dec("0"), 0).of_type(ItemType::Group));
    company.add_item(NewItem::inventory("NOALU", dec("1"), 2).without_alu());

    let (items, trips) = read_all(&company, "s1", 10, SkuField::Alu, StockScope::Company);
    assert_eq!(items.len(), 26);
    assert_eq!(trips, 3, "26 items at 10 a page");
    let records: Vec<_> = items
        .iter()
        .filter_map(|i| i.to_record(SkuField::Alu, StockScope::Company).ok())
        .collect();
    assert_eq!(
        records.len(),
        25,
        "the item without an ALU cannot be matched"
    );
    let sku05 = records.iter().find(|r| r.sku == "SKU-05").expect("SKU-05");
    assert_eq!((sku05.quantity, sku05.price), (Some(6), Some(dec("9.99"))));
    let labour = records.iter().find(|r| r.sku == "LABOUR").expect("labour");
    assert_eq!((labour.kind, labour.quantity), (ItemKind::Untracked, None));
    let kit = records.iter().find(|r| r.sku == "KIT").expect("kit");
    assert_eq!(kit.kind, ItemKind::Base);

    // One store's stock, by bar code.
    let (items, _) = read_all(&company, "s1", 500, SkuField::Upc, StockScope::Store(1));
    let by_upc = items
        .iter()
        .find(|i| i.sku(SkuField::Upc) == Some("000000000005"))
        .expect("by UPC");
    assert_eq!(by_upc.quantity(StockScope::Store(1)), Some(5));
    assert_eq!(by_upc.quantity(StockScope::Company), None, "not asked for");
}

#[test]
fn an_iterator_lost_with_its_session_restarts_cleanly() {
    let company = Company::new();
    for n in 0..5 {
        company.add_item(NewItem::inventory(&format!("A{n}"), dec("1"), n));
    }
    let mut set = MessageSet::new();
    let id = set
        .push(ItemQuery::start(2, SkuField::Alu, StockScope::Company))
        .expect("valid");
    let first = exchange(&company, "old", &set);
    let iterator = response(&first, id).iterator.clone().expect("an iterator");
    company.end_session("old");

    let mut set = MessageSet::new();
    let id = set
        .push(ItemQuery::next_page(
            &iterator.id,
            2,
            SkuField::Alu,
            StockScope::Company,
        ))
        .expect("valid");
    let answer = exchange(&company, "new", &set);
    match outcome(&answer, &set, id) {
        Outcome::Error(e) => {
            assert_eq!((e.next, e.scope), (Next::RestartIterator, Scope::Item));
        }
        other => panic!("expected 3391, got {other:?}"),
    }
    let (items, trips) = read_all(&company, "new", 2, SkuField::Alu, StockScope::Company);
    assert_eq!((items.len(), trips), (5, 3));
}

#[test]
fn price_mods_go_several_per_message_set_and_land_without_compare_and_set() {
    let company = Company::new();
    let ids: Vec<String> = (0..4)
        .map(|n| company.add_item(NewItem::inventory(&format!("P{n}"), dec("5.00"), 1)))
        .collect();
    // Edited in POS after invsync's read: POS has no EditSequence to refuse the mod with.
    company.edit_in_pos(&ids[1], |i| i.price1 = dec("7.00"));
    company.lock(&ids[2], 3176, 1);
    let mut set = MessageSet::new();
    let request_ids: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            set.push(PriceMod {
                list_id: id.clone(),
                price: Decimal::new(600 + i64::try_from(n).expect("small"), 2),
            })
            .expect("valid")
        })
        .collect();
    let answer = exchange(&company, "s", &set);
    assert_eq!(company.stats().message_sets, 1);
    assert_eq!(outcome(&answer, &set, request_ids[0]), Outcome::Ok);
    assert_eq!(outcome(&answer, &set, request_ids[1]), Outcome::Ok);
    match outcome(&answer, &set, request_ids[2]) {
        Outcome::Error(e) => assert_eq!(e.next, Next::RetryNextSession),
        other => panic!("expected a lock, got {other:?}"),
    }
    assert_eq!(outcome(&answer, &set, request_ids[3]), Outcome::Ok);
    assert_eq!(company.item(&ids[1]).expect("item").price1, dec("6.01"));
    let returned = response(&answer, request_ids[0]).items[0]
        .clone()
        .expect("the item");
    assert_eq!(returned.price1, Some(dec("6.00")));
}

#[test]
fn a_quantity_memo_whose_answer_was_lost_is_found_by_its_marker_not_sent_again() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("MUG", dec("1"), 10));
    let key = "invsync-7f3a-run-12-change-4-0123456789abcdef";
    let marker = AdjustmentMarker::for_write_key(key);
    let adjustment = QtyAdjustment {
        reason: "invsync".into(),
        scope: StockScope::Company,
        marker: marker.clone(),
        lines: vec![AdjustmentLine {
            list_id: id.clone(),
            new_quantity: 4,
        }],
    };

    // Session 1: the memo is applied, but its answer never reaches invsync.
    let mut set = MessageSet::new();
    set.push(adjustment.clone()).expect("valid");
    qbposxml_lite::assert_valid(&set.to_xml());
    company.handle("s1", &set.to_xml()).expect("applied");
    // Between sessions a sale is rung up in POS.
    company.enter_sales_receipt(1, None, None, &[(&id, 1)]);

    // Session 2: look for the marker before anything else.
    let mut set = MessageSet::new();
    let lookup = set
        .push(AdjustmentLookup {
            marker: marker.clone(),
        })
        .expect("valid");
    let answer = exchange(&company, "s2", &set);
    let found = &response(&answer, lookup).adjustments;
    assert_eq!(found.len(), 1);
    assert!(
        marker.matches(found[0].comments.as_deref()),
        "settled as applied"
    );
    // Sending it again would have undone the sale (NewQuantity is absolute): 3, not 4.
    assert_eq!(
        company.item(&id).expect("item").quantity_on_hand(),
        dec("3")
    );
    assert_eq!(company.adjustments().len(), 1);

    // Another write's marker is not found: that memo is computed again and sent.
    let mut set = MessageSet::new();
    let other = set
        .push(AdjustmentLookup {
            marker: AdjustmentMarker::for_write_key("another key"),
        })
        .expect("valid");
    let answer = exchange(&company, "s2", &set);
    assert_eq!(outcome(&answer, &set, other), Outcome::NoMatch);
}

#[test]
fn memos_per_store_and_their_errors() {
    let company = Company::new().with_stores(2);
    let a = company.add_item(NewItem::inventory("A", dec("1"), 0).stocked(&[(1, 5), (2, 5)]));
    let b = company.add_item(NewItem::inventory("B", dec("1"), 0).stocked(&[(1, 5), (2, 5)]));
    let memo = |store: u8, key: &str| QtyAdjustment {
        reason: "invsync".into(),
        scope: StockScope::Store(store),
        marker: AdjustmentMarker::for_write_key(key),
        lines: vec![
            AdjustmentLine {
                list_id: a.clone(),
                new_quantity: 2,
            },
            AdjustmentLine {
                list_id: b.clone(),
                new_quantity: 0,
            },
        ],
    };
    let mut set = MessageSet::new();
    let ok = set.push(memo(2, "k1")).expect("valid");
    let missing_store = set.push(memo(3, "k2")).expect("valid");
    let answer = exchange(&company, "s", &set);
    assert_eq!(outcome(&answer, &set, ok), Outcome::Ok);
    assert_eq!(
        response(&answer, ok).adjustments[0].comments.as_deref(),
        Some(AdjustmentMarker::for_write_key("k1").comments.as_str())
    );
    match outcome(&answer, &set, missing_store) {
        Outcome::Error(e) => {
            assert_eq!((e.scope, e.next), (Scope::Run, Next::Fix));
            assert!(e.message.contains("store_number"), "{}", e.message);
        }
        other => panic!("expected 3140, got {other:?}"),
    }
    let item = company.item(&a).expect("a");
    assert_eq!((item.at_store(1), item.at_store(2)), (dec("5"), dec("2")));
    assert_eq!(company.item(&b).expect("b").at_store(2), dec("0"));
}

#[test]
fn posted_orders_are_found_by_the_receipts_reference() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("MUG", dec("1"), 10));
    company.enter_sales_receipt(1, Some("#1001"), None, &[(&id, 1)]);
    let reversed = company.enter_sales_receipt(1, Some("#1002"), None, &[(&id, 1)]);
    company.reverse_receipt(&reversed);
    company.enter_sales_receipt(1, None, Some("WEB-1003"), &[(&id, 1)]);

    let mut set = MessageSet::new();
    let lookups: Vec<_> = [
        (ReceiptRefField::Comments, "#1001"),
        (ReceiptRefField::Comments, "#1002"),
        (ReceiptRefField::Comments, "#1004"),
        (ReceiptRefField::TrackingNumber, "WEB-1003"),
    ]
    .into_iter()
    .map(|(field, reference)| {
        set.push(ReceiptLookup {
            field,
            reference: reference.to_owned(),
        })
        .expect("valid")
    })
    .collect();
    assert_eq!(set.len(), 4);
    let answer = exchange(&company, "s", &set);
    let posted = |n: usize| {
        response(&answer, lookups[n])
            .receipts
            .iter()
            .any(|r| r.stands())
    };
    assert!(posted(0));
    assert!(!posted(1), "a reversed receipt gave its stock back");
    assert!(!posted(2));
    assert_eq!(outcome(&answer, &set, lookups[2]), Outcome::NoMatch);
    assert!(posted(3));
}

#[test]
fn every_builder_writes_what_the_validator_accepts() {
    let mut set = MessageSet::new();
    let requests: Vec<Request> = vec![
        ItemQuery::start(
            DEFAULT_MAX_RETURNED,
            SkuField::ItemNumber,
            StockScope::Store(20),
        )
        .into(),
        ItemQuery::next_page("{abc}", 1, SkuField::Upc, StockScope::Company).into(),
        PriceMod {
            list_id: "-1".into(),
            price: dec("0"),
        }
        .into(),
        QtyAdjustment {
            reason: "12345678".into(),
            scope: StockScope::Company,
            marker: AdjustmentMarker::for_write_key(&"x".repeat(286)),
            lines: vec![AdjustmentLine {
                list_id: "-1".into(),
                new_quantity: -3,
            }],
        }
        .into(),
        ReceiptLookup {
            field: ReceiptRefField::TrackingNumber,
            reference: "<&>".into(),
        }
        .into(),
    ];
    for request in requests {
        set.push(request).expect("valid");
    }
    qbposxml_lite::assert_valid(&set.to_xml());
}
