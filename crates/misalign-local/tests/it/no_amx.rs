//! AMX stays out of llama.cpp even when a build targets a CPU that has it (docs/local-model.md).
//!
//! The project's machines may have no AMX, so this compiles llama.cpp's own AMX sources (the
//! copy llama-cpp-sys-2 vendors) for `-march=sapphirerapids`, what `-march=native` gives on a
//! Sapphire Rapids Xeon, with the C++ flags `.cargo/config.toml` hands llama.cpp's compiler:
//! no AMX kernel may come out. The same sources without those flags must give the kernels,
//! or the check proves nothing.
#![cfg(all(feature = "llama", target_arch = "x86_64"))]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's `.cargo/config.toml` value of `key` (a one-line string).
fn config_value(key: &str) -> String {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cargo/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("{key} is not set in {}", config.display()))
}

/// The vendored llama.cpp of the llama-cpp-sys-2 version Cargo.lock pins.
fn vendored_ggml() -> PathBuf {
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"))
            .unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"llama-cpp-sys-2\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .expect("llama-cpp-sys-2 in Cargo.lock");
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let registry = home.join("registry/src");
    for index in std::fs::read_dir(&registry).unwrap() {
        let dir = index
            .unwrap()
            .path()
            .join(format!("llama-cpp-sys-2-{version}/llama.cpp/ggml"));
        if dir.is_dir() {
            return dir;
        }
    }
    panic!(
        "llama-cpp-sys-2 {version} is not unpacked under {}",
        registry.display()
    );
}

/// Compiles the AMX sources with `flags` and counts the AMX kernel symbols.
fn amx_symbols(ggml: &Path, flags: &[String]) -> usize {
    let out = tempfile::tempdir().unwrap();
    let mut symbols = 0;
    for src in ["amx.cpp", "mmq.cpp"] {
        let obj = out.path().join(format!("{src}.o"));
        let cc = Command::new("c++")
            .args(["-std=c++17", "-O0", "-march=sapphirerapids"])
            .args(flags)
            .arg(format!("-I{}", ggml.join("include").display()))
            .arg(format!("-I{}", ggml.join("src").display()))
            .arg(format!("-I{}", ggml.join("src/ggml-cpu").display()))
            .arg("-c")
            .arg(ggml.join("src/ggml-cpu/amx").join(src))
            .arg("-o")
            .arg(&obj)
            .output()
            .expect("c++ (scripts/setup.sh installs g++)");
        assert!(
            cc.status.success(),
            "{}",
            String::from_utf8_lossy(&cc.stderr)
        );
        let nm = Command::new("nm").arg("-C").arg(&obj).output().expect("nm");
        symbols += String::from_utf8_lossy(&nm.stdout)
            .lines()
            .filter(|l| l.contains("ggml_backend_amx") || l.contains("amx::"))
            .count();
    }
    symbols
}

#[test]
fn an_amx_target_gets_no_amx_kernels_with_the_configured_flags() {
    let ggml = vendored_ggml();
    let flags: Vec<String> = config_value("CXXFLAGS_x86_64_unknown_linux_gnu")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(
        flags.iter().any(|f| f == "-mno-amx-int8"),
        "the config must keep AMX out: {flags:?}"
    );
    let without = amx_symbols(&ggml, &[]);
    assert!(
        without > 10,
        "the check is void: {without} AMX symbols without the flags"
    );
    assert_eq!(
        amx_symbols(&ggml, &flags),
        0,
        "AMX kernels compiled despite {flags:?}"
    );
}
