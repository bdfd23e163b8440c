//! Every file misalign writes into a results folder goes through here.
//!
//! A results folder is hostile input (it travels between people), so a write never opens
//! the final name: it creates a new, uniquely named temporary file in the same folder
//! (`O_EXCL`, so a planted symlink at a guessable name is never followed), syncs it, and
//! renames it over the target. A rename replaces a symlink at the final name instead of
//! following it, and a reader or a `kill -9` sees either the old file or the new one,
//! never a truncated one. Folders are created one component at a time and a symlink in
//! place of a folder is refused, so nothing is written outside the results folder.

use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

/// A file being written: a uniquely named temporary in the target's folder until
/// [`AtomicFile::commit`] renames it over the target. Dropped without a commit, it is removed
/// and the target is untouched.
pub struct AtomicFile {
    out: BufWriter<tempfile::NamedTempFile>,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `dir/name`. `dir` must exist (a folder the user named, or one made by
    /// [`create_dirs_under`]); `name` must be a single plain path component.
    pub fn create(dir: &Path, name: &str) -> io::Result<AtomicFile> {
        check_plain_name(name)?;
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // A temp file is private (0600) by default; the file it becomes is an ordinary
        // output, readable as any file the user creates (0666 less the umask, as `open` does).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder.tempfile_in(dir)?;
        Ok(AtomicFile {
            out: BufWriter::with_capacity(1 << 20, tmp),
            target: dir.join(name),
        })
    }

    /// Starts writing `path` (its folder and file name as in [`AtomicFile::create`]).
    pub fn create_at(path: &Path) -> io::Result<AtomicFile> {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} has no file name", path.display()),
            )
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        AtomicFile::create(dir, name)
    }

    /// Flushes, syncs to disk and renames the file over its target.
    pub fn commit(self) -> io::Result<()> {
        let tmp = self.out.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes `dir/name` atomically with whatever `fill` writes (see [`AtomicFile`]).
pub fn write_atomically<F>(dir: &Path, name: &str, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut file = AtomicFile::create(dir, name)?;
    fill(&mut file)?;
    file.commit()
}

/// [`write_atomically`] of a byte string.
pub fn write_bytes_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    write_atomically(dir, name, |w| w.write_all(bytes))
}

/// Creates `root/rel` (every component of `rel` a plain name) one folder at a time and
/// returns it, refusing a component that exists as a symlink or as anything but a folder.
/// `root` is the folder the user named and is taken as it is.
pub fn create_dirs_under(root: &Path, rel: &[&str]) -> io::Result<PathBuf> {
    let mut path = root.to_path_buf();
    for part in rel {
        check_plain_name(part)?;
        path.push(part);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => refuse_symlinked_dir(&path)?,
            Err(e) => return Err(e),
        }
    }
    Ok(path)
}

fn check_plain_name(name: &str) -> io::Result<()> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) if !name.contains('/') => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a plain file name"),
        )),
    }
}

/// Refuses `dir` when it is a symlink or not a folder (it is not followed: a symlink inside
/// a results folder could point anywhere on the reader's machine).
fn refuse_symlinked_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; misalign does not write through links in a results folder (remove it)",
                dir.display()
            ),
        ));
    }
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a folder", dir.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_final_name_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("summary.csv")).unwrap();
        write_bytes_atomically(&out, "summary.csv", b"a,b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let meta = std::fs::symlink_metadata(out.join("summary.csv")).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(std::fs::read(out.join("summary.csv")).unwrap(), b"a,b\n");
        assert!(leftovers(&out).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_at_the_old_temporary_name_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join(".response.json.tmp")).unwrap();
        write_bytes_atomically(&out, "response.json", b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read(out.join("response.json")).unwrap(), b"{}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_folders_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("models")).unwrap();
        let e = create_dirs_under(&out, &["models", "m", "c"]).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        write_bytes_atomically(d.path(), "report.html", b"old").unwrap();
        let e = write_atomically(d.path(), "report.html", |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(std::fs::read(d.path().join("report.html")).unwrap(), b"old");
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn names_must_be_plain() {
        let d = tempfile::tempdir().unwrap();
        for bad in ["../x", "a/b", "..", ".", ""] {
            assert!(write_bytes_atomically(d.path(), bad, b"").is_err(), "{bad}");
        }
        assert!(create_dirs_under(d.path(), &["ok", ".."]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_written_file_gets_the_mode_of_any_file_the_user_creates() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        write_bytes_atomically(d.path(), "summary.csv", b"x").unwrap();
        std::fs::File::create(d.path().join("plain")).unwrap();
        let mode = |n: &str| {
            std::fs::metadata(d.path().join(n))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        // Not the temp file's private 0600: a report is shared like any other output.
        assert_eq!(mode("summary.csv"), mode("plain"));
    }
}
