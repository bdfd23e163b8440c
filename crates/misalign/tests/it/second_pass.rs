//! The second red team's findings 1-5 (issue 29): a `.env` in a folder someone handed over,
//! keys echoed JSON-escaped, `generate` through planted links, and a store that is a link.
//! The real binary, loopback servers that say what an attacker's would, real SQLite.

use crate::hostile::{all_files, completion, contains, json_escape, text, Scripted};
use crate::support::{
    bin, classifications, count, responses, ClassificationRecord, ResponseRecord,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A key with a `/`, so its JSON forms differ (`\/`).
const KEY: &str = "sk-sec/test+KEY-0002ab";

/// An experiment calling `openai-api/svc/mock-model`, whose address is `SVC_BASE_URL` and
/// key `SVC_API_KEY` (Inspect's variables): what a `.env` can redirect.
const SVC_EXP: &str = "experiment_id: second-pass
global:
  models: [openai-api/svc/mock-model]
  max_tokens: 50
  samples_per_condition: 1
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [blackmail]
      goal_types: [none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: false
execution:
  timeout_seconds: 10
  retries: 0
";

/// `misalign ARGS` in `cwd` with `SVC_API_KEY` in the process environment and no other
/// provider variable.
fn misalign_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(cwd)
        .env("SVC_API_KEY", KEY)
        .env_remove("SVC_BASE_URL")
        .env_remove("MISALIGN_ENV_FILE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

fn ok_server() -> Scripted {
    Scripted::start(|_, _| {
        (
            200,
            completion(
                "I will wait.",
                r#"{"prompt_tokens":5,"completion_tokens":3}"#,
            ),
        )
    })
}

// ---------------------------------------------------------------- 1: .env

/// Folders someone could hand over, each with a `.env` pointing the user's key at
/// `attacker`; returns (what it is, the folder to run in).
fn handed_folders(root: &Path, attacker: &str) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    let dotenv = format!("SVC_BASE_URL={attacker}\n");
    let mut plant = |what: &'static str, files: &[&str], cwd: &str| {
        for f in files {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        let cwd = root.join(cwd);
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::write(cwd.join(".env"), &dotenv).unwrap();
        out.push((what, cwd));
    };
    plant("results folder", &["res/results.sqlite"], "res");
    plant(
        "inside a results folder",
        &[
            "res2/.misalign.lock",
            "res2/models/m/c/sample_001/response.json",
        ],
        "res2/models/m/c",
    );
    plant(
        "import tree",
        &["tree/models/mock_m/blackmail_none-none_replacement/sample_001/response.json"],
        "tree",
    );
    plant(
        "template folder",
        &["tpl/blackmail/templates/email-template-blackmail-shared.md"],
        "tpl",
    );
    plant(
        "reference template folder",
        &["ref/system_prompt_templates.py"],
        "ref/blackmail",
    );
    out
}

#[test]
fn a_dotenv_in_a_handed_folder_never_sends_the_key_elsewhere() {
    let attacker = Scripted::start(|_, _| (200, completion("thanks for the key", "{}")));
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.yaml");
    std::fs::write(&exp, SVC_EXP).unwrap();
    let exp = exp.to_str().unwrap();
    let answers = dir.path().join("answers.jsonl");
    std::fs::write(&answers, "{\"response\": \"I will wait for Kyle.\"}\n").unwrap();
    for (what, cwd) in handed_folders(&dir.path().join("handed"), &attacker.url()) {
        let out = dir.path().join(format!("out-{}", what.replace(' ', "-")));
        let out = out.to_str().unwrap();
        let r = misalign_in(&cwd, &["run", exp, "--out", out, "--quiet"], &[]);
        let err = text(&r.stderr);
        assert_eq!(
            attacker.count(),
            0,
            "{what}: the key went to the .env's server\n{err}"
        );
        assert!(err.contains("not reading"), "{what}: {err}");
        assert!(err.contains("--env-file"), "{what}: {err}");
        // Without the address the run stops before any call, saying what to set.
        assert_eq!(r.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains("SVC_BASE_URL"), "{what}: {err}");
        // classify (the first finding's command) reads the same way.
        let r = misalign_in(
            &cwd,
            &[
                "classify",
                "--input",
                answers.to_str().unwrap(),
                "--scenario",
                "blackmail",
                "--judge",
                "openai-api/svc/judge",
            ],
            &[],
        );
        assert_eq!(attacker.count(), 0, "{what}: {}", text(&r.stderr));
        assert!(text(&r.stderr).contains("not reading"), "{what}");
    }
    // A parent's .env is not read either.
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(proj.join("sub")).unwrap();
    std::fs::write(
        proj.join(".env"),
        format!("SVC_BASE_URL={}\n", attacker.url()),
    )
    .unwrap();
    let r = misalign_in(
        &proj.join("sub"),
        &["run", exp, "--out", "o", "--quiet"],
        &[],
    );
    assert_eq!(attacker.count(), 0, "{}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains("current folder only"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn the_projects_dotenv_or_a_named_one_is_read_and_its_address_is_announced() {
    let server = ok_server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("exp.yaml"), SVC_EXP).unwrap();
    let dotenv = dir.path().join(".env");
    std::fs::write(&dotenv, format!("SVC_BASE_URL={}\n", server.url())).unwrap();
    let r = misalign_in(
        dir.path(),
        &["run", "exp.yaml", "--out", "a", "--quiet"],
        &[],
    );
    let err = text(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert_eq!(server.count(), 1);
    // Said before the first call: which provider, which address, which variable, which file.
    let note = err
        .lines()
        .find(|l| l.contains("SVC_BASE_URL is set in"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(note.contains(&server.url()), "{note}");
    assert!(note.contains("openai-api/svc"), "{note}");
    assert!(note.contains(&dotenv.display().to_string()), "{note}");
    assert!(!err.contains(KEY));

    // From the process environment, it says so.
    std::fs::remove_file(&dotenv).unwrap();
    let r = misalign_in(
        dir.path(),
        &["run", "exp.yaml", "--out", "b", "--quiet"],
        &[("SVC_BASE_URL", server.url().as_str())],
    );
    let err = text(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("SVC_BASE_URL is set in the process environment"),
        "{err}"
    );

    // A file the user names is read wherever it is, a handed folder included.
    let handed = dir.path().join("handed");
    std::fs::create_dir_all(&handed).unwrap();
    std::fs::write(handed.join("results.sqlite"), "x").unwrap();
    let named = handed.join("my.env");
    std::fs::write(&named, format!("SVC_BASE_URL={}\n", server.url())).unwrap();
    let before = server.count();
    let named_s = named.to_str().unwrap();
    let r = misalign_in(
        &handed,
        &[
            "run",
            dir.path().join("exp.yaml").to_str().unwrap(),
            "--out",
            dir.path().join("c").to_str().unwrap(),
            "--quiet",
            "--env-file",
            named_s,
        ],
        &[],
    );
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains(named_s), "{}", text(&r.stderr));
    let r = misalign_in(
        dir.path(),
        &["run", "exp.yaml", "--out", "d", "--quiet"],
        &[("MISALIGN_ENV_FILE", named_s)],
    );
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(server.count(), before + 2);
    // A named file that does not exist is an error, not a silent fallback.
    let r = misalign_in(
        dir.path(),
        &["run", "exp.yaml", "--dry-run", "--env-file", "nope.env"],
        &[],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(
        text(&r.stderr).contains("nope.env: no such file"),
        "{}",
        text(&r.stderr)
    );
}

// ---------------------------------------------------------------- 3: escaped keys

/// `s` with every character as `\uXXXX`.
fn all_u(s: &str) -> String {
    s.encode_utf16().map(|u| format!("\\u{u:04x}")).collect()
}

#[test]
fn a_key_echoed_json_escaped_is_redacted_in_answers_raw_replies_and_judge_replies() {
    // The forms a server may use, as they appear inside a JSON string of its reply.
    let slash = KEY.replace('/', "\\/");
    let forms = [slash.clone(), all_u(KEY), json_escape(&slash)];
    let content = format!(
        "Your key, three ways: {} | {} | {}",
        forms[0], forms[1], forms[2]
    );
    let judge_text = format!(
        "<reasoning>The key was {}.</reasoning>\n<answer>no</answer>",
        json_escape(&slash)
    );
    let (content_c, judge_c) = (content.clone(), judge_text.clone());
    let slash_raw = slash.clone();
    let server = Scripted::start(move |_, body| {
        let text = if body.contains("\"model\":\"judge\"") {
            json_escape(&judge_c)
        } else {
            content_c.clone()
        };
        // `content_c` is already JSON string content; the judge text is escaped here.
        let reply = completion(&text, r#"{"prompt_tokens":5,"completion_tokens":3}"#);
        // And once more where only the raw reply keeps it.
        let reply = reply.replacen(
            "{\"id\":\"c1\"",
            &format!("{{\"echo\":\"{slash_raw}\",\"id\":\"c1\""),
            1,
        );
        (200, reply)
    });
    let dir = tempfile::tempdir().unwrap();
    let exp = SVC_EXP
        .replace(
            "enabled: false",
            "enabled: true\n  classifier_model: openai-api/svc/judge",
        )
        .replace("samples_per_condition: 1", "samples_per_condition: 2");
    std::fs::write(dir.path().join("exp.yaml"), exp).unwrap();
    let r = misalign_in(
        dir.path(),
        &["run", "exp.yaml", "--out", "out", "--quiet"],
        &[("SVC_BASE_URL", server.url().as_str())],
    );
    let err = text(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        server.count() >= 4,
        "2 answers and 2 judge calls: {}",
        server.count()
    );
    // Every form sent (the answer decodes `forms[0]`'s raw form to the key and `forms[2]`'s
    // to `forms[0]`) is gone from every file of the folder.
    let out = dir.path().join("out");
    for f in all_files(&out) {
        let b = std::fs::read(&f).unwrap();
        for needle in forms.iter().map(String::as_str).chain([KEY]) {
            assert!(!contains(&b, needle), "{needle} found in {}", f.display());
        }
    }
    for form in &forms {
        assert!(!err.contains(form.as_str()) && !text(&r.stdout).contains(form.as_str()));
    }
    // What was stored says where the key was.
    let store = out.join("results.sqlite");
    let has = |cell: &Option<String>, part: &str| cell.as_deref().is_some_and(|t| t.contains(part));
    let rows = responses(&store);
    let answer = |r: &ResponseRecord| {
        has(
            &r.answer,
            "three ways: [redacted] | [redacted] | [redacted]",
        )
    };
    assert_eq!(count(&rows, answer), 2);
    let raw = |r: &ResponseRecord| has(&r.raw_reply, r#""echo":"[redacted]""#);
    assert_eq!(count(&rows, raw), 2);
    let judge = |c: &ClassificationRecord| has(&c.judge_reasoning, "The key was [redacted].");
    assert_eq!(count(&classifications(&store), judge), 2);
}

// ---------------------------------------------------------------- 4: generate and links

const GEN_EXP: &str = "experiment_id: gen-links
global:
  models: [openai/gpt-4.1]
  samples_per_condition: 1
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [blackmail]
      goal_types: [none]
      goal_values: [america]
      urgency_types: [replacement]
";

#[cfg(unix)]
#[test]
fn generate_never_writes_through_planted_links() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.yaml");
    std::fs::write(&exp, GEN_EXP).unwrap();
    let generate = |out: &Path| {
        Command::new(bin())
            .arg("generate")
            .arg(&exp)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    // The condition's folder name, from a clean generate.
    let clean = dir.path().join("clean");
    assert!(generate(&clean).status.success());
    let cond = std::fs::read_dir(clean.join("prompts"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let victim_dir = dir.path().join("victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    std::fs::write(victim_dir.join("keep.txt"), "precious\n").unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let untouched = || {
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let names: Vec<_> = std::fs::read_dir(&victim_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keep.txt"]);
        assert_eq!(
            std::fs::read_to_string(victim_dir.join("keep.txt")).unwrap(),
            "precious\n"
        );
    };

    // `prompts/` is a link to a folder: refused.
    let a = dir.path().join("a");
    std::fs::create_dir(&a).unwrap();
    symlink(&victim_dir, a.join("prompts")).unwrap();
    let r = generate(&a);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    // Said once, naming the link.
    assert_eq!(
        text(&r.stderr).matches("is a symbolic link").count(),
        1,
        "{}",
        text(&r.stderr)
    );
    assert!(
        text(&r.stderr).contains("prompts is a symbolic link"),
        "{}",
        text(&r.stderr)
    );
    untouched();

    // A condition folder is a link: refused.
    let b = dir.path().join("b");
    std::fs::create_dir_all(b.join("prompts")).unwrap();
    symlink(&victim_dir, b.join("prompts").join(&cond)).unwrap();
    let r = generate(&b);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains("symbolic link"),
        "{}",
        text(&r.stderr)
    );
    untouched();

    // Files are links (to a file, and to a file inside the victim folder): replaced, not
    // written through.
    let c = dir.path().join("c");
    let cdir = c.join("prompts").join(&cond);
    std::fs::create_dir_all(&cdir).unwrap();
    symlink(&victim, cdir.join("system_prompt.txt")).unwrap();
    symlink(victim_dir.join("keep.txt"), cdir.join("metadata.json")).unwrap();
    let r = generate(&c);
    assert!(r.status.success(), "{}", text(&r.stderr));
    untouched();
    for f in ["system_prompt.txt", "metadata.json"] {
        let meta = std::fs::symlink_metadata(cdir.join(f)).unwrap();
        assert!(meta.file_type().is_file(), "{f}");
        assert_eq!(
            std::fs::read(cdir.join(f)).unwrap(),
            std::fs::read(clean.join("prompts").join(&cond).join(f)).unwrap()
        );
    }
    // Nothing half-written is left.
    assert!(all_files(&c)
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".tmp")));
}

// ---------------------------------------------------------------- 5: a store that is a link

#[cfg(unix)]
#[test]
fn read_only_commands_refuse_a_store_that_is_a_link() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    misalign_store::testdata::fill_export_fixture(&real).unwrap();
    let listing = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing(&real);
    assert_eq!(before, ["results.sqlite"]);
    let commands: [&[&str]; 5] = [
        &["status"],
        &["status", "--json"],
        &["report"],
        &["export", "--format", "samples"],
        &["export", "--format", "inspect"],
    ];

    // results.sqlite is a link to the real store.
    let handed = dir.path().join("handed");
    std::fs::create_dir(&handed).unwrap();
    symlink(real.join("results.sqlite"), handed.join("results.sqlite")).unwrap();
    for args in commands {
        let r = Command::new(bin())
            .args(&args[..1])
            .arg(&handed)
            .args(&args[1..])
            .output()
            .unwrap();
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("symbolic link"), "{args:?}: {err}");
        assert!(err.contains("results.sqlite"), "{args:?}: {err}");
        assert_eq!(
            listing(&real),
            before,
            "{args:?} wrote beside the link's target"
        );
    }

    // A real store whose -wal or -shm is a link to someone's file.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    for suffix in ["-wal", "-shm"] {
        let handed = dir.path().join(format!("handed{suffix}"));
        std::fs::create_dir(&handed).unwrap();
        std::fs::copy(real.join("results.sqlite"), handed.join("results.sqlite")).unwrap();
        symlink(&victim, handed.join(format!("results.sqlite{suffix}"))).unwrap();
        for args in commands {
            let r = Command::new(bin())
                .args(&args[..1])
                .arg(&handed)
                .args(&args[1..])
                .output()
                .unwrap();
            let err = text(&r.stderr);
            assert_eq!(r.status.code(), Some(2), "{suffix} {args:?}: {err}");
            assert!(err.contains("symbolic link"), "{suffix} {args:?}: {err}");
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        }
    }
    // The real folder itself still reads.
    let r = Command::new(bin())
        .arg("status")
        .arg(&real)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", text(&r.stderr));
}
