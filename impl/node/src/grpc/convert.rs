//! Conversions between the etcd protobuf messages and the state machine's types.

use tonic::Status;

use crate::kv::{
    Compare, CompareResult, CompareTarget, KeyRange, KeyValue, Op, OpResult, RangeQuery,
    RangeResult, SortOrder, SortTarget, Txn, TxnOp, MAX_TXN_DEPTH,
};
use crate::proto::etcdserverpb::{
    compare, range_request, request_op, response_op, DeleteRangeRequest, DeleteRangeResponse,
    PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader, ResponseOp, TxnRequest,
    TxnResponse,
};
use crate::proto::mvccpb;

pub fn kv_out(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: 0,
    }
}

pub fn range_query(r: &RangeRequest) -> Result<RangeQuery, Status> {
    if r.revision > 0 {
        return Err(Status::unimplemented(
            "reads at a past revision are not supported: only the latest value of each key is kept",
        ));
    }
    if r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0
    {
        return Err(Status::unimplemented(
            "revision filters (min/max mod/create revision) are not supported",
        ));
    }
    let sort_order = match range_request::SortOrder::try_from(r.sort_order) {
        Ok(range_request::SortOrder::None) => SortOrder::None,
        Ok(range_request::SortOrder::Ascend) => SortOrder::Ascend,
        Ok(range_request::SortOrder::Descend) => SortOrder::Descend,
        Err(_) => return Err(Status::invalid_argument("unknown sort order")),
    };
    let sort_target = match range_request::SortTarget::try_from(r.sort_target) {
        Ok(range_request::SortTarget::Key) => SortTarget::Key,
        Ok(range_request::SortTarget::Version) => SortTarget::Version,
        Ok(range_request::SortTarget::Create) => SortTarget::Create,
        Ok(range_request::SortTarget::Mod) => SortTarget::Mod,
        Ok(range_request::SortTarget::Value) => SortTarget::Value,
        Err(_) => return Err(Status::invalid_argument("unknown sort target")),
    };
    // etcd: a sort target without an order sorts ascending.
    let sort_order = match (sort_order, sort_target) {
        (SortOrder::None, t) if t != SortTarget::Key => SortOrder::Ascend,
        (o, _) => o,
    };
    Ok(RangeQuery {
        range: key_range(&r.key, &r.range_end)?,
        limit: r.limit,
        keys_only: r.keys_only,
        count_only: r.count_only,
        sort_order,
        sort_target,
    })
}

pub fn key_range(key: &[u8], range_end: &[u8]) -> Result<KeyRange, Status> {
    if key.is_empty() {
        return Err(Status::invalid_argument("etcdserver: key is not provided"));
    }
    Ok(KeyRange {
        key: key.to_vec(),
        range_end: range_end.to_vec(),
    })
}

pub fn range_response(header: Option<ResponseHeader>, r: RangeResult) -> RangeResponse {
    RangeResponse {
        header,
        kvs: r.kvs.into_iter().map(kv_out).collect(),
        more: r.more,
        count: r.count,
    }
}

pub fn check_put(p: &PutRequest) -> Result<(), Status> {
    if p.key.is_empty() {
        return Err(Status::invalid_argument("etcdserver: key is not provided"));
    }
    if p.lease != 0 || p.ignore_lease {
        return Err(Status::unimplemented("leases are not supported"));
    }
    if p.ignore_value {
        return Err(Status::unimplemented("ignore_value is not supported"));
    }
    Ok(())
}

pub fn txn(t: &TxnRequest) -> Result<Txn, Status> {
    txn_at(t, 1)
}

/// `t`, nested `depth` deep (the outermost transaction is at 1).
fn txn_at(t: &TxnRequest, depth: usize) -> Result<Txn, Status> {
    if depth > MAX_TXN_DEPTH {
        return Err(Status::invalid_argument(format!(
            "transactions nested deeper than {MAX_TXN_DEPTH} are not supported"
        )));
    }
    let compare = t
        .compare
        .iter()
        .map(|c| {
            let result = match compare::CompareResult::try_from(c.result) {
                Ok(compare::CompareResult::Equal) => CompareResult::Equal,
                Ok(compare::CompareResult::Greater) => CompareResult::Greater,
                Ok(compare::CompareResult::Less) => CompareResult::Less,
                Ok(compare::CompareResult::NotEqual) => CompareResult::NotEqual,
                Err(_) => return Err(Status::invalid_argument("unknown compare result")),
            };
            let target = match &c.target_union {
                Some(compare::TargetUnion::Version(v)) => CompareTarget::Version(*v),
                Some(compare::TargetUnion::CreateRevision(v)) => CompareTarget::Create(*v),
                Some(compare::TargetUnion::ModRevision(v)) => CompareTarget::Mod(*v),
                Some(compare::TargetUnion::Value(v)) => CompareTarget::Value(v.clone()),
                Some(compare::TargetUnion::Lease(_)) => {
                    return Err(Status::unimplemented("leases are not supported"))
                }
                // proto3 drops a zero value from the oneof: take the target's default.
                None => match compare::CompareTarget::try_from(c.target) {
                    Ok(compare::CompareTarget::Version) => CompareTarget::Version(0),
                    Ok(compare::CompareTarget::Create) => CompareTarget::Create(0),
                    Ok(compare::CompareTarget::Mod) => CompareTarget::Mod(0),
                    Ok(compare::CompareTarget::Value) => CompareTarget::Value(Vec::new()),
                    _ => return Err(Status::invalid_argument("unsupported compare target")),
                },
            };
            Ok(Compare {
                range: key_range(&c.key, &c.range_end)?,
                result,
                target,
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    let ops = |list: &[crate::proto::etcdserverpb::RequestOp]| -> Result<Vec<TxnOp>, Status> {
        list.iter()
            .map(|op| match &op.request {
                Some(request_op::Request::RequestRange(r)) => Ok(TxnOp::Range(range_query(r)?)),
                Some(request_op::Request::RequestPut(p)) => {
                    check_put(p)?;
                    Ok(TxnOp::Put {
                        key: p.key.clone(),
                        value: p.value.clone(),
                        prev_kv: p.prev_kv,
                    })
                }
                Some(request_op::Request::RequestDeleteRange(d)) => Ok(TxnOp::Delete {
                    range: key_range(&d.key, &d.range_end)?,
                    prev_kv: d.prev_kv,
                }),
                Some(request_op::Request::RequestTxn(t)) => Ok(TxnOp::Txn(txn_at(t, depth + 1)?)),
                None => Err(Status::invalid_argument("empty request op")),
            })
            .collect()
    };
    Ok(Txn {
        compare,
        success: ops(&t.success)?,
        failure: ops(&t.failure)?,
    })
}

/// Turns a transaction's result into etcd's response shape; every nested response carries the
/// same header, as etcd's do.
pub fn txn_response(header: Option<ResponseHeader>, r: OpResult) -> TxnResponse {
    let OpResult::Txn {
        succeeded,
        responses,
    } = r
    else {
        return TxnResponse {
            header,
            ..TxnResponse::default()
        };
    };
    let responses = responses
        .into_iter()
        .map(|r| {
            let response = match r {
                OpResult::Range(rr) => {
                    response_op::Response::ResponseRange(range_response(header, rr))
                }
                OpResult::Put { prev } => response_op::Response::ResponsePut(PutResponse {
                    header,
                    prev_kv: prev.map(kv_out),
                }),
                OpResult::Delete { deleted, prev_kvs } => {
                    response_op::Response::ResponseDeleteRange(DeleteRangeResponse {
                        header,
                        deleted,
                        prev_kvs: prev_kvs.into_iter().map(kv_out).collect(),
                    })
                }
                inner @ OpResult::Txn { .. } => {
                    response_op::Response::ResponseTxn(txn_response(header, inner))
                }
                OpResult::Member => return ResponseOp { response: None },
            };
            ResponseOp {
                response: Some(response),
            }
        })
        .collect();
    TxnResponse {
        header,
        succeeded,
        responses,
    }
}

/// The command a Put replicates.
pub fn put_op(p: &PutRequest) -> Result<Op, Status> {
    check_put(p)?;
    Ok(Op::Kv(TxnOp::Put {
        key: p.key.clone(),
        value: p.value.clone(),
        prev_kv: p.prev_kv,
    }))
}

/// The command a DeleteRange replicates.
pub fn delete_op(d: &DeleteRangeRequest) -> Result<Op, Status> {
    Ok(Op::Kv(TxnOp::Delete {
        range: key_range(&d.key, &d.range_end)?,
        prev_kv: d.prev_kv,
    }))
}

/// The command a Txn replicates.
pub fn txn_op(t: &TxnRequest) -> Result<Op, Status> {
    Ok(Op::Kv(TxnOp::Txn(txn(t)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::RequestOp;

    fn nested(depth: usize) -> TxnRequest {
        let mut t = TxnRequest::default();
        for _ in 1..depth {
            t = TxnRequest {
                success: vec![RequestOp {
                    request: Some(request_op::Request::RequestTxn(t)),
                }],
                ..TxnRequest::default()
            };
        }
        t
    }

    #[test]
    fn transactions_nested_deeper_than_the_state_machine_decodes_are_refused() {
        assert!(txn_op(&nested(MAX_TXN_DEPTH)).is_ok());
        let e = txn_op(&nested(MAX_TXN_DEPTH + 1)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("nested deeper"), "{}", e.message());
    }
}
