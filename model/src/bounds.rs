//! The bounds that keep the state space finite.
//!
//! Bounds are checked on states (`within_boundary`), never as a depth limit: a state outside
//! the bounds is not explored, every state inside is.

use crate::state::State;
use serde::{Deserialize, Serialize};

/// The largest `max_term` and `max_log`.
pub const MAX_TERM_OR_LOG: u8 = 250;

/// Limits on the explored state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bounds {
    /// Number of servers (1 to 8).
    pub servers: u8,
    /// No server's current_term exceeds this.
    pub max_term: u8,
    /// No log holds more entries than this.
    pub max_log: u8,
    /// Client values are `0..values`.
    pub values: u8,
    /// At most this many message copies are in flight at once.
    pub max_messages: u8,
    pub max_restarts: u8,
    pub max_drops: u8,
    pub max_duplicates: u8,
    /// With membership changes: at most this many `ProposeMembership`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_config_changes: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl Default for Bounds {
    /// Finishes exhaustively in well under a minute in release mode on 2 cores and still
    /// includes a restart, a drop and a duplicate.
    fn default() -> Self {
        Bounds {
            servers: 3,
            max_term: 3,
            max_log: 3,
            values: 1,
            max_messages: 2,
            max_restarts: 1,
            max_drops: 1,
            max_duplicates: 1,
            max_config_changes: 0,
        }
    }
}

impl Bounds {
    /// Whether `state` lies inside the bounds.
    pub fn contain(&self, state: &State) -> bool {
        state.network.len() <= self.max_messages as usize
            && state.faults.restarts <= self.max_restarts
            && state.faults.drops <= self.max_drops
            && state.faults.duplicates <= self.max_duplicates
            && state.faults.config_changes <= self.max_config_changes
            && state
                .servers
                .iter()
                .all(|s| s.current_term <= self.max_term && s.log.len() <= self.max_log as usize)
    }

    /// A clear message when the bounds make no sense (the CLI exits 2 with it).
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.servers) {
            return Err(format!(
                "--servers must be between 1 and 8 (got {})",
                self.servers
            ));
        }
        // Terms and indexes are bytes, and a step goes up to two past a bound before the bound
        // stops the run (a timeout past max_term; a leader's no-op past max_log, then its
        // next index): with a bound near 255 they would wrap around.
        if self.max_term > MAX_TERM_OR_LOG || self.max_log > MAX_TERM_OR_LOG {
            return Err(format!(
                "--max-term and --max-log must be at most {MAX_TERM_OR_LOG} (got {} and {})",
                self.max_term, self.max_log
            ));
        }
        Ok(())
    }
}
