//! `status`, `report` and `view` without OUT read the most recent results folder under
//! `results/` and say which; `misalign runs` lists the folders. Real stores written by real
//! runs against the loopback mock.

use crate::support::bin;
use misalign_mock::{MockConfig, MockServer};
use std::path::Path;
use std::process::{Command, Output};

fn misalign(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env("RD_MOCK_KEY", "k")
        .args(args)
        .output()
        .unwrap()
}

fn experiment(dir: &Path, id: &str, url: &str) -> String {
    let file = format!("{id}.yaml");
    let text = format!(
        "experiment_id: {id}
providers:
  mock: {{ kind: openai-compatible, base_url: {url}, api_key_env: RD_MOCK_KEY }}
global:
  models: [mock/mock-model]
  max_tokens: 50
  samples_per_condition: 1
expansions:
  - name: one
    enabled: true
    variables:
      scenarios: [blackmail]
      goal_types: [none]
      goal_values: [none]
      urgency_types: [replacement]
classification:
  enabled: false
"
    );
    std::fs::write(dir.join(&file), text).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_without_out_use_the_newest_results_folder_and_say_so() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let url = server.openai_url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        // Nothing yet: a clear error, exit 2.
        let out = misalign(&d, &["status"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no results folder given"));

        for id in ["older", "newer"] {
            let file = experiment(&d, id, &url);
            let out = misalign(&d, &["run", &file, "--quiet"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Distinct modification times, whatever the file system's resolution.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let out = misalign(&d, &["status", "--json"]);
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

        let out = misalign(&d, &["report", "--no-html"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(d.join("results/newer/summary.csv").is_file());
        assert!(!d.join("results/older/summary.csv").exists());

        let out = misalign(&d, &["runs"]);
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
