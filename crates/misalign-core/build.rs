//! Rebuild when the built-in scenario packs change: `include_dir!` cannot tell cargo on
//! stable Rust which files it read, so without this an edited pack would not be recompiled.

fn main() {
    println!("cargo:rerun-if-changed=../../scenarios");
}
