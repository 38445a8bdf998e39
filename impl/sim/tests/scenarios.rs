//! Replays the interaction scripts under `impl/sim/testdata/*.txt`.
//!
//! A script is a list of commands, one per line (`#` starts a comment). Commands drive an
//! in-process cluster; `expect` lines check its state and fail the test naming the file and line.
//! See `impl/sim/testdata/README.md` for the command list.

use std::collections::BTreeSet;
use std::path::Path;

use raft_core::{Body, Config, Entry, MemStorage, Message, Node, NodeId, Payload, Role};
use raft_sim::Cluster;

struct Runner {
    cluster: Cluster,
    full: bool,
    noop: bool,
    n: u64,
    last_error: Option<String>,
}

fn parse<T: std::str::FromStr>(word: &str) -> Result<T, String> {
    word.parse().map_err(|_| format!("cannot parse {word:?}"))
}

fn parse_list(word: &str) -> Result<Vec<u64>, String> {
    if word == "empty" || word == "none" {
        return Ok(Vec::new());
    }
    word.split(',').map(parse).collect()
}

fn parse_link(word: &str) -> Result<(NodeId, NodeId), String> {
    let (a, b) = word
        .split_once("->")
        .ok_or_else(|| format!("expected FROM->TO, got {word:?}"))?;
    Ok((parse(a)?, parse(b)?))
}

fn key_value<'a>(word: &'a str, key: &str) -> Option<&'a str> {
    word.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix('='))
}

/// One line per message, the form `expect sent` compares against.
fn fmt_msg(m: &Message) -> String {
    let head = format!("{}->{} t{} {}", m.from, m.to, m.term, m.kind());
    let tail = match &m.body {
        Body::RequestVote {
            last_log_index,
            last_log_term,
            transfer,
            ..
        } => {
            format!(
                " last={last_log_index}/{last_log_term}{}",
                if *transfer { " transfer" } else { "" }
            )
        }
        Body::RequestVoteResponse { granted, .. } => {
            if *granted {
                " granted".into()
            } else {
                " rejected".into()
            }
        }
        Body::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            ..
        } => {
            let es: Vec<String> = entries
                .iter()
                .map(|e| format!("{}/{}", e.index, e.term))
                .collect();
            format!(
                " prev={prev_log_index}/{prev_log_term} entries=[{}] commit={leader_commit}",
                es.join(",")
            )
        }
        Body::AppendEntriesResponse { success, index, .. } => {
            format!(" {}={index}", if *success { "ok" } else { "reject" })
        }
        Body::InstallSnapshot { snapshot } => format!(" {}/{}", snapshot.index, snapshot.term),
        Body::TimeoutNow => String::new(),
    };
    head + &tail
}

impl Runner {
    fn new() -> Runner {
        Runner {
            cluster: Cluster::default(),
            full: false,
            noop: true,
            n: 0,
            last_error: None,
        }
    }

    fn config(&self, id: NodeId, voters: impl IntoIterator<Item = NodeId>) -> Config {
        let voters: Vec<NodeId> = voters.into_iter().collect();
        let mut cfg = if self.full {
            Config::new(id, voters)
        } else {
            let mut c = Config::basic(id, 0);
            c.initial = raft_core::Membership::new(voters);
            c
        };
        cfg.noop_on_election = self.noop;
        cfg
    }

    fn node(&self, id: NodeId) -> Result<&Node, String> {
        self.cluster
            .servers
            .get(&id)
            .map(|s| &s.node)
            .ok_or_else(|| format!("no server {id}"))
    }

    fn input<T>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&mut Node) -> Result<T, raft_core::Error>,
    ) -> Result<(), String> {
        let r = self
            .cluster
            .with(id, f)
            .ok_or_else(|| format!("no server {id}"))?;
        self.last_error = r.err().map(|e| format!("{e:?}"));
        Ok(())
    }

    /// Delivers, until none is left, the in-flight messages that `pick` selects; messages over a
    /// cut link are dropped instead. Only messages present at the start are delivered when `once`.
    fn deliver(&mut self, pick: impl Fn(&Message) -> bool, once: bool) {
        let mut budget = if once {
            self.cluster.network.len()
        } else {
            1_000_000
        };
        while budget > 0 {
            let Some(k) = self.cluster.network.iter().position(&pick) else {
                break;
            };
            budget -= 1;
            let m = &self.cluster.network[k];
            if self
                .cluster
                .cut
                .contains(&(m.from.min(m.to), m.from.max(m.to)))
            {
                self.cluster.network.remove(k);
            } else {
                self.cluster.deliver(k);
            }
        }
    }

    fn run_line(&mut self, line: &str) -> Result<(), String> {
        // `repeat K` applies to the whole rest of the line, `;`-separated commands included.
        if let Some(rest) = line.trim_start().strip_prefix("repeat ") {
            let (k, body) = rest
                .trim_start()
                .split_once(' ')
                .ok_or("repeat: missing command")?;
            let k: usize = parse(k)?;
            for _ in 0..k {
                self.run_line(body)?;
            }
            return Ok(());
        }
        for part in line.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            if !words.is_empty() {
                self.command(&words)?;
            }
        }
        Ok(())
    }

    fn command(&mut self, w: &[&str]) -> Result<(), String> {
        let arg = |k: usize| {
            w.get(k)
                .copied()
                .ok_or_else(|| format!("{}: missing argument {k}", w[0]))
        };
        match w[0] {
            "cluster" => {
                self.full = match arg(1)? {
                    "basic" => false,
                    "full" => true,
                    other => return Err(format!("unknown mode {other:?}")),
                };
                self.n = parse(arg(2)?)?;
                for extra in &w[3..] {
                    match *extra {
                        "noop=off" => self.noop = false,
                        other => return Err(format!("unknown cluster option {other:?}")),
                    }
                }
                let configs: Vec<Config> = (0..self.n).map(|i| self.config(i, 0..self.n)).collect();
                self.cluster = Cluster::new(configs);
            }
            "add" => {
                // A fresh server with no configuration: it learns one from the leader's log.
                let id: NodeId = parse(arg(1)?)?;
                self.cluster.add(self.config(id, []));
            }
            "load" => {
                let id: NodeId = parse(arg(1)?)?;
                let mut storage = MemStorage::new();
                for kv in &w[2..] {
                    if let Some(v) = key_value(kv, "term") {
                        storage.hard_state.term = parse(v)?;
                    } else if let Some(v) = key_value(kv, "vote") {
                        storage.hard_state.voted_for = Some(parse(v)?);
                    } else if let Some(v) = key_value(kv, "log") {
                        storage.entries = parse_list(v)?
                            .into_iter()
                            .enumerate()
                            .map(|(k, term)| Entry {
                                index: k as u64 + 1,
                                term,
                                payload: Payload::Normal(vec![100 + k as u8]),
                            })
                            .collect();
                    } else {
                        return Err(format!("unknown load field {kv:?}"));
                    }
                }
                let server = self
                    .cluster
                    .servers
                    .get_mut(&id)
                    .ok_or_else(|| format!("no server {id}"))?;
                server.storage = storage;
                self.cluster.restart(id);
            }
            "campaign" => self.input(parse(arg(1)?)?, |n| {
                n.timeout();
                Ok(())
            })?,
            "heartbeat" => self.input(parse(arg(1)?)?, |n| {
                n.heartbeat();
                Ok(())
            })?,
            "propose" => {
                let v: u8 = parse(arg(2)?)?;
                self.input(parse(arg(1)?)?, |n| n.propose(vec![v]))?
            }
            "read" => {
                let req: u64 = parse(arg(2)?)?;
                self.input(parse(arg(1)?)?, |n| n.read_index(req))?
            }
            "transfer" => {
                let to: NodeId = parse(arg(2)?)?;
                self.input(parse(arg(1)?)?, |n| n.transfer_leadership(to))?
            }
            "compact" => {
                let index: u64 = parse(arg(2)?)?;
                self.input(parse(arg(1)?)?, |n| n.compact(index, vec![]))?
            }
            "config" => {
                let id: NodeId = parse(arg(1)?)?;
                let mut voters = Vec::new();
                let mut learners = Vec::new();
                for kv in &w[2..] {
                    if let Some(v) = key_value(kv, "voters") {
                        voters = parse_list(v)?;
                    } else if let Some(v) = key_value(kv, "learners") {
                        learners = parse_list(v)?;
                    } else {
                        return Err(format!("unknown config field {kv:?}"));
                    }
                }
                self.input(id, |n| n.propose_membership(voters, learners))?
            }
            "tick" => {
                let k: u64 = parse(arg(1)?)?;
                for _ in 0..k {
                    match w.get(2) {
                        Some(id) => {
                            self.cluster.with(parse(id)?, Node::tick);
                        }
                        None => self.cluster.tick_all(),
                    }
                }
            }
            "deliver" | "deliver-once" => {
                let once = w[0] == "deliver-once";
                match w.get(1).copied() {
                    None | Some("all") => self.deliver(|_| true, once),
                    Some("to") => {
                        let id: NodeId = parse(arg(2)?)?;
                        self.deliver(|m| m.to == id, once)
                    }
                    Some(link) => {
                        let (a, b) = parse_link(link)?;
                        self.deliver(|m| m.from == a && m.to == b, once)
                    }
                }
            }
            "drop" => match w.get(1).copied() {
                None | Some("all") => self.cluster.network.clear(),
                Some("to") => {
                    let id: NodeId = parse(arg(2)?)?;
                    self.cluster.network.retain(|m| m.to != id)
                }
                Some(link) => {
                    let (a, b) = parse_link(link)?;
                    self.cluster.network.retain(|m| !(m.from == a && m.to == b))
                }
            },
            "partition" => {
                let groups: Vec<BTreeSet<NodeId>> = w[1..]
                    .join(" ")
                    .split('|')
                    .map(|g| g.split_whitespace().map(parse).collect::<Result<_, _>>())
                    .collect::<Result<_, _>>()?;
                self.cluster.heal();
                let ids: Vec<NodeId> = self.cluster.servers.keys().copied().collect();
                for &a in &ids {
                    for &b in &ids {
                        let together = groups.iter().any(|g| g.contains(&a) && g.contains(&b));
                        if a < b && !together {
                            self.cluster.cut.insert((a, b));
                        }
                    }
                }
            }
            "isolate" => self.cluster.isolate(parse(arg(1)?)?),
            "heal" => self.cluster.heal(),
            "restart" => self.cluster.restart(parse(arg(1)?)?),
            "expect" => self.expect(&w[1..])?,
            other => return Err(format!("unknown command {other:?}")),
        }
        if let Some(v) = &self.cluster.violation {
            return Err(v.clone());
        }
        Ok(())
    }

    fn expect(&mut self, w: &[&str]) -> Result<(), String> {
        let arg = |k: usize| {
            w.get(k)
                .copied()
                .ok_or_else(|| format!("expect: missing argument {k}"))
        };
        let check = |what: &str, got: String, want: String| {
            if got == want {
                Ok(())
            } else {
                Err(format!("expected {what} {want}, got {got}"))
            }
        };
        match arg(0)? {
            "role" => {
                let id = parse(arg(1)?)?;
                let got = match self.node(id)?.role() {
                    Role::Follower => "follower",
                    Role::PreCandidate => "precandidate",
                    Role::Candidate => "candidate",
                    Role::Leader => "leader",
                };
                check("role", got.into(), arg(2)?.into())
            }
            "term" => check(
                "term",
                self.node(parse(arg(1)?)?)?.term().to_string(),
                arg(2)?.into(),
            ),
            "vote" => {
                let got = self
                    .node(parse(arg(1)?)?)?
                    .voted_for()
                    .map_or("none".into(), |v| v.to_string());
                check("vote", got, arg(2)?.into())
            }
            "commit" => check(
                "commit",
                self.node(parse(arg(1)?)?)?.commit_index().to_string(),
                arg(2)?.into(),
            ),
            "log" => {
                let node = self.node(parse(arg(1)?)?)?;
                let terms: Vec<String> =
                    node.entries().iter().map(|e| e.term.to_string()).collect();
                let got = if terms.is_empty() {
                    "empty".to_string()
                } else {
                    terms.join(",")
                };
                check("log terms", got, arg(2)?.into())
            }
            "applied" => {
                let id = parse(arg(1)?)?;
                let vals: Vec<String> = self
                    .cluster
                    .applied_values(id)
                    .iter()
                    .map(|v| v[0].to_string())
                    .collect();
                let got = if vals.is_empty() {
                    "none".to_string()
                } else {
                    vals.join(",")
                };
                check("applied values", got, arg(2)?.into())
            }
            "snapshot" => {
                let s = self.node(parse(arg(1)?)?)?.snapshot();
                check(
                    "snapshot",
                    format!("{}/{}", s.index, s.term),
                    arg(2)?.into(),
                )
            }
            "leader" => check(
                "leader",
                self.cluster
                    .leader()
                    .map_or("none".into(), |l| l.to_string()),
                arg(1)?.into(),
            ),
            "voters" => {
                let m = self.node(parse(arg(1)?)?)?.membership();
                let join = |set: &BTreeSet<NodeId>| {
                    set.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let mut got = join(&m.voters);
                if m.is_joint() {
                    got = format!("{got}/{}", join(&m.outgoing));
                }
                check("voters", got, arg(2)?.into())
            }
            "leader-in" => {
                let allowed = parse_list(arg(1)?)?;
                match self.cluster.leader() {
                    Some(l) if allowed.contains(&l) => Ok(()),
                    other => Err(format!(
                        "expected a leader among {allowed:?}, got {other:?}"
                    )),
                }
            }
            "in-flight" => check(
                "in-flight count",
                self.cluster.network.len().to_string(),
                arg(1)?.into(),
            ),
            "sent" => {
                let want = w[1..].join(" ");
                let all: Vec<String> = self.cluster.network.iter().map(fmt_msg).collect();
                if all.contains(&want) {
                    Ok(())
                } else {
                    Err(format!(
                        "expected in flight: {want}\nin flight:\n  {}",
                        all.join("\n  ")
                    ))
                }
            }
            "reads" => {
                let id = parse(arg(1)?)?;
                let got: Vec<String> = self.cluster.servers[&id]
                    .reads
                    .iter()
                    .map(|r| format!("{}@{}", r.request_id, r.index))
                    .collect();
                let got = if got.is_empty() {
                    "none".to_string()
                } else {
                    got.join(",")
                };
                check("reads", got, arg(2)?.into())
            }
            "error" => match &self.last_error {
                Some(_) => Ok(()),
                None => Err("expected the last input to be refused".into()),
            },
            "ok" => match &self.last_error {
                None => Ok(()),
                Some(e) => Err(format!("expected the last input to succeed, got {e}")),
            },
            other => Err(format!("unknown expectation {other:?}")),
        }
    }
}

/// Runs one script; the error names the line that failed.
fn run_script(name: &str, text: &str) -> Result<(), String> {
    let mut runner = Runner::new();
    for (k, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        runner
            .run_line(line)
            .map_err(|e| format!("{name}:{}: {line}\n  {e}", k + 1))?;
    }
    Ok(())
}

#[test]
fn all_scripts_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 5,
        "expected the scenario scripts, found {paths:?}"
    );
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        if let Err(e) = run_script(&name, &text) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_bad_line_is_an_error_naming_the_line() {
    let err = run_script("bad.txt", "cluster basic 3\n\ncampaign zero\n").unwrap_err();
    assert!(err.starts_with("bad.txt:3: campaign zero"), "{err}");
    let err = run_script("bad.txt", "cluster basic 3\nfrobnicate 1\n").unwrap_err();
    assert!(
        err.contains("bad.txt:2:") && err.contains("unknown command"),
        "{err}"
    );
    let err = run_script("bad.txt", "cluster basic 3\nexpect role 0 leader\n").unwrap_err();
    assert!(
        err.contains("bad.txt:2:") && err.contains("expected role leader, got follower"),
        "{err}"
    );
}
