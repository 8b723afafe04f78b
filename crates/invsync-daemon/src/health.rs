//! What `/healthz` reports besides live checks: the last database failure seen by the
//! loop and run outcomes waiting for the database.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
pub struct Health {
    db_error: Mutex<Option<String>>,
    pending_records: AtomicUsize,
    config_error: Mutex<Option<String>>,
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

    /// The last reload failed (the daemon runs on the previous config).
    pub fn set_config_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.config_error.lock() {
            *e = error;
        }
    }

    pub fn config_error(&self) -> Option<String> {
        self.config_error.lock().ok().and_then(|e| e.clone())
    }
}
