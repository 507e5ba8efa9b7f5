#!/usr/bin/env bash
# Purge benchmark (issue 17, item 5): does the upkeep's purge of millions of expired rows stall
# the requests served meanwhile? Upkeep deletes 5 000 rows per statement, so requests should
# wait at most one batch, not the whole purge.
#
# One server (upkeep every 5 s instead of 30) serves the refresh grant, the request that writes
# on every call, from examples/people_load (32 connections, chained refreshes), pinned to core 0
# with the generator on core 1. Two runs of the same length, alternately, twice:
# - quiet: no expired rows;
# - purging: ROWS expired one-time ids (default 2 000 000) inserted just before the run, which
#   the upkeep deletes during it. The script samples the table to time the purge and checks that
#   it ended within the run.
# Printed: refreshes per second, p50 and p99 latency of each run, and how long each purge took.
#
# Usage: bench/purge.sh [seconds per run, default 30]. PURGE_DATABASE=postgres://… runs on
# PostgreSQL (an empty database) instead of a SQLite file. Needs taskset, jq, sqlite3 or psql.
# Port 8701.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-30}"
ROWS="${ROWS:-2000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p castellan --bin castellan
cargo build --release -q -p castellan-server --example people_load
BIN="$CARGO_TARGET_DIR/release"
GEN="$BIN/examples/people_load"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

CONFIG="$WORK/castellan.toml"
cat bench/castellan-bench-gateway.toml > "$CONFIG"
printf '\n[keys]\nreload_seconds = 5\n' >> "$CONFIG"
DB="${PURGE_DATABASE:-sqlite://$WORK/castellan.db}"
sql() {
  if [[ "$DB" == postgres* ]]; then psql "$DB" -q -v ON_ERROR_STOP=1 -At -c "$1"
  else sqlite3 "${DB#sqlite://}" "$1"; fi
}
if [[ "$DB" == postgres* ]]; then
  EXPIRED="INSERT INTO used_ids (key, expires_at) SELECT decode(md5(i::text || '$RANDOM'), 'hex'), 1 FROM generate_series(1, $ROWS) AS s(i)"
else
  EXPIRED="INSERT INTO used_ids (key, expires_at) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS) SELECT randomblob(16), 1 FROM n"
fi

C=("$BIN/castellan" --config "$CONFIG" --database "$DB")
EMAIL=purge@example.com
PASSWORD="purge-password-$RANDOM$RANDOM"
REDIRECT=http://127.0.0.1:8309/cb
SCOPE="openid offline_access profile email"
"${C[@]}" init --json > /dev/null
printf '%s\n' "$PASSWORD" | "${C[@]}" users create --email "$EMAIL" --name Purge --password-stdin --json > /dev/null
ORG=$("${C[@]}" orgs create --name "Purge org" --json | jq -r .id)
"${C[@]}" orgs add-member --org "$ORG" --user "$EMAIL" --role OWNER > /dev/null
CODE=$("${C[@]}" clients create --name "Purge people" --scope "$SCOPE" \
  --grant-types authorization_code,refresh_token --redirect-uri "$REDIRECT" --json)
taskset -c 0 "${C[@]}" serve --listen 127.0.0.1:8701 > /dev/null 2> "$WORK/server.log" &
PIDS+=("$!")
for _ in $(seq 1 600); do curl -sf http://127.0.0.1:8701/healthz > /dev/null 2>&1 && break; sleep 0.1; done

# run: one refresh run; prints "refreshes/s|p50 ms|p99 ms|bad".
run() {
  local out
  out=$(taskset -c 1 "$GEN" refresh 127.0.0.1:8701 --secs "$DUR" --warmup 2 --conns 32 \
    --client-id "$(jq -r .client_id <<<"$CODE")" --client-secret "$(jq -r .client_secret <<<"$CODE")" \
    --email "$EMAIL" --password "$PASSWORD" --redirect-uri "$REDIRECT" --scope "$SCOPE" 2> /dev/null)
  sed -n 's/.* bad=\([0-9]*\).* p50_ms=\([^ ]*\) p99_ms=\([^ ]*\).* ups=\([^ ]*\).*/\4|\2|\3|\1/p' <<<"$out"
}

# purging_run: inserts the expired rows, then runs while the upkeep deletes them; prints the
# run's line and "|purge seconds".
purging_run() {
  sql "$EXPIRED"
  local result
  run > "$WORK/run.out" &
  local gen=$!
  local start gone=""
  start=$(date +%s.%N)
  while kill -0 "$gen" 2>/dev/null; do
    if [[ -z "$gone" ]] && [[ "$(sql 'SELECT COUNT(*) FROM used_ids WHERE expires_at = 1')" == 0 ]]; then
      gone=$(date +%s.%N)
    fi
    sleep 0.5
  done
  wait "$gen"
  result=$(cat "$WORK/run.out")
  if [[ -z "$gone" ]]; then echo "the purge did not end within the run" >&2; exit 1; fi
  echo "$result|$(awk -v a="$start" -v b="$gone" 'BEGIN {printf "%.1f", b - a}')"
}

echo "Started: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), database ${DB%%:*}, $ROWS expired one-time ids per purge, upkeep every 5 s."
Q1=$(run); P1=$(purging_run); Q2=$(run); P2=$(purging_run)
echo "Load: $(uptime | sed 's/.*load average/load average/')"
echo
echo "| run | refreshes/s | p50 ms | p99 ms | unexpected answers | purge took (from insert to empty, upkeep every 5 s) |"
echo "|---|---|---|---|---|---|"
for row in "quiet, 1|$Q1|" "purging, 1|$P1" "quiet, 2|$Q2|" "purging, 2|$P2"; do
  IFS='|' read -r n r p50 p99 bad took <<<"$row"
  echo "| $n | $r | $p50 | $p99 | $bad | ${took:+$took s} |"
done
