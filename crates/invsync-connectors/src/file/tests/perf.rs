//! How long a 1,000,000-row catalog takes to read and to rewrite with a few changes.
//! Run it in release mode:
//! `cargo test --release -p invsync-connectors -- --ignored --nocapture`.

use super::{Fixture, price_write, quantity_write};
use crate::WriteOutcome;
use std::io::Write as _;
use std::time::{Duration, Instant};

const ROWS: usize = 1_000_000;

fn generate(json: bool) -> Fixture {
    let fixture = Fixture::new(if json { "big.json" } else { "big.csv" }, "");
    let file = std::fs::File::create(&fixture.path).expect("create");
    let mut out = std::io::BufWriter::new(file);
    if json {
        out.write_all(b"[\n").expect("write");
    } else {
        out.write_all(b"sku,name,price,quantity,kind,notes\n")
            .expect("write");
    }
    for i in 0..ROWS {
        let (price, quantity) = (format!("{}.{:02}", i % 500, i % 100), i % 1000);
        if json {
            let comma = if i + 1 < ROWS { "," } else { "" };
            writeln!(
                out,
                "  {{\"sku\": \"SKU-{i:07}\", \"name\": \"Product {i}, in a longer name\", \"price\": \"{price}\", \
                 \"quantity\": {quantity}, \"kind\": \"inventory\"}}{comma}"
            )
        } else {
            writeln!(out, "SKU-{i:07},\"Product {i}, in a longer name\",{price},{quantity},inventory,")
        }
        .expect("write");
    }
    if json {
        out.write_all(b"]\n").expect("write");
    }
    out.flush().expect("flush");
    fixture
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

fn measure(json: bool) {
    let fixture = generate(json);
    let size = std::fs::metadata(&fixture.path).expect("metadata").len();
    let inner = fixture.inner();

    // The best of three: the machine may be busy with other work.
    let read = (0..3)
        .map(|_| {
            let (records, elapsed) = timed(|| inner.read_catalog().expect("read"));
            assert_eq!(records.len(), ROWS);
            elapsed
        })
        .min()
        .unwrap_or_default();

    let writes = [
        quantity_write("SKU-0000000", 0, 5),
        price_write("SKU-0500000", "0.00", "1.25"),
        quantity_write("SKU-0999999", 999, 0),
    ];
    let (outcomes, write) = timed(|| inner.write(&writes).expect("write"));
    assert_eq!(outcomes, vec![WriteOutcome::Applied; 3]);

    let (records, reread) = timed(|| inner.read_catalog().expect("read"));
    assert_eq!(records[0].quantity, Some(5));
    assert_eq!(
        records[500_000].price.map(|p| p.to_string()).as_deref(),
        Some("1.25")
    );
    assert_eq!(records[ROWS - 1].quantity, Some(0));

    println!(
        "{} rows, {} ({:.1} MB): read {:?} (best of 3), rewrite with 3 changes {:?}, read again {:?}",
        ROWS,
        if json { "JSON" } else { "CSV" },
        size as f64 / 1e6,
        read,
        write,
        reread
    );
}

#[test]
#[ignore = "slow in debug builds: run with --release -- --ignored --nocapture"]
fn a_million_row_csv_catalog() {
    measure(false);
}

#[test]
#[ignore = "slow in debug builds: run with --release -- --ignored --nocapture"]
fn a_million_row_json_catalog() {
    measure(true);
}
