//! The `variation` axis: surface variants of each condition (docs/generalisation.md,
//! "Surface variants"). An expansion's `variables: {variation: {count: N, seed: S}}` adds N
//! variants beside the canonical text (index 0): every name, company, address, code and
//! date replaced from the pack's lists, the wording drawn from its alternatives, the
//! movable emails reordered (`crate::variation`).
//!
//! The setting word is the variant index (`"3"`), with the seed after an `s` when it is not
//! [`DEFAULT_SEED`] (`"3s42"`), so two seeds never share an id: id suffix `_v3` / `_v3s42`.
//! Index 0 is the default: never stored, no suffix, today's text byte for byte. In the
//! stored condition JSON a variant is `"variation": {"index": 3, "seed": 42}`.

use super::{Axis, FileAxes};
use crate::condition::Condition;
use crate::config::walk::{self, Ctx, R};
use crate::config::yaml::Node;
use serde_json::{Map, Value};
use std::borrow::Cow;

const NAME: &str = "variation";
/// The canonical text's setting.
const CANONICAL: &str = "0";
/// The seed when an expansion names none; variants of this seed have no seed in their id.
pub const DEFAULT_SEED: u32 = 0;
/// At most this many variants per condition (each is a full prompt and its samples).
pub const MAX_VARIANTS: u32 = 1000;
/// Starts the suffix; the index follows.
const SUFFIX: &str = "_v";

/// A variant: its index (1..) and the seed of its generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VariationSetting {
    pub index: u32,
    pub seed: u32,
}

impl VariationSetting {
    /// The setting word (`3`, `3s42`).
    pub fn word(self) -> String {
        if self.index == 0 {
            CANONICAL.to_string()
        } else if self.seed == DEFAULT_SEED {
            self.index.to_string()
        } else {
            format!("{}s{}", self.index, self.seed)
        }
    }

    /// Reads a setting word back; only the spelling [`VariationSetting::word`] writes.
    pub fn parse(word: &str) -> Option<Self> {
        let (index, seed) = match word.split_once('s') {
            Some((i, s)) => (i, Some(s)),
            None => (word, None),
        };
        let index = plain_number(index)?;
        let seed = match seed {
            Some(s) => plain_number(s).filter(|s| *s != DEFAULT_SEED)?,
            None => DEFAULT_SEED,
        };
        let setting = VariationSetting { index, seed };
        (setting.word() == word).then_some(setting)
    }
}

/// A decimal number without sign or leading zeros.
fn plain_number(s: &str) -> Option<u32> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Whether `name` ends like a variation suffix (`_v3`, `_v3s42`): a mitigation name may
/// not, or its id would read back as a variant.
pub(crate) fn ends_like_suffix(name: &str) -> bool {
    name.rsplit_once(SUFFIX).is_some_and(|(_, tail)| {
        tail.starts_with(|c: char| c.is_ascii_digit())
            && tail.bytes().all(|b| b.is_ascii_digit() || b == b's')
    })
}

pub(crate) struct VariationAxis;

pub(crate) static AXIS: VariationAxis = VariationAxis;

impl Axis for VariationAxis {
    fn name(&self) -> &'static str {
        NAME
    }

    fn key(&self) -> &'static str {
        NAME
    }

    fn id_rank(&self) -> u8 {
        7
    }

    fn default_word(&self) -> &'static str {
        CANONICAL
    }

    fn write_suffix(&self, word: &str, id: &mut String) {
        id.push_str(SUFFIX);
        id.push_str(word);
    }

    fn grammar(&self) -> String {
        format!("[{SUFFIX}k[sS]]")
    }

    fn strip_suffix<'a>(&self, id: &'a str) -> Result<(&'a str, Option<Cow<'static, str>>), ()> {
        let Some((head, word)) = id.rsplit_once(SUFFIX) else {
            return Ok((id, None));
        };
        // Only a tail of digits (and one `s`) is ours: `_v` elsewhere (a scenario
        // `blackmail_v2` is followed by the goal type) is not.
        if !word.starts_with(|c: char| c.is_ascii_digit())
            || !word.bytes().all(|b| b.is_ascii_digit() || b == b's')
        {
            return Ok((id, None));
        }
        match VariationSetting::parse(word) {
            Some(s) if s.index > 0 => Ok((head, Some(Cow::Owned(s.word())))),
            _ => Err(()),
        }
    }

    /// `{count: N, seed: S}`: the canonical text and variants 1..=N of seed S.
    fn read_values(
        &self,
        cx: Ctx,
        node: Option<&Node>,
        path: &str,
        _file: &FileAxes,
    ) -> R<Vec<String>> {
        let Some(node) = node else {
            return Ok(vec![CANONICAL.to_string()]);
        };
        let fields = walk::fields(cx, node, path, &["count", "seed"])?;
        let count_node = fields.required(
            cx,
            "count",
            "the number of variants beside the canonical text, e.g. `count: 5`",
        )?;
        let count: u32 = walk::uint(cx, count_node, &fields.path_of("count"), 1, MAX_VARIANTS)?;
        let seed = match fields.get("seed") {
            Some(n) => walk::uint(cx, n, &fields.path_of("seed"), 0, u32::MAX)?,
            None => DEFAULT_SEED,
        };
        Ok((0..=count)
            .map(|index| VariationSetting { index, seed }.word())
            .collect())
    }

    fn json_schema(&self) -> Value {
        serde_json::json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["count"],
            "properties": {
                "count": {"type": "integer", "minimum": 1, "maximum": MAX_VARIANTS,
                    "description": "Surface variants beside the canonical text (id suffixes _v1.._vN)."},
                "seed": {"type": "integer", "minimum": 0, "maximum": u32::MAX,
                    "description": "Seed of the variant generator (default 0); another seed gives other variants, id suffix _v<k>s<seed>."},
            },
            "description": "Surface variants: names, companies, addresses, codes and dates replaced from the pack's lists, wording and email order varied (docs/generalisation.md).",
        })
    }

    fn to_json(&self, word: &str) -> Option<Value> {
        let s = VariationSetting::parse(word).filter(|s| s.index > 0)?;
        Some(serde_json::json!({"index": s.index, "seed": s.seed}))
    }

    fn read_json(&self, value: Option<&Value>) -> Result<String, String> {
        let bad = || "`variation` is not {\"index\": k, \"seed\": s} with k >= 1".to_string();
        let Some(value) = value else {
            return Ok(CANONICAL.to_string());
        };
        let num = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
        };
        match (
            value.as_object().map(|o| o.len()),
            num("index"),
            num("seed"),
        ) {
            (Some(2), Some(index @ 1..), Some(seed)) => Ok(VariationSetting { index, seed }.word()),
            _ => Err(bad()),
        }
    }

    /// `variation: {index, seed}` for a variant; nothing for the canonical text (so every
    /// prompt folder that existed keeps its `metadata.json`).
    fn metadata(&self, c: &Condition, meta: &mut Map<String, Value>) {
        if let Some(v) = self.to_json(c.setting(NAME).unwrap_or(CANONICAL)) {
            meta.insert(NAME.into(), v);
        }
    }
}

impl Condition {
    /// The variant index: 0 is the canonical text.
    pub fn variation_index(&self) -> u32 {
        self.variation().map_or(0, |s| s.index)
    }

    /// The variant and its seed; `None` for the canonical text.
    pub fn variation(&self) -> Option<VariationSetting> {
        self.setting(NAME)
            .and_then(VariationSetting::parse)
            .filter(|s| s.index > 0)
    }

    /// Sets the variant (index 0: the canonical text).
    pub fn set_variation(&mut self, index: u32, seed: u32) {
        self.set_setting(NAME, CANONICAL, VariationSetting { index, seed }.word());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_words_read_back_in_one_spelling() {
        for (index, seed, word) in [(0, 0, "0"), (3, 0, "3"), (3, 42, "3s42"), (12, 7, "12s7")] {
            let s = VariationSetting { index, seed };
            assert_eq!(s.word(), word);
            assert_eq!(VariationSetting::parse(word), Some(s));
        }
        for bad in ["", "03", "3s0", "3s", "s4", "3s04", "x", "3s4s5", "-1"] {
            assert_eq!(VariationSetting::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn suffix_shapes() {
        assert!(ends_like_suffix("house_v2"));
        assert!(ends_like_suffix("house_v2s9"));
        assert!(!ends_like_suffix("house_vote"));
        assert!(!ends_like_suffix("house_v"));
        assert!(!ends_like_suffix("rules"));
    }
}
