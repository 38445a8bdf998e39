//! Durable storage for the Raft core (`specs/storage.md`).
//!
//! [`wal`] is a segmented write-ahead log and [`snapshot_file`] writes snapshot files
//! crash-safely; both deal in bytes and know nothing of the core's types. [`disk`] keeps the
//! core's log, hard state and snapshots on them: [`DiskStorage::open`] returns what the core
//! restarts from, and [`DiskStorage::persist`] makes the durable part of a `Ready` durable in the
//! order `raft_core::ready` asks.

pub mod disk;
pub mod snapshot_file;
pub mod wal;

pub use disk::{DiskStorage, SnapshotWrite, StorageError};
