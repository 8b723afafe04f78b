//! Tests of file connections, on real files in temporary directories.

mod errors;
mod perf;
mod props;
mod reading;
mod writing;

use super::{FileConnection, Inner};
use crate::Write;
use invsync_config::FileConnectionConfig;
use invsync_config::input_file::DEFAULT_MAX_FILE_SIZE;
use invsync_core::FieldValue;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tempfile::TempDir;

/// A temporary directory holding one catalog file (and maybe an orders file).
struct Fixture {
    dir: TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new(file_name: &str, contents: impl AsRef<[u8]>) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(file_name);
        std::fs::write(&path, contents).expect("write fixture");
        Fixture { dir, path }
    }

    fn connection(&self) -> FileConnection {
        connection_for(&self.path, None)
    }

    fn inner(&self) -> Inner {
        Inner {
            name: "shop".into(),
            config: FileConnectionConfig {
                path: self.path.clone(),
                orders: None,
                max_file_size: DEFAULT_MAX_FILE_SIZE,
            },
        }
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("read fixture")
    }

    fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("utf-8 fixture")
    }

    /// Every file in the directory, sorted: to prove no temporary file is left behind.
    fn files(&self) -> Vec<String> {
        file_names(self.dir.path())
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn connection_for(path: &Path, orders: Option<PathBuf>) -> FileConnection {
    FileConnection::new(
        "shop",
        FileConnectionConfig {
            path: path.to_path_buf(),
            orders,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        },
    )
}

fn price(text: &str) -> FieldValue {
    FieldValue::Price(Decimal::from_str(text).expect("decimal"))
}

fn quantity(q: i64) -> FieldValue {
    FieldValue::Quantity(q)
}

fn write(sku: &str, old: FieldValue, new: FieldValue) -> Write {
    Write {
        id: "".into(),
        sku: sku.into(),
        field: new.field(),
        old,
        new,
        key: format!("test:{sku}:{}", new.field()),
        sale: None,
    }
}

fn quantity_write(sku: &str, old: i64, new: i64) -> Write {
    write(sku, quantity(old), quantity(new))
}

fn price_write(sku: &str, old: &str, new: &str) -> Write {
    write(sku, price(old), price(new))
}
