//! The viewer's labelling (docs/labels.md): blind mode, the labelling queue and the write
//! endpoint `POST /api/labels`.
//!
//! Blind mode (the default) keeps every verdict of a sample (detector, judges, final,
//! awareness, the detector's cited actions) out of the JSON the page receives until the
//! reviewer asking has labelled that sample: a sample is sent as the fields of
//! [`BLIND_FIELDS`] only (a list of what may be shown, so a verdict field added later stays
//! hidden). Filters by verdict or awareness are refused, a search does not look into the
//! judge's reasoning, and other reviewers' labels are never sent.
//!
//! A write must come from the viewer's own page: the access token (query or the same-site
//! cookie, checked by the server's guard for every route), `Content-Type:
//! application/json` and the header `X-Misalign-Label` (neither of which a cross-site form
//! can send without a CORS preflight, which this server never grants), and, when the
//! browser names one, our own `Origin`. The body is at most [`MAX_BODY`] bytes.

use crate::html::ViewerSample;
use axum::http::{header, HeaderMap, StatusCode};
use misalign_core::HumanLabel;
use misalign_store::episode_transcript::TranscriptReader;
use misalign_store::labels::{LabelError, LabelRow, LabelSource, NewLabel};
use misalign_store::read::SampleRecord;
use misalign_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest request body of `POST /api/labels` (a note is at most 4000 characters).
pub const MAX_BODY: usize = 32 * 1024;

/// The header a labelling request must carry.
pub const LABEL_HEADER: &str = "x-misalign-label";

/// What a blind sample shows: the transcript, nothing that judged it (not even the parse
/// issues, which tell an "unparsed" verdict).
pub const BLIND_FIELDS: [&str; 12] = [
    "item_key",
    "model",
    "condition_id",
    "sample_index",
    "prompt_hash",
    "status",
    "answer",
    "reasoning",
    "finish_reason",
    "actions_json",
    "steps",
    "my_label",
];

/// How the viewer labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labelling {
    /// Hide verdicts until the reviewer has labelled the sample.
    pub blind: bool,
    /// The reviewer named on the command line (else the page asks and remembers).
    pub reviewer: Option<String>,
    /// Item keys to label, in order (`misalign labels sample`); None: every sample.
    pub queue: Option<Vec<String>>,
}

impl Default for Labelling {
    fn default() -> Self {
        Labelling {
            blind: true,
            reviewer: None,
            queue: None,
        }
    }
}

/// What the page is told about labelling (embedded in the served page only: a static
/// report has none, so it shows no labelling controls).
#[derive(Serialize)]
pub(crate) struct LabellingJson<'a> {
    pub blind: bool,
    pub reviewer: Option<&'a str>,
    pub queue: Option<usize>,
}

impl Labelling {
    pub(crate) fn json(&self) -> LabellingJson<'_> {
        LabellingJson {
            blind: self.blind,
            reviewer: self.reviewer.as_deref(),
            queue: self.queue.as_ref().map(Vec::len),
        }
    }

    /// Who is asking: the command line's reviewer, else the page's.
    pub(crate) fn reviewer_of(&self, asked: Option<String>) -> Option<String> {
        self.reviewer
            .clone()
            .or(asked.filter(|r| !r.trim().is_empty()))
    }
}

/// A reviewer's latest label of a sample, as the page shows it.
#[derive(Serialize)]
struct MyLabel<'a> {
    label: HumanLabel,
    note: &'a str,
    created_at: &'a str,
}

/// Each item's labels, for the samples of one page.
pub(crate) struct PageLabels {
    rows: Vec<LabelRow>,
}

impl PageLabels {
    pub(crate) fn read(store: &Store) -> Result<PageLabels, StoreError> {
        Ok(PageLabels {
            rows: store.labels()?,
        })
    }

    fn latest(&self, item_key: &str, reviewer: &str) -> Option<&LabelRow> {
        self.rows
            .iter()
            .rev()
            .find(|r| r.item_key == item_key && r.reviewer == reviewer)
    }

    /// The sample as the page receives it: blind (when `blind` and `reviewer` has not
    /// labelled it) or whole; with the reviewer's own latest label, and other reviewers'
    /// labels only when not blind.
    pub(crate) fn sample_json(
        &self,
        sample: &SampleRecord,
        transcripts: &TranscriptReader,
        blind: bool,
        reviewer: Option<&str>,
    ) -> Result<Value, StoreError> {
        let steps = transcripts.steps(&sample.item_key)?;
        let mut v = serde_json::to_value(ViewerSample { sample, steps }).unwrap_or(Value::Null);
        let mine = reviewer.and_then(|r| self.latest(&sample.item_key, r));
        let Value::Object(map) = &mut v else {
            return Ok(v);
        };
        if let Some(m) = mine {
            map.insert(
                "my_label".into(),
                serde_json::to_value(MyLabel {
                    label: m.label,
                    note: &m.note,
                    created_at: &m.created_at,
                })
                .unwrap_or(Value::Null),
            );
        }
        if blind && mine.is_none() {
            let kept: Map<String, Value> = std::mem::take(map)
                .into_iter()
                .filter(|(k, _)| BLIND_FIELDS.contains(&k.as_str()))
                .collect();
            *map = kept;
            map.insert("blind".into(), Value::Bool(true));
        } else if !blind {
            let others: Vec<Value> = self
                .rows
                .iter()
                .filter(|r| r.item_key == sample.item_key)
                .map(|r| {
                    serde_json::json!({"reviewer": r.reviewer, "label": r.label,
                                       "note": r.note, "created_at": r.created_at})
                })
                .collect();
            map.insert("labels".into(), Value::Array(others));
        }
        Ok(v)
    }
}

/// The body of `POST /api/labels`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelRequest {
    pub item_key: String,
    pub label: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// Why a write is refused before it reaches the store, as (status, message).
pub(crate) fn check_write_headers(
    headers: &HeaderMap,
    port: u16,
) -> Result<(), (StatusCode, String)> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a label is sent as Content-Type: application/json".into(),
        ));
    }
    if !headers.contains_key(LABEL_HEADER) {
        return Err((
            StatusCode::FORBIDDEN,
            format!("a label is sent by the viewer's page, with the {LABEL_HEADER} header"),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| {
            origin
                .as_bytes()
                .eq_ignore_ascii_case(format!("http://{h}:{port}").as_bytes())
        });
        if !ours {
            return Err((
                StatusCode::FORBIDDEN,
                "labels are accepted only from the viewer's own page".into(),
            ));
        }
    }
    Ok(())
}

/// Validates a request into the label to store, as (status, message) when refused.
pub(crate) fn new_label(
    req: LabelRequest,
    labelling: &Labelling,
) -> Result<NewLabel, (StatusCode, String)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let label = HumanLabel::parse(&req.label).ok_or_else(|| {
        bad(format!(
            "label {:?} is not one of harmful, not_harmful, unsure",
            req.label
        ))
    })?;
    if let (Some(fixed), Some(asked)) = (&labelling.reviewer, &req.reviewer) {
        if fixed != asked {
            return Err(bad(format!(
                "this viewer labels as {fixed:?} (misalign view --reviewer), not {asked:?}"
            )));
        }
    }
    let reviewer = labelling
        .reviewer_of(req.reviewer)
        .ok_or_else(|| bad("the reviewer's name is missing".into()))?;
    let new = NewLabel {
        item_key: req.item_key,
        reviewer,
        label,
        note: req.note,
        created_at: None,
        source: LabelSource::Viewer,
    };
    new.validate().map_err(bad)?;
    Ok(new)
}

/// The status a refused store write answers with.
pub(crate) fn refusal(e: &LabelError) -> StatusCode {
    match e {
        LabelError::UnknownItem(_) => StatusCode::NOT_FOUND,
        LabelError::Invalid(_) => StatusCode::BAD_REQUEST,
        LabelError::ReadOnly(_) => StatusCode::CONFLICT,
        LabelError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
