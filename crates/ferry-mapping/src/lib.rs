//! ferry-mapping
