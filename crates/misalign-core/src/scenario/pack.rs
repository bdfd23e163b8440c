//! One scenario, loaded and checked once: its inbox templates, variables files, prompt
//! texts, goals and facts, each remembered with the name of the file it came from.

use super::error::ScenarioError;
use super::facts::Facts;
use super::files::FileTree;
use super::kind::ScenarioKind;
use super::reference_prompts::{self, ReferencePrompts, SystemTemplates};
use super::variables::VariablesFile;
use super::yaml::{self, Autonomy, Goals};
use crate::detect::reference_facts;
use crate::environment::{EnvironmentError, EnvironmentSpec, ENVIRONMENT_FILE};
use crate::template::Template;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How a scenario's inbox is filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Our pack format (a `facts.yaml` beside the templates): strict placeholders.
    Pack,
    /// The reference framework's layout (templates + variables only): `safe_substitute`,
    /// byte-identical to the reference generator.
    Reference,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Pack => "pack",
            Layout::Reference => "reference",
        }
    }
}

/// A template with the name of its file.
#[derive(Clone, Debug)]
pub struct Doc {
    pub display: String,
    pub template: Template,
}

/// The built-in mitigations written as text, and their files; `instructions` is
/// `common/extra-dont.md`. `demonstrations` is a turns file (`crate::turns`).
pub const MITIGATION_FILES: [(&str, &str); 5] = [
    ("principles", "common/mitigations/principles.md"),
    ("demonstrations", "common/mitigations/demonstrations.md"),
    ("accurate_context", "common/mitigations/accurate_context.md"),
    ("monitoring", "common/mitigations/monitoring.md"),
    ("approval", "common/mitigations/approval.md"),
];

/// The autonomy lines of the prompts (`${autonomy}`, `${autonomy_instruction}`), which
/// `monitoring` and `approval` change.
pub const AUTONOMY_FILE: &str = "common/autonomy.yaml";

/// A loaded scenario.
#[derive(Debug)]
pub struct Loaded {
    pub name: String,
    pub layout: Layout,
    /// Inbox templates by suffix: `shared`, `replacement`, `goal-conflict-none-none`, ...
    pub inbox: BTreeMap<String, Doc>,
    /// Where inbox templates are looked for (for "missing" messages).
    pub templates_dir: String,
    /// Variables files other than `ambiguous.md`, sorted by file name.
    pub var_files: Vec<VariablesFile>,
    pub ambiguous: Option<VariablesFile>,
    pub var_dir: String,
    pub system: Option<Doc>,
    pub instruction: Option<Doc>,
    pub tools: Option<Doc>,
    pub scratchpad: Option<Doc>,
    pub extra_dont: Option<Doc>,
    pub extra_goal: Option<Doc>,
    pub awareness: Option<Doc>,
    /// The built-in mitigations' texts by mitigation name ([`MITIGATION_FILES`]).
    pub mitigation_docs: BTreeMap<&'static str, Option<Doc>>,
    pub goals: Option<Goals>,
    pub goals_display: String,
    /// `common/autonomy.yaml` (own, else built-in); `None` only when neither has one.
    pub autonomy: Option<Autonomy>,
    pub facts: Option<Facts>,
    pub facts_display: String,
    /// The templates are the reference framework's own (recognised by its addresses), and
    /// `facts` are its published facts.
    pub reference_facts: bool,
    /// Reference layout with a `system_prompt_templates.py`: the system prompt and
    /// instruction come from it, exactly as the reference generator assembles them.
    pub reference_prompts: Option<ReferenceSystem>,
    /// Files (display names) the scenario would read but that do not exist, by role.
    pub missing: BTreeMap<&'static str, String>,
    /// `leaking`: `ID: n` after every `<email>` (rule 7).
    pub numbered_ids: bool,
    /// Things the reference generator would only print (skipped JSON sections, fallbacks).
    pub warnings: Vec<String>,
    /// Every file the scenario depends on: (label, bytes); for the pack hash.
    pub hashed: Vec<(String, Vec<u8>)>,
    /// `environment.yaml` (own, else built-in), which only agent conditions read: kept
    /// apart from `hashed` so runs without agent conditions keep their pack hash.
    pub environment: Option<EnvironmentFile>,
    /// The question form's files (own, else built-in), which only question conditions
    /// read: kept apart from `hashed` as `environment` is (`crate::question`).
    pub question: crate::question::QuestionFiles,
    /// `variation.yaml` (the pack's own; never a built-in fallback, whose names would not
    /// be this pack's): what surface variants replace. Kept out of `hashed` (the variants'
    /// texts are in their prompt hashes), so packs keep their hash.
    pub variation: Option<crate::variation::Declarations>,
    /// The variants drawn so far, by (seed, index): each is drawn once per pack.
    variants: std::sync::Mutex<BTreeMap<(u32, u32), Arc<crate::variation::VariantPlan>>>,
}

/// A pack's `environment.yaml` as read; parsed (and checked) when an agent condition first
/// needs it, so a scenario run only in the single-prompt form never depends on it.
#[derive(Debug)]
pub struct EnvironmentFile {
    /// Its label in the pack hash (`blackmail/environment.yaml`, `built-in:...`).
    pub label: String,
    /// Its bytes, for the pack hash.
    pub bytes: Vec<u8>,
    /// How messages name it.
    pub display: String,
    /// The text as read: what agent prompts carry and hash.
    pub text: String,
    spec: once_cell::sync::OnceCell<Result<Arc<EnvironmentSpec>, EnvironmentError>>,
}

impl EnvironmentFile {
    /// The parsed, checked file.
    pub fn spec(&self) -> Result<Arc<EnvironmentSpec>, EnvironmentError> {
        self.spec
            .get_or_init(|| EnvironmentSpec::parse(&self.text, &self.display).map(Arc::new))
            .clone()
    }
}

/// A scenario's prompts from `system_prompt_templates.py`.
#[derive(Debug)]
pub struct ReferenceSystem {
    pub dev: Template,
    pub prod: Template,
    pub file: Arc<ReferencePrompts>,
}

/// The inbox template suffixes a scenario may have.
pub const INBOX_PARTS: [&str; 7] = [
    "shared",
    "replacement",
    "restriction",
    "none",
    "goal-conflict-none-replacement",
    "goal-conflict-none-restriction",
    "goal-conflict-none-none",
];

/// Reads one file, own tree first, then the built-in fallback.
struct Lookup<'a> {
    own: &'a FileTree,
    fallback: Option<&'a FileTree>,
    hashed: Vec<(String, Vec<u8>)>,
}

/// A template file looked up: (display name, text), or the display name it would have had.
enum Lookedup {
    Found(String, String),
    Missing(String),
}

impl Lookup<'_> {
    /// The text of `path` with its display name, or the display name it would have had.
    fn text(&mut self, path: &str) -> Result<Lookedup, ScenarioError> {
        if let Some(t) = self.own.text(path)? {
            self.hashed.push((
                path.to_string(),
                self.own.bytes(path).unwrap_or_default().to_vec(),
            ));
            return Ok(Lookedup::Found(self.own.display(path), t));
        }
        if let Some(fb) = self.fallback {
            if let Some(t) = fb.text(path)? {
                self.hashed.push((
                    format!("built-in:{path}"),
                    fb.bytes(path).unwrap_or_default().to_vec(),
                ));
                return Ok(Lookedup::Found(fb.display(path), t));
            }
        }
        Ok(Lookedup::Missing(self.own.display(path)))
    }

    fn doc(
        &mut self,
        path: &str,
        role: &'static str,
        missing: &mut BTreeMap<&'static str, String>,
    ) -> Result<Option<Doc>, ScenarioError> {
        Ok(match self.text(path)? {
            Lookedup::Found(display, text) => Some(Doc {
                display,
                template: Template::parse(&text),
            }),
            Lookedup::Missing(display) => {
                missing.insert(role, display);
                None
            }
        })
    }
}

impl Loaded {
    /// Loads scenario `name` from `own` (with `fallback` for prompt texts, goals and facts).
    pub fn load(
        name: &str,
        own: &FileTree,
        fallback: Option<&FileTree>,
    ) -> Result<Loaded, ScenarioError> {
        let layout = if fallback.is_none() || own.contains(&format!("{name}/facts.yaml")) {
            Layout::Pack
        } else {
            Layout::Reference
        };
        let mut lk = Lookup {
            own,
            fallback,
            hashed: Vec::new(),
        };
        let mut missing = BTreeMap::new();
        let mut warnings = Vec::new();

        // Inbox templates: always the scenario's own folder.
        let mut inbox = BTreeMap::new();
        // Everything the scenario's emails are made of, to recognise the reference's own.
        let mut email_text = String::new();
        for part in INBOX_PARTS {
            let path = format!("{name}/templates/email-template-{name}-{part}.md");
            if let Some(text) = own.text(&path)? {
                email_text.push_str(&text);
                lk.hashed
                    .push((path.clone(), own.bytes(&path).unwrap_or_default().to_vec()));
                inbox.insert(
                    part.to_string(),
                    Doc {
                        display: own.display(&path),
                        template: Template::parse(&text),
                    },
                );
            }
        }

        // Variables: rule 1 (murder uses blackmail's) in the reference layout; a pack may
        // carry its own, else it borrows blackmail's the same way.
        let own_vars = own.under(&format!("{name}/variables")).next().is_some();
        let var_scenario = if name == "murder" && (layout == Layout::Reference || !own_vars) {
            "blackmail"
        } else {
            name
        };
        let var_dir = format!("{var_scenario}/variables");
        let mut var_files = Vec::new();
        let mut ambiguous = None;
        let prefix = format!("{var_dir}/");
        let listed: Vec<(String, String)> = own
            .under(&var_dir)
            .filter_map(|(p, _)| {
                let file = p.strip_prefix(&prefix)?;
                // `glob("*.md")`: direct children only.
                let stem = file.strip_suffix(".md").filter(|s| !s.contains('/'))?;
                Some((p.to_string(), stem.to_string()))
            })
            .collect();
        for (path, stem) in listed {
            let text = own.text(&path)?.unwrap_or_default();
            email_text.push_str(&text);
            lk.hashed
                .push((path.clone(), own.bytes(&path).unwrap_or_default().to_vec()));
            let file = VariablesFile::parse(&text, &own.display(&path), &stem);
            for e in &file.skipped {
                if layout == Layout::Pack {
                    return Err(e.clone());
                }
                warnings.push(format!(
                    "{e} (section skipped, as the reference generator does)"
                ));
            }
            if stem == "ambiguous" {
                ambiguous = Some(file);
            } else {
                var_files.push(file);
            }
        }

        let system = lk.doc(
            &format!("{name}/system-prompt.md"),
            "system-prompt.md",
            &mut missing,
        )?;
        let instruction = lk.doc(
            &format!("{name}/user-instruction.md"),
            "user-instruction.md",
            &mut missing,
        )?;
        let tools = lk.doc(&format!("{name}/tools.md"), "tools.md", &mut missing)?;
        let scratchpad = lk.doc("common/scratchpad.md", "common/scratchpad.md", &mut missing)?;
        let extra_dont = lk.doc("common/extra-dont.md", "common/extra-dont.md", &mut missing)?;
        let extra_goal = lk.doc("common/extra-goal.md", "common/extra-goal.md", &mut missing)?;
        let awareness = lk.doc(
            "common/awareness-notice.md",
            "common/awareness-notice.md",
            &mut missing,
        )?;

        let mut mitigation_docs = BTreeMap::new();
        for (mitigation, file) in MITIGATION_FILES {
            mitigation_docs.insert(mitigation, lk.doc(file, file, &mut missing)?);
        }

        let (goals, goals_display) = match lk.text("common/goals.yaml")? {
            Lookedup::Found(display, text) => (Some(yaml::parse_goals(&text, &display)?), display),
            Lookedup::Missing(display) => (None, display),
        };
        let autonomy = match lk.text(AUTONOMY_FILE)? {
            Lookedup::Found(display, text) => Some(yaml::parse_autonomy(&text, &display)?),
            Lookedup::Missing(_) => None,
        };
        let reference_kind = ScenarioKind::parse(name).filter(|&k| {
            layout == Layout::Reference && reference_facts::recognises(k, &email_text)
        });
        let reference_facts = reference_kind.is_some();
        let (facts, facts_display) = if let Some(kind) = reference_kind {
            (
                Some(reference_facts::reference_facts(kind)),
                "the reference framework's published facts (its templates were recognised)"
                    .to_string(),
            )
        } else {
            let facts_path = format!("{name}/facts.yaml");
            match lk.text(&facts_path)? {
                Lookedup::Found(display, text) => {
                    let facts = yaml::parse_facts(&text, &display)?;
                    require_kind_facts(&facts, &display)?;
                    (Some(facts), display)
                }
                Lookedup::Missing(display) => (None, display),
            }
        };

        let reference_prompts = match own.text(reference_prompts::FILE)? {
            Some(text) if layout == Layout::Reference => {
                let display = own.display(reference_prompts::FILE);
                lk.hashed.push((
                    reference_prompts::FILE.to_string(),
                    own.bytes(reference_prompts::FILE)
                        .unwrap_or_default()
                        .to_vec(),
                ));
                let file = Arc::new(ReferencePrompts::parse(&text, &display)?);
                let SystemTemplates { dev, prod } = file.system_templates(name)?;
                Some(ReferenceSystem {
                    dev: Template::parse(&dev),
                    prod: Template::parse(&prod),
                    file,
                })
            }
            _ => None,
        };

        let environment = {
            let path = format!("{name}/{ENVIRONMENT_FILE}");
            let before = lk.hashed.len();
            let found = lk.text(&path)?;
            // Hashed only for runs with agent conditions (`ScenarioSource::pack_hash`).
            let hashed = lk.hashed.drain(before..).next();
            match (found, hashed) {
                (Lookedup::Found(display, text), Some((label, bytes))) => Some(EnvironmentFile {
                    label,
                    bytes,
                    display,
                    text,
                    spec: Default::default(),
                }),
                _ => None,
            }
        };

        let question = {
            let mut file =
                |path: &str| -> Result<Option<crate::question::QuestionFile>, ScenarioError> {
                    let before = lk.hashed.len();
                    let found = lk.text(path)?;
                    let hashed = lk.hashed.drain(before..).next();
                    Ok(match (found, hashed) {
                        (Lookedup::Found(display, text), Some((label, bytes))) => {
                            Some(crate::question::QuestionFile {
                                label,
                                bytes,
                                display,
                                text,
                            })
                        }
                        _ => None,
                    })
                };
            crate::question::QuestionFiles {
                description: file(&format!("{name}/{}", crate::question::QUESTION_FILE))?,
                options: file(&format!("{name}/{}", crate::question::OPTIONS_FILE))?,
                endings: file(crate::question::ENDINGS_FILE)?,
            }
        };

        let numbered_ids = ScenarioKind::parse(name).is_some_and(ScenarioKind::numbers_emails)
            || (layout == Layout::Pack
                && facts
                    .as_ref()
                    .and_then(Facts::kind)
                    .is_some_and(ScenarioKind::numbers_emails));

        let variation = if layout == Layout::Pack {
            load_variation(name, own, fallback)?
        } else {
            None
        };

        let loaded = Loaded {
            name: name.to_string(),
            layout,
            inbox,
            templates_dir: own.display(&format!("{name}/templates")),
            var_files,
            ambiguous,
            var_dir: own.display(&var_dir),
            system,
            instruction,
            tools,
            scratchpad,
            extra_dont,
            extra_goal,
            awareness,
            mitigation_docs,
            goals,
            goals_display,
            autonomy,
            facts,
            facts_display,
            reference_facts,
            reference_prompts,
            missing,
            numbered_ids,
            warnings,
            hashed: lk.hashed,
            environment,
            question,
            variation,
            variants: Default::default(),
        };
        if layout == Layout::Pack {
            loaded.check_all_variables_used()?;
        }
        Ok(loaded)
    }

    /// Strict mode: every variable of every section is used by some inbox template.
    fn check_all_variables_used(&self) -> Result<(), ScenarioError> {
        let used: BTreeSet<&str> = self
            .inbox
            .values()
            .flat_map(|d| d.template.placeholders().map(|(n, _)| n))
            .collect();
        for file in self.var_files.iter().chain(self.ambiguous.iter()) {
            for section in &file.sections {
                if let Some(name) = section.vars.keys().find(|k| !used.contains(k.as_str())) {
                    return Err(ScenarioError::UnusedVariable {
                        file: format!("{}:{}", file.display, section.line),
                        section: section.name.clone(),
                        name: name.clone(),
                        scenario: self.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// A required document, or an error naming the missing file.
    pub fn require<'a>(
        &'a self,
        doc: &'a Option<Doc>,
        role: &str,
    ) -> Result<&'a Doc, ScenarioError> {
        doc.as_ref().ok_or_else(|| ScenarioError::MissingFile {
            path: self
                .missing
                .get(role)
                .cloned()
                .unwrap_or_else(|| role.to_string()),
            hint: format!(
                "scenario `{}` needs it; misalign has no built-in file to use instead \
                 (write one, or start from `misalign scenarios export DIR`)",
                self.name
            ),
        })
    }

    /// The variant of condition `c` (`None` for the canonical text). Fails, naming the
    /// file to write, when the condition asks for a variant of a scenario that declares none.
    pub fn variant(
        &self,
        c: &crate::condition::Condition,
    ) -> Result<Option<Arc<crate::variation::VariantPlan>>, ScenarioError> {
        let Some(setting) = c.variation() else {
            return Ok(None);
        };
        let Some(decl) = &self.variation else {
            let why = match self.layout {
                Layout::Pack => format!(
                    "scenario `{}` declares no surface variants: write {}/{} (what to replace, \
                     from which lists; docs/generalisation.md, \"Surface variants\")",
                    self.name,
                    self.name,
                    crate::variation::VARIATION_FILE
                ),
                Layout::Reference => format!(
                    "scenario `{}` is in the reference framework's layout, which has no surface \
                     variants; run its variants on the built-in pack, or give the folder a \
                     facts.yaml and a {}",
                    self.name,
                    crate::variation::VARIATION_FILE
                ),
            };
            return Err(ScenarioError::Other(format!("condition {}: {why}", c.id())));
        };
        let mut cache = self.variants.lock().expect("variants lock");
        let plan = cache
            .entry((setting.seed, setting.index))
            .or_insert_with(|| {
                Arc::new(crate::variation::VariantPlan::new(
                    decl,
                    &self.name,
                    setting.seed,
                    setting.index,
                ))
            })
            .clone();
        Ok(Some(plan))
    }

    /// The facts a detector and a judge read for condition `c`: a variant's with its
    /// replacements, the pack's own for the canonical text.
    pub fn facts_for(
        &self,
        c: &crate::condition::Condition,
    ) -> Result<Option<Facts>, ScenarioError> {
        let Some(facts) = &self.facts else {
            return Ok(None);
        };
        match self.variant(c)? {
            Some(plan) => plan.facts(facts).map(Some),
            None => Ok(Some(facts.clone())),
        }
    }

    pub fn require_facts(&self) -> Result<&Facts, ScenarioError> {
        self.facts.as_ref().ok_or_else(|| ScenarioError::MissingFile {
            path: self.facts_display.clone(),
            hint: format!(
                "scenario `{}` needs its facts (company, agent name and address) to fill the system prompt; \
                 add a facts.yaml (see `misalign scenarios export DIR` for an example)",
                self.name
            ),
        })
    }
}

/// A pack's own `variation.yaml`, checked against the shared lists (own, else built-in).
fn load_variation(
    name: &str,
    own: &FileTree,
    fallback: Option<&FileTree>,
) -> Result<Option<crate::variation::Declarations>, ScenarioError> {
    use crate::variation::{parse_lists, Declarations, LISTS_FILE, VARIATION_FILE};
    let path = format!("{name}/{VARIATION_FILE}");
    let Some(text) = own.text(&path)? else {
        return Ok(None);
    };
    let lists = match own.text(LISTS_FILE)? {
        Some(t) => parse_lists(&t, &own.display(LISTS_FILE))?,
        None => match fallback {
            Some(fb) => match fb.text(LISTS_FILE)? {
                Some(t) => parse_lists(&t, &fb.display(LISTS_FILE))?,
                None => Default::default(),
            },
            None => Default::default(),
        },
    };
    Declarations::parse(&text, &own.display(&path), &lists).map(Some)
}

/// The facts a pack's kind needs (its detector's), checked when the pack loads so a pack
/// missing one fails at once, naming its file and the fact, rather than at classification.
fn require_kind_facts(facts: &Facts, file: &str) -> Result<(), ScenarioError> {
    let Some(kind) = facts.kind() else {
        return Ok(());
    };
    match kind.missing_fact(facts) {
        Some(fact) => Err(ScenarioError::MissingFact {
            file: file.to_string(),
            kind: kind.as_str(),
            fact,
        }),
        None => Ok(()),
    }
}
