//! The error type of the log.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong with the log. Nothing in this module panics on bad input or
/// on what it reads from disk; it returns one of these.
#[derive(Debug)]
pub enum WalError {
    /// An operating-system call failed.
    Io {
        /// What was being done, e.g. "sync".
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The bytes on disk are not a log this module could have written: a checksum mismatch
    /// or a malformed record before the tail, an index gap, a missing segment. Opening
    /// stops here rather than skip data that may have been acknowledged.
    Corrupt {
        file: PathBuf,
        /// Byte offset in `file` of the batch (or segment header) that is bad.
        offset: u64,
        reason: String,
    },
    /// The caller asked for something the log cannot record, e.g. a non-contiguous entry.
    /// Nothing was written.
    InvalidBatch(String),
    /// A write or sync failed earlier. What reached the disk is then unknown, so the handle
    /// refuses further work; open the log again to recover from what is durable.
    Poisoned,
}

impl WalError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        WalError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            WalError::Corrupt {
                file,
                offset,
                reason,
            } => write!(
                f,
                "corrupt log segment {} at byte offset {offset}: {reason}",
                file.display()
            ),
            WalError::InvalidBatch(why) => write!(f, "invalid log batch: {why}"),
            WalError::Poisoned => write!(
                f,
                "an earlier write or sync of the log failed; reopen the log to recover"
            ),
        }
    }
}

impl std::error::Error for WalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
