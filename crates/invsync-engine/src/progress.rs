//! Progress reporting for long runs. The CLI draws a bar on a terminal; the daemon and
//! tests use [`NoProgress`].

/// Receives progress of one run. Called from the run's task; implementations must be cheap.
pub trait Progress: Send + Sync {
    /// A new phase began (`reading`, `planning`).
    fn phase(&self, _name: &str) {}
    /// Writing begins: `total` changes to write.
    fn start_writes(&self, _total: u64) {}
    /// `n` more changes were written (or failed).
    fn advance(&self, _n: u64) {}
    /// The run is over.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
