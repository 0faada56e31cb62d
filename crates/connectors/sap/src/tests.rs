//! Contract tests against the SAP double.
