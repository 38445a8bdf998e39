//! How a path looks: action labels and the sequence diagram the Explorer shows for a path
//! (servers as lifelines, messages as arrows from send to delivery, timeouts, restarts,
//! client requests and elections as marks). The RPCs drawn are those of Figure 2 (Raft paper,
//! section 5).

use crate::actions::Action;
use crate::message::{Body, Entry, Message, Payload};
use crate::state::{Role, State};
use crate::RaftModel;
use stateright::{Expectation, Model};
use std::fmt::Write;

/// A short, readable label for an action.
pub fn format_action(action: &Action) -> String {
    match action {
        Action::Timeout(i) => format!("Timeout(S{i})"),
        Action::Heartbeat(i) => format!("Heartbeat(S{i})"),
        Action::ClientRequest(i, v) => format!("ClientRequest(S{i}, v{v})"),
        Action::Deliver(m) => format!("Deliver({})", format_message(m)),
        Action::Drop(m) => format!("Drop({})", format_message(m)),
        Action::Duplicate(m) => format!("Duplicate({})", format_message(m)),
        Action::Restart(i) => format!("Restart(S{i})"),
        Action::CheckQuorum(i) => format!("CheckQuorum(S{i})"),
        Action::LeaseExpires(i) => format!("LeaseExpires(S{i})"),
        Action::TransferLeadership(i, t) => format!("TransferLeadership(S{i}, S{t})"),
        Action::AbortTransfer(i) => format!("AbortTransfer(S{i})"),
        Action::Persist(i) => format!("Persist(S{i})"),
        Action::Compact(i, k) => format!("Compact(S{i}, {k})"),
        Action::ProposeMembership(i, change) => format!("ProposeMembership(S{i}, {change:?})"),
    }
}

/// A message as `Kind tTERM Sa->Sb fields`.
pub fn format_message(m: &Message) -> String {
    let head = |kind: &str| format!("{kind} t{} S{}->S{}", m.term, m.src, m.dst);
    match &m.body {
        Body::RequestVote {
            last_log_index,
            last_log_term,
            pre_vote,
            transfer,
        } => format!(
            "{} last={last_log_index}@t{last_log_term}{}",
            head(if *pre_vote { "PreVote" } else { "RequestVote" }),
            if *transfer { " transfer" } else { "" }
        ),
        Body::RequestVoteResponse { granted, pre_vote } => {
            let verdict = if *granted { "granted" } else { "denied" };
            let kind = if *pre_vote {
                "PreVoteReply"
            } else {
                "VoteReply"
            };
            format!("{} {verdict}", head(kind))
        }
        Body::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => format!(
            "{} prev={prev_log_index}@t{prev_log_term} [{}] commit={leader_commit}",
            head("AppendEntries"),
            entries
                .iter()
                .map(format_entry)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Body::AppendEntriesResponse {
            success,
            index,
            hint,
        } => {
            let verdict = if *success { "ok" } else { "fail" };
            let hint = match hint {
                None => String::new(),
                Some(h) => match h.conflict_term {
                    Some(t) => format!(" hint=t{t}@{}", h.conflict_index),
                    None => format!(" hint=@{}", h.conflict_index),
                },
            };
            format!("{} {verdict} index={index}{hint}", head("AppendReply"))
        }
        Body::TimeoutNow => head("TimeoutNow"),
        Body::InstallSnapshot {
            last_index,
            last_term,
            entries,
        } => format!(
            "{} last={last_index}@t{last_term} [{}]",
            head("InstallSnapshot"),
            entries
                .iter()
                .map(format_entry)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// A configuration as `config{voters|old voters|learners}` (absent parts left out).
pub fn format_membership(m: &crate::message::Membership) -> String {
    let ids = |s: crate::state::ServerSet| {
        s.iter()
            .map(|i| format!("S{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = format!("config{{{}", ids(m.voters));
    if m.is_joint() {
        out.push_str(&format!(" old {}", ids(m.outgoing)));
    }
    if !m.learners.is_empty() {
        out.push_str(&format!(" learners {}", ids(m.learners)));
    }
    out.push('}');
    out
}

pub fn format_entry(e: &Entry) -> String {
    match e.payload {
        Payload::Noop => format!("t{}:noop", e.term),
        Payload::Value(v) => format!("t{}:v{v}", e.term),
        Payload::Config(m) => format!("t{}:{}", e.term, format_membership(&m)),
    }
}

const LANE: f64 = 150.0;
const LEFT: f64 = 50.0;
const TOP: f64 = 60.0;
const ROW: f64 = 26.0;

fn lane_x(id: u8) -> f64 {
    LEFT + LANE * id as f64
}

fn row_y(row: usize) -> f64 {
    TOP + ROW * row as f64
}

/// The sequence diagram of a path: one lifeline per server, one row per step.
pub fn sequence_diagram(model: &RaftModel, path: &[(State, Option<Action>)]) -> String {
    let n = model.bounds.servers;
    let steps = path.len().saturating_sub(1);
    let label_x = lane_x(n.saturating_sub(1)) + 130.0;
    let width = label_x + 520.0;
    let height = row_y(steps + 1) + 10.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="raft-sequence" width="{width}" height="{height}" font-family="monospace" font-size="11">"##
    );
    out.push_str(r##"<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#9cf"/></marker></defs>"##);

    // Which properties the last state violates, in words, above the lifelines.
    if let Some((last, _)) = path.last() {
        let violated: Vec<_> = model
            .properties()
            .into_iter()
            .filter(|p| p.expectation == Expectation::Always && !(p.condition)(model, last))
            .map(|p| p.name)
            .collect();
        let (text, color) = if violated.is_empty() {
            ("every always property holds here".to_string(), "#8c8")
        } else {
            (format!("violated: {}", violated.join("; ")), "#f66")
        };
        let _ = write!(
            out,
            r#"<text class="verdict" x="{LEFT}" y="16" fill="{color}">{}</text>"#,
            escape(&text)
        );
    }
    for id in 0..n {
        let x = lane_x(id);
        let _ = write!(
            out,
            r##"<text x="{x}" y="40" text-anchor="middle" fill="#fff">S{id}</text><line class="lifeline" x1="{x}" y1="46" x2="{x}" y2="{}" stroke="#888" stroke-width="1"/>"##,
            height - 5.0
        );
    }

    // Messages in flight with the row they were sent at, so a delivery draws from there.
    let mut pending: Vec<(Message, usize)> = Vec::new();
    for (row, window) in path.windows(2).enumerate() {
        let (before, action) = (&window[0].0, &window[0].1);
        let after = &window[1].0;
        let Some(action) = action else { continue };
        let y = row_y(row + 1);
        let _ = write!(
            out,
            r##"<text x="{label_x}" y="{}" fill="#ccc">{}. {}</text>"##,
            y + 4.0,
            row + 1,
            escape(&format_action(action))
        );
        let mut removed = None;
        match action {
            Action::Timeout(i) => mark(
                &mut out,
                *i,
                y,
                "#fc6",
                &format!("timeout t{}", after.servers[*i as usize].current_term),
            ),
            Action::Restart(i) => mark(&mut out, *i, y, "#f66", "restart"),
            Action::ClientRequest(i, v) => mark(&mut out, *i, y, "#6cf", &format!("client v{v}")),
            Action::Heartbeat(i) => mark(&mut out, *i, y, "#9cf", "heartbeat"),
            Action::Deliver(m) => {
                let sent = take_pending(&mut pending, m).unwrap_or(row);
                arrow(&mut out, m, row_y(sent), y, false);
                removed = Some(m);
            }
            Action::Drop(m) => {
                let sent = take_pending(&mut pending, m).unwrap_or(row);
                arrow(&mut out, m, row_y(sent), y, true);
                removed = Some(m);
            }
            Action::Duplicate(m) => mark(&mut out, m.src, y, "#c9f", "duplicate"),
            Action::CheckQuorum(i) => mark(&mut out, *i, y, "#9cf", "check quorum"),
            Action::LeaseExpires(i) => mark(&mut out, *i, y, "#ccc", "lease expires"),
            Action::TransferLeadership(i, t) => {
                mark(&mut out, *i, y, "#fc6", &format!("transfer to S{t}"))
            }
            Action::AbortTransfer(i) => mark(&mut out, *i, y, "#fc6", "transfer given up"),
            Action::Persist(i) => mark(&mut out, *i, y, "#ccc", "persisted"),
            Action::Compact(i, k) => mark(&mut out, *i, y, "#ccc", &format!("snapshot at {k}")),
            Action::ProposeMembership(i, change) => {
                mark(&mut out, *i, y, "#fc6", &format!("{change:?}"))
            }
        }
        for m in after.network.added_since(&before.network, removed) {
            pending.push((m, row + 1));
        }
        for (id, (b, a)) in before.servers.iter().zip(&after.servers).enumerate() {
            if a.role == Role::Leader && b.role != Role::Leader {
                mark(
                    &mut out,
                    id as u8,
                    y + 12.0,
                    "#6f6",
                    &format!("leader t{}", a.current_term),
                );
            }
            if a.commit_index > b.commit_index {
                let label = format!("commit {}", a.commit_index);
                mark(&mut out, id as u8, y - 10.0, "#fd6", &label);
            }
        }
    }
    // Messages still in flight at the end: dashed stubs towards their destination.
    for (m, sent) in pending {
        let (x1, x2) = (lane_x(m.src), lane_x(m.dst));
        let _ = write!(
            out,
            r##"<line class="in-flight" x1="{x1}" y1="{}" x2="{}" y2="{}" stroke="#9cf" stroke-dasharray="3,3"/>"##,
            row_y(sent),
            (x1 + x2) / 2.0,
            row_y(sent) + ROW / 2.0
        );
    }
    out.push_str("</svg>");
    out
}

fn mark(out: &mut String, id: u8, y: f64, color: &str, label: &str) {
    let x = lane_x(id);
    let _ = write!(
        out,
        r##"<circle cx="{x}" cy="{y}" r="4" fill="{color}"/><text x="{}" y="{}" fill="{color}">{}</text>"##,
        x + 7.0,
        y + 4.0,
        escape(label)
    );
}

/// A message arrow from its sender at the send row to its receiver at this row; a dropped
/// message stops half way with a cross.
fn arrow(out: &mut String, m: &Message, y_sent: f64, y: f64, dropped: bool) {
    let (x1, x2) = (lane_x(m.src), lane_x(m.dst));
    if dropped {
        // The cross sits a third of the way, clear of a lifeline half way between.
        let (xm, ym) = (x1 + (x2 - x1) / 3.0, y_sent + (y - y_sent) / 3.0);
        let _ = write!(
            out,
            r##"<line class="message dropped" x1="{x1}" y1="{y_sent}" x2="{xm}" y2="{ym}" stroke="#f66" stroke-dasharray="4,3"/><text x="{xm}" y="{}" fill="#f66" text-anchor="middle">x</text>"##,
            ym + 4.0
        );
    } else {
        let _ = write!(
            out,
            r##"<line class="message" x1="{x1}" y1="{y_sent}" x2="{x2}" y2="{y}" stroke="#9cf" marker-end="url(#arrow)"/>"##
        );
    }
}

fn take_pending(pending: &mut Vec<(Message, usize)>, m: &Message) -> Option<usize> {
    let at = pending.iter().position(|(p, _)| p == m)?;
    Some(pending.remove(at).1)
}

/// The messages a step put into the network (the multiset difference after - before, where
/// `removed` is the copy the step took out).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
