//! The runtime around the core (placeholder).
