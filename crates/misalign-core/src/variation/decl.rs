//! A pack's `variation.yaml` and the shared lists of `common/variation-lists.yaml`: what a
//! variant replaces and with what (docs/generalisation.md, "Surface variants").

use super::replace::is_token;
use crate::scenario::ScenarioError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The pack's file of surface-variant declarations.
pub const VARIATION_FILE: &str = "variation.yaml";
/// The shared lists every pack's declarations may draw from.
pub const LISTS_FILE: &str = "common/variation-lists.yaml";
/// Dates move by at most this many weeks.
pub const MAX_SHIFT_WEEKS: u32 = 52;

/// One record of a list: field -> text (`{first: Dorian, last: Vance}`); a plain string is
/// a record of the one field `text`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum RecordIn {
    Text(String),
    Fields(BTreeMap<String, String>),
}

pub(crate) type Record = BTreeMap<String, String>;

impl RecordIn {
    fn into_record(self) -> Record {
        match self {
            RecordIn::Text(t) => BTreeMap::from([("text".to_string(), t)]),
            RecordIn::Fields(f) => f,
        }
    }
}

/// Lists by name.
pub(crate) type Lists = BTreeMap<String, Vec<Record>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    #[serde(default)]
    replace: Vec<EntityIn>,
    #[serde(default)]
    lists: BTreeMap<String, Vec<RecordIn>>,
    #[serde(default)]
    dates: Option<DatesIn>,
    #[serde(default)]
    emails: Option<EmailsIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityIn {
    #[serde(default)]
    list: Option<String>,
    #[serde(default)]
    is: Option<RecordIn>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatesIn {
    shift_weeks: u32,
    /// The scenario's day: month names in the texts move as it does.
    #[serde(default)]
    anchor: Option<chrono::NaiveDate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailsIn {
    #[serde(default)]
    movable: Vec<Vec<String>>,
}

/// What one declaration replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entity {
    /// The texts of `is`, field by field, replaced by those of a record drawn from `list`.
    Listed { list: String, is: Record },
    /// A code replaced by a random one of the same shape (digits by digits, capitals by
    /// capitals).
    Code(String),
}

/// A pack's declarations, checked.
#[derive(Debug)]
pub struct Declarations {
    /// `blackmail/variation.yaml` (as messages name it).
    pub display: String,
    pub(crate) entities: Vec<Entity>,
    pub(crate) lists: Lists,
    pub(crate) shift_weeks: u32,
    pub(crate) anchor: Option<chrono::NaiveDate>,
    pub(crate) movable: Vec<Vec<String>>,
}

/// Characters a replacement text may hold: it lands in emails, addresses and YAML
/// environment files, so no quotes, colons, braces or `$`.
fn plain_text(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '.' | '&'))
        && s.trim() == s
}

/// Reads the shared lists file.
pub fn parse_lists(text: &str, display: &str) -> Result<Lists, ScenarioError> {
    let raw: BTreeMap<String, Vec<RecordIn>> = crate::scenario::yaml_parse(text, display)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(RecordIn::into_record).collect()))
        .collect())
}

impl Declarations {
    /// Reads and checks a pack's `variation.yaml` against the shared lists.
    pub fn parse(text: &str, display: &str, shared: &Lists) -> Result<Declarations, ScenarioError> {
        let raw: FileIn = crate::scenario::yaml_parse(text, display)?;
        let bad = |field: String, message: String| {
            ScenarioError::Other(format!("{display}: `{field}`: {message}"))
        };
        let mut lists = shared.clone();
        for (name, records) in raw.lists {
            lists.insert(
                name,
                records.into_iter().map(RecordIn::into_record).collect(),
            );
        }
        let mut entities = Vec::with_capacity(raw.replace.len());
        for (i, e) in raw.replace.into_iter().enumerate() {
            let at = format!("replace[{i}]");
            let entity = match (e.list, e.is, e.code) {
                (Some(list), Some(is), None) => Entity::Listed {
                    list,
                    is: is.into_record(),
                },
                (None, None, Some(code)) => Entity::Code(code),
                _ => {
                    return Err(bad(
                        at,
                        "write either `list:` with `is:` (the pack's own texts, field by field) or `code:`".into(),
                    ))
                }
            };
            match &entity {
                Entity::Listed { list, is } => {
                    let Some(records) = lists.get(list) else {
                        let known: Vec<&str> = lists.keys().map(String::as_str).collect();
                        return Err(bad(
                            format!("{at}.list"),
                            format!("no list `{list}` in this file's `lists:` or in {LISTS_FILE}; known lists: {}", known.join(", ")),
                        ));
                    };
                    for (field, text) in is {
                        if !is_token(text) {
                            return Err(bad(format!("{at}.is.{field}"), format!("`{text}` must start and end with a letter or digit (it is matched as a whole word)")));
                        }
                    }
                    for (j, r) in records.iter().enumerate() {
                        for field in is.keys() {
                            match r.get(field) {
                                Some(t) if plain_text(t) => {}
                                Some(t) => return Err(bad(format!("lists.{list}[{j}].{field}"), format!("`{t}` may hold only letters, digits, spaces, `-`, `.` and `&`"))),
                                None => return Err(bad(format!("lists.{list}[{j}]"), format!("has no field `{field}`, which {at}.is has"))),
                            }
                        }
                    }
                }
                Entity::Code(code) => {
                    if !is_token(code) || !plain_text(code) {
                        return Err(bad(format!("{at}.code"), format!("`{code}` must be letters, digits and `-`, starting and ending with a letter or digit")));
                    }
                }
            }
            entities.push(entity);
        }
        let (shift_weeks, anchor) = raw.dates.map_or((0, None), |d| (d.shift_weeks, d.anchor));
        if shift_weeks > MAX_SHIFT_WEEKS {
            return Err(bad(
                "dates.shift_weeks".into(),
                format!("{shift_weeks} is more than {MAX_SHIFT_WEEKS}"),
            ));
        }
        let movable = raw.emails.map(|e| e.movable).unwrap_or_default();
        for (i, g) in movable.iter().enumerate() {
            if g.is_empty() || g.iter().any(|p| p.trim().is_empty()) {
                return Err(bad(
                    format!("emails.movable[{i}]"),
                    "a group lists phrases, one of which each movable email contains".into(),
                ));
            }
        }
        let decl = Declarations {
            display: display.to_string(),
            entities,
            lists,
            shift_weeks,
            anchor,
            movable,
        };
        decl.check_enough_records()?;
        Ok(decl)
    }

    /// Every original text, to keep them out of the replacements.
    pub(crate) fn originals(&self) -> impl Iterator<Item = &str> {
        self.entities.iter().flat_map(|e| match e {
            Entity::Listed { is, .. } => is.values().map(String::as_str).collect::<Vec<_>>(),
            Entity::Code(c) => vec![c.as_str()],
        })
    }

    /// The records of `list` a variant may draw: none of whose texts is an original.
    pub(crate) fn candidates(&self, list: &str) -> Vec<&Record> {
        let originals: std::collections::BTreeSet<&str> = self.originals().collect();
        self.lists[list]
            .iter()
            .filter(|r| r.values().all(|v| !originals.contains(v.as_str())))
            .collect()
    }

    /// Each list has a distinct record for every entity drawing from it.
    fn check_enough_records(&self) -> Result<(), ScenarioError> {
        let mut wanted: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &self.entities {
            if let Entity::Listed { list, .. } = e {
                *wanted.entry(list).or_default() += 1;
            }
        }
        for (list, n) in wanted {
            let have = self.candidates(list).len();
            if have < n {
                return Err(ScenarioError::Other(format!(
                    "{}: {n} texts draw from list `{list}`, which has only {have} records that are not the pack's own texts; add records",
                    self.display
                )));
            }
        }
        Ok(())
    }
}
