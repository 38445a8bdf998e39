//! The Maintenance service: Status only (what `etcdctl endpoint status` asks).

use raft_core::Role;
use tonic::{Request, Response, Status};

use super::Api;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::etcdserverpb::{StatusRequest, StatusResponse};

#[tonic::async_trait]
impl Maintenance for Api {
    async fn status(
        &self,
        _req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let s = self.status();
        let mut errors = Vec::new();
        if s.leader.is_none() && s.role != Role::Leader {
            errors.push("etcdserver: no leader".to_string());
        }
        Ok(Response::new(StatusResponse {
            header: self.header(s.revision),
            version: env!("CARGO_PKG_VERSION").to_string(),
            db_size: s.db_size,
            leader: s.leader.unwrap_or(0),
            raft_index: s.commit,
            raft_term: s.term,
            raft_applied_index: s.applied,
            errors,
            db_size_in_use: s.db_size,
            is_learner: s.membership.learners.contains(&s.id),
        }))
    }
}
