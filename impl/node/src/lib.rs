//! raft-node: a replicated key-value server around the `raft-core` protocol on `raft-storage`,
//! speaking a subset of the etcd v3 gRPC API. See `specs/runtime.md` for the architecture.

pub mod config;
pub mod frame;
// tonic's service traits return `Result<_, tonic::Status>`; the helpers around them return the
// same type rather than boxing it at every call.
#[allow(clippy::result_large_err)]
pub mod grpc;
pub mod kv;
pub mod node_loop;
pub mod proto;
pub mod server;
pub mod transport;
pub mod wire;
