//! What the end-to-end modules share: the built binary with a clean environment, the
//! configs they write into temporary directories, the JSON they read back, and (in
//! [`daemon`]) the daemon as a process. One copy of each, so a fix reaches every test.

pub mod daemon;
pub mod demo;
pub mod report;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Removes every invsync variable of the caller's environment (`INVSYNC_CONFIG`,
/// `INVSYNC_LOG`, `INVSYNC__…` overrides): what a test configures is all that applies.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("INVSYNC") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The built `invsync` binary's path.
pub fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("invsync")
}

/// `invsync` with a clean environment ([`clean_env`]).
pub fn command() -> Command {
    let mut cmd = Command::new(binary());
    clean_env(&mut cmd);
    cmd
}

/// `invsync --config CONFIG ARGS…` with a clean environment.
pub fn with_config(config: &Path, args: &[&str]) -> Command {
    let mut cmd = command();
    cmd.arg("--config").arg(config).args(args);
    cmd
}

/// [`command`] as an `assert_cmd` command (`assert()`, `timeout`, `write_stdin`).
pub fn invsync() -> assert_cmd::Command {
    assert_cmd::Command::from_std(command())
}

/// Runs `cmd` to its end off the async workers, so the fakes this test serves in its
/// runtime keep answering meanwhile.
pub async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run invsync"))
        .await
        .expect("join")
}

/// A command's stdout as JSON; fails with both streams when it is not JSON.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `invsync runs --format json --limit 1000` with this config; fails unless it works.
pub fn runs(config: &Path) -> Value {
    let out = with_config(config, &["runs", "--format", "json", "--limit", "1000"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

/// Writes `accounting.csv` (the file accounting side) and `invsync.toml` into `dir`:
/// run history at `database`, then `rest` (stores, `[daemon]`, schedules…) as given.
/// Returns the config's path.
pub fn write_config(dir: &Path, database: &str, accounting_csv: &str, rest: &str) -> PathBuf {
    std::fs::write(dir.join("accounting.csv"), accounting_csv).expect("accounting");
    let config = dir.join("invsync.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{database}\"\n\n\
             [accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n\n{rest}"
        ),
    )
    .expect("config");
    config
}

/// `sale_price = "…"` for a store table, or nothing for the default.
pub fn sale_price_line(policy: Option<&str>) -> String {
    policy.map_or_else(String::new, |p| format!("sale_price = \"{p}\"\n"))
}

/// Sends `kill -SIG` to a process (`TERM`, `KILL`, `HUP`); fails if `kill` does.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Polls `check` every 100 ms until it holds; fails naming `what` after `within`.
pub fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A name no other test in this process (or an earlier run) uses: for database names
/// and log files.
pub fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
