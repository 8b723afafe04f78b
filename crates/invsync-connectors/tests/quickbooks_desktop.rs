//! The qbXML layer of QuickBooks Desktop against the real qbXML 13.0 XSDs and the fake
//! company in `invsync-test-support` (which checks every request it is sent against the
//! XSDs too, unless a test turns that off for speed): what the builders write, what the
//! parsers read, and the conversations issue 15 needs — iterated reads, compare-and-set
//! price writes, exactly-once adjustments, posted-order look-ups — as text in, text out.

use invsync_connectors::quickbooks_desktop::{
    AdjustmentAdd, AdjustmentLine, AdjustmentMarker, BuildError, DEFAULT_MAX_RETURNED, HResult,
    ItemList, ItemQuery, MessageSet, Next, Outcome, PriceMod, RefQuery, Request, Response,
    ResponseSet, Scope, Selection, SkuField, TxnKind, classify, parse_response_set,
};
use invsync_core::ItemKind;
use invsync_test_support::qbxml_xsd;
use invsync_test_support::quickbooks_desktop::{
    Company, DEFAULT_ADJUSTMENT_ACCOUNT, HResult as FakeHResult, NewItem,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;

#[path = "quickbooks_desktop/bridge.rs"]
mod bridge;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// Sends `set` in `session` and parses the answer; the request id of each request maps
/// to its response.
fn exchange(company: &Company, session: &str, set: &MessageSet) -> ResponseSet {
    let text = company
        .handle(session, &set.to_xml())
        .unwrap_or_else(|h| panic!("the company answered {h} to:\n{}", set.to_xml()));
    parse_response_set(&text).expect("a qbXML response")
}

fn response(answer: &ResponseSet, id: impl std::fmt::Display) -> &Response {
    answer
        .get(&id.to_string())
        .unwrap_or_else(|| panic!("no response {id}"))
}

fn outcome(answer: &ResponseSet, set: &MessageSet, id: impl std::fmt::Display) -> Outcome {
    let id_text = id.to_string();
    let request = set
        .requests()
        .iter()
        .find(|(i, _)| i.to_string() == id_text)
        .map(|(_, r)| r.element())
        .unwrap_or("?");
    classify(&response(answer, id_text.clone()).status, request)
}

/// Every item of a list, read page by page in one session: (records, round trips).
fn read_all(
    company: &Company,
    session: &str,
    list: ItemList,
    max_returned: u32,
    sku_field: SkuField,
) -> (Vec<invsync_connectors::quickbooks_desktop::Item>, usize) {
    let mut items = Vec::new();
    let mut query = ItemQuery::start(list, max_returned, sku_field);
    let mut trips = 0;
    loop {
        let mut set = MessageSet::new();
        let id = set.push(query.clone()).expect("valid query");
        let answer = exchange(company, session, &set);
        trips += 1;
        let r = response(&answer, id);
        match outcome(&answer, &set, id) {
            Outcome::Ok => {}
            Outcome::NoMatch => break,
            other => panic!("read failed: {other:?}"),
        }
        items.extend(r.items.iter().map(|i| i.clone().expect("readable item")));
        match &r.iterator {
            Some(it) if it.remaining > 0 => {
                query = ItemQuery::next_page(list, &it.id, max_returned, sku_field);
            }
            _ => break,
        }
    }
    (items, trips)
}

/// A request of every kind and shape the builders make.
fn every_request_shape() -> Vec<Request> {
    let mut requests = Vec::new();
    for list in ItemList::ALL {
        for sku_field in SkuField::ALL {
            requests.push(ItemQuery::start(list, DEFAULT_MAX_RETURNED, sku_field).into());
            requests.push(
                ItemQuery::next_page(list, "{6fcbb18b-68cf-4adb-bf40-164ac0bb4ec0}", 1, sku_field)
                    .into(),
            );
        }
        requests.push(
            ItemQuery {
                list,
                selection: Selection::ListIds(vec!["80000317-1228629275".into(), "2-2".into()]),
                sku_field: SkuField::Name,
            }
            .into(),
        );
    }
    for list in [ItemList::Inventory, ItemList::Assembly] {
        requests.push(
            PriceMod {
                list,
                list_id: "80000317-1228629275".into(),
                edit_sequence: "1263577385".into(),
                sales_price: dec("13.00"),
            }
            .into(),
        );
    }
    for site in [None, Some("Warehouse <B>".to_owned())] {
        requests.push(
            AdjustmentAdd {
                account: "Inventory Adjustments".into(),
                site,
                marker: AdjustmentMarker::for_write_key(
                    "invsync-0123-run-1-change-1-00ff00ff00ff00ff",
                ),
                lines: vec![
                    AdjustmentLine {
                        list_id: "1-1".into(),
                        quantity_difference: dec("-3"),
                    },
                    AdjustmentLine {
                        list_id: "2-2".into(),
                        quantity_difference: dec("2.5"),
                    },
                ],
            }
            .into(),
        );
    }
    for kind in [
        TxnKind::InventoryAdjustment,
        TxnKind::SalesReceipt,
        TxnKind::Invoice,
    ] {
        requests.push(
            RefQuery {
                kind,
                ref_numbers: vec!["1001".into(), "A&B \"7\"".into()],
            }
            .into(),
        );
    }
    requests
}

// ---- what the builders write ----------------------------------------------------------

#[test]
fn every_request_the_builders_make_is_valid_against_the_xsds() {
    let requests = every_request_shape();
    // One message set each, and all of them in one message set (several mods per set).
    let mut documents = Vec::new();
    let mut all = MessageSet::new();
    for request in &requests {
        let mut set = MessageSet::new();
        set.push(request.clone()).expect("valid request");
        documents.push(set.to_xml());
        all.push(request.clone()).expect("valid request");
    }
    documents.push(all.to_xml());
    let texts: Vec<&str> = documents.iter().map(String::as_str).collect();
    for (verdict, text) in qbxml_xsd::validate_all(&texts).into_iter().zip(&texts) {
        if let Err(e) = verdict {
            panic!("not valid qbXML:\n{e}\n{text}");
        }
    }
    let whole = documents.last().expect("the whole set");
    assert!(whole.contains("<?qbxml version=\"13.0\"?>"));
    assert!(whole.contains("onError=\"continueOnError\""));
    for n in 1..=requests.len() {
        assert!(
            whole.contains(&format!("requestID=\"{n}\"")),
            "requestID {n}"
        );
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        // Anything at all: control characters, NUL, any plane.
        any::<String>(),
        // What trips escaping up.
        proptest::collection::vec(
            prop_oneof![
                Just("&".to_owned()),
                Just("<".to_owned()),
                Just(">".to_owned()),
                Just("\"".to_owned()),
                Just("'".to_owned()),
                Just("&amp;".to_owned()),
                Just("&#0;".to_owned()),
                Just("]]>".to_owned()),
                Just("\0".to_owned()),
                Just("\r\n".to_owned()),
                Just("é€😀".to_owned()),
                "[a-zA-Z0-9 :-]{0,12}",
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat()),
        // Long strings.
        "[a-z]{30,5000}",
    ]
}

fn decimal_strategy() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

/// What a request is about, generated freely.
#[derive(Debug, Clone)]
struct Wild {
    list_id: String,
    edit_sequence: String,
    price: Decimal,
    account: String,
    site: String,
    key: String,
    reference: String,
    difference: Decimal,
}

fn wild() -> impl Strategy<Value = Wild> {
    (
        text_strategy(),
        text_strategy(),
        decimal_strategy(),
        text_strategy(),
        text_strategy(),
        text_strategy(),
        text_strategy(),
        decimal_strategy(),
    )
        .prop_map(
            |(list_id, edit_sequence, price, account, site, key, reference, difference)| Wild {
                list_id,
                edit_sequence,
                price,
                account,
                site,
                key,
                reference,
                difference,
            },
        )
}

fn wild_requests(w: &Wild) -> Vec<Request> {
    vec![
        PriceMod {
            list: ItemList::Inventory,
            list_id: w.list_id.clone(),
            edit_sequence: w.edit_sequence.clone(),
            sales_price: w.price,
        }
        .into(),
        AdjustmentAdd {
            account: w.account.clone(),
            site: Some(w.site.clone()),
            marker: AdjustmentMarker::for_write_key(&w.key),
            lines: vec![AdjustmentLine {
                list_id: w.list_id.clone(),
                quantity_difference: w.difference,
            }],
        }
        .into(),
        RefQuery {
            kind: TxnKind::SalesReceipt,
            ref_numbers: vec![w.reference.clone()],
        }
        .into(),
        ItemQuery::next_page(ItemList::Assembly, &w.key, 7, SkuField::Name).into(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Arbitrary SKUs, ids, names and prices give valid, correctly escaped qbXML — or a
    /// clear error for that request alone.
    #[test]
    fn arbitrary_values_give_valid_escaped_qbxml_or_a_clear_item_error(
        cases in proptest::collection::vec(wild(), 24)
    ) {
        let mut documents = Vec::new();
        let mut accepted = 0usize;
        for w in &cases {
            let mut set = MessageSet::new();
            for request in wild_requests(w) {
                let element = request.element();
                match set.push(request) {
                    Ok(_) => accepted += 1,
                    Err(BuildError { request, field, problem }) => {
                        prop_assert_eq!(request, element);
                        prop_assert!(!field.is_empty() && !problem.is_empty());
                        // The message never carries the refused value itself.
                        let message = format!("{request} {field} {problem}");
                        prop_assert!(w.list_id.len() < 8 || !message.contains(&w.list_id));
                    }
                }
            }
            documents.push(set.to_xml());
        }
        let texts: Vec<&str> = documents.iter().map(String::as_str).collect();
        for (verdict, text) in qbxml_xsd::validate_all(&texts).into_iter().zip(&texts) {
            prop_assert!(verdict.is_ok(), "{:?}\n{}", verdict, text);
        }
        // The values come back exactly as given: the escaping is right.
        for (w, text) in cases.iter().zip(&documents) {
            let mut reader = quick_xml::Reader::from_str(text);
            let mut texts_seen: Vec<String> = Vec::new();
            let mut current = String::new();
            loop {
                match reader.read_event().expect("well-formed") {
                    quick_xml::events::Event::Text(t) => current.push_str(&t.xml10_content()),
                    quick_xml::events::Event::GeneralRef(r) => {
                        let c = match r.resolve_char_ref().expect("char ref") {
                            Some(c) => c.to_string(),
                            None => match &*r { "lt" => "<", "gt" => ">", "amp" => "&", "apos" => "'", "quot" => "\"", _ => panic!("entity") }.to_owned(),
                        };
                        current.push_str(&c);
                    }
                    quick_xml::events::Event::End(_) => texts_seen.push(std::mem::take(&mut current)),
                    quick_xml::events::Event::Eof => break,
                    _ => current.clear(),
                }
            }
            if text.contains("<RefNumber>") && text.contains("SalesReceiptQueryRq") {
                prop_assert!(texts_seen.contains(&w.reference));
            }
            if text.contains("<Memo>") {
                let memo = format!("invsync write {}", w.key);
                prop_assert!(texts_seen.contains(&memo));
                prop_assert!(texts_seen.contains(&w.account));
                prop_assert!(texts_seen.contains(&w.site));
            }
        }
        prop_assert!(accepted > 0 || cases.is_empty());
    }

    /// Names with entities, quotes and any Unicode XML can carry come back as they are.
    #[test]
    fn item_names_round_trip_through_the_company(
        names in proptest::collection::vec("[ -~é€😀]{1,40}", 1..30),
        cents in proptest::collection::vec(0i64..10_000_000, 30),
    ) {
        let company = Company::new().without_xsd_check();
        for (name, cents) in names.iter().zip(&cents) {
            company.add_item(NewItem::inventory(name, Decimal::new(*cents, 2), 1));
        }
        let (items, _) = read_all(&company, "s", ItemList::Inventory, 7, SkuField::Name);
        let read: Vec<(String, Decimal)> = items
            .iter()
            .map(|i| (i.name.clone(), i.sales_price.expect("price")))
            .collect();
        let expected: Vec<(String, Decimal)> = names
            .iter()
            .zip(&cents)
            .map(|(n, c)| (n.clone(), Decimal::new(*c, 2)))
            .collect();
        prop_assert_eq!(read, expected);
    }
}

// ---- reads ----------------------------------------------------------------------------

#[test]
fn a_whole_read_pages_through_every_list_and_classifies_items() {
    let company = Company::new();
    for n in 0..7 {
        company.add_item(
            NewItem::inventory(&format!("MUG-{n}"), dec("12.50"), n)
                .with_part_number(&format!("MPN-{n}")),
        );
    }
    company.add_item(NewItem::inventory("GONE", dec("1"), 1).inactive());
    company.add_item(
        NewItem::assembly("DESK", dec("300.00"), 2)
            .under("Furniture")
            .with_bar_code("0042"),
    );
    company.add_item(NewItem::group("STARTER-KIT"));

    let (inventory, trips) = read_all(&company, "s", ItemList::Inventory, 3, SkuField::Name);
    assert_eq!(trips, 3, "7 items, 3 a page");
    assert_eq!(inventory.len(), 7, "inactive items are left out");
    let mug = inventory[2].to_record(SkuField::Name).expect("record");
    assert_eq!(
        (mug.sku.as_str(), mug.price, mug.quantity, mug.kind),
        ("MUG-2", Some(dec("12.50")), Some(2), ItemKind::Inventory)
    );
    // The part number is only asked for when it is the SKU.
    assert_eq!(inventory[2].sku(SkuField::ManufacturerPartNumber), None);
    let (by_part, _) = read_all(
        &company,
        "s",
        ItemList::Inventory,
        500,
        SkuField::ManufacturerPartNumber,
    );
    assert_eq!(
        by_part[2].sku(SkuField::ManufacturerPartNumber),
        Some("MPN-2")
    );

    let (assemblies, _) = read_all(&company, "s", ItemList::Assembly, 500, SkuField::FullName);
    let desk = assemblies[0].to_record(SkuField::FullName).expect("record");
    assert_eq!(desk.sku.as_str(), "Furniture:DESK");
    let (assemblies, _) = read_all(&company, "s", ItemList::Assembly, 500, SkuField::BarCode);
    assert_eq!(assemblies[0].sku(SkuField::BarCode), Some("0042"));

    let (groups, _) = read_all(&company, "s", ItemList::Group, 500, SkuField::Name);
    let kit = groups[0].to_record(SkuField::Name).expect("record");
    assert_eq!(
        (kit.kind, kit.price, kit.quantity),
        (ItemKind::Base, None, None)
    );
}

#[test]
fn an_iterator_lost_with_its_session_restarts_cleanly() {
    let company = Company::new().without_xsd_check();
    for n in 0..5 {
        company.add_item(NewItem::inventory(&format!("I{n}"), dec("1"), n));
    }
    let mut set = MessageSet::new();
    let id = set
        .push(ItemQuery::start(ItemList::Inventory, 2, SkuField::Name))
        .expect("valid");
    let first = exchange(&company, "session-1", &set);
    let iterator = response(&first, id).iterator.clone().expect("an iterator");
    assert_eq!(iterator.remaining, 3);
    company.end_session("session-1");

    let mut set = MessageSet::new();
    let id = set
        .push(ItemQuery::next_page(
            ItemList::Inventory,
            &iterator.id,
            2,
            SkuField::Name,
        ))
        .expect("valid");
    let answer = exchange(&company, "session-2", &set);
    let Outcome::Error(e) = outcome(&answer, &set, id) else {
        panic!("3391 expected");
    };
    assert_eq!(
        (e.code.as_str(), e.next, e.scope),
        ("3391", Next::RestartIterator, Scope::Item)
    );
    assert!(e.message.contains("starts again"), "{e}");
    let (items, trips) = read_all(
        &company,
        "session-2",
        ItemList::Inventory,
        2,
        SkuField::Name,
    );
    assert_eq!((items.len(), trips), (5, 3));
}

#[test]
fn sales_in_quickbooks_change_stock_without_moving_the_edit_sequence() {
    let company = Company::new().without_xsd_check();
    let id = company.add_item(NewItem::inventory("LAMP", dec("40"), 10));
    let (before, _) = read_all(&company, "s", ItemList::Inventory, 500, SkuField::Name);
    company.enter_sales_receipt("1001", &[(&id, 3)]);
    company.enter_invoice("1002", &[(&id, 2)]);
    let (after, _) = read_all(&company, "s", ItemList::Inventory, 500, SkuField::Name);
    assert_eq!(
        (before[0].quantity(), after[0].quantity()),
        (Some(10), Some(5))
    );
    assert_eq!(before[0].edit_sequence, after[0].edit_sequence);
    assert_eq!(before[0].time_modified, after[0].time_modified);
}

// ---- price writes ---------------------------------------------------------------------

#[test]
fn price_mods_are_compare_and_set_several_per_message_set() {
    let company = Company::new();
    let ids: Vec<String> = (0..4)
        .map(|n| company.add_item(NewItem::inventory(&format!("P{n}"), dec("10.00"), 1)))
        .collect();
    let asm = company.add_item(NewItem::assembly("ASM", dec("50"), 1));
    let (mut items, _) = read_all(&company, "s", ItemList::Inventory, 500, SkuField::Name);
    let (assemblies, _) = read_all(&company, "s", ItemList::Assembly, 500, SkuField::Name);
    items.extend(assemblies);
    let read: HashMap<String, _> = items.into_iter().map(|i| (i.list_id.clone(), i)).collect();

    // Between the read and the write: P1 edited in QuickBooks, P2 open by a user.
    company.edit_in_quickbooks(&ids[1], |i| i.sales_price = dec("11.00"));
    company.lock(&ids[2], 3176, 1);

    let mut set = MessageSet::new();
    let mut requests = HashMap::new();
    for list_id in ids.iter().chain([&asm]) {
        let item = &read[list_id];
        let id = set
            .push(PriceMod {
                list: item.list,
                list_id: list_id.clone(),
                edit_sequence: item.edit_sequence.clone().expect("edit sequence"),
                sales_price: dec("19.99"),
            })
            .expect("valid mod");
        requests.insert(list_id.clone(), id);
    }
    let answer = exchange(&company, "s", &set);
    assert_eq!(answer.responses.len(), 5, "one answer per mod");
    assert_eq!(outcome(&answer, &set, requests[&ids[0]]), Outcome::Ok);
    assert_eq!(outcome(&answer, &set, requests[&asm]), Outcome::Ok);
    let written = response(&answer, requests[&ids[0]]).items[0]
        .clone()
        .expect("item back");
    assert_eq!(written.sales_price, Some(dec("19.99")));
    assert_ne!(written.edit_sequence, read[&ids[0]].edit_sequence);

    let Outcome::Error(stale) = outcome(&answer, &set, requests[&ids[1]]) else {
        panic!("3200")
    };
    assert_eq!(
        (stale.code.as_str(), stale.next),
        ("3200", Next::ReReadAndPlan)
    );
    assert_eq!(
        company.item(&ids[1]).expect("P1").sales_price,
        dec("11.00"),
        "never overwritten blindly"
    );
    let Outcome::Error(locked) = outcome(&answer, &set, requests[&ids[2]]) else {
        panic!("3176")
    };
    assert_eq!(
        (locked.code.as_str(), locked.next),
        ("3176", Next::RetryNextSession)
    );

    // 3200: re-read that item and plan it again; the lock: the next session.
    let mut reread = MessageSet::new();
    let id = reread
        .push(ItemQuery {
            list: ItemList::Inventory,
            selection: Selection::ListIds(vec![ids[1].clone()]),
            sku_field: SkuField::Name,
        })
        .expect("valid");
    let fresh = exchange(&company, "s", &reread);
    let p1 = response(&fresh, id).items[0].clone().expect("P1");
    assert_eq!(p1.sales_price, Some(dec("11.00")));
    let mut retry = MessageSet::new();
    let a = retry
        .push(PriceMod {
            list: ItemList::Inventory,
            list_id: ids[1].clone(),
            edit_sequence: p1.edit_sequence.clone().expect("es"),
            sales_price: dec("19.99"),
        })
        .expect("valid");
    let b = retry
        .push(PriceMod {
            list: ItemList::Inventory,
            list_id: ids[2].clone(),
            edit_sequence: read[&ids[2]].edit_sequence.clone().expect("es"),
            sales_price: dec("19.99"),
        })
        .expect("valid");
    let answer = exchange(&company, "next-session", &retry);
    assert_eq!(outcome(&answer, &retry, a), Outcome::Ok);
    assert_eq!(outcome(&answer, &retry, b), Outcome::Ok);
    assert!(
        company
            .items()
            .iter()
            .filter(|i| i.name != "ASM")
            .all(|i| i.sales_price == dec("19.99"))
    );
}

// ---- quantity writes ------------------------------------------------------------------

/// Sends the adjustment for `key` unless QuickBooks already has it: the look-up by its
/// marker comes first, always. Returns whether it was sent.
fn adjust_exactly_once(
    company: &Company,
    session: &str,
    key: &str,
    list_id: &str,
    difference: Decimal,
) -> bool {
    let marker = AdjustmentMarker::for_write_key(key);
    let mut lookup = MessageSet::new();
    let id = lookup
        .push(RefQuery {
            kind: TxnKind::InventoryAdjustment,
            ref_numbers: vec![marker.ref_number.clone()],
        })
        .expect("valid");
    let answer = exchange(company, session, &lookup);
    let found = response(&answer, id)
        .transactions
        .iter()
        .any(|t| marker.matches(t.ref_number.as_deref(), t.memo.as_deref()));
    if found {
        return false;
    }
    let mut add = MessageSet::new();
    let id = add
        .push(AdjustmentAdd {
            account: DEFAULT_ADJUSTMENT_ACCOUNT.into(),
            site: None,
            marker,
            lines: vec![AdjustmentLine {
                list_id: list_id.into(),
                quantity_difference: difference,
            }],
        })
        .expect("valid");
    let answer = exchange(company, session, &add);
    assert_eq!(outcome(&answer, &add, id), Outcome::Ok);
    true
}

#[test]
fn an_adjustment_whose_answer_was_lost_is_found_by_its_marker_and_never_sent_twice() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("BOLT", dec("0.10"), 100));
    let key = "invsync-0123abcd-run-42-change-7-00ff00ff00ff00ff";
    assert!(adjust_exactly_once(&company, "s1", key, &id, dec("-30")));
    // The Web Connector's answer was lost: the next session tries the same write again.
    company.end_session("s1");
    assert!(!adjust_exactly_once(&company, "s2", key, &id, dec("-30")));
    assert_eq!(company.item(&id).expect("bolt").quantity_on_hand, dec("70"));
    assert_eq!(company.adjustments().len(), 1);
    // Another write is another adjustment.
    assert!(adjust_exactly_once(
        &company,
        "s2",
        "invsync-0123abcd-run-43-change-1-1111",
        &id,
        dec("5")
    ));
    assert_eq!(company.item(&id).expect("bolt").quantity_on_hand, dec("75"));
}

#[test]
fn adjustment_configuration_errors_are_run_errors_that_name_the_key() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("BOLT", dec("0.10"), 100));
    let mut set = MessageSet::new();
    let bad_account = set
        .push(AdjustmentAdd {
            account: "Inventory Adjustmnets".into(),
            site: None,
            marker: AdjustmentMarker::for_write_key("k1"),
            lines: vec![AdjustmentLine {
                list_id: id.clone(),
                quantity_difference: dec("1"),
            }],
        })
        .expect("valid");
    let no_sites = set
        .push(AdjustmentAdd {
            account: DEFAULT_ADJUSTMENT_ACCOUNT.into(),
            site: Some("Back Room".into()),
            marker: AdjustmentMarker::for_write_key("k2"),
            lines: vec![AdjustmentLine {
                list_id: id.clone(),
                quantity_difference: dec("1"),
            }],
        })
        .expect("valid");
    let answer = exchange(&company, "s", &set);
    let Outcome::Error(e) = outcome(&answer, &set, bad_account) else {
        panic!("3140")
    };
    assert_eq!((e.code.as_str(), e.scope), ("3140", Scope::Run));
    assert!(e.message.contains("adjustment_account"), "{e}");
    let Outcome::Error(e) = outcome(&answer, &set, no_sites) else {
        panic!("3250")
    };
    assert_eq!((e.code.as_str(), e.scope), ("3250", Scope::Run));
    assert!(e.message.contains("site"), "{e}");
    assert!(company.adjustments().is_empty());
}

// ---- posted orders --------------------------------------------------------------------

#[test]
fn posted_orders_are_found_by_ref_number() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("CUP", dec("3"), 10));
    company.enter_sales_receipt("#1001", &[(&id, 1)]);
    company.enter_invoice("#1002", &[(&id, 1)]);
    let mut set = MessageSet::new();
    let receipts = set
        .push(RefQuery {
            kind: TxnKind::SalesReceipt,
            ref_numbers: vec!["#1001".into(), "#1002".into(), "#1003".into()],
        })
        .expect("valid");
    let invoices = set
        .push(RefQuery {
            kind: TxnKind::Invoice,
            ref_numbers: vec!["#1001".into(), "#1002".into(), "#1003".into()],
        })
        .expect("valid");
    let none = set
        .push(RefQuery {
            kind: TxnKind::Invoice,
            ref_numbers: vec!["#9999".into()],
        })
        .expect("valid");
    let answer = exchange(&company, "s", &set);
    let refs = |id| -> Vec<String> {
        response(&answer, id)
            .transactions
            .iter()
            .filter_map(|t| t.ref_number.clone())
            .collect()
    };
    assert_eq!(refs(receipts), vec!["#1001"]);
    assert_eq!(refs(invoices), vec!["#1002"]);
    assert_eq!(outcome(&answer, &set, none), Outcome::NoMatch);
}

// ---- what QuickBooks refuses as a whole -----------------------------------------------

#[test]
fn hresults_become_run_errors_that_say_what_to_do() {
    let company = Company::new();
    let mut set = MessageSet::new();
    set.push(ItemQuery::start(ItemList::Inventory, 500, SkuField::Name))
        .expect("valid");
    let broken = set.to_xml().replace("<MaxReturned>", "<MaxReturned>x");
    let Err(FakeHResult(code)) = company.handle("s", &broken) else {
        panic!("0x80040400 expected")
    };
    let e = HResult(code).classify(
        "ItemInventoryQueryRq",
        "QuickBooks found an error when parsing the provided XML text stream.",
    );
    assert_eq!(e.code, "0x80040400");
    assert!(
        e.message.contains("bug in invsync") && e.message.contains("ItemInventoryQueryRq"),
        "{e}"
    );

    for (fake, needle) in [
        (FakeHResult::COULD_NOT_START, "could not start QuickBooks"),
        (FakeHResult::NO_COMPANY_FILE, "company_file"),
        (FakeHResult::ACCESS_DENIED, "Integrated Applications"),
    ] {
        company.fail_with(Some(fake));
        let Err(FakeHResult(code)) = company.handle("s", &set.to_xml()) else {
            panic!("{fake}")
        };
        let e = HResult(code).classify("ItemInventoryQueryRq", "");
        assert_eq!(e.scope, Scope::Run);
        assert!(e.message.contains(needle), "{e}");
        assert_eq!(e.code, fake.to_string());
    }
}

// ---- captured answers -----------------------------------------------------------------

#[test]
fn a_captured_assembly_item_is_read() {
    let answer = parse_response_set(include_str!(
        "fixtures/quickbooks_desktop/item_query_assembly.xml"
    ))
    .expect("parses");
    let r = &answer.responses[0];
    assert_eq!(r.element, "ItemQueryRs");
    let item = r.items[0].clone().expect("the assembly");
    assert_eq!(item.list, ItemList::Assembly);
    assert_eq!(item.list_id, "80000317-1228629275");
    assert_eq!(item.edit_sequence.as_deref(), Some("1263577385"));
    assert_eq!(
        item.sku(SkuField::FullName),
        Some("Retail 12oz bags-BOM:esp-boss-12")
    );
    let record = item.to_record(SkuField::Name).expect("record");
    assert_eq!(
        (record.sku.as_str(), record.price, record.quantity),
        ("esp-boss-12", Some(dec("13.00")), Some(-281))
    );
    assert_eq!(
        outcome(&answer, &MessageSet::new(), "SXRlbVF1ZXJ5fDMyNQ=="),
        Outcome::Ok
    );
}

#[test]
fn a_captured_invoice_query_is_read() {
    let answer = parse_response_set(include_str!(
        "fixtures/quickbooks_desktop/invoice_query_iterator.xml"
    ))
    .expect("parses");
    let r = &answer.responses[0];
    let iterator = r.iterator.clone().expect("iterator");
    assert_eq!(
        (iterator.id.as_str(), iterator.remaining),
        ("{6fcbb18b-68cf-4adb-bf40-164ac0bb4ec0}", 0)
    );
    let refs: Vec<_> = r
        .transactions
        .iter()
        .map(|t| (t.kind, t.ref_number.clone()))
        .collect();
    // The first invoice has no RefNumber of its own: the 123 in it belongs to a linked
    // transaction (LinkedTxn), which a text search would have taken for it.
    assert_eq!(
        refs,
        vec![
            (TxnKind::Invoice, None),
            (TxnKind::Invoice, Some("1".into()))
        ]
    );
    assert_eq!(r.transactions[0].txn_id.as_deref(), Some("4-1232328070"));
}

#[test]
fn a_captured_3180_is_retried_next_session() {
    let answer = parse_response_set(include_str!(
        "fixtures/quickbooks_desktop/customer_add_3180.xml"
    ))
    .expect("parses");
    let status = &answer.responses[0].status;
    let Outcome::Error(e) = classify(status, "CustomerAddRq") else {
        panic!("an error")
    };
    assert_eq!((e.next, e.scope), (Next::RetryNextSession, Scope::Item));
    assert!(
        e.message
            .contains("This list has been modified by another user"),
        "{e}"
    );
}
