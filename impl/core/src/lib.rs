//! The production Raft core: a deterministic, sans-IO state machine.
//!
//! A [`Node`] is one server. It does no I/O, reads no clock and draws no randomness except from
//! the seed in its [`Config`]: time arrives as [`Node::tick`] (or the explicit [`Node::timeout`]
//! and [`Node::heartbeat`]), peer messages as [`Node::step`], client requests as
//! [`Node::propose`], [`Node::read_index`], [`Node::propose_membership`] and
//! [`Node::transfer_leadership`], snapshots as [`Node::compact`]. Everything it wants done comes
//! out of [`Node::ready`] as one [`Ready`] batch, handled in the order documented in [`ready`] and
//! acknowledged with [`Node::advance`].
//!
//! [`Config::basic`] switches every extension off; the core then behaves exactly as
//! `specs/contract.md` describes, event by event and message by message.
//!
//! The crate touches no file, socket, clock or thread, and has no `unsafe`: `tests/layout.rs`
//! fails on an import or a dependency that would. [`types`] holds the vocabulary every module
//! shares and imports nothing else of the crate, and the modules import each other without a
//! cycle (`specs/architecture.md` has the graph). Durable storage is the `raft-storage` package;
//! an in-process cluster for tests and benchmarks is `raft-sim`.

#![forbid(unsafe_code)]

pub mod config;
pub mod election;
pub mod log;
pub mod membership;
pub mod node;
pub mod progress;
pub mod quorum;
pub mod read_index;
mod read_only;
pub mod ready;
pub mod replication;
pub mod rng;
pub mod session;
pub mod snapshot;
pub mod storage;
pub mod types;

pub use bytes::Bytes;
pub use config::Config;
pub use node::{Error, Node, Role};
pub use progress::{Progress, ProgressState};
pub use ready::{may_send_before_persisting, Ready};
pub use session::{Command, Outcome, Sessions};
pub use storage::{MemStorage, Storage};
pub use types::{
    Body, ConflictHint, Entry, HardState, Membership, Message, NodeId, Payload, ReadState, Snapshot,
};
