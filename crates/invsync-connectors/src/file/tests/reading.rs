//! Reading catalogs and orders (product.md, "File connections").

use super::{Fixture, connection_for};
use crate::{Connection, ErrorKind};
use invsync_core::{ItemKind, OrderLine, Record};
use rust_decimal::Decimal;
use std::str::FromStr;

fn record(
    sku: &str,
    name: &str,
    kind: ItemKind,
    price: Option<&str>,
    quantity: Option<i64>,
) -> Record {
    Record {
        id: "".into(),
        sku: sku.into(),
        name: name.into(),
        kind,
        price: price.map(|p| Decimal::from_str(p).expect("decimal")),
        quantity,
        sale: None,
    }
}

fn inventory(sku: &str, name: &str, price: &str, quantity: i64) -> Record {
    record(sku, name, ItemKind::Inventory, Some(price), Some(quantity))
}

#[tokio::test]
async fn reads_a_csv_catalog_with_columns_in_any_order_and_extra_columns() {
    let fixture = Fixture::new(
        "shop.csv",
        "\u{feff} Quantity ,Extra,SKU,\"Price\",name,KIND\r\n\
         3,x,MUG-1,12.50,\"Mug, large\",inventory\r\n\
         \r\n\
         \u{20}\u{20}\r\n\
         7,\"a \"\"note\"\"\",TEE,9.99,\"Tee\nshirt \"\"V\"\"\",\r\n\
         ,,PARENT,,Parent product,Base\n\
         -2,,CAP,5,Cap,INVENTORY",
    );
    let catalog = fixture.connection().read_catalog().await.expect("catalog");
    assert_eq!(
        catalog.records,
        vec![
            inventory("MUG-1", "Mug, large", "12.50", 3),
            inventory("TEE", "Tee\nshirt \"V\"", "9.99", 7),
            record("PARENT", "Parent product", ItemKind::Base, None, None),
            inventory("CAP", "Cap", "5", -2),
        ]
    );
    assert!(catalog.rejects.is_empty());
    // Prices keep the scale they are written with.
    assert_eq!(
        catalog.records[0].price.map(|p| p.to_string()).as_deref(),
        Some("12.50")
    );
}

#[test]
fn name_and_kind_columns_are_optional_and_values_may_be_padded() {
    let fixture = Fixture::new(
        "shop.csv",
        "sku,price,quantity\nA, 1.5 ,\t4\n\"B\",\"2\",\"0\"\n",
    );
    assert_eq!(
        fixture.inner().read_catalog().expect("catalog"),
        vec![inventory("A", "", "1.5", 4), inventory("B", "", "2", 0)]
    );
}

#[test]
fn a_header_only_file_is_an_empty_catalog() {
    for contents in [
        "sku,name,price,quantity,kind",
        "sku,name,price,quantity,kind\r\n\r\n",
    ] {
        let fixture = Fixture::new("shop.csv", contents);
        assert_eq!(fixture.inner().read_catalog().expect("catalog"), vec![]);
    }
    let fixture = Fixture::new("shop.json", " [ ] ");
    assert_eq!(fixture.inner().read_catalog().expect("catalog"), vec![]);
}

#[test]
fn base_rows_may_carry_values_and_then_they_are_read() {
    let fixture = Fixture::new("shop.csv", "sku,price,quantity,kind\nB,10,,base\n");
    assert_eq!(
        fixture.inner().read_catalog().expect("catalog"),
        vec![record("B", "", ItemKind::Base, Some("10"), None)]
    );
}

#[tokio::test]
async fn reads_a_json_catalog_with_string_and_number_prices() {
    let fixture = Fixture::new(
        "shop.JSON",
        r#"[
          {"sku": "MUG-1", "name": "Mug", "price": "12.50", "quantity": 3, "kind": "inventory"},
          {"sku": "TEE", "name": "T\u00e9e \"V\"", "price": 9.990, "quantity": "7", "extra": {"a": [1, 2]}},
          {"sku": "PARENT", "price": null, "kind": "BASE"},
          {"sku": 12345, "price": 0.1, "quantity": -1, "name": null, "kind": null}
        ]"#,
    );
    let catalog = fixture.connection().read_catalog().await.expect("catalog");
    assert_eq!(
        catalog.records,
        vec![
            inventory("MUG-1", "Mug", "12.50", 3),
            inventory("TEE", "Tée \"V\"", "9.990", 7),
            record("PARENT", "", ItemKind::Base, None, None),
            inventory("12345", "", "0.1", -1),
        ]
    );
    // Numbers are read from their literal text: 9.990 keeps its scale, 0.1 is exact.
    assert_eq!(
        catalog.records[1].price.map(|p| p.to_string()).as_deref(),
        Some("9.990")
    );
}

#[tokio::test]
async fn a_missing_catalog_is_not_found_and_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing.csv");
    let error = connection_for(&path, None)
        .read_catalog()
        .await
        .expect_err("missing");
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(
        error.message.contains(&path.display().to_string()),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("file not found"),
        "{}",
        error.message
    );
}

/// A path the operator has to fix is `NotFound` (an input error: exit 2), however it is
/// broken: missing, a directory, under a file, or a symlink loop.
#[tokio::test]
async fn a_catalog_path_that_cannot_be_a_file_is_not_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file.csv");
    std::fs::write(&file, "sku\n").expect("write");
    let looped = dir.path().join("loop.csv");
    std::os::unix::fs::symlink(dir.path().join("loop2.csv"), &looped).expect("symlink");
    std::os::unix::fs::symlink(&looped, dir.path().join("loop2.csv")).expect("symlink");
    for (why, path) in [
        ("a directory", dir.path().to_path_buf()),
        ("under a file", file.join("shop.csv")),
        ("a symlink loop", looped),
    ] {
        for orders in [false, true] {
            let error = if orders {
                connection_for(&file, Some(path.clone()))
                    .read_open_orders()
                    .await
                    .map(|_| ())
            } else {
                connection_for(&path, None).read_catalog().await.map(|_| ())
            }
            .expect_err(why);
            assert_eq!(error.kind, ErrorKind::NotFound, "{why}: {}", error.message);
            assert!(
                error.message.contains(&path.display().to_string()),
                "{why}: {}",
                error.message
            );
        }
    }
}

#[tokio::test]
async fn orders_are_none_when_not_configured() {
    let fixture = Fixture::new("shop.csv", "sku,price,quantity\n");
    assert_eq!(
        fixture
            .connection()
            .read_open_orders()
            .await
            .expect("orders"),
        None
    );
}

fn line(order: &str, sku: &str, quantity: i64) -> OrderLine {
    OrderLine {
        store: "shop".into(),
        order: order.into(),
        sku: sku.into(),
        quantity,
    }
}

#[tokio::test]
async fn reads_csv_orders_with_columns_in_any_order() {
    let fixture = Fixture::new("shop.csv", "sku,price,quantity\n");
    let orders = fixture.dir.path().join("orders.csv");
    std::fs::write(
        &orders,
        "\u{feff}Quantity,note,SKU,order\r\n2,gift,MUG-1,1001\r\n\r\n1,,tee,\"1002\"\r\n",
    )
    .expect("write orders");
    let connection = connection_for(&fixture.path, Some(orders));
    assert_eq!(
        connection.read_open_orders().await.expect("orders"),
        Some(vec![line("1001", "MUG-1", 2), line("1002", "tee", 1)])
    );
}

#[tokio::test]
async fn reads_json_orders() {
    let fixture = Fixture::new("shop.csv", "sku,price,quantity\n");
    let orders = fixture.dir.path().join("orders.json");
    std::fs::write(
        &orders,
        r#"[{"order": 1001, "sku": "MUG-1", "quantity": 2, "customer": "x"}, {"order": "A-7", "sku": "TEE", "quantity": "1"}]"#,
    )
    .expect("write orders");
    let connection = connection_for(&fixture.path, Some(orders));
    assert_eq!(
        connection.read_open_orders().await.expect("orders"),
        Some(vec![line("1001", "MUG-1", 2), line("A-7", "TEE", 1)])
    );
}

#[tokio::test]
async fn a_configured_orders_file_that_is_missing_is_an_error_not_no_orders() {
    let fixture = Fixture::new("shop.csv", "sku,price,quantity\n");
    let orders = fixture.dir.path().join("orders.csv");
    let error = connection_for(&fixture.path, Some(orders.clone()))
        .read_open_orders()
        .await
        .expect_err("missing");
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(
        error.message.contains(&orders.display().to_string()),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn an_orders_file_with_only_a_header_has_no_orders() {
    let fixture = Fixture::new("shop.csv", "sku,price,quantity\n");
    let orders = fixture.dir.path().join("orders.csv");
    std::fs::write(&orders, "order,sku,quantity\n").expect("write orders");
    let connection = connection_for(&fixture.path, Some(orders));
    assert_eq!(
        connection.read_open_orders().await.expect("orders"),
        Some(vec![])
    );
}
