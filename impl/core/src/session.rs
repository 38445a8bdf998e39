//! Client sessions for exactly-once commands (thesis 6.3).
//!
//! A client tags each command with its id and a sequence number that grows by one per new
//! command, and retries a command with the same number. The state machine keeps, per client, the
//! highest sequence number applied and its response; a command whose number is not above it is a
//! retry and is answered from the table, not applied again. The table is part of the replicated
//! state: every server applies the same entries in the same order and so makes the same decisions,
//! and it belongs in snapshots.

use std::collections::BTreeMap;

/// A command with its session header, as carried in an entry's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub client_id: u64,
    pub seq: u64,
    pub data: Vec<u8>,
}

impl Command {
    /// Wire form: client id and sequence number (big-endian u64 each), then the data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.data.len());
        out.extend_from_slice(&self.client_id.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// `None` if the bytes are too short to hold the header.
    pub fn decode(bytes: &[u8]) -> Option<Command> {
        if bytes.len() < 16 {
            return None;
        }
        let client_id = u64::from_be_bytes(bytes[0..8].try_into().ok()?);
        let seq = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
        Some(Command {
            client_id,
            seq,
            data: bytes[16..].to_vec(),
        })
    }
}

/// What applying a command through the session table did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// First time: the state machine ran it and this is its response.
    Applied(Vec<u8>),
    /// A retry of the latest command: not run again; the cached response.
    Duplicate(Vec<u8>),
    /// Older than the latest command: the client has already seen its answer.
    Stale,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sessions {
    last: BTreeMap<u64, (u64, Vec<u8>)>,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// Applies `cmd` with `run` unless it is a retry.
    pub fn apply(&mut self, cmd: &Command, run: impl FnOnce(&[u8]) -> Vec<u8>) -> Outcome {
        match self.last.get(&cmd.client_id) {
            Some((seq, response)) if *seq == cmd.seq => Outcome::Duplicate(response.clone()),
            Some((seq, _)) if *seq > cmd.seq => Outcome::Stale,
            _ => {
                let response = run(&cmd.data);
                self.last.insert(cmd.client_id, (cmd.seq, response.clone()));
                Outcome::Applied(response)
            }
        }
    }

    /// Every client's latest sequence number and response: the table is part of the state
    /// machine, so it goes into snapshots (thesis 6.3).
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, &[u8])> + '_ {
        self.last
            .iter()
            .map(|(client, (seq, response))| (*client, *seq, response.as_slice()))
    }
}

/// A table restored from a snapshot's `(client, seq, response)` rows.
impl FromIterator<(u64, u64, Vec<u8>)> for Sessions {
    fn from_iter<I: IntoIterator<Item = (u64, u64, Vec<u8>)>>(rows: I) -> Sessions {
        Sessions {
            last: rows
                .into_iter()
                .map(|(client, seq, response)| (client, (seq, response)))
                .collect(),
        }
    }
}
