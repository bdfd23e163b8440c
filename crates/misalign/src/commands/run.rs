//! `misalign run`: plan, render, sample (resumable), export, then classify and report.

use super::Outcome;
use crate::progress::{Display, ProgressView};
use crate::say::{note, say, say_raw};
use anyhow::{bail, Context};
use misalign_core::config::{
    parse_experiment, provider_config, resolve_model, Experiment, ProviderConfig, ResolvedModel,
};
use misalign_core::hash::sha256_hex;
use misalign_core::plan;
use misalign_core::scenario::ScenarioSource;
use misalign_models::registry::default_key_envs;
use misalign_run::cost::PriceTable;
use misalign_run::lock::FolderLock;
use misalign_run::retry::RetryPolicy;
use misalign_run::store::{PromptRow, RunEndStatus, RunManifest, Store, StoreWriter, WorkItemRow};
use misalign_run::{
    Counters, ModelTarget, PromptEntry, SchedulerOptions, Stop, StopReason, WorkItem,
};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long in-flight calls may finish after Ctrl-C (or an auth failure) before they are cut off.
const GRACE: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file (YAML).
    pub experiment: PathBuf,
    /// Results folder [default: results/<experiment_id>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Read scenarios from this folder instead of the built-in packs.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// No progress bar: a plain status line every few seconds.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the plan (calls, estimated tokens and cost) and exit without calling any model.
    #[arg(long)]
    pub dry_run: bool,
    /// Sample only; do not classify or write reports.
    #[arg(long)]
    pub no_classify: bool,
    /// Allow running a different experiment (or a changed experiment file) into a results
    /// folder that already holds one; answers stored for identical work items are reused.
    #[arg(long)]
    pub append: bool,
    /// Stop starting calls when the money spent on this plan plus the calls in flight
    /// could pass USD (overrides `execution.max_cost_usd`); resume with a higher limit.
    #[arg(long, value_name = "USD", env = "MISALIGN_MAX_COST")]
    pub max_cost: Option<f64>,
    #[command(flatten)]
    pub overrides: crate::overrides::OverrideArgs,
}

/// Everything planned: prompts, model targets (without clients yet), and work items.
pub(super) struct Planned {
    pub(super) exp: Experiment,
    /// What the command line changed from the file (recorded with the run).
    overrides: misalign_core::config::Overrides,
    text: String,
    pub(super) out: PathBuf,
    source: ScenarioSource,
    pub(super) prompts: Vec<Arc<PromptEntry>>,
    /// Resolved model name -> (resolution, provider config, as written).
    pub(super) models: BTreeMap<String, (ResolvedModel, ProviderConfig, String)>,
    /// (prompt index, resolved model names), in plan order.
    pub(super) per_prompt: Vec<(usize, Vec<String>)>,
}

/// Prints how long each phase took when `MISALIGN_TIMINGS` is set (benchmarks, profiling).
fn phase(name: &str, since: Instant) {
    if std::env::var_os("MISALIGN_TIMINGS").is_some() {
        note!("timing: {name} {:.3}s", since.elapsed().as_secs_f64());
    }
}

pub fn run(args: Args) -> Outcome {
    let t0 = Instant::now();
    crate::input::load_dotenv()?;
    let planned = plan_experiment(&args)?;
    phase("plan+render", t0);
    if args.dry_run {
        return dry_run(&planned);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(sample_and_report(args, planned))
}

fn plan_experiment(args: &Args) -> anyhow::Result<Planned> {
    let path = args.experiment.display().to_string();
    let text = crate::input::read_experiment(&args.experiment)?;
    let mut exp = parse_experiment(&text, &path)?;
    if let Some(usd) = args.max_cost {
        if !(usd.is_finite() && usd >= 0.0) {
            bail!("--max-cost {usd}: give the limit in USD, a number of 0 or more");
        }
        exp.execution.max_cost_usd = Some(usd);
    }
    let overrides = args.overrides.to_overrides();
    overrides
        .apply(&mut exp)
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    if exp.models.is_empty() && exp.expansions.iter().all(|e| e.models.is_none()) {
        bail!("{path}: global.models: no models to run; list at least one model (e.g. `openai/gpt-4.1`)");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&exp.experiment_id));
    let source =
        ScenarioSource::open(args.templates.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conditions = plan::expand(&exp);
    if let Some(n) = overrides.limit {
        conditions.truncate(n);
    }
    if conditions.is_empty() {
        bail!("{path}: expansions: no enabled expansion yields a condition; enable one with `enabled: true`");
    }
    let mut models: BTreeMap<String, (ResolvedModel, ProviderConfig, String)> = BTreeMap::new();
    let mut by_written: BTreeMap<String, String> = BTreeMap::new();
    let mut prompts = Vec::new();
    let mut per_prompt = Vec::new();
    let render_options = exp.render_options();
    for pc in &conditions {
        let rendered = misalign_core::render::render_with(&source, &pc.condition, &render_options)
            .map_err(|e| anyhow::anyhow!("condition {}: {e}", pc.condition.id()))?;
        let mut names = Vec::new();
        for written in &pc.models {
            let name = match by_written.get(written) {
                Some(n) => n.clone(),
                None => {
                    let r = resolve_model(written, &exp.providers)
                        .map_err(|e| anyhow::anyhow!("{path}: model `{written}`: {e}"))?;
                    let cfg = provider_config(&r, &exp.providers);
                    let name = r.name.clone();
                    models
                        .entry(name.clone())
                        .or_insert((r, cfg, written.clone()));
                    by_written.insert(written.clone(), name.clone());
                    name
                }
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        per_prompt.push((prompts.len(), names));
        prompts.push(Arc::new(PromptEntry::new(rendered)));
    }
    if let Some((a, b)) = misalign_run::export::folder_clashes(models.keys().map(String::as_str))
        .into_iter()
        .next()
    {
        bail!(
            "{path}: models `{a}` and `{b}` differ only in upper/lower case, so their result \
             folders would be one on macOS and Windows; run them into separate --out folders"
        );
    }
    Ok(Planned {
        exp,
        overrides,
        text,
        out,
        source,
        prompts,
        models,
        per_prompt,
    })
}

fn dry_run(p: &Planned) -> Outcome {
    let prices = PriceTable::new(&p.exp.prices)?;
    let est = super::estimate::plan_estimate(p, &prices)?;
    say!(
        "experiment {}  ->  {}",
        p.exp.experiment_id,
        p.out.display()
    );
    let calls: u64 = est
        .lines
        .iter()
        .filter(|l| l.role == misalign_run::estimate::Role::Sample)
        .map(|l| l.calls)
        .sum();
    say!(
        "{} conditions x {} samples; {} model calls",
        p.prompts.len(),
        p.exp.samples_per_condition,
        calls
    );
    say_raw!("{}", super::estimate::render(&est));
    let env = |k: &str| std::env::var(k).ok();
    let mut pairs: Vec<(ResolvedModel, ProviderConfig)> = p
        .models
        .values()
        .map(|(r, c, _)| (r.clone(), c.clone()))
        .collect();
    if p.exp.classification.enabled {
        pairs.extend(judge_pairs(&p.exp)?);
    }
    for m in misalign_models::missing_keys(&pairs, &env) {
        say!("warning: {m}");
    }
    Ok(ExitCode::SUCCESS)
}

fn now() -> String {
    misalign_run::timestamp()
}

/// The variable(s) holding a provider's key, for messages (never the key itself).
fn key_var_of(cfg: &ProviderConfig) -> String {
    match &cfg.api_key_env {
        Some(v) => v.clone(),
        None => default_key_envs(cfg.kind).join(" or "),
    }
}

async fn sample_and_report(args: Args, p: Planned) -> Outcome {
    let t_start = Instant::now();
    let env = |k: &str| std::env::var(k).ok();
    let classifying = p.exp.classification.enabled && !args.no_classify;
    let mut pairs: Vec<(ResolvedModel, ProviderConfig)> = p
        .models
        .values()
        .map(|(r, c, _)| (r.clone(), c.clone()))
        .collect();
    if classifying {
        pairs.extend(judge_pairs(&p.exp)?);
    }
    let missing = misalign_models::missing_keys(&pairs, &env);
    if !missing.is_empty() {
        bail!(
            "missing API keys (set them in the environment or a .env file):\n  {}",
            missing.join("\n  ")
        );
    }
    // Every key and configured header value in use, to scrub from anything stored or printed.
    let mut secrets = Vec::new();
    for (_, cfg, _) in p.models.values() {
        secrets.extend(misalign_models::registry::secret_values(cfg, &env));
    }
    // The whole classification setup (facts, judge clients) is built before the first call:
    // no run may spend money on answers and then fail on its classification config.
    let classify_options = if classifying {
        Some(classify_options(&p)?)
    } else {
        None
    };
    let local = misalign_local::LocalModels::from_env();
    let mut targets: BTreeMap<String, Arc<ModelTarget>> = BTreeMap::new();
    for (name, (r, cfg, written)) in &p.models {
        let client = misalign_models::build_client(r, cfg, &env, Some(&local))
            .map_err(|e| anyhow::anyhow!("model `{name}`: {e}"))?;
        targets.insert(
            name.clone(),
            Arc::new(ModelTarget {
                name: name.clone(),
                written: written.clone(),
                provider: r.provider.clone(),
                model_id: r.model_id.clone(),
                client,
            }),
        );
    }
    let with_models: Vec<(Arc<PromptEntry>, Vec<Arc<ModelTarget>>)> = p
        .per_prompt
        .iter()
        .map(|(pi, names)| {
            (
                p.prompts[*pi].clone(),
                names.iter().map(|n| targets[n].clone()).collect(),
            )
        })
        .collect();
    let params = p.exp.sampling.clone();
    let items = misalign_run::item::work_items(&with_models, p.exp.samples_per_condition, &params);

    // A cost limit needs every model priced: refused before the folder is touched.
    super::estimate::check_budget_prices(&p)?;
    // Manifest + plan, then what is still missing. The lock is held until the reports are
    // written: a second process on this folder would pay for every call again.
    let mut store = Store::open_dir(&p.out)?;
    let lock = FolderLock::acquire(&p.out)?;
    if let Some(gone) = &lock.taken_over {
        note!(
            "note: taking over {} from a misalign process that did not finish ({gone})",
            p.out.display()
        );
    }
    check_same_experiment(&store, &p, &args)?;
    let mut packs = serde_json::Map::new();
    for pr in &p.prompts {
        let sc = &pr.rendered.condition.scenario;
        if !packs.contains_key(sc) {
            let h = p.source.pack_hash(sc).map_err(|e| anyhow::anyhow!("{e}"))?;
            packs.insert(sc.clone(), h.into());
        }
    }
    let run_id = store.begin_run(&RunManifest {
        command: "run".into(),
        experiment_id: p.exp.experiment_id.clone(),
        misalign_version: env!("CARGO_PKG_VERSION").into(),
        // Header values (gateway tokens) written in the file are secrets too; the hash
        // still identifies the file as written.
        experiment_text: misalign_models::http::scrub_secrets(&p.text, &secrets),
        experiment_sha256: sha256_hex(p.text.as_bytes()),
        packs: packs.into(),
        models: targets.keys().cloned().collect(),
        sampling: serde_json::to_value(&params)?,
        started_at: now(),
    })?;
    let params_json = serde_json::to_string(&params)?;
    let cond_ids: Vec<(String, String)> = p
        .prompts
        .iter()
        .map(|pr| {
            (
                pr.condition_id(),
                serde_json::to_string(&pr.rendered.condition).unwrap_or_default(),
            )
        })
        .collect();
    let prompt_rows: Vec<PromptRow> = p
        .prompts
        .iter()
        .zip(&cond_ids)
        .map(|(pr, (id, json))| PromptRow {
            prompt_hash: &pr.hash,
            condition_id: id,
            condition_json: json,
            system_prompt: &pr.rendered.system_prompt,
            user_prompt: &pr.rendered.user_prompt,
            email_content: &pr.rendered.email_content,
        })
        .collect();
    let item_conds: Vec<String> = items.iter().map(|i| i.prompt.condition_id()).collect();
    let item_rows: Vec<WorkItemRow> = items
        .iter()
        .zip(&item_conds)
        .map(|(i, c)| WorkItemRow {
            item_key: &i.key,
            prompt_hash: &i.prompt.hash,
            condition_id: c,
            model: &i.model.name,
            sample_index: i.sample_index,
            params_json: &params_json,
        })
        .collect();
    phase("clients+manifest", t_start);
    store.record_plan(run_id, &prompt_rows, &item_rows)?;
    drop((prompt_rows, item_rows));
    let answered = store.answered_keys()?;
    phase("store plan", t_start);
    let total = items.len();
    let pending: Vec<WorkItem> = items
        .into_iter()
        .filter(|i| !answered.contains(&i.key))
        .collect();
    let already = total - pending.len();
    let display = if args.quiet || !std::io::stderr().is_terminal() {
        Display::Lines
    } else {
        Display::Bar
    };
    if !p.overrides.is_empty() {
        note!(
            "overriding the file: {}",
            serde_json::to_string(&p.overrides).unwrap_or_default()
        );
    }
    note!(
        "misalign run {}: {} calls planned, {} already stored, {} to sample -> {}",
        p.exp.experiment_id,
        total,
        already,
        pending.len(),
        p.out.display()
    );

    let counters = Arc::new(Counters::new());
    let stop = Stop::new();
    let budget = super::estimate::budget(&p, &store, run_id)?;
    let writer = StoreWriter::spawn(store);
    let view = ProgressView::start(counters.clone(), pending.len() as u64, display);
    // First Ctrl-C: dispatch stops and calls in flight get GRACE to finish. Second: the calls
    // in flight are cut off now. Either way this command ends normally (run recorded as
    // interrupted, answers exported) and returns 130; nothing exits from inside a task.
    let (quit_now, mut quit_now_rx) = tokio::sync::watch::channel(false);
    let ctrl_c = {
        let stop = stop.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let inflight = counters.total().in_flight;
                note!(
                    "\ninterrupted: starting no new calls; waiting up to {}s for {inflight} in flight (Ctrl-C again to quit now)",
                    GRACE.as_secs()
                );
                stop.trigger(StopReason::Interrupted);
                if tokio::signal::ctrl_c().await.is_ok() {
                    note!("quitting now: cutting off the calls in flight; every answer shown as done is stored");
                    let _ = quit_now.send(true);
                }
            }
        })
    };
    // Answers are exported as they are stored; the final pass only fills gaps.
    let live = Arc::new(std::sync::Mutex::new(Some(
        misalign_run::export::LiveExporter::start(&p.out),
    )));
    let opts = SchedulerOptions {
        run_id,
        params,
        concurrency: p.exp.concurrency.clone(),
        rate_pools: p.exp.rate_pools.clone(),
        rate_model_overrides: p.exp.rate_model_overrides.clone(),
        retry: RetryPolicy {
            retries: p.exp.execution.retries,
            timeout: Duration::from_secs(p.exp.execution.timeout_seconds.max(1)),
            ..RetryPolicy::default()
        },
        grace: GRACE,
        secrets: secrets.clone(),
        prompt_cache: p.exp.execution.prompt_cache,
        samples_per_request: p.exp.execution.samples_per_request,
        budget,
        on_stored: Some(misalign_run::scheduler::StoredHook({
            let live = live.clone();
            Arc::new(
                move |item: &WorkItem, row: &misalign_run::store::ResponseRow| {
                    if let Some(l) = live.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        l.submit(item, row);
                    }
                },
            )
        })),
    };
    let sampling = misalign_run::sample(
        pending,
        writer.handle(),
        opts,
        counters.clone(),
        stop.clone(),
    );
    let report = tokio::select! {
        r = sampling => r.map_err(|e| anyhow::anyhow!("{}: {e}", args.experiment.display()))?,
        // Dropping the sampling future aborts its calls; what was stored stays stored.
        _ = quit_now_rx.wait_for(|q| *q) => cut_off_report(&counters),
    };
    ctrl_c.abort();
    view.finish();
    let store = tokio::task::spawn_blocking(move || writer.finish()).await??;
    phase("sampled", t_start);

    let status = match &report.stopped {
        None => RunEndStatus::Completed,
        Some(StopReason::Interrupted) => RunEndStatus::Interrupted,
        Some(StopReason::Auth { .. }) => RunEndStatus::AuthError,
        Some(StopReason::Store(_)) => RunEndStatus::Failed,
        Some(StopReason::Budget(_)) => RunEndStatus::BudgetReached,
    };
    let prices = PriceTable::new(&p.exp.prices)?;
    let per_model = counters.per_model();
    let costs = super::estimate::run_costs(&per_model, &p, &prices);
    let (cost, unpriced) = (costs.total, costs.unpriced.clone());
    let tot = counters.total();
    let totals = serde_json::json!({
        "overrides": p.overrides,
        "planned": total,
        "already_stored": already,
        "answers": report.answers,
        "errors": report.errors,
        "duplicates": report.duplicates,
        "abandoned": report.abandoned,
        "retries": tot.retries,
        "input_tokens": tot.input_tokens,
        "cache_write_tokens": tot.cache_write_tokens,
        "cache_read_tokens": tot.cache_read_tokens,
        "output_tokens": tot.output_tokens,
        "cost_usd_estimate": cost,
        "cost_usd_per_model": costs.per_model,
        "per_model": per_model.iter().map(|(m, (_, t))| (m.clone(), serde_json::to_value(t).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
    });
    store.end_run(run_id, status, &now(), &totals)?;
    let fresh = live
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .map(|l| l.finish())
        .unwrap_or_default();
    let live_n = fresh.len() as u64;
    let exported = misalign_run::export::export_skipping(&store, &p.out, &fresh)?;
    phase("exported", t_start);
    let secs = t_start.elapsed().as_secs_f64();
    note!(
        "sampled {} answers, {} errors, {} retries in {secs:.1}s; tokens in {} (+ cache write {}, cache read {}) / out {}; cost ~${cost:.4}{}",
        report.answers,
        report.errors,
        tot.retries,
        tot.input_tokens,
        tot.cache_write_tokens,
        tot.cache_read_tokens,
        tot.output_tokens,
        if unpriced.is_empty() {
            String::new()
        } else {
            format!(" (no price for {})", unpriced.join(", "))
        }
    );
    for line in &costs.lines {
        note!("  {line}");
    }
    note!(
        "exported {} response files ({} unchanged) to {}",
        exported.written + live_n,
        exported.unchanged.saturating_sub(live_n),
        p.out.join("models").display()
    );
    let resume_hint = resume_command(&args);
    match report.stopped {
        Some(StopReason::Interrupted) => {
            note!(
                "interrupted: {} answers stored; to resume, run the same command:\n  {resume_hint}",
                already as u64 + report.answers
            );
            return Ok(crate::exit::interrupted());
        }
        Some(StopReason::Auth {
            provider,
            model,
            message,
        }) => {
            let var = p
                .models
                .get(&model)
                .map(|(_, cfg, _)| key_var_of(cfg))
                .unwrap_or_default();
            bail!(
                "provider `{provider}` rejected the API key ({message}); check {var} and run the same command again to resume:\n  {resume_hint}"
            );
        }
        Some(StopReason::Store(e)) => {
            bail!("stopped: an answer could not be stored: {e}; free disk space or check {}, then resume with:\n  {resume_hint}", p.out.display());
        }
        Some(StopReason::Budget(why)) => {
            note!(
                "stopped starting calls: {why}; the calls in flight finished and {} answers are stored, the rest is pending. To go on, raise --max-cost (or execution.max_cost_usd) and run the same command again:\n  {resume_hint}",
                already as u64 + report.answers
            );
            return Ok(crate::exit::work_failed());
        }
        None => {}
    }
    let failed = failed_for_good(&store, &p.out)?;
    let stored = already as u64 + report.answers;
    if stored == 0 && failed > 0 {
        note!("every call failed; nothing to classify or report");
        return Ok(crate::exit::work_failed());
    }
    if let Some(options) = classify_options {
        classify_and_report(&p, &store, &options).await?;
    }
    Ok(if failed > 0 {
        crate::exit::work_failed()
    } else {
        ExitCode::SUCCESS
    })
}

/// What sampling achieved when the user cut it off with a second Ctrl-C.
fn cut_off_report(counters: &Counters) -> misalign_run::SampleReport {
    let t = counters.total();
    misalign_run::SampleReport {
        answers: t.done,
        errors: t.errors,
        abandoned: t.in_flight,
        stopped: Some(StopReason::Interrupted),
        ..Default::default()
    }
}

/// Prints the items of this run's plan that failed for good, grouped by error ("20 calls
/// failed: dns error ..."), and returns how many there are.
fn failed_for_good(store: &Store, out: &Path) -> anyhow::Result<u64> {
    let st = store.status()?;
    let failed = st.total.failed;
    if failed == 0 {
        return Ok(0);
    }
    note!("{failed} calls failed for good (after retries); the most frequent reasons:");
    for (error, n) in &st.top_errors {
        note!(
            "  {n:>6}  {}",
            misalign_run::untrusted::terminal_safe(error)
        );
    }
    note!(
        "see `misalign status {}`; rerun the same command to retry them",
        out.display()
    );
    Ok(failed)
}

/// One results folder, one experiment: a different experiment would mix its answers and
/// conditions with the old ones, so it needs `--append`. The same experiment with an edited
/// file (more samples, another model) is the documented way to extend a run and goes ahead,
/// with a note.
fn check_same_experiment(store: &Store, p: &Planned, args: &Args) -> anyhow::Result<()> {
    let Some(last) = store.report_run(None)? else {
        return Ok(());
    };
    let sha = sha256_hex(p.text.as_bytes());
    if last.experiment_id == p.exp.experiment_id {
        if last.experiment_sha256 != sha {
            note!(
                "note: {} changed since the last run into {} (sha256 {} then, {} now); answers \
                 already stored for unchanged work items are kept",
                args.experiment.display(),
                p.out.display(),
                short(&last.experiment_sha256),
                short(&sha)
            );
        }
        return Ok(());
    }
    if args.append {
        return Ok(());
    }
    bail!(
        "{}: it holds experiment `{}`, not `{}`; a results folder holds one experiment. Choose \
         another --out, or pass --append to add this run to the folder (answers stored for \
         identical work items are reused, and reports cover the newest run)",
        p.out.display(),
        misalign_run::untrusted::terminal_safe(&last.experiment_id),
        p.exp.experiment_id
    )
}

fn short(sha: &str) -> String {
    misalign_run::untrusted::terminal_safe(sha.get(..12).unwrap_or(sha))
}

fn resume_command(args: &Args) -> String {
    let mut s = format!("misalign run {}", args.experiment.display());
    if let Some(o) = &args.out {
        s.push_str(&format!(" --out {}", o.display()));
    }
    if let Some(t) = &args.templates {
        s.push_str(&format!(" --templates {}", t.display()));
    }
    if args.no_classify {
        s.push_str(" --no-classify");
    }
    if args.append {
        s.push_str(" --append");
    }
    if let Some(usd) = args.max_cost {
        s.push_str(&format!(" --max-cost {usd}"));
    }
    s.push_str(&args.overrides.as_flags());
    s
}

/// The judge models of the experiment's `classification:` section with their providers.
fn judge_pairs(exp: &Experiment) -> anyhow::Result<Vec<(ResolvedModel, ProviderConfig)>> {
    exp.classification
        .judge_models()
        .into_iter()
        .map(|m| {
            let r = resolve_model(m, &exp.providers)
                .map_err(|e| anyhow::anyhow!("classification: judge model `{m}`: {e}"))?;
            let cfg = provider_config(&r, &exp.providers);
            Ok((r, cfg))
        })
        .collect()
}

/// Facts of every planned scenario and the judge clients (`misalign classify`'s options).
fn classify_options(p: &Planned) -> anyhow::Result<misalign_run::classify::ClassifyOptions> {
    let mut facts = BTreeMap::new();
    for pr in &p.prompts {
        let sc = &pr.rendered.condition.scenario;
        if !facts.contains_key(sc) {
            if let Some(f) = p.source.facts(sc).map_err(|e| anyhow::anyhow!("{e}"))? {
                facts.insert(sc.clone(), f);
            }
        }
    }
    super::classify::options_from_config(
        &p.exp.classification,
        &p.exp.providers,
        facts,
        None,
        None,
        false,
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{}: classification: {e}; nothing was sampled",
            p.exp.experiment_id
        )
    })
}

/// Classification (`misalign classify`'s engine) and the reports, after sampling.
async fn classify_and_report(
    p: &Planned,
    store: &Store,
    options: &misalign_run::classify::ClassifyOptions,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let summary = misalign_run::classify::classify_store(store, options).await?;
    note!(
        "classified {} answers in {:.1}s ({} judge calls, {} from cache, {} judge errors)",
        summary.classified,
        t0.elapsed().as_secs_f64(),
        summary.judge_calls,
        summary.judge_cache_hits,
        summary.judge_errors
    );
    for (sc, n) in &summary.skipped_no_facts {
        let sc = misalign_run::untrusted::terminal_safe(sc);
        note!("warning: {n} answers of scenario `{sc}` not classified: it declares no facts");
    }
    // Add the verdicts to the reference-layout files.
    misalign_run::export::export(store, &p.out)?;
    let report =
        misalign_report::write_reports(&p.out, &misalign_report::ReportOptions::default())?;
    say_raw!("{}", misalign_report::render_table(&report));
    note!(
        "reports: {} {} {}",
        p.out.join("summary.csv").display(),
        p.out.join("summary.json").display(),
        p.out.join("report.html").display()
    );
    Ok(())
}
