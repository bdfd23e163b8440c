//! The `.env` file (experiment files are read by `misalign_run::experiment`, the one loader),
//! and where each provider variable came from.
//!
//! Which `.env` is read, in order:
//! 1. `--env-file PATH` (on `run` and `classify`), else `MISALIGN_ENV_FILE=PATH`: exactly
//!    that file, which must exist.
//! 2. Else `.env` in the current folder, and only there: never a parent's. And not even
//!    that one when the current folder is, or is inside, a folder someone may have handed
//!    over (a results folder, an import tree, a template folder; [`handed_folder`]): a
//!    `.env` there could point the user's keys at someone else's server. It is skipped with
//!    a note that says how to read it anyway.
//!
//! Variables already set in the process environment win over the file (dotenvy's rule).

use crate::say::note;
use anyhow::bail;
use misalign_store::layout::{looks_like_sample_dir, MODELS_DIR};
use misalign_store::untrusted::terminal_safe;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The variable that names the `.env` file to read, like `--env-file`.
pub const ENV_FILE_VAR: &str = "MISALIGN_ENV_FILE";

/// `--env-file PATH`, for the commands that call models.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EnvFileArg {
    /// Read API keys and provider variables from this file instead of `./.env` (also:
    /// MISALIGN_ENV_FILE). Without either, only `.env` in the current folder is read, and
    /// not when that folder is a results folder, an import tree or a template folder.
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

/// Variables that the `.env` file (not the process environment) set, with the file.
fn origins() -> &'static Mutex<BTreeMap<String, PathBuf>> {
    static ORIGINS: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    ORIGINS.get_or_init(Default::default)
}

/// Where variable `var` came from, for messages: the `.env` file that set it, else the
/// process environment.
pub fn origin(var: &str) -> String {
    match origins().lock().unwrap_or_else(|e| e.into_inner()).get(var) {
        Some(file) => terminal_safe(&file.display().to_string()),
        None => "the process environment".to_string(),
    }
}

/// Loads the `.env` file chosen as the module documentation says into the environment.
/// A line that cannot be read is an error naming the file and line (never its text, which
/// may hold a key): silently skipping it would report the keys after it as missing.
pub fn load_dotenv(arg: &EnvFileArg) -> anyhow::Result<()> {
    let named = arg.env_file.clone().map(|p| (p, "--env-file")).or_else(|| {
        std::env::var_os(ENV_FILE_VAR)
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), ENV_FILE_VAR))
    });
    let path = match named {
        Some((path, by)) => {
            if !path.is_file() {
                bail!(
                    "{}: no such file (named by {by}); give the path of your .env file",
                    path.display()
                );
            }
            path
        }
        None => {
            let Ok(cwd) = std::env::current_dir() else {
                return Ok(());
            };
            match chosen_in(&cwd) {
                Choice::Read(path) => path,
                Choice::None => return Ok(()),
                Choice::Skipped { file, why } => {
                    note!(
                        "note: not reading {}: {why}, and a .env in a folder someone handed \
                         over could send your API keys to their server; to use it anyway, \
                         pass --env-file {} (or set {ENV_FILE_VAR})",
                        terminal_safe(&file.display().to_string()),
                        terminal_safe(&file.display().to_string())
                    );
                    return Ok(());
                }
                Choice::ParentOnly(file) => {
                    note!(
                        "note: not reading {}: misalign reads .env from the current folder \
                         only; run from that folder or pass --env-file {}",
                        terminal_safe(&file.display().to_string()),
                        terminal_safe(&file.display().to_string())
                    );
                    return Ok(());
                }
            }
        }
    };
    read(&path)
}

/// What the current folder `cwd` offers.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    /// `cwd/.env`, to be read.
    Read(PathBuf),
    /// `cwd/.env` exists but `cwd` is (inside) a handed-over folder.
    Skipped {
        file: PathBuf,
        why: String,
    },
    /// No `.env` here; the nearest parent has one (not read).
    ParentOnly(PathBuf),
    None,
}

fn chosen_in(cwd: &Path) -> Choice {
    let file = cwd.join(".env");
    if std::fs::symlink_metadata(&file).is_err() {
        return match cwd
            .ancestors()
            .skip(1)
            .map(|d| d.join(".env"))
            .find(|p| p.is_file())
        {
            Some(p) => Choice::ParentOnly(p),
            None => Choice::None,
        };
    }
    match handed_folder(cwd) {
        Some(why) => Choice::Skipped { file, why },
        None => Choice::Read(file),
    }
}

/// At most this many entries of a folder are looked at when telling its kind.
const LOOK_AT: usize = 64;

/// Why `dir` (or a folder it is inside) is a folder that may come from someone else: a
/// results folder (`results.sqlite`, `.misalign.lock`), an import tree (`models/<model>/
/// <condition>/sample_NNN`) or a template folder (`system_prompt_templates.py`,
/// `<scenario>/templates/email-template-*`). A project folder with a `models/` of GGUF
/// files, a `results/` folder or a facts file is none of these.
pub fn handed_folder(dir: &Path) -> Option<String> {
    let shown = |d: &Path| terminal_safe(&d.display().to_string());
    for d in dir.ancestors() {
        let has = |name: &str| std::fs::symlink_metadata(d.join(name)).is_ok();
        for (name, kind) in [
            (misalign_store::STORE_FILE, "a results folder"),
            (misalign_store::lock::LOCK_FILE, "a results folder"),
            ("system_prompt_templates.py", "a template folder"),
        ] {
            if has(name) {
                return Some(format!("{} is {kind} (it holds {name})", shown(d)));
            }
        }
        if has_email_templates(&d.join("templates")) {
            return Some(format!(
                "{} is a scenario folder (it holds templates/email-template-*)",
                shown(d)
            ));
        }
        let is_models = d.file_name().is_some_and(|n| n == MODELS_DIR);
        if is_layout(&d.join(MODELS_DIR)) || (is_models && is_layout(d)) {
            return Some(format!(
                "{} is a results tree (models/<model>/<condition>/sample_NNN)",
                shown(d)
            ));
        }
    }
    // A template folder itself: `<scenario>/templates/email-template-*` below it.
    let children = subfolders(dir);
    if children
        .iter()
        .any(|c| has_email_templates(&c.join("templates")))
    {
        return Some(format!(
            "{} is a template folder (<scenario>/templates/email-template-*)",
            shown(dir)
        ));
    }
    None
}

/// Up to [`LOOK_AT`] sub-folders of `dir` (links not followed).
fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .take(LOOK_AT)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn names(dir: &Path) -> Vec<OsString> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .take(LOOK_AT)
        .map(|e| e.file_name())
        .collect()
}

fn has_email_templates(dir: &Path) -> bool {
    names(dir)
        .iter()
        .any(|n| n.to_string_lossy().starts_with("email-template-"))
}

/// `dir/<model>/<condition>/sample_*` exists.
fn is_layout(dir: &Path) -> bool {
    subfolders(dir).iter().any(|m| {
        subfolders(m).iter().any(|c| {
            names(c)
                .iter()
                .any(|n| looks_like_sample_dir(&n.to_string_lossy()))
        })
    })
}

fn read(path: &Path) -> anyhow::Result<()> {
    let before: BTreeSet<OsString> = std::env::vars_os().map(|(k, _)| k).collect();
    let loaded = dotenvy::from_path(path);
    // What the file set (the process environment wins), for "where did this come from".
    let mut set = origins().lock().unwrap_or_else(|e| e.into_inner());
    for (k, _) in std::env::vars_os() {
        if !before.contains(&k) {
            set.insert(k.to_string_lossy().into_owned(), path.to_path_buf());
        }
    }
    drop(set);
    match loaded {
        Ok(()) => Ok(()),
        Err(dotenvy::Error::LineParse(line, column)) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let at = match text.find(&line) {
                Some(offset) => {
                    let n = text[..offset].matches('\n').count() + 1;
                    format!("line {n}, column {}", column + 1)
                }
                None => "a line".into(),
            };
            bail!(
                "{}: {at}: cannot read this line (expected NAME=value); fix it or remove it",
                path.display()
            )
        }
        Err(e) => bail!("{}: {e}", path.display()),
    }
}

/// Prints, once per variable and address, that a provider's base URL comes from an
/// environment variable rather than its default, and from where (installed before any
/// client is built, so it shows before the first call).
pub fn announce_env_base_urls() {
    static SEEN: OnceLock<Mutex<BTreeSet<(String, String)>>> = OnceLock::new();
    misalign_models::registry::on_env_base_url(|u| {
        let seen = SEEN.get_or_init(Default::default);
        let fresh = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((u.variable.clone(), u.url.clone()));
        if !fresh {
            return;
        }
        let instead = match &u.instead_of {
            Some(d) => format!(" instead of {}", terminal_safe(d)),
            None => String::new(),
        };
        note!(
            "note: provider `{}` is called at {}{instead}: {} is set in {}",
            terminal_safe(&u.provider),
            terminal_safe(&u.url),
            u.variable,
            origin(&u.variable)
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkdirs(root: &Path, rel: &str) -> PathBuf {
        let p = root.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn a_project_folder_is_not_handed_over() {
        let d = tempfile::tempdir().unwrap();
        let proj = mkdirs(d.path(), "proj");
        std::fs::write(proj.join("exp.yaml"), "x").unwrap();
        mkdirs(&proj, "results");
        mkdirs(&proj, "models/qwen"); // GGUF files, not a results tree
        mkdirs(&proj, "prompts/c"); // `generate --out .`
        std::fs::write(proj.join("facts.yaml"), "x").unwrap();
        assert_eq!(handed_folder(&proj), None);
        std::fs::write(proj.join(".env"), "A=1\n").unwrap();
        assert_eq!(chosen_in(&proj), Choice::Read(proj.join(".env")));
    }

    #[test]
    fn results_folders_trees_and_template_folders_are() {
        let d = tempfile::tempdir().unwrap();
        let cases: [(&str, &str, &str); 6] = [
            ("r1", "results.sqlite", "r1"),
            ("r2", ".misalign.lock", "r2/models/m"),
            ("t1", "system_prompt_templates.py", "t1/blackmail/templates"),
            (
                "t2",
                "blackmail/templates/email-template-blackmail-shared.md",
                "t2",
            ),
            ("t3", "templates/email-template-leaking-shared.md", "t3"),
            ("i1", "models/m/c/sample_001/response.json", "i1/models/m/c"),
        ];
        for (root, file, cwd) in cases {
            let f = d.path().join(root).join(file);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "x").unwrap();
            let cwd = mkdirs(d.path(), cwd);
            assert!(handed_folder(&cwd).is_some(), "{root}/{file} from {cwd:?}");
            std::fs::write(cwd.join(".env"), "A=1\n").unwrap();
            assert!(
                matches!(chosen_in(&cwd), Choice::Skipped { .. }),
                "{root}/{file}"
            );
        }
        // A bare `models/` folder handed over (import accepts it).
        let m = mkdirs(d.path(), "handed/models/m/c/sample_002");
        assert!(handed_folder(m.parent().unwrap()).is_some());
    }

    #[test]
    fn a_parents_env_is_not_read() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".env"), "A=1\n").unwrap();
        let sub = mkdirs(d.path(), "sub/deeper");
        assert_eq!(chosen_in(&sub), Choice::ParentOnly(d.path().join(".env")));
    }
}
