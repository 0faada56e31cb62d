#!/usr/bin/env bash
# A quick, read-only check that the peers started under DIR answer their APIs
# with the seeded credentials (a few seconds; it writes nothing, so the seeded
# state stays as it is).
#
#   scripts/peers/peers-smoke.sh DIR [tryton|crm ...]    (default: both)
#
# Tryton: server version, login (common.db.login), search parties with the
#   Session header, find the seeded customer by its identifier CRM-SEED-1, logout.
# BottleCRM: /healthz/, list accounts with the PAT (Bearer) and with the org API
#   key (Token), no credentials -> 403, the seeded custom field erp_id exists.
# Reads DIR/tryton/env and DIR/crm/env (written by the *-up.sh scripts); a peer
# asked for whose env is missing fails. Runs every check, prints
# "peers-smoke: N passed, M failed" and exits 1 when M > 0.
set -uo pipefail

[[ $# -ge 1 ]] || { sed -n '2,6p' "$0" >&2; exit 2; }
DIR=$1; shift
PEERS=("$@"); [[ ${#PEERS[@]} -gt 0 ]] || PEERS=(tryton crm)

passed=0 failed=0
ok()  { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
# jpy EXPR: evaluate a Python expression on the JSON from stdin (as `d`), print it.
# (The real interpreter, resolved once: a pyenv shim costs ~0.1 s per call.)
PY=$(python3 -c 'import sys; print(sys.executable)')
jpy() { "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" 2>/dev/null; }

smoke_tryton() {
    local env=$DIR/tryton/env out uid tok auth
    [[ -f $env ]] || { bad "tryton: $env missing (run tryton-up.sh $DIR PORT)"; return; }
    # shellcheck disable=SC1090
    . "$env"
    echo "== Tryton $TRYTON_RPC"
    rpc() {   # URL METHOD PARAMS-JSON [AUTH]: JSON-RPC call, body on stdout
        curl -s -m 30 -X POST -H 'Content-Type: application/json' ${4:+-H "Authorization: $4"} \
            "$1" -d "{\"id\":1,\"method\":\"$2\",\"params\":$3}"
    }
    out=$(rpc "$TRYTON_URL/rpc/" common.server.version '[]')
    if [[ $(jpy 'd["result"]' <<<"$out") == 8.2* ]]; then ok "tryton: server version $(jpy 'd["result"]' <<<"$out")"
    else bad "tryton: server version: ${out:-no answer}"; return; fi

    out=$(rpc "$TRYTON_RPC" common.db.login "[\"$TRYTON_USER\",{\"password\":\"$TRYTON_PASSWORD\"},\"en\"]")
    uid=$(jpy 'd["result"][0]' <<<"$out"); tok=$(jpy 'd["result"][1]' <<<"$out")
    if [[ $uid =~ ^[0-9]+$ && -n $tok ]]; then ok "tryton: login as $TRYTON_USER (uid $uid)"
    else bad "tryton: login: ${out:-no answer}"; return; fi
    # Session auth: base64(login:uid:token). HTTP Basic works too but hashes
    # the password on every call (~250 ms against ~45 ms).
    auth="Session $(printf '%s:%s:%s' "$TRYTON_USER" "$uid" "$tok" | base64 -w0)"
    local ctx="{\"company\":${TRYTON_COMPANY_ID:-1}}"

    out=$(rpc "$TRYTON_RPC" model.party.party.search_read "[[],0,100,[[\"id\",\"ASC\"]],[\"id\",\"name\"],$ctx]" "$auth")
    if [[ $(jpy 'type(d["result"]).__name__' <<<"$out") == list ]]; then
        ok "tryton: search parties: $(jpy 'len(d["result"])' <<<"$out") found"
    else bad "tryton: search parties: ${out:-no answer}"; fi

    out=$(rpc "$TRYTON_RPC" model.party.party.search_read \
        "[[[\"identifiers.code\",\"=\",\"CRM-SEED-1\"]],0,null,null,[\"id\",\"name\"],$ctx]" "$auth")
    if [[ $(jpy 'd["result"][0]["name"]' <<<"$out") == "Seed Customer" ]]; then
        ok "tryton: seeded customer found by identifier CRM-SEED-1"
    else bad "tryton: seeded customer CRM-SEED-1: ${out:-no answer}"; fi

    out=$(rpc "$TRYTON_RPC" common.db.logout '[]' "$auth")
    if [[ $(jpy '"error" not in d' <<<"$out") == True ]]; then ok "tryton: logout"
    else bad "tryton: logout: ${out:-no answer}"; fi
}

smoke_crm() {
    local env=$DIR/crm/env out code body
    [[ -f $env ]] || { bad "crm: $env missing (run crm-up.sh $DIR PORT)"; return; }
    # shellcheck disable=SC1090
    . "$env"
    echo "== BottleCRM $CRM_API"
    get() {   # PATH [HEADER]: GET, prints "<http code> <body>"
        local r
        r=$(curl -s -m 30 -w '\n%{http_code}' ${2:+-H "$2"} "$CRM_URL$1")
        printf '%s %s' "${r##*$'\n'}" "${r%$'\n'*}"
    }
    out=$(get /healthz/); code=${out%% *}
    if [[ $code == 200 ]]; then ok "crm: /healthz/"; else bad "crm: /healthz/ -> ${code:-no answer}"; return; fi

    out=$(get '/api/accounts/?limit=100' "Authorization: Bearer $CRM_PAT"); code=${out%% *}; body=${out#* }
    if [[ $code == 200 ]] && n=$(jpy 'd["active_accounts"]["open_accounts_count"]' <<<"$body") && [[ -n $n ]]; then
        ok "crm: list accounts with the PAT: $n open"
    else bad "crm: list accounts with the PAT -> $code ${body:0:300}"; fi

    out=$(get '/api/accounts/?limit=1' "Token: $CRM_ORG_API_KEY"); code=${out%% *}
    if [[ $code == 200 ]]; then ok "crm: list accounts with the org API key"
    else bad "crm: list accounts with the org API key -> $code ${out:4:300}"; fi

    # BottleCRM answers a missing credential with 403, not 401
    out=$(get '/api/accounts/?limit=1'); code=${out%% *}
    if [[ $code == 403 ]]; then ok "crm: no credentials -> 403"
    else bad "crm: no credentials -> $code (want 403)"; fi

    out=$(get /api/custom-fields/ "Authorization: Bearer $CRM_PAT"); code=${out%% *}; body=${out#* }
    got=$(jpy '" ".join(sorted(x["target_model"] for x in d["definitions"] if x["key"] == "erp_id"))' <<<"$body")
    if [[ $code == 200 && $got == "Account Contact Invoice Lead Opportunity" ]]; then
        ok "crm: custom field erp_id on $got"
    else bad "crm: custom field erp_id -> $code, on: ${got:-none}"; fi
}

for p in "${PEERS[@]}"; do
    case $p in
        tryton) smoke_tryton ;;
        crm) smoke_crm ;;
        *) bad "unknown peer '$p' (tryton|crm)" ;;
    esac
done
echo "peers-smoke: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
