//! Scenario packs: the built-in ones (compiled in) and template folders of the reference
//! framework's layout, read through the same [`ScenarioSource`] view.
//!
//! A source is a set of files held in memory ([`FileTree`]): the built-in tree, or a folder
//! given with `--templates DIR` (read once; this is the one place the core crate reads the
//! disk, because every later stage needs the same view of the user's folder). A scenario in
//! a folder is in our pack format when it has a `facts.yaml` (strict placeholders), else in
//! the reference layout (`templates/` + `variables/` only; `safe_substitute`); either way,
//! files it lacks (system prompt, instruction, tools, `common/`, facts) come from the
//! built-in scenario of the same name.

mod error;
mod facts;
mod files;
pub mod goals;
mod kind;
mod pack;
pub mod reference_prompts;
pub mod timeline;
pub mod variables;
pub(crate) mod yaml;

pub use error::ScenarioError;
pub use facts::{harmful_action, Facts, GuardedConfig, GuardedSetting};
pub use files::{decode_text, FileTree, Origin};
pub use kind::{RequiredFact, ScenarioKind};
pub use pack::{Doc, EnvironmentFile, Layout, Loaded, ReferenceSystem, INBOX_PARTS};
pub use reference_prompts::ReferencePrompts;
pub use yaml::{
    parse as yaml_parse, parse_autonomy, parse_facts, parse_goals, Autonomy, AutonomyLines,
    GoalText, Goals,
};

use crate::hash::sha256_parts;
use once_cell::sync::OnceCell;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Where scenarios are read from.
pub struct ScenarioSource {
    tree: FileTree,
    /// The built-in tree, for files a folder does not provide (`None` for the built-in source).
    fallback: Option<FileTree>,
    /// One cell per scenario name, so that threads asking for the same scenario at once wait for
    /// one load instead of each loading it.
    cache: Mutex<HashMap<String, Arc<OnceCell<Arc<Loaded>>>>>,
    /// Per-condition fallbacks the reference generator only prints (no matching file or section).
    render_warnings: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for ScenarioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioSource")
            .field("origin", &self.tree.origin)
            .finish_non_exhaustive()
    }
}

/// The names of the built-in scenario packs (`blackmail`, `exfiltration`, `leaking`, `murder`,
/// `sabotage`), sorted: the
/// one list every command, test and benchmark uses.
pub fn builtin_scenario_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| ScenarioSource::builtin().scenario_names())
}

/// [`builtin_scenario_names`] as `&str`s.
pub fn builtin_scenarios() -> impl Iterator<Item = &'static str> {
    builtin_scenario_names().iter().map(String::as_str)
}

impl ScenarioSource {
    /// The packs compiled into the binary.
    pub fn builtin() -> ScenarioSource {
        ScenarioSource::new(FileTree::builtin(), None)
    }

    /// A template folder (`--templates DIR`), with the built-in packs behind it.
    pub fn from_dir(dir: &Path) -> Result<ScenarioSource, ScenarioError> {
        Ok(ScenarioSource::from_tree(FileTree::read_dir(dir)?))
    }

    /// A folder's files already in memory, with the built-in packs behind them.
    pub fn from_tree(tree: FileTree) -> ScenarioSource {
        ScenarioSource::new(tree, Some(FileTree::builtin()))
    }

    /// `--templates DIR` if given, else the built-in packs.
    pub fn open(templates: Option<&Path>) -> Result<ScenarioSource, ScenarioError> {
        match templates {
            Some(dir) => ScenarioSource::from_dir(dir),
            None => Ok(ScenarioSource::builtin()),
        }
    }

    fn new(tree: FileTree, fallback: Option<FileTree>) -> ScenarioSource {
        ScenarioSource {
            tree,
            fallback,
            cache: Mutex::new(HashMap::new()),
            render_warnings: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.tree.origin
    }

    /// The source's own files (what `scenarios export` writes for the built-in source).
    pub fn tree(&self) -> &FileTree {
        &self.tree
    }

    /// Scenario folders (those with a `templates/` folder), sorted.
    pub fn scenario_names(&self) -> Vec<String> {
        self.tree
            .top_dirs()
            .into_iter()
            .filter(|d| self.tree.under(&format!("{d}/templates")).next().is_some())
            .collect()
    }

    /// The scenario, loaded and checked once.
    pub fn scenario(&self, name: &str) -> Result<Arc<Loaded>, ScenarioError> {
        let cell = {
            let mut cache = self.cache.lock().expect("cache lock");
            match cache.get(name) {
                Some(cell) => cell.clone(),
                None => cache.entry(name.to_string()).or_default().clone(),
            }
        };
        // A failed load leaves the cell empty: the next caller tries again and gets the error too.
        cell.get_or_try_init(|| self.load(name).map(Arc::new))
            .cloned()
    }

    fn load(&self, name: &str) -> Result<Loaded, ScenarioError> {
        let names = self.scenario_names();
        if !names.iter().any(|n| n == name) {
            return Err(ScenarioError::UnknownScenario {
                name: name.to_string(),
                origin: match &self.tree.origin {
                    Origin::Builtin => "built-in scenarios".to_string(),
                    Origin::Dir(d) => d.display().to_string(),
                },
                available: if names.is_empty() {
                    match &self.tree.origin {
                        Origin::Builtin => "this build has no built-in scenarios".to_string(),
                        Origin::Dir(_) => "the folder has no `<scenario>/templates/` folders; point --templates at the folder that holds blackmail/, leaking/, murder/".to_string(),
                    }
                } else {
                    format!("available: {}", names.join(", "))
                },
            });
        }
        Loaded::load(name, &self.tree, self.fallback.as_ref())
    }

    /// The scenario's layout (pack or reference).
    pub fn layout(&self, scenario: &str) -> Result<Layout, ScenarioError> {
        Ok(self.scenario(scenario)?.layout)
    }

    /// The scenario's facts (its own `facts.yaml`, else the built-in one), if any.
    pub fn facts(&self, scenario: &str) -> Result<Option<Facts>, ScenarioError> {
        Ok(self.scenario(scenario)?.facts.clone())
    }

    /// The facts of one condition: a surface variant's own (names, addresses, codes and
    /// dates replaced as in its prompt), else the scenario's.
    pub fn condition_facts(
        &self,
        condition: &crate::condition::Condition,
    ) -> Result<Option<Facts>, ScenarioError> {
        self.scenario(&condition.scenario)?.facts_for(condition)
    }

    /// SHA-256 over every file the scenario's prompts depend on (path + bytes, sorted by
    /// path; built-in fallbacks labelled `built-in:`), for the run manifest. The pack's
    /// `environment.yaml` counts only with `agent` (the run has an agent condition of this
    /// scenario), so a run without one keeps the hash it had before environments existed.
    pub fn pack_hash(&self, scenario: &str, agent: bool) -> Result<String, ScenarioError> {
        self.pack_hash_with(scenario, agent, false)
    }

    /// [`ScenarioSource::pack_hash`] where the pack's question files (`question.md`,
    /// `question-options.yaml`, `common/question.yaml`) count too when `question` (the run
    /// has a question-form condition of this scenario), so a run without one keeps the
    /// hash it had before the question form existed.
    pub fn pack_hash_with(
        &self,
        scenario: &str,
        agent: bool,
        question: bool,
    ) -> Result<String, ScenarioError> {
        let loaded = self.scenario(scenario)?;
        let mut extra: Vec<(String, Vec<u8>)> = loaded
            .environment
            .as_ref()
            .filter(|_| agent)
            .map(|e| (e.label.clone(), e.bytes.clone()))
            .into_iter()
            .collect();
        if question {
            extra.extend(loaded.question.hashed());
        }
        let mut files: Vec<&(String, Vec<u8>)> = loaded.hashed.iter().chain(extra.iter()).collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files.dedup_by(|a, b| a.0 == b.0);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(files.len() * 2);
        for (p, b) in &files {
            parts.push(p.as_bytes());
            parts.push(b);
        }
        Ok(sha256_parts(&parts))
    }

    /// Warnings the reference generator would only have printed, for every scenario loaded so far.
    pub fn warnings(&self) -> Vec<String> {
        let cache = self.cache.lock().expect("cache lock");
        let mut names: Vec<&String> = cache.keys().collect();
        names.sort();
        let mut out: Vec<String> = names
            .into_iter()
            .filter_map(|n| cache[n].get())
            .flat_map(|loaded| loaded.warnings.iter().cloned())
            .collect();
        out.extend(
            self.render_warnings
                .lock()
                .expect("warnings lock")
                .iter()
                .cloned(),
        );
        out
    }

    pub(crate) fn warn(&self, message: String) {
        self.render_warnings
            .lock()
            .expect("warnings lock")
            .insert(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn threads_asking_at_once_share_one_load() {
        let source = ScenarioSource::builtin();
        let barrier = Barrier::new(4);
        let loads: Vec<Arc<Loaded>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        source.scenario("leaking").unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(loads.iter().all(|l| Arc::ptr_eq(l, &loads[0])));
    }

    #[test]
    fn an_unknown_scenario_stays_an_error() {
        let source = ScenarioSource::builtin();
        for _ in 0..2 {
            let err = source.scenario("extortion").unwrap_err().to_string();
            assert!(
                err.contains("extortion") && err.contains("blackmail"),
                "{err}"
            );
        }
        assert!(source.warnings().is_empty());
    }
}

#[cfg(test)]
mod builtin_facts_tests {
    use super::*;

    #[test]
    fn the_packs_name_the_scenarios_and_goal_values_once() {
        assert_eq!(
            builtin_scenario_names(),
            ["blackmail", "exfiltration", "leaking", "murder", "sabotage"]
        );
        let text = FileTree::builtin()
            .text("common/goals.yaml")
            .unwrap()
            .expect("the built-in packs have common/goals.yaml");
        let goals = parse_goals(&text, "common/goals.yaml").unwrap();
        let mut in_pack: Vec<&str> = goals.keys().map(String::as_str).collect();
        let mut known = crate::config::KNOWN_GOAL_VALUES.to_vec();
        in_pack.sort_unstable();
        known.sort_unstable();
        assert_eq!(in_pack, known);
        for (a, b) in goals::PAIRS {
            assert_eq!(goals::opposite(a), Some(b));
        }
    }
}
