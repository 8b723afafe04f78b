//! Deciding what a batch of writes does to the current file, and producing the new bytes.
//!
//! Every write is checked against the file as it is now, not as it was when the run read
//! it: a value that changed in between (a sale, a merchant's edit) is `Stale` and is never
//! overwritten; a SKU that is gone or now appears twice fails (product.md rule 2: a
//! duplicated SKU is a conflict and is never synced).

use super::Format;
use super::row::{ProductRow, ValueSpan};
use super::text::{LineCounter, ParseError, Quoted};
use crate::{Write, WriteOutcome};
use invsync_core::{Field, FieldValue, ItemKind, SkuKey};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::io;

/// One value to replace: the bytes `start..end` become `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// The outcome of every write, and the edits of those that apply, sorted by position.
#[derive(Debug)]
pub(super) struct Changes {
    pub outcomes: Vec<WriteOutcome>,
    pub edits: Vec<Edit>,
}

/// A row whose SKU one of the writes names, with the values the batch has set so far.
#[derive(Debug)]
struct Candidate {
    line: usize,
    kind: ItemKind,
    price: Option<(Decimal, ValueSpan)>,
    quantity: Option<(i64, ValueSpan)>,
    new_price: Option<Decimal>,
    new_quantity: Option<i64>,
}

impl Candidate {
    fn from_row(row: &ProductRow<'_>, line: usize) -> Self {
        Candidate {
            line,
            kind: row.kind,
            price: row.price,
            quantity: row.quantity,
            new_price: None,
            new_quantity: None,
        }
    }

    /// The value now, counting earlier writes of this batch.
    fn current(&self, field: Field) -> Option<FieldValue> {
        match field {
            Field::Price => self
                .new_price
                .or(self.price.map(|(p, _)| p))
                .map(FieldValue::Price),
            Field::Quantity => self
                .new_quantity
                .or(self.quantity.map(|(q, _)| q))
                .map(FieldValue::Quantity),
        }
    }
}

/// Parses the current file and checks each write against it.
pub(super) fn plan(src: &[u8], format: Format, writes: &[Write]) -> Result<Changes, ParseError> {
    // Keyed by the SKU's matching key (`SkuKey`, product.md rule 2) as a string, so a
    // row's key can be looked up from a stack buffer without building a `SkuKey`.
    let mut rows: HashMap<String, Vec<Candidate>> = writes
        .iter()
        .filter_map(|w| SkuKey::new(&w.sku))
        .map(|key| (key.as_str().to_owned(), Vec::new()))
        .collect();
    let mut lines = LineCounter::default();
    format.for_each_product(src, |row| {
        // Only the rows the batch names are kept, so a large file costs no memory here.
        if let Some(candidates) = with_key(&row.sku, |key| rows.get_mut(key)) {
            candidates.push(Candidate::from_row(&row, lines.line_at(src, row.offset)));
        }
        Ok(())
    })?;

    let outcomes = writes.iter().map(|write| check(write, &mut rows)).collect();

    let mut edits = Vec::new();
    for candidate in rows.values().filter(|c| c.len() == 1).flatten() {
        if let (Some(new), Some((_, span))) = (candidate.new_price, candidate.price) {
            edits.push(Edit {
                start: span.start,
                end: span.end,
                text: span.render(FieldValue::Price(new)),
            });
        }
        if let (Some(new), Some((_, span))) = (candidate.new_quantity, candidate.quantity) {
            edits.push(Edit {
                start: span.start,
                end: span.end,
                text: span.render(FieldValue::Quantity(new)),
            });
        }
    }
    edits.sort_by_key(|e| e.start);
    Ok(Changes { outcomes, edits })
}

/// Calls `f` with the matching key of `sku`, the same string as `SkuKey::new(sku)`.
/// Most SKUs are short and ASCII: their key (trimmed, ASCII-lower-cased) is built in a
/// stack buffer, because a large file has a million of them and most match nothing.
fn with_key<T>(sku: &str, f: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    let trimmed = sku.trim();
    let mut buffer = [0u8; 64];
    if trimmed.is_ascii() && trimmed.len() <= buffer.len() {
        let key = &mut buffer[..trimmed.len()];
        key.copy_from_slice(trimmed.as_bytes());
        key.make_ascii_lowercase();
        // ASCII is UTF-8; the fallback only keeps this free of `unwrap`.
        return match std::str::from_utf8(key) {
            Ok(key) if !key.is_empty() => f(key),
            _ => None,
        };
    }
    SkuKey::new(trimmed).and_then(|key| f(key.as_str()))
}

fn check(write: &Write, rows: &mut HashMap<String, Vec<Candidate>>) -> WriteOutcome {
    let sku = Quoted(&write.sku);
    let field = write.field;
    if write.old.field() != field || write.new.field() != field {
        return WriteOutcome::Failed(format!(
            "invalid write for {sku}: the {field} field carries a {} and a {} value",
            write.old.field(),
            write.new.field()
        ));
    }
    let Some(candidates) = with_key(&write.sku, |key| rows.get_mut(key)) else {
        return WriteOutcome::Failed(format!(
            "SKU {sku} is empty; a file connection finds products by SKU"
        ));
    };
    let candidate = match candidates.as_mut_slice() {
        [] => {
            return WriteOutcome::Failed(format!(
                "SKU {sku} is no longer in the file; not written"
            ));
        }
        [one] => one,
        many => {
            let lines: Vec<String> = many.iter().map(|c| c.line.to_string()).collect();
            return WriteOutcome::Failed(format!(
                "SKU {sku} now appears {} times in the file (lines {}); a duplicated SKU is a \
                 conflict and is never synced",
                many.len(),
                lines.join(", ")
            ));
        }
    };
    if candidate.kind == ItemKind::Base {
        return WriteOutcome::Stale(format!(
            "{sku} is now a base product (display-only, never synced); not overwritten"
        ));
    }
    if candidate.kind == ItemKind::Untracked && field == Field::Quantity {
        return WriteOutcome::Stale(format!(
            "the stock of {sku} is now not tracked (kind untracked); not overwritten"
        ));
    }
    if write.sale.is_some() {
        return WriteOutcome::Failed(format!("{sku}: a file has no sale prices; nothing written"));
    }
    let current = candidate.current(field);
    if current != Some(write.old) {
        let now = current.map_or_else(|| "empty".to_owned(), |v| v.to_string());
        return WriteOutcome::Stale(format!(
            "{field} of {sku} changed since it was read (now {now}); not overwritten"
        ));
    }
    match write.new {
        FieldValue::Price(p) => candidate.new_price = Some(p),
        FieldValue::Quantity(q) => candidate.new_quantity = Some(q),
    }
    WriteOutcome::Applied
}

/// Writes `src` with `edits` applied: the bytes between edits are copied in bulk, so a
/// large file with a few changes costs little more than a copy.
pub(super) fn splice(src: &[u8], edits: &[Edit], out: &mut impl io::Write) -> io::Result<()> {
    let mut at = 0;
    for edit in edits {
        // Edits are distinct cells of distinct rows, sorted; anything else is a bug, and
        // writing would corrupt the file, so refuse (the original stays as it is).
        if edit.start < at || edit.end < edit.start || edit.end > src.len() {
            return Err(io::Error::other(
                "internal error: overlapping edits; nothing written",
            ));
        }
        out.write_all(&src[at..edit.start])?;
        out.write_all(edit.text.as_bytes())?;
        at = edit.end;
    }
    out.write_all(&src[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_those_of_sku_key() {
        let long = format!(" {}É ", "Ab".repeat(40));
        for sku in [
            "MUG-1",
            " mug-1\t",
            "",
            "  ",
            "ÄPFEL-1",
            "K",
            "\u{212a}",
            "a b",
            long.as_str(),
        ] {
            let ours = with_key(sku, |key| Some(key.to_owned()));
            assert_eq!(
                ours.as_deref(),
                SkuKey::new(sku).as_ref().map(SkuKey::as_str),
                "{sku:?}"
            );
        }
    }
}
