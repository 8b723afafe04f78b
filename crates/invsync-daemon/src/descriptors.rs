//! Open-file descriptors. Everything the daemon does takes some: reading the config on
//! SIGHUP, a run's files, the database pool, connections to the platforms, and every
//! HTTP connection held by the listener. At start the soft `RLIMIT_NOFILE` is raised to
//! the hard limit (systemd's default soft limit is 1,024; `LimitNOFILE=` in the unit sets
//! both), and the listener is sized so that [`reserve`] descriptors always stay free for
//! the rest: a flood of idle connections can slow the listener, never stop a run.

/// The soft and hard `RLIMIT_NOFILE` after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft limit to the hard one. A failure (a seccomp filter, an unsupported
/// platform) leaves the soft limit as it was, which [`connection_cap`] then works with.
pub fn raise() -> NoFile {
    let raised = rlimit::increase_nofile_limit(u64::MAX);
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    if let Err(e) = raised {
        tracing::warn!(error = %e, soft, hard, "cannot raise the open-file limit");
    }
    NoFile { soft, hard }
}

/// Descriptors kept for everything but HTTP connections: runs' files (a catalog, an
/// orders file, the temporary file of an atomic write and its lock, per store), their
/// HTTP clients' connections, the config file, logs and the runtime (256 in all), plus
/// three per pooled database connection (a SQLite database, its WAL and its shared
/// memory; one socket for Postgres).
pub fn reserve(database_connections: u32) -> u64 {
    256 + 3 * u64::from(database_connections)
}

/// The fewest connections a listener is given, whatever the limit: below this it could
/// not answer a probe beside a browser.
pub const MIN_CONNECTIONS: usize = 8;

/// How many HTTP connections the listener may hold: `configured`, or fewer when the soft
/// limit minus the reserve leaves less room (never below [`MIN_CONNECTIONS`]).
pub fn connection_cap(soft: u64, reserve: u64, configured: u32) -> usize {
    let room = usize::try_from(soft.saturating_sub(reserve)).unwrap_or(usize::MAX);
    let configured = usize::try_from(configured).unwrap_or(usize::MAX);
    room.min(configured).max(MIN_CONNECTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_free() {
        let reserve = reserve(8);
        assert_eq!(reserve, 280);
        // systemd's default soft limit: the configured cap fits.
        assert_eq!(connection_cap(1024, reserve, 256), 256);
        assert_eq!(connection_cap(65536, reserve, 256), 256);
        // A low limit lowers the cap so that the reserve stays free.
        assert_eq!(connection_cap(512, reserve, 256), 232);
        // Too low for both: a few connections anyway.
        assert_eq!(connection_cap(256, reserve, 256), MIN_CONNECTIONS);
        assert_eq!(connection_cap(u64::MAX, reserve, 10_000), 10_000);
    }
}
