//! Printing tables and JSON to stdout.
//!
//! Tables are plain aligned columns (like `ps` or `kubectl get`), which read well in a
//! terminal, paste well into tickets and stay fast for a million-row dry run. A closed
//! pipe (`invsync runs | head`) ends output quietly instead of panicking.

use crate::CliError;
use serde::Serialize;
use std::io::{self, BufWriter, Write};

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
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
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

/// Runs `f` with a buffered stdout; a closed pipe is not an error.
pub fn stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), CliError> {
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
    stdout(|out| {
        serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
        writeln!(out)
    })
}

/// A line of plain text on stdout (a command's result, for people).
pub fn line(text: &str) -> Result<(), CliError> {
    stdout(|out| writeln!(out, "{text}"))
}

/// `error: …` on stderr.
pub fn error_line(message: &str) {
    eprintln!("error: {message}");
}

/// `12.50`, `-` for none.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A timestamp for tables: local-independent, second precision.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}
