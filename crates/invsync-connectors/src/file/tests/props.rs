//! Properties (issue 8's fuzzing of the file parsers; `INVSYNC_FUZZ_CASES` runs more
//! cases): the parsers never panic; what the `csv` crate and serde_json write reads
//! back equal; applied writes change exactly their values and nothing else.

use super::super::{Format, apply, orders, parse_catalog, text};
use super::{Fixture, write};
use crate::{Write, WriteOutcome};
use invsync_core::{Field, FieldValue, ItemKind, Record, SkuKey};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::HashSet;

/// Parses `src` every way there is; for a catalog that parses, also writes a new value
/// into every product and checks that exactly those values changed. Must never panic.
fn exercise(src: &[u8]) -> Result<(), TestCaseError> {
    for offset in [0, src.len() / 2, src.len(), src.len() + 1] {
        text::line_col(src, offset);
    }
    for format in [Format::Csv, Format::Json] {
        let _ = orders::parse_orders(src, format, "shop");
        if let Ok(records) = parse_catalog(src, format) {
            writes_change_exactly_their_values(src, format, &records)?;
        }
    }
    Ok(())
}

fn bumped(value: FieldValue) -> FieldValue {
    match value {
        FieldValue::Price(p) => {
            FieldValue::Price(p.checked_add(Decimal::ONE).unwrap_or(Decimal::ZERO))
        }
        FieldValue::Quantity(q) => FieldValue::Quantity(q.checked_add(1).unwrap_or(0)),
    }
}

fn writes_change_exactly_their_values(
    src: &[u8],
    format: Format,
    records: &[Record],
) -> Result<(), TestCaseError> {
    let mut writes = Vec::new();
    for record in records {
        for field in [Field::Price, Field::Quantity] {
            if let Some(old) = record.value(field) {
                writes.push(write(&record.sku, old, bumped(old)));
            }
        }
    }
    let changes = apply::plan(src, format, &writes).map_err(|e| TestCaseError::fail(e.message))?;
    let mut out = Vec::new();
    apply::splice(src, &changes.edits, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let after = parse_catalog(&out, format).map_err(|e| TestCaseError::fail(e.message))?;
    let mut want = records.to_vec();
    for (write, outcome) in writes.iter().zip(&changes.outcomes) {
        if *outcome == WriteOutcome::Applied {
            let key = SkuKey::new(&write.sku);
            for record in want.iter_mut().filter(|r| SkuKey::new(&r.sku) == key) {
                record.set(write.new);
            }
        }
    }
    prop_assert_eq!(after, want);
    Ok(())
}

/// Bits and pieces of CSV, to reach deeper than random bytes do.
fn csvish() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just("sku,name,price,quantity,kind\n"),
        Just("\u{feff}Kind,Quantity,SKU,Price\r\n"),
        Just("order,sku,quantity\n"),
        Just(""),
    ];
    let token = prop_oneof![
        Just(","),
        Just("\""),
        Just("\"\""),
        Just("\n"),
        Just("\r\n"),
        Just("\r"),
        Just(" "),
        Just("A"),
        Just("b-1"),
        Just("1.5"),
        Just("-3"),
        Just("12,5"),
        Just("base"),
        Just("inventory"),
        Just("é"),
        Just("\u{feff}"),
    ];
    (header, proptest::collection::vec(token, 0..80))
        .prop_map(|(h, t)| format!("{h}{}", t.concat()))
}

/// Bits and pieces of JSON.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just(","),
        Just(":"),
        Just("\"sku\""),
        Just("\"price\""),
        Just("\"quantity\""),
        Just("\"kind\""),
        Just("\"order\""),
        Just("\"base\""),
        Just("\"A\""),
        Just("\"\\u00e9\""),
        Just("\"1.50\""),
        Just("1.5"),
        Just("7"),
        Just("-0"),
        Just("1e3"),
        Just("null"),
        Just("true"),
        Just(" "),
        Just("\n"),
    ];
    proptest::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::testing::fuzz_cases(1000)))]

    #[test]
    fn arbitrary_bytes_never_panic(src in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&src)?;
    }

    #[test]
    fn csv_like_text_never_panics_and_writes_land_in_their_cells(src in csvish()) {
        exercise(src.as_bytes())?;
    }

    #[test]
    fn json_like_text_never_panics_and_writes_land_in_their_values(src in jsonish()) {
        exercise(src.as_bytes())?;
    }

    #[test]
    fn structured_csv_never_panics_and_writes_land_in_their_cells(src in structured_csv()) {
        exercise(src.as_bytes())?;
    }

    #[test]
    fn structured_json_never_panics_and_writes_land_in_their_values(src in structured_json()) {
        exercise(src.as_bytes())?;
    }
}

/// `s` as a quoted CSV cell.
fn csv_quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A cell of a CSV catalog column (sku, name, price, quantity, kind, notes): mostly
/// valid, in every spelling the rules allow, with the occasional invalid value.
fn csv_cell(column: usize) -> BoxedStrategy<String> {
    match column {
        0 => prop_oneof![
            "[A-Ca-c]{1,2}",
            "[A-C ,\"\n]{1,4}".prop_map(|s| csv_quoted(&s)),
            Just(" a ".to_owned()),
        ]
        .boxed(),
        1 => prop_oneof![
            "[a-z \"]{0,5}",
            "[a-z,\r\n\" ]{0,5}".prop_map(|s| csv_quoted(&s))
        ]
        .boxed(),
        2 => prop_oneof![
            10 => decimal().prop_map(|d| d.to_string()),
            3 => decimal().prop_map(|d| csv_quoted(&format!(" {d}"))),
            2 => decimal().prop_map(|d| format!("\t{d} ")),
            1 => Just(String::new()),
            1 => Just("12,5".to_owned()),
        ]
        .boxed(),
        3 => prop_oneof![
            10 => stock().prop_map(|q| q.to_string()),
            3 => stock().prop_map(|q| csv_quoted(&format!("{q} "))),
            2 => stock().prop_map(|q| format!(" +{}", q.unsigned_abs() % 1000)),
            1 => Just(String::new()),
            1 => Just("3.5".to_owned()),
        ]
        .boxed(),
        4 => prop_oneof![
            Just(String::new()),
            Just("inventory".to_owned()),
            Just(" Inventory ".to_owned()),
            Just("BASE".to_owned()),
            Just("\"base\"".to_owned()),
        ]
        .boxed(),
        _ => prop_oneof![
            "[a-z]{0,3}",
            "[a-z\r\n\",]{0,4}".prop_map(|s| csv_quoted(&s)),
            "[\u{80}-\u{10ffff}]{0,2}"
        ]
        .boxed(),
    }
}

/// A CSV catalog with shuffled, oddly spelled columns, mixed line ends, blank lines,
/// quoting and padding.
fn structured_csv() -> impl Strategy<Value = String> {
    let header = (
        Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
        any::<[bool; 2]>(),
    );
    header
        .prop_flat_map(|(columns, [bom, final_newline])| {
            let row = columns.iter().map(|&c| csv_cell(c)).collect::<Vec<_>>();
            let line_end = prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n"), Just("\r\n \t\r\n")];
            let rows = proptest::collection::vec((row, line_end), 0..6);
            (Just(columns), Just(bom), Just(final_newline), rows)
        })
        .prop_map(|(columns, bom, final_newline, rows)| {
            let names = ["sku", " Name", "PRICE ", "\"quantity\"", "kind", "notes"];
            let mut out = String::from(if bom { "\u{feff}" } else { "" });
            let header: Vec<&str> = columns.iter().map(|&c| names[c]).collect();
            out.push_str(&header.join(","));
            for (cells, line_end) in rows {
                out.push_str(line_end);
                out.push_str(&cells.join(","));
            }
            if final_newline {
                out.push('\n');
            }
            out
        })
}

/// A JSON value for a catalog key: mostly valid, in every spelling the rules allow.
fn json_value(key: &str) -> BoxedStrategy<String> {
    match key {
        "sku" => prop_oneof![
            "[A-Ca-c]{1,2}".prop_map(|s| format!("{s:?}")),
            Just("\"\\u0041\"".to_owned()),
            Just("7".to_owned())
        ]
        .boxed(),
        "price" => prop_oneof![
            6 => decimal().prop_map(|d| d.to_string()),
            6 => decimal().prop_map(|d| format!("\"{d}\"")),
            1 => Just("\" 1.5\\t\"".to_owned()),
            1 => Just("null".to_owned()),
        ]
        .boxed(),
        "quantity" => prop_oneof![
            6 => stock().prop_map(|q| q.to_string()),
            4 => stock().prop_map(|q| format!("\"{q}\"")),
            1 => Just("-0".to_owned()),
        ]
        .boxed(),
        "name" => prop_oneof![
            "[a-zé \"\\\\\n]{0,5}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
            Just("null".to_owned())
        ]
        .boxed(),
        "kind" => prop_oneof![
            Just("\"base\""),
            Just("\"Inventory\""),
            Just("null"),
            Just("\"\"")
        ]
        .prop_map(str::to_owned)
        .boxed(),
        _ => prop_oneof![
            Just("{\"price\": [1, {\"quantity\": \"2\"}]}".to_owned()),
            "[a-z\"\\\\]{0,4}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
            Just("[]".to_owned()),
        ]
        .boxed(),
    }
}

/// A JSON catalog: objects with shuffled keys, odd whitespace, strings and numbers.
fn structured_json() -> impl Strategy<Value = String> {
    let keys = ["sku", "name", "price", "quantity", "kind", "extra"];
    let object = Just(keys.to_vec())
        .prop_shuffle()
        .prop_flat_map(move |keys| {
            let fields: Vec<_> = keys
                .iter()
                .map(|&k| {
                    (
                        Just(k),
                        proptest::option::weighted(
                            if k == "sku" { 0.99 } else { 0.9 },
                            json_value(k),
                        ),
                        prop_oneof![Just(""), Just(" "), Just("\n\t")],
                    )
                })
                .collect();
            fields
        });
    proptest::collection::vec(object, 0..5).prop_map(|objects| {
        let objects: Vec<String> = objects
            .into_iter()
            .map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .filter_map(|(k, v, space)| v.map(|v| format!("{space}\"{k}\":{space}{v}")))
                    .collect();
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        format!("[{}]", objects.join(",\n "))
    })
}

/// A product of a generated catalog, and the extra column it carries.
#[derive(Debug, Clone)]
struct Product {
    record: Record,
    extra: String,
    /// JSON only: write the price (and quantity) as a string.
    price_as_string: bool,
    quantity_as_string: bool,
}

fn decimal() -> impl Strategy<Value = Decimal> {
    (-1_000_000_000_000i64..1_000_000_000_000, 0u32..5)
        .prop_map(|(m, scale)| Decimal::new(m, scale))
}

fn stock() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -100i64..100_000, 1 => any::<i64>()]
}

fn product() -> impl Strategy<Value = Product> {
    (
        "[ ]?[A-Za-z0-9][A-Za-z0-9 ,\"'é-]{0,10}",
        "[^\r\n]{0,12}",
        prop_oneof![
            4 => Just(ItemKind::Inventory),
            1 => Just(ItemKind::Untracked),
            1 => Just(ItemKind::Base)
        ],
        proptest::option::of(decimal()),
        proptest::option::of(stock()),
        "[^\r\n]{0,8}",
        any::<(bool, bool)>(),
    )
        .prop_map(
            |(sku, name, kind, price, quantity, extra, (price_as_string, quantity_as_string))| {
                // An inventory product always has both values (the file rules demand them).
                let (price, quantity) = match kind {
                    ItemKind::Inventory => (price.or(Some(Decimal::ONE)), quantity.or(Some(0))),
                    // Its quantity is not stock: read as none whatever the cell says.
                    ItemKind::Untracked | ItemKind::NotStocked => {
                        (price.or(Some(Decimal::ONE)), None)
                    }
                    ItemKind::Base => (price, quantity),
                };
                Product {
                    record: Record {
                        id: "".into(),
                        sku: sku.into(),
                        name: name.into(),
                        kind,
                        price,
                        quantity,
                        sale: None,
                    },
                    extra,
                    price_as_string,
                    quantity_as_string,
                }
            },
        )
}

/// A catalog whose SKUs are distinct once normalised.
fn catalog() -> impl Strategy<Value = Vec<Product>> {
    proptest::collection::vec(product(), 0..12).prop_map(|products| {
        let mut seen = HashSet::new();
        products
            .into_iter()
            .filter(|p| SkuKey::new(&p.record.sku).is_some_and(|k| seen.insert(k)))
            .collect()
    })
}

/// How a CSV file is laid out.
#[derive(Debug, Clone)]
struct CsvLayout {
    /// Order of the columns sku, name, price, quantity, kind, extra.
    columns: Vec<usize>,
    quote_all: bool,
    crlf: bool,
    bom: bool,
    trailing_newline: bool,
    upper_case_header: bool,
}

fn csv_layout() -> impl Strategy<Value = CsvLayout> {
    (
        Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
        any::<[bool; 5]>(),
    )
        .prop_map(|(columns, flags)| {
            let [quote_all, crlf, bom, trailing_newline, upper_case_header] = flags;
            CsvLayout {
                columns,
                quote_all,
                crlf,
                bom,
                trailing_newline,
                upper_case_header,
            }
        })
}

/// Writes a catalog with the `csv` crate: an independent writer, so reading what it
/// writes checks the tokenizer against a well-known implementation.
fn to_csv(products: &[Product], layout: &CsvLayout) -> Vec<u8> {
    let mut writer = ::csv::WriterBuilder::new()
        .quote_style(if layout.quote_all {
            ::csv::QuoteStyle::Always
        } else {
            ::csv::QuoteStyle::Necessary
        })
        .terminator(if layout.crlf {
            ::csv::Terminator::CRLF
        } else {
            ::csv::Terminator::Any(b'\n')
        })
        .from_writer(Vec::new());
    let names = ["sku", "name", "price", "quantity", "kind", "Notes"];
    let header: Vec<String> = layout
        .columns
        .iter()
        .map(|&c| {
            if layout.upper_case_header {
                names[c].to_uppercase()
            } else {
                names[c].to_owned()
            }
        })
        .collect();
    writer.write_record(&header).expect("header");
    for product in products {
        let r = &product.record;
        let cells = [
            r.sku.to_string(),
            r.name.to_string(),
            r.price.map(|p| p.to_string()).unwrap_or_default(),
            r.quantity.map(|q| q.to_string()).unwrap_or_default(),
            r.kind.as_str().to_owned(),
            product.extra.clone(),
        ];
        writer
            .write_record(layout.columns.iter().map(|&c| &cells[c]))
            .expect("row");
    }
    let mut bytes = writer.into_inner().expect("flush");
    if !layout.trailing_newline {
        let terminator: &[u8] = if layout.crlf { b"\r\n" } else { b"\n" };
        if let Some(stripped) = bytes.strip_suffix(terminator) {
            bytes.truncate(stripped.len());
        }
    }
    if layout.bom {
        bytes.splice(0..0, text::BOM.iter().copied());
    }
    bytes
}

/// Writes a catalog as JSON, one product per line; prices and quantities as strings or
/// numbers as the product says, missing values as `null` or left out.
fn to_json(products: &[Product]) -> Vec<u8> {
    let lines: Vec<String> = products
        .iter()
        .map(|p| {
            let r = &p.record;
            let json = |s: &str| serde_json::to_string(s).expect("json string");
            let mut fields = vec![
                format!("\"sku\": {}", json(&r.sku)),
                format!("\"notes\": {}", json(&p.extra)),
            ];
            match (r.price, p.price_as_string) {
                (Some(price), true) => fields.push(format!("\"price\": \"{price}\"")),
                (Some(price), false) => fields.push(format!("\"price\": {price}")),
                (None, true) => fields.push("\"price\": null".into()),
                (None, false) => {}
            }
            match (r.quantity, p.quantity_as_string) {
                (Some(q), true) => fields.push(format!("\"quantity\": \"{q}\"")),
                (Some(q), false) => fields.push(format!("\"quantity\": {q}")),
                (None, _) => {}
            }
            fields.push(format!("\"name\": {}", json(&r.name)));
            fields.push(format!("\"kind\": \"{}\"", r.kind.as_str()));
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    format!("[\n{}\n]\n", lines.join(",\n")).into_bytes()
}

/// A write of a generated batch: which product, which field, the new value, and whether
/// to pretend the run read an older value (so the write must be stale).
type WriteSpec = (usize, bool, Decimal, i64, bool);

fn catalog_and_writes() -> impl Strategy<Value = (Vec<Product>, Vec<WriteSpec>)> {
    catalog().prop_flat_map(|products| {
        let n = products.len().max(1);
        let spec = (
            0..n,
            any::<bool>(),
            decimal(),
            stock(),
            prop::bool::weighted(0.2),
        );
        (Just(products), proptest::collection::vec(spec, 0..8))
    })
}

/// Turns specs into writes against a model of the catalog, applying them in order, and
/// returns the writes, the outcomes they must have and the catalog they must leave.
fn model_writes(products: &[Product], specs: &[WriteSpec]) -> (Vec<Write>, Vec<bool>, Vec<Record>) {
    let mut model: Vec<Record> = products.iter().map(|p| p.record.clone()).collect();
    let (mut writes, mut applied) = (Vec::new(), Vec::new());
    for &(index, is_price, new_price, new_quantity, stale) in specs {
        let Some(record) = model.get_mut(index) else {
            continue;
        };
        let field = if is_price {
            Field::Price
        } else {
            Field::Quantity
        };
        if record.kind == ItemKind::Base {
            continue;
        }
        let Some(current) = record.value(field) else {
            continue;
        };
        let new = if is_price {
            FieldValue::Price(new_price)
        } else {
            FieldValue::Quantity(new_quantity)
        };
        let old = if stale { bumped(current) } else { current };
        writes.push(write(&record.sku, old, new));
        applied.push(!stale);
        if !stale {
            record.set(new);
        }
    }
    (writes, applied, model)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::testing::fuzz_cases(300)))]

    #[test]
    fn csv_catalogs_read_back_and_writes_change_only_their_cells(
        (products, specs) in catalog_and_writes(),
        layout in csv_layout(),
    ) {
        let src = to_csv(&products, &layout);
        let fixture = Fixture::new("shop.csv", &src);
        let read = fixture.inner().read_catalog().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let records: Vec<Record> = products.iter().map(|p| p.record.clone()).collect();
        prop_assert_eq!(&read, &records);

        let (writes, applied, model) = model_writes(&products, &specs);
        let outcomes = fixture.inner().write(&writes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_outcomes(&outcomes, &applied)?;
        prop_assert_eq!(fixture.inner().read_catalog().map_err(|e| TestCaseError::fail(e.to_string()))?, model);
        // One product per line after the header: every line of a product that no applied
        // write touched is byte-for-byte what it was.
        check_untouched_lines(&src, &fixture.bytes(), &writes, &applied, &products, 1)?;
    }

    #[test]
    fn json_catalogs_read_back_and_writes_change_only_their_values(
        (products, specs) in catalog_and_writes(),
    ) {
        let src = to_json(&products);
        let fixture = Fixture::new("shop.json", &src);
        let read = fixture.inner().read_catalog().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let records: Vec<Record> = products.iter().map(|p| p.record.clone()).collect();
        prop_assert_eq!(&read, &records);

        let (writes, applied, model) = model_writes(&products, &specs);
        let outcomes = fixture.inner().write(&writes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_outcomes(&outcomes, &applied)?;
        let after = fixture.bytes();
        prop_assert_eq!(fixture.inner().read_catalog().map_err(|e| TestCaseError::fail(e.to_string()))?, model);
        check_untouched_lines(&src, &after, &writes, &applied, &products, 1)?;
        // A string stays a string and a number a number.
        let before: serde_json::Value = serde_json::from_slice(&src).expect("json before");
        let after: serde_json::Value = serde_json::from_slice(&after).expect("json after");
        for (b, a) in before.as_array().into_iter().flatten().zip(after.as_array().into_iter().flatten()) {
            for key in ["price", "quantity"] {
                prop_assert_eq!(b.get(key).map(serde_json::Value::is_string), a.get(key).map(serde_json::Value::is_string));
            }
        }
    }
}

fn check_outcomes(outcomes: &[WriteOutcome], applied: &[bool]) -> Result<(), TestCaseError> {
    prop_assert_eq!(outcomes.len(), applied.len());
    for (outcome, &applied) in outcomes.iter().zip(applied) {
        if applied {
            prop_assert_eq!(outcome, &WriteOutcome::Applied);
        } else {
            prop_assert!(matches!(outcome, WriteOutcome::Stale(_)), "{:?}", outcome);
        }
    }
    Ok(())
}

/// Compares the files line by line: product `i` is on line `first + i` (0-based), and
/// only the lines of products with an applied write may differ.
fn check_untouched_lines(
    before: &[u8],
    after: &[u8],
    writes: &[Write],
    applied: &[bool],
    products: &[Product],
    first: usize,
) -> Result<(), TestCaseError> {
    let touched: HashSet<SkuKey> = writes
        .iter()
        .zip(applied)
        .filter(|(_, a)| **a)
        .filter_map(|(w, _)| SkuKey::new(&w.sku))
        .collect();
    let before: Vec<&[u8]> = before.split(|&b| b == b'\n').collect();
    let after: Vec<&[u8]> = after.split(|&b| b == b'\n').collect();
    prop_assert_eq!(before.len(), after.len());
    for (line, (b, a)) in before.iter().zip(&after).enumerate() {
        let product = line.checked_sub(first).and_then(|i| products.get(i));
        let may_change = product
            .is_some_and(|p| SkuKey::new(&p.record.sku).is_some_and(|k| touched.contains(&k)));
        if !may_change {
            prop_assert_eq!(
                String::from_utf8_lossy(b),
                String::from_utf8_lossy(a),
                "line {}",
                line + 1
            );
        }
    }
    Ok(())
}

/// Guards the fuzz tests above against strategies that drift into producing only
/// malformed files, which would leave the write path untested.
#[test]
fn structured_strategies_reach_the_write_path() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for (format, strategy) in [
        (Format::Csv, structured_csv().boxed()),
        (Format::Json, structured_json().boxed()),
    ] {
        let mut with_edits = 0;
        for _ in 0..200 {
            let src = strategy.new_tree(&mut runner).expect("value").current();
            let Ok(records) = parse_catalog(src.as_bytes(), format) else {
                continue;
            };
            let writes: Vec<Write> = records
                .iter()
                .filter_map(|r| {
                    r.quantity.map(|q| {
                        write(
                            &r.sku,
                            FieldValue::Quantity(q),
                            bumped(FieldValue::Quantity(q)),
                        )
                    })
                })
                .collect();
            if apply::plan(src.as_bytes(), format, &writes).is_ok_and(|c| !c.edits.is_empty()) {
                with_edits += 1;
            }
        }
        assert!(
            with_edits > 30,
            "{format:?}: only {with_edits} of 200 generated files had edits"
        );
    }
}
