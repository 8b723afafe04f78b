//! Contract tests of the QuickBooks Online connection: real HTTP over loopback against
//! the fake in `invsync-test-support`, which follows Intuit's documented behaviour and
//! checks Item properties against the real Finance.xsd.

use compact_str::CompactString;
use invsync_config::{QboEnvironment, QboQuantityWrite, QuickBooksOnlineConfig};
use invsync_connectors::http::Backoff;
use invsync_connectors::quickbooks_online::{Limits, QuickBooksOnline, Tuning};
use invsync_connectors::{
    Connection, ErrorKind, MemoryVault, OpenContext, RecordRef, TokenVault, Write, WriteOutcome,
};
use invsync_core::{Field, FieldValue, ItemKind, OrderLine};
use invsync_test_support::fake::FakeServer;
use invsync_test_support::quickbooks_online::{FakeConfig, FakeLimits, QboFake};
use rust_decimal::Decimal;
use secrecy::{SecretSlice, SecretString};
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SENTINEL_SECRET: &str = "SENTINEL-client-secret";

struct Setup {
    _server: FakeServer,
    base_url: String,
    fake: QboFake,
    vault: MemoryVault,
    config: QuickBooksOnlineConfig,
}

async fn setup_with(fake_config: FakeConfig) -> Setup {
    let fake_config = FakeConfig {
        client_secret: SENTINEL_SECRET.into(),
        ..fake_config
    };
    let (server, fake) = QboFake::serve(fake_config).await;
    let base_url = server.base_url();
    let refresh = fake.issue_refresh_token();
    let config = qbo_config(&base_url, fake.config(), Some(refresh));
    Setup {
        _server: server,
        base_url,
        fake,
        vault: MemoryVault::new(),
        config,
    }
}

async fn setup() -> Setup {
    setup_with(FakeConfig::default()).await
}

fn qbo_config(
    base_url: &str,
    fake: &FakeConfig,
    refresh: Option<String>,
) -> QuickBooksOnlineConfig {
    QuickBooksOnlineConfig {
        realm_id: fake.realm_id.clone(),
        client_id: fake.client_id.clone(),
        client_secret: SecretString::from(fake.client_secret.clone()),
        refresh_token: refresh.map(SecretString::from),
        token_key: SecretSlice::from(vec![42u8; 32]),
        environment: QboEnvironment::Sandbox,
        base_url: url::Url::parse(base_url).expect("base url"),
        token_url: url::Url::parse(&QboFake::token_url(base_url)).expect("token url"),
        redirect_uri: None,
        quantity_write: QboQuantityWrite::Adjustment,
        adjustment_account: Some("97".into()),
        order_doc_number: "{order}".into(),
        http: invsync_config::HttpPolicy::default(),
    }
}

/// Short waits, so tests of retries and throttling run in milliseconds.
fn fast() -> Tuning {
    Tuning {
        throttle_wait: Duration::from_millis(200),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            attempts: 4,
        },
        own_limiter: true,
        ..Tuning::default()
    }
}

impl Setup {
    /// The access token the fake issued (after a read obtained one), for requests a test
    /// sends itself.
    fn access_token(&self) -> String {
        self.fake
            .issued_tokens()
            .into_iter()
            .find(|t| t.starts_with("fake-access"))
            .expect("access token")
    }

    fn open(&self) -> QuickBooksOnline {
        self.open_with(fast())
    }

    fn open_with(&self, tuning: Tuning) -> QuickBooksOnline {
        let vault: Arc<dyn TokenVault> = Arc::new(self.vault.clone());
        QuickBooksOnline::open_with(
            "accounting",
            &self.config,
            &OpenContext::new().with_token_vault(vault),
            tuning,
        )
        .expect("open")
    }
}

fn price_write(id: &str, sku: &str, old: &str, new: &str) -> Write {
    Write {
        id: CompactString::from(id),
        sku: CompactString::from(sku),
        field: Field::Price,
        old: FieldValue::Price(Decimal::from_str(old).expect("old")),
        new: FieldValue::Price(Decimal::from_str(new).expect("new")),
        key: format!("invsync-run-1-change-{sku}"),
        sale: None,
    }
}

fn quantity_write(id: &str, sku: &str, old: i64, new: i64) -> Write {
    Write {
        id: CompactString::from(id),
        sku: CompactString::from(sku),
        field: Field::Quantity,
        old: FieldValue::Quantity(old),
        new: FieldValue::Quantity(new),
        key: format!("invsync-run-1-change-{sku}"),
        sale: None,
    }
}

fn price_of(item: &Value) -> Decimal {
    Decimal::from_str(&item["UnitPrice"].to_string()).expect("price")
}

fn qty_of(item: &Value) -> Decimal {
    Decimal::from_str(&item["QtyOnHand"].to_string()).expect("qty")
}

// ---- 3. reads ------------------------------------------------------------------------

#[tokio::test]
async fn reads_every_page_and_classifies_items() {
    let s = setup().await;
    for i in 0..2_340 {
        s.fake
            .add_inventory_item(&format!("SKU-{i:05}"), &format!("Item {i}"), "12.50", "7");
    }
    s.fake
        .add_item(json!({"Name": "Consulting", "Sku": "SVC", "Type": "Service", "UnitPrice": 90}));
    s.fake
        .add_item(json!({"Name": "Paper", "Sku": "NON", "Type": "NonInventory", "UnitPrice": 3}));
    s.fake
        .add_item(json!({"Name": "Kit", "Sku": "KIT", "Type": "Group"}));
    s.fake.add_item(json!({"Name": "Mugs", "Type": "Category"}));
    s.fake.add_item(json!({"Name": "Loose", "Sku": "UNTRACKED", "Type": "Inventory", "TrackQtyOnHand": false, "UnitPrice": 4}));
    s.fake.add_item(json!({"Name": "Old", "Sku": "GONE", "Type": "Inventory", "TrackQtyOnHand": true, "QtyOnHand": 5, "Active": false}));
    s.fake.add_item(json!({"Name": "Fabric", "Sku": "FABRIC", "Type": "Inventory", "TrackQtyOnHand": true, "QtyOnHand": 2.75, "UnitPrice": 0.1}));
    s.fake.add_item(json!({"Name": "Broken", "Sku": "BROKEN", "Type": "Inventory", "TrackQtyOnHand": true, "UnitPrice": "12.50"}));

    let catalog = s.open().read_catalog().await.expect("read");

    assert_eq!(
        catalog.records.len(),
        2_340 + 6,
        "inactive and broken items are not records"
    );
    let by_sku = |sku: &str| catalog.records.iter().find(|r| r.sku == sku).expect(sku);
    let mug = by_sku("SKU-00000");
    assert_eq!(
        (mug.kind, mug.quantity, mug.price),
        (ItemKind::Inventory, Some(7), Some(Decimal::new(1250, 2)))
    );
    assert_eq!(mug.id, "1");
    // Sold at a price with no stock counted: the price syncs.
    for (sku, price) in [("SVC", 9000), ("NON", 300), ("UNTRACKED", 400)] {
        let r = by_sku(sku);
        assert_eq!(
            (r.kind, r.price, r.quantity),
            (ItemKind::Untracked, Some(Decimal::new(price, 2)), None),
            "{sku}"
        );
    }
    assert_eq!(
        (by_sku("KIT").kind, by_sku("KIT").quantity),
        (ItemKind::Base, None),
        "a bundle"
    );
    assert!(
        catalog
            .records
            .iter()
            .any(|r| r.name == "Mugs" && r.kind == ItemKind::Base)
    );
    assert!(
        !catalog.records.iter().any(|r| r.sku == "GONE"),
        "inactive items are left out"
    );
    let fabric = by_sku("FABRIC");
    assert_eq!(fabric.quantity, Some(2), "fractional stock rounds down");
    assert_eq!(fabric.price, Some(Decimal::new(1, 1)));
    assert_eq!(catalog.rejects.len(), 1);
    assert_eq!(catalog.rejects[0].sku.as_deref(), Some("BROKEN"));
    assert!(
        catalog.rejects[0].error.contains("UnitPrice"),
        "{}",
        catalog.rejects[0].error
    );

    let queries = s.fake.stats().query_texts;
    assert_eq!(queries[0], "select count(*) from Item");
    for start in [1, 1001, 2001] {
        let q = format!("select * from Item STARTPOSITION {start} MAXRESULTS 1000");
        assert!(queries.contains(&q), "{q} in {queries:?}");
    }
    assert_eq!(queries.len(), 4, "a count and three pages: {queries:?}");
}

#[tokio::test]
async fn an_empty_company_reads_as_an_empty_catalog() {
    let s = setup().await;
    let catalog = s.open().read_catalog().await.expect("read");
    assert!(catalog.records.is_empty() && catalog.rejects.is_empty());
}

#[tokio::test]
async fn reads_records_again_by_id() {
    let s = setup().await;
    let a = s.fake.add_inventory_item("A", "A", "1", "1");
    s.fake.add_inventory_item("B", "B", "2", "2");
    let records = s
        .open()
        .read_records(&[RecordRef {
            id: CompactString::from(a.as_str()),
            sku: CompactString::from("A"),
        }])
        .await
        .expect("read")
        .expect("supported");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].sku, "A");
}

// ---- 4. writes -----------------------------------------------------------------------

#[tokio::test]
async fn prices_are_sparse_item_updates_in_batches_of_30() {
    let s = setup().await;
    let ids: Vec<String> = (0..75)
        .map(|i| {
            s.fake
                .add_inventory_item(&format!("P{i}"), "Mug", "10.00", "3")
        })
        .collect();
    let qbo = s.open();
    qbo.read_catalog().await.expect("read");
    let writes: Vec<Write> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| price_write(id, &format!("P{i}"), "10.00", "12.34"))
        .collect();
    assert!(qbo.write_batch_size() >= 75);
    let outcomes = qbo.write(&writes).await.expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );
    let stats = s.fake.stats();
    assert_eq!(stats.batches, 3, "75 updates in 3 batches");
    assert_eq!(stats.largest_batch, 30);
    for id in &ids {
        let item = s.fake.item(id).expect("item");
        assert_eq!(price_of(&item), Decimal::new(1234, 2));
        assert_eq!(item["SyncToken"], "1");
        assert_eq!(
            qty_of(&item),
            Decimal::from(3),
            "a sparse update keeps the rest"
        );
        assert_eq!(item["Name"], "Mug");
    }
}

#[tokio::test]
async fn a_stale_sync_token_rereads_and_retries_once() {
    let s = setup().await;
    let once = s.fake.add_inventory_item("ONCE", "x", "10", "3");
    let twice = s.fake.add_inventory_item("TWICE", "x", "10", "3");
    let edited = s.fake.add_inventory_item("EDITED", "x", "10", "3");
    let qbo = s.open();
    qbo.read_catalog().await.expect("read");
    // Someone edits items between the read and the write.
    s.fake.conflict_on_update(&once, 1);
    s.fake.conflict_on_update(&twice, 2);
    s.fake.edit_item(&edited, "UnitPrice", json!(11));
    let outcomes = qbo
        .write(&[
            price_write(&once, "ONCE", "10", "15"),
            price_write(&twice, "TWICE", "10", "15"),
            price_write(&edited, "EDITED", "10", "15"),
        ])
        .await
        .expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    assert!(
        matches!(&outcomes[1], WriteOutcome::Stale(m) if m.contains("5010")),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(
        outcomes[2],
        WriteOutcome::Applied,
        "re-planned: the store's price still wins"
    );
    assert_eq!(
        price_of(&s.fake.item(&once).expect("item")),
        Decimal::from(15)
    );
    assert_eq!(
        price_of(&s.fake.item(&twice).expect("item")),
        Decimal::from(10)
    );
    assert_eq!(
        price_of(&s.fake.item(&edited).expect("item")),
        Decimal::from(15)
    );
    assert_eq!(s.fake.stats().stale_updates, 4);
}

#[tokio::test]
async fn per_item_problems_fail_only_their_item() {
    let s = setup().await;
    let good = s.fake.add_inventory_item("GOOD", "x", "10", "3");
    let service = s
        .fake
        .add_item(json!({"Name": "Svc", "Sku": "SVC", "Type": "Service", "UnitPrice": 5}));
    let mut config = s.config.clone();
    config.quantity_write = QboQuantityWrite::Item;
    let qbo = QuickBooksOnline::open_with(
        "accounting",
        &config,
        &OpenContext::new().with_token_vault(Arc::new(s.vault.clone())),
        fast(),
    )
    .expect("open");
    qbo.read_catalog().await.expect("read");
    let outcomes = qbo
        .write(&[
            quantity_write(&good, "GOOD", 3, 9),
            quantity_write(&service, "SVC", 0, 9),
            quantity_write("9999", "NOPE", 0, 9),
        ])
        .await
        .expect("write");
    assert_eq!(outcomes[0], WriteOutcome::Applied);
    // A service's stock is not tracked: its quantity is refused before it is sent.
    assert!(
        matches!(&outcomes[1], WriteOutcome::Failed(m) if m.contains("stock not tracked") && m.contains(&service)),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(
        s.fake.stats().item_updates,
        1,
        "only GOOD's update reached QuickBooks"
    );
    assert!(
        matches!(&outcomes[2], WriteOutcome::Failed(m) if m.contains("no item with Id 9999")),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(
        qty_of(&s.fake.item(&good).expect("item")),
        Decimal::from(9),
        "sparse QtyOnHand"
    );
}

#[tokio::test]
async fn quantities_are_adjustments_of_the_difference_to_a_fresh_read() {
    let s = setup().await;
    let sold = s.fake.add_inventory_item("SOLD", "x", "10", "10");
    let same = s.fake.add_inventory_item("SAME", "x", "10", "4");
    let frac = s.fake.add_inventory_item("FRAC", "x", "10", "2.5");
    let qbo = s.open();
    qbo.read_catalog().await.expect("read");
    // A sale lands after the read: QuickBooks now has 8, the plan still says 10.
    s.fake.edit_item(&sold, "QtyOnHand", json!(8));
    let outcomes = qbo
        .write(&[
            quantity_write(&sold, "SOLD", 10, 15),
            quantity_write(&same, "SAME", 3, 4),
            quantity_write(&frac, "FRAC", 2, 5),
        ])
        .await
        .expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );
    assert_eq!(
        qty_of(&s.fake.item(&sold).expect("item")),
        Decimal::from(15)
    );
    assert_eq!(qty_of(&s.fake.item(&frac).expect("item")), Decimal::from(5));
    let adjustments = s.fake.adjustments();
    assert_eq!(adjustments.len(), 2, "nothing to adjust when already right");
    let sold_adj = adjustments
        .iter()
        .find(|a| a["Line"][0]["ItemAdjustmentLineDetail"]["ItemRef"]["value"] == sold.as_str())
        .expect("adjustment of SOLD");
    assert_eq!(
        sold_adj["Line"][0]["ItemAdjustmentLineDetail"]["QtyDiff"],
        json!(7)
    );
    assert_eq!(sold_adj["AdjustAccountRef"]["value"], "97");
    assert_eq!(
        sold_adj["Line"][0]["DetailType"],
        "ItemAdjustmentLineDetail"
    );
    assert!(
        sold_adj["PrivateNote"]
            .as_str()
            .is_some_and(|n| n.contains("invsync-run-1"))
    );
    let frac_adj = adjustments
        .iter()
        .find(|a| a["Line"][0]["ItemAdjustmentLineDetail"]["ItemRef"]["value"] == frac.as_str())
        .expect("adjustment of FRAC");
    assert_eq!(
        frac_adj["Line"][0]["ItemAdjustmentLineDetail"]["QtyDiff"],
        json!(2.5)
    );
}

#[tokio::test]
async fn an_adjustment_batch_whose_answer_was_lost_is_not_applied_twice() {
    let s = setup().await;
    let id = s.fake.add_inventory_item("A", "x", "10", "10");
    let qbo = s.open();
    qbo.read_catalog().await.expect("read");
    s.fake.apply_then_fail_batches(1);
    let outcomes = qbo
        .write(&[quantity_write(&id, "A", 10, 14)])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    assert_eq!(s.fake.adjustments().len(), 1, "read again, found applied");
    assert_eq!(qty_of(&s.fake.item(&id).expect("item")), Decimal::from(14));
    // A batch refused with a 5xx before it ran is sent again.
    s.fake.inject_batch(503, 1);
    let outcomes = qbo
        .write(&[quantity_write(&id, "A", 14, 20)])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    assert_eq!(s.fake.adjustments().len(), 2);
    assert_eq!(qty_of(&s.fake.item(&id).expect("item")), Decimal::from(20));
}

#[tokio::test]
async fn the_fake_refuses_item_properties_that_finance_xsd_lacks() {
    let s = setup().await;
    let id = s.fake.add_inventory_item("A", "x", "10", "10");
    let qbo = s.open();
    qbo.read_catalog().await.expect("read"); // obtains an access token
    let token = s.access_token();
    let client = reqwest::Client::new();
    let send = |body: Value| {
        client
            .post(format!(
                "{}/v3/company/{}/item?minorversion=75",
                s.base_url, s.config.realm_id
            ))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = send(json!({"Id": id, "SyncToken": "0", "sparse": true, "Price": 12}))
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["Fault"]["Error"][0]["code"], "2010");
    assert!(
        body["Fault"]["Error"][0]["Detail"]
            .as_str()
            .is_some_and(|d| d.contains("Price"))
    );
    let r = send(json!({"Id": id, "SyncToken": "0", "sparse": true, "UnitPrice": "12.00"}))
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "a decimal must be a JSON number");
    let r = send(json!({"Id": id, "SyncToken": "0", "sparse": true, "UnitPrice": 12}))
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = send(json!({"Id": id, "SyncToken": "0", "sparse": true, "UnitPrice": 13}))
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "stale");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["Fault"]["type"], "ValidationFault");
    assert_eq!(body["Fault"]["Error"][0]["code"], "5010");
    assert_eq!(body["Fault"]["Error"][0]["Message"], "Stale Object Error");
    // Without "sparse", an update is full and clears what it leaves out.
    let r = send(json!({"Id": id, "SyncToken": "1", "UnitPrice": 14}))
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert!(s.fake.item(&id).expect("item").get("Sku").is_none());
    // More than 30 operations in a batch are refused.
    let ops: Vec<Value> = (0..31)
        .map(|i| json!({"bId": i.to_string(), "Query": "select count(*) from Item"}))
        .collect();
    let r = client
        .post(format!(
            "{}/v3/company/{}/batch?minorversion=75",
            s.base_url, s.config.realm_id
        ))
        .bearer_auth(&token)
        .json(&json!({"BatchItemRequest": ops}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    // Every request must ask for minor version 75.
    let r = client
        .get(format!(
            "{}/v3/company/{}/query",
            s.base_url, s.config.realm_id
        ))
        .query(&[("query", "select * from Item")])
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
}

// ---- recorded answers (tests/fixtures/quickbooks_online, sources in its README) ------

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/quickbooks_online/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}

#[tokio::test]
async fn recorded_items_read_as_inventory_untracked_and_base_and_a_service_price_is_written() {
    let s = setup().await;
    let fountain = s
        .fake
        .add_recorded_item(fixture("item_inventory.json")["Item"].clone());
    let concrete = s.fake.add_recorded_item(fixture("item_service.json"));
    s.fake
        .add_recorded_item(fixture("item_category.json")["Item"].clone());
    let qbo = s.open();
    let catalog = qbo.read_catalog().await.expect("read");
    assert_eq!(catalog.rejects, vec![]);
    let by_name = |name: &str| {
        catalog
            .records
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let kinds = [
        ("Rock Fountain", ItemKind::Inventory, Some(27500), Some(2)),
        ("Concrete", ItemKind::Untracked, Some(0), None),
        ("Flowers and Trees", ItemKind::Base, None, None),
    ];
    for (name, kind, cents, quantity) in kinds {
        let r = by_name(name);
        assert_eq!(
            (r.kind, r.price, r.quantity),
            (kind, cents.map(|c| Decimal::new(c, 2)), quantity),
            "{name}"
        );
    }
    assert_eq!((fountain.as_str(), concrete.as_str()), ("5", "3"));

    // The service's price is written like any item's: a sparse update with the
    // SyncToken it was recorded with ("1").
    let outcomes = qbo
        .write(&[price_write(&concrete, "", "0.00", "45.00")])
        .await
        .expect("write");
    assert_eq!(outcomes, vec![WriteOutcome::Applied]);
    let item = s.fake.item(&concrete).expect("item");
    assert_eq!(price_of(&item), Decimal::from(45));
    assert_eq!(item["SyncToken"], "2");
    assert_eq!(item["Type"], "Service", "a sparse update keeps the rest");
    assert_eq!(
        item["IncomeAccountRef"]["value"], "48",
        "a sparse update keeps the rest"
    );
}

#[tokio::test]
async fn a_stale_sync_token_is_answered_with_the_recorded_fault_and_handled_as_stale() {
    let s = setup().await;
    let id = s.fake.add_recorded_item(fixture("item_service.json"));
    let qbo = s.open();
    qbo.read_catalog().await.expect("read"); // obtains an access token
    let token = s.access_token();
    // The fake's answer to a stale SyncToken in a batch is the recorded one.
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/v3/company/{}/batch?minorversion=75",
            s.base_url, s.config.realm_id
        ))
        .bearer_auth(&token)
        .json(&json!({"BatchItemRequest": [{
            "bId": "bid3", "operation": "update",
            "Item": {"Id": id, "SyncToken": "0", "sparse": true, "UnitPrice": 1}
        }]}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let recorded = fixture("batch_stale_object.json");
    assert_eq!(
        answer["BatchItemResponse"][0], recorded["BatchItemResponse"][2],
        "the same Fault, word for word, under the same bId"
    );

    // Through the connector: a 5010 is read again and retried once (ADR 0036); a second
    // one leaves the item stale, in QuickBooks' words.
    s.fake.conflict_on_update(&id, 2);
    let outcomes = qbo
        .write(&[price_write(&id, "", "0.00", "45.00")])
        .await
        .expect("write");
    assert!(
        matches!(&outcomes[0], WriteOutcome::Stale(m) if m.contains("5010")),
        "{outcomes:?}"
    );
    assert_eq!(price_of(&s.fake.item(&id).expect("item")), Decimal::ZERO);
}

// ---- 5. posted orders ----------------------------------------------------------------

fn line(store: &str, order: &str) -> OrderLine {
    OrderLine {
        store: CompactString::from(store),
        order: CompactString::from(order),
        sku: CompactString::from("MUG-1"),
        quantity: 1,
    }
}

#[tokio::test]
async fn posted_orders_are_sales_receipts_or_invoices_with_the_doc_number() {
    let mut s = setup().await;
    s.fake.add_document("SalesReceipt", "1001");
    s.fake.add_document("Invoice", "1003");
    s.fake.add_document("Invoice", "shop-1004");
    s.fake.add_document("Estimate", "1005");
    let lines = [
        line("shop", "1001"),
        line("shop", "1002"),
        line("shop", "1003"),
        line("shop", "1004"),
        line("pos", "1001"),
    ];
    let posted = s
        .open()
        .posted_orders(&lines)
        .await
        .expect("lookup")
        .expect("supported");
    assert_eq!(posted, vec![true, false, true, false, true]);

    s.config.order_doc_number = "{store}-{order}".into();
    let posted = s
        .open()
        .posted_orders(&lines)
        .await
        .expect("lookup")
        .expect("supported");
    assert_eq!(posted, vec![false, false, false, true, false]);

    // Many orders: batched `in (…)` queries, both entities per batch.
    s.config.order_doc_number = "{order}".into();
    let before = s.fake.stats().queries;
    let many: Vec<OrderLine> = (0..250)
        .map(|i| line("shop", &format!("9{i:04}")))
        .collect();
    let posted = s
        .open()
        .posted_orders(&many)
        .await
        .expect("lookup")
        .expect("supported");
    assert!(posted.iter().all(|p| !p));
    assert_eq!(
        s.fake.stats().queries - before,
        6,
        "3 chunks of 100, SalesReceipt and Invoice"
    );
    let texts = s.fake.stats().query_texts;
    assert!(
        texts
            .iter()
            .any(|q| q.starts_with("select * from SalesReceipt where DocNumber in ('1001'")),
        "{texts:?}"
    );
}

// ---- 6. throttling, retries, 401 -----------------------------------------------------

#[tokio::test]
async fn the_client_keeps_to_the_realm_limits() {
    let limits = FakeLimits {
        requests_per_window: 12,
        batches_per_window: 3,
        in_flight: 2,
        window: Duration::from_millis(600),
    };
    let s = setup_with(FakeConfig {
        limits,
        api_latency: Duration::from_millis(20),
        ..FakeConfig::default()
    })
    .await;
    let ids: Vec<String> = (0..150)
        .map(|i| s.fake.add_inventory_item(&format!("T{i}"), "x", "1", "1"))
        .collect();
    let qbo = s.open_with(Tuning {
        limits: Limits {
            requests_per_window: 12,
            batches_per_window: 3,
            in_flight: 2,
            window: Duration::from_millis(600),
            margin: Duration::from_millis(50),
        },
        page_size: 20,
        ..fast()
    });
    let started = Instant::now();
    let catalog = qbo.read_catalog().await.expect("read");
    assert_eq!(catalog.records.len(), 150);
    let writes: Vec<Write> = ids
        .iter()
        .map(|id| price_write(id, "T", "1", "2"))
        .collect();
    let outcomes = qbo.write(&writes).await.expect("write");
    assert!(outcomes.iter().all(|o| *o == WriteOutcome::Applied));
    let stats = s.fake.stats();
    assert_eq!(stats.throttled, 0, "never throttled: {stats:?}");
    assert!(stats.max_in_flight <= 2);
    assert!(s.fake.max_in_window(Duration::from_millis(600), true) <= 3);
    assert!(s.fake.max_in_window(Duration::from_millis(600), false) <= 12);
    // 9 reads (count + 8 pages) and 5 batches: at least one window is waited out.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn throttled_requests_wait_and_are_retried() {
    // The fake allows fewer batches than the client believes: it answers 429.
    let s = setup_with(FakeConfig {
        limits: FakeLimits {
            batches_per_window: 1,
            window: Duration::from_millis(300),
            ..FakeLimits::default()
        },
        retry_after: Some(1),
        ..FakeConfig::default()
    })
    .await;
    let ids: Vec<String> = (0..90)
        .map(|i| s.fake.add_inventory_item(&format!("T{i}"), "x", "1", "1"))
        .collect();
    let qbo = s.open_with(Tuning {
        throttle_retries: 10,
        ..fast()
    });
    qbo.read_catalog().await.expect("read");
    let writes: Vec<Write> = ids
        .iter()
        .map(|id| price_write(id, "T", "1", "2"))
        .collect();
    let outcomes = qbo.write(&writes).await.expect("write");
    assert!(
        outcomes.iter().all(|o| *o == WriteOutcome::Applied),
        "{outcomes:?}"
    );
    assert!(s.fake.stats().throttled > 0);

    // Without Retry-After the wait is the configured one (60 s by default).
    let s = setup_with(FakeConfig {
        retry_after: None,
        ..FakeConfig::default()
    })
    .await;
    let qbo = s.open();
    s.fake.inject(429, 1);
    let started = Instant::now();
    qbo.read_catalog().await.expect("read after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.fake.stats().throttled, 1);

    // Throttled for good: a clear, retryable error.
    s.fake.inject(429, 20);
    let e = s
        .open_with(Tuning {
            throttle_wait: Duration::from_millis(1),
            throttle_retries: 3,
            ..fast()
        })
        .read_catalog()
        .await
        .expect_err("throttled");
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.retryable);
    assert!(e.message.contains("ThrottleExceeded"), "{e}");
}

#[tokio::test]
async fn server_errors_and_timeouts_of_reads_are_retried() {
    let s = setup_with(FakeConfig {
        api_latency: Duration::from_millis(300),
        ..FakeConfig::default()
    })
    .await;
    s.fake.add_inventory_item("A", "x", "1", "1");
    s.fake.inject(503, 2);
    let catalog = s.open().read_catalog().await.expect("read after retries");
    assert_eq!(catalog.records.len(), 1);
    // Timeouts: the first attempts time out, the client gives up after its attempts.
    let e = s
        .open_with(Tuning {
            timeouts: invsync_connectors::http::Timeouts {
                connect: Duration::from_secs(1),
                request: Duration::from_millis(100),
            },
            ..fast()
        })
        .read_catalog()
        .await
        .expect_err("times out");
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("timed out"), "{e}");
    assert!(!e.message.contains("http://"), "no URL in errors: {e}");
}

#[tokio::test]
async fn the_configured_timeout_and_retries_apply() {
    let mut s = setup_with(FakeConfig {
        api_latency: Duration::from_millis(500),
        ..FakeConfig::default()
    })
    .await;
    s.fake.add_inventory_item("A", "x", "1", "1");
    // `timeout`, `retries` and `retry_backoff` of [accounting], through the plain `open`.
    s.config.http = invsync_config::HttpPolicy {
        timeout: Duration::from_millis(100),
        retries: 2,
        retry_backoff: Duration::from_millis(10),
    };
    let vault: Arc<dyn TokenVault> = Arc::new(s.vault.clone());
    let qbo = QuickBooksOnline::open(
        "accounting",
        &s.config,
        &OpenContext::new().with_token_vault(vault),
    )
    .expect("open");
    let started = Instant::now();
    let e = qbo.read_catalog().await.expect_err("times out");
    assert!(e.message.contains("timed out"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        s.fake.stats().requests,
        3,
        "the first attempt and 2 retries"
    );
}

#[tokio::test]
async fn a_401_refreshes_once_then_fails_with_what_to_do() {
    let s = setup().await;
    s.fake.add_inventory_item("A", "x", "1", "1");
    let qbo = s.open();
    qbo.read_catalog().await.expect("read");
    assert_eq!(s.fake.stats().refreshes, 1);
    // The access token expires early (revoked, clock skew): one refresh, then fine.
    s.fake.expire_access_tokens();
    qbo.read_catalog().await.expect("read after a refresh");
    let stats = s.fake.stats();
    assert_eq!(stats.refreshes, 2);
    assert_eq!(stats.unauthorized, 1);
    // QuickBooks keeps refusing fresh tokens: fail, once, with the fix.
    s.fake.inject(401, 2);
    let e = qbo.read_catalog().await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.message.contains("client_id"), "{e}");
    assert!(e.message.contains("invsync auth quickbooks-online"), "{e}");
    assert_eq!(s.fake.stats().refreshes, 3, "refreshed once more, no loop");
    assert!(!format!("{e} {e:?}").contains(SENTINEL_SECRET));
}

// ---- 2. tokens -----------------------------------------------------------------------

#[tokio::test]
async fn refresh_tokens_rotate_and_the_stored_one_is_used_from_then_on() {
    let s = setup().await;
    s.fake.add_inventory_item("A", "x", "1", "1");
    let seed = s.fake.valid_refresh_tokens();
    s.open().read_catalog().await.expect("first read");
    let rotated = s.fake.valid_refresh_tokens();
    assert_ne!(seed, rotated, "the seed was replaced and revoked");
    let stored = s
        .vault
        .load("quickbooks-online:4620816365")
        .await
        .expect("load")
        .expect("stored");
    let sealed = stored.sealed.clone().expect("sealed");
    for token in s.fake.issued_tokens() {
        assert!(
            !sealed.windows(token.len()).any(|w| w == token.as_bytes()),
            "tokens are encrypted at rest"
        );
    }
    assert!(stored.access_expires_at.is_some() && stored.needs_reauth.is_none());

    // A "restart": a new connection (the config still names the revoked seed) whose access
    // token has expired must refresh with the stored token.
    s.fake.expire_access_tokens();
    s.open().read_catalog().await.expect("read after restart");
    assert_eq!(
        s.fake.stats().invalid_grants,
        0,
        "the stale seed was never used"
    );
    assert_eq!(s.fake.stats().refreshes, 2);

    // With a valid stored access token, a new connection refreshes nothing.
    s.open().read_catalog().await.expect("read");
    assert_eq!(s.fake.stats().refreshes, 2);
}

#[tokio::test]
async fn the_access_token_is_refreshed_before_it_expires() {
    let s = setup_with(FakeConfig {
        access_token_lifetime: Duration::from_secs(5),
        ..FakeConfig::default()
    })
    .await;
    s.fake.add_inventory_item("A", "x", "1", "1");
    let qbo = s.open();
    qbo.read_catalog().await.expect("read");
    qbo.read_catalog().await.expect("read");
    assert_eq!(s.fake.stats().refreshes, 1, "a fresh token is reused");
    // In the last fifth of its life (here the last second) the token is replaced before
    // it is sent, while QuickBooks would still take it: no request meets a 401.
    tokio::time::sleep(Duration::from_millis(4_200)).await;
    qbo.read_catalog().await.expect("read");
    let stats = s.fake.stats();
    assert_eq!(stats.refreshes, 2, "refreshed ahead of expiry");
    assert_eq!(stats.unauthorized, 0, "never sent a token that had expired");
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh() {
    let s = setup_with(FakeConfig {
        token_latency: Duration::from_millis(200),
        ..FakeConfig::default()
    })
    .await;
    for i in 0..50 {
        s.fake.add_inventory_item(&format!("S{i}"), "x", "1", "1");
    }
    // Two connections (two runs) on one vault, several requests each.
    let (a, b) = (
        s.open_with(Tuning {
            page_size: 10,
            ..fast()
        }),
        s.open_with(Tuning {
            page_size: 10,
            ..fast()
        }),
    );
    let (ra, rb) = tokio::join!(a.read_catalog(), b.read_catalog());
    assert_eq!(ra.expect("a").records.len(), 50);
    assert_eq!(rb.expect("b").records.len(), 50);
    assert_eq!(
        s.fake.stats().refreshes,
        1,
        "exactly one token endpoint call"
    );
    assert_eq!(s.fake.stats().invalid_grants, 0);
}

#[tokio::test]
async fn a_refused_refresh_token_needs_reauthorisation_and_says_how() {
    let s = setup().await;
    s.fake.add_inventory_item("A", "x", "1", "1");
    s.open().read_catalog().await.expect("read");
    s.fake.revoke_refresh_tokens();
    s.fake.expire_access_tokens();
    let e = s.open().read_catalog().await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.message.contains("invalid_grant"), "{e}");
    assert!(e.message.contains("invsync auth quickbooks-online"), "{e}");
    assert_eq!(
        s.fake.stats().invalid_grants,
        1,
        "re-read once, no second call with the same token"
    );
    let stored = s
        .vault
        .load("quickbooks-online:4620816365")
        .await
        .expect("load")
        .expect("row");
    assert!(stored.needs_reauth.is_some());
    assert!(stored.sealed.is_none(), "the refused tokens are dropped");
    // Later runs fail at once, without calling Intuit.
    let calls = s.fake.stats().token_calls;
    let e = s.open().read_catalog().await.expect_err("still refused");
    assert!(e.message.contains("invsync auth quickbooks-online"), "{e}");
    assert_eq!(s.fake.stats().token_calls, calls);

    // Connecting again stores fresh tokens and clears the mark.
    let code = s.fake.authorization_code("https://example.com/cb");
    invsync_connectors::quickbooks_online::connect_with_code(
        &s.config,
        Arc::new(s.vault.clone()),
        &code,
        "https://example.com/cb",
    )
    .await
    .expect("connect");
    s.open()
        .read_catalog()
        .await
        .expect("read after re-authorising");
}

/// A vault in which, right after a refresh was refused, someone else stores new tokens
/// (an operator's `invsync auth quickbooks-online`) before the connection reads again.
struct ReconnectedMeanwhile {
    inner: MemoryVault,
    config: QuickBooksOnlineConfig,
    fake: QboFake,
    done: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl TokenVault for ReconnectedMeanwhile {
    async fn load(
        &self,
        key: &str,
    ) -> Result<Option<invsync_connectors::SealedTokens>, invsync_connectors::ConnectorError> {
        self.inner.load(key).await
    }

    async fn update(
        &self,
        key: &str,
        update: invsync_connectors::VaultUpdate,
    ) -> Result<Option<invsync_connectors::SealedTokens>, invsync_connectors::ConnectorError> {
        let result = self.inner.update(key, update).await;
        if result.is_err() && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let code = self.fake.authorization_code("https://example.com/cb");
            invsync_connectors::quickbooks_online::connect_with_code(
                &self.config,
                Arc::new(self.inner.clone()),
                &code,
                "https://example.com/cb",
            )
            .await
            .expect("connect");
        }
        result
    }
}

#[tokio::test]
async fn after_invalid_grant_the_stored_tokens_are_read_again_once() {
    let s = setup().await;
    s.fake.add_inventory_item("A", "x", "1", "1");
    s.open().read_catalog().await.expect("read");
    s.fake.revoke_refresh_tokens();
    s.fake.expire_access_tokens();
    let vault = Arc::new(ReconnectedMeanwhile {
        inner: s.vault.clone(),
        config: s.config.clone(),
        fake: s.fake.clone(),
        done: std::sync::atomic::AtomicBool::new(false),
    });
    let qbo = QuickBooksOnline::open_with(
        "accounting",
        &s.config,
        &OpenContext::new().with_token_vault(vault.clone()),
        fast(),
    )
    .expect("open");
    qbo.read_catalog()
        .await
        .expect("the tokens stored meanwhile are used");
    assert!(vault.done.load(std::sync::atomic::Ordering::SeqCst));
    let stats = s.fake.stats();
    assert_eq!(
        stats.invalid_grants, 1,
        "the refused token is not sent again"
    );
    assert_eq!(stats.code_exchanges, 1);
    let stored = s
        .vault
        .load("quickbooks-online:4620816365")
        .await
        .expect("load")
        .expect("row");
    assert!(
        stored.needs_reauth.is_none(),
        "not marked: the re-read helped"
    );
}

#[tokio::test]
async fn a_seed_that_is_already_revoked_needs_reauthorisation() {
    let s = setup().await;
    s.fake.revoke_refresh_tokens();
    let e = s.open().read_catalog().await.expect_err("refused");
    assert!(e.message.contains("invsync auth quickbooks-online"), "{e}");
    assert!(
        s.vault
            .load("quickbooks-online:4620816365")
            .await
            .expect("load")
            .is_some_and(|t| t.needs_reauth.is_some())
    );
}

#[tokio::test]
async fn no_tokens_anywhere_says_how_to_connect() {
    let mut s = setup().await;
    s.config.refresh_token = None;
    let e = s.open().read_catalog().await.expect_err("no tokens");
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(
        e.message.contains("accounting.refresh_token is not set"),
        "{e}"
    );
    assert!(e.message.contains("invsync auth quickbooks-online"), "{e}");
    // Without a vault at all (no database), nothing is refreshed and lost.
    let qbo = QuickBooksOnline::open_with("accounting", &s.config, &OpenContext::new(), fast())
        .expect("open");
    let e = qbo.read_catalog().await.expect_err("no vault");
    assert!(e.message.contains("database"), "{e}");
}

#[tokio::test]
async fn wrong_app_credentials_are_an_auth_error_without_the_secret() {
    let mut s = setup().await;
    s.config.client_secret = SecretString::from("SENTINEL-wrong-secret".to_owned());
    let e = s.open().read_catalog().await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.message.contains("client_secret"), "{e}");
    let text = format!("{e} {e:?} {:?}", s.config);
    assert!(!text.contains("SENTINEL"), "{text}");
    for token in s.fake.issued_tokens() {
        assert!(!text.contains(&token));
    }
}
