//! The progress display of `misalign run`: an indicatif bar with rate, ETA, retries and
//! errors per provider on a terminal; a plain status line every few seconds otherwise.

use crate::say::note;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use misalign_run::{Counters, Tally};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to show progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// An animated bar on stderr (a terminal).
    Bar,
    /// A plain line every [`LINE_EVERY`] (logs, CI, `--quiet`).
    Lines,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

/// A running progress display; [`ProgressView::finish`] stops it.
pub struct ProgressView {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

/// `mock: 120 ok 2 err 5 retries | openai: ...` (only providers with something to say).
fn per_provider(p: &BTreeMap<String, Tally>) -> String {
    p.iter()
        .map(|(name, t)| {
            let mut s = format!("{name}: {} ok", t.done);
            if t.errors > 0 {
                s.push_str(&format!(" {} err", t.errors));
            }
            if t.retries > 0 {
                s.push_str(&format!(" {} retries", t.retries));
            }
            if t.steps > 0 {
                s.push_str(&format!(" {} agent steps", t.steps));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

impl ProgressView {
    pub fn start(counters: Arc<Counters>, total: u64, display: Display) -> ProgressView {
        match display {
            Display::Bar => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30.cyan/blue} {pos}/{len} {per_sec:.dim} ETA {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                let b = bar.clone();
                let task = tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_millis(200));
                    loop {
                        tick.tick().await;
                        let t = counters.total();
                        b.set_position(t.done + t.errors);
                        b.set_message(per_provider(&counters.per_provider()));
                    }
                });
                ProgressView {
                    task,
                    bar: Some(bar),
                }
            }
            Display::Lines => {
                let task = tokio::spawn(async move {
                    let t0 = Instant::now();
                    let mut tick = tokio::time::interval(LINE_EVERY);
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        let t = counters.total();
                        let finished = t.done + t.errors;
                        let secs = t0.elapsed().as_secs_f64();
                        let rate = finished as f64 / secs.max(1e-9);
                        let eta = if rate > 0.0 {
                            format!("{:.0}s", total.saturating_sub(finished) as f64 / rate)
                        } else {
                            "?".into()
                        };
                        note!(
                            "[{secs:.0}s] {finished}/{total} done, {rate:.1}/s, ETA {eta}; {}",
                            per_provider(&counters.per_provider())
                        );
                    }
                });
                ProgressView { task, bar: None }
            }
        }
    }

    pub fn finish(self) {
        self.task.abort();
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_summary() {
        let mut m = BTreeMap::new();
        m.insert(
            "mock".to_string(),
            Tally {
                done: 3,
                errors: 1,
                retries: 2,
                steps: 7,
                ..Default::default()
            },
        );
        m.insert(
            "openai".to_string(),
            Tally {
                done: 5,
                ..Default::default()
            },
        );
        assert_eq!(
            per_provider(&m),
            "mock: 3 ok 1 err 2 retries 7 agent steps | openai: 5 ok"
        );
    }
}
