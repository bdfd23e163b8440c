//! What the CPU can do and what this build of llama.cpp needs from it.
//!
//! llama.cpp is compiled for a fixed set of SIMD extensions (`.cargo/config.toml`: AVX2, FMA,
//! F16C and BMI2 by default, never AMX). A CPU without one of them would stop the engine with
//! SIGILL at the first matrix multiply, so the engine checks first and refuses with a message
//! instead; `misalign doctor` prints the same facts for a person. Reading `/proc/cpuinfo`
//! (rather than `is_x86_feature_detected!`) also covers the AMX flags and gives the model name
//! that timing notes must carry.

use std::collections::BTreeSet;

/// The CPU flags that matter to llama.cpp's CPU kernels, in the order `doctor` prints them
/// (names as `/proc/cpuinfo` spells them).
pub const RELEVANT_FLAGS: &[&str] = &[
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512vbmi",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
];

/// The processor as the kernel describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuInfo {
    /// `model name` of the first processor (e.g. "Intel(R) Xeon(R) Platinum 8480+").
    pub model: Option<String>,
    /// Every flag the first processor lists.
    pub flags: BTreeSet<String>,
    /// Logical CPUs this process may run on.
    pub logical_cpus: usize,
}

impl CpuInfo {
    /// Reads `/proc/cpuinfo`; on other systems (or when it cannot be read) only the CPU count
    /// is known, and [`CpuInfo::missing`] reports nothing.
    pub fn detect() -> CpuInfo {
        let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let mut info = CpuInfo::parse(&text);
        info.logical_cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        info
    }

    /// Reads the first processor's `model name` and `flags` lines of a `/proc/cpuinfo` text.
    pub fn parse(cpuinfo: &str) -> CpuInfo {
        let mut info = CpuInfo::default();
        for line in cpuinfo.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim() {
                "model name" if info.model.is_none() => info.model = Some(value.trim().into()),
                "flags" if info.flags.is_empty() => {
                    info.flags = value.split_whitespace().map(str::to_string).collect();
                }
                _ => {}
            }
        }
        info
    }

    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(flag)
    }

    /// True when the kernel listed the CPU's flags at all (x86 Linux).
    pub fn known(&self) -> bool {
        !self.flags.is_empty()
    }

    /// The flags among `needed` this CPU lacks (empty when its flags are unknown: then the
    /// engine's process isolation is what catches an illegal instruction).
    pub fn missing<'a>(&self, needed: &[&'a str]) -> Vec<&'a str> {
        if !self.known() {
            return Vec::new();
        }
        needed.iter().copied().filter(|f| !self.has(f)).collect()
    }

    /// True when the CPU has Intel's AMX tiles (Sapphire Rapids and later Xeons).
    pub fn has_amx(&self) -> bool {
        self.has("amx_tile") || self.has("amx_int8")
    }
}

/// The CPU flags this build's llama.cpp was compiled to use, so every CPU that runs it must
/// have them: the `GGML_*` switches `.cargo/config.toml` sets (seen here at compile time
/// through cargo's `[env]`), plus whatever `-C target-cpu` gave this crate (a native build
/// compiles llama.cpp with `-march=native`, and this crate with the same features).
pub fn required_by_build() -> Vec<&'static str> {
    let mut need = Vec::new();
    let on = |v: Option<&str>| v.is_some_and(|v| v.eq_ignore_ascii_case("on"));
    let pairs: [(&str, bool); 6] = [
        (
            "sse4_2",
            on(option_env!("GGML_SSE42")) || cfg!(target_feature = "sse4.2"),
        ),
        (
            "avx",
            on(option_env!("GGML_AVX")) || cfg!(target_feature = "avx"),
        ),
        (
            "avx2",
            on(option_env!("GGML_AVX2")) || cfg!(target_feature = "avx2"),
        ),
        (
            "fma",
            on(option_env!("GGML_FMA")) || cfg!(target_feature = "fma"),
        ),
        (
            "f16c",
            on(option_env!("GGML_F16C")) || cfg!(target_feature = "f16c"),
        ),
        (
            "bmi2",
            on(option_env!("GGML_BMI2")) || cfg!(target_feature = "bmi2"),
        ),
    ];
    if cfg!(target_arch = "x86_64") {
        for (flag, needed) in pairs {
            if needed {
                need.push(flag);
            }
        }
        if cfg!(target_feature = "avx512f") || on(option_env!("GGML_AVX512")) {
            need.push("avx512f");
        }
    }
    need
}

/// How this binary was built for the CPU, in words for `doctor` and the docs.
pub fn build_kind() -> &'static str {
    if cfg!(target_feature = "avx512f") {
        "native (-C target-cpu with AVX-512; runs only on CPUs with the same extensions)"
    } else if cfg!(target_feature = "avx2") {
        "native or x86-64-v3 (-C target-cpu with AVX2)"
    } else {
        "portable (x86-64 baseline for Rust; llama.cpp for AVX2 + FMA + F16C + BMI2, no AMX)"
    }
}

/// Why this CPU cannot run this build's llama.cpp, or `None` when it can.
pub fn unsupported_reason(cpu: &CpuInfo) -> Option<String> {
    let missing = cpu.missing(&required_by_build());
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "this CPU ({}) lacks {} that this build's llama.cpp was compiled for, so the embedded \
         engine would stop on an illegal instruction; build misalign on a machine without \
         those switches (e.g. `GGML_AVX2=OFF GGML_FMA=OFF GGML_F16C=OFF GGML_BMI2=OFF cargo \
         build --release`, docs/local-model.md) or use a hosted or OpenAI-compatible model",
        cpu.model.as_deref().unwrap_or("unknown model"),
        missing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XEON: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) \
        Xeon(R) Platinum 8480+\nflags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f \
        avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\nmodel name\t: \
        other\nflags\t\t: fpu\n";

    #[test]
    fn reads_the_first_processor() {
        let cpu = CpuInfo::parse(XEON);
        assert_eq!(
            cpu.model.as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8480+")
        );
        assert!(cpu.has("amx_int8") && cpu.has("avx2") && cpu.has_amx());
        assert!(!cpu.has("fpu ") && cpu.has("fpu"));
        assert!(cpu.missing(&["avx2", "fma"]).is_empty());
        assert_eq!(cpu.missing(&["avx2", "avx512vbmi"]), vec!["avx512vbmi"]);
    }

    #[test]
    fn an_old_cpu_is_refused_with_what_it_lacks() {
        let old = CpuInfo::parse("model name : Old Opteron\nflags : fpu sse2 sse4_2 avx\n");
        assert!(!old.has_amx());
        let need = required_by_build();
        if need.contains(&"avx2") {
            let why = unsupported_reason(&old).expect("an AVX-only CPU cannot run this build");
            assert!(why.contains("Old Opteron") && why.contains("avx2"), "{why}");
        }
        // Unknown flags (no /proc/cpuinfo): nothing can be said, nothing is refused.
        assert_eq!(unsupported_reason(&CpuInfo::default()), None);
    }

    #[test]
    fn the_default_build_needs_avx2_and_never_native() {
        // `.cargo/config.toml` is part of the build: a change there shows up here.
        if cfg!(target_arch = "x86_64") && option_env!("GGML_AVX2").is_some() {
            let need = required_by_build();
            for f in ["avx2", "fma", "f16c", "bmi2"] {
                assert!(need.contains(&f), "{need:?}");
            }
        }
    }
}
