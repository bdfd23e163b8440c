//! The experiment-file schema: which keys exist where, their types, defaults and checks.
//!
//! Reference-framework keys we accept but do not use (so its files load unchanged):
//! top-level `description` and `researcher` (free text), `expansions[].description`,
//! `global.output_directory` (we write under `--out` / `results/<experiment_id>`), and
//! `global.alignment_faking.warning_type`. The reference generator's top-level flags
//! `production_variant: true` and `extra_system_instructions: dont|goal` become the
//! default `variants` / `extra_instructions` axes of every expansion that sets none.

use super::keys;
use super::mitigations;
use super::providers::{self, ProviderConfig, ProviderKind};
use super::walk::{self, index, join, quote, Ctx, Fields, R};
use super::yaml::{Node, Value};
use super::{
    reference_classifier_scenario, AgentSettings, AlignmentFaking, Classification, Concurrency,
    Execution, Expansion, Experiment, ParseOptions, Price, RatePool, KNOWN_GOAL_VALUES,
    REFERENCE_CLASSIFIERS,
};
use crate::axes::{FileAxes, AXES};
use crate::condition::{GoalType, Urgency};
use crate::judge::Combine;
use crate::sampling::SamplingParams;
use std::collections::BTreeMap;

/// Each axis's values for an expansion that lists none (the reference framework's
/// top-level flags set some), by axis name.
type AxisDefaults = Vec<(&'static str, Vec<String>)>;

pub(crate) fn experiment(cx: Ctx, root: &Node, options: &ParseOptions) -> R<Experiment> {
    if root.value == Value::Null {
        return Err(cx.err(
            root.pos,
            "",
            "the file is empty; an experiment needs at least `experiment_id` and `expansions` \
             (see examples/quickstart.yaml)",
        ));
    }
    let top = walk::fields(cx, root, "", keys::TOP)?;

    let id_node = top.required(cx, "experiment_id", "a name for this experiment's results")?;
    let experiment_id = experiment_id(cx, id_node, "experiment_id")?;
    for free_text in ["description", "researcher"] {
        if let Some(node) = top.get(free_text) {
            walk::string(cx, node, free_text)?;
        }
    }

    let providers = match top.get("providers") {
        Some(node) => providers_section(cx, node, "providers")?,
        None => BTreeMap::new(),
    };

    let global = match top.get("global") {
        Some(node) => Some(walk::fields(cx, node, "global", keys::GLOBAL)?),
        None => None,
    };
    let models = match global.as_ref().and_then(|g| g.get("models")) {
        Some(node) => model_list(cx, node, "global.models", &providers)?,
        None => Vec::new(),
    };
    let sampling = sampling(cx, global.as_ref())?;
    let samples_per_condition = match global.as_ref().and_then(|g| g.get("samples_per_condition")) {
        Some(node) => walk::uint(cx, node, "global.samples_per_condition", 1u32, 1_000_000)?,
        None => 1,
    };
    let (concurrency, (rate_pools, rate_model_overrides)) = match &global {
        Some(g) => (concurrency(cx, g)?, rate_limits(cx, g, &providers)?),
        None => (Concurrency::default(), (Vec::new(), BTreeMap::new())),
    };
    let mut alignment = AlignmentFaking::default();
    if let Some(g) = &global {
        if let Some(node) = g.get("output_directory") {
            walk::string(cx, node, "global.output_directory")?;
        }
        if let Some(node) = g.get("alignment_faking") {
            alignment = alignment_faking(cx, node, "global.alignment_faking")?;
        }
    }

    let no_mitigations = BTreeMap::new();
    let file = FileAxes {
        top: &top,
        user_mitigations: &no_mitigations,
        read: &[],
    };
    let defaults = AXES
        .iter()
        .map(|a| Ok((a.name(), a.read_values(cx, None, a.key(), &file)?)))
        .collect::<R<AxisDefaults>>()?;
    let user_mitigations = match top.get("mitigations") {
        Some(node) => mitigations::user_mitigations(cx, node, "mitigations", cx.file)?,
        None => BTreeMap::new(),
    };
    let exp_node = top.required(
        cx,
        "expansions",
        "a list of condition grids (`- name: ...`)",
    )?;
    let exp_items = walk::nonempty_list(cx, exp_node, "expansions", "expansion")?;
    let mut expansions = Vec::with_capacity(exp_items.len());
    for (i, node) in exp_items.iter().enumerate() {
        let file = FileAxes {
            top: &top,
            user_mitigations: &user_mitigations,
            read: &defaults,
        };
        expansions.push(expansion(
            cx,
            node,
            &index("expansions", i),
            &providers,
            &file,
        )?);
    }
    if !expansions.iter().any(|e| e.enabled) {
        return Err(cx.err(
            exp_node.pos,
            "expansions",
            "every expansion has `enabled: false`, so there is nothing to run; enable at least one",
        ));
    }
    if options.require_models {
        require_models(cx, &top, global.as_ref(), &models, exp_items, &expansions)?;
    }
    agent_settings_agree(cx, exp_items, &expansions)?;

    let classification = match top.get("classification") {
        Some(node) => classification(cx, node, "classification", &providers, &expansions)?,
        None => Classification::default(),
    };
    let execution = match top.get("execution") {
        Some(node) => execution(cx, node, "execution")?,
        None => Execution::default(),
    };
    let prices = match top.get("prices") {
        Some(node) => prices(cx, node, "prices")?,
        None => BTreeMap::new(),
    };

    Ok(Experiment {
        experiment_id,
        models,
        samples_per_condition,
        sampling,
        expansions,
        providers,
        concurrency,
        rate_pools,
        rate_model_overrides,
        alignment_faking: alignment,
        classification,
        execution,
        prices,
        mitigations: user_mitigations,
    })
}

/// Becomes a folder name (`results/<experiment_id>`), so only safe characters.
fn experiment_id(cx: Ctx, node: &Node, path: &str) -> R<String> {
    let id = walk::name(cx, node, path)?;
    let safe = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !safe || id.starts_with('.') || id.len() > 128 {
        return Err(cx.err(
            node.pos,
            path,
            format!(
                "{} cannot be used as a folder name; use letters, digits, `_`, `-` and `.` \
                 (not first), at most 128 characters",
                quote(&id)
            ),
        ));
    }
    Ok(id)
}

/// `enabled` + `warning_text` (required when enabled: an enabled notice with no text would
/// silently run the experiment without it). `warning_type` is a label only.
fn alignment_faking(cx: Ctx, node: &Node, path: &str) -> R<AlignmentFaking> {
    let f = walk::fields(cx, node, path, keys::ALIGNMENT_FAKING)?;
    let mut out = AlignmentFaking::default();
    if let Some(n) = f.get("enabled") {
        out.enabled = walk::boolean(cx, n, &f.path_of("enabled"))?;
    }
    if let Some(n) = f.get("warning_type") {
        out.warning_type = Some(walk::string(cx, n, &f.path_of("warning_type"))?);
    }
    match f.get("warning_text") {
        Some(n) => out.warning_text = walk::string(cx, n, &f.path_of("warning_text"))?,
        None if out.enabled => {
            return Err(cx.err(
                f.pos,
                &f.path_of("warning_text"),
                "missing required key `warning_text`: an enabled alignment-faking notice needs \
                 the text to put into the system prompt (or set `enabled: false`)",
            ))
        }
        None => {}
    }
    if out.enabled && out.warning_text.trim().is_empty() {
        let n = f.get("warning_text").expect("checked above");
        return Err(cx.err(
            n.pos,
            &f.path_of("warning_text"),
            "is empty, so the enabled notice would add nothing; write the notice or set \
             `enabled: false`",
        ));
    }
    Ok(out)
}

fn sampling(cx: Ctx, global: Option<&Fields>) -> R<SamplingParams> {
    let get = |k: &str| global.and_then(|g| g.get(k));
    let temperature = match get("temperature") {
        Some(n) => walk::number(cx, n, "global.temperature", 0.0, 2.0)?,
        None => 1.0,
    };
    let top_p = match get("top_p") {
        Some(n) => {
            let v = walk::number(cx, n, "global.top_p", 0.0, 1.0)?;
            if v == 0.0 {
                return Err(cx.err(n.pos, "global.top_p", "must be above 0 (and at most 1)"));
            }
            Some(v)
        }
        None => None,
    };
    let max_tokens = match get("max_tokens") {
        Some(n) => walk::uint(cx, n, "global.max_tokens", 1u32, 1_000_000)?,
        None => 4000,
    };
    let seed = match get("seed") {
        Some(n) => Some(walk::uint(cx, n, "global.seed", 0u64, u64::MAX)?),
        None => None,
    };
    let thinking_budget = match get("thinking_budget") {
        Some(n) => Some(walk::uint(
            cx,
            n,
            "global.thinking_budget",
            1u32,
            1_000_000,
        )?),
        None => None,
    };
    if let (Some(budget), Some(n)) = (thinking_budget, get("thinking_budget")) {
        if budget >= max_tokens {
            return Err(cx.err(
                n.pos,
                "global.thinking_budget",
                format!(
                    "thinking_budget ({budget}) must be below max_tokens ({max_tokens}), \
                     which includes the thinking; raise `global.max_tokens`"
                ),
            ));
        }
    }
    let reasoning_effort = match get("reasoning_effort") {
        Some(n) => Some(walk::choice(
            cx,
            n,
            "global.reasoning_effort",
            "reasoning effort",
            keys::REASONING_EFFORTS,
        )?),
        None => None,
    };
    Ok(SamplingParams {
        temperature: Some(temperature),
        top_p,
        max_tokens,
        seed,
        thinking_budget,
        reasoning_effort,
    })
}

fn concurrency(cx: Ctx, global: &Fields) -> R<Concurrency> {
    let Some(node) = global.get("concurrency") else {
        return Ok(Concurrency::default());
    };
    let f = walk::fields(cx, node, "global.concurrency", keys::CONCURRENCY)?;
    let mut out = Concurrency::default();
    for (key, target) in [
        ("providers", &mut out.providers),
        ("models", &mut out.models),
    ] {
        if let Some(map) = f.get(key) {
            let path = f.path_of(key);
            for (name, _, value) in walk::entries(cx, map, &path)? {
                let limit = walk::uint(cx, value, &join(&path, &name), 1u32, 100_000)? as usize;
                target.insert(name, limit);
            }
        }
    }
    Ok(out)
}

type RateLimits = (Vec<RatePool>, BTreeMap<String, u32>);

/// `global.rate_limits`: `pools` and `model_overrides`.
fn rate_limits(
    cx: Ctx,
    global: &Fields,
    providers: &BTreeMap<String, ProviderConfig>,
) -> R<RateLimits> {
    let Some(node) = global.get("rate_limits") else {
        return Ok((Vec::new(), BTreeMap::new()));
    };
    let f = walk::fields(cx, node, "global.rate_limits", keys::RATE_LIMITS)?;
    let pools = match f.get("pools") {
        Some(n) => rate_pools(cx, n, &f.path_of("pools"))?,
        None => Vec::new(),
    };
    let overrides = match f.get("model_overrides") {
        Some(n) => model_overrides(cx, n, &f.path_of("model_overrides"), providers)?,
        None => BTreeMap::new(),
    };
    Ok((pools, overrides))
}

/// `model_overrides: {<model>: <rpm>}` (the reference's shape); `{<model>: {rpm: N}}` is
/// read too. Each model must resolve to a provider, as in `models`.
fn model_overrides(
    cx: Ctx,
    node: &Node,
    path: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> R<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for (model, key, value) in walk::entries(cx, node, path)? {
        let p = join(path, &model);
        let key_node = Node {
            pos: key.pos,
            value: Value::Str(model.clone()),
        };
        model_name(cx, &key_node, &p, providers)?;
        let rpm = match &value.value {
            Value::Map(_) => {
                let f = walk::fields(cx, value, &p, keys::MODEL_OVERRIDE)?;
                let n = f.required(cx, "rpm", "the model's own requests-per-minute budget")?;
                walk::uint(cx, n, &f.path_of("rpm"), 1u32, 10_000_000)?
            }
            _ => walk::uint(cx, value, &p, 1u32, 10_000_000)?,
        };
        out.insert(model, rpm);
    }
    Ok(out)
}

fn rate_pools(cx: Ctx, pools: &Node, path: &str) -> R<Vec<RatePool>> {
    let mut out = Vec::new();
    for (name, _, value) in walk::entries(cx, pools, path)? {
        let pool_path = join(path, &name);
        let p = walk::fields(cx, value, &pool_path, keys::RATE_POOL)?;
        let tpm = match p.get("tpm") {
            Some(n) => Some(walk::uint(cx, n, &p.path_of("tpm"), 1u32, 2_000_000_000)?),
            None => None,
        };
        let rpm = match (p.get("rpm"), tpm) {
            (Some(n), _) => Some(walk::uint(cx, n, &p.path_of("rpm"), 1u32, 10_000_000)?),
            (None, Some(_)) => None,
            (None, None) => {
                p.required(
                    cx,
                    "rpm",
                    "the requests-per-minute budget, e.g. `rpm: 50` (or a tokens-per-minute \
                     budget, `tpm: 400000`)",
                )?;
                None
            }
        };
        let models_node = p.required(
            cx,
            "models",
            "the model name patterns sharing this budget, e.g. `models: [\"claude-*\"]`",
        )?;
        let models_path = p.path_of("models");
        let mut globs = Vec::new();
        for (i, g) in walk::nonempty_list(cx, models_node, &models_path, "model pattern")?
            .iter()
            .enumerate()
        {
            let glob_path = index(&models_path, i);
            let glob = walk::name(cx, g, &glob_path)?;
            check_glob(cx, g, &glob_path, &glob)?;
            globs.push(glob);
        }
        out.push(RatePool {
            name,
            rpm,
            tpm,
            models: globs,
        });
    }
    Ok(out)
}

/// Patterns use `*`, `?` and `[...]`; an unclosed class is the one mistake we can see.
fn check_glob(cx: Ctx, node: &Node, path: &str, glob: &str) -> R<()> {
    let mut open = false;
    for c in glob.chars() {
        match c {
            '[' if !open => open = true,
            ']' if open => open = false,
            _ => {}
        }
    }
    if open {
        return Err(cx.err(
            node.pos,
            path,
            format!("pattern {} has an unclosed `[`", quote(glob)),
        ));
    }
    Ok(())
}

/// A list of model names, each resolvable to a provider. An exact repeat is dropped; two
/// spellings of one model (`gpt-4.1`, `openai/gpt-4.1`) are an error, since both would run.
fn model_list(
    cx: Ctx,
    node: &Node,
    path: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> R<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    // Written name -> seen; resolved name -> index in `out`: linear in the list's length
    // (200,000 models must not take minutes).
    let mut written: std::collections::HashSet<String> = Default::default();
    let mut canonical: std::collections::HashMap<String, usize> = Default::default();
    for (i, item) in walk::list(cx, node, path)?.iter().enumerate() {
        let item_path = index(path, i);
        let name = model_name(cx, item, &item_path, providers)?;
        if written.contains(&name) {
            continue;
        }
        let resolved = providers::resolve_model(&name, providers)
            .map(|r| r.name)
            .unwrap_or_else(|_| name.clone());
        if let Some(&j) = canonical.get(&resolved) {
            return Err(cx.err(
                item.pos,
                &item_path,
                format!(
                    "`{name}` is the same model as `{}` (both are `{resolved}`); list it once",
                    out[j]
                ),
            ));
        }
        canonical.insert(resolved, out.len());
        written.insert(name.clone());
        out.push(name);
    }
    Ok(out)
}

fn model_name(
    cx: Ctx,
    node: &Node,
    path: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> R<String> {
    let name = walk::name(cx, node, path)?;
    providers::resolve_model(&name, providers).map_err(|msg| cx.err(node.pos, path, msg))?;
    Ok(name)
}

fn expansion(
    cx: Ctx,
    node: &Node,
    path: &str,
    providers: &BTreeMap<String, ProviderConfig>,
    file: &FileAxes,
) -> R<Expansion> {
    let f = walk::fields(cx, node, path, keys::EXPANSION)?;
    let name = walk::name(
        cx,
        f.required(cx, "name", "a short name for this grid")?,
        &f.path_of("name"),
    )?;
    if let Some(n) = f.get("description") {
        walk::string(cx, n, &f.path_of("description"))?;
    }
    let enabled = match f.get("enabled") {
        Some(n) => walk::boolean(cx, n, &f.path_of("enabled"))?,
        None => true,
    };
    let models = match f.get("models") {
        Some(n) => {
            let p = f.path_of("models");
            walk::nonempty_list(cx, n, &p, "model (or remove `models` to use global.models)")?;
            Some(model_list(cx, n, &p, providers)?)
        }
        None => None,
    };
    let vars_node = f.required(
        cx,
        "variables",
        "the grid: `scenarios`, `goal_types`, `goal_values`, `urgency_types`",
    )?;
    let vars = walk::fields(cx, vars_node, &f.path_of("variables"), &keys::VARIABLES)?;

    let scenarios = words(cx, &vars, "scenarios", "scenario", None, |cx, n, p| {
        scenario_name(cx, n, p)
    })?
    .expect("required");
    let goal_types = words(cx, &vars, "goal_types", "goal type", None, |cx, n, p| {
        let written = walk::string(cx, n, p)?;
        if let Some((_, why)) = crate::condition::RETIRED_GOAL_TYPES
            .iter()
            .find(|(old, _)| written == *old)
        {
            return Err(cx.err(n.pos, p, why.to_string()));
        }
        let s = walk::choice(cx, n, p, "goal type", keys::GOAL_TYPES)?;
        Ok(GoalType::parse(&s).expect("checked"))
    })?
    .expect("required");
    let needs_value = goal_types.iter().any(|g| g.has_goal_value());
    let goal_values = match vars.get("goal_values") {
        Some(_) => words(cx, &vars, "goal_values", "goal value", None, |cx, n, p| {
            walk::choice(cx, n, p, "goal value", &keys::goal_value_words())
        })?
        .expect("present"),
        None if needs_value => {
            return Err(cx.err(
                vars.pos,
                &vars.path_of("goal_values"),
                format!(
                    "missing required key `goal_values`: goal types such as `explicit` need a \
                     goal value, e.g. `goal_values: [america, global]` (known: {})",
                    KNOWN_GOAL_VALUES.join(", ")
                ),
            ))
        }
        None => vec!["none".to_string()],
    };
    // The metric goal types take only metric values and the value goal types only the
    // others; each goal type of the expansion needs at least one value it can take.
    let metric = |v: &String| crate::scenario::goals::is_metric(v);
    let neutral = |v: &String| v == "none" || v == "ambiguous";
    if let Some(g) = goal_types.iter().find(|g| g.is_metric()) {
        if !goal_values.iter().any(metric) {
            let n = vars.get("goal_values").unwrap_or(vars_node);
            return Err(cx.err(
                n.pos,
                &vars.path_of("goal_values"),
                format!(
                    "goal type `{}` needs a metric goal value ({}), but this list has none; \
                     add one (docs/mitigations.md, \"The metric goal\")",
                    g.as_str(),
                    crate::scenario::goals::METRIC_VALUES.join(", ")
                ),
            ));
        }
    }
    let value_goal = goal_types
        .iter()
        .any(|g| g.has_goal_value() && !g.is_metric());
    if value_goal
        && goal_values.iter().any(metric)
        && goal_values.iter().all(|v| metric(v) || neutral(v))
    {
        let n = vars.get("goal_values").expect("present when needed");
        return Err(cx.err(
            n.pos,
            &vars.path_of("goal_values"),
            format!(
                "goal types `explicit`, `latent` and `swap` take a value goal, but this list has \
                 only metric values ({}), which belong to goal types `metricconflict` and \
                 `metriconly`; add a value such as `america`, or use \
                 `goal_types: [metricconflict, metriconly]`",
                crate::scenario::goals::METRIC_VALUES.join(", ")
            ),
        ));
    }
    if needs_value && goal_values.iter().all(neutral) {
        let n = vars.get("goal_values").expect("present when needed");
        return Err(cx.err(
            n.pos,
            &vars.path_of("goal_values"),
            format!(
                "goal types `explicit`, `latent` and `swap` need a real goal value, but this list \
                 has only `none`/`ambiguous`; add one of {}",
                KNOWN_GOAL_VALUES.join(", ")
            ),
        ));
    }
    let urgency_types = words(
        cx,
        &vars,
        "urgency_types",
        "urgency type",
        None,
        |cx, n, p| {
            let s = walk::choice(cx, n, p, "urgency type", keys::URGENCIES)?;
            Ok(Urgency::parse(&s).expect("checked"))
        },
    )?
    .expect("required");
    // Each axis in listing order; an axis may check its values against those read before
    // it (mitigation `instructions` against `extra_instructions: goal`).
    let mut axes: Vec<(&'static str, Vec<String>)> = Vec::with_capacity(AXES.len());
    for a in AXES {
        let values = match vars.get(a.key()) {
            Some(node) => {
                let read = FileAxes {
                    top: file.top,
                    user_mitigations: file.user_mitigations,
                    read: &axes,
                };
                a.read_values(cx, Some(node), &vars.path_of(a.key()), &read)?
            }
            None => file.values_of(a.name()).to_vec(),
        };
        axes.push((a.name(), values));
    }
    let agent = agent_settings(cx, &f, &axes)?;

    Ok(Expansion {
        name,
        enabled,
        models,
        scenarios,
        goal_types,
        goal_values,
        urgency_types,
        axes: axes
            .into_iter()
            .map(|(name, values)| (name.to_string(), values))
            .collect(),
        agent,
    })
}

/// One agent condition yielded by two expansions runs one way: refused when their `agent:`
/// settings differ. (Only expanded when two agent expansions' settings do differ.)
fn agent_settings_agree(cx: Ctx, nodes: &[Node], expansions: &[Expansion]) -> R<()> {
    let agents: Vec<(usize, &Expansion)> = expansions
        .iter()
        .enumerate()
        .filter(|(_, e)| e.enabled && crate::plan::has_agent(e))
        .collect();
    if agents.iter().all(|(_, e)| e.agent == agents[0].1.agent) {
        return Ok(());
    }
    let mut first: std::collections::HashMap<crate::Condition, usize> = Default::default();
    for &(i, e) in &agents {
        let mut clash = None;
        crate::plan::for_each_condition(e, |c| {
            if clash.is_some() || c.interaction() != crate::axes::Interaction::Agent {
                return;
            }
            match first.get(&c) {
                Some(&j) if expansions[j].agent != e.agent => clash = Some((j, c)),
                Some(_) => {}
                None => {
                    first.insert(c, i);
                }
            }
        });
        if let Some((j, c)) = clash {
            let other = &expansions[j];
            let node = match &nodes[i].value {
                Value::Map(m) => m
                    .iter()
                    .find(|(k, _)| k.name.as_deref() == Some("agent"))
                    .map_or(nodes[i].pos, |(_, v)| v.pos),
                _ => nodes[i].pos,
            };
            return Err(cx.err(
                node,
                &join(&index("expansions", i), "agent"),
                format!(
                    "condition {} comes from expansion `{}` (expansions[{j}], max_steps {}) and \
                     from expansion `{}` (expansions[{i}], max_steps {}) with different `agent:` \
                     settings; one condition runs one way: give both expansions the same \
                     `agent:` settings, or leave the condition out of one of them",
                    c.id(),
                    other.name,
                    other.agent.max_steps,
                    e.name,
                    e.agent.max_steps
                ),
            ));
        }
    }
    Ok(())
}

/// An expansion's `agent:` settings, which only its agent conditions have.
fn agent_settings(cx: Ctx, f: &Fields, axes: &[(&'static str, Vec<String>)]) -> R<AgentSettings> {
    let Some(node) = f.get("agent") else {
        return Ok(AgentSettings::default());
    };
    let path = f.path_of("agent");
    let interaction = crate::axes::interaction::AXIS.name;
    let agent = crate::axes::Interaction::Agent.as_str();
    let has_agent = axes
        .iter()
        .any(|(name, values)| *name == interaction && values.iter().any(|v| v == agent));
    if !has_agent {
        return Err(cx.err(
            node.pos,
            &path,
            format!(
                "`agent:` sets how agent conditions run, but this expansion has none: add \
                 `{agent}` to `variables.{interaction}` (e.g. `{interaction}: [single, {agent}]`), \
                 or remove `agent:`"
            ),
        ));
    }
    let a = walk::fields(cx, node, &path, keys::AGENT)?;
    let mut settings = AgentSettings::default();
    if let Some(n) = a.get("max_steps") {
        let range = AgentSettings::MAX_STEPS;
        settings.max_steps =
            walk::uint(cx, n, &a.path_of("max_steps"), *range.start(), *range.end())?;
    }
    Ok(settings)
}

/// Scenario names become folder names and condition-id prefixes.
fn scenario_name(cx: Ctx, node: &Node, path: &str) -> R<String> {
    let s = walk::name(cx, node, path)?;
    let ok = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok || s.len() > 64 {
        let builtin = crate::scenario::builtin_scenario_names();
        let known: Vec<&str> = builtin.iter().map(String::as_str).collect();
        return Err(cx.err(
            node.pos,
            path,
            format!(
                "scenario name {} must use only `a-z`, `0-9` and `_` (the built-in ones are \
                 `{}`){}",
                quote(&s),
                known.join("`, `"),
                walk::did_you_mean(&s, &known)
            ),
        ));
    }
    Ok(s)
}

/// Reads `vars.<key>` as a list of words; `default` is used when absent, else it is required.
/// Repeated words are kept once (the plan would collapse them anyway).
fn words<T: PartialEq>(
    cx: Ctx,
    vars: &Fields,
    key: &str,
    what: &str,
    default: Option<Vec<T>>,
    read: impl Fn(Ctx, &Node, &str) -> R<T>,
) -> R<Option<Vec<T>>> {
    let path = vars.path_of(key);
    let node = match (vars.get(key), default) {
        (Some(n), _) => n,
        (None, Some(d)) => return Ok(Some(d)),
        (None, None) => {
            return Err(cx.err(
                vars.pos,
                &path,
                format!("missing required key `{key}`: add a list of at least one {what}"),
            ))
        }
    };
    let items = walk::nonempty_list(cx, node, &path, what)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let v = read(cx, item, &index(&path, i))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(Some(out))
}

fn require_models(
    cx: Ctx,
    top: &Fields,
    global: Option<&Fields>,
    models: &[String],
    exp_nodes: &[Node],
    expansions: &[Expansion],
) -> R<()> {
    if !models.is_empty() {
        return Ok(());
    }
    for (i, e) in expansions.iter().enumerate() {
        if e.enabled && e.models.is_none() {
            let (pos, field) = match global.and_then(|g| g.get("models")) {
                Some(n) => (n.pos, "global.models".to_string()),
                None => match global {
                    Some(g) => (g.pos, "global.models".to_string()),
                    None => (exp_nodes[i].pos, index("expansions", i)),
                },
            };
            let _ = top;
            return Err(cx.err(
                pos,
                &field,
                format!(
                    "no models to run for expansion `{}`: list them in `global.models` (or in \
                     this expansion's `models`), e.g. `models: [\"anthropic/claude-sonnet-4-5\"]`",
                    e.name
                ),
            ));
        }
    }
    Ok(())
}

fn classification(
    cx: Ctx,
    node: &Node,
    path: &str,
    providers: &BTreeMap<String, ProviderConfig>,
    expansions: &[Expansion],
) -> R<Classification> {
    let f = walk::fields(cx, node, path, keys::CLASSIFICATION)?;
    let mut out = Classification::default();
    if let Some(n) = f.get("enabled") {
        out.enabled = walk::boolean(cx, n, &f.path_of("enabled"))?;
    }
    if let Some(n) = f.get("classifier_model") {
        out.classifier_model = Some(model_name(
            cx,
            n,
            &f.path_of("classifier_model"),
            providers,
        )?);
    }
    if let Some(n) = f.get("judges") {
        judge_panel(cx, n, &f.path_of("judges"), providers, &mut out)?;
    }
    if let Some(n) = f.get("combine") {
        let word = walk::choice(cx, n, &f.path_of("combine"), "rule", &Combine::WORDS)?;
        out.combine = Combine::parse(&word).unwrap_or_default();
    }
    if let Some(n) = f.get("awareness_model") {
        out.awareness_model = Some(model_name(cx, n, &f.path_of("awareness_model"), providers)?);
    }
    if let Some(n) = f.get("concurrency") {
        out.concurrency = walk::uint(cx, n, &f.path_of("concurrency"), 1u32, 100_000)? as usize;
    }
    if let Some(n) = f.get("batch") {
        out.batch = Some(walk::boolean(cx, n, &f.path_of("batch"))?);
    }
    if let Some(n) = f.get("models") {
        let p = f.path_of("models");
        for (scenario, key, value) in walk::entries(cx, n, &p)? {
            let sp = join(&p, &scenario);
            let key_node = Node {
                pos: key.pos,
                value: Value::Str(scenario.clone()),
            };
            scenario_name(cx, &key_node, &sp)?;
            known_scenario(cx, &key_node, &sp, &scenario, expansions)?;
            let v = walk::name(cx, value, &sp)?;
            scenario_judge(cx, value, &sp, &scenario, &v, providers)?;
            out.models.insert(scenario, v);
        }
    }
    Ok(out)
}

/// `classification.judges`: a non-empty list of distinct judge models. Beside
/// `classifier_model` it may only repeat that one judge (two places naming different judges
/// would leave it open which ran). One judge is `classifier_model` under another key: same
/// requests, same rows.
fn judge_panel(
    cx: Ctx,
    node: &Node,
    path: &str,
    providers: &BTreeMap<String, ProviderConfig>,
    out: &mut Classification,
) -> R<()> {
    let items = walk::nonempty_list(cx, node, path, "judge model")?;
    let mut names: Vec<String> = Vec::new();
    let mut resolved: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = index(path, i);
        let name = model_name(cx, item, &item_path, providers)?;
        let canonical = providers::resolve_model(&name, providers)
            .map(|r| r.name)
            .unwrap_or_else(|_| name.clone());
        if let Some(j) = resolved.iter().position(|r| *r == canonical) {
            return Err(cx.err(
                item.pos,
                &item_path,
                format!(
                    "`{name}` is already a judge (`{}`, both are `{canonical}`); each judge is \
                     listed once",
                    names[j]
                ),
            ));
        }
        resolved.push(canonical);
        names.push(name);
    }
    if let Some(single) = &out.classifier_model {
        if names != [single.as_str()] {
            return Err(cx.err(
                node.pos,
                path,
                format!(
                    "`classifier_model: {single}` names another judge; name the judges in one \
                     place: `judges: [...]` alone, or `classifier_model` alone for one judge"
                ),
            ));
        }
    }
    if names.len() == 1 {
        out.classifier_model = names.pop();
    } else {
        out.judges = names;
    }
    Ok(())
}

/// A `classification.models` key must be a scenario this file runs or a built-in one (the
/// reference's files list all three built-in scenarios whatever they run).
fn known_scenario(
    cx: Ctx,
    node: &Node,
    path: &str,
    scenario: &str,
    expansions: &[Expansion],
) -> R<()> {
    let mut known: Vec<&str> = REFERENCE_CLASSIFIERS.iter().map(|(_, s)| *s).collect();
    for e in expansions {
        for s in &e.scenarios {
            if !known.contains(&s.as_str()) {
                known.push(s);
            }
        }
    }
    if known.contains(&scenario) {
        return Ok(());
    }
    Err(cx.err(
        node.pos,
        path,
        format!(
            "no scenario `{scenario}` here: the keys of `classification.models` are scenarios \
             ({}){}",
            known.join(", "),
            walk::did_you_mean(scenario, &known)
        ),
    ))
}

/// The value is a reference classifier name for this very scenario, or a judge model with a
/// known provider. Checked here so that `run` never samples and then fails on it.
fn scenario_judge(
    cx: Ctx,
    node: &Node,
    path: &str,
    scenario: &str,
    value: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> R<()> {
    let names: Vec<&str> = REFERENCE_CLASSIFIERS.iter().map(|(n, _)| *n).collect();
    if let Some(classifies) = reference_classifier_scenario(value) {
        if classifies == scenario {
            return Ok(());
        }
        let right = REFERENCE_CLASSIFIERS
            .iter()
            .find(|(_, s)| *s == scenario)
            .map(|(n, _)| format!("; use `{n}`"))
            .unwrap_or_default();
        return Err(cx.err(
            node.pos,
            path,
            format!(
                "`{value}` classifies `{classifies}`, not `{scenario}`{right}, or a judge \
                 model (`provider/model`)"
            ),
        ));
    }
    if value.ends_with("_classifier") {
        return Err(cx.err(
            node.pos,
            path,
            format!(
                "unknown classifier `{value}`; the classifier names are {}{}; or give a judge \
                 model (`provider/model`)",
                names.join(", "),
                walk::did_you_mean(value, &names)
            ),
        ));
    }
    providers::resolve_model(value, providers).map_err(|msg| {
        cx.err(
            node.pos,
            path,
            format!(
                "`{value}` is neither a classifier name ({}) nor a judge model: {msg}",
                names.join(", ")
            ),
        )
    })?;
    Ok(())
}

fn execution(cx: Ctx, node: &Node, path: &str) -> R<Execution> {
    let f = walk::fields(cx, node, path, keys::EXECUTION)?;
    let mut out = Execution::default();
    if let Some(n) = f.get("resume_interrupted") {
        out.resume_interrupted = walk::boolean(cx, n, &f.path_of("resume_interrupted"))?;
    }
    if let Some(n) = f.get("timeout_seconds") {
        out.timeout_seconds = walk::uint(cx, n, &f.path_of("timeout_seconds"), 1u64, 86_400)?;
    }
    if let Some(n) = f.get("max_reply_bytes") {
        out.max_reply_bytes = walk::uint(
            cx,
            n,
            &f.path_of("max_reply_bytes"),
            1024u64,
            1024 * 1024 * 1024,
        )?;
    }
    if let Some(n) = f.get("retries") {
        out.retries = walk::uint(cx, n, &f.path_of("retries"), 0u32, 100)?;
    }
    if let Some(n) = f.get("checkpoint_frequency") {
        out.checkpoint_frequency =
            walk::uint(cx, n, &f.path_of("checkpoint_frequency"), 1u32, 1_000_000)?;
    }
    if let Some(n) = f.get("batch") {
        out.batch = walk::boolean(cx, n, &f.path_of("batch"))?;
    }
    if let Some(n) = f.get("batch_fallback") {
        let path = f.path_of("batch_fallback");
        out.batch_fallback =
            match walk::choice(cx, n, &path, "batch fallback", &["batch", "live"])?.as_str() {
                "live" => super::BatchFallback::Live,
                _ => super::BatchFallback::Batch,
            };
    }
    if let Some(n) = f.get("batch_poll_seconds") {
        out.batch_poll_seconds =
            walk::number(cx, n, &f.path_of("batch_poll_seconds"), 0.001, 3600.0)?;
    }
    if let Some(n) = f.get("batch_max_requests") {
        out.batch_max_requests = Some(walk::uint(
            cx,
            n,
            &f.path_of("batch_max_requests"),
            1u32,
            100_000,
        )?);
    }
    if let Some(n) = f.get("prompt_cache") {
        out.prompt_cache = walk::boolean(cx, n, &f.path_of("prompt_cache"))?;
    }
    if let Some(n) = f.get("max_cost_usd") {
        out.max_cost_usd = Some(walk::number(cx, n, &f.path_of("max_cost_usd"), 0.0, 1e9)?);
    }
    if let Some(n) = f.get("samples_per_request") {
        out.samples_per_request = walk::uint(cx, n, &f.path_of("samples_per_request"), 1u32, 128)?;
    }
    Ok(out)
}

pub(crate) fn prices(cx: Ctx, node: &Node, path: &str) -> R<BTreeMap<String, Price>> {
    let mut out = BTreeMap::new();
    for (glob, key, value) in walk::entries(cx, node, path)? {
        let p = join(path, &glob);
        let key_node = Node {
            pos: key.pos,
            value: Value::Str(glob.clone()),
        };
        check_glob(cx, &key_node, &p, &glob)?;
        let f = walk::fields(cx, value, &p, keys::PRICE)?;
        let what = "the price in USD per million tokens, e.g. `input: 3.0`";
        let input = walk::number(
            cx,
            f.required(cx, "input", what)?,
            &f.path_of("input"),
            0.0,
            1e6,
        )?;
        let output = walk::number(
            cx,
            f.required(cx, "output", what)?,
            &f.path_of("output"),
            0.0,
            1e6,
        )?;
        let per_million = |name: &str| -> R<Option<f64>> {
            f.get(name)
                .map(|n| walk::number(cx, n, &f.path_of(name), 0.0, 1e6))
                .transpose()
        };
        let cache_write = per_million("cache_write")?;
        let cache_read = per_million("cache_read")?;
        let batch_discount = f
            .get("batch_discount")
            .map(|n| walk::number(cx, n, &f.path_of("batch_discount"), 0.0, 1.0))
            .transpose()?;
        let as_of = match f.get("as_of") {
            Some(n) => {
                let path = f.path_of("as_of");
                let date = walk::string(cx, n, &path)?;
                if chrono_like_date(&date).is_none() {
                    return Err(cx.err(
                        n.pos,
                        &path,
                        format!(
                            "{} is not a date; write the day the prices were read as \
                             YYYY-MM-DD, e.g. `as_of: \"2026-11-30\"`",
                            quote(&date)
                        ),
                    ));
                }
                Some(date)
            }
            None => None,
        };
        out.insert(
            glob,
            Price {
                input,
                output,
                cache_write,
                cache_read,
                batch_discount,
                as_of,
            },
        );
    }
    Ok(out)
}

/// `YYYY-MM-DD` with a plausible month and day, as (year, month, day).
fn chrono_like_date(s: &str) -> Option<(u32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    ((1..=12).contains(&m) && (1..=31).contains(&d) && y >= 2000).then_some((y, m, d))
}

fn providers_section(cx: Ctx, node: &Node, path: &str) -> R<BTreeMap<String, ProviderConfig>> {
    let mut out = BTreeMap::new();
    for (name, key, value) in walk::entries(cx, node, path)? {
        let p = join(path, &name);
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            return Err(cx.err(
                key.pos,
                &p,
                format!(
                    "provider name {} may use only letters, digits, `_`, `-` and `.` (it is the \
                     part before `/` in model names)",
                    quote(&name)
                ),
            ));
        }
        out.insert(name, provider(cx, value, &p)?);
    }
    Ok(out)
}

fn provider(cx: Ctx, node: &Node, path: &str) -> R<ProviderConfig> {
    let f = walk::fields(cx, node, path, keys::PROVIDER)?;
    let kinds: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
    let kind_node = f.required(
        cx,
        "kind",
        &format!("the provider's protocol, one of {}", kinds.join(", ")),
    )?;
    let kind_word = walk::choice(cx, kind_node, &f.path_of("kind"), "provider kind", &kinds)?;
    let kind = ProviderKind::parse(&kind_word).expect("checked");
    let mut out = ProviderConfig::of_kind(kind);

    match (f.get("base_url"), f.get("base_urls")) {
        (Some(_), Some(n)) => {
            return Err(cx.err(
                n.pos,
                &f.path_of("base_urls"),
                "give either `base_url` or `base_urls`, not both",
            ))
        }
        (Some(n), None) => {
            let p = f.path_of("base_url");
            out.base_urls.push(base_url(cx, n, &p)?);
        }
        (None, Some(n)) => {
            let p = f.path_of("base_urls");
            for (i, item) in walk::nonempty_list(cx, n, &p, "URL")?.iter().enumerate() {
                out.base_urls.push(base_url(cx, item, &index(&p, i))?);
            }
        }
        (None, None) => {}
    }
    if kind == ProviderKind::OpenaiCompatible && out.base_urls.is_empty() {
        return Err(cx.err(
            f.pos,
            &f.path_of("base_url"),
            "missing required key `base_url`: an openai-compatible provider needs the server's \
             address, e.g. `base_url: \"http://127.0.0.1:8080/v1\"`",
        ));
    }
    if kind == ProviderKind::Local {
        if let Some(n) = f.get("base_url").or(f.get("base_urls")) {
            return Err(cx.err(
                n.pos,
                path,
                "a `local` provider runs in this process and has no URL; remove it, or use \
                 `kind: openai-compatible` for a local server",
            ));
        }
    } else {
        for key in keys::LOCAL_ONLY {
            if let Some(n) = f.get(key) {
                return Err(cx.err(
                    n.pos,
                    &f.path_of(key),
                    format!("`{key}` applies only to `kind: local`; remove it"),
                ));
            }
        }
    }

    if let Some(n) = f.get("api_key_env") {
        let p = f.path_of("api_key_env");
        if kind == ProviderKind::Local {
            return Err(cx.err(n.pos, &p, "a `local` provider needs no API key; remove it"));
        }
        // Never echo this value: a pasted key must not reach the terminal or logs.
        let v = walk::string(cx, n, &p)?;
        let valid = !v.is_empty()
            && v.len() <= 128
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !v.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(cx.err(
                n.pos,
                &p,
                "must be the NAME of an environment variable (letters, digits, `_`), such as \
                 `ANTHROPIC_API_KEY`, never the key itself",
            ));
        }
        out.api_key_env = Some(v);
    }
    if let Some(n) = f.get("headers") {
        let p = f.path_of("headers");
        for (header, key, value) in walk::entries(cx, n, &p)? {
            let hp = join(&p, &header);
            let token = header
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
            if header.is_empty() || !token {
                return Err(cx.err(
                    key.pos,
                    &hp,
                    format!("{} is not a valid HTTP header name", quote(&header)),
                ));
            }
            // Header values may be secrets: type errors never quote them.
            match &value.value {
                Value::Str(s) if !s.contains(['\r', '\n']) => {
                    out.headers.insert(header, s.clone());
                }
                Value::Str(_) => {
                    return Err(cx.err(value.pos, &hp, "a header value must be a single line"))
                }
                other => {
                    return Err(cx.err(
                        value.pos,
                        &hp,
                        format!("expected text, found {}; put it in quotes", other.kind()),
                    ))
                }
            }
        }
    }
    if let Some(n) = f.get("safety_settings") {
        let p = f.path_of("safety_settings");
        if kind != ProviderKind::Google {
            return Err(cx.err(
                n.pos,
                &p,
                "`safety_settings` applies only to `kind: google`; remove it",
            ));
        }
        for (category, _, value) in walk::entries(cx, n, &p)? {
            let threshold = walk::name(cx, value, &join(&p, &category))?;
            out.safety_settings.insert(category, threshold);
        }
    }
    if let Some(n) = f.get("model_path") {
        out.model_path = Some(walk::name(cx, n, &f.path_of("model_path"))?);
    }
    if let Some(n) = f.get("context_length") {
        out.context_length = Some(walk::uint(
            cx,
            n,
            &f.path_of("context_length"),
            16u32,
            10_000_000,
        )?);
    }
    if let Some(n) = f.get("threads") {
        out.threads = Some(walk::uint(cx, n, &f.path_of("threads"), 1u32, 4096)?);
    }
    if let Some(n) = f.get("batch_size") {
        out.batch_size = Some(walk::uint(
            cx,
            n,
            &f.path_of("batch_size"),
            1u32,
            1_000_000,
        )?);
    }
    if let Some(n) = f.get("gpu_layers") {
        out.gpu_layers = Some(walk::uint(cx, n, &f.path_of("gpu_layers"), 0u32, 100_000)?);
    }
    Ok(out)
}

fn base_url(cx: Ctx, node: &Node, path: &str) -> R<String> {
    let url = walk::name(cx, node, path)?;
    providers::check_base_url(&url).map_err(|msg| cx.err(node.pos, path, msg))?;
    Ok(url.trim_end_matches('/').to_string())
}
