//! Per-sample seeds. Sample i of a condition must depend only on the request's seed, the
//! prompt and the sample's discriminator, never on the order in which requests arrive or
//! which other requests share its batch.

use sha2::{Digest, Sha256};

/// A stable key of one prompt (system + user), used to count its samples and to group
/// requests that can share one prefill.
pub fn prompt_key(system: &str, user: &str) -> [u8; 32] {
    prompt_key_with_turns(system, &[], user)
}

/// [`prompt_key`] of a prompt with prior turns. Without turns it is exactly
/// `prompt_key(system, user)`, so those prompts keep their seeds.
pub fn prompt_key_with_turns(
    system: &str,
    turns: &[misalign_models::Turn],
    user: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    // Length prefixes keep ("ab","c") and ("a","bc") apart.
    h.update((system.len() as u64).to_le_bytes());
    h.update(system.as_bytes());
    h.update((user.len() as u64).to_le_bytes());
    h.update(user.as_bytes());
    for t in turns {
        h.update(t.role.as_str().as_bytes());
        h.update((t.text.len() as u64).to_le_bytes());
        h.update(t.text.as_bytes());
    }
    h.finalize().into()
}

/// The sampler seed of one sample: mixes the request seed, the prompt and the sample's
/// discriminator (its index within the condition).
pub fn sample_seed(seed: u64, prompt: &[u8; 32], discriminator: u64) -> u32 {
    let mut h = Sha256::new();
    h.update(b"misalign-local-sample-seed-v1");
    h.update(seed.to_le_bytes());
    h.update(prompt);
    h.update(discriminator.to_le_bytes());
    let d = h.finalize();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_separate_inputs() {
        let k = prompt_key("sys", "user");
        assert_eq!(sample_seed(7, &k, 0), sample_seed(7, &k, 0));
        assert_ne!(sample_seed(7, &k, 0), sample_seed(7, &k, 1));
        assert_ne!(sample_seed(7, &k, 0), sample_seed(8, &k, 0));
        assert_ne!(
            sample_seed(7, &k, 0),
            sample_seed(7, &prompt_key("sys", "user2"), 0)
        );
        assert_ne!(prompt_key("ab", "c"), prompt_key("a", "bc"));
    }

    #[test]
    fn turns_change_the_key_and_no_turns_keep_it() {
        use misalign_models::{Speaker, Turn};
        let k = prompt_key("sys", "user");
        assert_eq!(prompt_key_with_turns("sys", &[], "user"), k);
        let turns = [
            Turn::new(Speaker::User, "a"),
            Turn::new(Speaker::Assistant, "b"),
        ];
        let t = prompt_key_with_turns("sys", &turns, "user");
        assert_ne!(t, k);
        let other = [
            Turn::new(Speaker::User, "ab"),
            Turn::new(Speaker::Assistant, ""),
        ];
        assert_ne!(prompt_key_with_turns("sys", &other, "user"), t);
    }
}
