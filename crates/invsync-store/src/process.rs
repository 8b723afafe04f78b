//! Who owns a run, and whether that owner is still alive.
//!
//! A run row records the host, pid and a *start marker* of the process running it. When a
//! daemon starts (or periodically), [`crate::Db::mark_interrupted`] marks `running` rows
//! whose owner is gone as `interrupted`. A pid alone is not enough to say "gone": pids are
//! reused, and a systemd service started at boot tends to get the same pid after every
//! reboot. The start marker pins the exact process: `<boot id>:<start time>`, where the
//! start time is field 22 (`starttime`, clock ticks since boot) of `/proc/<pid>/stat` and
//! the boot id is `/proc/sys/kernel/random/boot_id`.
//!
//! This is Linux-specific. Without `/proc` the marker is empty and liveness is
//! [`Liveness::Unknown`], so recovery falls back to stale heartbeats alone. Hosts are
//! compared by name: two machines (or containers with their own pid namespace) must not
//! share a hostname and a database, or one could misjudge the other's pids.

use std::io::ErrorKind;

/// The identity of a process that owns a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The host name (`gethostname`, else `localhost`).
    pub host: String,
    /// The operating-system process id.
    pub pid: u32,
    /// `<boot id>:<starttime>` on Linux (see the module docs); empty where unavailable.
    pub start_marker: String,
}

impl ProcessIdentity {
    /// The identity of this process.
    pub fn current() -> ProcessIdentity {
        let pid = std::process::id();
        ProcessIdentity {
            host: hostname(),
            pid,
            start_marker: start_marker(pid).unwrap_or_default(),
        }
    }

    /// The identity of another process on this host, or `None` when no process has that
    /// pid (or `/proc` is unavailable): tests build the identity of a process they control.
    #[cfg(any(test, feature = "testing"))]
    pub fn of_pid(pid: u32) -> Option<ProcessIdentity> {
        let start_marker = start_marker(pid)?;
        Some(ProcessIdentity {
            host: hostname(),
            pid,
            start_marker,
        })
    }
}

/// Whether a recorded owner process still runs on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    Alive,
    /// No such process, a zombie, or a different process now has that pid.
    Dead,
    /// Cannot tell (no `/proc`, or no marker recorded): leave it to the heartbeat.
    Unknown,
}

/// Checks the process `pid` recorded with `marker` on this host.
pub(crate) fn liveness(pid: u32, marker: &str) -> Liveness {
    if std::fs::metadata("/proc/self/stat").is_err() {
        return Liveness::Unknown;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(e) if e.kind() == ErrorKind::NotFound => Liveness::Dead,
        Err(_) => Liveness::Unknown,
        Ok(stat) => {
            let Some(fields) = fields_after_comm(&stat) else {
                return Liveness::Unknown;
            };
            // Field 3, the state: a zombie (Z) or dead (X) process will never heartbeat.
            if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
                return Liveness::Dead;
            }
            if marker.is_empty() {
                return Liveness::Unknown;
            }
            match (boot_id(), start_time(&fields)) {
                (Some(boot), Some(start)) if format!("{boot}:{start}") == marker => Liveness::Alive,
                (Some(_), Some(_)) => Liveness::Dead,
                _ => Liveness::Unknown,
            }
        }
    }
}

fn start_marker(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = fields_after_comm(&stat)?;
    Some(format!("{}:{}", boot_id()?, start_time(&fields)?))
}

/// The fields of `/proc/<pid>/stat` from field 3 (state) on. Field 2, the command name in
/// parentheses, may itself contain spaces and parentheses, so split after its last `)`.
fn fields_after_comm(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_ascii_whitespace().collect())
}

/// Field 22 (`starttime`) given the fields from field 3 on.
fn start_time<'a>(fields_from_3: &[&'a str]) -> Option<&'a str> {
    fields_from_3.get(22 - 3).copied()
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned())
}

fn hostname() -> String {
    whoami::hostname()
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_command_name_containing_parentheses() {
        let stat = "4242 (we ird) (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21";
        let fields = fields_after_comm(stat).expect("has a `)`");
        assert_eq!(fields.first(), Some(&"S"));
        assert_eq!(start_time(&fields), Some("987654"));
    }

    #[test]
    fn the_current_process_is_alive_and_a_wrong_marker_is_not() {
        let me = ProcessIdentity::current();
        assert!(!me.start_marker.is_empty(), "this test needs Linux /proc");
        assert_eq!(liveness(me.pid, &me.start_marker), Liveness::Alive);
        assert_eq!(liveness(me.pid, "other-boot:1"), Liveness::Dead);
        assert_eq!(liveness(me.pid, ""), Liveness::Unknown);
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn `true`");
        let identity = ProcessIdentity::of_pid(child.id());
        child.wait().expect("wait for `true`");
        // The child may have exited before we read /proc; both ways it must now be dead.
        let marker = identity
            .map(|i| i.start_marker)
            .unwrap_or_else(|| "gone:0".to_owned());
        assert_eq!(liveness(child.id(), &marker), Liveness::Dead);
    }
}
