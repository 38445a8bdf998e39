//! The model's command-line flags (bounds, parameters, bug flag), shared by `raft-model` and the
//! conformance checker so that both read a configuration the same way.

use crate::{Bounds, Bug, Params, RaftModel};
use clap::Args;

/// The model: bounds, parameters and a bug flag. Without a value a bound takes the default,
/// or the bug flag's documented bound when --bug is given.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Re-introduce a known mistake (see `raft-model bugs`).
    #[arg(long, value_name = "NAME")]
    pub bug: Option<Bug>,
    #[arg(long)]
    pub servers: Option<u8>,
    #[arg(long)]
    pub max_term: Option<u8>,
    #[arg(long)]
    pub max_log: Option<u8>,
    /// Number of distinct client values.
    #[arg(long)]
    pub values: Option<u8>,
    /// Most message copies in flight at once.
    #[arg(long)]
    pub max_messages: Option<u8>,
    #[arg(long)]
    pub max_restarts: Option<u8>,
    #[arg(long)]
    pub max_drops: Option<u8>,
    #[arg(long)]
    pub max_duplicates: Option<u8>,
    /// Most entries one AppendEntries carries.
    #[arg(long)]
    pub max_entries: Option<u8>,
    /// Whether a new leader appends a no-op entry.
    #[arg(long, value_name = "BOOL")]
    pub noop: Option<bool>,
}

impl ModelArgs {
    /// The model these flags describe, over the default bounds.
    pub fn model(&self) -> Result<RaftModel, String> {
        self.model_from(Bounds::default())
    }

    /// The model these flags describe, over `base` where no bound is given (the bug flag's
    /// bounds when `--bug` is given); a clear message when the result makes no sense.
    pub fn model_from(&self, base: Bounds) -> Result<RaftModel, String> {
        let (base_bounds, base_params) = match self.bug {
            Some(bug) => (bug.bounds(), bug.params()),
            None => (base, Params::default()),
        };
        let bounds = Bounds {
            servers: self.servers.unwrap_or(base_bounds.servers),
            max_term: self.max_term.unwrap_or(base_bounds.max_term),
            max_log: self.max_log.unwrap_or(base_bounds.max_log),
            values: self.values.unwrap_or(base_bounds.values),
            max_messages: self.max_messages.unwrap_or(base_bounds.max_messages),
            max_restarts: self.max_restarts.unwrap_or(base_bounds.max_restarts),
            max_drops: self.max_drops.unwrap_or(base_bounds.max_drops),
            max_duplicates: self.max_duplicates.unwrap_or(base_bounds.max_duplicates),
        };
        let params = Params {
            max_entries: self.max_entries.unwrap_or(base_params.max_entries),
            noop: self.noop.unwrap_or(base_params.noop),
        };
        let model = RaftModel {
            bounds,
            params,
            bug: self.bug,
        };
        model.validate()?;
        Ok(model)
    }
}
