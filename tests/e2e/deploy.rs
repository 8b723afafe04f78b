//! The systemd unit: hardened enough that `systemd-analyze security` rates it 2.0 or lower,
//! with the notify/watchdog/credential settings the daemon relies on.

use std::path::Path;
use std::process::Command;

fn unit() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/invsync.service")
}

#[test]
fn the_unit_rates_2_0_or_lower_in_systemd_analyze_security() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit())
        .output()
        .expect("systemd-analyze (Debian package `systemd`) must be installed; scripts/test.sh installs it");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no rating in:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score from `{line}`"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

#[test]
fn the_unit_has_what_the_daemon_relies_on() {
    let text = std::fs::read_to_string(unit()).expect("read the unit");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "LoadCredential=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "TimeoutStopSec=45s",
        "KillSignal=SIGTERM",
        // Descriptors for idle HTTP connections and runs alike (issue 13, item 3).
        "LimitNOFILE=",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "`{line}` missing from deploy/invsync.service"
        );
    }
    // Run recovery judges an owner on this host dead when its /proc/PID is gone; hiding
    // other users' processes would make a live manual run look dead.
    for hides in ["ProtectProc=invisible", "ProtectProc=ptraceable"] {
        assert!(
            !text.lines().any(|l| l.trim() == hides),
            "`{hides}` hides live run owners from the daemon's recovery"
        );
    }
    // The daemon's default shutdown grace must fit in the stop timeout.
    assert!(invsync_config::DEFAULT_SHUTDOWN_GRACE < std::time::Duration::from_secs(45));
}
