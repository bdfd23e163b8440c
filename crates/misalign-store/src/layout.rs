//! The reference framework's results layout, the one place that knows it:
//! `OUT/models/<model>/<condition>/sample_NNN/response.json` (NNN from 001). The export
//! writes it, `misalign import` reads it, and the binary recognises it in a folder it is
//! handed.
//!
//! Folder names are injective functions of the model and condition ids ([`model_folder`],
//! [`condition_folder`]), safe on every file system.

/// The folder of a results folder that holds the tree.
pub const MODELS_DIR: &str = "models";
/// The file of one sample.
pub const RESPONSE_FILE: &str = "response.json";
/// What every sample folder's name starts with.
const SAMPLE_PREFIX: &str = "sample_";

/// Longest folder name written (file systems allow about 255 bytes; the rest is margin).
const MAX_FOLDER_NAME: usize = 200;

/// The folder of a model under `models/`: an injective function of the model id, so two
/// models never share a folder. ASCII letters, digits, `.` and `-` are kept, `/` becomes `_`
/// (`openai/gpt-4.1` -> `openai_gpt-4.1`, as the reference layout has it), and every other
/// byte, `_` and `%` included, is written as `%XX` (`mock/a_b` -> `mock_a%5Fb`).
pub fn model_folder(model: &str) -> String {
    folder_name(model, true)
}

/// The folder of a condition under a model's folder. Condition ids contain `_` but never
/// `/`, so `_` is kept and `/` is written as `%2F`; otherwise as [`model_folder`].
pub fn condition_folder(condition: &str) -> String {
    folder_name(condition, false)
}

fn folder_name(id: &str, slash_as_underscore: bool) -> String {
    let mut s = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        match b {
            b'/' if slash_as_underscore => s.push('_'),
            b'_' if !slash_as_underscore => s.push('_'),
            // A leading dot would hide the folder or make it `.` / `..`.
            b'.' if i == 0 => s.push_str("%2E"),
            b if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' => s.push(char::from(b)),
            b => s.push_str(&format!("%{b:02X}")),
        }
    }
    if s.is_empty() {
        // No other id encodes to a lone `%`.
        return "%".into();
    }
    if s.len() <= MAX_FOLDER_NAME {
        return s;
    }
    // Too long for a file system: a readable prefix plus a hash of the whole id. `~` never
    // occurs in a name that was not shortened.
    let mut cut = MAX_FOLDER_NAME - 18;
    while s[..cut].ends_with('%') || s[..cut - 1].ends_with('%') {
        cut -= 1;
    }
    let hash = misalign_core::hash::sha256_hex(id.as_bytes());
    format!("{}~{}", &s[..cut], &hash[..16])
}

/// Model names whose folders would coincide on a case-insensitive file system (macOS,
/// Windows), as `(a, b)` pairs; a plan with any is refused before a call is paid for.
pub fn folder_clashes<'a>(models: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut seen: std::collections::BTreeMap<String, &str> = Default::default();
    let mut clashes = Vec::new();
    for m in models {
        let key = model_folder(m).to_ascii_lowercase();
        match seen.get(&key) {
            Some(other) if *other != m => clashes.push((other.to_string(), m.to_string())),
            Some(_) => {}
            None => {
                seen.insert(key, m);
            }
        }
    }
    clashes
}

/// The folder of a sample's `response.json`, relative to the results folder.
pub(crate) type SamplePath = [String; 4];

pub(crate) fn sample_path(model: &str, condition: &str, sample_index: u32) -> SamplePath {
    [
        MODELS_DIR.to_string(),
        model_folder(model),
        condition_folder(condition),
        sample_dir(sample_index),
    ]
}

/// The `response.json` of a sample, relative to the results folder and with `/` between
/// folders (`models/<model>/<condition>/sample_NNN/response.json`): what exports cite as a
/// sample's transcript.
pub fn response_json_path(model: &str, condition: &str, sample_index: u32) -> String {
    let mut parts = sample_path(model, condition, sample_index).to_vec();
    parts.push(RESPONSE_FILE.into());
    parts.join("/")
}

/// `sample_NNN` of a 0-based sample index.
pub fn sample_dir(sample_index: u32) -> String {
    format!("{SAMPLE_PREFIX}{:03}", u64::from(sample_index) + 1)
}

/// The 0-based sample index of a `sample_NNN` folder name (`sample_007` -> 6); None for any
/// other name (`sample_000`, `sample_`, `sample_1a`, `sample_+1`).
pub fn sample_index(folder: &str) -> Option<u32> {
    let digits = folder.strip_prefix(SAMPLE_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok()?.checked_sub(1)
}

/// Whether a folder name has the shape of a sample folder at a glance (`sample_` and
/// anything): enough to tell a results tree from other folders without reading it.
pub fn looks_like_sample_dir(folder: &str) -> bool {
    folder.starts_with(SAMPLE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn folder_names_keep_common_ids_readable() {
        assert_eq!(
            model_folder("openrouter/x-ai/grok-4"),
            "openrouter_x-ai_grok-4"
        );
        assert_eq!(model_folder("local/smollm2-135m"), "local_smollm2-135m");
        assert_eq!(
            condition_folder("blackmail_explicit-america_replacement"),
            "blackmail_explicit-america_replacement"
        );
        assert_eq!(model_folder("a b:c\\d*é"), "a%20b%3Ac%5Cd%2A%C3%A9");
        assert_eq!(model_folder(".."), "%2E.");
        assert_eq!(model_folder(""), "%");
        assert_eq!(
            condition_folder("c$(touch x)/.."),
            "c%24%28touch%20x%29%2F.."
        );
        assert_eq!(sample_dir(0), "sample_001");
        assert_eq!(sample_dir(99), "sample_100");
        assert_eq!(sample_dir(999), "sample_1000");
    }

    #[test]
    fn folder_names_are_injective() {
        assert_ne!(model_folder("mock/a/b"), model_folder("mock/a_b"));
        assert_ne!(model_folder("a%2Fb"), model_folder("a/b"));
        assert_ne!(condition_folder("a/b"), condition_folder("a%2Fb"));
        let ids = [
            "a/b", "a_b", "a%5Fb", "a%b", "%", "", ".", "%2E", "_", "/", "a~b",
        ];
        let names: HashSet<String> = ids.iter().map(|i| model_folder(i)).collect();
        assert_eq!(names.len(), ids.len(), "{names:?}");
    }

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        let a = format!("mock/{}", "x".repeat(400));
        let b = format!("mock/{}y", "x".repeat(399));
        let (fa, fb) = (model_folder(&a), model_folder(&b));
        assert!(fa.len() <= MAX_FOLDER_NAME && fb.len() <= MAX_FOLDER_NAME);
        assert_ne!(fa, fb);
        assert!(fa.starts_with("mock_xxx") && fa.contains('~'));
        // A cut never splits a %XX escape.
        let c = "é".repeat(200);
        let fc = model_folder(&c);
        let prefix = fc.split('~').next().unwrap();
        assert!(prefix.len() % 6 == 0, "{fc}");
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(&fa)).unwrap();
    }

    #[test]
    fn case_clashes_are_found() {
        assert_eq!(
            folder_clashes(["mock/Model", "mock/model", "mock/other"]),
            vec![("mock/Model".to_string(), "mock/model".to_string())]
        );
        assert!(folder_clashes(["mock/a/b", "mock/a_b"]).is_empty());
    }

    #[test]
    fn sample_folder_names_read_back_to_their_index() {
        for i in [0, 6, 99, 999, 12_345] {
            assert_eq!(sample_index(&sample_dir(i)), Some(i));
        }
        for bad in [
            "sample_000",
            "sample_",
            "sample_1a",
            "sample-001",
            "sample_+1",
            "s_001",
        ] {
            assert_eq!(sample_index(bad), None, "{bad}");
        }
        assert!(looks_like_sample_dir("sample_001") && !looks_like_sample_dir("models"));
        assert_eq!(
            response_json_path("openai/gpt-4.1", "blackmail_none-none_none", 0),
            "models/openai_gpt-4.1/blackmail_none-none_none/sample_001/response.json"
        );
    }
}
