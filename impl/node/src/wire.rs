//! The one encoding this crate uses for everything it serializes (peer frames, replicated
//! commands, state machine snapshots): bincode with variable-length integers, a size limit, and
//! trailing bytes rejected. The core's types are serialized directly,
//! through its `serde` feature.

use bincode::Options;
use serde::{de::DeserializeOwned, Serialize};

/// Largest serialized object accepted from the network or disk. Bounds what a corrupt length
/// prefix inside the encoding can make the decoder allocate.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

pub fn codec() -> impl Options {
    bincode::DefaultOptions::new().with_limit(MAX_DECODE_BYTES)
}

pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing plain in-memory data cannot fail short of exceeding the limit.
    codec().serialize(value).unwrap_or_default()
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    codec().deserialize(bytes).map_err(|e| e.to_string())
}
