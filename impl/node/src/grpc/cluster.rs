//! The Cluster service: MemberList, MemberAdd, MemberRemove, MemberPromote.
//!
//! A member's addresses live in the replicated member directory of the state machine, its role
//! in the Raft configuration. Adding writes the directory entry first and then proposes the new
//! configuration (a learner, or a voter through joint consensus); removing does the reverse.

use std::collections::BTreeSet;

use tonic::{Request, Response, Status};

use super::{forwarded, Api};
use crate::kv::{MemberInfo, Op};
use crate::node_loop::{NodeStatus, Request as LoopRequest};
use crate::proto::etcdserverpb::cluster_client::ClusterClient;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
};
use tokio::sync::oneshot;

fn url(addr: &str) -> Vec<String> {
    if addr.is_empty() {
        Vec::new()
    } else {
        vec![format!("http://{addr}")]
    }
}

/// `http://127.0.0.1:2380` (or a bare `127.0.0.1:2380`) to `127.0.0.1:2380`.
fn parse_peer_url(u: &str) -> Result<String, Status> {
    let addr = u.strip_prefix("http://").unwrap_or(u).trim_end_matches('/');
    addr.parse::<std::net::SocketAddr>()
        .map_err(|_| Status::invalid_argument(format!("peer URL '{u}' is not http://IP:PORT")))?;
    Ok(addr.to_string())
}

fn members(s: &NodeStatus) -> Vec<Member> {
    let mut ids: BTreeSet<u64> = s.membership.members();
    ids.extend(s.members.keys().copied());
    ids.into_iter()
        .map(|id| {
            let info = s.members.get(&id);
            Member {
                id,
                name: info.map(|m| m.name.clone()).unwrap_or_default(),
                peer_ur_ls: info.map(|m| url(&m.peer_addr)).unwrap_or_default(),
                client_ur_ls: info.map(|m| url(&m.client_addr)).unwrap_or_default(),
                is_learner: s.membership.learners.contains(&id),
            }
        })
        .collect()
}

impl Api {
    fn is_leader(&self) -> bool {
        self.status().role == raft_core::Role::Leader
    }

    fn cluster_client<T>(
        &self,
        req: &Request<T>,
    ) -> Result<ClusterClient<tonic::transport::Channel>, Status> {
        Ok(ClusterClient::new(self.leader_channel(req, None)?))
    }

    /// Transfers leadership to another voter and waits until this node follows it.
    async fn step_down(&self) -> Result<(), Status> {
        let s = self.status();
        let Some(&to) = s.membership.voters.iter().find(|&&v| v != s.id) else {
            return Err(Status::failed_precondition("cannot remove the last voter"));
        };
        let (reply, rx) = oneshot::channel();
        self.send(LoopRequest::Transfer { to, reply })
            .await
            .map_err(super::to_status)?;
        self.wait(rx).await?;
        let mut status = self.inner.status.clone();
        let moved = status.wait_for(|s| s.leader.is_some_and(|l| l != s.id));
        let moved = tokio::time::timeout(self.inner.timeout, moved)
            .await
            .is_ok_and(|r| r.is_ok());
        if moved {
            Ok(())
        } else {
            Err(Status::unavailable(
                "etcdserver: leadership transfer did not complete",
            ))
        }
    }

    async fn write_member_op(&self, op: Op) -> Result<(), Status> {
        match self.write(op).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(super::to_status(e)),
        }
    }
}

#[tonic::async_trait]
impl Cluster for Api {
    async fn member_list(
        &self,
        _req: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let s = self.status();
        Ok(Response::new(MemberListResponse {
            header: self.header(s.revision),
            members: members(&s),
        }))
    }

    async fn member_add(
        &self,
        req: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        if !self.is_leader() {
            return self.cluster_client(&req)?.member_add(forwarded(&req)).await;
        }
        let r = req.get_ref();
        let [peer] = r.peer_ur_ls.as_slice() else {
            return Err(Status::invalid_argument("give exactly one peer URL"));
        };
        let peer_addr = parse_peer_url(peer)?;
        let s = self.status();
        if s.members.values().any(|m| m.peer_addr == peer_addr) {
            return Err(Status::failed_precondition(
                "etcdserver: Peer URLs already exists",
            ));
        }
        // Ids are never reused (removed ones are remembered), so a removed server that is still
        // running cannot pass for a new member.
        let id = s
            .membership
            .members()
            .into_iter()
            .chain([s.highest_member_id])
            .max()
            .unwrap_or(0)
            + 1;
        let info = MemberInfo {
            id,
            name: String::new(),
            peer_addr,
            client_addr: String::new(),
        };
        self.write_member_op(Op::SetMember(info)).await?;
        let learner = r.is_learner;
        self.reconfigure(|m| {
            let mut next = m.clone();
            if learner {
                next.learners.insert(id);
            } else {
                next.voters.insert(id);
            }
            Ok(next)
        })
        .await?;
        let s = self.status();
        let all = members(&s);
        let member = all.iter().find(|m| m.id == id).cloned();
        Ok(Response::new(MemberAddResponse {
            header: self.header(s.revision),
            member,
            members: all,
        }))
    }

    async fn member_remove(
        &self,
        req: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        if !self.is_leader() {
            return self
                .cluster_client(&req)?
                .member_remove(forwarded(&req))
                .await;
        }
        let id = req.get_ref().id;
        let s = self.status();
        if !s.membership.contains(id) && !s.members.contains_key(&id) {
            return Err(Status::not_found("etcdserver: member not found"));
        }
        if id == s.id {
            // A leader removing itself hands leadership over first (thesis 3.10), and the new
            // leader removes it like any other member: a leader outside its own configuration
            // could not see the later directory change commit.
            self.step_down().await?;
            return self
                .cluster_client(&req)?
                .member_remove(forwarded(&req))
                .await;
        }
        if s.membership.contains(id) {
            self.reconfigure(|m| {
                let mut next = m.clone();
                next.voters.remove(&id);
                next.learners.remove(&id);
                if next.voters.is_empty() {
                    return Err(Status::failed_precondition("cannot remove the last voter"));
                }
                Ok(next)
            })
            .await?;
        }
        // The leader that removed itself is no longer leader; the directory entry then goes
        // through the new one.
        if let Err(s) = self.write_member_op(Op::RemoveMember(id)).await {
            tracing::info!(member = id, error = %s, "member removed from the configuration; its directory entry stays until the next removal");
        }
        let s = self.status();
        Ok(Response::new(MemberRemoveResponse {
            header: self.header(s.revision),
            members: members(&s),
        }))
    }

    async fn member_promote(
        &self,
        req: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        if !self.is_leader() {
            return self
                .cluster_client(&req)?
                .member_promote(forwarded(&req))
                .await;
        }
        let id = req.get_ref().id;
        let s = self.status();
        if !s.membership.learners.contains(&id) {
            return Err(Status::failed_precondition(
                "etcdserver: can only promote a learner member",
            ));
        }
        // Thesis 4.2.1: promote only a learner that has caught up, or the cluster could stall
        // waiting for it.
        let caught_up = s
            .learner_match
            .get(&id)
            .is_some_and(|&m| m + 16 >= s.commit);
        if !caught_up {
            return Err(Status::failed_precondition(
                "etcdserver: can only promote a learner member which is in sync with leader",
            ));
        }
        self.reconfigure(|m| {
            let mut next = m.clone();
            next.learners.remove(&id);
            next.voters.insert(id);
            Ok(next)
        })
        .await?;
        let s = self.status();
        Ok(Response::new(MemberPromoteResponse {
            header: self.header(s.revision),
            members: members(&s),
        }))
    }
}
