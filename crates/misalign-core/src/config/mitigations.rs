//! The mitigation axis (`expansions[].variables.mitigations`) and the experiment's own
//! mitigations (top-level `mitigations:`), read and checked at validate time.
//!
//! A user-defined mitigation is a file whose text is added to the system prompt or to the
//! inbox; its path is relative to the experiment file, and it is read here so that a missing
//! or empty file is an error naming the experiment file, line and field before anything runs.

use super::keys;
use super::walk::{self, index, join, quote, Ctx, R};
use super::yaml::Node;
use crate::condition::{
    is_mitigation_name, ExtraInstructions, BUILTIN_MITIGATIONS, INSTRUCTIONS_MITIGATION,
    MITIGATION_JOINER,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where a user-defined mitigation's text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MitigationPlace {
    /// Appended to the system prompt's extra-instructions slot.
    System,
    /// Appended to the inbox as the last email.
    Inbox,
    /// Sent as earlier conversation turns, before the user message.
    Turns,
}

impl MitigationPlace {
    pub fn as_str(self) -> &'static str {
        match self {
            MitigationPlace::System => "system",
            MitigationPlace::Inbox => "inbox",
            MitigationPlace::Turns => "turns",
        }
    }
}

/// One `mitigations.<name>` entry, with its file already read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMitigation {
    pub place: MitigationPlace,
    /// The path as written in the experiment file.
    pub path: String,
    pub text: String,
}

/// Cap on a mitigation file: it goes into every prompt of its conditions.
const MAX_TEXT_BYTES: u64 = 64 * 1024;

/// Reads top-level `mitigations:`. `experiment_file` is the path the experiment was read
/// from; the entries' paths are relative to its folder.
pub(crate) fn user_mitigations(
    cx: Ctx,
    node: &Node,
    path: &str,
    experiment_file: &str,
) -> R<BTreeMap<String, UserMitigation>> {
    let base = Path::new(experiment_file)
        .parent()
        .unwrap_or_else(|| Path::new(""));
    let mut out = BTreeMap::new();
    for (name, key, value) in walk::entries(cx, node, path)? {
        let field = join(path, &name);
        if !is_mitigation_name(&name) {
            return Err(cx.err(
                key.pos,
                &field,
                format!(
                    "{} cannot name a mitigation: use lower-case letters, digits and `_`, \
                     starting with a letter (it becomes part of condition ids), not `none`, \
                     and not ending in {} (an id suffix of its own)",
                    quote(&name),
                    crate::axes::mitigations::later_suffixes()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if BUILTIN_MITIGATIONS.contains(&name.as_str()) {
            return Err(cx.err(
                key.pos,
                &field,
                format!(
                    "`{name}` is a built-in mitigation; give yours another name (built-ins: {})",
                    BUILTIN_MITIGATIONS.join(", ")
                ),
            ));
        }
        let recognised: Vec<&str> = keys::USER_MITIGATION
            .iter()
            .chain(keys::USER_MITIGATION_NOT_YET)
            .copied()
            .collect();
        let f = walk::fields(cx, value, &field, &recognised)?;
        let given: Vec<&str> = recognised
            .into_iter()
            .filter(|k| f.get(k).is_some())
            .collect();
        let place_key = match given.as_slice() {
            [one] => *one,
            _ => {
                return Err(cx.err(
                    value.pos,
                    &field,
                    "give exactly one of `system: FILE` (added to the system prompt), \
                     `inbox: FILE` (added to the inbox as an email) or `turns: FILE` (earlier \
                     conversation turns, `## user` / `## assistant` headings)",
                ))
            }
        };
        let node = f.get(place_key).expect("present");
        let place_field = f.path_of(place_key);
        let place = match place_key {
            "system" => MitigationPlace::System,
            "inbox" => MitigationPlace::Inbox,
            _ => MitigationPlace::Turns,
        };
        let written = walk::name(cx, node, &place_field)?;
        let text = read_text(cx, node, &place_field, base, &written)?;
        if place == MitigationPlace::Turns {
            if let Err(e) = crate::turns::parse_turns(&text) {
                return Err(cx.err(
                    node.pos,
                    &place_field,
                    format!(
                        "`{}`:{}: {}",
                        base.join(&written).display(),
                        e.line,
                        e.message
                    ),
                ));
            }
        }
        out.insert(
            name,
            UserMitigation {
                place,
                path: written,
                text,
            },
        );
    }
    Ok(out)
}

fn read_text(cx: Ctx, node: &Node, field: &str, base: &Path, written: &str) -> R<String> {
    let full = base.join(written);
    let shown = full.display();
    let meta = std::fs::metadata(&full).map_err(|e| {
        cx.err(
            node.pos,
            field,
            format!("cannot read `{shown}` ({e}); the path is relative to the experiment file"),
        )
    })?;
    if !meta.is_file() || meta.len() > MAX_TEXT_BYTES {
        return Err(cx.err(
            node.pos,
            field,
            format!("`{shown}` must be a text file of at most {MAX_TEXT_BYTES} bytes"),
        ));
    }
    let bytes = std::fs::read(&full)
        .map_err(|e| cx.err(node.pos, field, format!("cannot read `{shown}` ({e})")))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        cx.err(
            node.pos,
            field,
            format!("`{shown}` is not UTF-8 text; save it as UTF-8"),
        )
    })?;
    if text.trim().is_empty() {
        return Err(cx.err(
            node.pos,
            field,
            format!("`{shown}` is empty; write the text the mitigation adds"),
        ));
    }
    Ok(text)
}

/// Reads `variables.mitigations`: a list of combinations (`none`, `principles`,
/// `principles+monitoring`, a user-defined name). `none` is the empty combination.
pub(crate) fn axis(
    cx: Ctx,
    node: &Node,
    path: &str,
    user: &BTreeMap<String, UserMitigation>,
    extra_instructions: &[ExtraInstructions],
) -> R<Vec<Vec<String>>> {
    let items = walk::nonempty_list(cx, node, path, "mitigation (or `none`)")?;
    let mut known: Vec<&str> = BUILTIN_MITIGATIONS.to_vec();
    known.extend(user.keys().map(String::as_str));
    known.push("none");
    let mut out: Vec<Vec<String>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = index(path, i);
        let written = walk::name(cx, item, &field)?;
        let combo = combination(cx, item, &field, &written, &known, user)?;
        if combo.iter().any(|n| n == INSTRUCTIONS_MITIGATION)
            && extra_instructions.contains(&ExtraInstructions::Goal)
        {
            return Err(cx.err(
                item.pos,
                &field,
                "mitigation `instructions` and `extra_instructions: goal` fill the same slot \
                 of the system prompt; drop `goal` from extra_instructions in this expansion \
                 or put it in another expansion",
            ));
        }
        if !out.contains(&combo) {
            out.push(combo);
        }
    }
    Ok(out)
}

fn combination(
    cx: Ctx,
    node: &Node,
    field: &str,
    written: &str,
    known: &[&str],
    user: &BTreeMap<String, UserMitigation>,
) -> R<Vec<String>> {
    if written == "none" {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = Vec::new();
    for name in written.split(MITIGATION_JOINER) {
        if name == "none" {
            return Err(cx.err(
                node.pos,
                field,
                format!(
                    "{}: `none` stands alone, it does not combine",
                    quote(written)
                ),
            ));
        }
        let builtin = BUILTIN_MITIGATIONS.contains(&name);
        if let Some((_, why)) = crate::condition::RETIRED_MITIGATIONS
            .iter()
            .find(|(old, _)| *old == name && !user.contains_key(name))
        {
            return Err(cx.err(node.pos, field, why.to_string()));
        }
        if !builtin && !user.contains_key(name) {
            return Err(cx.err(
                node.pos,
                field,
                format!(
                    "unknown mitigation {}{}; expected `none`, a built-in ({}) or a name \
                     defined under the top-level `mitigations:`, joined with `+` to combine",
                    quote(name),
                    walk::did_you_mean(name, known),
                    BUILTIN_MITIGATIONS.join(", ")
                ),
            ));
        }
        if names.iter().any(|n| n == name) {
            return Err(cx.err(
                node.pos,
                field,
                format!("{}: `{name}` is named twice", quote(written)),
            ));
        }
        names.push(name.to_string());
    }
    Ok(crate::condition::canonical_mitigations(&names))
}
