//! CSV catalogs: a strict RFC 4180 tokenizer that reports the byte span of every cell.
//!
//! Why not the `csv` crate for reading: a write must replace exactly the bytes a value was
//! read from, so the spans have to come from the same parse that produced the values
//! (two parsers that disagree about a quote would make a write corrupt a neighbouring
//! cell), and the `csv` crate neither exposes cell spans nor rejects broken quoting (it
//! reads `"ab"cd` as `abcd` and lets an unclosed quote swallow the rest of the file).
//! The tests use the `csv` crate's writer as an independent oracle.
//!
//! Accepted: `,` separators; `\n` or `\r\n` line ends, mixed freely; quoted cells with
//! `""` for a quote and line breaks inside; a literal `"` inside an unquoted cell (as
//! spreadsheets and Python read it, e.g. `12" pizza`); a UTF-8 byte order mark; blank
//! lines (empty or only spaces and tabs), which are skipped. Refused: a quoted cell that
//! is never closed, text after a closing quote, rows with a different number of cells
//! than the header.

use super::row::{ProductRow, RawProduct, Scalar, ValueSpan};
use super::text::{BOM, ParseError};
use memchr::{memchr, memchr2};
use std::borrow::Cow;

/// One cell: its raw bytes in the file, quotes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cell {
    pub start: usize,
    pub end: usize,
    pub quoted: bool,
}

impl Cell {
    /// The span between the quotes of a quoted cell, or the whole cell.
    fn content(self) -> (usize, usize) {
        if self.quoted {
            (self.start + 1, self.end - 1)
        } else {
            (self.start, self.end)
        }
    }
}

/// Walks a CSV file row by row.
pub(super) struct Tokenizer<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Tokenizer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        let pos = if src.starts_with(BOM) { BOM.len() } else { 0 };
        Tokenizer { src, pos }
    }

    /// Reads the next non-blank row into `cells` (reused, so reading a large file does
    /// not allocate per row) and returns the offset where the row starts, or `None` at
    /// the end of the file.
    pub fn next_row(&mut self, cells: &mut Vec<Cell>) -> Result<Option<usize>, ParseError> {
        cells.clear();
        let src = self.src;
        let len = src.len();
        // Skip blank lines.
        loop {
            let mut i = self.pos;
            while i < len && matches!(src[i], b' ' | b'\t') {
                i += 1;
            }
            match src.get(i) {
                None => {
                    self.pos = len;
                    return Ok(None);
                }
                Some(b'\n') => self.pos = i + 1,
                Some(b'\r') if matches!(src.get(i + 1), None | Some(b'\n')) => {
                    self.pos = (i + 2).min(len)
                }
                Some(_) => break,
            }
        }
        let row_start = self.pos;
        let mut pos = row_start;
        loop {
            let cell_start = pos;
            if src.get(pos) == Some(&b'"') {
                pos = closing_quote(src, cell_start)? + 1;
                cells.push(Cell {
                    start: cell_start,
                    end: pos,
                    quoted: true,
                });
                match src.get(pos) {
                    Some(b',') => pos += 1,
                    None => return Ok(Some(self.end_row(len, row_start))),
                    Some(b'\n') => return Ok(Some(self.end_row(pos + 1, row_start))),
                    Some(b'\r') if matches!(src.get(pos + 1), None | Some(b'\n')) => {
                        return Ok(Some(self.end_row((pos + 2).min(len), row_start)));
                    }
                    Some(_) => {
                        return Err(ParseError::new(
                            pos,
                            "text after the closing quote of a quoted cell (write a quote inside \
                             a quoted cell as \"\")",
                        ));
                    }
                }
            } else {
                match memchr2(b',', b'\n', &src[pos..]) {
                    Some(k) if src[pos + k] == b',' => {
                        cells.push(Cell {
                            start: cell_start,
                            end: pos + k,
                            quoted: false,
                        });
                        pos += k + 1;
                    }
                    Some(k) => {
                        let newline = pos + k;
                        cells.push(Cell {
                            start: cell_start,
                            end: strip_cr(src, cell_start, newline),
                            quoted: false,
                        });
                        return Ok(Some(self.end_row(newline + 1, row_start)));
                    }
                    None => {
                        cells.push(Cell {
                            start: cell_start,
                            end: strip_cr(src, cell_start, len),
                            quoted: false,
                        });
                        return Ok(Some(self.end_row(len, row_start)));
                    }
                }
            }
        }
    }

    fn end_row(&mut self, next: usize, row_start: usize) -> usize {
        self.pos = next;
        row_start
    }
}

/// The offset of the quote that closes the quoted cell starting at `open`.
fn closing_quote(src: &[u8], open: usize) -> Result<usize, ParseError> {
    let mut i = open + 1;
    loop {
        let Some(k) = memchr(b'"', &src[i..]) else {
            return Err(ParseError::new(
                open,
                "a quoted cell is never closed (a \" is missing)",
            ));
        };
        let quote = i + k;
        if src.get(quote + 1) == Some(&b'"') {
            i = quote + 2; // `""` is an escaped quote.
        } else {
            return Ok(quote);
        }
    }
}

/// The end of an unquoted cell that runs up to `end`, without the `\r` of a `\r\n`.
fn strip_cr(src: &[u8], start: usize, end: usize) -> usize {
    if end > start && src[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// The value of a cell: unquoted, with `""` turned back into `"`.
pub(super) fn cell_bytes(src: &[u8], cell: Cell) -> Cow<'_, [u8]> {
    let (start, end) = cell.content();
    let raw = &src[start..end];
    if !cell.quoted || memchr(b'"', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut value = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(k) = memchr(b'"', rest) {
        // Inside a well-formed quoted cell every quote is doubled: keep one of the two.
        value.extend_from_slice(&rest[..=k]);
        rest = rest.get(k + 2..).unwrap_or_default();
    }
    value.extend_from_slice(rest);
    Cow::Owned(value)
}

/// A CSV file's bytes and, when the whole file is UTF-8 (the usual case), the same bytes
/// as text: a cell's text is then a slice of it, with no per-cell validation. Product
/// columns must be UTF-8; other columns are copied as bytes and may be in any encoding.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Source<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Source {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
        }
    }

    /// The value of a cell as text.
    pub fn cell_str(self, cell: Cell, column: &str) -> Result<Cow<'a, str>, ParseError> {
        match cell_bytes(self.bytes, cell) {
            Cow::Borrowed(bytes) => {
                let (start, end) = cell.content();
                // Cells start and end at ASCII bytes, so at character boundaries; `get`
                // checks that, and the validating path below covers everything else.
                match self.text.and_then(|text| text.get(start..end)) {
                    Some(text) => Ok(Cow::Borrowed(text)),
                    None => std::str::from_utf8(bytes)
                        .map(Cow::Borrowed)
                        .map_err(|_| not_utf8(cell, column)),
                }
            }
            Cow::Owned(bytes) => String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|_| not_utf8(cell, column)),
        }
    }
}

fn not_utf8(cell: Cell, column: &str) -> ParseError {
    ParseError::new(
        cell.start,
        format!("{column} is not valid UTF-8 text (save the file as UTF-8)"),
    )
}

/// The header row: which cell holds each of `names` (matched case-insensitively after
/// trimming). Other columns are allowed and left alone.
pub(super) fn resolve_header<const N: usize>(
    src: &[u8],
    tokens: &mut Tokenizer<'_>,
    cells: &mut Vec<Cell>,
    names: [&str; N],
    required: [bool; N],
) -> Result<(usize, [Option<usize>; N]), ParseError> {
    let Some(row_start) = tokens.next_row(cells)? else {
        return Err(ParseError::new(
            src.len(),
            format!(
                "the file is empty; expected a header row naming the columns {}",
                names.join(",")
            ),
        ));
    };
    let mut index = [None; N];
    for (at, &cell) in cells.iter().enumerate() {
        let value = cell_bytes(src, cell);
        let value = value.trim_ascii();
        let Some(which) = names
            .iter()
            .position(|name| value.eq_ignore_ascii_case(name.as_bytes()))
        else {
            continue;
        };
        if let Some(first) = index[which] {
            return Err(ParseError::new(
                cell.start,
                format!(
                    "duplicate column {:?} (also column {})",
                    names[which],
                    first + 1
                ),
            ));
        }
        index[which] = Some(at);
    }
    if let Some(missing) = (0..N).find(|&i| required[i] && index[i].is_none()) {
        let must: Vec<&str> = (0..N).filter(|&i| required[i]).map(|i| names[i]).collect();
        return Err(ParseError::new(
            row_start,
            format!(
                "the header has no {:?} column (a header row must name at least {})",
                names[missing],
                must.join(", ")
            ),
        ));
    }
    Ok((cells.len(), index))
}

/// Checks that a data row has as many cells as the header.
pub(super) fn check_width(src: &[u8], cells: &[Cell], width: usize) -> Result<(), ParseError> {
    if cells.len() == width {
        return Ok(());
    }
    // Point at the first surplus cell, or just past the last cell of a short row.
    let offset = match cells.get(width) {
        Some(surplus) => surplus.start,
        None => cells.last().map_or(src.len(), |c| c.end),
    };
    Err(ParseError::new(
        offset,
        format!(
            "this row has {} cells but the header has {width}",
            cells.len()
        ),
    ))
}

/// Calls `visit` with every product of a CSV catalog, in file order. Stops at the first
/// malformed row: a malformed file is an error as a whole (never half a catalog).
pub(super) fn for_each_product<'a>(
    src: &'a [u8],
    mut visit: impl FnMut(ProductRow<'a>) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let source = Source::new(src);
    let mut tokens = Tokenizer::new(src);
    let mut cells = Vec::new();
    let (width, columns) = resolve_header(
        src,
        &mut tokens,
        &mut cells,
        ["sku", "name", "price", "quantity", "kind"],
        [true, false, true, true, false],
    )?;
    let [sku, name, price, quantity, kind] = columns;
    // resolve_header has checked that the required columns are there; the default only
    // keeps this free of `unwrap`. Every index is below `width`, the length of every row.
    let required = |c: Option<usize>| c.unwrap_or_default();
    while let Some(row_start) = tokens.next_row(&mut cells)? {
        check_width(src, &cells, width)?;
        let scalar = |at: usize, column: &str| -> Result<Scalar<'a>, ParseError> {
            let cell = cells[at];
            let text = source.cell_str(cell, column)?;
            let (start, end) = cell.content();
            // The span is the trimmed text, so padding around a number survives a write.
            let lead = src[start..end].len() - src[start..end].trim_ascii_start().len();
            let trail = src[start..end].len() - src[start..end].trim_ascii_end().len();
            let end = (end - trail).max(start + lead);
            Ok(Scalar {
                text,
                offset: cell.start,
                span: ValueSpan {
                    start: start + lead,
                    end,
                    json_string: false,
                },
            })
        };
        let product = RawProduct {
            offset: row_start,
            sku: source.cell_str(cells[required(sku)], "sku")?,
            name: match name {
                Some(at) => source.cell_str(cells[at], "name")?,
                None => Cow::Borrowed(""),
            },
            kind: match kind {
                Some(at) => Some((source.cell_str(cells[at], "kind")?, cells[at].start)),
                None => None,
            },
            price: Some(scalar(required(price), "price")?),
            quantity: Some(scalar(required(quantity), "quantity")?),
        };
        visit(product.check()?)?;
    }
    Ok(())
}
