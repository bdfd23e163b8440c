//! An output folder that files and sub-folders are created in by name, never through a
//! symbolic link: the writer of results folders ([`misalign_store::atomic`]) with the same
//! rules, relative to an open folder handle.
//!
//! - A sub-folder is created if missing and then opened without following a link
//!   (`O_NOFOLLOW`): a symlink planted in place of `prompts/` or a condition folder is an
//!   error, and nothing is written where it points.
//! - A file is written as a new, uniquely named temporary file in its folder (created with
//!   `O_EXCL | O_NOFOLLOW`, so a link planted at a guessable name is never followed) and
//!   renamed over its name; a rename replaces a link at the final name instead of writing
//!   through it, and a reader sees the old file or the new one, never half of one. (Unlike
//!   the results folder's files, generated prompts are not synced to disk one by one: they
//!   can be generated again, and a sync per file would make `generate` many times slower.)
//!
//! - A whole new folder ([`Folder::write_new_child`], one per condition) is written as a
//!   uniquely named staging folder and renamed into place once, so a reader never sees half a
//!   condition; its files are created with `O_EXCL | O_NOFOLLOW` in the folder only this
//!   process made, so they need no temporary name of their own. A temporary file and a rename
//!   per file cost a fifth more system calls than `cp -r` makes for the same tree (generate was
//!   1.00-1.04x the copy with them, 0.70x before them); one rename per folder brings it back.
//!   A folder that already exists is updated file by file as above.
//!
//! On Unix the folder is held open and every creation is relative to that handle
//! (`mkdirat`/`openat`/`renameat`), so the kernel resolves one path component per file
//! instead of the whole output path again; on tmpfs that walk was about a fifth of the cost
//! of creating a prompt file. Elsewhere the store's path-based writer is used.

use std::io;
use std::path::{Path, PathBuf};

/// Why [`Folder::write_new_child`] failed: the folder could not be made, or one of its files
/// could not be written.
#[derive(Debug)]
pub enum ChildError {
    Create(io::Error),
    Write { path: PathBuf, error: io::Error },
}

impl std::fmt::Display for ChildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildError::Create(e) => e.fmt(f),
            ChildError::Write { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

pub struct Folder {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

/// The error for a symlink found where a folder or file is to be written.
fn link_error(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symbolic link; misalign does not write through links in an output folder \
             (remove it, or choose another --out)",
            path.display()
        ),
    )
}

/// `e`, or the symlink error when `path` is a symlink (what `O_NOFOLLOW` refused).
fn explain(e: io::Error, path: &Path) -> io::Error {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => link_error(path),
        _ => e,
    }
}

impl Folder {
    /// Opens an existing folder the user named (taken as it is, a link included).
    pub fn open(path: &Path) -> io::Result<Folder> {
        Ok(Folder {
            path: path.to_path_buf(),
            #[cfg(unix)]
            fd: unix::open_dir(rustix::fs::CWD, path, false)?,
        })
    }

    /// The folder's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the sub-folder `name` if it is missing, and opens it; a symlink (or a file)
    /// in its place is an error.
    pub fn create_child(&self, name: &str) -> io::Result<Folder> {
        let path = self.path.join(name);
        #[cfg(unix)]
        {
            unix::make_dir(&self.fd, name)?;
            let fd = unix::open_dir(&self.fd, name, true).map_err(|e| explain(e, &path))?;
            Ok(Folder { path, fd })
        }
        #[cfg(not(unix))]
        {
            misalign_store::atomic::create_dirs_under(&self.path, &[name])?;
            Ok(Folder { path })
        }
    }

    /// Writes the sub-folder `name` holding `files` (name, body): a new folder appears whole
    /// (staged and renamed into place); an existing one has each file replaced, and a symlink
    /// or a file in its place is an error, as in [`Folder::create_child`].
    pub fn write_new_child(&self, name: &str, files: &[(&str, &[u8])]) -> Result<(), ChildError> {
        #[cfg(unix)]
        if unix::publish_new_dir(&self.fd, name, files).map_err(ChildError::Create)? {
            return Ok(());
        }
        let child = self.create_child(name).map_err(ChildError::Create)?;
        for (file, body) in files {
            child
                .write_file(file, body)
                .map_err(|error| ChildError::Write {
                    path: child.path.join(file),
                    error,
                })?;
        }
        Ok(())
    }

    /// Writes `body` to the file `name` (replacing it) through a temporary file and a rename.
    pub fn write_file(&self, name: &str, body: &[u8]) -> io::Result<()> {
        #[cfg(unix)]
        {
            unix::write_replacing(&self.fd, name, body)
        }
        #[cfg(not(unix))]
        {
            misalign_store::atomic::write_bytes_atomically(&self.path, name, body)
        }
    }
}

#[cfg(unix)]
mod unix {
    use rustix::fd::AsFd;
    use rustix::fs::{mkdirat, openat, renameat, unlinkat, AtFlags, Mode, OFlags};
    use rustix::io::Errno;
    use std::io::Write;
    use std::os::fd::OwnedFd;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub fn open_dir(
        at: impl AsFd,
        path: impl rustix::path::Arg,
        no_follow: bool,
    ) -> std::io::Result<OwnedFd> {
        let mut flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        if no_follow {
            flags |= OFlags::NOFOLLOW;
        }
        Ok(openat(at, path, flags, Mode::empty())?)
    }

    /// `mkdir` that accepts an existing entry; opening it as a folder then tells a folder
    /// from a file or a link of that name.
    pub fn make_dir(at: impl AsFd, name: &str) -> std::io::Result<()> {
        match mkdirat(at, name, Mode::from_raw_mode(0o777)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Temporary names differ per process and per file; a name that exists (a planted link
    /// included) is skipped, never opened.
    pub(super) static NEXT: AtomicU64 = AtomicU64::new(0);

    /// The process id, asked of the kernel once rather than once per file.
    fn pid() -> u32 {
        static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        *PID.get_or_init(std::process::id)
    }

    fn plain_name(name: &str) -> std::io::Result<()> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{name}` is not a plain file name"),
            ));
        }
        Ok(())
    }

    /// Creates `name` holding `files` by staging it under a fresh hidden name and renaming it
    /// into place. Returns `Ok(false)` (having left nothing behind) when something already
    /// has the name, so the caller updates or refuses it instead.
    pub fn publish_new_dir(
        dir: &OwnedFd,
        name: &str,
        files: &[(&str, &[u8])],
    ) -> std::io::Result<bool> {
        plain_name(name)?;
        for (file, _) in files {
            plain_name(file)?;
        }
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => {}
            Ok(_) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let pid = pid();
        let mut attempts = 0;
        let staging = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let staging = format!(".{name}.{pid}-{n}.tmp");
            // mkdir never follows a link: a name taken by anything is skipped.
            match mkdirat(dir, staging.as_str(), Mode::from_raw_mode(0o777)) {
                Ok(()) => break staging,
                Err(Errno::EXIST) if attempts < 100 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        };
        let filled = fill_staging(dir, &staging, files);
        let published = filled.and_then(|()| match renameat(dir, staging.as_str(), dir, name) {
            Ok(()) => Ok(true),
            // Someone made `name` meanwhile (a folder with files, a file, a link).
            Err(Errno::EXIST | Errno::NOTEMPTY | Errno::NOTDIR | Errno::ISDIR) => Ok(false),
            Err(e) => Err(e.into()),
        });
        if !matches!(published, Ok(true)) {
            remove_staging(dir, &staging, files);
        }
        published
    }

    fn fill_staging(dir: &OwnedFd, staging: &str, files: &[(&str, &[u8])]) -> std::io::Result<()> {
        let folder = open_dir(dir, staging, true)?;
        for (file, body) in files {
            let fd = openat(
                &folder,
                *file,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            )?;
            std::fs::File::from(fd).write_all(body)?;
        }
        Ok(())
    }

    fn remove_staging(dir: &OwnedFd, staging: &str, files: &[(&str, &[u8])]) {
        if let Ok(folder) = open_dir(dir, staging, true) {
            for (file, _) in files {
                let _ = unlinkat(&folder, *file, AtFlags::empty());
            }
        }
        let _ = unlinkat(dir, staging, AtFlags::REMOVEDIR);
    }

    pub fn write_replacing(dir: &OwnedFd, name: &str, body: &[u8]) -> std::io::Result<()> {
        plain_name(name)?;
        let pid = pid();
        let mut attempts = 0;
        let (tmp, fd) = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let tmp = format!(".{name}.{pid}-{n}.tmp");
            match openat(
                dir,
                tmp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            ) {
                Ok(fd) => break (tmp, fd),
                Err(Errno::EXIST) if attempts < 100 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        };
        let written = std::fs::File::from(fd).write_all(body);
        let renamed = written.and_then(|()| Ok(renameat(dir, tmp.as_str(), dir, name)?));
        if renamed.is_err() {
            let _ = unlinkat(dir, tmp.as_str(), AtFlags::empty());
        }
        renamed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_nested_files_and_replaces_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = Folder::open(dir.path()).unwrap();
        let child = root.create_child("a").unwrap();
        child.write_file("f.txt", b"first, longer text").unwrap();
        child.write_file("f.txt", b"second").unwrap();
        // Creating a folder that already exists opens it.
        let again = root.create_child("a").unwrap();
        assert_eq!(again.path(), dir.path().join("a"));
        assert_eq!(
            std::fs::read(dir.path().join("a/f.txt")).unwrap(),
            b"second"
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f.txt"]);
    }

    #[test]
    fn a_file_in_the_way_of_a_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        let root = Folder::open(dir.path()).unwrap();
        assert!(root.create_child("a").is_err());
    }

    #[test]
    fn opening_a_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Folder::open(&dir.path().join("missing")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn links_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim_dir = dir.path().join("victim-dir");
        std::fs::create_dir(&victim_dir).unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious\n").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim_dir, out.join("linked")).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("f.txt")).unwrap();
        let root = Folder::open(&out).unwrap();
        let e = root.create_child("linked").err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        root.write_file("f.txt", b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(std::fs::symlink_metadata(out.join("f.txt"))
            .unwrap()
            .is_file());
        assert!(std::fs::read_dir(&victim_dir).unwrap().next().is_none());
        // A link planted at the next temporary name is skipped, not followed.
        // (Other tests may take names meanwhile: the next 20 are all planted.)
        let n = unix_next();
        for k in n..n + 20 {
            std::os::unix::fs::symlink(
                &victim,
                out.join(format!(".g.txt.{}-{k}.tmp", std::process::id())),
            )
            .unwrap();
        }
        root.write_file("g.txt", b"g").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read(out.join("g.txt")).unwrap(), b"g");
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_child_folder_appears_whole_and_an_existing_one_is_updated() {
        let dir = tempfile::tempdir().unwrap();
        let root = Folder::open(dir.path()).unwrap();
        root.write_new_child("c", &[("a.txt", b"one"), ("b.txt", b"two")])
            .unwrap();
        assert_eq!(names(dir.path()), ["c"], "no staging folder is left");
        assert_eq!(names(&dir.path().join("c")), ["a.txt", "b.txt"]);
        // Again over the existing folder: files replaced, a stray file kept, nothing staged.
        std::fs::write(dir.path().join("c/keep.txt"), b"mine").unwrap();
        root.write_new_child("c", &[("a.txt", b"uno"), ("b.txt", b"dos")])
            .unwrap();
        assert_eq!(names(dir.path()), ["c"]);
        assert_eq!(names(&dir.path().join("c")), ["a.txt", "b.txt", "keep.txt"]);
        assert_eq!(std::fs::read(dir.path().join("c/a.txt")).unwrap(), b"uno");
        assert_eq!(std::fs::read(dir.path().join("c/b.txt")).unwrap(), b"dos");
        // A bad file name is refused before anything is created.
        assert!(root.write_new_child("d", &[("../x", b"no")]).is_err());
        assert_eq!(names(dir.path()), ["c"]);
    }

    #[test]
    fn a_file_in_the_way_of_a_new_child_is_an_error_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c"), b"x").unwrap();
        let root = Folder::open(dir.path()).unwrap();
        assert!(root.write_new_child("c", &[("a.txt", b"one")]).is_err());
        assert_eq!(std::fs::read(dir.path().join("c")).unwrap(), b"x");
        assert_eq!(names(dir.path()), ["c"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_child_is_never_written_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("c")).unwrap();
        let root = Folder::open(&out).unwrap();
        let e = root.write_new_child("c", &[("a.txt", b"one")]).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(names(&victim).is_empty());
        // Links planted at the next staging names are skipped, not followed.
        let n = unix_next();
        for k in n..n + 20 {
            std::os::unix::fs::symlink(
                &victim,
                out.join(format!(".d.{}-{k}.tmp", std::process::id())),
            )
            .unwrap();
        }
        root.write_new_child("d", &[("a.txt", b"one")]).unwrap();
        assert!(names(&victim).is_empty());
        assert_eq!(std::fs::read(out.join("d/a.txt")).unwrap(), b"one");
    }

    #[cfg(unix)]
    fn unix_next() -> u64 {
        unix::NEXT.load(std::sync::atomic::Ordering::Relaxed)
    }
}
