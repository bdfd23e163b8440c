//! The local model cache: one `<name>.gguf` per model in `$MISALIGN_HOME`
//! (default `~/.cache/misalign/models`). Runs only ever read it, so they work offline.

use crate::catalog::{self, KnownModel};
use crate::error::LocalError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Environment variable naming the cache folder.
pub const HOME_ENV: &str = "MISALIGN_HOME";

/// A folder of GGUF files named by model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCache {
    root: PathBuf,
}

/// One cached file as `misalign models list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    /// `Some(true)` when a fetchable model matches its pinned SHA-256, `Some(false)` when it
    /// does not, `None` for files we have no pinned digest for (user-supplied GGUFs).
    pub sha_ok: Option<bool>,
}

impl ModelCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelCache { root: root.into() }
    }

    /// `$MISALIGN_HOME`, else `$XDG_CACHE_HOME/misalign/models`, else `~/.cache/misalign/models`.
    pub fn from_env() -> Self {
        Self::new(default_root(
            std::env::var_os(HOME_ENV),
            std::env::var_os("XDG_CACHE_HOME"),
            std::env::var_os("HOME"),
        ))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where model `name` lives (whether or not it is there).
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.gguf"))
    }

    /// The cached GGUF of `name`, or an error saying how to fetch it. Only checks that the
    /// file exists and has the pinned size (hashing happens at fetch and in `list`).
    pub fn locate(&self, name: &str) -> Result<PathBuf, LocalError> {
        check_name(name)?;
        let path = self.path_of(name);
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ if catalog::known(name).is_none() => {
                return Err(LocalError::NotFetchable {
                    name: name.to_string(),
                    cache: self.root.clone(),
                    known: known_names(),
                    hint: fetch_hint(name),
                })
            }
            _ => {
                return Err(LocalError::NotCached {
                    name: name.to_string(),
                    cache: self.root.clone(),
                })
            }
        };
        if let Some(known) = catalog::known(name) {
            if meta.len() != known.size {
                return Err(LocalError::Io {
                    path,
                    what: format!(
                        "has {} bytes, expected {}: the file is incomplete or replaced; delete it \
                         and run `misalign models fetch {name}`",
                        meta.len(),
                        known.size
                    ),
                });
            }
        }
        Ok(path)
    }

    /// Every `*.gguf` in the cache, sorted by name, with fetchable models verified.
    pub fn list(&self) -> Result<Vec<CacheEntry>, LocalError> {
        let dir = match std::fs::read_dir(&self.root) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LocalError::io(&self.root, e)),
        };
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| LocalError::io(&self.root, e))?;
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".gguf"))
                .map(str::to_string)
            else {
                continue;
            };
            let meta = entry.metadata().map_err(|e| LocalError::io(&path, e))?;
            if !meta.is_file() {
                continue;
            }
            let sha_ok = match catalog::known(&name) {
                Some(k) => Some(meta.len() == k.size && sha256_file(&path)? == k.sha256),
                None => None,
            };
            out.push(CacheEntry {
                name,
                path,
                size: meta.len(),
                sha_ok,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// True when `model` is cached with its pinned size and digest.
    pub fn is_verified(&self, model: &KnownModel) -> Result<bool, LocalError> {
        let path = self.path_of(model.name);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() == model.size => {
                Ok(sha256_file(&path)? == model.sha256)
            }
            Ok(_) => Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(LocalError::io(&path, e)),
        }
    }
}

fn default_root(
    misalign_home: Option<std::ffi::OsString>,
    xdg_cache: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    let non_empty = |v: Option<std::ffi::OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(p) = non_empty(misalign_home) {
        return p;
    }
    if let Some(p) = non_empty(xdg_cache) {
        return p.join("misalign").join("models");
    }
    non_empty(home)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache")
        .join("misalign")
        .join("models")
}

/// Cache names become file names: keep them to a safe alphabet.
/// "; did you mean `<known>`? fetch it with `misalign models fetch <known>`" for the
/// fetchable model closest to `name`, or "" when none is close.
fn fetch_hint(name: &str) -> String {
    let known: Vec<&str> = catalog::KNOWN.iter().map(|m| m.name).collect();
    match misalign_core::config::suggest(name, &known) {
        Some(k) => format!("; did you mean `{k}`? fetch it with `misalign models fetch {k}`"),
        None => String::new(),
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), LocalError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LocalError::UnknownModel {
            name: name.to_string(),
            known: known_names(),
        })
    }
}

pub(crate) fn known_names() -> String {
    catalog::KNOWN
        .iter()
        .map(|m| format!("`{}`", m.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, LocalError> {
    let file = File::open(path).map_err(|e| LocalError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| LocalError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks the `GGUF` magic so a wrong path fails with a clear message, not deep in llama.cpp.
pub fn check_gguf(path: &Path) -> Result<(), LocalError> {
    let mut magic = [0u8; 4];
    let mut file = File::open(path).map_err(|e| LocalError::io(path, e))?;
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == b"GGUF" => Ok(()),
        _ => Err(LocalError::NotGguf {
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_precedence() {
        let s = |v: &str| Some(std::ffi::OsString::from(v));
        assert_eq!(default_root(s("/m"), s("/x"), s("/h")), PathBuf::from("/m"));
        assert_eq!(
            default_root(s(""), s("/x"), s("/h")),
            PathBuf::from("/x/misalign/models")
        );
        assert_eq!(
            default_root(None, None, s("/h")),
            PathBuf::from("/h/.cache/misalign/models")
        );
    }

    #[test]
    fn missing_model_says_how_to_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        let err = cache
            .locate("smollm2-135m-instruct")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("misalign models fetch smollm2-135m-instruct"),
            "{err}"
        );
        assert!(cache.list().unwrap().is_empty());
        assert!(cache.locate("../etc/passwd").is_err());
    }

    #[test]
    fn a_near_miss_name_gets_a_runnable_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        let err = cache.locate("smollm2-135m").unwrap_err().to_string();
        assert!(
            err.contains("did you mean `smollm2-135m-instruct`? fetch it with `misalign models fetch smollm2-135m-instruct`"),
            "{err}"
        );
        // Never the unrunnable `misalign models fetch smollm2-135m`.
        assert!(!err.contains("fetch smollm2-135m`"), "{err}");
        let err = cache.locate("llama-70b").unwrap_err().to_string();
        assert!(!err.contains("did you mean"), "{err}");
        assert!(err.contains("model_path"), "{err}");
        // A GGUF the user put in the cache by hand is found whatever its name.
        std::fs::write(cache.path_of("smollm2-135m"), b"GGUF").unwrap();
        assert!(cache.locate("smollm2-135m").is_ok());
    }

    #[test]
    fn list_verifies_known_models_and_reports_others() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        std::fs::write(cache.path_of("mine"), b"GGUF....").unwrap();
        std::fs::write(cache.path_of("smollm2-135m-instruct"), b"GGUF truncated").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let list = cache.list().unwrap();
        let names: Vec<_> = list.iter().map(|e| (e.name.as_str(), e.sha_ok)).collect();
        assert_eq!(
            names,
            [("mine", None), ("smollm2-135m-instruct", Some(false))]
        );
        // A truncated known model is refused with the sizes.
        let err = cache
            .locate("smollm2-135m-instruct")
            .unwrap_err()
            .to_string();
        assert!(err.contains("98362432"), "{err}");
        assert!(cache.locate("mine").is_ok());
        check_gguf(&cache.path_of("mine")).unwrap();
        assert!(check_gguf(&dir.path().join("notes.txt")).is_err());
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
