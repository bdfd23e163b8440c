//! An output folder that files and sub-folders are created in by name.
//!
//! On Unix the folder is held open and every creation is relative to that handle
//! (`mkdirat`/`openat`), so the kernel resolves one path component per file instead of the
//! whole output path again; on tmpfs that walk was about a fifth of the cost of creating a
//! prompt file. Elsewhere the same calls fall back to `std::fs` on joined paths.

use std::io;
use std::path::{Path, PathBuf};

pub struct Folder {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

impl Folder {
    /// Opens an existing folder.
    pub fn open(path: &Path) -> io::Result<Folder> {
        Ok(Folder {
            path: path.to_path_buf(),
            #[cfg(unix)]
            fd: unix::open_dir(rustix::fs::CWD, path)?,
        })
    }

    /// The folder's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the sub-folder `name` if it is missing, and opens it.
    pub fn create_child(&self, name: &str) -> io::Result<Folder> {
        let path = self.path.join(name);
        #[cfg(unix)]
        {
            unix::make_dir(&self.fd, name)?;
            let fd = unix::open_dir(&self.fd, name)?;
            Ok(Folder { path, fd })
        }
        #[cfg(not(unix))]
        {
            std::fs::create_dir_all(&path)?;
            Ok(Folder { path })
        }
    }

    /// Creates (or truncates) the file `name` and writes `body` to it.
    pub fn write_file(&self, name: &str, body: &[u8]) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::io::Write;
            let mut file = std::fs::File::from(unix::create_file(&self.fd, name)?);
            file.write_all(body)
        }
        #[cfg(not(unix))]
        {
            std::fs::write(self.path.join(name), body)
        }
    }
}

#[cfg(unix)]
mod unix {
    use rustix::fd::AsFd;
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    use rustix::io::Errno;
    use std::os::fd::OwnedFd;

    pub fn open_dir(at: impl AsFd, path: impl rustix::path::Arg) -> std::io::Result<OwnedFd> {
        Ok(openat(
            at,
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// `mkdir` that accepts an existing entry; opening it as a folder then tells a folder
    /// from a file of that name.
    pub fn make_dir(at: impl AsFd, name: &str) -> std::io::Result<()> {
        match mkdirat(at, name, Mode::from_raw_mode(0o777)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn create_file(at: impl AsFd, name: &str) -> std::io::Result<OwnedFd> {
        Ok(openat(
            at,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )?)
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
}
