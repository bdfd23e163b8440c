//! One writer per results folder: `OUT/.misalign.lock`, held with `flock` for as long as a
//! `run`, `classify` or `import` works on the folder.
//!
//! Two processes sampling into one folder would pay for every call twice. The lock file
//! holds the holder's pid, host and start time so a refused process can say who has the
//! folder. `flock` is released by the kernel when its holder dies, so a lock file left by a
//! killed process is simply taken over; there is no stale-lock guessing by pid.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// File name of the lock inside a results folder.
pub const LOCK_FILE: &str = ".misalign.lock";

/// A lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "results folder {folder} is in use by another misalign process ({holder}); wait for it to \
         finish or stop it, or choose another --out"
    )]
    Busy { folder: PathBuf, holder: String },
    #[error("cannot lock results folder {folder} ({path}): {source}")]
    Io {
        folder: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the folder.
#[derive(Debug)]
pub struct FolderLock {
    file: std::fs::File,
    /// What the lock file said when it was taken over from a process that is gone.
    pub taken_over: Option<String>,
}

impl FolderLock {
    /// Takes the lock of results folder `dir` (which must exist) without waiting.
    pub fn acquire(dir: &Path) -> Result<FolderLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            folder: dir.to_path_buf(),
            path: path.clone(),
            source,
        };
        let mut file = open_no_follow(&path).map_err(io)?;
        let previous = holder(&mut file);
        if !try_lock(&file).map_err(io)? {
            // A holder that has just started may not have written its line yet.
            let mut holder_now = holder(&mut file);
            for _ in 0..20 {
                if !holder_now.is_empty() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                holder_now = holder(&mut file);
            }
            return Err(LockError::Busy {
                folder: dir.to_path_buf(),
                holder: if holder_now.is_empty() {
                    "holder unknown: it is still starting".into()
                } else {
                    holder_now
                },
            });
        }
        let me = format!(
            "pid {} on host {} since {}\n",
            std::process::id(),
            host_name(),
            crate::timestamp()
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        Ok(FolderLock {
            file,
            taken_over: (!previous.is_empty()).then_some(previous),
        })
    }
}

/// The holder's line from the lock file. Ours to read but not to trust: only the first line
/// of at most 512 bytes, cleaned for the terminal.
fn holder(file: &mut std::fs::File) -> String {
    let mut text = String::new();
    if file.rewind().is_ok() {
        let _ = (&*file).take(512).read_to_string(&mut text);
    }
    crate::untrusted::terminal_safe(text.lines().next().unwrap_or("").trim())
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Emptied while still held: a lock file with text in it is one whose holder died.
        // (It is not deleted: another process may already have it open and be waiting.)
        let _ = self.file.set_len(0);
    }
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // A symlink planted at the lock's name is refused, not followed (it would truncate
    // whatever it points to).
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// True when the lock was taken, false when another open file holds it.
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_named() {
        let d = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(d.path()).unwrap();
        assert!(first.taken_over.is_none());
        let e = FolderLock::acquire(d.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("in use by another misalign process"), "{e}");
        drop(first);
        // Released cleanly: nothing to take over.
        let again = FolderLock::acquire(d.path()).unwrap();
        assert!(again.taken_over.is_none());
    }

    #[test]
    fn a_lock_left_by_a_dead_process_is_taken_over() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(LOCK_FILE),
            "pid 999999 on host gone since 2020-01-01T00:00:00Z\n",
        )
        .unwrap();
        let lock = FolderLock::acquire(d.path()).unwrap();
        assert_eq!(
            lock.taken_over.as_deref(),
            Some("pid 999999 on host gone since 2020-01-01T00:00:00Z")
        );
        let now = std::fs::read_to_string(d.path().join(LOCK_FILE)).unwrap();
        assert!(
            now.starts_with(&format!("pid {} ", std::process::id())),
            "{now}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_lock_name_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join(LOCK_FILE)).unwrap();
        assert!(FolderLock::acquire(&out).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }
}
