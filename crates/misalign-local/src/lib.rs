//! The embedded local model of `misalign`: GGUF models run in-process through llama.cpp
//! (the `llama-cpp-2` crate), and the local model cache (`$MISALIGN_HOME`, default
//! `~/.cache/misalign/models`).
//!
//! All samples of one condition share the same prompt, so the prompt is processed once and
//! the samples are generated from copies of that state.
