//! Refinement checking of the Raft core (`raft-core`) against the model (`raft-model`): the impl,
//! run in the basic mode of specs/contract.md, must take every model transition the same way.
//!
//! - `abstraction`: impl node -> model server state, impl message -> model message;
//! - `driver`: a cluster of impl cores with in-memory storage and the messages in flight, taking
//!   model actions as impl inputs; `compare`, `lockstep`: one step on both sides, then compare;
//! - `exhaustive`, `walk`, `impl_first`: the three ways of choosing what to check;
//! - `trace`, `itf`, `shrink`, `report`, `junit`, `coverage`: what comes out;
//! - `gate`: the CI gate that runs it all within a time budget.

pub mod abstraction;
pub mod compare;
pub mod coverage;
pub mod driver;
pub mod exhaustive;
pub mod gate;
pub mod impl_first;
pub mod itf;
pub mod junit;
pub mod lockstep;
pub mod replay;
pub mod report;
pub mod shrink;
pub mod trace;
pub mod walk;

pub use driver::{Cluster, Perturbation};
