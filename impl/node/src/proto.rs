//! Code generated from `proto/` (the etcd v3 API subset) by tonic-build.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod raftnode {
    tonic::include_proto!("raftnode");
}
