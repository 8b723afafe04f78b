//! The README's two commands must not break each other (issue 13, item 14): the demo
//! ("Try it") rewrites `config/demo/*`, and the test suite ("Run the tests") must pass
//! afterwards. So the tests own their data (`tests/e2e/fixtures/`), and a demo run leaves
//! nothing behind in the user's data directory but the data it changed.

use crate::support::demo::{SHOP_DRY_RUN, SYNC_SHOP};
use std::path::{Path, PathBuf};

fn checkout() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `git` with the repository given by `-C`, not by variables a caller may have set.
fn git(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=invsync tests",
            "-c",
            "user.email=tests@invsync.invalid",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every Rust source of the workspace's tests and test helpers.
fn test_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&checkout().join("tests"), &mut out);
    walk(&checkout().join("crates"), &mut out);
    out
}

/// No test reads the demo's data directory: after the README's demo it holds the demo's
/// results, not what a test expects (6 end-to-end tests failed that way). Tests copy
/// `tests/e2e/fixtures/demo.toml` and `tests/e2e/fixtures/demo/` instead. (Parsing
/// `config/demo.toml` itself is fine: the demo does not edit it.)
#[test]
fn no_test_reads_the_demo_data_the_readme_demo_rewrites() {
    let this = checkout().join("tests/e2e/demo.rs");
    let forbidden = ["config/demo/", "\"config/demo\"", "join(\"config\")"];
    let sources = test_sources();
    // The scan sees this suite, its helpers and the crates' tests: were a layout change to
    // hide them from it, it would pass on nothing.
    for expected in [
        "tests/e2e/main.rs",
        "tests/e2e/cli.rs",
        "tests/e2e/support/demo.rs",
        "crates/invsync-test-support/src/lib.rs",
    ] {
        assert!(
            sources.contains(&checkout().join(expected)),
            "{expected} is not among the scanned sources"
        );
    }
    assert!(sources.contains(&this));
    let mut found = Vec::new();
    for path in sources {
        if path == this {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if forbidden.iter().any(|f| line.contains(f)) {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "tests must copy their data from tests/e2e/fixtures/, never from the checkout's config/demo (the README's demo rewrites it):\n{}",
        found.join("\n")
    );
    assert!(checkout().join("tests/e2e/fixtures/demo.toml").is_file());
}

/// A fresh clone (the committed demo, in a git repository of its own), the README's demo
/// commands, then `git status`: only the store file the sync rewrote shows as changed.
/// No lock file or temporary file is left next to the data, tracked or not.
#[test]
fn the_readme_demo_leaves_only_the_data_it_changed_in_git_status() {
    let repo = tempfile::tempdir().expect("tempdir");
    let archive = git(checkout())
        .args([
            "archive",
            "--format=tar",
            "HEAD",
            ".gitignore",
            "config/demo.toml",
            "config/demo",
        ])
        .output()
        .expect("git archive (the test needs a git checkout)");
    assert!(
        archive.status.success(),
        "git archive: {}",
        String::from_utf8_lossy(&archive.stderr)
    );
    let tar = repo.path().join("demo.tar");
    std::fs::write(&tar, &archive.stdout).expect("write archive");
    run_ok(
        std::process::Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(repo.path()),
    );
    std::fs::remove_file(&tar).expect("rm archive");
    run_ok(git(repo.path()).args(["init", "--quiet"]));
    run_ok(git(repo.path()).args(["add", "--all"]));
    run_ok(git(repo.path()).args(["commit", "--quiet", "-m", "a fresh clone"]));

    let invsync = |args: &[&str]| {
        let mut cmd = crate::support::invsync();
        cmd.current_dir(repo.path())
            .args(["--config", "config/demo.toml"])
            .args(args);
        cmd
    };
    invsync(SYNC_SHOP).assert().success();
    invsync(SHOP_DRY_RUN).assert().success();
    invsync(&["status", "--store", "shop"]).assert().success();
    invsync(&["runs"]).assert().success();
    invsync(&[
        "sync", "--store", "market", "--update", "store", "--fields", "quantity",
    ])
    .assert()
    .success();

    let status = run_ok(git(repo.path()).args(["status", "--porcelain", "--untracked-files=all"]));
    let mut lines: Vec<&str> = status.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [" M config/demo/market.json", " M config/demo/shop.csv"],
        "only the data files the runs rewrote (the database is under the ignored var/)"
    );
    let mut left: Vec<String> = std::fs::read_dir(repo.path().join("config/demo"))
        .expect("demo dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort_unstable();
    assert_eq!(
        left,
        [
            "accounting.csv",
            "market.json",
            "shop-orders.csv",
            "shop.csv"
        ],
        "no lock or temporary file is left where the user's data lives, ignored or not"
    );
}
