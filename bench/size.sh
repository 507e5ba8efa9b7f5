#!/usr/bin/env bash
# Size benchmark (issue 17, item 5): Castellan on a database holding 1 M clients, 1 M API keys
# and 10 M refresh tokens (1 M families of 10: one current token each, nine rotated out),
# against Castellan on an empty database, in the same run on the same machine. Both are set
# up alike (an admin client, an API key, a person, a code client); the full one is then seeded
# with SQL, copying those rows under new ids and hashes.
#
# Measured on each, alternately (empty, full, empty, full), the server pinned to core 0 and the
# load generator to core 1: client_credentials and JWT introspection (wrk, 32 connections), the
# gateway check of an API key (wrk on /forward-auth), the refresh grant (examples/people_load,
# chained per connection), and management list queries at offset 10 000 (median of 21 curl
# timings of GET /api-clients and /api-keys, limit 20), with their total counted (the default)
# and without (`withTotal=false`).
#
# Usage: bench/size.sh [seconds per run, default 10]. CLIENTS, KEYS, REFRESH set the sizes;
# SIZE_POSTGRES=postgres://user@host:port runs on PostgreSQL (two new databases,
# castellan_size_empty and castellan_size_full, dropped first) instead of SQLite files.
# Needs wrk, sqlite3 or psql, taskset, jq. Ports 8501 (empty) and 8502 (full).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
CLIENTS="${CLIENTS:-1000000}"
KEYS="${KEYS:-1000000}"
REFRESH="${REFRESH:-10000000}"
FAMILIES=$(( REFRESH / 10 ))
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p castellan --bin castellan
cargo build --release -q -p castellan-server --example people_load
BIN="$CARGO_TARGET_DIR/release"
GEN="$BIN/examples/people_load"
CONFIG="$PWD/bench/castellan-bench-gateway.toml"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
  # The PostgreSQL databases (about 4.7 GB when seeded) go too, as the SQLite files do.
  if [[ -n "${SIZE_POSTGRES:-}" ]]; then
    for d in castellan_size_empty castellan_size_full; do
      psql "$SIZE_POSTGRES/postgres" -q -c "DROP DATABASE IF EXISTS $d" 2>/dev/null || true
    done
  fi
}
trap cleanup EXIT

if [[ -n "${SIZE_POSTGRES:-}" ]]; then
  for d in castellan_size_empty castellan_size_full; do
    psql "$SIZE_POSTGRES/postgres" -q -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" 2>/dev/null
  done
  EMPTY_DB="$SIZE_POSTGRES/castellan_size_empty"
  FULL_DB="$SIZE_POSTGRES/castellan_size_full"
  BACKEND=postgres
else
  EMPTY_DB="sqlite://$WORK/empty.db"
  FULL_DB="sqlite://$WORK/full.db"
  BACKEND=sqlite
fi

EMAIL=size@example.com
PASSWORD="size-password-$RANDOM$RANDOM"
REDIRECT=http://127.0.0.1:8309/cb
SCOPE="openid offline_access profile email"

# setup <db> <port> <name>: the rows both databases share, then the server. Leaves
# <name>.env in $WORK with the credentials.
setup() {
  local db=$1 port=$2 name=$3
  local C=("$BIN/castellan" --config "$CONFIG" --database "$db")
  "${C[@]}" init --json > "$WORK/$name.admin.json"
  local admin
  admin=$("${C[@]}" clients create --admin --name size-bench --scope catalog:read --json)
  printf '%s\n' "$PASSWORD" | "${C[@]}" users create --email "$EMAIL" --name Size --password-stdin --json > /dev/null
  local org
  org=$("${C[@]}" orgs create --name "Size org" --json | jq -r .id)
  "${C[@]}" orgs add-member --org "$org" --user "$EMAIL" --role OWNER > /dev/null
  local code
  code=$("${C[@]}" clients create --name "Size people" --scope "$SCOPE" \
    --grant-types authorization_code,refresh_token --redirect-uri "$REDIRECT" --json)
  taskset -c 0 "${C[@]}" serve --listen "127.0.0.1:$port" > /dev/null 2> "$WORK/$name.log" &
  PIDS+=("$!")
  echo "$!" > "$WORK/$name.pid"
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
  local id secret token key
  id=$(jq -r .client_id <<<"$admin")
  secret=$(jq -r .client_secret <<<"$admin")
  token=$(curl -sf -u "$id:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/oauth/token" | jq -r .access_token)
  key=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name":"size bench","scope":"catalog:read","tier":"bench_off"}' \
    "http://127.0.0.1:$port/api-keys" | jq -r .key)
  # One refresh family (the template of the seeded ones).
  taskset -c 1 "$GEN" refresh "127.0.0.1:$port" --secs 1 --warmup 0 --conns 1 \
    --client-id "$(jq -r .client_id <<<"$code")" --client-secret "$(jq -r .client_secret <<<"$code")" \
    --email "$EMAIL" --password "$PASSWORD" --redirect-uri "$REDIRECT" --scope "$SCOPE" > /dev/null
  {
    echo "ID=$id"; echo "SECRET=$secret"; echo "TOKEN=$token"; echo "KEY=$key"
    echo "CODE_ID=$(jq -r .client_id <<<"$code")"; echo "CODE_SECRET=$(jq -r .client_secret <<<"$code")"
  } > "$WORK/$name.env"
}

# sql <db> <statement>: runs one statement on the database.
sql() {
  if [[ $BACKEND == postgres ]]; then
    psql "$1" -q -v ON_ERROR_STOP=1 -At -c "$2"
  else
    sqlite3 "${1#sqlite://}" "PRAGMA synchronous = OFF;" "$2"
  fi
}

# seed <db> <table> <template condition> <count> [column=expression …]: copies one row of the
# table <count> times; `i` counts from 1, the template row is `t`, other columns are copied.
seed() {
  local db=$1 table=$2 where=$3 n=$4
  shift 4
  local cols
  if [[ $BACKEND == postgres ]]; then
    cols=$(sql "$db" "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '$table' AND table_schema = 'public'")
  else
    cols=$(sql "$db" "SELECT group_concat(name, ',') FROM pragma_table_info('$table')")
  fi
  local select="" c o expr
  for c in ${cols//,/ }; do
    expr="t.$c"
    for o in "$@"; do [[ "${o%%=*}" == "$c" ]] && expr="${o#*=}"; done
    select+="${select:+, }$expr"
  done
  local rows
  if [[ $BACKEND == postgres ]]; then
    rows="generate_series(1, $n) AS s(i)"
  else
    rows="(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n) SELECT i FROM n) AS s"
  fi
  sql "$db" "INSERT INTO $table ($cols) SELECT $select FROM $rows, (SELECT * FROM $table WHERE $where LIMIT 1) AS t"
}

# A 32-byte value unique per i.
if [[ $BACKEND == postgres ]]; then
  HASH="decode(md5(i::text || 'a') || md5(i::text || 'b'), 'hex')"
else
  HASH="randomblob(32)"
fi

setup "$EMPTY_DB" 8501 empty
setup "$FULL_DB" 8502 full
kill "$(cat "$WORK/full.pid")"; wait "$(cat "$WORK/full.pid")" 2>/dev/null || true
# shellcheck disable=SC1091
source "$WORK/full.env"
SEED_START=$(date +%s)
seed "$FULL_DB" clients "id = '$ID'" "$CLIENTS" "id='seed-c-' || i" "name='seed client ' || i"
seed "$FULL_DB" api_keys "hash IS NOT NULL" "$KEYS" "id='seed-k-' || i" "hash=$HASH" "name='seed key ' || i"
seed "$FULL_DB" refresh_families "id IS NOT NULL" "$FAMILIES" "id='seed-f-' || (i - 1)"
seed "$FULL_DB" refresh_tokens "rotated_at IS NULL" "$REFRESH" "hash=$HASH" \
  "family_id='seed-f-' || (i % $FAMILIES)" "rotated_at=CASE WHEN i <= $FAMILIES THEN NULL ELSE t.created_at END"
# PostgreSQL: VACUUM as well, which sets the visibility map autovacuum would set after a bulk
# insert (PostgreSQL 13+), so that the measurement does not run beside autovacuum's catch-up
# and counts may use index-only scans, as on a database in its steady state.
if [[ $BACKEND == postgres ]]; then sql "$FULL_DB" "VACUUM ANALYZE"; else sql "$FULL_DB" "ANALYZE"; fi
SEED_SECONDS=$(( $(date +%s) - SEED_START ))
COUNTS=$(sql "$FULL_DB" "SELECT (SELECT COUNT(*) FROM clients) || ' clients, ' || (SELECT COUNT(*) FROM api_keys) || ' API keys, ' || (SELECT COUNT(*) FROM refresh_tokens) || ' refresh tokens in ' || (SELECT COUNT(*) FROM refresh_families) || ' families'")
C=("$BIN/castellan" --config "$CONFIG" --database "$FULL_DB")
taskset -c 0 "${C[@]}" serve --listen 127.0.0.1:8502 > /dev/null 2> "$WORK/full.log" &
PIDS+=("$!")
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:8502/healthz" > /dev/null 2>&1 && break; sleep 0.1; done

# measure <name> <port>: one line "token|introspect|gateway|refresh|list clients ms|list keys
# ms|list clients ms without total|list keys ms without total".
measure() {
  local name=$1 port=$2
  # shellcheck disable=SC1090
  source "$WORK/$name.env"
  local base="http://127.0.0.1:$port" basic
  basic=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)
  cat > "$WORK/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=catalog:read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
  cat > "$WORK/introspect.lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$TOKEN"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
  cat > "$WORK/gateway.lua" <<LUA
wrk.method = "GET"
wrk.headers["X-API-Key"] = "$KEY"
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["X-Original-URI"] = "/catalog/items?page=1"
LUA
  # Each request answers as it should before it is measured.
  curl -sf -u "$ID:$SECRET" -d 'grant_type=client_credentials&scope=catalog:read' "$base/oauth/token" > /dev/null
  curl -sf -u "$ID:$SECRET" -d "token=$TOKEN" "$base/oauth/introspect" | grep -q '"active":true'
  curl -sf -o /dev/null -H "X-API-Key: $KEY" -H 'X-Original-Method: GET' \
    -H 'X-Original-URI: /catalog/items?page=1' "$base/forward-auth"
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$base/api-keys?offset=10000&limit=20"
  rps() { # a run with any non-2xx answer fails the benchmark
    local out
    out=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" -s "$1" "$2")
    if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers on $2: $out" >&2; exit 1; fi
    awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out"
  }
  local t i g r lc lk lcn lkn
  t=$(rps "$WORK/token.lua" "$base/oauth/token")
  i=$(rps "$WORK/introspect.lua" "$base/oauth/introspect")
  g=$(rps "$WORK/gateway.lua" "$base/forward-auth")
  r=$(taskset -c 1 "$GEN" refresh "127.0.0.1:$port" --secs "$DUR" --warmup 2 --conns 32 \
    --client-id "$CODE_ID" --client-secret "$CODE_SECRET" --email "$EMAIL" --password "$PASSWORD" \
    --redirect-uri "$REDIRECT" --scope "$SCOPE" 2> /dev/null | sed -n 's/.* ups=\([^ ]*\).*/\1/p')
  median_ms() {
    for _ in $(seq 1 21); do
      curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$base$1"
    done | sort -n | sed -n 11p | awk '{printf "%.1f", $1 * 1000}'
  }
  lc=$(median_ms "/api-clients?offset=10000&limit=20")
  lk=$(median_ms "/api-keys?offset=10000&limit=20")
  lcn=$(median_ms "/api-clients?offset=10000&limit=20&withTotal=false")
  lkn=$(median_ms "/api-keys?offset=10000&limit=20&withTotal=false")
  echo "$t|$i|$g|$r|$lc|$lk|$lcn|$lkn"
}

E1=$(measure empty 8501); F1=$(measure full 8502)
E2=$(measure empty 8501); F2=$(measure full 8502)
echo "Backend: $BACKEND. Seeded in ${SEED_SECONDS} s: $COUNTS (the full database; the empty one has the set-up rows only)."
echo "Load: $(uptime | sed 's/.*load average/load average/')"
echo
echo "| run | client_credentials/s | JWT introspections/s | gateway checks (API key)/s | refreshes/s | GET /api-clients offset 10 000 (median) | GET /api-keys offset 10 000 (median) | the same, withTotal=false: clients | keys |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in "empty, 1|$E1" "full, 1|$F1" "empty, 2|$E2" "full, 2|$F2"; do
  IFS='|' read -r n t i g r lc lk lcn lkn <<<"$row"
  echo "| $n | $t | $i | $g | $r | $lc ms | $lk ms | $lcn ms | $lkn ms |"
done
ratio_of() { # column
  awk -F'|' -v c="$1" -v e1="$E1" -v f1="$F1" -v e2="$E2" -v f2="$F2" 'BEGIN{
    split(e1, a, "|"); split(f1, b, "|"); split(e2, x, "|"); split(f2, y, "|");
    printf "%.2f", (b[c] + y[c]) / (a[c] + x[c]) }'
}
echo "| full ÷ empty | $(ratio_of 1) | $(ratio_of 2) | $(ratio_of 3) | $(ratio_of 4) | | | | |"
