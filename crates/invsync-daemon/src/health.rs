//! What `/healthz` reports besides live checks: the last database failure seen by the
//! loop, run outcomes waiting for the database, and the configuration — when the one in
//! use was loaded, whether the last reload failed and why, and keys that changed but
//! wait for a restart. The configuration's state is also in `/metrics`
//! (`invsync_config_last_reload_successful`,
//! `invsync_config_last_reload_success_timestamp_seconds`), as Prometheus does.

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
pub struct Health {
    db_error: Mutex<Option<String>>,
    pending_records: AtomicUsize,
    config: Mutex<ConfigState>,
}

/// The configuration as the daemon runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigState {
    /// When the config in use was loaded (at start or by the last good reload).
    pub loaded_at: Option<DateTime<Utc>>,
    /// The last reload, if it failed: when, and every error (each names file and key).
    pub failed_reload: Option<FailedReload>,
    /// Keys whose new values wait for a restart (`daemon.listen`).
    pub restart_pending: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedReload {
    pub at: DateTime<Utc>,
    pub errors: Vec<String>,
}

impl Health {
    pub fn db_ok(&self) {
        if let Ok(mut e) = self.db_error.lock() {
            *e = None;
        }
    }

    pub fn db_failed(&self, error: String) {
        if let Ok(mut e) = self.db_error.lock() {
            *e = Some(error);
        }
    }

    pub fn db_error(&self) -> Option<String> {
        self.db_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn set_pending_records(&self, n: usize) {
        self.pending_records.store(n, Ordering::Relaxed);
    }

    pub fn pending_records(&self) -> usize {
        self.pending_records.load(Ordering::Relaxed)
    }

    /// A config was loaded and is in use (at start, or a reload applied it).
    pub fn config_loaded(&self, at: DateTime<Utc>, restart_pending: Vec<String>) {
        if let Ok(mut c) = self.config.lock() {
            *c = ConfigState {
                loaded_at: Some(at),
                failed_reload: None,
                restart_pending,
            };
        }
        metrics::gauge!("invsync_config_last_reload_successful").set(1.0);
        metrics::gauge!("invsync_config_last_reload_success_timestamp_seconds")
            .set(at.timestamp() as f64);
    }

    /// A reload was rejected; the daemon goes on with the config it had.
    pub fn config_reload_failed(&self, at: DateTime<Utc>, errors: Vec<String>) {
        if let Ok(mut c) = self.config.lock() {
            c.failed_reload = Some(FailedReload { at, errors });
        }
        metrics::gauge!("invsync_config_last_reload_successful").set(0.0);
    }

    pub fn config(&self) -> ConfigState {
        self.config.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
