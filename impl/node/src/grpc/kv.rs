//! The KV service: Range, Put, DeleteRange, Txn.

use tonic::{Request, Response, Status};

use super::convert;
use super::{forwarded, Api};
use crate::kv::OpResult;
use crate::node_loop::ApiError;
use crate::proto::etcdserverpb::kv_client::KvClient;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    TxnRequest, TxnResponse,
};

#[tonic::async_trait]
impl Kv for Api {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let r = req.get_ref();
        let query = convert::range_query(r)?;
        let this = self.clone();
        let answer = self
            .read(r.serializable, move |kv| {
                let rev = kv.revision();
                convert::range_response(this.header(rev), kv.range(&query))
            })
            .await?;
        match answer {
            Ok(resp) => Ok(Response::new(resp)),
            Err(ApiError::NotLeader { leader }) => {
                let ch = self.leader_channel(&req, leader)?;
                KvClient::new(ch).range(forwarded(&req)).await
            }
            Err(e) => Err(super::to_status(e)),
        }
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let op = convert::put_op(req.get_ref())?;
        match self.write(op).await? {
            Ok(applied) => {
                let prev_kv = match applied.result {
                    OpResult::Put { prev } => prev.map(convert::kv_out),
                    _ => None,
                };
                Ok(Response::new(PutResponse {
                    header: self.header(applied.revision),
                    prev_kv,
                }))
            }
            Err(ApiError::NotLeader { leader }) => {
                let ch = self.leader_channel(&req, leader)?;
                KvClient::new(ch).put(forwarded(&req)).await
            }
            Err(e) => Err(super::to_status(e)),
        }
    }

    async fn delete_range(
        &self,
        req: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let op = convert::delete_op(req.get_ref())?;
        match self.write(op).await? {
            Ok(applied) => {
                let (deleted, prev_kvs) = match applied.result {
                    OpResult::Delete { deleted, prev_kvs } => (deleted, prev_kvs),
                    _ => (0, Vec::new()),
                };
                Ok(Response::new(DeleteRangeResponse {
                    header: self.header(applied.revision),
                    deleted,
                    prev_kvs: prev_kvs.into_iter().map(convert::kv_out).collect(),
                }))
            }
            Err(ApiError::NotLeader { leader }) => {
                let ch = self.leader_channel(&req, leader)?;
                KvClient::new(ch).delete_range(forwarded(&req)).await
            }
            Err(e) => Err(super::to_status(e)),
        }
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        // Every transaction goes through the log, read-only ones included: simple, and
        // linearizable.
        let op = convert::txn_op(req.get_ref())?;
        match self.write(op).await? {
            Ok(applied) => Ok(Response::new(convert::txn_response(
                self.header(applied.revision),
                applied.result,
            ))),
            Err(ApiError::NotLeader { leader }) => {
                let ch = self.leader_channel(&req, leader)?;
                KvClient::new(ch).txn(forwarded(&req)).await
            }
            Err(e) => Err(super::to_status(e)),
        }
    }
}
