//! Behaviour tests (below).
