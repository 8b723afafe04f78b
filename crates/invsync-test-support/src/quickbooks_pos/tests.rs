//! The POS fake's own rules, with hand-written qbposXML (the connector's builders are tested
//! against the fake in `invsync-connectors/tests/quickbooks_pos.rs`).

use super::*;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn document(requests: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><?qbposxml version="3.0"?><QBPOSXML><QBPOSXMLMsgsRq onError="continueOnError">{requests}</QBPOSXMLMsgsRq></QBPOSXML>"#
    )
}

fn answer(company: &Company, session: &str, requests: &str) -> String {
    company
        .handle(session, &document(requests))
        .unwrap_or_else(|h| panic!("{h} for {requests}"))
}

fn response<'a>(root: &'a Node, element: &str) -> &'a Node {
    root.child("QBPOSXMLMsgsRs")
        .and_then(|m| m.child(element))
        .unwrap_or_else(|| panic!("no {element}"))
}

fn parsed(text: &str) -> Node {
    parse_with_pi(text).expect("well-formed answer").0
}

#[test]
fn pages_come_from_a_session_iterator_that_dies_with_it() {
    let company = Company::new();
    for n in 0..5 {
        company.add_item(NewItem::inventory(&format!("A-{n}"), dec("1"), n));
    }
    let first = parsed(&answer(
        &company,
        "s1",
        r#"<ItemInventoryQueryRq iterator="Start"><MaxReturned>2</MaxReturned><IncludeRetElement>ListID</IncludeRetElement><IncludeRetElement>ALU</IncludeRetElement></ItemInventoryQueryRq>"#,
    ));
    let rs = response(&first, "ItemInventoryQueryRs");
    assert_eq!(rs.attribute("iteratorRemainingCount"), Some("3"));
    assert_eq!(rs.attribute("retCount"), Some("2"));
    assert!(
        rs.children[0].child("Price1").is_none(),
        "IncludeRetElement trims"
    );
    let id = rs.attribute("iteratorID").expect("iterator").to_owned();
    let next = format!(
        r#"<ItemInventoryQueryRq iterator="Continue" iteratorID="{id}"><MaxReturned>2</MaxReturned></ItemInventoryQueryRq>"#
    );
    let other_session = parsed(&answer(&company, "s2", &next));
    assert_eq!(
        response(&other_session, "ItemInventoryQueryRs").attribute("statusCode"),
        Some("3391")
    );
    let second = parsed(&answer(&company, "s1", &next));
    assert_eq!(
        response(&second, "ItemInventoryQueryRs").attribute("iteratorRemainingCount"),
        Some("1")
    );
    company.end_session("s1");
    let after = parsed(&answer(&company, "s1", &next));
    assert_eq!(
        response(&after, "ItemInventoryQueryRs").attribute("statusCode"),
        Some("3391")
    );
}

#[test]
fn price_mods_have_no_edit_sequence_and_sales_do_not_touch_the_item() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("MUG", dec("10.00"), 5));
    let before = company.item(&id).expect("item").time_modified;
    company.enter_sales_receipt(1, Some("#1001"), None, &[(&id, 2)]);
    let item = company.item(&id).expect("item");
    assert_eq!(item.quantity_on_hand(), dec("3"));
    assert_eq!(
        item.time_modified, before,
        "a sale does not modify the item"
    );

    // Someone edits the price in POS; a mod planned before that still lands.
    company.edit_in_pos(&id, |i| i.price1 = dec("11.00"));
    let text = answer(
        &company,
        "s",
        &format!(
            "<ItemInventoryModRq><ItemInventoryMod><ListID>{id}</ListID><Price1>12.50</Price1></ItemInventoryMod></ItemInventoryModRq>"
        ),
    );
    assert_eq!(
        response(&parsed(&text), "ItemInventoryModRs").attribute("statusCode"),
        Some("0")
    );
    assert_eq!(company.item(&id).expect("item").price1, dec("12.50"));
}

#[test]
fn new_quantity_sets_the_store_and_the_memo_is_found_by_its_comments() {
    let company = Company::new().with_stores(2);
    let id = company.add_item(NewItem::inventory("MUG", dec("1"), 0).stocked(&[(1, 4), (2, 6)]));
    let add = format!(
        "<InventoryQtyAdjustmentAddRq><InventoryQtyAdjustmentAdd><Comments>invsync write k1</Comments><Reason>invsync</Reason><StoreNumber>2</StoreNumber><InventoryQtyAdjustmentItemAdd><ListID>{id}</ListID><NewQuantity>9</NewQuantity></InventoryQtyAdjustmentItemAdd></InventoryQtyAdjustmentAdd></InventoryQtyAdjustmentAddRq>"
    );
    answer(&company, "s", &add);
    answer(&company, "s", &add);
    let item = company.item(&id).expect("item");
    assert_eq!((item.at_store(1), item.at_store(2)), (dec("4"), dec("9")));
    assert_eq!(company.adjustments().len(), 2);
    assert_eq!(
        company.adjustments()[0].lines[0].1,
        dec("6"),
        "old quantity"
    );

    let found = parsed(&answer(
        &company,
        "s",
        "<InventoryQtyAdjustmentQueryRq><CommentsFilter><MatchStringCriterion>Equal</MatchStringCriterion><Comments>invsync write k1</Comments></CommentsFilter></InventoryQtyAdjustmentQueryRq>",
    ));
    assert_eq!(
        response(&found, "InventoryQtyAdjustmentQueryRs").attribute("retCount"),
        Some("2")
    );
    let none = parsed(&answer(
        &company,
        "s",
        "<InventoryQtyAdjustmentQueryRq><CommentsFilter><MatchStringCriterion>Equal</MatchStringCriterion><Comments>invsync write k2</Comments></CommentsFilter></InventoryQtyAdjustmentQueryRq>",
    ));
    assert_eq!(
        response(&none, "InventoryQtyAdjustmentQueryRs").attribute("statusCode"),
        Some("1")
    );

    // A store the company does not have.
    let bad = parsed(&answer(
        &company,
        "s",
        &add.replace(
            "<StoreNumber>2</StoreNumber>",
            "<StoreNumber>3</StoreNumber>",
        ),
    ));
    assert_eq!(
        response(&bad, "InventoryQtyAdjustmentAddRs").attribute("statusCode"),
        Some("3140")
    );
}

#[test]
fn receipts_are_found_by_reference_and_reversals_give_stock_back() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("MUG", dec("1"), 5));
    let txn = company.enter_sales_receipt(1, None, Some("#1002"), &[(&id, 3)]);
    company.reverse_receipt(&txn);
    assert_eq!(
        company.item(&id).expect("item").quantity_on_hand(),
        dec("5")
    );
    let text = answer(
        &company,
        "s",
        "<SalesReceiptQueryRq><TrackingNumberFilter><MatchStringCriterion>Equal</MatchStringCriterion><TrackingNumber>#1002</TrackingNumber></TrackingNumberFilter><IncludeRetElement>HistoryDocStatus</IncludeRetElement></SalesReceiptQueryRq>",
    );
    let rs = parsed(&text);
    let ret = response(&rs, "SalesReceiptQueryRs")
        .child("SalesReceiptRet")
        .expect("found");
    assert_eq!(ret.child_text("HistoryDocStatus"), Some("Reversed"));
}

#[test]
fn locks_failures_and_malformed_documents() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("MUG", dec("1"), 5));
    company.lock(&id, 3175, 1);
    let modify = format!(
        "<ItemInventoryModRq><ItemInventoryMod><ListID>{id}</ListID><Price1>2.00</Price1></ItemInventoryMod></ItemInventoryModRq>"
    );
    let locked = parsed(&answer(&company, "s", &modify));
    assert_eq!(
        response(&locked, "ItemInventoryModRs").attribute("statusCode"),
        Some("3175")
    );
    let again = parsed(&answer(&company, "s", &modify));
    assert_eq!(
        response(&again, "ItemInventoryModRs").attribute("statusCode"),
        Some("0")
    );

    // Not valid qbposXML: the request processor's parse error, nothing applied.
    for bad in [
        document(
            "<ItemInventoryModRq><ItemInventoryMod><Price1>3.00</Price1><ListID>x</ListID></ItemInventoryMod></ItemInventoryModRq>",
        ),
        document(
            "<ItemInventoryModRq><ItemInventoryMod><ListID>x</ListID><Price1>3.001</Price1></ItemInventoryMod></ItemInventoryModRq>",
        ),
        modify.replace("qbposxml", "qbxml"),
        "<QBPOSXML>".to_owned(),
    ] {
        assert_eq!(
            company.handle("s", &bad),
            Err(HResult::PARSE_ERROR),
            "{bad}"
        );
    }
    assert_eq!(company.item(&id).expect("item").price1, dec("2.00"));

    company.fail_with(Some(HResult::ACCESS_DENIED));
    assert_eq!(
        company.handle("s", &document(&modify)),
        Err(HResult::ACCESS_DENIED)
    );
    company.fail_with(None);
    assert!(company.handle("s", &document(&modify)).is_ok());
    assert!(company.stats().rejected >= 5);
}

#[test]
fn stop_on_error_skips_the_rest() {
    let company = Company::new();
    let text = company
        .handle(
            "s",
            r#"<?qbposxml version="3.0"?><QBPOSXML><QBPOSXMLMsgsRq onError="stopOnError"><ItemInventoryModRq requestID="1"><ItemInventoryMod><ListID>-1</ListID><Price1>1.00</Price1></ItemInventoryMod></ItemInventoryModRq><SalesReceiptQueryRq requestID="2"/></QBPOSXMLMsgsRq></QBPOSXML>"#,
        )
        .expect("answer");
    let root = parsed(&text);
    assert_eq!(
        response(&root, "ItemInventoryModRs").attribute("statusCode"),
        Some("3120")
    );
    assert_eq!(
        response(&root, "SalesReceiptQueryRs").attribute("statusCode"),
        Some("3231")
    );
}
