//! Deterministic per-scenario harm detectors driven by `facts.yaml`.
