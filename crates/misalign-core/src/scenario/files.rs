//! The files of a scenario source, held in memory: the built-in tree compiled into the
//! binary, or a template folder read once from disk.
//!
//! Text is decoded the way the reference framework's Python reads it (`open(path)` in text
//! mode): UTF-8, with universal newlines (`\r\n` and lone `\r` become `\n`). That matters
//! for byte-exact inboxes from folders edited on Windows.

use super::error::ScenarioError;
use include_dir::{include_dir, Dir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The built-in packs (`/scenarios` in the repository).
static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../scenarios");

/// Where a file tree came from; used to name files in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into the binary; shown as `scenarios/<path> (built-in)`.
    Builtin,
    /// A folder on disk; shown as the joined path.
    Dir(PathBuf),
}

/// Relative path (`/`-separated) -> file bytes.
#[derive(Clone, Debug)]
pub struct FileTree {
    pub origin: Origin,
    files: BTreeMap<String, Arc<[u8]>>,
}

impl FileTree {
    /// The built-in packs.
    pub fn builtin() -> FileTree {
        let mut files = BTreeMap::new();
        collect_builtin(&BUILTIN, &mut files);
        FileTree {
            origin: Origin::Builtin,
            files,
        }
    }

    /// Every file under `dir`, except hidden ones (`.git`, `.DS_Store`, editor swap files).
    pub fn read_dir(dir: &Path) -> Result<FileTree, ScenarioError> {
        let meta = std::fs::metadata(dir).map_err(|e| ScenarioError::Io {
            path: dir.display().to_string(),
            message: format!("{e}; --templates must name a folder of scenario packs"),
        })?;
        if !meta.is_dir() {
            return Err(ScenarioError::Io {
                path: dir.display().to_string(),
                message: "not a folder; --templates must name a folder of scenario packs".into(),
            });
        }
        let root = std::fs::canonicalize(dir).map_err(|e| ScenarioError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files = BTreeMap::new();
        walk(&root, dir, "", &mut files)?;
        Ok(FileTree {
            origin: Origin::Dir(dir.to_path_buf()),
            files,
        })
    }

    /// A tree from in-memory files (tests, fuzzing).
    pub fn from_files(origin: Origin, files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        FileTree {
            origin,
            files: files.into_iter().map(|(p, b)| (p, b.into())).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    pub fn bytes(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|b| &b[..])
    }

    /// All files, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, b)| (p.as_str(), &b[..]))
    }

    /// Files directly or indirectly under `prefix/`, sorted by path.
    pub fn under<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        self.files
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .map(|(p, b)| (p.as_str(), &b[..]))
    }

    /// Names of the top-level folders.
    pub fn top_dirs(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.split_once('/').map(|(d, _)| d.to_string()))
            .collect();
        out.dedup();
        out
    }

    /// How a file is named in messages.
    pub fn display(&self, path: &str) -> String {
        match &self.origin {
            Origin::Builtin => format!("scenarios/{path} (built-in)"),
            Origin::Dir(d) => d.join(path).display().to_string(),
        }
    }

    /// The file's text, decoded as Python's text mode would (UTF-8, universal newlines).
    pub fn text(&self, path: &str) -> Result<Option<String>, ScenarioError> {
        match self.files.get(path) {
            None => Ok(None),
            Some(b) => decode_text(b)
                .map(Some)
                .map_err(|valid_up_to| ScenarioError::NotUtf8 {
                    path: self.display(path),
                    byte: valid_up_to,
                }),
        }
    }
}

/// UTF-8 with universal newlines; on invalid UTF-8, the offset of the first bad byte.
pub fn decode_text(bytes: &[u8]) -> Result<String, usize> {
    let s = std::str::from_utf8(bytes).map_err(|e| e.valid_up_to())?;
    if !s.contains('\r') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn collect_builtin(dir: &Dir<'static>, out: &mut BTreeMap<String, Arc<[u8]>>) {
    for f in dir.files() {
        let path = f.path().to_string_lossy().replace('\\', "/");
        if !is_hidden(&path) {
            out.insert(path, Arc::from(f.contents()));
        }
    }
    for d in dir.dirs() {
        collect_builtin(d, out);
    }
}

fn is_hidden(path: &str) -> bool {
    path.split('/').any(|part| part.starts_with('.'))
}

/// Reads every file under `dir` (below the canonical `root`). Symlinks are followed only
/// while they stay inside `root`: a template folder may link shared files, but a folder
/// someone sent must not pull in files from elsewhere on the reader's machine (they would end
/// up in prompts sent to a provider), nor loop.
fn walk(
    root: &Path,
    dir: &Path,
    rel: &str,
    out: &mut BTreeMap<String, Arc<[u8]>>,
) -> Result<(), ScenarioError> {
    let io = |p: &Path, e: std::io::Error| ScenarioError::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel_path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let link = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        if link.file_type().is_symlink() {
            let target = std::fs::canonicalize(&path).map_err(|e| io(&path, e))?;
            let here = std::fs::canonicalize(dir).map_err(|e| io(dir, e))?;
            if !target.starts_with(root) {
                return Err(ScenarioError::Io {
                    path: path.display().to_string(),
                    message: "a symbolic link to a file outside the templates folder; copy the \
                              file into the folder instead"
                        .into(),
                });
            }
            if here.starts_with(&target) {
                return Err(ScenarioError::Io {
                    path: path.display().to_string(),
                    message: "a symbolic link to a folder that contains it (a loop); remove it"
                        .into(),
                });
            }
        }
        let meta = std::fs::metadata(&path).map_err(|e| io(&path, e))?;
        if meta.is_dir() {
            walk(root, &path, &rel_path, out)?;
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            out.insert(rel_path, bytes.into());
        } else {
            // A FIFO, socket or device: reading one could block for ever or never end, and
            // skipping it silently would run other texts than the folder seems to hold (a
            // FIFO named system_prompt_templates.py fell back to the built-in prompts).
            return Err(ScenarioError::Io {
                path: path.display().to_string(),
                message: "not a regular file (a FIFO, socket or device); a template folder \
                          holds plain files and folders only: replace it with a file or remove it"
                    .into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn symlinks_may_not_leave_the_templates_folder() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret.txt");
        std::fs::write(&secret, "not for prompts").unwrap();
        let t = d.path().join("templates");
        std::fs::create_dir_all(t.join("shared")).unwrap();
        std::fs::write(t.join("shared/a.md"), "shared").unwrap();
        std::fs::create_dir_all(t.join("pack")).unwrap();
        std::os::unix::fs::symlink(t.join("shared/a.md"), t.join("pack/a.md")).unwrap();
        let tree = FileTree::read_dir(&t).unwrap();
        assert_eq!(&*tree.files["pack/a.md"], b"shared");
        std::os::unix::fs::symlink(&secret, t.join("pack/b.md")).unwrap();
        let e = FileTree::read_dir(&t).unwrap_err().to_string();
        assert!(e.contains("outside the templates folder"), "{e}");
        std::fs::remove_file(t.join("pack/b.md")).unwrap();
        std::os::unix::fs::symlink(&t, t.join("pack/loop")).unwrap();
        let e = FileTree::read_dir(&t).unwrap_err().to_string();
        assert!(e.contains("loop"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_a_template_folder_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("templates");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("a.md"), "text").unwrap();
        assert!(FileTree::read_dir(&t).is_ok());
        let fifo = t.join("system_prompt_templates.py");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
        let t0 = std::time::Instant::now();
        let e = FileTree::read_dir(&t).unwrap_err().to_string();
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
        assert!(e.contains("system_prompt_templates.py"), "{e}");
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn universal_newlines() {
        assert_eq!(decode_text(b"a\r\nb\rc\n").unwrap(), "a\nb\nc\n");
        assert_eq!(decode_text(b"\r\r\n").unwrap(), "\n\n");
        assert_eq!(decode_text(b"ok\xff").unwrap_err(), 2);
    }

    #[test]
    fn under_lists_only_the_folder() {
        let t = FileTree::from_files(
            Origin::Builtin,
            [
                ("a/x.md".to_string(), vec![]),
                ("a/y/z.md".to_string(), vec![]),
                ("ab/x.md".to_string(), vec![]),
            ],
        );
        let got: Vec<_> = t.under("a").map(|(p, _)| p).collect();
        assert_eq!(got, vec!["a/x.md", "a/y/z.md"]);
        assert_eq!(t.top_dirs(), vec!["a", "ab"]);
    }
}
