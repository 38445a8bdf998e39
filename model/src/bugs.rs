//! Bug flags: each re-introduces one known Raft mistake into the transition rules of Figure 2
//! so that the checker can show which property of Figure 3 it breaks (Raft paper, sections
//! 5.2-5.4 and Figure 8; the catalogue in specs/bugs.md gives a source for each).

use crate::bounds::Bounds;
use crate::properties::{
    CHECK_QUORUM_HEARD, COMMIT_WITHIN_LOG, ELECTION_SAFETY, FLOW_WINDOW, LEADER_COMPLETENESS,
    LEASE_KEEPS_TERM, LOG_TERMS_NONDECREASING, MATCH_WITHIN_FOLLOWER, ONE_CHANGE_AT_A_TIME,
    ONE_VOTE_PER_TERM, PRE_VOTE_KEEPS_TERMS, PRE_VOTE_UP_TO_DATE, QUORUMS_OF_VOTERS,
    REJECTION_LOWERS_NEXT, REMOVED_LEADER_STEPS_DOWN, SNAPSHOT_KEEPS_MATCHING_SUFFIX,
    SNAPSHOT_NEVER_OLDER, STATE_MACHINE_SAFETY, TIMEOUT_NOW_CAUGHT_UP,
};
use crate::protocol::{Params, Protocol};
use serde::{Deserialize, Serialize};

/// One known mistake. `None` in the model config means the protocol as in Figure 2.
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
pub enum Bug {
    /// A leader commits an entry of an earlier term once a majority stores it (Figure 8).
    CommitPreviousTerm,
    /// A vote is granted without the "at least as up-to-date" check (section 5.4.1).
    VoteWithoutUpToDateCheck,
    /// The up-to-date check compares last log index before last log term.
    UpToDateIndexFirst,
    /// votedFor is not persisted: a restart forgets it.
    ForgetVotedForOnRestart,
    /// currentTerm is not persisted: a restart resets it to 0.
    ForgetTermOnRestart,
    /// A candidate that steps down on a same-term AppendEntries clears votedFor.
    ClearVoteOnStepDown,
    /// A candidate counts vote grants sent in an earlier term.
    CountStaleVotes,
    /// A leader counts AppendEntries replies from an earlier term into matchIndex.
    CountStaleAppendReplies,
    /// A follower truncates after prevLogIndex even when the entries already match.
    TruncateMatchingEntries,
    /// A follower sets commitIndex to leaderCommit without the min with the last new entry.
    CommitWithoutMin,
    /// A server handles an AppendEntries from a stale term as if it were current.
    AcceptStaleTerm,
    /// A quorum is n/2 servers instead of n/2 + 1.
    QuorumOffByOne,
    /// Pre-vote: a server takes the higher term of a pre-vote request or grant.
    PreVoteBumpsTerm,
    /// Pre-vote: granted without the "at least as up-to-date" check.
    PreVoteWithoutUpToDateCheck,
    /// Check-quorum: a server in its leader lease still takes a vote request's higher term.
    LeaseIgnored,
    /// Check-quorum: an AppendEntries reply from an earlier term counts as heard from.
    CheckQuorumCountsStaleReply,
    /// Fast backtracking: the leader jumps one past the hint, without the bound by the rejected
    /// index.
    BacktrackPastConflict,
    /// Pipelining: matchIndex advanced when AppendEntries is sent, not when it is acknowledged.
    MatchOnSend,
    /// Pipelining: a rejection lowers nextIndex but the follower stays pipelined, its window
    /// kept.
    NoProbeAfterRejection,
    /// Asynchronous persistence: a leader takes acknowledgements while its own write is in
    /// progress, so a quorum can include an entry it has not stored.
    LeaderCountsUnwrittenEntry,
    /// Leadership transfer: TimeoutNow sent before the target holds the leader's whole log.
    TimeoutNowToLaggingTarget,
    /// Snapshots: InstallSnapshot discards the whole log even when it holds the snapshot's
    /// last entry and more after it.
    SnapshotDiscardsMatchingSuffix,
    /// Snapshots: InstallSnapshot whose last entry conflicts with the log keeps the entries
    /// after it.
    SnapshotKeepsConflictingSuffix,
    /// Snapshots: a snapshot older than the receiver's own is installed over it.
    OlderSnapshotAccepted,
    /// Membership: a server uses a configuration only once it is committed.
    ConfigOnlyWhenCommitted,
    /// Membership: a joint configuration's quorum is one majority of the old and new voters
    /// together.
    JointQuorumAsOneMajority,
    /// Membership: a change is proposed while the previous one is uncommitted.
    SecondChangeWhileUncommitted,
    /// Membership: a leader removed from the configuration keeps leading.
    RemovedLeaderKeepsLeading,
    /// Membership: learners are asked for votes and their votes count.
    LearnerVotesCounted,
}

impl Bug {
    pub const ALL: [Bug; 29] = [
        Bug::CommitPreviousTerm,
        Bug::VoteWithoutUpToDateCheck,
        Bug::UpToDateIndexFirst,
        Bug::ForgetVotedForOnRestart,
        Bug::ForgetTermOnRestart,
        Bug::ClearVoteOnStepDown,
        Bug::CountStaleVotes,
        Bug::CountStaleAppendReplies,
        Bug::TruncateMatchingEntries,
        Bug::CommitWithoutMin,
        Bug::AcceptStaleTerm,
        Bug::QuorumOffByOne,
        Bug::PreVoteBumpsTerm,
        Bug::PreVoteWithoutUpToDateCheck,
        Bug::LeaseIgnored,
        Bug::CheckQuorumCountsStaleReply,
        Bug::BacktrackPastConflict,
        Bug::MatchOnSend,
        Bug::NoProbeAfterRejection,
        Bug::LeaderCountsUnwrittenEntry,
        Bug::TimeoutNowToLaggingTarget,
        Bug::SnapshotDiscardsMatchingSuffix,
        Bug::SnapshotKeepsConflictingSuffix,
        Bug::OlderSnapshotAccepted,
        Bug::ConfigOnlyWhenCommitted,
        Bug::JointQuorumAsOneMajority,
        Bug::SecondChangeWhileUncommitted,
        Bug::RemovedLeaderKeepsLeading,
        Bug::LearnerVotesCounted,
    ];

    /// The flag as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bug::CommitPreviousTerm => "commit-previous-term",
            Bug::VoteWithoutUpToDateCheck => "vote-without-up-to-date-check",
            Bug::UpToDateIndexFirst => "up-to-date-index-first",
            Bug::ForgetVotedForOnRestart => "forget-voted-for-on-restart",
            Bug::ForgetTermOnRestart => "forget-term-on-restart",
            Bug::ClearVoteOnStepDown => "clear-vote-on-step-down",
            Bug::CountStaleVotes => "count-stale-votes",
            Bug::CountStaleAppendReplies => "count-stale-append-replies",
            Bug::TruncateMatchingEntries => "truncate-matching-entries",
            Bug::CommitWithoutMin => "commit-without-min",
            Bug::AcceptStaleTerm => "accept-stale-term",
            Bug::QuorumOffByOne => "quorum-off-by-one",
            Bug::PreVoteBumpsTerm => "pre-vote-bumps-term",
            Bug::PreVoteWithoutUpToDateCheck => "pre-vote-without-up-to-date-check",
            Bug::LeaseIgnored => "lease-ignored",
            Bug::CheckQuorumCountsStaleReply => "check-quorum-counts-stale-reply",
            Bug::BacktrackPastConflict => "backtrack-past-conflict",
            Bug::MatchOnSend => "match-on-send",
            Bug::NoProbeAfterRejection => "no-probe-after-rejection",
            Bug::LeaderCountsUnwrittenEntry => "leader-counts-unwritten-entry",
            Bug::TimeoutNowToLaggingTarget => "timeout-now-to-lagging-target",
            Bug::SnapshotDiscardsMatchingSuffix => "snapshot-discards-matching-suffix",
            Bug::SnapshotKeepsConflictingSuffix => "snapshot-keeps-conflicting-suffix",
            Bug::OlderSnapshotAccepted => "older-snapshot-accepted",
            Bug::ConfigOnlyWhenCommitted => "config-only-when-committed",
            Bug::JointQuorumAsOneMajority => "joint-quorum-as-one-majority",
            Bug::SecondChangeWhileUncommitted => "second-change-while-uncommitted",
            Bug::RemovedLeaderKeepsLeading => "removed-leader-keeps-leading",
            Bug::LearnerVotesCounted => "learner-votes-counted",
        }
    }

    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The mistake in one sentence.
    pub fn mistake(self) -> &'static str {
        match self {
            Bug::CommitPreviousTerm => {
                "a leader commits an entry from an earlier term because a majority stores it"
            }
            Bug::VoteWithoutUpToDateCheck => {
                "a vote is granted without checking that the candidate's log is at least as up-to-date"
            }
            Bug::UpToDateIndexFirst => {
                "the up-to-date check compares the last log index before the last log term"
            }
            Bug::ForgetVotedForOnRestart => "votedFor is lost on restart",
            Bug::ForgetTermOnRestart => "currentTerm is lost on restart (it restarts at 0)",
            Bug::ClearVoteOnStepDown => {
                "a candidate that steps down on a same-term AppendEntries clears votedFor, so it can vote twice"
            }
            Bug::CountStaleVotes => "vote grants from an earlier term are counted",
            Bug::CountStaleAppendReplies => {
                "AppendEntries replies from an earlier term are counted into matchIndex"
            }
            Bug::TruncateMatchingEntries => {
                "a follower truncates its log after prevLogIndex even when the entries already match"
            }
            Bug::CommitWithoutMin => {
                "a follower sets commitIndex to leaderCommit, not min(leaderCommit, index of last new entry)"
            }
            Bug::AcceptStaleTerm => "an AppendEntries from a stale term is accepted",
            Bug::QuorumOffByOne => "a quorum is n/2 servers instead of n/2 + 1",
            Bug::PreVoteBumpsTerm => {
                "a pre-vote request or grant makes its receiver take the higher term it carries"
            }
            Bug::PreVoteWithoutUpToDateCheck => {
                "a pre-vote is granted without checking that the candidate's log is at least as up-to-date"
            }
            Bug::LeaseIgnored => {
                "a server that heard from its leader within the election timeout still takes the higher term of a vote request"
            }
            Bug::CheckQuorumCountsStaleReply => {
                "check-quorum counts an AppendEntries reply from an earlier term as hearing from the follower"
            }
            Bug::BacktrackPastConflict => {
                "the leader sets nextIndex one past the conflict hint, not bounded by the rejected index"
            }
            Bug::MatchOnSend => "matchIndex is advanced when AppendEntries is sent, not when it is acknowledged",
            Bug::NoProbeAfterRejection => {
                "after a rejection the leader lowers nextIndex but keeps pipelining, with its in-flight window"
            }
            Bug::LeaderCountsUnwrittenEntry => {
                "a leader takes acknowledgements before its own write is done, counting an entry it has not stored"
            }
            Bug::TimeoutNowToLaggingTarget => {
                "TimeoutNow is sent before the transfer target holds the leader's whole log"
            }
            Bug::SnapshotDiscardsMatchingSuffix => {
                "InstallSnapshot discards the whole log even when the log holds the snapshot's last entry and more"
            }
            Bug::SnapshotKeepsConflictingSuffix => {
                "InstallSnapshot whose last entry conflicts with the log keeps the entries after it"
            }
            Bug::OlderSnapshotAccepted => {
                "a snapshot older than the receiver's own is installed over it"
            }
            Bug::ConfigOnlyWhenCommitted => {
                "a server uses a configuration only once it is committed, not as soon as it is in its log"
            }
            Bug::JointQuorumAsOneMajority => {
                "a joint configuration's quorum is one majority of the old and new voters together"
            }
            Bug::SecondChangeWhileUncommitted => {
                "a configuration change is proposed while the previous one is uncommitted"
            }
            Bug::RemovedLeaderKeepsLeading => {
                "a leader whose committed configuration leaves it out keeps leading"
            }
            Bug::LearnerVotesCounted => "learners are asked for votes, and their votes count",
        }
    }

    /// The property the flag is known to violate (its test pins the shortest counterexample).
    /// For `CountStaleAppendReplies` the violation needs 5 servers and is shown by a scripted
    /// counterexample (`scripted_bounds`, model/tests/stale_replies.rs), not by the checker at
    /// `bounds()`.
    pub fn violates(self) -> &'static str {
        match self {
            Bug::CommitPreviousTerm => STATE_MACHINE_SAFETY,
            Bug::VoteWithoutUpToDateCheck => LEADER_COMPLETENESS,
            Bug::UpToDateIndexFirst => LEADER_COMPLETENESS,
            Bug::ForgetVotedForOnRestart => ELECTION_SAFETY,
            Bug::ForgetTermOnRestart => ELECTION_SAFETY,
            Bug::ClearVoteOnStepDown => ONE_VOTE_PER_TERM,
            Bug::CountStaleVotes => ELECTION_SAFETY,
            Bug::CountStaleAppendReplies => LEADER_COMPLETENESS,
            Bug::TruncateMatchingEntries => STATE_MACHINE_SAFETY,
            Bug::CommitWithoutMin => COMMIT_WITHIN_LOG,
            Bug::AcceptStaleTerm => STATE_MACHINE_SAFETY,
            Bug::QuorumOffByOne => ELECTION_SAFETY,
            Bug::PreVoteBumpsTerm => PRE_VOTE_KEEPS_TERMS,
            Bug::PreVoteWithoutUpToDateCheck => PRE_VOTE_UP_TO_DATE,
            Bug::LeaseIgnored => LEASE_KEEPS_TERM,
            Bug::CheckQuorumCountsStaleReply => CHECK_QUORUM_HEARD,
            Bug::BacktrackPastConflict => REJECTION_LOWERS_NEXT,
            Bug::MatchOnSend => MATCH_WITHIN_FOLLOWER,
            Bug::NoProbeAfterRejection => FLOW_WINDOW,
            Bug::LeaderCountsUnwrittenEntry => LEADER_COMPLETENESS,
            Bug::TimeoutNowToLaggingTarget => TIMEOUT_NOW_CAUGHT_UP,
            Bug::SnapshotDiscardsMatchingSuffix => SNAPSHOT_KEEPS_MATCHING_SUFFIX,
            Bug::SnapshotKeepsConflictingSuffix => LOG_TERMS_NONDECREASING,
            Bug::OlderSnapshotAccepted => SNAPSHOT_NEVER_OLDER,
            Bug::ConfigOnlyWhenCommitted => ONE_CHANGE_AT_A_TIME,
            Bug::JointQuorumAsOneMajority => QUORUMS_OF_VOTERS,
            Bug::SecondChangeWhileUncommitted => ONE_CHANGE_AT_A_TIME,
            Bug::RemovedLeaderKeepsLeading => REMOVED_LEADER_STEPS_DOWN,
            Bug::LearnerVotesCounted => QUORUMS_OF_VOTERS,
        }
    }

    /// For a flag whose violation the checker cannot show by exhaustive search: the smallest
    /// bounds containing the scripted counterexample that shows it (model/tests/stale_replies.rs
    /// replays it). `bounds()` stays the small configuration that `--bug NAME` and the
    /// conformance checks explore completely.
    pub fn scripted_bounds(self) -> Option<Bounds> {
        match self {
            // 5 servers, max term 4, max log 2, 1 value, 9 messages in flight, no faults.
            Bug::CountStaleAppendReplies => Some(Bounds {
                servers: 5,
                max_term: 4,
                max_log: 2,
                values: 1,
                max_messages: 9,
                max_restarts: 0,
                max_drops: 0,
                max_duplicates: 0,
                max_config_changes: 0,
            }),
            _ => None,
        }
    }

    /// The smallest bounds (and the parameters) at which the violation shows; `--bug NAME`
    /// uses them unless bounds are given. For `CountStaleAppendReplies`, which shows nothing
    /// with 3 servers, the 3-server bounds where the flag is live (see `scripted_bounds`).
    pub fn bounds(self) -> Bounds {
        // (max term, max log, messages in flight, restarts, drops, duplicates), 3 servers, 1 value.
        let (t, l, m, r, d, u) = match self {
            Bug::CommitPreviousTerm => (4, 3, 2, 0, 1, 0),
            Bug::VoteWithoutUpToDateCheck => (2, 1, 2, 0, 1, 0),
            Bug::UpToDateIndexFirst => (3, 3, 2, 0, 1, 0),
            Bug::ForgetVotedForOnRestart => (1, 1, 2, 1, 1, 0),
            Bug::ForgetTermOnRestart => (1, 1, 2, 1, 1, 0),
            Bug::ClearVoteOnStepDown => (1, 0, 3, 0, 1, 0),
            Bug::CountStaleVotes => (2, 1, 4, 0, 0, 0),
            Bug::CountStaleAppendReplies => (3, 2, 3, 0, 0, 0),
            Bug::TruncateMatchingEntries => (2, 2, 3, 0, 0, 0),
            Bug::CommitWithoutMin => (2, 2, 2, 0, 1, 0),
            Bug::AcceptStaleTerm => (3, 2, 3, 0, 0, 0),
            Bug::QuorumOffByOne => (1, 1, 2, 0, 1, 0),
            Bug::PreVoteBumpsTerm => (1, 0, 2, 0, 0, 0),
            Bug::PreVoteWithoutUpToDateCheck => (2, 1, 3, 0, 0, 0),
            Bug::LeaseIgnored => (2, 1, 2, 0, 0, 0),
            Bug::CheckQuorumCountsStaleReply => (2, 0, 3, 0, 1, 0),
            Bug::BacktrackPastConflict => (3, 2, 2, 0, 0, 0),
            Bug::MatchOnSend => (1, 2, 2, 0, 1, 0),
            Bug::NoProbeAfterRejection => (1, 3, 3, 0, 0, 0),
            Bug::LeaderCountsUnwrittenEntry => (2, 2, 2, 1, 0, 0),
            Bug::TimeoutNowToLaggingTarget => (1, 1, 2, 0, 0, 0),
            Bug::SnapshotDiscardsMatchingSuffix => (1, 2, 3, 1, 0, 0),
            Bug::SnapshotKeepsConflictingSuffix => (2, 2, 2, 0, 1, 0),
            Bug::OlderSnapshotAccepted => (1, 2, 3, 0, 0, 0),
            Bug::ConfigOnlyWhenCommitted
            | Bug::JointQuorumAsOneMajority
            | Bug::SecondChangeWhileUncommitted
            | Bug::RemovedLeaderKeepsLeading
            | Bug::LearnerVotesCounted => return Protocol::Membership.bounds(),
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

    /// The protocol the flag belongs to: its mistake is in that profile's extension.
    pub fn protocol(self) -> Protocol {
        match self {
            Bug::PreVoteBumpsTerm | Bug::PreVoteWithoutUpToDateCheck => Protocol::PreVote,
            Bug::LeaseIgnored | Bug::CheckQuorumCountsStaleReply => Protocol::CheckQuorum,
            Bug::BacktrackPastConflict => Protocol::FastBacktrack,
            Bug::MatchOnSend | Bug::NoProbeAfterRejection => Protocol::Pipelining,
            Bug::LeaderCountsUnwrittenEntry => Protocol::Persistence,
            Bug::TimeoutNowToLaggingTarget => Protocol::Transfer,
            Bug::SnapshotDiscardsMatchingSuffix
            | Bug::SnapshotKeepsConflictingSuffix
            | Bug::OlderSnapshotAccepted => Protocol::Snapshots,
            Bug::ConfigOnlyWhenCommitted
            | Bug::JointQuorumAsOneMajority
            | Bug::SecondChangeWhileUncommitted
            | Bug::RemovedLeaderKeepsLeading
            | Bug::LearnerVotesCounted => Protocol::Membership,
            _ => Protocol::Basic,
        }
    }

    pub fn params(self) -> Params {
        let params = self.protocol().params();
        match self {
            // With the no-op, the AppendEntries that makes the candidate step down carries an
            // entry, and the old RequestVote then fails the up-to-date check: the second vote
            // needs a leader with an empty log.
            Bug::ClearVoteOnStepDown => Params {
                noop: false,
                ..params
            },
            // Without entries the state space is small enough to show the stale reply, which
            // needs a second election while it is in flight.
            Bug::CheckQuorumCountsStaleReply => Params {
                noop: false,
                ..params
            },
            _ => params,
        }
    }

    /// Where the mistake was described or seen.
    pub fn source(self) -> &'static str {
        match self {
            Bug::CommitPreviousTerm => "Raft paper section 5.4.2 and Figure 8; PySyncObj #169",
            Bug::VoteWithoutUpToDateCheck => "Raft paper section 5.4.1",
            Bug::UpToDateIndexFirst => "openraft: compare last_log_id in dictionary order",
            Bug::ForgetVotedForOnRestart => {
                "nebula PR 3415; etcd raft README (persist before send)"
            }
            Bug::ForgetTermOnRestart => {
                "Raft paper Figure 2 (currentTerm is persistent); willemt/raft PR 118"
            }
            Bug::ClearVoteOnStepDown => "akka-raft #56; camunda/zeebe #5356",
            Bug::CountStaleVotes => "little-raft #44; eatonphil/raft-rs #3",
            Bug::CountStaleAppendReplies => "PySyncObj #167; RaftOS #25",
            Bug::TruncateMatchingEntries => {
                "Raft paper section 5.3 and Figure 2 step 3; openraft 9540c904; RaftOS #26"
            }
            Bug::CommitWithoutMin => "Raft paper Figure 2 step 5; copycat #265; scylladb #9965",
            Bug::AcceptStaleTerm => "Raft paper Figure 2 AppendEntries step 1",
            Bug::QuorumOffByOne => "classic off-by-one; Raft paper section 5.2 (majority)",
            Bug::PreVoteBumpsTerm => "Raft thesis 9.6 (a pre-vote changes no term)",
            Bug::PreVoteWithoutUpToDateCheck => "Raft thesis 9.6; etcd #8501 (pre-vote disruption)",
            Bug::LeaseIgnored => "Raft thesis 4.2.3 (disruptive servers); etcd #8501",
            Bug::CheckQuorumCountsStaleReply => {
                "Raft thesis 6.2; raft-bugs #9 (stale replies counted)"
            }
            Bug::BacktrackPastConflict => {
                "Raft paper end of section 5.3; etcd `Progress.MaybeDecrTo`"
            }
            Bug::MatchOnSend => "Raft paper Figure 2 (matchIndex: known replicated); raft-bugs #9",
            Bug::NoProbeAfterRejection => "Raft thesis 10.2.2 (pipelining falls back on failure)",
            Bug::LeaderCountsUnwrittenEntry => {
                "Raft thesis 10.2.1; raft-bugs #20 (etcd async storage writes)"
            }
            Bug::TimeoutNowToLaggingTarget => {
                "Raft thesis 3.10 (transfer waits for the target to catch up)"
            }
            Bug::SnapshotDiscardsMatchingSuffix => {
                "Raft thesis Figure 5.3 step 6; raft-bugs #15 (InstallSnapshot drops a matching suffix)"
            }
            Bug::SnapshotKeepsConflictingSuffix => {
                "Raft thesis Figure 5.3 step 7; raft-bugs #15 (InstallSnapshot keeps a conflicting suffix)"
            }
            Bug::OlderSnapshotAccepted => {
                "Raft thesis Figure 5.3 step 5 (discard snapshots with a smaller index); raft-bugs #15"
            }
            Bug::ConfigOnlyWhenCommitted => {
                "Raft thesis 4.1 (a configuration is used as soon as it is appended); raft-bugs #14"
            }
            Bug::JointQuorumAsOneMajority => {
                "Raft thesis 4.3 (separate majorities of both configurations); raft-bugs #14"
            }
            Bug::SecondChangeWhileUncommitted => {
                "Raft thesis 4.1 (one change at a time); raft-bugs #13"
            }
            Bug::RemovedLeaderKeepsLeading => "Raft thesis 4.2.2 (a removed leader steps down)",
            Bug::LearnerVotesCounted => {
                "Raft thesis 4.2.1 (learners do not vote); etcd PR 10998"
            }
        }
    }
}
