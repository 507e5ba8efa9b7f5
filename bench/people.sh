#!/usr/bin/env bash
# Load benchmark of the people flows (issue 3): the refresh-token grant, the full
# non-interactive authorization-code exchange (GET /oauth/authorize under a remembered consent,
# answered with a 302 carrying the code, then POST /oauth/token with the PKCE verifier) and the
# HTTP password login (one Argon2id verification each), beside a same-run baseline (a bare axum
# endpoint that checks a SHA-256 hash and signs an ES256 JWT:
# crates/castellan-server/examples/baseline_token.rs), measured before and after. The refresh
# grant and the code exchange alone are also measured against their own baseline, a bare
# handler making the same store calls and signatures on the same database
# (examples/baseline_grants.rs), the refresh with and without its ID token
# (token.id_token_on_refresh).
#
# Servers are pinned to core 0 (taskset); the load generator to core 1. The generator is
# crates/castellan-server/examples/people_load.rs (32 keep-alive connections, one loop each,
# one thread), used for the baseline too so the ratio is fair; a wrk run against the baseline
# shows whether the generator itself is the limit. Every answer other than the expected one is
# counted (non-2xx column) and examples are printed on standard error.
#
# Then the Argon2id criterion bench (crates/castellan-server/benches/passwords.rs), pinned to
# core 0: one verification's time gives logins per second per core.
#
# Usage: bench/people.sh [seconds per run, default 10] [--no-criterion]. Prints Markdown tables
# for bench/RESULTS-people.md. Needs taskset and jq; wrk for the generator check (optional).
# Ports 8301 and 8304 (Castellan; 8304 without the refresh's ID token), 8302 (baseline),
# 8303 and 8305 (refresh baselines). PEOPLE_DATABASE=postgres://… runs on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
CRITERION=1
[[ "${2:-}" == "--no-criterion" ]] && CRITERION=0
WARMUP=2
CONNS=32
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p castellan --bin castellan
cargo build --release -q -p castellan-server --example baseline_token --example people_load \
  --example baseline_grants
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

# Set-up with the command line, before the server starts: a person in one organization and a
# confidential client allowed the authorization-code and refresh grants.
CFG="$PWD/bench/castellan-bench-people.toml"
# PEOPLE_DATABASE=postgres://… runs on PostgreSQL (an empty database) instead of a SQLite file.
DB="${PEOPLE_DATABASE:-$WORK/castellan.db}"
C=("$BIN/castellan" --config "$CFG" --database "$DB")
EMAIL=bench@example.com
PASSWORD="bench-password-$RANDOM$RANDOM"
REDIRECT=http://127.0.0.1:8309/cb
SCOPE="openid offline_access profile email"
"${C[@]}" init --json > "$WORK/admin.json"
printf '%s\n' "$PASSWORD" | "${C[@]}" users create --email "$EMAIL" --name Bench --password-stdin --json > /dev/null
ORG=$("${C[@]}" orgs create --name "Bench org" --json | jq -r .id)
"${C[@]}" orgs add-member --org "$ORG" --user "$EMAIL" --role OWNER > /dev/null
CLIENT_JSON=$("${C[@]}" clients create --name "People bench" --scope "$SCOPE" \
  --grant-types authorization_code,refresh_token --redirect-uri "$REDIRECT" --json)
CLIENT_ID=$(jq -r .client_id <<<"$CLIENT_JSON")
CLIENT_SECRET=$(jq -r .client_secret <<<"$CLIENT_JSON")

taskset -c 0 "${C[@]}" serve --listen 127.0.0.1:8301 > "$WORK/serve.out" 2> "$WORK/server.log" &
CPID=$!
PIDS+=("$CPID")
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8301/healthz > /dev/null 2>&1 && break; sleep 0.1; done
taskset -c 0 "$BIN/examples/baseline_token" 127.0.0.1:8302 > /dev/null &
PIDS+=("$!")
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8302/ && break; sleep 0.1; done
# The user grants' own baseline (examples/baseline_grants.rs): the same store calls and
# signatures on the same database, rotating the families Castellan issued; and both again
# without the refresh's ID token (token.id_token_on_refresh = false, --no-id-token).
DB_URL="$DB"; [[ "$DB_URL" == postgres* ]] || DB_URL="sqlite://$DB"
taskset -c 0 "$BIN/examples/baseline_grants" 127.0.0.1:8303 "$DB_URL" "$CLIENT_ID" "$CLIENT_SECRET" > /dev/null &
PIDS+=("$!")
taskset -c 0 "$BIN/examples/baseline_grants" 127.0.0.1:8305 "$DB_URL" "$CLIENT_ID" "$CLIENT_SECRET" --no-id-token > /dev/null &
PIDS+=("$!")
CASTELLAN_TOKEN__ID_TOKEN_ON_REFRESH=false taskset -c 0 "${C[@]}" serve --listen 127.0.0.1:8304 > /dev/null 2>&1 &
PIDS+=("$!")
for port in 8303 8304 8305; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
IDLE_RSS_KB=$(ps -o rss= -p "$CPID" | tr -d ' ')
PEAK_RSS_KB=0

# Samples the server's RSS while a run lasts; leaves the peak in $WORK/peak.
sample_rss() {
  local peak=0 r
  while kill -0 "$1" 2>/dev/null && [[ ! -e "$WORK/stop" ]]; do
    r=$(ps -o rss= -p "$CPID" | tr -d ' ' || echo 0)
    (( r > peak )) && peak=$r
    echo "$peak" > "$WORK/peak"
    sleep 0.2
  done
}

# run <mode> <addr>: one generator run; prints "rps|p99|bad|units/s|unit p99|peak RSS MiB".
run() {
  local out line
  rm -f "$WORK/stop" "$WORK/peak"
  sample_rss "$CPID" &
  local sampler=$!
  out=$(taskset -c 1 "$GEN" "$1" "$2" "${@:3}" --secs "$DUR" --warmup "$WARMUP" --conns "$CONNS" \
    --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" --email "$EMAIL" \
    --password "$PASSWORD" --redirect-uri "$REDIRECT" --scope "$SCOPE" 2> "$WORK/gen.err") || true
  touch "$WORK/stop"
  wait "$sampler" 2>/dev/null || true
  sed 's/^/  generator: /' "$WORK/gen.err" >&2
  line=$(grep '^RESULT' <<<"$out" || echo "RESULT failed")
  echo "$line" >&2
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  local stopped bad
  stopped=$(field stopped_loops); bad=$(field bad)
  bad=$(( ${bad:-0} + ${stopped:-0} ))
  echo "$(field rps)|$(field p99_ms) ms|$bad|$(field ups)|$(field unit_p99_ms) ms|$(( $(cat "$WORK/peak" 2>/dev/null || echo 0) / 1024 ))"
}

WRK_ROW=""
if command -v wrk > /dev/null; then
  BBASIC=$(printf 'baseline:baseline-secret' | base64 -w0)
  cat > "$WORK/baseline.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BBASIC"
LUA
  W=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/baseline.lua" http://127.0.0.1:8302/token)
  WRK_ROW="$(awk '/Requests\/sec/ {print $2}' <<<"$W")|$(awk '$1=="99%" {print $2}' <<<"$W")|$(awk '/Non-2xx/ {print $5}' <<<"$W")"
fi

B1=$(run baseline 127.0.0.1:8302)
RB1=$(run refresh 127.0.0.1:8301 --load-addr 127.0.0.1:8303)
R=$(run refresh 127.0.0.1:8301)
RB2=$(run refresh 127.0.0.1:8301 --load-addr 127.0.0.1:8303)
NB1=$(run refresh 127.0.0.1:8304 --load-addr 127.0.0.1:8305)
N=$(run refresh 127.0.0.1:8304)
NB2=$(run refresh 127.0.0.1:8304 --load-addr 127.0.0.1:8305)
EB1=$(run exchange 127.0.0.1:8301 --load-addr 127.0.0.1:8303 --codes 800)
E=$(run exchange 127.0.0.1:8301 --codes 800)
EB2=$(run exchange 127.0.0.1:8301 --load-addr 127.0.0.1:8303 --codes 800)
X=$(run code 127.0.0.1:8301)
L=$(run login 127.0.0.1:8301)
B2=$(run baseline 127.0.0.1:8302)
LOADED_RSS_KB=$(ps -o rss= -p "$CPID" | tr -d ' ')
FAMILIES=$(sqlite3 "$DB" 'select count(*) from refresh_families' 2>/dev/null || echo "?")
DB_KB=$(du -k "$DB"* 2>/dev/null | awk '{s+=$1} END {print s+0}') || DB_KB=0
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()

base=$(awk -v a="${B1%%|*}" -v b="${B2%%|*}" 'BEGIN{print (a+b)/2}')
ratio() { awk -v r="$1" -v b="$base" 'BEGIN{ if (b > 0) printf "%.2f", r/b; else print "?" }'; }
echo "Load: $(uptime | sed 's/.*load average/load average/')"
echo
echo "| run | req/s | p99 (request) | non-2xx / unexpected | flows/s | p99 (flow) | ratio to baseline (req/s) | ratio (flows/s) | server peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
row() { # name, result, flow name
  IFS='|' read -r rps p99 bad ups up99 rss <<<"$2"
  if [[ -z "$3" ]]; then
    echo "| $1 | $rps | $p99 | $bad | | | $(ratio "$rps") | | ${rss} MiB |"
  else
    echo "| $1 | $rps | $p99 | $bad | $ups $3 | $up99 | $(ratio "$rps") | $(ratio "$ups") | ${rss} MiB |"
  fi
}
row "baseline (before)" "$B1" ""
row "castellan refresh_token grant (rotating, chained per connection)" "$R" "refreshes"
row "castellan code flow: GET /oauth/authorize (302) + POST /oauth/token" "$X" "exchanges"
row "castellan POST /login (Argon2id verify + session)" "$L" "logins"
row "baseline (after)" "$B2" ""
echo
echo "The refresh grant and the code exchange against their own baseline (the same store calls and"
echo "signatures in a bare handler, examples/baseline_grants.rs, on the same database):"
echo
echo "| run | grants/s | p99 | non-2xx | ratio to its baseline |"
echo "|---|---|---|---|---|"
own() { # name, result, baseline before, baseline after
  IFS='|' read -r rps p99 bad _ <<<"$2"
  local b
  b=$(awk -v a="${3%%|*}" -v c="${4%%|*}" 'BEGIN{print (a+c)/2}')
  echo "| $1 | $rps | $p99 | $bad | $(awk -v r="$rps" -v b="$b" 'BEGIN{ if (b > 0) printf "%.2f", r/b; else print "?" }') |"
}
own "refresh baseline, ES256 access + RS256 ID token (mean of before/after)" "$RB1" "$RB1" "$RB2"
own "castellan refresh_token grant (id_token_on_refresh = true, the default)" "$R" "$RB1" "$RB2"
own "refresh baseline, ES256 access token only (mean of before/after)" "$NB1" "$NB1" "$NB2"
own "castellan refresh_token grant (id_token_on_refresh = false)" "$N" "$NB1" "$NB2"
own "code exchange baseline, codes fetched from Castellan beforehand (mean of before/after)" "$EB1" "$EB1" "$EB2"
own "castellan code exchange alone (POST /oauth/token, codes fetched beforehand)" "$E" "$EB1" "$EB2"
if [[ -n "$WRK_ROW" ]]; then
  IFS='|' read -r wrps wp99 wbad <<<"$WRK_ROW"
  echo
  echo "Generator check: wrk -t1 -c$CONNS on the baseline: $wrps req/s, p99 $wp99, non-2xx ${wbad:-0} (ratio to the generator's baseline: $(ratio "$wrps"))."
fi
echo
echo "Castellan RSS: idle $((IDLE_RSS_KB / 1024)) MiB, after the runs $((LOADED_RSS_KB / 1024)) MiB; refresh families in the database: $FAMILIES; database size: $((DB_KB / 1024)) MiB."

if (( CRITERION )); then
  cargo bench -q -p castellan-server --bench passwords --no-run 2> /dev/null
  CB=$(taskset -c 0 cargo bench -q -p castellan-server --bench passwords -- --output-format bencher 2> /dev/null | grep '^test ')
  ns_of() { awk -v n="$1" '$2==n {gsub(",","",$5); print $5}' <<<"$CB"; }
  base_ns=$(ns_of baseline_sha256_secret_check)
  echo
  echo "Argon2id on one core (criterion, taskset -c 0):"
  echo
  echo "| bench | time per operation | per second per core | ratio to the SHA-256 secret check |"
  echo "|---|---|---|---|"
  while read -r _ name _ _ ns _; do
    ns=${ns//,/}
    awk -v name="$name" -v ns="$ns" -v b="$base_ns" 'BEGIN{
      t = (ns >= 1e6) ? sprintf("%.2f ms", ns/1e6) : (ns >= 1e3 ? sprintf("%.2f µs", ns/1e3) : sprintf("%.0f ns", ns));
      printf "| %s | %s | %.1f | %.0f× slower |\n", name, t, 1e9/ns, ns/b }'
  done <<<"$CB"
fi
