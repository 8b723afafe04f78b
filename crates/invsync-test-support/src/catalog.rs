//! Generated catalogs for tests and benchmarks: an accounting side and a store with a
//! chosen share of differences, deterministic for a seed.

use compact_str::{CompactString, format_compact};
use invsync_core::{ItemKind, Record};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use std::io::Write;
use std::path::Path;

/// How a generated pair of catalogs looks.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Products on each side.
    pub products: usize,
    /// Share of store listings whose price differs (0.0..=1.0).
    pub price_diff: f64,
    /// Share of store listings whose quantity differs.
    pub quantity_diff: f64,
    /// Share of products that are `base` (display-only).
    pub base: f64,
    pub seed: u64,
}

impl Shape {
    pub fn new(products: usize) -> Shape {
        Shape {
            products,
            price_diff: 0.01,
            quantity_diff: 0.1,
            base: 0.01,
            seed: 42,
        }
    }
}

/// `(accounting, store)`: same SKUs in the same order; store SKUs in a different case so
/// normalisation is exercised.
pub fn generate(shape: Shape) -> (Vec<Record>, Vec<Record>) {
    let mut rng = StdRng::seed_from_u64(shape.seed);
    let mut accounting = Vec::with_capacity(shape.products);
    let mut store = Vec::with_capacity(shape.products);
    for i in 0..shape.products {
        let kind = if rng.random_bool(shape.base) {
            ItemKind::Base
        } else {
            ItemKind::Inventory
        };
        let cents: i64 = rng.random_range(100..100_000);
        let price = Decimal::new(cents, 2);
        let quantity: i64 = rng.random_range(0..500);
        let sku = format_compact!("SKU-{i:08}");
        let name = format_compact!("Product {i}");
        accounting.push(Record {
            id: CompactString::default(),
            sku: sku.clone(),
            name: name.clone(),
            kind,
            price: Some(price),
            quantity: Some(quantity),
            sale: None,
        });
        let store_price = if rng.random_bool(shape.price_diff) {
            price + Decimal::new(100, 2)
        } else {
            price
        };
        let store_quantity = if rng.random_bool(shape.quantity_diff) {
            quantity + 1
        } else {
            quantity
        };
        store.push(Record {
            id: CompactString::default(),
            sku: sku.to_lowercase(),
            name,
            kind,
            price: Some(store_price),
            quantity: Some(store_quantity),
            sale: None,
        });
    }
    (accounting, store)
}

/// Writes records as a file connection's CSV (`sku,name,price,quantity,kind`).
pub fn write_csv(path: &Path, records: &[Record]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "sku,name,price,quantity,kind")?;
    for r in records {
        let price = r.price.map(|p| p.to_string()).unwrap_or_default();
        let quantity = r.quantity.map(|q| q.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{},{},{},{},{}",
            r.sku,
            r.name,
            price,
            quantity,
            r.kind.as_str()
        )?;
    }
    out.flush()
}
