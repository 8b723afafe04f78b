//! File connections (`kind = "file"`, either side): a catalog in a CSV or JSON file and,
//! for a store, its open orders in another file (product.md, "File connections").
//!
//! Reading parses the whole file; a malformed file is an error for the whole file
//! (`InvalidData`, with `path:line:column: what is wrong`), never half a catalog.
//! Writing is a locked read-check-rewrite (see [`FileConnection::write`]): only the cells
//! invsync updates change, every other byte is kept, and the file is replaced atomically.
//!
//! Module map: `csv` and `json` parse the two formats into `row::ProductRow`s that carry
//! the byte spans of their values; `apply` checks writes against the current file and
//! splices new values into those spans; `atomic` locks and replaces the file; `orders`
//! reads orders files; `text` holds positions and value rules shared by both formats.

mod apply;
mod atomic;
mod csv;
mod json;
mod orders;
mod row;
mod text;

#[cfg(test)]
mod tests;

use crate::{Catalog, Connection, ConnectorError, ErrorKind, Write, WriteOutcome};
use async_trait::async_trait;
use compact_str::CompactString;
use invsync_config::FileConnectionConfig;
use invsync_config::input_file::{InputFileError, check_regular, read_regular};
use invsync_core::{ItemKind, OrderLine, Record};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use text::ParseError;

/// A connection backed by files. Products are addressed by SKU: records have an empty id.
#[derive(Debug, Clone)]
pub struct FileConnection {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    config: FileConnectionConfig,
}

/// The two file formats, chosen by extension: `.json` is JSON, anything else CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

impl Format {
    fn of(path: &Path) -> Format {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Csv,
        }
    }

    /// Calls `visit` with every product of a catalog, in file order.
    fn for_each_product<'a>(
        self,
        src: &'a [u8],
        visit: impl FnMut(row::ProductRow<'a>) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        match self {
            Format::Csv => csv::for_each_product(src, visit),
            Format::Json => json::for_each_product(src, visit),
        }
    }
}

impl FileConnection {
    /// `name` is `accounting` or the store's name; the paths in `config` are absolute
    /// (the config loader resolves them against the config file).
    pub fn new(name: &str, config: FileConnectionConfig) -> FileConnection {
        FileConnection {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                config,
            }),
        }
    }

    /// Runs blocking file work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, ConnectorError> + Send + 'static,
    ) -> Result<T, ConnectorError> {
        let inner = Arc::clone(&self.inner);
        // The caller's span (the engine's `run`) goes along: its logs say which run.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| work(&inner)))
            .await
            .map_err(|e| {
                ConnectorError::new(
                    &self.inner.name,
                    ErrorKind::Other,
                    format!("the file task failed: {e}"),
                )
            })?
    }
}

impl FileConnection {
    /// The orders file's lines: the store's open orders not yet posted to the accounting
    /// side. `Ok(None)` without an orders file.
    pub async fn read_open_orders(&self) -> Result<Option<Vec<OrderLine>>, ConnectorError> {
        if self.inner.config.orders.is_none() {
            return Ok(None);
        }
        self.blocking(|inner| inner.read_orders().map(Some)).await
    }
}

#[async_trait]
impl Connection for FileConnection {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        self.blocking(|inner| {
            Ok(Catalog {
                records: inner.read_catalog()?,
                rejects: Vec::new(),
            })
        })
        .await
    }

    /// A local file: reading it again costs no platform call (bounded by the size limit).
    fn cheap_to_watch(&self) -> bool {
        true
    }

    /// Always a snapshot: the orders file lists exactly the unposted orders (product.md,
    /// "File connections"), so an order that left it was posted.
    async fn read_orders(
        &self,
        _cursor: Option<&str>,
    ) -> Result<Option<crate::OrderFeed>, ConnectorError> {
        Ok(self
            .read_open_orders()
            .await?
            .map(|lines| crate::OrderFeed {
                orders: invsync_core::StoreOrder::group(lines),
                snapshot: Some(crate::Absent::Posted),
                cursor: None,
            }))
    }

    /// Reads the file again and returns the current rows of these SKUs (a file has no
    /// cheaper way to read a few rows). SKUs that are gone or now duplicated are left out.
    async fn read_records(
        &self,
        records: &[crate::RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        let wanted: std::collections::HashSet<invsync_core::SkuKey> = records
            .iter()
            .filter_map(|r| invsync_core::SkuKey::new(&r.sku))
            .collect();
        let all = self.blocking(|inner| inner.read_catalog()).await?;
        let mut seen: std::collections::HashMap<invsync_core::SkuKey, usize> =
            std::collections::HashMap::new();
        for r in &all {
            if let Some(k) = invsync_core::SkuKey::new(&r.sku) {
                *seen.entry(k).or_default() += 1;
            }
        }
        Ok(Some(
            all.into_iter()
                .filter(|r| {
                    invsync_core::SkuKey::new(&r.sku)
                        .is_some_and(|k| wanted.contains(&k) && seen.get(&k) == Some(&1))
                })
                .collect(),
        ))
    }

    /// Every change of a run goes into one atomic rewrite: the file is rewritten whole
    /// anyway, so splitting a run into batches would only rewrite it more often.
    fn write_batch_size(&self) -> usize {
        usize::MAX
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let writes = writes.to_vec();
        self.blocking(move |inner| inner.write(&writes)).await
    }
}

impl Inner {
    fn path(&self) -> &Path {
        &self.config.path
    }

    fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(&self.name, kind, message)
    }

    /// `path:line:column: message`, the form editors and terminals can jump to.
    fn parse_error(&self, path: &Path, src: &[u8], e: ParseError) -> ConnectorError {
        let (line, column) = text::line_col(src, e.offset);
        self.error(
            ErrorKind::InvalidData,
            format!("{}:{line}:{column}: {}", path.display(), e.message),
        )
    }

    /// Reads `path` whole if it is a regular file within the connection's
    /// `max_file_size` (checked before reading, and again by reading at most one byte
    /// more, in case it grows meanwhile). Errors name `shown` (the path as configured).
    fn read_file(
        &self,
        file: &Path,
        shown: &Path,
    ) -> Result<(Vec<u8>, std::fs::Metadata), ConnectorError> {
        read_regular(file, self.config.max_file_size).map_err(|e| self.input_file_error(shown, e))
    }

    fn input_file_error(&self, path: &Path, e: InputFileError) -> ConnectorError {
        match e {
            InputFileError::Io(e) => self.read_error(path, &e),
            // Like a missing file: the path names no regular file (ADR 0063).
            e @ InputFileError::NotRegular(_) => self.error(
                ErrorKind::NotFound,
                format!("{}: cannot read: {e}", path.display()),
            ),
            e @ (InputFileError::TooLarge { .. } | InputFileError::Grew { .. }) => {
                let table = match self.name.as_str() {
                    "accounting" => "[accounting]".to_owned(),
                    store => format!("[stores.{store}]"),
                };
                self.error(
                    ErrorKind::InvalidData,
                    format!(
                        "{}: cannot read: {e} (raise `max_file_size` in {table} if the file \
                         is meant to be this large)",
                        path.display()
                    ),
                )
            }
        }
    }

    fn read_error(&self, path: &Path, e: &io::Error) -> ConnectorError {
        let kind = match e.kind() {
            // "Not there or not readable" (ErrorKind::NotFound) is what an operator fixes
            // the same way: check the path and its permissions.
            io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::NotADirectory => ErrorKind::NotFound,
            // A symlink loop (its io::ErrorKind is not stable yet) is a broken path too.
            _ if e.raw_os_error() == Some(libc::ELOOP) => ErrorKind::NotFound,
            _ => ErrorKind::Other,
        };
        let what = if e.kind() == io::ErrorKind::NotFound {
            "file not found".to_owned()
        } else {
            e.to_string()
        };
        self.error(kind, format!("{}: cannot read: {what}", path.display()))
    }

    fn read_catalog(&self) -> Result<Vec<Record>, ConnectorError> {
        let path = self.path();
        let (src, _) = self.read_file(path, path)?;
        let started = Instant::now();
        let records =
            parse_catalog(&src, Format::of(path)).map_err(|e| self.parse_error(path, &src, e))?;
        tracing::debug!(
            connection = %self.name, path = %path.display(), records = records.len(),
            elapsed_ms = started.elapsed().as_millis(), "read catalog file"
        );
        Ok(records)
    }

    fn read_orders(&self) -> Result<Vec<OrderLine>, ConnectorError> {
        let Some(path) = self.config.orders.as_deref() else {
            return Ok(Vec::new());
        };
        // A configured orders file that is missing is an error, never "no orders":
        // treating it as empty would let stock that is already sold be pushed to stores
        // (product.md rule 3, `in-orders`).
        let (src, _) = self.read_file(path, path)?;
        orders::parse_orders(&src, Format::of(path), &self.name)
            .map_err(|e| self.parse_error(path, &src, e))
    }

    /// The locked read-check-rewrite:
    /// 1. take the sidecar lock, so no other invsync interleaves with this;
    /// 2. re-read the current file and check every write against it (`Stale` when the
    ///    value changed since the run read it, `Failed` when the SKU is gone or doubled);
    /// 3. if anything applies, write the file with only those values changed to a
    ///    temporary file, flush it and rename it over the original.
    ///
    /// Any error before the rename leaves the file untouched and fails the whole batch.
    fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let path = self.path();
        // Write through a symlink to the real file: renaming over the link would replace
        // the link with a plain file.
        let target = std::fs::canonicalize(path).map_err(|e| self.read_error(path, &e))?;
        // Before the lock, whose sidecar file would otherwise be made next to a device.
        check_regular(&target, self.config.max_file_size)
            .map_err(|e| self.input_file_error(path, e))?;
        let locked = atomic::with_lock(&target, atomic::LOCK_WAIT, || {
            self.write_locked(path, &target, writes)
        });
        match locked {
            Ok(result) => result,
            Err(atomic::LockError::Timeout) => Err(self.error(
                ErrorKind::Unavailable,
                format!(
                    "{}: another process kept {} locked for {}s; nothing written",
                    path.display(),
                    atomic::lock_path(&target).display(),
                    atomic::LOCK_WAIT.as_secs()
                ),
            )),
            Err(atomic::LockError::Open(e) | atomic::LockError::Lock(e)) => Err(self.error(
                ErrorKind::Other,
                format!(
                    "{}: cannot lock {}: {e}; nothing written (invsync needs to create files \
                     in the file's directory)",
                    path.display(),
                    atomic::lock_path(&target).display()
                ),
            )),
        }
    }

    fn write_locked(
        &self,
        path: &Path,
        target: &Path,
        writes: &[Write],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let started = Instant::now();
        let (src, metadata) = self.read_file(target, path)?;
        let changes = apply::plan(&src, Format::of(path), writes)
            .map_err(|e| self.parse_error(path, &src, e))?;
        if changes.edits.is_empty() {
            return Ok(changes.outcomes);
        }
        // Renaming would silently defeat a read-only flag the merchant set on purpose.
        if metadata.permissions().readonly() {
            return Err(self.error(
                ErrorKind::Other,
                format!("{}: the file is read-only; nothing written", path.display()),
            ));
        }
        atomic::replace(target, &metadata, |out| {
            apply::splice(&src, &changes.edits, out)
        })
        .map_err(|e| match e {
            atomic::ReplaceError::Changed => self.error(
                ErrorKind::Unavailable,
                format!(
                    "{}: another program changed the file while invsync was rewriting it; \
                     nothing written",
                    path.display()
                ),
            ),
            atomic::ReplaceError::Io(step, e) => self.error(
                ErrorKind::Other,
                format!("{}: cannot {step}: {e}; nothing written", path.display()),
            ),
        })?;
        tracing::info!(
            connection = %self.name, path = %path.display(), cells = changes.edits.len(),
            elapsed_ms = started.elapsed().as_millis(), "rewrote file"
        );
        Ok(changes.outcomes)
    }
}

/// Reads every product of a catalog file.
fn parse_catalog(src: &[u8], format: Format) -> Result<Vec<Record>, ParseError> {
    let mut records = Vec::new();
    if format == Format::Csv {
        // A CSV file has at most one product per line. Reserving that up front costs one
        // fast pass over the file and saves the copies (and the up to 2x memory) of
        // growing a vector of a million records. (Pretty-printed JSON spans several lines
        // per product, so there the count would over-reserve.)
        records.reserve(memchr::memchr_iter(b'\n', src).count() + 1);
    }
    format.for_each_product(src, |row| {
        records.push(Record {
            id: CompactString::default(),
            sku: CompactString::from(row.sku),
            name: CompactString::from(row.name),
            kind: row.kind,
            price: row.price.map(|(p, _)| p),
            // An untracked product's quantity cell, if any, is not stock.
            quantity: row
                .quantity
                .filter(|_| row.kind != ItemKind::Untracked)
                .map(|(q, _)| q),
            sale: None,
        });
        Ok(())
    })?;
    Ok(records)
}
