//! An exhaustive search over full states that shares nothing with stateright's checkers: a
//! breadth-first search keyed by whole `State` values (no fingerprints), used to cross-check
//! the checker's unique-state counts and the length of the shortest counterexamples.

#![allow(dead_code)]

use raft_model::{RaftModel, State};
use stateright::{Expectation, Model};
use std::collections::HashSet;

/// What the full-state search found.
pub struct FullSearch {
    /// Every reachable state within the bounds.
    pub reachable: HashSet<State>,
    /// For each property (in `properties()` order): the least depth at which a state violates
    /// it (`always`) or satisfies it (`sometimes`).
    pub first_hit: Vec<Option<usize>>,
}

pub fn full_search(model: &RaftModel) -> FullSearch {
    let properties = model.properties();
    let mut first_hit = vec![None; properties.len()];
    let init = model.initial_state();
    let mut reachable = HashSet::new();
    reachable.insert(init.clone());
    let mut level = vec![init];
    let mut depth = 0;
    let mut actions = Vec::new();
    while !level.is_empty() {
        for state in &level {
            for (i, p) in properties.iter().enumerate() {
                let holds = (p.condition)(model, state);
                let hit = match p.expectation {
                    Expectation::Sometimes => holds,
                    _ => !holds,
                };
                if hit && first_hit[i].is_none() {
                    first_hit[i] = Some(depth);
                }
            }
        }
        let mut next_level = Vec::new();
        for state in &level {
            model.actions(state, &mut actions);
            for action in actions.drain(..) {
                let next = model.next_state(state, action).expect("never None");
                if model.within_boundary(&next) && !reachable.contains(&next) {
                    reachable.insert(next.clone());
                    next_level.push(next);
                }
            }
        }
        level = next_level;
        depth += 1;
    }
    FullSearch {
        reachable,
        first_hit,
    }
}

/// The index of a property by name.
pub fn property_index(model: &RaftModel, name: &str) -> usize {
    model
        .properties()
        .iter()
        .position(|p| p.name == name)
        .unwrap_or_else(|| panic!("no property named {name}"))
}
