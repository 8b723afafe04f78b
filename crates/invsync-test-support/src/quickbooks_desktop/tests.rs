//! The fake's own rules, with hand-written qbXML (the connector's builders are tested
//! against the fake in `invsync-connectors/tests/quickbooks_desktop.rs`).

use super::*;
use crate::qbxml_xsd;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn document(requests: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError">{requests}</QBXMLMsgsRq></QBXML>"#
    )
}

fn answer(company: &Company, session: &str, requests: &str) -> String {
    company
        .handle(session, &document(requests))
        .unwrap_or_else(|h| panic!("{h} for {requests}"))
}

fn attribute(response: &str, element: &str, name: &str) -> Option<String> {
    let (root, _) = parse(response).expect("well-formed answer");
    let messages = root.child("QBXMLMsgsRs").expect("QBXMLMsgsRs");
    messages
        .child(element)
        .and_then(|e| e.attribute(name))
        .map(str::to_owned)
}

fn code(response: &str, element: &str) -> Option<String> {
    attribute(response, element, "statusCode")
}

fn ret_count(response: &str, ret: &str) -> usize {
    let (root, _) = parse(response).expect("well-formed answer");
    root.child("QBXMLMsgsRs")
        .map(|m| {
            m.children
                .iter()
                .flat_map(|rs| rs.children.iter())
                .filter(|c| c.name == ret)
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn answers_are_valid_qbxml() {
    let company = Company::new();
    company.add_item(NewItem::inventory("MUG <&>", dec("12.50"), 4).with_bar_code("0123"));
    company.add_item(NewItem::assembly("KIT-A", dec("30"), 2).under("Kits"));
    company.add_item(NewItem::group("BUNDLE"));
    let mug = company.item_named("MUG <&>").expect("mug").list_id;
    company.enter_sales_receipt("1001", &[(&mug, 1)]);
    let text = answer(
        &company,
        "s",
        r#"<ItemInventoryQueryRq requestID="1"/><ItemInventoryAssemblyQueryRq requestID="2"/><ItemGroupQueryRq requestID="3"/><SalesReceiptQueryRq requestID="4"><RefNumber>1001</RefNumber></SalesReceiptQueryRq>"#,
    );
    qbxml_xsd::assert_valid(&text);
    assert!(text.contains("<Name>MUG &lt;&amp;&gt;</Name>"), "{text}");
    assert!(text.contains("<FullName>Kits:KIT-A</FullName>"));
    assert_eq!(ret_count(&text, "ItemGroupRet"), 1);
    assert_eq!(ret_count(&text, "SalesReceiptRet"), 1);
}

#[test]
fn malformed_or_invalid_qbxml_is_0x80040400() {
    let company = Company::new();
    let no_pi = r#"<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="continueOnError"><ItemInventoryQueryRq/></QBXMLMsgsRq></QBXML>"#;
    let newer = document("").replace("13.0", "16.0");
    let misordered = document(
        r#"<ItemInventoryQueryRq><IncludeRetElement>ListID</IncludeRetElement><MaxReturned>1</MaxReturned></ItemInventoryQueryRq>"#,
    );
    for bad in [
        "not xml".to_owned(),
        document("<ItemInventoryQueryRq>"),
        no_pi.to_owned(),
        newer,
        misordered,
    ] {
        assert_eq!(
            company.handle("s", &bad),
            Err(HResult::PARSE_ERROR),
            "{bad}"
        );
    }
    assert_eq!(company.stats().rejected, 5);
    // Structurally checked even without the XSD.
    let quick = Company::new().without_xsd_check();
    assert_eq!(
        quick.handle("s", "<QBXML><x></QBXML>"),
        Err(HResult::PARSE_ERROR)
    );
    assert_eq!(HResult::PARSE_ERROR.to_string(), "0x80040400");
}

#[test]
fn edit_sequences_move_on_every_change_but_not_on_sales() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("A", dec("5"), 10));
    let first = company.item(&id).expect("item");
    company.enter_invoice("INV-1", &[(&id, 3)]);
    let after_sale = company.item(&id).expect("item");
    assert_eq!(after_sale.quantity_on_hand, dec("7"));
    assert_eq!(after_sale.edit_sequence, first.edit_sequence);
    assert_eq!(after_sale.time_modified, first.time_modified);

    company.edit_in_quickbooks(&id, |item| item.sales_price = dec("6"));
    let edited = company.item(&id).expect("item");
    assert_ne!(edited.edit_sequence, first.edit_sequence);

    // The EditSequence read before the edit is out of date.
    let stale = format!(
        r#"<ItemInventoryModRq requestID="1"><ItemInventoryMod><ListID>{id}</ListID><EditSequence>{}</EditSequence><SalesPrice>9.00</SalesPrice></ItemInventoryMod></ItemInventoryModRq>"#,
        first.edit_sequence
    );
    let text = answer(&company, "s", &stale);
    assert_eq!(code(&text, "ItemInventoryModRs").as_deref(), Some("3200"));
    assert_eq!(company.item(&id).expect("item").sales_price, dec("6"));

    let fresh = format!(
        r#"<ItemInventoryModRq requestID="1"><ItemInventoryMod><ListID>{id}</ListID><EditSequence>{}</EditSequence><SalesPrice>9.00</SalesPrice></ItemInventoryMod></ItemInventoryModRq>"#,
        edited.edit_sequence
    );
    let text = answer(&company, "s", &fresh);
    qbxml_xsd::assert_valid(&text);
    assert_eq!(code(&text, "ItemInventoryModRs").as_deref(), Some("0"));
    let modded = company.item(&id).expect("item");
    assert_eq!(modded.sales_price, dec("9.00"));
    assert_ne!(modded.edit_sequence, edited.edit_sequence);
}

#[test]
fn iterators_page_and_die_with_their_session() {
    let company = Company::new();
    for n in 0..5 {
        company.add_item(NewItem::inventory(&format!("I{n}"), dec("1"), n));
    }
    company.add_item(NewItem::inventory("OLD", dec("1"), 1).inactive());
    let start = r#"<ItemInventoryQueryRq requestID="1" iterator="Start"><MaxReturned>2</MaxReturned><ActiveStatus>ActiveOnly</ActiveStatus></ItemInventoryQueryRq>"#;
    let text = answer(&company, "s1", start);
    assert_eq!(ret_count(&text, "ItemInventoryRet"), 2);
    assert_eq!(
        attribute(&text, "ItemInventoryQueryRs", "iteratorRemainingCount").as_deref(),
        Some("3")
    );
    let iterator = attribute(&text, "ItemInventoryQueryRs", "iteratorID").expect("iterator");
    let next = format!(
        r#"<ItemInventoryQueryRq requestID="2" iterator="Continue" iteratorID="{iterator}"><MaxReturned>2</MaxReturned></ItemInventoryQueryRq>"#
    );
    // Another session cannot continue it.
    let other = answer(&company, "s2", &next);
    assert_eq!(
        code(&other, "ItemInventoryQueryRs").as_deref(),
        Some("3391")
    );
    let text = answer(&company, "s1", &next);
    assert_eq!(ret_count(&text, "ItemInventoryRet"), 2);
    assert_eq!(
        attribute(&text, "ItemInventoryQueryRs", "iteratorRemainingCount").as_deref(),
        Some("1")
    );
    company.end_session("s1");
    let dead = answer(&company, "s1", &next);
    assert_eq!(code(&dead, "ItemInventoryQueryRs").as_deref(), Some("3391"));
}

#[test]
fn locks_answer_for_a_while_then_let_go() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("A", dec("5"), 10));
    company.lock(&id, 3175, 2);
    let add = format!(
        r#"<InventoryAdjustmentAddRq requestID="1"><InventoryAdjustmentAdd><AccountRef><FullName>{DEFAULT_ADJUSTMENT_ACCOUNT}</FullName></AccountRef><RefNumber>IS1</RefNumber><Memo>m</Memo><InventoryAdjustmentLineAdd><ItemRef><ListID>{id}</ListID></ItemRef><QuantityAdjustment><QuantityDifference>-2</QuantityDifference></QuantityAdjustment></InventoryAdjustmentLineAdd></InventoryAdjustmentAdd></InventoryAdjustmentAddRq>"#
    );
    for _ in 0..2 {
        let text = answer(&company, "s", &add);
        assert_eq!(
            code(&text, "InventoryAdjustmentAddRs").as_deref(),
            Some("3175")
        );
    }
    let text = answer(&company, "s", &add);
    qbxml_xsd::assert_valid(&text);
    assert_eq!(
        code(&text, "InventoryAdjustmentAddRs").as_deref(),
        Some("0")
    );
    let item = company.item(&id).expect("item");
    assert_eq!(item.quantity_on_hand, dec("8"));
    assert_eq!(company.adjustments().len(), 1);
    // Found again by its RefNumber.
    let found = answer(
        &company,
        "s",
        r#"<InventoryAdjustmentQueryRq requestID="1"><RefNumber>is1</RefNumber><IncludeRetElement>TxnID</IncludeRetElement><IncludeRetElement>RefNumber</IncludeRetElement><IncludeRetElement>Memo</IncludeRetElement></InventoryAdjustmentQueryRq>"#,
    );
    assert_eq!(ret_count(&found, "InventoryAdjustmentRet"), 1);
    assert!(found.contains("<Memo>m</Memo>"));
}

#[test]
fn bad_references_and_features() {
    let company = Company::new();
    let id = company.add_item(NewItem::inventory("A", dec("5"), 10));
    let add = |account: &str, site: &str| {
        format!(
            r#"<InventoryAdjustmentAddRq requestID="1"><InventoryAdjustmentAdd><AccountRef><FullName>{account}</FullName></AccountRef>{site}<InventoryAdjustmentLineAdd><ItemRef><ListID>{id}</ListID></ItemRef><QuantityAdjustment><QuantityDifference>1</QuantityDifference></QuantityAdjustment></InventoryAdjustmentLineAdd></InventoryAdjustmentAdd></InventoryAdjustmentAddRq>"#
        )
    };
    let code = |text: String| attribute(&text, "InventoryAdjustmentAddRs", "statusCode");
    assert_eq!(
        code(answer(&company, "s", &add("Nope", ""))).as_deref(),
        Some("3140")
    );
    let site = "<InventorySiteRef><FullName>Back</FullName></InventorySiteRef>";
    assert_eq!(
        code(answer(
            &company,
            "s",
            &add(DEFAULT_ADJUSTMENT_ACCOUNT, site)
        ))
        .as_deref(),
        Some("3250")
    );
    company.enable_sites(&["Front"]);
    assert_eq!(
        code(answer(
            &company,
            "s",
            &add(DEFAULT_ADJUSTMENT_ACCOUNT, site)
        ))
        .as_deref(),
        Some("3140")
    );
    company.enable_sites(&["Back"]);
    assert_eq!(
        code(answer(
            &company,
            "s",
            &add(DEFAULT_ADJUSTMENT_ACCOUNT, site)
        ))
        .as_deref(),
        Some("0")
    );
    assert_eq!(company.adjustments()[0].site.as_deref(), Some("Back"));
}

#[test]
fn whole_session_failures_and_the_latency_model() {
    let company = Company::new()
        .without_xsd_check()
        .with_latency(LatencyModel::default());
    for n in 0..10 {
        company.add_item(NewItem::inventory(&format!("I{n}"), dec("1"), n));
    }
    let (result, time) =
        company.handle_timed("s", &document(r#"<ItemInventoryQueryRq requestID="1"/>"#));
    assert!(result.is_ok());
    assert_eq!(time, Duration::from_millis(152));
    company.fail_with(Some(HResult::ACCESS_DENIED));
    assert_eq!(
        company.handle("s", &document("")),
        Err(HResult::ACCESS_DENIED)
    );
    company.fail_with(None);
    let stats = company.stats();
    assert_eq!(
        (stats.message_sets, stats.items_returned, stats.rejected),
        (2, 10, 1)
    );
}

#[test]
fn modified_date_filters_follow_intuits_page() {
    let documented = Company::new().without_xsd_check();
    let pessimistic = Company::new()
        .without_xsd_check()
        .with_modified_filter(ModifiedFilter::TimeModifiedOnly);
    let mut ids = Vec::new();
    for company in [&documented, &pessimistic] {
        ids.push(company.add_item(NewItem::inventory("A", dec("5"), 10)));
        company.add_item(NewItem::inventory("B", dec("5"), 10));
    }
    // Whole seconds: the filter's precision.
    std::thread::sleep(Duration::from_millis(1100));
    let since = Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    std::thread::sleep(Duration::from_millis(1100));
    for (company, id) in [&documented, &pessimistic].into_iter().zip(&ids) {
        company.enter_sales_receipt("R1", &[(id, 1)]);
    }
    let query = format!(
        r#"<ItemInventoryQueryRq requestID="1"><FromModifiedDate>{since}</FromModifiedDate></ItemInventoryQueryRq>"#
    );
    assert_eq!(
        ret_count(&answer(&documented, "s", &query), "ItemInventoryRet"),
        1
    );
    let missed = answer(&pessimistic, "s", &query);
    assert_eq!(code(&missed, "ItemInventoryQueryRs").as_deref(), Some("1"));
}
