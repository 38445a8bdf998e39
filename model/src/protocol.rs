//! The protocol parameters the model shares with the impl's `Config`, one per extension of the
//! basic protocol (Raft paper sections 5.3 and 8; Ongaro's thesis for the rest), and the named
//! profiles the checker and the conformance gate run.
//!
//! Every parameter off (the basic profile) is the protocol of specs/contract.md; `production`
//! is what the impl's `Config::new` runs. Each event an extension adds is enabled only when its
//! parameter is on, so the basic profile's reachable graph is exactly the basic model's.

use crate::bounds::Bounds;
use serde::{Deserialize, Serialize};

/// The protocol parameters. The JSON form leaves out extensions that are off, so a basic
/// model reads and prints as before they existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Params {
    /// The most entries one AppendEntries carries (section 5.3 allows any number; the
    /// contract's basic mode sends 1).
    pub max_entries: u8,
    /// Whether a new leader appends a no-op entry in its term (section 8).
    pub noop: bool,
    /// A pre-candidate phase before each election (thesis 9.6).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pre_vote: bool,
    /// Leaders step down at `CheckQuorum` without a quorum heard from, and followers that heard
    /// from their leader ignore higher-term vote requests (thesis 6.2, 4.2.3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub check_quorum: bool,
    /// Rejections carry the conflicting term and its first index (end of paper section 5.3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub fast_backtrack: bool,
    /// With pipelining, the most AppendEntries with entries in flight to one follower (thesis
    /// 10.2.2); 0 is no pipelining.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_inflight: u8,
    /// AppendEntries go out on election, proposal, reply and commit, not only on
    /// heartbeats.
    #[serde(default, skip_serializing_if = "is_false")]
    pub eager: bool,
    /// `TransferLeadership` and TimeoutNow (thesis 3.10).
    #[serde(default, skip_serializing_if = "is_false")]
    pub transfer: bool,
    /// Writes become durable in their own `Persist` event (thesis 10.2.1).
    #[serde(default, skip_serializing_if = "is_false")]
    pub async_persist: bool,
    /// Servers compact their logs into snapshots (`Compact`), and leaders send InstallSnapshot
    /// to followers that need compacted entries (thesis 5).
    #[serde(default, skip_serializing_if = "is_false")]
    pub snapshots: bool,
    /// Configuration changes by joint consensus, with learners (thesis 4): the last server id
    /// starts outside the configuration, `ProposeMembership` moves ids between voters, learners
    /// and non-members, at most `max_config_changes` times.
    #[serde(default, skip_serializing_if = "is_false")]
    pub membership: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl Default for Params {
    fn default() -> Self {
        Protocol::Basic.params()
    }
}

impl Params {
    pub fn pipelining(&self) -> bool {
        self.max_inflight > 0
    }

    /// Whether any extension of the basic protocol is on.
    pub fn extended(&self) -> bool {
        let basic = Protocol::Basic.params();
        Params {
            max_entries: basic.max_entries,
            noop: basic.noop,
            ..*self
        } != basic
    }

    /// Whether server ids may be renamed (`--symmetry`): not with membership changes, where
    /// the last id starts outside the configuration and configurations name ids.
    pub fn symmetric(&self) -> Result<(), String> {
        if self.membership {
            return Err("--symmetry is not available with --membership".to_string());
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.max_entries == 0 {
            return Err("--max-entries must be at least 1".to_string());
        }
        // Not modelled yet: how a snapshot in flight pauses a pipelined follower, conflict
        // hints that would point into a compacted prefix, and a snapshot as a write in
        // progress.
        if self.snapshots && (self.pipelining() || self.fast_backtrack || self.async_persist) {
            return Err("--snapshots is not modelled together with --max-inflight, \
                 --fast-backtrack or --async-persist"
                .to_string());
        }
        // Not modelled yet: a snapshot's configuration.
        if self.membership && self.snapshots {
            return Err("--membership is not modelled together with --snapshots".to_string());
        }
        Ok(())
    }
}

/// A named set of parameters: the basic protocol, one extension on its own, or all of them.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Paper sections 5.1-5.4 and 8, as specs/contract.md fixes them.
    Basic,
    PreVote,
    CheckQuorum,
    FastBacktrack,
    Pipelining,
    Transfer,
    Persistence,
    /// Every extension on, as the impl's `Config::new` has them.
    Production,
    Snapshots,
    Membership,
}

impl Protocol {
    pub const ALL: [Protocol; 10] = [
        Protocol::Basic,
        Protocol::PreVote,
        Protocol::CheckQuorum,
        Protocol::FastBacktrack,
        Protocol::Pipelining,
        Protocol::Transfer,
        Protocol::Persistence,
        Protocol::Production,
        Protocol::Snapshots,
        Protocol::Membership,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Basic => "basic",
            Protocol::PreVote => "pre-vote",
            Protocol::CheckQuorum => "check-quorum",
            Protocol::FastBacktrack => "fast-backtrack",
            Protocol::Pipelining => "pipelining",
            Protocol::Transfer => "transfer",
            Protocol::Persistence => "persistence",
            Protocol::Production => "production",
            Protocol::Snapshots => "snapshots",
            Protocol::Membership => "membership",
        }
    }

    /// The bounds this profile is checked at by default (and by the conformance gate): small
    /// enough to finish in CI, large enough that every `sometimes` twin is witnessed.
    pub fn bounds(self) -> Bounds {
        // (max term, max log, messages in flight, restarts, drops, duplicates), 3 servers, 1 value.
        let (t, l, m, r, d, u) = match self {
            Protocol::Basic => return Bounds::default(),
            Protocol::PreVote => (2, 2, 2, 1, 1, 1),
            Protocol::CheckQuorum => (2, 2, 2, 1, 0, 0),
            Protocol::FastBacktrack => (2, 3, 2, 1, 2, 0),
            Protocol::Pipelining => (2, 3, 3, 1, 0, 0),
            Protocol::Transfer => (2, 2, 2, 1, 0, 0),
            Protocol::Persistence => (2, 2, 2, 1, 1, 0),
            // With restarts the graph is 3.5 million states even with symmetry; they are
            // checked with asynchronous persistence in the persistence profile.
            Protocol::Production => (2, 2, 2, 0, 1, 0),
            Protocol::Snapshots => (2, 2, 2, 1, 1, 0),
            // Three ids, two of them voters at first, and two changes: room to add the third as
            // a learner and promote it (with four ids a vote request round alone is three
            // messages).
            Protocol::Membership => {
                return Bounds {
                    servers: 3,
                    max_term: 3,
                    max_log: 4,
                    values: 1,
                    max_messages: 2,
                    max_restarts: 0,
                    max_drops: 1,
                    max_duplicates: 0,
                    max_config_changes: 2,
                }
            }
        };
        Bounds {
            servers: 3,
            max_term: t,
            max_log: l,
            values: 1,
            max_messages: m,
            max_restarts: r,
            max_drops: d,
            max_duplicates: u,
            max_config_changes: 0,
        }
    }

    /// The parameters: the basic protocol plus this profile's extensions.
    pub fn params(self) -> Params {
        let basic = Params {
            max_entries: 1,
            noop: true,
            pre_vote: false,
            check_quorum: false,
            fast_backtrack: false,
            max_inflight: 0,
            eager: false,
            transfer: false,
            async_persist: false,
            snapshots: false,
            membership: false,
        };
        match self {
            Protocol::Basic => basic,
            Protocol::PreVote => Params {
                pre_vote: true,
                ..basic
            },
            Protocol::CheckQuorum => Params {
                check_quorum: true,
                ..basic
            },
            Protocol::FastBacktrack => Params {
                fast_backtrack: true,
                ..basic
            },
            // Pipelining needs eager sends to have anything in flight: without them entries go
            // out only in probes, one at a time.
            Protocol::Pipelining => Params {
                max_inflight: 2,
                eager: true,
                max_entries: 2,
                ..basic
            },
            Protocol::Transfer => Params {
                transfer: true,
                ..basic
            },
            Protocol::Persistence => Params {
                async_persist: true,
                ..basic
            },
            Protocol::Production => Params {
                max_entries: 2,
                noop: true,
                pre_vote: true,
                check_quorum: true,
                fast_backtrack: true,
                max_inflight: 2,
                eager: true,
                transfer: true,
                async_persist: true,
                snapshots: false,
                membership: false,
            },
            Protocol::Snapshots => Params {
                snapshots: true,
                ..basic
            },
            Protocol::Membership => Params {
                membership: true,
                ..basic
            },
        }
    }
}

/// The protocols the conformance gate walks at larger bounds, named: every extension the model
/// has, in as few combinations as it can check together. Snapshots are not yet modelled with
/// pipelining, fast backtracking or asynchronous persistence, so they are walked with the other
/// extensions of production; membership changes are walked without pipelining, eager
/// replication and asynchronous persistence (with those, a disagreement in how the leader
/// batches what it sends right after leaving a joint configuration is still open).
pub fn walk_profiles() -> Vec<(&'static str, Params)> {
    let production = Protocol::Production.params();
    vec![
        ("production", production),
        (
            "production-snapshots",
            Params {
                snapshots: true,
                max_inflight: 0,
                fast_backtrack: false,
                async_persist: false,
                ..production
            },
        ),
        (
            "production-membership",
            Params {
                membership: true,
                max_inflight: 0,
                eager: false,
                async_persist: false,
                ..production
            },
        ),
    ]
}
