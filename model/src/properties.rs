//! The properties: the five guarantees of Figure 3 (Raft paper, sections 5.2-5.4), cheap
//! structural invariants, the guarantees each production extension gives (Ongaro's thesis),
//! and `sometimes` twins that show the `always` properties are not vacuous (each twin reaches
//! the situation its property is about). `all` lists the ones the protocol's parameters make
//! meaningful.

use crate::bounds::Bounds;
use crate::message::{Body, Membership, Payload};
use crate::protocol::Params;
use crate::state::{Role, State};
use crate::RaftModel;
use stateright::Property;

pub const ELECTION_SAFETY: &str = "at most one leader per term (Election Safety)";
pub const LEADER_APPEND_ONLY: &str =
    "a leader never overwrites or deletes entries in its log (Leader Append-Only)";
pub const LOG_MATCHING: &str =
    "logs with an entry of the same index and term are identical up to it (Log Matching)";
pub const LEADER_COMPLETENESS: &str =
    "an entry committed in a term is in the log of every leader of a later term (Leader Completeness)";
pub const STATE_MACHINE_SAFETY: &str =
    "no two servers apply different entries at the same index (State Machine Safety)";
pub const COMMIT_WITHIN_LOG: &str = "commitIndex never exceeds the last log index";
pub const TERM_MONOTONIC: &str = "a server's term never decreases";
pub const ONE_VOTE_PER_TERM: &str = "a server votes for at most one candidate per term";
pub const MATCH_WITHIN_FOLLOWER: &str =
    "a leader's matchIndex for a follower in its term never exceeds what that follower has stored of the leader's log";
pub const PRE_VOTE_KEEPS_TERMS: &str = "a pre-vote changes no server's term (thesis 9.6)";
pub const PRE_VOTE_UP_TO_DATE: &str =
    "a pre-vote is granted only to a log at least as up-to-date as the voter's (thesis 9.6)";
pub const LEASE_KEEPS_TERM: &str =
    "a server in its leader lease keeps its term on a vote request (thesis 4.2.3)";
pub const CHECK_QUORUM_HEARD: &str =
    "a leader stays leader at CheckQuorum only if it heard from a quorum in its term since the last check (thesis 6.2)";
pub const REJECTION_LOWERS_NEXT: &str =
    "a rejection of prevLogIndex k leaves nextIndex at most k, so backtracking ends (paper 5.3)";
pub const FLOW_WINDOW: &str =
    "a follower's in-flight AppendEntries lie between its matchIndex and nextIndex (thesis 10.2.2)";
pub const TIMEOUT_NOW_CAUGHT_UP: &str =
    "TimeoutNow goes only to a server that holds the leader's whole log (thesis 3.10)";
pub const SNAPSHOT_COMMITTED: &str =
    "a snapshot holds only committed entries, so every later leader's log begins with it (thesis 5.1)";
pub const LOG_TERMS_NONDECREASING: &str =
    "the terms along every log never decrease (paper 5.3: a leader appends in its own term after entries of earlier ones)";
pub const COMMIT_COVERS_SNAPSHOT: &str = "a server's commit index is never below its snapshot";
pub const SNAPSHOT_NEVER_OLDER: &str =
    "a server's snapshot is never replaced by an older one (thesis Figure 5.3 step 5)";
pub const SNAPSHOT_KEEPS_MATCHING_SUFFIX: &str =
    "InstallSnapshot keeps the entries after a snapshot whose last entry the log holds (thesis Figure 5.3 step 6)";
pub const QUORUMS_INTERSECT: &str =
    "a quorum that won an election meets every quorum that decided a commit in that term or before, under the same configuration or a joint one and its half (thesis 4.3)";
pub const QUORUMS_OF_VOTERS: &str =
    "every election and every commit is decided by a quorum of the configuration's voters, learners not counted (thesis 4.2.1, 4.3)";
pub const ONE_CHANGE_AT_A_TIME: &str =
    "a leader's log holds at most one configuration change beyond the committed prefix (thesis 4.1)";
pub const REMOVED_LEADER_STEPS_DOWN: &str =
    "a leader is a voter of its configuration once that configuration is committed (thesis 4.2.2)";

pub const LEADER_ELECTED: &str = "a leader is elected";
pub const ENTRY_COMMITTED: &str = "an entry is committed";
pub const LATER_LEADER_AFTER_COMMIT: &str =
    "a second leader is elected in a later term after an entry was committed";
pub const FOLLOWER_TRUNCATES: &str = "a follower truncates a conflicting suffix";
pub const RESTARTED_REJOINS: &str = "a restarted server later votes or appends";
pub const PRE_VOTE_GRANTED: &str = "a pre-vote is granted";
pub const PRE_VOTE_REFUSED: &str =
    "a pre-vote is refused while no server has moved to the term it asked for";
pub const LEASE_MEETS_VOTE: &str = "a vote request of a higher term reaches a server in its lease";
pub const CHECK_QUORUM_STEPS_DOWN: &str = "a leader steps down at CheckQuorum";
pub const CHECK_QUORUM_PASSES: &str =
    "a leader has heard from a quorum, so it stays at CheckQuorum";
pub const BACKTRACK_JUMPS: &str = "a conflict hint moves nextIndex down by more than one";
pub const PIPELINED: &str = "two AppendEntries with entries are in flight to one follower";
pub const PROBED_AGAIN: &str = "a follower being replicated to is probed again after a rejection";
pub const TIMEOUT_NOW_SENT: &str = "a leader sends TimeoutNow";
pub const TRANSFER_WON: &str = "the target of a leadership transfer wins the election it starts";
pub const EARLY_APPEND: &str = "a leader's AppendEntries go out before its own write is done";
pub const LOST_WRITE: &str = "a crash loses a write in progress";
pub const COMPACTED: &str = "a server compacts its log";
pub const INSTALLED_SNAPSHOT: &str = "a follower catches up by InstallSnapshot";
pub const SNAPSHOT_MEETS_SUFFIX: &str =
    "an InstallSnapshot reaches a follower whose log holds the snapshot's last entry and more";
pub const RESTARTED_FROM_SNAPSHOT: &str = "a server restarts from its snapshot";
pub const JOINT_COMMITTED: &str = "a joint configuration commits";
pub const PROMOTED_VOTES: &str = "a learner is promoted and later votes";
pub const REMOVED_LEADER_STEPPED_DOWN: &str = "a leader removed from the configuration steps down";
pub const JOINT_ELECTION: &str = "an election is won under a joint configuration";
pub const QUORUMS_COMPARED: &str =
    "an election quorum and an earlier commit quorum of a joint configuration and its half are both recorded";

/// The properties of a protocol, `always` first, then the `sometimes` twins. A twin is listed
/// only where its situation fits in the bounds: a restart needs a restart budget, and a
/// conflict hint can move nextIndex by more than one only past a log of three entries (the
/// leader needs two before its no-op).
pub fn all(params: &Params, bounds: &Bounds) -> Vec<Property<RaftModel>> {
    let restarts = bounds.max_restarts > 0;
    let mut always = vec![
        Property::always(ELECTION_SAFETY, |_, s| election_safety(s)),
        Property::always(LEADER_APPEND_ONLY, |_, s| leader_append_only(s)),
        Property::always(LOG_MATCHING, |_, s| log_matching(s)),
        Property::always(LEADER_COMPLETENESS, |_, s| leader_completeness(s)),
        Property::always(STATE_MACHINE_SAFETY, |_, s| state_machine_safety(s)),
        Property::always(COMMIT_WITHIN_LOG, |_, s| commit_within_log(s)),
        Property::always(TERM_MONOTONIC, |_, s: &State| !s.history.term_decreased),
        Property::always(ONE_VOTE_PER_TERM, |_, s: &State| !s.history.double_vote),
        Property::always(MATCH_WITHIN_FOLLOWER, |_, s| match_within_follower(s)),
    ];
    let mut sometimes = vec![
        Property::sometimes(LEADER_ELECTED, |_, s: &State| s.leaders().next().is_some()),
        Property::sometimes(ENTRY_COMMITTED, |_, s: &State| {
            !s.history.committed.is_empty()
        }),
        Property::sometimes(LATER_LEADER_AFTER_COMMIT, |_, s| {
            later_leader_after_commit(s)
        }),
        Property::sometimes(FOLLOWER_TRUNCATES, |_, s: &State| {
            s.history.truncated_conflict
        }),
    ];
    if restarts {
        sometimes.push(Property::sometimes(RESTARTED_REJOINS, |_, s: &State| {
            s.history.restarted_rejoined
        }));
    }
    if params.pre_vote {
        always.push(Property::always(PRE_VOTE_KEEPS_TERMS, |_, s: &State| {
            !s.history.pre_vote_moved_term
        }));
        always.push(Property::always(PRE_VOTE_UP_TO_DATE, |_, s: &State| {
            !s.history.pre_vote_behind_granted
        }));
        sometimes.push(Property::sometimes(PRE_VOTE_GRANTED, |_, s: &State| {
            s.network.messages().iter().any(|m| {
                matches!(
                    m.body,
                    Body::RequestVoteResponse {
                        granted: true,
                        pre_vote: true
                    }
                )
            })
        }));
        sometimes.push(Property::sometimes(PRE_VOTE_REFUSED, |_, s| {
            pre_vote_refused(s)
        }));
    }
    if params.check_quorum {
        always.push(Property::always(LEASE_KEEPS_TERM, |_, s: &State| {
            !s.history.lease_broken
        }));
        always.push(Property::always(CHECK_QUORUM_HEARD, |_, s: &State| {
            !s.history.check_quorum_unheard
        }));
        sometimes.push(Property::sometimes(LEASE_MEETS_VOTE, |_, s| {
            lease_meets_vote(s)
        }));
        sometimes.push(Property::sometimes(CHECK_QUORUM_STEPS_DOWN, |_, s| {
            deposed_in_own_term(s)
        }));
        // CheckQuorum is enabled at every leader, so a leader that has heard from a quorum
        // is one that stays at the check.
        sometimes.push(Property::sometimes(
            CHECK_QUORUM_PASSES,
            |m: &RaftModel, s: &State| s.leaders().any(|(_, l)| l.heard.len() + 1 >= m.quorum()),
        ));
    }
    if params.fast_backtrack || params.pipelining() {
        always.push(Property::always(REJECTION_LOWERS_NEXT, |_, s: &State| {
            !s.history.backtrack_stalled
        }));
    }
    if params.fast_backtrack && bounds.max_log >= 3 {
        sometimes.push(Property::sometimes(BACKTRACK_JUMPS, |_, s: &State| {
            s.history.backtrack_jumped
        }));
    }
    if params.pipelining() {
        always.push(Property::always(FLOW_WINDOW, |_, s| flow_window(s)));
        sometimes.push(Property::sometimes(PIPELINED, |_, s| pipelined(s)));
        sometimes.push(Property::sometimes(PROBED_AGAIN, |_, s: &State| {
            s.history.probed_again
        }));
    }
    if params.transfer {
        always.push(Property::always(TIMEOUT_NOW_CAUGHT_UP, |_, s: &State| {
            !s.history.timeout_now_to_lagging
        }));
        sometimes.push(Property::sometimes(TIMEOUT_NOW_SENT, |_, s: &State| {
            s.network
                .messages()
                .iter()
                .any(|m| m.body == Body::TimeoutNow)
        }));
        sometimes.push(Property::sometimes(TRANSFER_WON, |_, s: &State| {
            s.history.transfer_won
        }));
    }
    if params.async_persist && restarts {
        sometimes.push(Property::sometimes(LOST_WRITE, |_, s: &State| {
            s.history.lost_write
        }));
    }
    if params.async_persist && params.eager {
        sometimes.push(Property::sometimes(EARLY_APPEND, |_, s| early_append(s)));
    }
    if params.snapshots {
        always.push(Property::always(SNAPSHOT_COMMITTED, |_, s| {
            snapshot_committed(s)
        }));
        always.push(Property::always(LOG_TERMS_NONDECREASING, |_, s: &State| {
            s.servers
                .iter()
                .all(|sv| sv.log.windows(2).all(|w| w[0].term <= w[1].term))
        }));
        always.push(Property::always(COMMIT_COVERS_SNAPSHOT, |_, s: &State| {
            s.servers.iter().all(|sv| sv.commit_index >= sv.snapshot)
        }));
        always.push(Property::always(SNAPSHOT_NEVER_OLDER, |_, s: &State| {
            !s.history.snapshot_regressed
        }));
        always.push(Property::always(
            SNAPSHOT_KEEPS_MATCHING_SUFFIX,
            |_, s: &State| !s.history.matching_suffix_lost,
        ));
        sometimes.push(Property::sometimes(COMPACTED, |_, s: &State| {
            s.servers.iter().any(|sv| sv.snapshot > 0)
        }));
        sometimes.push(Property::sometimes(INSTALLED_SNAPSHOT, |_, s: &State| {
            s.history.installed_snapshot
        }));
        // A follower holds more than a snapshot it is sent only after it forgot its commit
        // index in a restart (every AppendEntries sent after a compaction carries a commit
        // index at least the snapshot's), and the snapshot stays in flight meanwhile.
        if restarts && bounds.max_messages >= 3 {
            sometimes.push(Property::sometimes(
                SNAPSHOT_MEETS_SUFFIX,
                |_, s: &State| s.history.snapshot_met_suffix,
            ));
        }
        if restarts {
            sometimes.push(Property::sometimes(RESTARTED_FROM_SNAPSHOT, |_, s| {
                restarted_from_snapshot(s)
            }));
        }
    }
    if params.membership {
        always.push(Property::always(QUORUMS_INTERSECT, |_, s| {
            quorums_intersect(s)
        }));
        always.push(Property::always(QUORUMS_OF_VOTERS, |_, s: &State| {
            !s.history.quorum_without_voters
        }));
        always.push(Property::always(ONE_CHANGE_AT_A_TIME, |_, s| {
            one_change_at_a_time(s)
        }));
        always.push(Property::always(
            REMOVED_LEADER_STEPS_DOWN,
            |m: &RaftModel, s: &State| {
                s.leaders().all(|(id, l)| {
                    let (index, cfg) = m.config(l);
                    index > l.commit_index || cfg.is_voter(id)
                })
            },
        ));
        sometimes.push(Property::sometimes(JOINT_COMMITTED, |_, s: &State| {
            s.history
                .committed
                .iter()
                .any(|c| matches!(c.entry.payload, Payload::Config(m) if m.is_joint()))
        }));
        sometimes.push(Property::sometimes(PROMOTED_VOTES, |_, s: &State| {
            s.history.promoted_voted
        }));
        sometimes.push(Property::sometimes(
            REMOVED_LEADER_STEPPED_DOWN,
            |_, s: &State| s.history.removed_leader_stepped_down,
        ));
        sometimes.push(Property::sometimes(JOINT_ELECTION, |_, s: &State| {
            s.history.joint_election
        }));
        sometimes.push(Property::sometimes(QUORUMS_COMPARED, |_, s| {
            quorums_compared(s)
        }));
    }
    always.extend(sometimes);
    always
}

/// Whether quorums of `a` and `b` must meet: the same configuration (its voters, either half),
/// or a joint configuration and one of its halves as a simple one (thesis 4.3: C(old,new)
/// overlaps both C(old) and C(new), which never decide on their own at the same time).
fn adjacent(a: &Membership, b: &Membership) -> bool {
    let simple_half = |j: &Membership, h: &Membership| {
        j.is_joint() && !h.is_joint() && (h.voters == j.voters || h.voters == j.outgoing)
    };
    (a.voters, a.outgoing) == (b.voters, b.outgoing) || simple_half(a, b) || simple_half(b, a)
}

/// Every election quorum meets every commit quorum of the same or an earlier term whose
/// configuration is adjacent to its own.
pub fn quorums_intersect(s: &State) -> bool {
    let q = &s.history.quorums;
    q.iter().filter(|e| !e.commit).all(|e| {
        q.iter()
            .filter(|c| c.commit && c.term <= e.term && adjacent(&e.config, &c.config))
            .all(|c| !e.servers.intersection(c.servers).is_empty())
    })
}

/// The situation `quorums_intersect` is about beyond a single configuration: an election and a
/// commit at most as late, one under a joint configuration and the other under one of its
/// halves.
fn quorums_compared(s: &State) -> bool {
    let q = &s.history.quorums;
    q.iter().filter(|e| !e.commit).any(|e| {
        q.iter().any(|c| {
            c.commit
                && c.term <= e.term
                && adjacent(&e.config, &c.config)
                && (e.config.voters, e.config.outgoing) != (c.config.voters, c.config.outgoing)
        })
    })
}

/// Every leader's log holds at most one configuration entry above the committed prefix (the
/// highest index any server committed: a leader's own commit index may lag it after a restart).
pub fn one_change_at_a_time(s: &State) -> bool {
    let committed = s.history.committed.last().map_or(0, |c| c.index) as usize;
    s.leaders().all(|(_, l)| {
        l.log[committed.min(l.log.len())..]
            .iter()
            .filter(|e| matches!(e.payload, Payload::Config(_)))
            .count()
            <= 1
    })
}

/// Every entry of every snapshot is one some server committed at that index (thesis 5.1: a
/// snapshot holds only what was applied). With Leader Completeness, every leader of a later
/// term holds the snapshot's whole prefix.
pub fn snapshot_committed(s: &State) -> bool {
    s.servers.iter().all(|sv| {
        sv.log[..sv.snapshot as usize]
            .iter()
            .enumerate()
            .all(|(k, e)| {
                let index = k as crate::message::Index + 1;
                let at = s.history.committed.partition_point(|c| c.index < index);
                s.history.committed[at..]
                    .iter()
                    .take_while(|c| c.index == index)
                    .any(|c| c.entry == *e)
            })
    })
}

/// A restarted follower with a snapshot, nothing committed beyond it yet: it came back from
/// the snapshot.
fn restarted_from_snapshot(s: &State) -> bool {
    s.servers.iter().enumerate().any(|(i, sv)| {
        s.history.restarted.contains(i as crate::message::ServerId)
            && sv.snapshot > 0
            && sv.role == Role::Follower
            && sv.commit_index == sv.snapshot
    })
}

/// "At most one leader can be elected in a given term" (section 5.2). `elected` holds every
/// (term, leader) ever, sorted, so two leaders of one term sit side by side.
pub fn election_safety(s: &State) -> bool {
    s.history.elected.windows(2).all(|w| w[0].0 != w[1].0)
}

/// "A leader never overwrites or deletes entries in its log; it only appends new entries"
/// (section 5.3). Checked on every step by the history flag set in `actions`.
pub fn leader_append_only(s: &State) -> bool {
    !s.history.leader_log_rewritten
}

/// "If two logs contain an entry with the same index and term, then the logs are identical in
/// all entries up through the given index" (section 5.3). It suffices to look at the highest
/// index where the two logs agree on the term: the prefixes up to it must be equal.
pub fn log_matching(s: &State) -> bool {
    for (i, a) in s.servers.iter().enumerate() {
        for b in &s.servers[i + 1..] {
            let common = a.log.len().min(b.log.len());
            if let Some(k) = (0..common).rev().find(|&k| a.log[k].term == b.log[k].term) {
                if a.log[..=k] != b.log[..=k] {
                    return false;
                }
            }
        }
    }
    true
}

/// "If a log entry is committed in a given term, then that entry will be present in the logs of
/// the leaders for all higher-numbered terms" (section 5.4). Leaders only append, so checking
/// every current leader in every state covers each leader for its whole term.
pub fn leader_completeness(s: &State) -> bool {
    s.leaders().all(|(_, leader)| {
        s.history
            .committed
            .iter()
            .filter(|c| c.term < leader.current_term)
            .all(|c| leader.entry_at(c.index) == Some(&c.entry))
    })
}

/// "If a server has applied a log entry at a given index to its state machine, no other server
/// will ever apply a different log entry for the same index" (section 5.4.3). `committed` holds
/// every entry any server ever applied, sorted by index.
pub fn state_machine_safety(s: &State) -> bool {
    s.history
        .committed
        .windows(2)
        .all(|w| w[0].index != w[1].index || w[0].entry == w[1].entry)
}

/// Figure 2 and section 5.3: a server only marks committed entries it holds.
pub fn commit_within_log(s: &State) -> bool {
    s.servers
        .iter()
        .all(|sv| sv.commit_index <= sv.last_index())
}

/// A leader is in office in a term later than one in which an entry was committed: the
/// situation Leader Completeness is about.
pub fn later_leader_after_commit(s: &State) -> bool {
    s.leaders().any(|(_, leader)| {
        s.history
            .committed
            .iter()
            .any(|c| c.term < leader.current_term)
    })
}

/// Figure 2: matchIndex is the "index of highest log entry known to be replicated on server".
/// While the follower is still in the leader's term, its stored log (durable, with
/// asynchronous persistence) holds the leader's log up to it.
pub fn match_within_follower(s: &State) -> bool {
    s.leaders().all(|(l, leader)| {
        leader.match_index.iter().enumerate().all(|(p, &k)| {
            let f = &s.servers[p];
            if p == l as usize || f.current_term != leader.current_term || k == 0 {
                return true;
            }
            let (_, _, stored) = f.durable();
            let k = k as usize;
            stored.len() >= k && leader.log.len() >= k && stored[..k] == leader.log[..k]
        })
    })
}

/// A refused pre-vote reply is in flight to a pre-candidate whose proposed term nobody holds.
fn pre_vote_refused(s: &State) -> bool {
    s.network.messages().iter().any(|m| {
        matches!(
            m.body,
            Body::RequestVoteResponse {
                granted: false,
                pre_vote: true
            }
        ) && {
            let c = &s.servers[m.dst as usize];
            c.role == Role::PreCandidate
                && s.servers.iter().all(|sv| sv.current_term <= c.current_term)
        }
    })
}

/// A higher-term vote request (not a transfer's) is in flight to a server in its lease.
fn lease_meets_vote(s: &State) -> bool {
    s.network.messages().iter().any(|m| {
        let d = &s.servers[m.dst as usize];
        matches!(
            m.body,
            Body::RequestVote {
                transfer: false,
                ..
            }
        ) && m.term > d.current_term
            && (d.is_leader() || (d.role == Role::Follower && d.lease))
    })
}

/// A server that was elected in its current term is no longer leader: check-quorum deposed it.
fn deposed_in_own_term(s: &State) -> bool {
    s.servers.iter().enumerate().any(|(i, sv)| {
        !sv.is_leader()
            && s.history
                .elected
                .contains(&(sv.current_term, i as crate::message::ServerId))
    })
}

/// Every in-flight index a leader records for a follower lies above its matchIndex and below
/// its nextIndex, in increasing order.
pub fn flow_window(s: &State) -> bool {
    s.leaders().all(|(_, leader)| {
        leader.flow.iter().enumerate().all(|(p, f)| {
            f.inflight.windows(2).all(|w| w[0] < w[1])
                && f.inflight
                    .iter()
                    .all(|&k| leader.match_index[p] < k && k < leader.next_index[p])
        })
    })
}

/// Two AppendEntries carrying entries from one leader to one follower are in flight at once.
fn pipelined(s: &State) -> bool {
    let carrying: Vec<_> = s
        .network
        .messages()
        .iter()
        .filter(|m| matches!(&m.body, Body::AppendEntries { entries, .. } if !entries.is_empty()))
        .collect();
    carrying.iter().enumerate().any(|(k, a)| {
        carrying[k + 1..]
            .iter()
            .any(|b| (a.src, a.dst, a.term) == (b.src, b.dst, b.term) && a.body != b.body)
    })
}

/// A leader with a write in progress has an AppendEntries in flight carrying an entry beyond
/// what it has stored.
fn early_append(s: &State) -> bool {
    s.leaders().any(|(l, leader)| {
        let Some(p) = &leader.pending else {
            return false;
        };
        s.network.messages().iter().any(|m| {
            m.src == l
                && matches!(&m.body, Body::AppendEntries { prev_log_index, entries, .. }
                    if *prev_log_index as usize + entries.len() > p.log.len())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Entry, Payload};

    /// No bug flag is known to break Log Matching, so this shows directly that the check fires
    /// on two logs that agree on a later term but not on an earlier entry.
    #[test]
    fn the_log_matching_check_fires_on_logs_that_differ_below_a_shared_term() {
        let e = |term, payload| Entry { term, payload };
        let mut s = State::initial(3);
        s.servers[0].log = vec![e(1, Payload::Value(0)), e(2, Payload::Noop)];
        s.servers[1].log = vec![e(1, Payload::Value(0)), e(2, Payload::Noop)];
        assert!(log_matching(&s));
        s.servers[1].log = vec![e(1, Payload::Noop), e(2, Payload::Noop)];
        assert!(!log_matching(&s));
        // Differing only after the last shared term is allowed (an uncommitted suffix).
        s.servers[1].log = vec![e(1, Payload::Value(0)), e(3, Payload::Noop)];
        assert!(log_matching(&s));
    }
}
