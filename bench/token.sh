#!/usr/bin/env bash
# Load benchmark of the client_credentials token endpoint and JWT introspection, beside a
# same-run baseline (a bare axum endpoint that checks a SHA-256 hash and signs an ES256 JWT:
# crates/castellan-server/examples/baseline_token.rs), and an answer-shape reference: that
# baseline giving the answer Castellan gives (claims of Castellan's sizes, `scope` and
# `created_at`, the rate-limit, cache and security headers; examples/baseline_token_shape.rs).
#
# Servers are pinned to core 0 (taskset), the load generator (wrk, 32 connections) to core 1.
# Usage: bench/token.sh [seconds per run, default 15]. Prints a Markdown table for
# bench/RESULTS.md, then alternated pairs (PAIRS, PAIR_SECONDS) and concurrent runs
# (CONCURRENT, CONCURRENT_SECONDS; see below). Needs wrk (Debian package) and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-15}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p castellan --bin castellan
cargo build --release -q -p castellan-server --example baseline_token --example baseline_token_shape
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -f "serve --listen 127.0.0.1:8201" || true; pkill -f "baseline_token 127.0.0.1:8202" || true; pkill -f "baseline_token_shape 127.0.0.1:8203" || true; rm -rf "$WORK"' EXIT

# Castellan on an empty SQLite database, one core.
(cd "$WORK" && taskset -c 0 "$BIN/castellan" --config "$OLDPWD/bench/castellan-bench.toml" serve --listen 127.0.0.1:8201 > creds.txt 2> server.log) &
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8201/healthz >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
ID=$(awk '/client_id:/ {print $2}' "$WORK/creds.txt")
SECRET=$(awk '/client_secret:/ {print $2}' "$WORK/creds.txt")
PID=$(pgrep -f "serve --listen 127.0.0.1:8201" | head -n1)
IDLE_RSS_KB=$(ps -o rss= -p "$PID" | tr -d ' ')

taskset -c 0 "$BIN/examples/baseline_token" 127.0.0.1:8202 > /dev/null &
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8202/ && break; sleep 0.1; done
taskset -c 0 "$BIN/examples/baseline_token_shape" 127.0.0.1:8203 > /dev/null &
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8203/ && break; sleep 0.1; done

BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)
# The token run uses a client with one scope, as the baseline's token carries (the bootstrap
# admin's six scopes would make a longer token to sign and send).
ADMIN_TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials http://127.0.0.1:8201/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
ONE=$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"bench","scope":"products:read"}' http://127.0.0.1:8201/api-clients)
ONE_ID=$(sed 's/.*"id":"\([^"]*\)".*/\1/' <<<"$ONE")
ONE_SECRET=$(sed 's/.*"secret":"\([^"]*\)".*/\1/' <<<"$ONE")
ONE_BASIC=$(printf '%s:%s' "$ONE_ID" "$ONE_SECRET" | base64 -w0)
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $ONE_BASIC"
LUA
TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials http://127.0.0.1:8201/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
cat > "$WORK/introspect.lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$TOKEN"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
LUA
BBASIC=$(printf 'baseline:baseline-secret' | base64 -w0)
cat > "$WORK/baseline.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BBASIC"
LUA

run() { # name url script
  local out
  out=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" --latency -s "$2" "$1")
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps|$p99|${non2xx:-0}"
}

# Warm up, then measure baseline, token, introspection, baseline again (drift check).
taskset -c 1 wrk -t1 -c32 -d3s -s "$WORK/post.lua" http://127.0.0.1:8201/oauth/token > /dev/null
B1=$(run http://127.0.0.1:8202/token "$WORK/baseline.lua")
S=$(run http://127.0.0.1:8203/token "$WORK/baseline.lua")
T=$(run http://127.0.0.1:8201/oauth/token "$WORK/post.lua")
I=$(run http://127.0.0.1:8201/oauth/introspect "$WORK/introspect.lua")
B2=$(run http://127.0.0.1:8202/token "$WORK/baseline.lua")
LOADED_RSS_KB=$(ps -o rss= -p "$PID" | tr -d ' ')

base=$(awk -F'|' -v a="$B1" -v b="$B2" 'BEGIN{split(a,x,"|"); split(b,y,"|"); print (x[1]+y[1])/2}')
ratio() { awk -v r="$1" -v b="$base" 'BEGIN{printf "%.2f", r/b}'; }
echo "| run | req/s | p99 | non-2xx | ratio to baseline |"
echo "|---|---|---|---|---|"
for row in "baseline (before)|$B1" "answer-shape reference (baseline giving Castellan's answer)|$S" "castellan /oauth/token|$T" "castellan /oauth/introspect (JWT)|$I" "baseline (after)|$B2"; do
  name=${row%%|*}; rest=${row#*|}
  IFS='|' read -r rps p99 bad <<<"$rest"
  echo "| $name | $rps | $p99 | $bad | $(ratio "$rps") |"
done
echo
echo "idle RSS: $((IDLE_RSS_KB / 1024)) MiB; after load: $((LOADED_RSS_KB / 1024)) MiB"

# Alternated pairs (baseline, then Castellan, PAIRS times, PAIR_SECONDS each): on a machine
# whose speed drifts within a minute, the ratio of neighbouring runs is steadier than the
# ratio of single runs; the median of the pairs is the figure to quote.
PAIRS="${PAIRS:-6}"
PAIR_SECONDS="${PAIR_SECONDS:-5}"
if [ "$PAIRS" -gt 0 ]; then
  RATIOS=()
  for i in $(seq 1 "$PAIRS"); do
    b=$(DUR=$PAIR_SECONDS run http://127.0.0.1:8202/token "$WORK/baseline.lua" | cut -d'|' -f1)
    t=$(DUR=$PAIR_SECONDS run http://127.0.0.1:8201/oauth/token "$WORK/post.lua" | cut -d'|' -f1)
    RATIOS+=("$(awk -v t="$t" -v b="$b" 'BEGIN{printf "%.3f", t/b}')")
    echo "pair $i: baseline $b, castellan $t tokens/s"
  done
  MEDIAN=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f", (a[NR/2]+a[NR/2+1])/2}')
  echo "alternated pairs, castellan / baseline: ${RATIOS[*]}; median **$MEDIAN** (target >= 0.9)"
fi

# Concurrent runs (CONCURRENT times, CONCURRENT_SECONDS each): the baseline and Castellan are
# loaded at the same time, both pinned to core 0, each by its own wrk (32 connections) on core
# 1. The scheduler gives each about half of the core, so a drift in the machine's speed hits
# both alike. Each server's CPU time comes from /proc/<pid>/stat; the figure is the
# baseline's CPU time per token over Castellan's: Castellan's tokens per CPU second as a
# share of the baseline's.
CONCURRENT="${CONCURRENT:-5}"
CONCURRENT_SECONDS="${CONCURRENT_SECONDS:-5}"
if [ "$CONCURRENT" -gt 0 ]; then
  BPID=$(pgrep -f "baseline_token 127.0.0.1:8202" | head -n1)
  ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  CRATIOS=()
  for i in $(seq 1 "$CONCURRENT"); do
    b0=$(ticks "$BPID"); c0=$(ticks "$PID")
    taskset -c 1 wrk -t1 -c32 -d"${CONCURRENT_SECONDS}s" -s "$WORK/baseline.lua" http://127.0.0.1:8202/token > "$WORK/cb.out" &
    WB=$!
    taskset -c 1 wrk -t1 -c32 -d"${CONCURRENT_SECONDS}s" -s "$WORK/post.lua" http://127.0.0.1:8201/oauth/token > "$WORK/cc.out"
    wait "$WB"
    b1=$(ticks "$BPID"); c1=$(ticks "$PID")
    nb=$(awk '/requests in/ {print $1}' "$WORK/cb.out"); nc=$(awk '/requests in/ {print $1}' "$WORK/cc.out")
    r=$(awk -v nb="$nb" -v nc="$nc" -v cb=$((b1 - b0)) -v cc=$((c1 - c0)) 'BEGIN{printf "%.3f", (cb / nb) / (cc / nc)}')
    CRATIOS+=("$r")
    tck=$(getconf CLK_TCK)
    awk -v nb="$nb" -v nc="$nc" -v cb=$((b1 - b0)) -v cc=$((c1 - c0)) -v t="$tck" -v i="$i" -v r="$r" 'BEGIN{printf "concurrent %d: baseline %d tokens, %.1f us CPU each; castellan %d tokens, %.1f us CPU each; ratio %s\n", i, nb, cb / t / nb * 1e6, nc, cc / t / nc * 1e6, r}'
  done
  CMEDIAN=$(printf '%s\n' "${CRATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f", (a[NR/2]+a[NR/2+1])/2}')
  echo "concurrent, baseline CPU per token / castellan CPU per token: ${CRATIOS[*]}; median **$CMEDIAN** (target >= 0.9)"
fi
