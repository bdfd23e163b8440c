//! Placeholder substitution (`$name`, `${name}`, `$$`) with the reference framework's
//! `safe_substitute` semantics, and a strict mode for our own packs.
