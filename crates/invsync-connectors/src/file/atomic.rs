//! Locking and atomic replacement of a data file (product.md, "File connections": a write
//! is atomic, a reader never sees half a file).
//!
//! The new content goes to a temporary file in the same directory, is flushed to disk and
//! renamed over the original; rename within one file system is atomic, so a reader sees
//! the old file or the new one. Any failure before the rename leaves the original as it
//! was and removes the temporary file (`NamedTempFile` deletes itself when dropped).

use std::fs::{self, File, Metadata};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How long a write waits for another invsync process to finish rewriting the same file.
/// A rewrite takes well under a second even for large files; waiting longer than this
/// means the other process is stuck, and the run should fail (retryably) rather than hang.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(30);
const LOCK_POLL: Duration = Duration::from_millis(20);

/// The sidecar lock file of `target`: `.<name>.lock` next to it, there only while a write
/// holds it. The data file itself cannot be the lock: the rename replaces its inode, so a
/// process waiting on the old inode would then hold a lock nobody else sees.
pub(super) fn lock_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.lock"))
}

/// Why the lock was not taken.
#[derive(Debug)]
pub(super) enum LockError {
    /// The lock file could not be opened or created (e.g. a read-only directory).
    Open(io::Error),
    /// Another process held the lock for longer than [`LOCK_WAIT`].
    Timeout,
    Lock(io::Error),
}

/// Runs `f` while holding an exclusive advisory lock on `target`'s lock file, so that two
/// invsync processes (or two connections of one process) never interleave their
/// read-check-write of one file.
///
/// The lock file is removed when `f` is done, so nothing is left in the merchant's data
/// directory (ADR 0062). Removing a lock file is safe only with a second rule: it is
/// removed by its holder, under the lock, and whoever takes the lock checks afterwards
/// that the path still names the very file it locked. A process that waited on a file
/// the holder removed (and that a third process may already have created again) finds
/// the path gone or naming another inode, lets go and locks the current one. So at any
/// time at most one process holds the lock on the file the path names.
pub(super) fn with_lock<T>(
    target: &Path,
    wait: Duration,
    f: impl FnOnce() -> T,
) -> Result<T, LockError> {
    let path = lock_path(target);
    let deadline = Instant::now() + wait;
    loop {
        // Opened afresh on every attempt: the file of the last attempt may be gone.
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LockError::Open)?;
        let mut lock = fd_lock::RwLock::new(file);
        match lock.try_write() {
            Ok(guard) => {
                if is_current(&path, &guard).map_err(LockError::Lock)? {
                    let result = f();
                    // Still under the lock. Failing to remove it (a read-only directory
                    // with a lock file left by a crash) only leaves the file behind.
                    if let Err(e) = fs::remove_file(&path) {
                        tracing::debug!(path = %path.display(), error = %e, "could not remove the lock file");
                    }
                    return Ok(result);
                }
                // Removed (or replaced) by the holder since it was opened: take the
                // current one.
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(LockError::Timeout);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LockError::Lock(e)),
        }
        thread::sleep(LOCK_POLL);
    }
}

/// Whether `path` still names the file `locked` is open on.
pub(super) fn is_current(path: &Path, locked: &File) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let held = locked.metadata()?;
        match fs::metadata(path) {
            Ok(now) => Ok((now.dev(), now.ino()) == (held.dev(), held.ino())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, locked);
        Ok(true)
    }
}

/// What identifies the exact file that was read, to notice another program replacing or
/// editing it while invsync prepared its rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Identity {
    fn of(metadata: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        Identity {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            inode: (metadata.dev(), metadata.ino()),
        }
    }
}

/// Why a replacement did not happen. In every case the original file is untouched.
#[derive(Debug)]
pub(super) enum ReplaceError {
    /// A step failed: what was being done, and the error.
    Io(String, io::Error),
    /// The file changed on disk after it was read; writing would lose that change.
    Changed,
}

/// Replaces `target` with what `write` produces, atomically. `original` is the metadata
/// of the version that was read: its permissions (and owner, where allowed) carry over,
/// and the replacement is abandoned if the file no longer matches it.
pub(super) fn replace(
    target: &Path,
    original: &Metadata,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
) -> Result<(), ReplaceError> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| {
            ReplaceError::Io(format!("create a temporary file in {}", dir.display()), e)
        })?;

    copy_owner(temp.as_file(), original);
    temp.as_file()
        .set_permissions(original.permissions())
        .map_err(|e| ReplaceError::Io("set the permissions of the temporary file".into(), e))?;

    {
        let mut out = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
        let step = || "write the temporary file".to_owned();
        write(&mut out).map_err(|e| ReplaceError::Io(step(), e))?;
        out.flush().map_err(|e| ReplaceError::Io(step(), e))?;
    }
    // The data must be on disk before the rename makes it the file: otherwise a crash
    // could leave a renamed but empty file.
    temp.as_file()
        .sync_all()
        .map_err(|e| ReplaceError::Io("flush the temporary file to disk".into(), e))?;

    let now = fs::metadata(target)
        .map_err(|e| ReplaceError::Io("re-check the file before replacing it".into(), e))?;
    if Identity::of(&now) != Identity::of(original) {
        return Err(ReplaceError::Changed);
    }
    temp.persist(target)
        .map_err(|e| ReplaceError::Io("rename the temporary file over the file".into(), e.error))?;

    // Make the rename itself durable. The new file is in place either way, so a failure
    // here is only logged: the writes did apply.
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(path = %target.display(), error = %e, "could not flush the directory after replacing the file");
    }
    Ok(())
}

/// Gives the new file the original's owner and group where the process may (it may when
/// it runs as root or as the owner); otherwise the file ends up owned by invsync's user,
/// which still works for invsync but is worth knowing, hence the log line.
fn copy_owner(file: &File, original: &Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(mine) = file.metadata() else { return };
        if (mine.uid(), mine.gid()) == (original.uid(), original.gid()) {
            return;
        }
        if let Err(e) = std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid()))
        {
            tracing::debug!(error = %e, "could not give the rewritten file its original owner");
        }
    }
    #[cfg(not(unix))]
    let _ = (file, original);
}
