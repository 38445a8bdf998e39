//! Quorums: majorities over one set of voters (paper 5.2: a quorum is `n / 2 + 1` servers), and
//! over both halves of a joint configuration (thesis 4.3).

use std::collections::BTreeSet;

use crate::types::{Membership, NodeId};

/// The size of a majority of `n` voters.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Whether the voters for which `yes` holds are a majority. An empty voter set has no majority,
/// so nothing can be decided in it.
pub fn is_majority(voters: &BTreeSet<NodeId>, yes: &impl Fn(NodeId) -> bool) -> bool {
    !voters.is_empty() && voters.iter().filter(|&&v| yes(v)).count() >= majority(voters.len())
}

/// The largest index that a majority of `voters` has matched: the `majority`-th largest match
/// index. Zero for an empty voter set.
pub fn majority_index(voters: &BTreeSet<NodeId>, matched: &impl Fn(NodeId) -> u64) -> u64 {
    if voters.is_empty() {
        return 0;
    }
    let mut indexes: Vec<u64> = voters.iter().map(|&v| matched(v)).collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    indexes[majority(voters.len()) - 1]
}

impl Membership {
    /// Whether the servers for which `yes` holds form a quorum: a majority of `voters` and, while
    /// joint, also a majority of `outgoing` (thesis 4.3).
    pub fn has_quorum(&self, yes: impl Fn(NodeId) -> bool) -> bool {
        is_majority(&self.voters, &yes)
            && (self.outgoing.is_empty() || is_majority(&self.outgoing, &yes))
    }

    /// The highest index that a quorum has matched, given each voter's match index.
    pub fn committed_index(&self, matched: impl Fn(NodeId) -> u64) -> u64 {
        let incoming = majority_index(&self.voters, &matched);
        if self.outgoing.is_empty() {
            incoming
        } else {
            incoming.min(majority_index(&self.outgoing, &matched))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_n_over_2_plus_1() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(5), 3);
        let four: BTreeSet<NodeId> = (0..4).collect();
        assert!(!is_majority(&four, &|v| v < 2), "2 of 4 is not a majority");
        assert!(is_majority(&four, &|v| v < 3));
    }

    #[test]
    fn majority_index_is_the_quorum_th_largest() {
        let five: BTreeSet<NodeId> = (0..5).collect();
        let m = [9, 1, 7, 3, 5];
        assert_eq!(majority_index(&five, &|v| m[v as usize]), 5);
        assert_eq!(majority_index(&BTreeSet::new(), &|_| 3), 0);
    }
}
