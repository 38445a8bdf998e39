//! Production Raft (placeholder until the core lands).
