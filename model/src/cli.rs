//! The model's command-line flags (bounds, parameters, bug flag), shared by `raft-model` and the
//! conformance checker so that both read a configuration the same way.

use crate::{Bounds, Bug, Params, Protocol, RaftModel};
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
    /// Most configuration changes (with --membership).
    #[arg(long)]
    pub max_config_changes: Option<u8>,
    /// Most entries one AppendEntries carries.
    #[arg(long)]
    pub max_entries: Option<u8>,
    /// Whether a new leader appends a no-op entry.
    #[arg(long, value_name = "BOOL")]
    pub noop: Option<bool>,
    /// The protocol profile: `basic` (paper 5.1-5.4 and 8), one extension alone, or
    /// `production` (every extension, as the impl's Config::new). The flags below override it.
    #[arg(long, value_name = "PROFILE")]
    pub protocol: Option<Protocol>,
    /// Pre-vote before elections (thesis 9.6).
    #[arg(long, value_name = "BOOL")]
    pub pre_vote: Option<bool>,
    /// Check-quorum and the leader lease (thesis 6.2, 4.2.3).
    #[arg(long, value_name = "BOOL")]
    pub check_quorum: Option<bool>,
    /// Conflict hints on rejections (paper 5.3).
    #[arg(long, value_name = "BOOL")]
    pub fast_backtrack: Option<bool>,
    /// Pipelining window: AppendEntries with entries in flight per follower (0: off).
    #[arg(long, value_name = "N")]
    pub max_inflight: Option<u8>,
    /// AppendEntries on election, proposal, reply (acknowledgement or rejection) and commit.
    #[arg(long, value_name = "BOOL")]
    pub eager: Option<bool>,
    /// Leadership transfer (thesis 3.10).
    #[arg(long, value_name = "BOOL")]
    pub transfer: Option<bool>,
    /// Writes become durable in their own Persist event (thesis 10.2.1).
    #[arg(long, value_name = "BOOL")]
    pub async_persist: Option<bool>,
    /// Log compaction into snapshots, and InstallSnapshot (thesis 5).
    #[arg(long, value_name = "BOOL")]
    pub snapshots: Option<bool>,
    /// Configuration changes by joint consensus, with learners (thesis 4).
    #[arg(long, value_name = "BOOL")]
    pub membership: Option<bool>,
}

impl ModelArgs {
    /// The model these flags describe, over the default bounds of its profile (`--protocol`'s
    /// bounds, or the basic defaults).
    pub fn model(&self) -> Result<RaftModel, String> {
        self.model_from(self.profile_bounds())
    }

    /// The bounds a check of this profile uses when none are given.
    pub fn profile_bounds(&self) -> Bounds {
        self.protocol.map_or_else(Bounds::default, Protocol::bounds)
    }

    /// The model these flags describe, over `base` where no bound is given (the bug flag's
    /// bounds when `--bug` is given); a clear message when the result makes no sense.
    pub fn model_from(&self, base: Bounds) -> Result<RaftModel, String> {
        let (base_bounds, mut base_params) = match self.bug {
            Some(bug) => (bug.bounds(), bug.params()),
            None => (base, Params::default()),
        };
        if let Some(protocol) = self.protocol {
            base_params = Params {
                noop: base_params.noop,
                ..protocol.params()
            };
        }
        let bounds = Bounds {
            servers: self.servers.unwrap_or(base_bounds.servers),
            max_term: self.max_term.unwrap_or(base_bounds.max_term),
            max_log: self.max_log.unwrap_or(base_bounds.max_log),
            values: self.values.unwrap_or(base_bounds.values),
            max_messages: self.max_messages.unwrap_or(base_bounds.max_messages),
            max_restarts: self.max_restarts.unwrap_or(base_bounds.max_restarts),
            max_drops: self.max_drops.unwrap_or(base_bounds.max_drops),
            max_duplicates: self.max_duplicates.unwrap_or(base_bounds.max_duplicates),
            max_config_changes: self
                .max_config_changes
                .unwrap_or(base_bounds.max_config_changes),
        };
        let b = base_params;
        let params = Params {
            max_entries: self.max_entries.unwrap_or(b.max_entries),
            noop: self.noop.unwrap_or(b.noop),
            pre_vote: self.pre_vote.unwrap_or(b.pre_vote),
            check_quorum: self.check_quorum.unwrap_or(b.check_quorum),
            fast_backtrack: self.fast_backtrack.unwrap_or(b.fast_backtrack),
            max_inflight: self.max_inflight.unwrap_or(b.max_inflight),
            eager: self.eager.unwrap_or(b.eager),
            transfer: self.transfer.unwrap_or(b.transfer),
            async_persist: self.async_persist.unwrap_or(b.async_persist),
            snapshots: self.snapshots.unwrap_or(b.snapshots),
            membership: self.membership.unwrap_or(b.membership),
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

/// The command-line flags that select these bounds and parameters; extensions that are off are
/// left out (they default to off).
pub fn bounds_and_params(b: &Bounds, p: &Params) -> String {
    let mut flags = format!(
        "--servers {} --max-term {} --max-log {} --values {} --max-messages {} --max-restarts {} --max-drops {} --max-duplicates {} --max-entries {} --noop {}",
        b.servers,
        b.max_term,
        b.max_log,
        b.values,
        b.max_messages,
        b.max_restarts,
        b.max_drops,
        b.max_duplicates,
        p.max_entries,
        p.noop
    );
    for (flag, on) in [
        ("--pre-vote", p.pre_vote),
        ("--check-quorum", p.check_quorum),
        ("--fast-backtrack", p.fast_backtrack),
        ("--eager", p.eager),
        ("--transfer", p.transfer),
        ("--async-persist", p.async_persist),
        ("--snapshots", p.snapshots),
        ("--membership", p.membership),
    ] {
        if on {
            flags.push_str(&format!(" {flag} true"));
        }
    }
    if p.pipelining() {
        flags.push_str(&format!(" --max-inflight {}", p.max_inflight));
    }
    if b.max_config_changes > 0 {
        flags.push_str(&format!(" --max-config-changes {}", b.max_config_changes));
    }
    flags
}

/// The flags that select `model`: its bounds, parameters and bug flag.
pub fn flags(model: &RaftModel) -> String {
    let mut out = bounds_and_params(&model.bounds, &model.params);
    if let Some(bug) = model.bug {
        out.push_str(&format!(" --bug {}", bug.name()));
    }
    out
}
