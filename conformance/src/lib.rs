//! Conformance (placeholder).
