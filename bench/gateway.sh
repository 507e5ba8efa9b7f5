#!/usr/bin/env bash
# Load benchmark of the gateway check: /forward-auth answering 200 for an `X-API-Key` on a
# route that needs a scope (nginx auth_request headers), beside a same-run baseline — a bare
# axum GET answering 200 (crates/castellan-server/examples/baseline_get.rs, same tokio
# runtime as `castellan serve`) — and a second reference, the same bare GET answering with the
# headers of a forward-auth 200 and sent the same request headers (examples/baseline_shape.rs):
# what the answer's shape alone costs, the most forward-auth could reach with no work of its own.
#
# Two API keys on the same server, alternated to cancel drift (off, limited, off, limited):
#   * "limited": tier `bench_two_windows` — a real two-window policy like seed 000's default
#     tier (1e9 / 60 s and 1e9 / 86 400 s: never refuses), counted by the in-process limiter;
#   * "off": tier `bench_off`, configured "off" — the limiter is not consulted and no
#     rate-limit header is sent (see bench/castellan-bench-gateway.toml).
#
# Servers are pinned to core 0 (taskset), wrk (1 thread, 32 connections) to core 1.
# Usage: bench/gateway.sh [seconds per run, default 10]. Prints a Markdown table; with
# PROFILE=1 also a flat perf profile of Castellan during one more forward-auth run.
# Needs wrk, curl and taskset. Ports 8401 (Castellan), 8402 (baseline), 8403 (answer shape).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
CPORT=8401
BPORT=8402
SPORT=8403
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# SKIP_BUILD=1 uses the binaries already built (cargo waits for its lock while others build).
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p castellan --bin castellan
  cargo build --release -q -p castellan-server --example baseline_get --example baseline_shape
fi
BIN="$CARGO_TARGET_DIR/release"
CONFIG="$PWD/bench/castellan-bench-gateway.toml"
for p in $CPORT $BPORT $SPORT; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/"; then
    echo "port $p is in use; stop whatever listens there first" >&2
    exit 1
  fi
done
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench/gateway.sh failed at line $LINENO; server log:" >&2; cat "$WORK/server.log" "$WORK/cli.log" >&2 2>/dev/null || true' ERR
export CASTELLAN_DATABASE="sqlite://$WORK/castellan.db"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# A client allowed catalog:read besides the administrative scopes, so that it may create a
# key carrying catalog:read (a key carries at most its creator's scopes).
CLIENT_JSON=$("$BIN/castellan" --config "$CONFIG" clients create --admin --name gateway-bench \
  --scope catalog:read --json 2>"$WORK/cli.log")
ID=$(sed 's/.*"client_id":"\([^"]*\)".*/\1/' <<<"$CLIENT_JSON")
SECRET=$(sed 's/.*"client_secret":"\([^"]*\)".*/\1/' <<<"$CLIENT_JSON")

taskset -c 0 "$BIN/castellan" --config "$CONFIG" serve --listen "127.0.0.1:$CPORT" \
  >"$WORK/serve.out" 2>"$WORK/server.log" &
CPID=$!
PIDS+=("$CPID")
# The first start creates the signing keys (an RSA key among them): give it time.
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$CPORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
taskset -c 0 "$BIN/examples/baseline_get" "127.0.0.1:$BPORT" >/dev/null &
PIDS+=("$!")
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$BPORT/" && break; sleep 0.1; done
taskset -c 0 "$BIN/examples/baseline_shape" "127.0.0.1:$SPORT" >/dev/null &
PIDS+=("$!")
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$SPORT/" && break; sleep 0.1; done

TOKEN=$(curl -sf -u "$ID:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$CPORT/oauth/token" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/')
new_key() { # tier
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"gateway bench $1\",\"scope\":\"catalog:read\",\"tier\":\"$1\"}" \
    "http://127.0.0.1:$CPORT/api-keys" | sed 's/.*"key":"\([^"]*\)".*/\1/'
}
KEY_LIMITED=$(new_key bench_two_windows)
KEY_MINIMAL=$(new_key bench_off)

script() { # file key
  cat >"$1" <<LUA
wrk.method = "GET"
wrk.headers["X-API-Key"] = "$2"
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["X-Original-URI"] = "/catalog/items?page=1"
LUA
}
script "$WORK/limited.lua" "$KEY_LIMITED"
script "$WORK/minimal.lua" "$KEY_MINIMAL"
FA="http://127.0.0.1:$CPORT/forward-auth"
BASE="http://127.0.0.1:$BPORT/catalog/items"
SHAPE="http://127.0.0.1:$SPORT/forward-auth"

# Every configuration answers 200 with the key's identity and its tier's headers.
for k in "$KEY_LIMITED" "$KEY_MINIMAL"; do
  head=$(curl -s -D - -o /dev/null -H "X-API-Key: $k" -H 'X-Original-Method: GET' \
    -H 'X-Original-URI: /catalog/items?page=1' "$FA")
  if ! grep -q '^HTTP/1.1 200' <<<"$head" || ! grep -qi '^x-castellan-scopes: catalog:read' <<<"$head"; then
    echo "forward-auth did not answer 200 with the key's identity:" >&2
    echo "$head" >&2
    exit 1
  fi
done
POLICY_LIMITED=$(curl -s -D - -o /dev/null -H "X-API-Key: $KEY_LIMITED" -H 'X-Original-Method: GET' \
  -H 'X-Original-URI: /catalog/items' "$FA" | awk -F': ' 'tolower($1)=="ratelimit-policy" {print $2}' | tr -d '\r')
POLICY_MINIMAL=$(curl -s -D - -o /dev/null -H "X-API-Key: $KEY_MINIMAL" -H 'X-Original-Method: GET' \
  -H 'X-Original-URI: /catalog/items' "$FA" | awk -F': ' 'tolower($1)=="ratelimit-policy" {print $2}' | tr -d '\r')

# Size of one answer's header block, Castellan's against the baseline's.
FA_HEAD=$(curl -s -D - -o /dev/null -H "X-API-Key: $KEY_LIMITED" -H 'X-Original-Method: GET' \
  -H 'X-Original-URI: /catalog/items' "$FA" | tr -d '\r')
BASE_HEAD=$(curl -s -D - -o /dev/null "$BASE" | tr -d '\r')
HEADERS_NOTE="forward-auth $(($(grep -c . <<<"$FA_HEAD") - 1)) headers, $(wc -c <<<"$FA_HEAD") bytes; baseline $(($(grep -c . <<<"$BASE_HEAD") - 1)) headers, $(wc -c <<<"$BASE_HEAD") bytes"

run() { # url [script]
  local out args=()
  [ -n "${2:-}" ] && args=(-s "$2")
  out=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" --latency "${args[@]}" "$1")
  local rps p99 non2xx sockerr
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  sockerr=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' <<<"$out")
  echo "$rps|$p99|$((${non2xx:-0} + ${sockerr:-0}))"
}

# Warm up both servers (connections, the key cache), then measure.
taskset -c 1 wrk -t1 -c32 -d3s -s "$WORK/limited.lua" "$FA" >/dev/null
taskset -c 1 wrk -t1 -c32 -d3s -s "$WORK/minimal.lua" "$FA" >/dev/null
taskset -c 1 wrk -t1 -c32 -d2s "$BASE" >/dev/null
taskset -c 1 wrk -t1 -c32 -d2s -s "$WORK/limited.lua" "$SHAPE" >/dev/null
B1=$(run "$BASE")
S1=$(run "$SHAPE" "$WORK/limited.lua")
M1=$(run "$FA" "$WORK/minimal.lua")
L1=$(run "$FA" "$WORK/limited.lua")
M2=$(run "$FA" "$WORK/minimal.lua")
L2=$(run "$FA" "$WORK/limited.lua")
S2=$(run "$SHAPE" "$WORK/limited.lua")
B2=$(run "$BASE")

# Exact status check: a short run whose script counts every answer that is not 200.
cat >"$WORK/verify.lua" <<LUA
wrk.method = "GET"
wrk.headers["X-API-Key"] = "$KEY_LIMITED"
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["X-Original-URI"] = "/catalog/items?page=1"
local threads = {}
function setup(thread) table.insert(threads, thread) end
answers, bad = 0, 0
response = function(status, headers, body)
  answers = answers + 1
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("answers"); b = b + t:get("bad") end
  io.write(string.format("verify|%d|%d\n", a, b))
end
LUA
VERIFY=$(taskset -c 1 wrk -t1 -c32 -d2s -s "$WORK/verify.lua" "$FA" | awk -F'|' '/^verify\|/ {print $2" answers, "$3" not 200"}')
# PROFILE=1: a flat perf profile of Castellan during one more forward-auth run.
PROFILE_OUT=""
if [ -n "${PROFILE:-}" ] && command -v perf >/dev/null; then
  taskset -c 1 wrk -t1 -c32 -d"$((DUR + 2))s" -s "$WORK/limited.lua" "$FA" >/dev/null &
  WRK=$!
  sleep 1
  perf record -q -F 1999 -p "$CPID" -o "$WORK/perf.data" -- sleep "$DUR" 2>/dev/null
  wait "$WRK"
  PROFILE_OUT=$(perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    awk '!/^#/ && NF && n < 40 {sub(/[ -]+$/, ""); print; n++}')
  PROFILE_DSO=$(perf report -i "$WORK/perf.data" --no-children --sort dso --stdio 2>/dev/null |
    awk '!/^#/ && NF && n < 8 {sub(/[ -]+$/, ""); print; n++}')
fi
RSS_KB=$(ps -o rss= -p "$CPID" | tr -d ' ')
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

field() { cut -d'|' -f"$2" <<<"$1"; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", (a+b)/2}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
base=$(mean "$(field "$B1" 1)" "$(field "$B2" 1)")
lim=$(mean "$(field "$L1" 1)" "$(field "$L2" 1)")
minimal=$(mean "$(field "$M1" 1)" "$(field "$M2" 1)")
shape=$(mean "$(field "$S1" 1)" "$(field "$S2" 1)")

echo "load average (1/5/15 min): $LOAD_START at start, $LOAD_END at end; $(nproc) CPUs; ${DUR} s per run"
echo
echo "| run | req/s | p99 | non-2xx + socket errors | ratio to baseline |"
echo "|---|---|---|---|---|"
for row in "baseline GET (before)|$B1" \
  "answer-shape reference: bare GET, forward-auth's headers (before)|$S1" \
  "forward-auth, key on a tier with the limiter off (1)|$M1" \
  "forward-auth, key on a two-window tier, limiter on (1)|$L1" \
  "forward-auth, key on a tier with the limiter off (2)|$M2" \
  "forward-auth, key on a two-window tier, limiter on (2)|$L2" \
  "answer-shape reference: bare GET, forward-auth's headers (after)|$S2" \
  "baseline GET (after)|$B2"; do
  name=${row%%|*}
  rest=${row#*|}
  IFS='|' read -r rps p99 bad <<<"$rest"
  echo "| $name | $rps | $p99 | $bad | $(div "$rps" "$base") |"
done
echo
echo "- forward-auth (two-window tier, mean of 2 runs): $lim req/s = **$(div "$lim" "$base")x** the baseline (mean $base req/s); target >= 0.8x, p99 < 2 ms"
echo "- answer-shape reference (checks nothing; same request and answer headers as forward-auth): $shape req/s = **$(div "$shape" "$base")x** the baseline; forward-auth reaches $(div "$lim" "$shape")x of it"
echo "- limiter on (two windows) / limiter off: $lim / $minimal = **$(div "$lim" "$minimal")x**; target >= 0.9x"
echo "- RateLimit-Policy answered: two-window tier \`$POLICY_LIMITED\`, tier with the limiter off \`${POLICY_MINIMAL:-(none)}\`"
echo "- status check (2 s, every answer inspected): $VERIFY"
echo "- answer header block: $HEADERS_NOTE"
echo "- Castellan RSS after the load: $((RSS_KB / 1024)) MiB"
if [ -n "$PROFILE_OUT" ]; then
  echo
  echo "perf profile of Castellan during a forward-auth run (self time by object, then the top 40 symbols):"
  echo '```'
  echo "$PROFILE_DSO"
  echo
  echo "$PROFILE_OUT"
  echo '```'
fi
