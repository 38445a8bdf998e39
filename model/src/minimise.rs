//! Shortest counterexamples to the properties of Figure 3 (Raft paper, sections 5.2-5.4) and
//! shortest examples of their `sometimes` twins: a level-by-level breadth-first search over the
//! same model and bounds, so the first state found that violates an `always` property (or
//! satisfies a `sometimes` property) lies at the least possible depth.
//!
//! stateright's own BFS keeps overwriting discoveries with later ones, so its paths are not
//! guaranteed shortest; this search is what every reported counterexample comes from.
//! Visited states are kept as 64-bit fingerprints plus a parent link, about 20 bytes per state.

use crate::actions::Action;
use crate::state::State;
use crate::RaftModel;
use stateright::{Expectation, Model};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// For each named property, the shortest action sequence from the initial state to a state that
/// violates it (`always`) or satisfies it (`sometimes`). Names never reached are absent.
pub fn shortest_paths(
    model: &RaftModel,
    names: &[&'static str],
) -> BTreeMap<&'static str, Vec<Action>> {
    let targets: Vec<_> = model
        .properties()
        .into_iter()
        .filter(|p| names.contains(&p.name))
        .collect();
    let hit = |state: &State, p: &stateright::Property<RaftModel>| {
        let holds = (p.condition)(model, state);
        match p.expectation {
            Expectation::Sometimes => holds,
            _ => !holds,
        }
    };

    // parents[node] = (parent node, index of the action taken in the parent's action list).
    let mut parents: Vec<(u32, u32)> = Vec::new();
    let mut found: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut visited = FingerprintSet::default();
    let mut frontier: Vec<(State, u32)> = Vec::new();

    let init = model.initial_state();
    visited.insert(fingerprint(&init));
    parents.push((u32::MAX, 0));
    frontier.push((init, 0));
    let mut actions = Vec::new();
    loop {
        // Check a whole level before going deeper: the first hit is at the least depth.
        for (state, node) in &frontier {
            for p in &targets {
                if !found.contains_key(p.name) && hit(state, p) {
                    found.insert(p.name, *node);
                }
            }
        }
        if found.len() == targets.len() || frontier.is_empty() {
            break;
        }
        let mut next_frontier = Vec::new();
        for (state, node) in &frontier {
            model.enabled_actions(state, &mut actions);
            for (index, action) in actions.drain(..).enumerate() {
                let next = model.step(state, &action);
                if !model.within_boundary(&next) || !visited.insert(fingerprint(&next)) {
                    continue;
                }
                parents.push((*node, index as u32));
                next_frontier.push((next, (parents.len() - 1) as u32));
            }
        }
        frontier = next_frontier;
    }
    found
        .into_iter()
        .map(|(name, node)| (name, replay(model, &parents, node)))
        .collect()
}

/// The actions leading to `node`, rebuilt by replaying action indices from the initial state.
fn replay(model: &RaftModel, parents: &[(u32, u32)], mut node: u32) -> Vec<Action> {
    let mut indices = Vec::new();
    while parents[node as usize].0 != u32::MAX {
        indices.push(parents[node as usize].1);
        node = parents[node as usize].0;
    }
    indices.reverse();
    let mut state = model.initial_state();
    let mut path = Vec::new();
    let mut actions = Vec::new();
    for index in indices {
        model.enabled_actions(&state, &mut actions);
        let action = actions.swap_remove(index as usize);
        actions.clear();
        state = model.step(&state, &action);
        path.push(action);
    }
    path
}

/// Replays `actions` from the initial state; `None` if one is not enabled on the way.
pub fn replay_actions(model: &RaftModel, actions: &[Action]) -> Option<Vec<State>> {
    let mut states = vec![model.initial_state()];
    for action in actions {
        let last = states.last().expect("never empty");
        if !model.is_enabled(last, action) {
            return None;
        }
        let next = model.step(last, action);
        if !model.within_boundary(&next) {
            return None;
        }
        states.push(next);
    }
    Some(states)
}

/// A 64-bit hash of the whole state, for visited sets that store hashes instead of states.
pub fn fingerprint(state: &State) -> u64 {
    let mut hasher = DefaultHasher::new();
    state.hash(&mut hasher);
    hasher.finish()
}

/// A set of [`fingerprint`]s.
pub type FingerprintSet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// The set already holds hashes; hashing them again would only cost time.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
