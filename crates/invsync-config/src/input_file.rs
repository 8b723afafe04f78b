//! Reading files named in the config (data files of `kind = "file"` connections, secret
//! files) with a size limit.
//!
//! An unbounded read let `path = "/dev/zero"` grow invsync to 5 GB in 6 seconds and a
//! 2 GB sparse file take 2.1 GB; opening a FIFO blocks until something writes to it. So a
//! file input must be a regular file (symlinks to one are fine), no larger than its limit
//! when opened, and is read up to one byte past the limit, so that a file that grows
//! while it is read is refused too, never read without end.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read as _};
use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;

/// `max_file_size` of a file connection when not set: 1 GiB. 1,000,000 products are about
/// 70 MB as CSV and 130 MB as JSON (docs/benchmarks.md), so this leaves room for catalogs
/// several times that, with long names and extra columns, and still stops a runaway file
/// long before it exhausts a small server's memory.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;

/// The largest secret file (`{ file = … }`, `{ credential = … }`): a secret is a line of
/// text; 64 KiB holds any token, key or URL with room to spare.
pub const MAX_SECRET_FILE_SIZE: u64 = 64 << 10;

/// Why a file input was not read. `Display` says what is wrong in words an operator
/// acts on; the caller adds the path.
#[derive(Debug)]
pub enum InputFileError {
    Io(io::Error),
    /// A directory, device, FIFO or socket: what it is.
    NotRegular(&'static str),
    /// Larger than the limit when opened.
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// Grew past the limit while being read.
    Grew {
        limit: u64,
    },
}

impl fmt::Display for InputFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputFileError::Io(e) => write!(f, "{e}"),
            InputFileError::NotRegular(what) => {
                write!(f, "is {what}, not a regular file; nothing read")
            }
            InputFileError::TooLarge { size, limit } => write!(
                f,
                "is {}, over the limit of {}; nothing read",
                Size(*size),
                Size(*limit)
            ),
            InputFileError::Grew { limit } => write!(
                f,
                "grew past the limit of {} while it was read; nothing used",
                Size(*limit)
            ),
        }
    }
}

impl std::error::Error for InputFileError {}

impl From<io::Error> for InputFileError {
    fn from(e: io::Error) -> Self {
        InputFileError::Io(e)
    }
}

/// Reads the regular file at `path` whole, if it is at most `limit` bytes, with the
/// metadata of the very file read (for compare-and-replace writes).
pub fn read_regular(path: &Path, limit: u64) -> Result<(Vec<u8>, Metadata), InputFileError> {
    // Looked at before opening: opening a FIFO would block until a writer comes.
    check_regular(path, limit)?;
    let file = File::open(path)?;
    // And again on the open handle: the path may have been replaced in between.
    let metadata = file.metadata()?;
    check(&metadata, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputFileError::Grew { limit });
    }
    Ok((bytes, metadata))
}

/// Whether `path` is a regular file (or a symlink to one) of at most `limit` bytes, without
/// opening it.
pub fn check_regular(path: &Path, limit: u64) -> Result<(), InputFileError> {
    check(&std::fs::metadata(path)?, limit)
}

fn check(metadata: &Metadata, limit: u64) -> Result<(), InputFileError> {
    let t = metadata.file_type();
    let what = if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    };
    if let Some(what) = what {
        return Err(InputFileError::NotRegular(what));
    }
    if metadata.len() > limit {
        return Err(InputFileError::TooLarge {
            size: metadata.len(),
            limit,
        });
    }
    Ok(())
}

/// A byte count as people read it: `1 GiB`, `2.5 MiB`, `800 bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (unit, size) in UNITS {
            if self.0 >= size {
                let whole = self.0 / size;
                let tenths = (self.0 % size) * 10 / size;
                return if tenths == 0 {
                    write!(f, "{whole} {unit}")
                } else {
                    write!(f, "{whole}.{tenths} {unit}")
                };
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

/// Parses a size: a whole number of bytes, or a whole number with a unit — `KiB`, `MiB`,
/// `GiB` (1024-based) or `KB`, `MB`, `GB` (1000-based), any case, space optional.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const HOW: &str = "write a whole number with a unit, like \"1GiB\" or \"500MiB\"";
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let factor: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(format!("`{text}` is not a size; {HOW}")),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; {HOW}"))?;
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size(" 500 mib "), Ok(500 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("10 B"), Ok(10));
        for bad in [
            "",
            "GiB",
            "1.5GiB",
            "-1GiB",
            "1 TiB",
            "nan",
            "99999999999GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(Size(1 << 30).to_string(), "1 GiB");
        assert_eq!(Size(5 << 29).to_string(), "2.5 GiB");
        assert_eq!(Size(1536).to_string(), "1.5 KiB");
        assert_eq!(Size(800).to_string(), "800 bytes");
    }

    #[test]
    fn reads_regular_files_within_the_limit_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.csv");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(b"0123456789"))
            .expect("write");
        let (bytes, metadata) = read_regular(&path, 10).expect("at the limit");
        assert_eq!(bytes, b"0123456789");
        assert_eq!(metadata.len(), 10);
        let e = read_regular(&path, 9).expect_err("over").to_string();
        assert_eq!(e, "is 10 bytes, over the limit of 9 bytes; nothing read");
        let e = read_regular(dir.path(), 10).expect_err("dir").to_string();
        assert_eq!(e, "is a directory, not a regular file; nothing read");
        let e = read_regular(Path::new("/dev/zero"), 10)
            .expect_err("device")
            .to_string();
        assert_eq!(e, "is a character device, not a regular file; nothing read");
        // A file that says it is empty but gives more (as if it grew while read) is read
        // one byte past the limit and no further.
        let e = read_regular(Path::new("/proc/self/status"), 16)
            .expect_err("grew")
            .to_string();
        assert_eq!(
            e,
            "grew past the limit of 16 bytes while it was read; nothing used"
        );
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        assert!(
            read_regular(&link, 10).is_ok(),
            "a symlink to a file is fine"
        );
    }
}
