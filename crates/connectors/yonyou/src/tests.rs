//! Tests against the Yonyou double.
