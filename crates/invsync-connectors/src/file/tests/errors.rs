//! A malformed file is an error for the whole file, and the message says where
//! (`path:line:column`) and what is wrong.

use super::Fixture;
use crate::ErrorKind;

/// One malformed file: its name (the extension picks the format), its bytes, where the
/// error must point and words the message must contain.
struct Case {
    file: &'static str,
    contents: &'static [u8],
    line: usize,
    column: usize,
    reason: &'static str,
}

const fn case(
    file: &'static str,
    contents: &'static [u8],
    line: usize,
    column: usize,
    reason: &'static str,
) -> Case {
    Case {
        file,
        contents,
        line,
        column,
        reason,
    }
}

const CATALOG_CASES: &[Case] = &[
    // CSV
    case("shop.csv", b"", 1, 1, "the file is empty; expected a header row"),
    case("shop.csv", b"\n  \n", 3, 1, "the file is empty"),
    case("shop.csv", b"sku,name,quantity\nA,B,3\n", 1, 1, "no \"price\" column"),
    case("shop.csv", b"name,price,quantity\n", 1, 1, "no \"sku\" column"),
    case("shop.csv", b"sku,price, PRICE ,quantity\n", 1, 11, "duplicate column \"price\" (also column 2)"),
    case("shop.csv", b"sku,price,quantity\nA,12,5,3\n", 2, 8, "this row has 4 cells but the header has 3"),
    case("shop.csv", b"sku,price,quantity\nA,1\n", 2, 4, "this row has 2 cells but the header has 3"),
    case("shop.csv", b"sku,price,quantity\nA,\"12,5\",3\n", 2, 3, "price \"12,5\" is not a decimal number"),
    case("shop.csv", b"sku,price,quantity\nA,\"12,5\",3\n", 2, 3, "decimal separator"),
    case("shop.csv", b"sku,price,quantity\nA,$12,3\n", 2, 3, "price \"$12\" is not a decimal number"),
    case("shop.csv", b"sku,price,quantity\nA,NaN,3\n", 2, 3, "price \"NaN\" is not a decimal number"),
    case("shop.csv", b"sku,price,quantity\nA,12.5,3.5\n", 2, 8, "quantity \"3.5\" is not a whole number"),
    case("shop.csv", b"sku,price,quantity\nA,12.5,abc", 2, 8, "quantity \"abc\" is not a whole number"),
    case("shop.csv", b"sku,price,quantity\nA,,2\n", 2, 3, "price is empty; an inventory product needs"),
    case("shop.csv", b"sku,price,quantity\nA,1,\n", 2, 5, "quantity is empty"),
    case("shop.csv", b"sku,price,quantity,kind\nA,1,2,bundle\n", 2, 7, "kind \"bundle\" is not inventory, untracked or base"),
    case("shop.csv", b"sku,price,quantity,kind\nA,x,,base\n", 2, 3, "price \"x\" is not a decimal number"),
    case("shop.csv", b"sku,price,quantity\nA,\"12.5,3\n", 2, 3, "a quoted cell is never closed"),
    case("shop.csv", b"sku,price,quantity\n\"A\"x,1,2\n", 2, 4, "text after the closing quote"),
    case("shop.csv", b"sku,price,quantity\n\xff,1,2\n", 2, 1, "sku is not valid UTF-8"),
    // Lines count the line breaks inside quoted cells and the blank lines.
    case("shop.csv", b"sku,name,price,quantity\nA,\"two\nlines\",1,x\n", 3, 10, "quantity \"x\""),
    case("shop.csv", b"sku,price,quantity\n\n  \nA,1,q", 4, 5, "quantity \"q\""),
    // The byte order mark is not a column; CRLF line ends.
    case("shop.csv", b"\xEF\xBB\xBFsku,price,quantity\r\nA,1,x\r\n", 2, 5, "quantity \"x\""),
    case("shop.csv", b"\xEF\xBB\xBFsku,price,sku,quantity\r\n", 1, 11, "duplicate column \"sku\""),
    // Columns count characters, not bytes.
    case("shop.csv", "sku,name,price,quantity\nÄ,Größe,1,x\n".as_bytes(), 2, 11, "quantity \"x\""),
    // JSON
    case("shop.json", b"", 1, 1, "the file is empty; expected a JSON array of products"),
    case("shop.json", b"{\"sku\":\"A\"}", 1, 1, "expected a JSON array of products"),
    case("shop.json", b"[1]", 1, 2, "each product must be a JSON object"),
    case("shop.json", b"[{\"sku\":\"A\",}]", 1, 13, "invalid JSON: key must be a string"),
    case("shop.json", b"[{\"sku\":\"A\"},\n]", 2, 1, "invalid JSON: trailing comma"),
    case("shop.json", b"[{\"sku\":\"A\"", 1, 12, "invalid JSON: EOF while parsing"),
    case("shop.json", b"[\n{\"sku\": \"A\" \"price\": 1}\n]", 2, 13, "invalid JSON: expected `,` or `}`"),
    case("shop.json", b"[{\"sku\":\"A\",\"price\":\"12,5\",\"quantity\":1}]", 1, 21, "price \"12,5\" is not a decimal number"),
    case("shop.json", b"[{\"sku\":\"A\",\"price\":1e3,\"quantity\":1}]", 1, 21, "price \"1e3\" is not a decimal number"),
    case("shop.json", b"[{\"sku\":\"A\",\"price\":true,\"quantity\":1}]", 1, 21, "price is a boolean; expected a number or a string"),
    case("shop.json", b"[{\"sku\":\"A\",\"price\":1,\"price\":2,\"quantity\":1}]", 1, 31, "duplicate key \"price\" in one product"),
    case("shop.json", b"[{\"price\":\"1\",\"quantity\":1}]", 1, 2, "this product has no \"sku\""),
    case("shop.json", b"[{\"sku\":[],\"price\":\"1\",\"quantity\":1}]", 1, 9, "sku is an array; expected a string"),
    case("shop.json", b"[{\"sku\":\"A\",\"kind\":\"x\"}]", 1, 20, "kind \"x\" is not inventory, untracked or base"),
    case("shop.json", b"[{\"sku\":\"A\",\"price\":1}]", 1, 2, "quantity is empty"),
    case("shop.json", b"[{\"sku\":\"A\",\"price\":null,\"quantity\":1}]", 1, 2, "price is empty"),
    case("shop.json", b"[{\"sku\":\"A\",\"price\":\"\",\"quantity\":1}]", 1, 21, "price is empty"),
    case(
        "shop.json",
        b"[\n  {\"sku\": \"A\", \"price\": 1.5, \"quantity\": 2},\n  {\"sku\": \"B\", \"price\": 2, \"quantity\": 3.5}\n]\n",
        3,
        40,
        "quantity \"3.5\" is not a whole number",
    ),
    case("shop.json", b"\xEF\xBB\xBF[1]", 1, 2, "each product must be a JSON object"),
    case("shop.json", b"[{\"sku\":\"\xff\"}]", 1, 10, "not valid UTF-8"),
];

const ORDERS_CASES: &[Case] = &[
    case(
        "orders.csv",
        b"",
        1,
        1,
        "the file is empty; expected a header row naming the columns order,sku,quantity",
    ),
    case(
        "orders.csv",
        b"order,sku\n1001,A\n",
        1,
        1,
        "the header has no \"quantity\" column",
    ),
    case(
        "orders.csv",
        b"sku,Order,quantity,note\nA,1001,x,hi\n",
        2,
        8,
        "quantity \"x\" is not a whole number",
    ),
    case(
        "orders.csv",
        b"order,sku,quantity\n1001,A,1,extra\n",
        2,
        10,
        "this row has 4 cells",
    ),
    case(
        "orders.json",
        b"[{\"order\":1001,\"sku\":\"A\",\"quantity\":\"two\"}]",
        1,
        37,
        "quantity \"two\" is not a whole number",
    ),
    case(
        "orders.json",
        b"[{\"sku\":\"A\",\"quantity\":1}]",
        1,
        2,
        "this order line has no \"order\"",
    ),
    case(
        "orders.json",
        b"[{\"order\":\"1\",\"sku\":\"A\"}]",
        1,
        2,
        "this order line has no \"quantity\"",
    ),
    case(
        "orders.json",
        b"[{\"order\":\"1\",\"sku\":\"A\",\"quantity\":{}}]",
        1,
        36,
        "quantity is an object; expected a whole number",
    ),
    case(
        "orders.json",
        b"{}",
        1,
        1,
        "expected a JSON array of order lines",
    ),
];

fn check_message(case: &Case, path: &std::path::Path, error: &crate::ConnectorError) {
    let shown = String::from_utf8_lossy(case.contents);
    assert_eq!(error.kind, ErrorKind::InvalidData, "{shown:?}: {error}");
    assert!(!error.retryable);
    let prefix = format!("{}:{}:{}: ", path.display(), case.line, case.column);
    assert!(
        error.message.starts_with(&prefix),
        "{shown:?}\n  got:  {}\n  want: {prefix}…",
        error.message
    );
    assert!(
        error.message.contains(case.reason),
        "{shown:?}\n  got:  {}\n  want: …{}",
        error.message,
        case.reason
    );
    assert_eq!(error.connection, "shop");
}

#[test]
fn malformed_catalogs_are_errors_that_say_where_and_why() {
    for case in CATALOG_CASES {
        let fixture = Fixture::new(case.file, case.contents);
        let error = fixture
            .inner()
            .read_catalog()
            .expect_err(&String::from_utf8_lossy(case.contents));
        check_message(case, &fixture.path, &error);
    }
}

#[test]
fn a_write_to_a_malformed_file_fails_the_batch_and_leaves_it_alone() {
    for case in CATALOG_CASES {
        let fixture = Fixture::new(case.file, case.contents);
        let error = fixture
            .inner()
            .write(&[super::quantity_write("A", 1, 2)])
            .expect_err(&String::from_utf8_lossy(case.contents));
        check_message(case, &fixture.path, &error);
        assert_eq!(fixture.bytes(), case.contents);
    }
}

#[test]
fn malformed_orders_are_errors_that_say_where_and_why() {
    for case in ORDERS_CASES {
        let fixture = Fixture::new("shop.csv", "sku,price,quantity\n");
        let orders = fixture.dir.path().join(case.file);
        std::fs::write(&orders, case.contents).expect("write orders");
        let mut inner = fixture.inner();
        inner.config.orders = Some(orders.clone());
        let error = inner
            .read_orders()
            .expect_err(&String::from_utf8_lossy(case.contents));
        check_message(case, &orders, &error);
    }
}

/// Issue 13, item 5: `path = "/dev/zero"` grew invsync to 5 GB in 6 s, a 2 GB sparse file
/// took 2.1 GB. Catalog and orders files must be regular files within `max_file_size`,
/// checked before reading, and are read no further than one byte past the limit.
#[test]
fn files_that_are_not_regular_or_over_the_limit_are_refused_before_reading() {
    let fixture = Fixture::new("shop.csv", "sku,price,quantity\nA,1.00,2\n");
    let fifo = fixture.dir.path().join("fifo.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let sparse = fixture.dir.path().join("sparse.csv");
    std::fs::File::create(&sparse)
        .and_then(|f| f.set_len(2 << 30))
        .expect("a 2 GiB sparse file");
    let big = "sku,price,quantity\n".to_owned() + &"A,1.00,2\n".repeat(20);
    let over = fixture.dir.path().join("over.csv");
    std::fs::write(&over, &big).expect("write");
    let cases: Vec<(std::path::PathBuf, u64, String)> = vec![
        (
            "/dev/zero".into(),
            1 << 30,
            "is a character device, not a regular file; nothing read".into(),
        ),
        (
            fifo.clone(),
            1 << 30,
            "is a FIFO (named pipe), not a regular file; nothing read".into(),
        ),
        (
            fixture.dir.path().to_path_buf(),
            1 << 30,
            "is a directory, not a regular file; nothing read".into(),
        ),
        (
            sparse.clone(),
            1 << 30,
            "is 2 GiB, over the limit of 1 GiB; nothing read (raise `max_file_size` in [stores.shop] if the file is meant to be this large)".into(),
        ),
        (
            over.clone(),
            100,
            format!(
                "is {} bytes, over the limit of 100 bytes; nothing read",
                big.len()
            ),
        ),
        (
            "/proc/self/status".into(),
            100,
            "grew past the limit of 100 bytes while it was read; nothing used".into(),
        ),
    ];
    for (path, limit, want) in cases {
        let mut inner = fixture.inner();
        inner.config.path = path.clone();
        inner.config.max_file_size = limit;
        let catalog = inner.read_catalog().expect_err("refused");
        // (A file in /proc cannot be locked for a write: its read alone is checked.)
        let write = match path.starts_with("/proc") {
            true => inner.read_catalog(),
            false => inner
                .write(&[super::quantity_write("A", 2, 3)])
                .map(|_| Vec::new()),
        }
        .expect_err("refused");
        let mut inner = fixture.inner();
        inner.config.orders = Some(path.clone());
        inner.config.max_file_size = limit;
        let orders = inner.read_orders().expect_err("refused");
        // A path that names no regular file is like a missing one; one too large is bad data.
        let kind = if want.contains("not a regular file") {
            ErrorKind::NotFound
        } else {
            ErrorKind::InvalidData
        };
        for e in [catalog, write, orders] {
            assert_eq!(e.kind, kind, "{e}");
            let want = format!("{}: cannot read: {want}", path.display());
            assert!(e.message.starts_with(&want), "{}\nwant {want}", e.message);
        }
    }
    assert_eq!(
        std::fs::metadata(&sparse).map(|m| m.len()).ok(),
        Some(2 << 30),
        "nothing written"
    );
    assert_eq!(std::fs::read_to_string(&over).ok(), Some(big));
    assert!(
        !fixture.files().iter().any(|f| f.ends_with(".lock")),
        "no lock taken for a refused file: {:?}",
        fixture.files()
    );
}
