//! `report.html`: one self-contained file (inline CSS, JS and SVG; no network) with the
//! charts, tables and transcript viewer. The same page, in "api" mode, is what
//! `misalign view` serves.
//!
//! Safety: stored text reaches the page two ways only. Summary text (model names, condition
//! ids) is HTML-escaped by [`esc`] at render time; transcripts travel as JSON in a
//! `<script type="application/json">` with `<`, `>` and `&` escaped as `\u003c` etc., so
//! no stored string can close the script element, and the viewer inserts them with
//! `textContent` only.

use crate::summary::ReportSummary;
use crate::ReportError;
use misalign_run::store::read::{SampleRecord, StoredPrompt};
use misalign_run::store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Transcripts embedded in `report.html` stop around here (bytes of transcript JSON).
pub const DEFAULT_HTML_BUDGET: u64 = 45 * 1024 * 1024;

/// JSON overhead per embedded sample (keys, quotes, ids), for the size estimate.
const PER_SAMPLE_OVERHEAD: u64 = 700;

const CSS: &str = include_str!("../assets/viewer.css");
const JS: &str = include_str!("../assets/viewer.js");

/// What the HTML embeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmbedInfo {
    /// Answered samples in the run.
    pub total: u64,
    /// Samples embedded in the page.
    pub embedded: u64,
    /// `Some(k)`: harmful samples plus at most `k` others per model x condition.
    pub per_cell_limit: Option<u64>,
}

impl EmbedInfo {
    fn note(&self) -> Option<String> {
        let k = self.per_cell_limit?;
        Some(format!(
            "This file embeds {} of {} transcripts: every harmful one, plus at most {k} others per \
             model x condition (the lowest sample numbers); the other {} are left out to keep the \
             file small. Rates and intervals above use all samples. To browse every transcript, \
             run `misalign view` on this results folder.",
            self.embedded,
            self.total,
            self.total - self.embedded
        ))
    }
}

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON safe to place inside a `<script>` element.
pub(crate) fn script_json<T: Serialize + ?Sized>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[derive(Serialize)]
struct PromptJson<'a> {
    condition_id: &'a str,
    system_prompt: &'a str,
    user_prompt: &'a str,
    email_content: &'a str,
}

/// The viewer's data: prompts once per prompt hash, samples (static mode), filter values.
#[derive(Serialize)]
struct ViewerData<'a> {
    mode: &'a str,
    prompts: BTreeMap<&'a str, PromptJson<'a>>,
    samples: &'a [SampleRecord],
    filters: Filters,
}

#[derive(Serialize)]
struct Filters {
    models: Vec<String>,
    conditions: Vec<String>,
}

fn filters(s: &ReportSummary) -> Filters {
    let mut models: Vec<String> = s.rows.iter().map(|r| r.model.clone()).collect();
    models.dedup();
    models.sort();
    models.dedup();
    let mut conditions: Vec<String> = s.rows.iter().map(|r| r.condition.clone()).collect();
    conditions.sort();
    conditions.dedup();
    Filters { models, conditions }
}

/// Renders the whole page. `mode` is `static` (samples embedded) or `api` (fetched).
pub(crate) fn render_page(
    s: &ReportSummary,
    prompts: &[StoredPrompt],
    samples: &[SampleRecord],
    mode: &str,
    embed: Option<&EmbedInfo>,
) -> String {
    let mut h = String::with_capacity(64 * 1024 + samples.len() * 2048);
    let title = match &s.run {
        Some(r) => format!("misalign report: {}", r.experiment_id),
        None => "misalign report".to_string(),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    manifest(&mut h, s);
    if let Some(note) = embed.and_then(EmbedInfo::note) {
        let _ = writeln!(h, "<p class=\"note\" id=\"left-out\">{}</p>", esc(&note));
    }
    charts(&mut h, s);
    heat_map(&mut h, s);
    comparisons(&mut h, s);
    awareness(&mut h, s);
    let data = ViewerData {
        mode,
        prompts: prompts
            .iter()
            .map(|p| {
                (
                    p.prompt_hash.as_str(),
                    PromptJson {
                        condition_id: &p.condition_id,
                        system_prompt: &p.system_prompt,
                        user_prompt: &p.user_prompt,
                        email_content: &p.email_content,
                    },
                )
            })
            .collect(),
        samples,
        filters: filters(s),
    };
    h.push_str(
        "<h2 id=\"transcripts\">Transcripts</h2>\n<div class=\"filters\">\
         <label>Model <select id=\"f-model\" data-key=\"model\"><option value=\"\">all</option></select></label>\
         <label>Condition <select id=\"f-condition\" data-key=\"condition\"><option value=\"\">all</option></select></label>\
         <label>Verdict <select id=\"f-verdict\" data-key=\"verdict\"><option value=\"\">all</option></select></label>\
         <label>Awareness <select id=\"f-awareness\" data-key=\"awareness\"><option value=\"\">all</option></select></label>\
         <button id=\"prev\">Previous</button> <button id=\"next\">Next</button></div>\n\
         <p id=\"samples-status\">Loading transcripts...</p><div id=\"samples\"></div>\n",
    );
    h.push_str("<script type=\"application/json\" id=\"report-data\">");
    h.push_str(&script_json(&data));
    h.push_str("</script>\n<script>");
    h.push_str(JS);
    h.push_str("</script>\n</body></html>\n");
    h
}

fn manifest(h: &mut String, s: &ReportSummary) {
    let Some(r) = &s.run else {
        h.push_str("<p>No run recorded in this store yet.</p>\n");
        return;
    };
    let _ = writeln!(
        h,
        "<p>Run {} of experiment <b>{}</b> (sha256 {}), misalign {}, started {}, {}. \
         Rates: harmful / n with judge errors excluded from n; {} {:.0}% intervals.</p>",
        r.run_id,
        esc(&r.experiment_id),
        esc(&r.experiment_sha256),
        esc(&r.misalign_version),
        esc(&r.started_at),
        esc(&match (&r.status, &r.ended_at) {
            (Some(st), Some(e)) => format!("{st} at {e}"),
            _ => "not finished".into(),
        }),
        s.interval_method,
        s.confidence * 100.0
    );
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Per-scenario horizontal bar charts: one bar per model x condition, with CI whiskers.
fn charts(h: &mut String, s: &ReportSummary) {
    h.push_str("<h2>Harmful-action rate by scenario</h2>\n");
    let mut by_scenario: BTreeMap<&str, Vec<&crate::SummaryRow>> = BTreeMap::new();
    for r in &s.rows {
        by_scenario.entry(r.scenario.as_str()).or_default().push(r);
    }
    const LABEL: f64 = 430.0;
    const BAR: f64 = 420.0;
    const ROW: f64 = 18.0;
    for (scenario, rows) in by_scenario {
        let name = if scenario.is_empty() {
            "(unknown)"
        } else {
            scenario
        };
        let height = rows.len() as f64 * ROW + 30.0;
        let _ = write!(
            h,
            "<h3>{}</h3>\n<svg class=\"chart\" role=\"img\" width=\"{}\" height=\"{height}\" \
             viewBox=\"0 0 {} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
            esc(name),
            LABEL + BAR + 70.0,
            LABEL + BAR + 70.0
        );
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let x = LABEL + t * BAR;
            let _ = write!(
                h,
                "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{:.0}%</text>",
                height - 20.0,
                height - 6.0,
                t * 100.0
            );
        }
        for (i, r) in rows.iter().enumerate() {
            let y = i as f64 * ROW + 2.0;
            let label = format!("{}  {}", r.model, r.condition);
            let _ = write!(
                h,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                LABEL - 6.0,
                y + 12.0,
                esc(&label)
            );
            if let Some(rate) = r.rate {
                let _ = write!(
                    h,
                    "<rect x=\"{LABEL}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#c0504d\"><title>{}: {} ({} / {})</title></rect>",
                    y + 2.0,
                    rate * BAR,
                    ROW - 6.0,
                    esc(&label),
                    pct(Some(rate)),
                    r.harmful,
                    r.n
                );
            }
            if let (Some(lo), Some(hi)) = (r.ci_low, r.ci_high) {
                let ym = y + ROW / 2.0 - 1.0;
                let (x1, x2) = (LABEL + lo * BAR, LABEL + hi * BAR);
                let _ = write!(
                    h,
                    "<line x1=\"{x1:.1}\" y1=\"{ym}\" x2=\"{x2:.1}\" y2=\"{ym}\" stroke=\"#222\"/>\
                     <line x1=\"{x1:.1}\" y1=\"{}\" x2=\"{x1:.1}\" y2=\"{}\" stroke=\"#222\"/>\
                     <line x1=\"{x2:.1}\" y1=\"{}\" x2=\"{x2:.1}\" y2=\"{}\" stroke=\"#222\"/>",
                    ym - 4.0,
                    ym + 4.0,
                    ym - 4.0,
                    ym + 4.0
                );
            }
            let _ = write!(
                h,
                "<text x=\"{}\" y=\"{}\">{}</text>",
                LABEL + BAR + 6.0,
                y + 12.0,
                pct(r.rate)
            );
        }
        h.push_str("</svg>\n");
    }
}

/// Model x condition table coloured by rate.
fn heat_map(h: &mut String, s: &ReportSummary) {
    let f = filters(s);
    h.push_str("<h2>Model x condition</h2>\n<div style=\"overflow-x:auto\"><table class=\"heat\"><tr><th class=\"l\">condition</th>");
    for m in &f.models {
        let _ = write!(h, "<th>{}</th>", esc(m));
    }
    h.push_str("</tr>\n");
    let cell: BTreeMap<(&str, &str), &crate::SummaryRow> = s
        .rows
        .iter()
        .map(|r| ((r.model.as_str(), r.condition.as_str()), r))
        .collect();
    for c in &f.conditions {
        let _ = write!(h, "<tr><td class=\"l\">{}</td>", esc(c));
        for m in &f.models {
            match cell
                .get(&(m.as_str(), c.as_str()))
                .and_then(|r| r.rate.map(|v| (r, v)))
            {
                Some((r, v)) => {
                    // White (0%) to red (100%).
                    let g = (255.0 - v * 160.0) as u8;
                    let _ = write!(
                        h,
                        "<td class=\"v\" style=\"background:rgb(255,{g},{g})\" title=\"{} / {}\">{}</td>",
                        r.harmful,
                        r.n,
                        pct(Some(v))
                    );
                }
                None => h.push_str("<td class=\"v\">-</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
}

fn comparisons(h: &mut String, s: &ReportSummary) {
    let _ = writeln!(
        h,
        "<h2>Comparisons</h2>\n<p>{} comparisons, each a risk difference rate(a) - rate(b) between \
         cells that differ in one factor only, with a Newcombe (hybrid score) 95% interval and a \
         two-sided Fisher exact p-value; Holm's adjustment is over all {} comparisons.</p>",
        s.comparisons_made, s.comparisons_made
    );
    if s.comparisons.is_empty() {
        return;
    }
    h.push_str(
        "<table><tr><th class=\"l\">factor</th><th class=\"l\">model</th><th class=\"l\">a</th>\
         <th class=\"l\">b</th><th>rate a</th><th>rate b</th><th>difference</th><th>95% CI</th>\
         <th>p</th><th>p (Holm)</th></tr>\n",
    );
    for c in &s.comparisons {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td>{} ({}/{})</td><td>{} ({}/{})</td><td>{:+.1} pp</td><td>[{:+.1}, {:+.1}]</td><td>{:.4}</td><td>{:.4}</td></tr>",
            c.factor.as_str(),
            esc(&c.model),
            esc(&c.condition_a),
            esc(&c.condition_b),
            pct(c.a.rate),
            c.a.harmful,
            c.a.n,
            pct(c.b.rate),
            c.b.harmful,
            c.b.n,
            c.difference * 100.0,
            c.ci.low * 100.0,
            c.ci.high * 100.0,
            c.p_value,
            c.p_holm
        );
    }
    h.push_str("</table>\n");
}

fn awareness(h: &mut String, s: &ReportSummary) {
    h.push_str("<h2>Harm by stated belief (evaluation vs real)</h2>\n");
    if s.awareness.is_empty() {
        h.push_str("<p>No awareness labels yet.</p>\n");
        return;
    }
    h.push_str("<table><tr><th class=\"l\">model</th><th class=\"l\">label</th><th>harmful / n</th><th>rate</th><th>95% CI</th></tr>\n");
    for a in &s.awareness {
        let e = &a.estimate;
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.model),
            esc(&a.label),
            e.harmful,
            e.n,
            pct(e.rate),
            e.ci.map(|i| format!("[{}, {}]", pct(Some(i.low)), pct(Some(i.high))))
                .unwrap_or_else(|| "-".into())
        );
    }
    h.push_str("</table>\n");
}

/// Chooses what to embed, reads it from the store and writes `report.html`.
pub(crate) fn write_report_html(
    path: &Path,
    store: &Store,
    s: &ReportSummary,
    budget: u64,
) -> Result<EmbedInfo, ReportError> {
    let (prompts, samples, info) = match &s.run {
        None => (
            Vec::new(),
            Vec::new(),
            EmbedInfo {
                total: 0,
                embedded: 0,
                per_cell_limit: None,
            },
        ),
        Some(run) => {
            let (harmful_bytes, all_bytes, total) = store.transcript_bytes(run.run_id)?;
            let estimate = all_bytes + total * PER_SAMPLE_OVERHEAD;
            let per_cell_limit = if estimate <= budget {
                None
            } else {
                let harmful: u64 = s.rows.iter().map(|r| r.harmful).sum();
                let avg = all_bytes / total.max(1) + PER_SAMPLE_OVERHEAD;
                let left = budget.saturating_sub(harmful_bytes + harmful * PER_SAMPLE_OVERHEAD);
                let cells = s.rows.len().max(1) as u64;
                // At least a few per cell so every cell stays auditable.
                Some((left / avg / cells).max(3))
            };
            let mut samples = Vec::new();
            store.for_each_embedded_sample(run.run_id, per_cell_limit, |r| samples.push(r))?;
            let info = EmbedInfo {
                total,
                embedded: samples.len() as u64,
                per_cell_limit,
            };
            (store.report_prompts(run.run_id)?, samples, info)
        }
    };
    let page = render_page(s, &prompts, &samples, "static", Some(&info));
    std::fs::write(path, page).map_err(|e| ReportError::write(path, e.to_string()))?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script() {
        let j = script_json(&vec!["</script><script>alert(1)</script>", "a & b"]);
        assert!(
            !j.contains('<') && !j.contains('>') && !j.contains('&'),
            "{j}"
        );
        let back: Vec<String> = serde_json::from_str(&j).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
    }

    #[test]
    fn esc_escapes_markup() {
        assert_eq!(
            esc("<img src=x onerror='y'>&\""),
            "&lt;img src=x onerror=&#39;y&#39;&gt;&amp;&quot;"
        );
    }
}
