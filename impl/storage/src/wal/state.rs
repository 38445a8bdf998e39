//! The rules that every sequence of records must follow.
//!
//! The same rules check a batch before it is written and check the log again while it is
//! replayed on open, so a log that `open` accepts is exactly a log the writer could have
//! produced.

use super::{HardState, Record};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogState {
    /// Index of the last live entry, or the compaction point if there is none after it.
    pub last_index: u64,
    /// Highest `CompactPrefix` seen: entries up to here live in a snapshot.
    pub compacted: u64,
    pub hard_state: Option<HardState>,
    /// Lowest index from which the replayed records describe the log completely. Replay may
    /// start at a segment whose predecessors were deleted by compaction; entries below this
    /// lived in those segments and must all be covered by `compacted`.
    pub known_from: u64,
}

impl LogState {
    /// The state of an empty log.
    pub fn empty() -> Self {
        Self::starting_at(1)
    }

    /// The state at the start of a segment created when the next index was `first_index`,
    /// when nothing before that segment is known.
    pub fn starting_at(first_index: u64) -> Self {
        LogState {
            last_index: first_index.saturating_sub(1),
            compacted: 0,
            hard_state: None,
            known_from: first_index.max(1),
        }
    }

    /// Whether `record` may follow the records already applied.
    pub fn check(&self, record: &Record) -> Result<(), String> {
        // The largest index is reserved so that "last index + 1" never overflows.
        let index = match record {
            Record::Entry(e) => e.index,
            Record::CompactPrefix(i) | Record::TruncateSuffix(i) => *i,
            Record::HardState(_) => 0,
        };
        if index == u64::MAX {
            return Err("index u64::MAX is reserved".to_string());
        }
        match record {
            Record::Entry(e) => {
                if Some(e.index) != self.last_index.checked_add(1) {
                    return Err(format!(
                        "entry index {} does not follow last index {}",
                        e.index, self.last_index
                    ));
                }
            }
            Record::HardState(h) => {
                if let Some(prev) = &self.hard_state {
                    if h.term < prev.term {
                        return Err(format!(
                            "hard state term {} is lower than the recorded term {}",
                            h.term, prev.term
                        ));
                    }
                    // One vote per term: a recorded vote may not be changed or withdrawn.
                    if h.term == prev.term && prev.vote.is_some() && h.vote != prev.vote {
                        return Err(format!(
                            "hard state changes the vote of term {} from {:?} to {:?}",
                            h.term, prev.vote, h.vote
                        ));
                    }
                }
            }
            Record::TruncateSuffix(from) => {
                if *from <= self.compacted {
                    return Err(format!(
                        "truncate from {from} reaches into the compacted prefix (up to {})",
                        self.compacted
                    ));
                }
                if *from > self.last_index.saturating_add(1) {
                    return Err(format!(
                        "truncate from {from} is past the end of the log (last index {})",
                        self.last_index
                    ));
                }
            }
            // Compaction may run ahead of the log (a snapshot received from the leader), and
            // repeating an old point is harmless.
            Record::CompactPrefix(_) => {}
        }
        Ok(())
    }

    /// Applies a record that `check` accepted.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Entry(e) => self.last_index = e.index,
            Record::HardState(h) => self.hard_state = Some(*h),
            Record::TruncateSuffix(from) => {
                self.last_index = self.last_index.min(from - 1);
                self.known_from = self.known_from.min(*from);
            }
            Record::CompactPrefix(up_to) => {
                if *up_to > self.compacted {
                    self.compacted = *up_to;
                    self.last_index = self.last_index.max(*up_to);
                }
            }
        }
    }

    /// Whether every live index (after `compacted`) is described by the replayed records.
    pub fn complete(&self) -> bool {
        self.last_index <= self.compacted || self.known_from <= self.compacted + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::WalEntry;

    fn entry(index: u64) -> Record {
        Record::Entry(WalEntry {
            index,
            term: 1,
            kind: 0,
            data: Vec::new(),
        })
    }

    fn hs(term: u64, vote: Option<u64>) -> Record {
        Record::HardState(HardState {
            term,
            vote,
            commit: 0,
        })
    }

    fn run(records: &[Record]) -> Result<LogState, String> {
        let mut s = LogState::empty();
        for r in records {
            s.check(r)?;
            s.apply(r);
        }
        Ok(s)
    }

    #[test]
    fn entries_must_be_contiguous_from_one() {
        assert!(run(&[entry(1), entry(2), entry(3)]).is_ok());
        assert!(run(&[entry(2)]).is_err());
        assert!(run(&[entry(1), entry(3)]).is_err());
        assert!(run(&[entry(1), entry(1)]).is_err());
    }

    #[test]
    fn truncate_rewinds_and_bounds_are_checked() {
        let s = run(&[
            entry(1),
            entry(2),
            entry(3),
            Record::TruncateSuffix(2),
            entry(2),
        ])
        .expect("valid");
        assert_eq!(s.last_index, 2);
        assert!(run(&[entry(1), Record::TruncateSuffix(3)]).is_err());
        assert!(run(&[entry(1), Record::TruncateSuffix(2)]).is_ok());
        assert!(run(&[
            entry(1),
            Record::CompactPrefix(1),
            Record::TruncateSuffix(1)
        ])
        .is_err());
    }

    #[test]
    fn compaction_can_run_ahead_of_the_log() {
        let s = run(&[entry(1), Record::CompactPrefix(10), entry(11)]).expect("valid");
        assert_eq!((s.compacted, s.last_index), (10, 11));
        let s = run(&[Record::CompactPrefix(10), Record::CompactPrefix(4)]).expect("valid");
        assert_eq!(s.compacted, 10);
    }

    #[test]
    fn hard_state_term_and_vote_rules() {
        assert!(run(&[hs(2, None), hs(2, Some(1)), hs(3, Some(2)), hs(3, Some(2))]).is_ok());
        assert!(run(&[hs(3, None), hs(2, None)]).is_err());
        assert!(run(&[hs(3, Some(1)), hs(3, Some(2))]).is_err());
        assert!(run(&[hs(3, Some(1)), hs(3, None)]).is_err());
    }

    #[test]
    fn completeness_after_a_deleted_prefix() {
        // Replay that starts at a segment created when the next index was 50.
        let mut s = LogState::starting_at(50);
        assert!(
            !s.complete(),
            "entries before 50 are unknown and not compacted"
        );
        s.apply(&Record::CompactPrefix(49));
        assert!(s.complete());
    }
}
