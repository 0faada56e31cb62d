//! The conformance suite against the Yonyou double.
