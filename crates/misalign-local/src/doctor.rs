//! `misalign doctor`: what a person needs to know before trusting the embedded engine on a
//! machine (and what a bug report about it should carry): the CPU and its relevant
//! extensions, what this build's llama.cpp was compiled for, which kernel path it takes, the
//! thread count, and whether this CPU can run it at all.

use crate::cpu::{self, CpuInfo};
use crate::settings::EngineSettings;
use std::fmt;

/// The facts `doctor` prints.
#[derive(Clone, Debug)]
pub struct Doctor {
    pub cpu: CpuInfo,
    /// Whether this build has the embedded engine at all.
    pub engine_built: bool,
    /// llama.cpp's system-info line, when the engine is built and this CPU can run it.
    pub llama_system_info: Option<String>,
    /// Why this CPU cannot run the engine, if it cannot.
    pub refusal: Option<String>,
    /// The default thread count of a local provider.
    pub threads: u32,
}

impl Doctor {
    pub fn examine() -> Doctor {
        let cpu = CpuInfo::detect();
        let mut refusal = cpu::unsupported_reason(&cpu);
        let llama_system_info = if cfg!(feature = "llama") && refusal.is_none() {
            system_info()
        } else {
            None
        };
        if refusal.is_none()
            && cpu.has_amx()
            && llama_system_info
                .as_deref()
                .is_some_and(|s| s.contains("AMX_INT8 = 1"))
        {
            refusal = Some(
                "this build compiled llama.cpp's AMX kernels and this CPU has AMX: the engine \
                 refuses to load (llama.cpp issue 20824); rebuild without target-cpu=native"
                    .into(),
            );
        }
        Doctor {
            cpu,
            engine_built: cfg!(feature = "llama"),
            llama_system_info,
            refusal,
            threads: EngineSettings::default().thread_count(),
        }
    }

    /// True when the embedded engine can run here.
    pub fn ok(&self) -> bool {
        self.engine_built && self.refusal.is_none()
    }

    /// The kernel path llama.cpp takes for matrix multiplies, in words.
    pub fn kernel_path(&self) -> String {
        let Some(info) = &self.llama_system_info else {
            return "unknown (the engine is not built or cannot run here)".into();
        };
        let on = |k: &str| info.contains(&format!("{k} = 1"));
        let simd = if on("AVX512") {
            "AVX-512"
        } else if on("AVX2") {
            "AVX2"
        } else if on("AVX") {
            "AVX"
        } else if on("SSE3") {
            "SSE"
        } else {
            "scalar or non-x86 SIMD"
        };
        let amx = if on("AMX_INT8") {
            "AMX kernels compiled in"
        } else {
            "no AMX kernels (never compiled)"
        };
        let repack = if on("REPACK") {
            ", weight repacking for Q4_0/Q4_K/IQ4_NL/Q8_0"
        } else {
            ""
        };
        format!("ggml CPU backend, {simd} kernels{repack}, {amx}")
    }
}

#[cfg(feature = "llama")]
fn system_info() -> Option<String> {
    Some(crate::engine::system_info())
}

#[cfg(not(feature = "llama"))]
fn system_info() -> Option<String> {
    None
}

impl fmt::Display for Doctor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = |b: bool| if b { "yes" } else { "no" };
        writeln!(
            f,
            "CPU:        {} ({} logical CPUs available)",
            self.cpu.model.as_deref().unwrap_or("unknown model"),
            self.cpu.logical_cpus
        )?;
        if self.cpu.known() {
            let flags: Vec<String> = cpu::RELEVANT_FLAGS
                .iter()
                .map(|fl| format!("{fl} {}", yes(self.cpu.has(fl))))
                .collect();
            for chunk in flags.chunks(6) {
                writeln!(f, "            {}", chunk.join(", "))?;
            }
        } else {
            writeln!(f, "            (CPU flags unknown: no /proc/cpuinfo)")?;
        }
        writeln!(f, "build:      {}", cpu::build_kind())?;
        let need = cpu::required_by_build();
        writeln!(
            f,
            "needs:      {}",
            if need.is_empty() {
                "nothing beyond the target's baseline".to_string()
            } else {
                need.join(", ")
            }
        )?;
        if !self.engine_built {
            writeln!(
                f,
                "engine:     not in this build (built with --no-default-features)"
            )?;
            return Ok(());
        }
        if let Some(info) = &self.llama_system_info {
            writeln!(f, "llama.cpp:  {info}")?;
        }
        writeln!(f, "path:       {}", self.kernel_path())?;
        writeln!(
            f,
            "isolation:  each local model runs in a runner process of its own \
             (`misalign __misalign-engine`): a native crash fails the calls in flight, not the run"
        )?;
        writeln!(
            f,
            "threads:    {} by default (all available CPUs; set `threads:` on the local provider)",
            self.threads
        )?;
        match &self.refusal {
            None => writeln!(f, "verdict:    OK, the embedded engine can run on this CPU"),
            Some(why) => writeln!(f, "verdict:    NOT OK: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_every_fact_and_the_verdict() {
        let d = Doctor {
            cpu: CpuInfo::parse(
                "model name : Test Xeon\nflags : sse4_2 avx avx2 fma f16c bmi2 amx_tile amx_int8\n",
            ),
            engine_built: true,
            llama_system_info: Some("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | REPACK = 1 |".into()),
            refusal: None,
            threads: 2,
        };
        let text = d.to_string();
        for part in [
            "Test Xeon",
            "amx_int8 yes",
            "avx512f no",
            "AVX2 kernels",
            "no AMX kernels",
            "threads:    2",
            "verdict:    OK",
        ] {
            assert!(text.contains(part), "{part}:\n{text}");
        }
        let bad = Doctor {
            refusal: Some("lacks avx2".into()),
            ..d
        };
        assert!(!bad.ok() && bad.to_string().contains("NOT OK: lacks avx2"));
    }
}
