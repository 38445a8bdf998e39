//! Log compaction and InstallSnapshot (paper section 7, Figure 13).

use bytes::Bytes;

use crate::node::{Error, Node};
use crate::progress::ProgressState;
use crate::types::{Body, NodeId, Snapshot};

impl Node {
    /// The application took a snapshot of its state machine up to `index` (which it has applied):
    /// the log up to there is replaced by it. The new snapshot is handed to storage in the next
    /// Ready.
    pub fn compact(&mut self, index: u64, data: impl Into<Bytes>) -> Result<(), Error> {
        if index <= self.log.snapshot.index || index > self.log.applied {
            return Err(Error::Invalid("snapshot index not in (snapshot, applied]"));
        }
        let Some(term) = self.log.term(index) else {
            return Err(Error::Invalid("snapshot index not in the log"));
        };
        let membership = match self.log.membership_at(index) {
            Some((_, m)) => m.clone(),
            None => self.cfg.initial.clone(),
        };
        self.log.compact(Snapshot {
            index,
            term,
            membership,
            data: data.into(),
        });
        Ok(())
    }

    /// The follower needs entries this leader has compacted away: send the snapshot and wait for
    /// its reply before appending again.
    pub(crate) fn send_snapshot(&mut self, to: NodeId) -> bool {
        let Some(pr) = self.progress.get_mut(&to) else {
            return false;
        };
        pr.become_probe();
        pr.state = ProgressState::Snapshot;
        let snapshot = self.log.snapshot.clone();
        self.send(to, Body::InstallSnapshot { snapshot });
        true
    }

    /// InstallSnapshot at a follower in the sender's term (Figure 13). The reply is an
    /// AppendEntriesResponse acknowledging the follower's commit index, which is then at least the
    /// snapshot's index.
    pub(crate) fn handle_snapshot(&mut self, from: NodeId, term: u64, snapshot: Snapshot) {
        if snapshot.term > term || (snapshot.index > 0 && snapshot.term == 0) {
            return;
        }
        if snapshot.index > self.log.committed {
            if self.log.matches(snapshot.index, snapshot.term) {
                // Step 6: the log already holds the snapshot's last entry, so everything up to it
                // matches and is committed; the suffix after it is kept (raft-bugs #15).
                self.log.committed = snapshot.index;
            } else {
                // Step 7: discard the whole log and take the snapshot.
                self.log.install(snapshot);
                self.refresh_membership();
            }
        }
        let index = self.log.committed;
        self.send(
            from,
            Body::AppendEntriesResponse {
                success: true,
                index,
                hint: None,
                read_ctx: 0,
            },
        );
    }
}
