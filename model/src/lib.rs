//! A model of Raft's core protocol (leader election and log replication, Raft paper sections
//! 5.1-5.4, Figures 2 and 3) as a stateright `Model` over plain data, with the five safety
//! properties of Figure 3, bug flags that re-introduce known mistakes, and a checker CLI.
//!
//! The model is independent of the implementation; specs/contract.md fixes the event semantics
//! both follow, and specs/model.md describes the model in prose.

pub mod actions;
pub mod bounds;
pub mod bugs;
pub mod check;
pub mod cli;
mod election;
pub mod inline;
mod membership;
pub mod message;
pub mod minimise;
mod persist;
pub mod properties;
pub mod protocol;
mod replication;
mod snapshot;
pub mod state;
pub mod svg;
pub mod symmetry;

pub use actions::{Action, Change};
pub use bounds::Bounds;
pub use bugs::Bug;
pub use message::{
    Body, Entry, Hint, Index, Membership, Message, Network, Payload, ServerId, Term, Value,
};
pub use protocol::{Params, Protocol};
pub use state::{Committed, Faults, Flow, History, Pending, Role, Server, ServerSet, State};

use serde::{Deserialize, Serialize};
use stateright::{Model, Path, Property};

/// The model configuration: bounds, protocol parameters and at most one bug flag.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RaftModel {
    pub bounds: Bounds,
    pub params: Params,
    pub bug: Option<Bug>,
}

impl RaftModel {
    /// The configuration a bug flag documents: its smallest bounds and its parameters.
    pub fn for_bug(bug: Bug) -> Self {
        RaftModel {
            bounds: bug.bounds(),
            params: bug.params(),
            bug: Some(bug),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.bounds.validate()?;
        self.params.validate()
    }

    pub fn initial_state(&self) -> State {
        State::initial(self.bounds.servers as usize)
    }
}

impl Model for RaftModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.initial_state()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled_actions(state, actions);
    }

    /// Never `None`: every action offered by `actions` changes something or is a real event.
    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        Some(self.step(state, &action))
    }

    fn format_action(&self, action: &Action) -> String {
        svg::format_action(action)
    }

    fn as_svg(&self, path: Path<State, Action>) -> Option<String> {
        Some(svg::sequence_diagram(self, &path.into_vec()))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(&self.params, &self.bounds)
    }

    fn within_boundary(&self, state: &State) -> bool {
        self.bounds.contain(state)
    }
}
