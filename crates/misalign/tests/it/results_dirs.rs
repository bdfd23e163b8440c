//! `status`, `report` and `view` without OUT read the most recent results folder under
//! `results/` and say which; `misalign runs` lists the folders. Real stores written by real
//! runs against the loopback mock.

use crate::support::{Experiment, TestContext};
use misalign_mock::{MockConfig, MockServer};

/// One call of `mock/mock-model` at the mock at `url`, written as `<id>.yaml` into `cx`'s
/// folder; returns the file's name.
fn experiment(cx: &TestContext, id: &str, url: &str) -> String {
    let file = format!("{id}.yaml");
    cx.write_experiment_as(
        &file,
        &Experiment::new(id)
            .provider("mock", "openai-compatible", url, Some("RD_MOCK_KEY"))
            .models(&["mock/mock-model"])
            .global("max_tokens: 50")
            .samples(1)
            .grid(&["blackmail"], &["none"], &["none"], &["replacement"])
            .classification("enabled: false"),
    );
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_without_out_use_the_newest_results_folder_and_say_so() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let url = server.openai_url();
    let dir = TestContext::new().env("RD_MOCK_KEY", "k");
    tokio::task::spawn_blocking(move || {
        let d = dir.path();
        // Nothing yet: a clear error, exit 2.
        let out = dir.misalign(&["status"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no results folder given"));

        for id in ["older", "newer"] {
            let file = experiment(&dir, id, &url);
            let out = dir.misalign(&["run", &file, "--quiet"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Distinct modification times, whatever the file system's resolution.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let out = dir.misalign(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["experiment_id"], "newer");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("results/newer") && stderr.contains("2 under results/"),
            "{stderr}"
        );

        let out = dir.misalign(&["report", "--no-html"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(d.join("results/newer/summary.csv").is_file());
        assert!(!d.join("results/older/summary.csv").exists());

        let out = dir.misalign(&["runs"]);
        assert!(out.status.success());
        let table = String::from_utf8_lossy(&out.stdout);
        let newer = table.find("results/newer").expect(&table);
        let older = table.find("results/older").expect(&table);
        assert!(newer < older, "newest first: {table}");
        assert!(table.contains("completed"), "{table}");
    })
    .await
    .unwrap();
}
