//! The driving example of specs/impl.md, kept compiling and passing.

use raft_core::{Config, MemStorage, Message, Node, Role};

fn flush(i: usize, nodes: &mut [Node], stores: &mut [MemStorage], net: &mut Vec<Message>) {
    let rd = nodes[i].ready();
    stores[i].persist(&rd);
    net.extend(rd.messages.clone());
    nodes[i].advance(&rd);
}

fn deliver_all(nodes: &mut [Node], stores: &mut [MemStorage], net: &mut Vec<Message>) {
    while let Some(m) = net.pop() {
        let to = m.to as usize;
        nodes[to].step(m);
        flush(to, nodes, stores, net);
    }
}

#[test]
fn three_servers_in_basic_mode_elect_replicate_and_commit() {
    let mut stores = vec![MemStorage::new(); 3];
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| Node::new(Config::basic(i, 3), &stores[i as usize]))
        .collect();
    let mut net = Vec::new();
    nodes[0].timeout();
    flush(0, &mut nodes, &mut stores, &mut net);
    assert_eq!(net.len(), 2);
    deliver_all(&mut nodes, &mut stores, &mut net);
    assert_eq!(nodes[0].role(), Role::Leader);
    assert_eq!(nodes[0].propose(vec![7]), Ok(2));
    for _ in 0..2 {
        nodes[0].heartbeat();
        flush(0, &mut nodes, &mut stores, &mut net);
        deliver_all(&mut nodes, &mut stores, &mut net);
    }
    assert_eq!(nodes[0].commit_index(), 2);
    // Restart from storage: term, vote and log come back.
    let restarted = Node::new(Config::basic(1, 3), &stores[1]);
    assert_eq!(restarted.term(), 1);
    assert_eq!(restarted.voted_for(), Some(0));
    assert_eq!(restarted.entries(), nodes[0].entries());
}
