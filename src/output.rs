//! Printing tables and JSON to stdout.
//!
//! Tables are plain aligned columns (like `ps` or `kubectl get`), which read well in a
//! terminal, paste well into tickets and stay fast for a million-row dry run. A closed
//! pipe (`invsync runs | head`) ends output quietly instead of panicking.
//!
//! Human output carries text invsync does not control: product names and SKUs, errors
//! from platforms, file paths. A terminal would act on control characters in them (colours,
//! clearing the screen, an OSC sequence setting the window title or worse), so every table
//! cell and every line for people goes through [`printable`]: C0 controls, DEL and C1
//! controls become `\u{1b}`-style escapes. JSON stays exact (serde escapes what JSON must).

use crate::CliError;
use serde::Serialize;
use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

/// `text` as it is safe to show on a terminal: every control character (C0, DEL, C1)
/// written as `\u{XX}`; line breaks too unless `keep_newlines` (a table cell must stay on
/// its line, a multi-line message may not).
pub fn printable(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let escape = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !text.chars().any(escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A table being built.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        let cells = cells
            .into_iter()
            .map(|cell| match printable(&cell, false) {
                Cow::Borrowed(_) => cell,
                Cow::Owned(escaped) => escaped,
            })
            .collect();
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The table, or the line `empty` when it has no rows.
    pub fn write_or(&self, out: &mut dyn Write, empty: &str) -> io::Result<()> {
        if self.is_empty() {
            writeln!(out, "{empty}")
        } else {
            self.write_to(out)
        }
    }

    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut line = String::new();
        let mut emit =
            |cells: &mut dyn Iterator<Item = &str>, out: &mut dyn Write| -> io::Result<()> {
                line.clear();
                for (i, cell) in cells.enumerate().take(columns) {
                    if i + 1 == columns {
                        line.push_str(cell);
                    } else {
                        line.push_str(cell);
                        let pad = widths[i].saturating_sub(cell.chars().count()) + 2;
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                writeln!(out, "{}", line.trim_end())
            };
        emit(&mut self.headers.iter().copied(), out)?;
        for row in &self.rows {
            emit(&mut row.iter().map(String::as_str), out)?;
        }
        Ok(())
    }
}

/// Runs `f` with a buffered stdout for people: control characters in what it writes are
/// escaped (line breaks aside); a closed pipe is not an error.
pub fn stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), CliError> {
    raw_stdout(|out| {
        let mut out = Printable::new(out);
        f(&mut out)?;
        out.flush()
    })
}

/// Runs `f` with a buffered stdout, bytes as they are (JSON); a closed pipe is not an
/// error.
fn raw_stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::other(
            anyhow::Error::new(e).context("cannot write the output"),
        )),
    }
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    raw_stdout(|out| {
        serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
        writeln!(out)
    })
}

/// A line of plain text on stdout (a command's result, for people).
pub fn line(text: &str) -> Result<(), CliError> {
    stdout(|out| writeln!(out, "{text}"))
}

/// What a command did, in the format asked for: `value` as JSON, or `text` as a line.
pub fn done(
    format: crate::cli::Format,
    value: &serde_json::Value,
    text: impl FnOnce() -> String,
) -> Result<(), CliError> {
    match format {
        crate::cli::Format::Json => json(value),
        crate::cli::Format::Table => line(&text()),
    }
}

/// `error: …` on stderr, control characters escaped.
pub fn error_line(message: &str) {
    eprintln!("error: {}", printable(message, true));
}

/// A writer that escapes control characters on their way through, as [`printable`] does
/// with `keep_newlines`, whatever the pieces it is given: a C1 control is two bytes in
/// UTF-8 (`C2 80`–`C2 9F`), which may arrive in two writes.
struct Printable<W: Write> {
    inner: W,
    /// A `C2` lead byte waiting for the byte that says whether it starts a C1 control.
    lead: bool,
}

impl<W: Write> Printable<W> {
    fn new(inner: W) -> Self {
        Printable { inner, lead: false }
    }

    fn escape(&mut self, code: u8) -> io::Result<()> {
        write!(self.inner, "\\u{{{code:x}}}")
    }
}

impl<W: Write> Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut start = 0;
        for (i, &b) in buf.iter().enumerate() {
            if self.lead {
                self.lead = false;
                if (0x80..=0x9f).contains(&b) {
                    // U+0080–U+009F: the code point is the second byte.
                    self.escape(b)?;
                    start = i + 1;
                    continue;
                }
                self.inner.write_all(&[0xc2])?;
            }
            match b {
                b'\n' => {}
                0x00..=0x1f | 0x7f => {
                    self.inner.write_all(&buf[start..i])?;
                    self.escape(b)?;
                    start = i + 1;
                }
                0xc2 => {
                    self.inner.write_all(&buf[start..i])?;
                    self.lead = true;
                    start = i + 1;
                }
                _ => {}
            }
        }
        self.inner.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.lead) {
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
}

/// `12.50`, `-` for none.
/// A store's price as shoppers see it: `3.35 (sale, regular 3.60)` while a sale runs.
pub fn store_price(
    regular: Option<rust_decimal::Decimal>,
    sale: Option<invsync_core::Sale>,
) -> String {
    match sale {
        Some(sale) => format!("{} (sale, regular {})", sale.price, opt(regular)),
        None => opt(regular),
    }
}

pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A timestamp for tables: local-independent, second precision.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::{Printable, Table, printable};
    use std::io::Write as _;

    const NASTY: &str = "a\u{1b}[31mb\u{1b}]0;title\u{7}c\u{9b}2Jd\u{7f}e\tf\r\ng é\u{a0}ü";
    const SAFE: &str = r"a\u{1b}[31mb\u{1b}]0;title\u{7}c\u{9b}2Jd\u{7f}e\u{9}f\u{d}";

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable(NASTY, true), format!("{SAFE}\ng é\u{a0}ü"));
        assert_eq!(printable(NASTY, false), format!("{SAFE}\\u{{a}}g é\u{a0}ü"));
        assert!(matches!(
            printable("Mug, large — 12.50 €", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// An empty table prints the line that says so, not a lone header.
    #[test]
    fn an_empty_table_prints_its_empty_line_and_rows_print_aligned() {
        let mut table = Table::new(&["ID", "STORE"]);
        let mut out = Vec::new();
        table
            .write_or(&mut out, "no runs recorded yet")
            .expect("write");
        assert_eq!(String::from_utf8_lossy(&out), "no runs recorded yet\n");
        table.row(vec!["1".into(), "shop".into()]);
        let mut out = Vec::new();
        table
            .write_or(&mut out, "no runs recorded yet")
            .expect("write");
        assert_eq!(String::from_utf8_lossy(&out), "ID  STORE\n1   shop\n");
    }

    /// The writer escapes like `printable(_, true)`, however the bytes are split.
    #[test]
    fn the_writer_escapes_across_any_split() {
        let bytes = NASTY.as_bytes();
        for split in 0..=bytes.len() {
            let mut out = Printable::new(Vec::new());
            out.write_all(&bytes[..split]).expect("write");
            out.write_all(&bytes[split..]).expect("write");
            out.flush().expect("flush");
            assert_eq!(
                String::from_utf8(out.inner).expect("utf-8"),
                printable(NASTY, true),
                "split at {split}"
            );
        }
    }
}
