//! Content hashes that give prompts and work items their identity.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of the given parts, each length-prefixed so that part boundaries matter.
pub fn sha256_parts(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Hex SHA-256 of one byte string.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
