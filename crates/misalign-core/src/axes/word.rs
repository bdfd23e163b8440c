//! An axis whose settings are a few fixed words, each non-default one with its own id
//! suffix: the table most axes are (`variant`, `extra_instructions`, `awareness_notice`).

use super::{Axis, Contrast, FileAxes, PackRender, ReferenceRender};
use crate::condition::Condition;
use crate::condition::MitigationClash;
use crate::config::walk::{self, index, Ctx, R};
use crate::config::yaml::{Node, Value as Yaml};
use crate::render::RenderError;
use serde_json::Value;
use std::borrow::Cow;

/// How a word-valued axis is stored in the condition JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonForm {
    /// As its word (`"prod"`).
    Word,
    /// As its word, left out at its default: in the condition JSON and in `metadata.json`
    /// (an axis added after stores and prompt folders existed: theirs stay as they were).
    WordUnlessDefault,
    /// As `true` for its second word, `false` for its default (`awareness_notice`); the
    /// experiment file may write `true`/`false` too.
    Bool,
}

/// Extra fields of `metadata.json` for a setting.
pub(crate) type MetadataFn = fn(&str, &mut serde_json::Map<String, Value>);
/// What a setting puts into a prompt of our packs.
pub(crate) type PackFn = fn(&str, &Condition, &mut PackRender) -> Result<(), RenderError>;
/// What a setting puts into a prompt of the reference templates.
pub(crate) type ReferenceFn = fn(&str, &Condition, &mut ReferenceRender) -> Result<(), RenderError>;

/// A word-valued axis, as a table. Its render effects are plain functions.
pub(crate) struct WordAxis {
    pub name: &'static str,
    pub key: &'static str,
    /// What one value is called in messages ("variant").
    pub what: &'static str,
    /// For `misalign schema`.
    pub doc: &'static str,
    /// Every setting, the default first, each with its id suffix (the default's is unused).
    pub words: &'static [(&'static str, &'static str)],
    pub id_rank: u8,
    pub json: JsonForm,
    /// The default when an expansion lists no values (from the reference framework's
    /// top-level flags); `None`: the first word.
    pub file_default: Option<fn(Ctx, &FileAxes) -> R<&'static str>>,
    pub contrasts: &'static [Contrast],
    /// Extra fields in `metadata.json` beyond `name: word`.
    pub metadata: Option<MetadataFn>,
    pub render_pack: Option<PackFn>,
    pub render_reference: Option<ReferenceFn>,
}

impl WordAxis {
    /// The words, default first.
    pub fn word_list(&self) -> Vec<&'static str> {
        self.words.iter().map(|(w, _)| *w).collect()
    }

    /// The condition's setting on this axis (its default when it names none).
    fn setting_of<'c>(&self, c: &'c Condition) -> &'c str {
        c.setting(self.name).unwrap_or(self.words[0].0)
    }

    fn known(&self, word: &str) -> Option<&'static str> {
        self.words.iter().map(|(w, _)| *w).find(|w| *w == word)
    }
}

impl Axis for WordAxis {
    fn name(&self) -> &'static str {
        self.name
    }

    fn key(&self) -> &'static str {
        self.key
    }

    fn id_rank(&self) -> u8 {
        self.id_rank
    }

    fn default_word(&self) -> &'static str {
        self.words[0].0
    }

    fn write_suffix(&self, word: &str, id: &mut String) {
        if let Some((_, suffix)) = self.words[1..].iter().find(|(w, _)| *w == word) {
            id.push_str(suffix);
        }
    }

    fn grammar(&self) -> String {
        let suffixes: Vec<&str> = self.words[1..].iter().map(|(_, s)| *s).collect();
        format!("[{}]", suffixes.join("|"))
    }

    fn strip_suffix<'a>(&self, id: &'a str) -> Result<(&'a str, Option<Cow<'static, str>>), ()> {
        for (word, suffix) in &self.words[1..] {
            if let Some(rest) = id.strip_suffix(suffix) {
                return Ok((rest, Some(Cow::Borrowed(*word))));
            }
        }
        Ok((id, None))
    }

    /// The axis's own word (borrowed, so a plan's conditions share it).
    fn apply(&self, c: &mut Condition, value: &str) -> Result<(), MitigationClash> {
        let word: Cow<'static, str> = match self.known(value) {
            Some(w) => Cow::Borrowed(w),
            None => Cow::Owned(value.to_string()),
        };
        c.set_setting(self.name, self.default_word(), word);
        Ok(())
    }

    fn read_values(
        &self,
        cx: Ctx,
        node: Option<&Node>,
        path: &str,
        file: &FileAxes,
    ) -> R<Vec<String>> {
        let Some(node) = node else {
            let default = match self.file_default {
                Some(f) => f(cx, file)?,
                None => self.default_word(),
            };
            return Ok(vec![default.to_string()]);
        };
        let items = walk::nonempty_list(cx, node, path, self.what)?;
        let words = self.word_list();
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let word = match (&item.value, self.json) {
                (Yaml::Bool(b), JsonForm::Bool) => words[usize::from(*b)].to_string(),
                _ => walk::choice(cx, item, &index(path, i), self.what, &words)?,
            };
            if !out.contains(&word) {
                out.push(word);
            }
        }
        Ok(out)
    }

    fn json_schema(&self) -> Value {
        let words = serde_json::json!({"type": "string", "enum": self.word_list()});
        let item = match self.json {
            JsonForm::Word | JsonForm::WordUnlessDefault => words,
            JsonForm::Bool => serde_json::json!({"anyOf": [{"type": "boolean"}, words]}),
        };
        let mut schema = serde_json::json!({"type": "array", "minItems": 1, "items": item});
        if !self.doc.is_empty() {
            schema["description"] = self.doc.into();
        }
        schema
    }

    fn to_json(&self, word: &str) -> Option<Value> {
        Some(match self.json {
            JsonForm::WordUnlessDefault if word == self.default_word() => return None,
            JsonForm::Word | JsonForm::WordUnlessDefault => Value::from(word),
            JsonForm::Bool => Value::Bool(word != self.default_word()),
        })
    }

    fn read_json(&self, value: Option<&Value>) -> Result<String, String> {
        let bad = || format!("`{}` is not a {} setting", self.name, self.what);
        match (value, self.json) {
            (None, _) => Ok(self.default_word().to_string()),
            (Some(Value::String(s)), JsonForm::Word | JsonForm::WordUnlessDefault) => {
                self.known(s).map(str::to_string).ok_or_else(bad)
            }
            (Some(Value::Bool(b)), JsonForm::Bool) => Ok(self.words[usize::from(*b)].0.into()),
            _ => Err(bad()),
        }
    }

    fn metadata(&self, c: &Condition, meta: &mut serde_json::Map<String, Value>) {
        let word = self.setting_of(c);
        match self.to_json(word) {
            Some(v) => meta.insert(self.name.into(), v),
            None if self.json == JsonForm::WordUnlessDefault => None,
            None => meta.insert(self.name.into(), Value::Null),
        };
        if let Some(f) = self.metadata {
            f(word, meta);
        }
    }

    fn contrasts(&self) -> &'static [Contrast] {
        self.contrasts
    }

    fn render_pack(&self, c: &Condition, cx: &mut PackRender) -> Result<(), RenderError> {
        match self.render_pack {
            Some(f) => f(self.setting_of(c), c, cx),
            None => Ok(()),
        }
    }

    fn render_reference(&self, c: &Condition, cx: &mut ReferenceRender) -> Result<(), RenderError> {
        match self.render_reference {
            Some(f) => f(self.setting_of(c), c, cx),
            None => Ok(()),
        }
    }
}
