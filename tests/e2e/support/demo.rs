//! The tests' own demo (`tests/e2e/fixtures/`): each test works on a private copy. Never
//! the checkout's `config/demo`, which the README's demo rewrites (`demo.rs` checks).

use super::invsync;
use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A private copy of the demo fixture and its data, with its own SQLite database
/// (`var/demo.db` in the same temporary directory).
pub struct Demo {
    pub dir: tempfile::TempDir,
}

impl Demo {
    pub fn new() -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/fixtures");
        std::fs::create_dir_all(dir.path().join("demo")).expect("mkdir");
        std::fs::copy(fixtures.join("demo.toml"), dir.path().join("demo.toml"))
            .expect("copy config");
        for entry in std::fs::read_dir(fixtures.join("demo")).expect("demo dir") {
            let entry = entry.expect("entry");
            std::fs::copy(
                entry.path(),
                dir.path().join("demo").join(entry.file_name()),
            )
            .expect("copy data");
        }
        Demo { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("demo.toml")
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join("demo").join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.data(name)).expect("read data")
    }

    /// `invsync --config <demo> ARGS`, with a clean environment for invsync's variables.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = invsync();
        cmd.arg("--config").arg(self.config()).args(args);
        cmd
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self
            .cmd(args)
            .arg("--format")
            .arg("json")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json output")
    }
}

/// The README demo's sync.
pub const SYNC_SHOP: &[&str] = &[
    "sync",
    "--store",
    "shop",
    "--update",
    "store",
    "--fields",
    "price,quantity",
];

/// [`SYNC_SHOP`] as a dry run.
pub const SHOP_DRY_RUN: &[&str] = &[
    "sync",
    "--store",
    "shop",
    "--update",
    "store",
    "--fields",
    "price,quantity",
    "--dry-run",
];

pub fn edit(demo: &Demo, from: &str, to: &str) {
    let text = std::fs::read_to_string(demo.config()).expect("read config");
    assert!(text.contains(from), "demo.toml lacks `{from}`");
    std::fs::write(demo.config(), text.replacen(from, to, 1)).expect("write config");
}
