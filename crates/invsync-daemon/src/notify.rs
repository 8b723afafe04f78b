//! systemd notifications (sd_notify(3)): READY=1 once config, database and migrations are
//! fine, WATCHDOG=1 from the scheduling loop itself, STOPPING=1, and STATUS= lines. Without
//! `$NOTIFY_SOCKET` (not under systemd) every call is a no-op.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "could not notify the service manager");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// The watchdog interval systemd asks for (`WatchdogSec=`), if any. The loop pings at
/// least twice per interval.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}
