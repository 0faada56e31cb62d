#!/usr/bin/env bash
# Starts a wire-level double of a vendor API on 127.0.0.1 for manual use, prints its URL on
# the first line, and serves until Ctrl-C. A double is test support, not the vendor.
#
#   scripts/doubles/run.sh DOUBLE [PORT] [OPTIONS...]
#
#   DOUBLE   reference (the generic REST + SOAP API; see crates/ferry-doubles/README.md)
#            kingdee   (Kingdee K/3 Cloud WebAPI; see crates/ferry-doubles/src/kingdee/README.md)
#            jiandaoyun (Jiandaoyun open API v5; see crates/ferry-doubles/src/jiandaoyun/README.md)
#            yonyou    (Yonyou YonBIP open API; see crates/ferry-doubles/src/yonyou/README.md)
#            sap       (SAP S/4HANA OData v2 A2X APIs; see crates/ferry-doubles/src/sap/README.md)
#            salesforce (Salesforce REST/Bulk 2.0/CDC; see crates/ferry-doubles/src/salesforce/README.md)
#            shopify   (Shopify Admin GraphQL; see crates/ferry-doubles/src/shopify/README.md)
#            netsuite  (Oracle NetSuite SuiteQL + record API, TBA; see crates/ferry-doubles/src/netsuite/README.md)
#            dynamics  (Dynamics 365 Dataverse Web API; see crates/ferry-doubles/src/dynamics/README.md)
#   PORT     port on 127.0.0.1 (default 0: a free one, printed)
#   OPTIONS  passed to the double, e.g. --auth oauth2 --paging cursor
#            (scripts/doubles/run.sh reference --help lists them)
#            or --session-idle 60 --customers 20 for kingdee
#            or --push-url http://127.0.0.1:9000/hook --no-rate-limits for jiandaoyun
#            or --calls-per-minute 60 --push-url http://127.0.0.1:9000/cb for yonyou
#            or --page-size 20 --if-match optional for sap
#            or --query-batch-size 200 --daily-api-limit 100 for salesforce
#            or --webhook-url http://127.0.0.1:9000/hook for shopify
#            or --concurrency 5 for netsuite
#
# Builds the ferry-double binary first (cargo, honouring CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ]; then
  awk 'NR > 1 && /^# Builds/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
double="$1"
shift
port=0
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  port="$1"
  shift
fi
cargo build --quiet --locked -p ferry-doubles --bin ferry-double
exec "${CARGO_TARGET_DIR:-target}/debug/ferry-double" "$double" --port "$port" "$@"
