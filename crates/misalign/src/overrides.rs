//! The override flags shared by `run` and `validate`, each also read from a `MISALIGN_*`
//! environment variable (a flag wins over its variable).

use misalign_core::config::Overrides;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct OverrideArgs {
    /// Run these models instead of the file's (repeatable, or comma-separated in the variable).
    #[arg(
        long = "model",
        value_name = "MODEL",
        env = "MISALIGN_MODEL",
        value_delimiter = ','
    )]
    pub models: Vec<String>,
    /// Only the first N conditions of the plan.
    #[arg(long, value_name = "N", env = "MISALIGN_LIMIT")]
    pub limit: Option<usize>,
    /// Samples per condition instead of the file's `samples_per_condition`.
    #[arg(long, value_name = "N", env = "MISALIGN_SAMPLES")]
    pub samples: Option<u32>,
    /// At most N calls in flight per provider (and per model).
    #[arg(long, value_name = "N", env = "MISALIGN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// The LLM judge for classification (turns classification on).
    #[arg(long, value_name = "MODEL", env = "MISALIGN_JUDGE")]
    pub judge: Option<String>,
    /// The base sampling seed (sample i is sent seed + i).
    #[arg(long, value_name = "N", env = "MISALIGN_SEED")]
    pub seed: Option<u64>,
    /// Send the calls as provider batches (half price, results within 24 h; docs/batch.md).
    /// (The variable takes 1/true/yes; 0/false/no/off or empty leave batch mode off.)
    #[arg(
        long,
        env = "MISALIGN_BATCH",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub batch: bool,
    /// Stop starting calls when what the plan's answers cost plus the calls in flight could
    /// pass USD (overrides `execution.max_cost_usd`); resume with a higher limit (docs/cost.md).
    #[arg(long, value_name = "USD", env = "MISALIGN_MAX_COST")]
    pub max_cost: Option<f64>,
    /// Fail a call whose reply is longer than N bytes (overrides
    /// `execution.max_reply_bytes`, default 8 MiB).
    #[arg(long, value_name = "N", env = "MISALIGN_MAX_REPLY_BYTES")]
    pub max_reply_bytes: Option<u64>,
}

impl OverrideArgs {
    pub fn to_overrides(&self) -> Overrides {
        Overrides {
            models: self.models.clone(),
            limit: self.limit,
            samples: self.samples,
            max_connections: self.max_connections,
            judge: self.judge.clone(),
            seed: self.seed,
            batch: self.batch,
            max_cost_usd: self.max_cost,
            max_reply_bytes: self.max_reply_bytes,
        }
    }

    /// The flags as typed, for the "run the same command again" hints.
    pub fn as_flags(&self) -> String {
        let mut s = String::new();
        for m in &self.models {
            s.push_str(&format!(" --model {m}"));
        }
        let mut add = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                s.push_str(&format!(" --{flag} {v}"));
            }
        };
        add("limit", self.limit.map(|v| v.to_string()));
        add("samples", self.samples.map(|v| v.to_string()));
        add(
            "max-connections",
            self.max_connections.map(|v| v.to_string()),
        );
        add("judge", self.judge.clone());
        add("seed", self.seed.map(|v| v.to_string()));
        add("max-cost", self.max_cost.map(|v| v.to_string()));
        add(
            "max-reply-bytes",
            self.max_reply_bytes.map(|v| v.to_string()),
        );
        if self.batch {
            s.push_str(" --batch");
        }
        s
    }
}
