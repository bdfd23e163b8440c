//! Costs priced with the run's own `prices:`, read from its recorded experiment file: used
//! when readable (even when the rest of the file is not), and a clear error when not,
//! never the built-in prices in their place.

use misalign_report::{load_summary, open_store, write_samples_csv, ReportError, ReportOptions};
use misalign_store::testdata::{conditions, Filler, Sample};

const MODEL: &str = "openai/gpt-4.1";

/// A store whose one run answered once with `MODEL` and recorded `experiment`.
fn store_recording(dir: &std::path::Path, experiment: &str) {
    let f = Filler::new(dir).unwrap();
    let sample = Sample {
        answer: "I will not use the affair as leverage.".into(),
        verdict: Some(false),
        ..Sample::default()
    };
    f.add(MODEL, &conditions(1)[0], 0, &sample).unwrap();
    f.set_experiment_text(experiment).unwrap();
    f.finish().unwrap();
}

fn sample_cost(dir: &std::path::Path) -> Option<f64> {
    let store = open_store(dir).unwrap();
    let summary = load_summary(&store, &ReportOptions::default()).unwrap();
    let row = summary.costs.iter().find(|r| r.model == MODEL).unwrap();
    row.cost_usd
}

#[test]
fn the_runs_own_prices_price_its_answers() {
    let built_in = tempfile::tempdir().unwrap();
    store_recording(built_in.path(), "experiment_id: x\n");
    let own = tempfile::tempdir().unwrap();
    store_recording(
        own.path(),
        "experiment_id: x\nprices:\n  openai/gpt-4.1: { input: 1000.0, output: 1000.0 }\n",
    );
    let (built_in, own) = (sample_cost(built_in.path()), sample_cost(own.path()));
    assert!(
        own.unwrap() > 100.0 * built_in.unwrap(),
        "{own:?} {built_in:?}"
    );
}

#[test]
fn prices_are_read_even_where_the_rest_of_the_recorded_file_no_longer_parses() {
    let dir = tempfile::tempdir().unwrap();
    store_recording(
        dir.path(),
        "a_key_of_a_later_version: 1\nprices:\n  openai/gpt-4.1: { input: 1000.0, output: 1000.0 }\n",
    );
    assert!(sample_cost(dir.path()).unwrap() > 1.0);
}

#[test]
fn unreadable_recorded_prices_are_an_error_naming_the_run_not_built_in_costs() {
    let dir = tempfile::tempdir().unwrap();
    store_recording(
        dir.path(),
        "experiment_id: x\nprices:\n  openai/gpt-4.1: { input: lots, output: 1.0 }\n",
    );
    let store = open_store(dir.path()).unwrap();
    let err = load_summary(&store, &ReportOptions::default()).unwrap_err();
    assert!(
        matches!(err, ReportError::RecordedPrices { run_id: 1, .. }),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("run 1"), "{shown}");
    assert!(shown.contains("prices.openai/gpt-4.1.input"), "{shown}");
    assert!(shown.contains("costs cannot be computed"), "{shown}");
    // The per-sample export prices through the same reading and refuses the same way.
    let csv = dir.path().join("samples.csv");
    let err = write_samples_csv(&store, 1, &csv).unwrap_err();
    assert!(matches!(err, ReportError::RecordedPrices { .. }), "{err:?}");
}
