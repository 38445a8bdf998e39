//! Log compaction and InstallSnapshot (Ongaro's thesis, chapter 5: 5.1 and Figure 5.3; Raft
//! paper section 7 and Figure 13).
//!
//! A server compacts its log up to an index it has applied (`Compact`): the snapshot stands for
//! the state machine there, which is the committed prefix. In the model those entries stay in
//! `Server::log` as the snapshot's content and `Server::snapshot` marks how far the log is
//! compacted; the protocol reads nothing of the prefix but the term of its last entry, "the
//! last included index and term" that a server which discarded it still knows (5.1).
//!
//! A leader whose nextIndex for a follower is at or below its own snapshot cannot send the
//! entries it needs and sends InstallSnapshot instead (5.1). The receiver follows Figure 5.3:
//! 1. reply at once if the term is stale;
//! 5. a snapshot no newer than what the receiver already knows to be committed tells it nothing
//!    (its own snapshot, if any, is at or below its commit index), so it keeps what it has;
//! 6. if the log holds an entry with the snapshot's last index and term, the entries up to it
//!    are the snapshot's (Log Matching) and the ones after it are retained; what the snapshot
//!    adds is that they are committed;
//! 7. otherwise the whole log is discarded, and 8. the state machine restarts from the
//!    snapshot.
//!
//! Figure 5.3's reply carries only the term; the model's reply is an AppendEntries
//! acknowledgement of the receiver's commit index (the prefix it now knows it shares with the
//! leader), so the leader's matchIndex and nextIndex move as for AppendEntries.

use crate::bugs::Bug;
use crate::message::{Body, Entry, Index, Message, Term};
use crate::replication::append_reply;
use crate::state::{Server, State};
use crate::RaftModel;

impl RaftModel {
    /// The InstallSnapshot leader `s` (id `src`) sends to `dst`: its snapshot, whose content is
    /// its log's compacted prefix.
    pub(crate) fn snapshot_message(&self, s: &Server, src: u8, dst: u8) -> Message {
        let last_index = s.snapshot;
        Message {
            term: s.current_term,
            src,
            dst,
            body: Body::InstallSnapshot {
                last_index,
                last_term: s.term_at(last_index).unwrap_or(0),
                entries: s.log[..last_index as usize].to_vec(),
            },
        }
    }

    /// InstallSnapshot receiver (thesis Figure 5.3).
    pub(crate) fn handle_install_snapshot(
        &self,
        state: &mut State,
        m: &Message,
        last_index: Index,
        last_term: Term,
        entries: &[Entry],
    ) {
        let s = &mut state.servers[m.dst as usize];
        let reply = |s: &Server, success, index| append_reply(m, s, success, index, None);
        // Step 1: a stale leader learns the receiver's term.
        if m.term < s.current_term {
            let r = reply(s, false, last_index);
            state.network.send(r);
            return;
        }
        // The sender is the leader of this term, as for AppendEntries.
        self.heard_from_leader(s);
        // Step 5. Under the bug the receiver takes any snapshot; one older than its own has a
        // last entry it compacted away, whose term it no longer knows, so step 6 cannot match.
        let stale = last_index <= s.commit_index;
        let older_taken = self.has_bug(Bug::OlderSnapshotAccepted) && last_index < s.snapshot;
        if stale && !older_taken {
            let r = reply(s, true, s.commit_index);
            state.network.send(r);
            return;
        }
        let matches = last_index >= s.snapshot && s.term_at(last_index) == Some(last_term);
        let suffix = s.last_index() > last_index;
        if matches && suffix {
            state.history.snapshot_met_suffix = true;
        }
        if matches && !(suffix && self.has_bug(Bug::SnapshotDiscardsMatchingSuffix)) {
            // Step 6: retain the log; everything up to the snapshot's end is committed.
            s.commit_index = s.commit_index.max(last_index);
        } else {
            // Steps 7-8: discard the log and restart the state machine from the snapshot.
            if matches && suffix {
                state.history.matching_suffix_lost = true;
            }
            let mut log = entries.to_vec();
            if self.has_bug(Bug::SnapshotKeepsConflictingSuffix) && suffix {
                log.extend_from_slice(&s.log[last_index as usize..]);
            }
            s.log = log;
            s.snapshot = last_index;
            s.commit_index = last_index;
            state.history.installed_snapshot = true;
            if state.history.restarted.contains(m.dst) {
                state.history.restarted_rejoined = true;
            }
        }
        let s = &state.servers[m.dst as usize];
        let r = reply(s, true, s.commit_index);
        state.network.send(r);
    }
}
