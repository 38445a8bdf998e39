//! raft-node's own Members service: a member publishing its name and client address.

use tonic::{Request, Response, Status};

use super::{forwarded, Api};
use crate::kv::Op;
use crate::node_loop::ApiError;
use crate::proto::raftnode::members_client::MembersClient;
use crate::proto::raftnode::members_server::Members;
use crate::proto::raftnode::{PublishRequest, PublishResponse};

#[tonic::async_trait]
impl Members for Api {
    async fn publish(
        &self,
        req: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let p = req.get_ref();
        p.client_addr
            .parse::<std::net::SocketAddr>()
            .map_err(|_| Status::invalid_argument("client_addr is not IP:PORT"))?;
        let Some(mut info) = self.status().members.get(&p.id).cloned() else {
            return Err(Status::not_found("etcdserver: member not found"));
        };
        info.name = p.name.clone();
        info.client_addr = p.client_addr.clone();
        match self.write(Op::SetMember(info)).await? {
            Ok(_) => Ok(Response::new(PublishResponse {})),
            Err(ApiError::NotLeader { leader }) => {
                let ch = self.leader_channel(&req, leader)?;
                MembersClient::new(ch).publish(forwarded(&req)).await
            }
            Err(e) => Err(super::to_status(e)),
        }
    }
}
