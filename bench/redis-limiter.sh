#!/usr/bin/env bash
# The Redis rate limiter against redis-benchmark running the same Lua script with the same
# arguments, on the same Redis, same concurrency (32), client pinned to the same core.
#
# * redis-benchmark: `EVALSHA <sha of check.lua> 2 <key of the 60 s window> <key of the
#   86 400 s window> 1000000000 1000000000 60000 86400000` — exactly the KEYS and ARGV the
#   limiter sends for a two-window policy (crates/castellan-limit/src/redis/mod.rs), with
#   `__rand_int__` over 10 000 values in the keys (-r 10000);
# * Castellan: crates/castellan-limit/examples/redis_load.rs — 32 concurrent tasks on a
#   multi-thread tokio runtime calling RedisLimiter::check (one EVALSHA each) over 10 000
#   keys, through the limiter's one multiplexed connection.
# Runs alternate (benchmark, driver, benchmark, driver). INFO commandstats deltas around each
# run show one round trip per check: EVALSHA calls == checks made.
#
# By default a private redis-server is started on port 8403, pinned to core 0, with clients on
# core 1 (so that nothing else on the machine touches its counters). REDIS_PORT=6379 uses an
# already running Redis on 127.0.0.1 instead (keys under castellan-bench:rl, nothing flushed).
# Usage: bench/redis-limiter.sh [checks per run, default 200000]. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200000}"
C=32
KEYS=10000
PREFIX="castellan-bench:rl"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# SKIP_BUILD=1 uses the binary already built (cargo waits for its lock while others build).
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p castellan-limit --example redis_load
DRIVER="$CARGO_TARGET_DIR/release/examples/redis_load"
PIDS=()
WORK="$(mktemp -d)"
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -n "${REDIS_PORT:-}" ]; then
  PORT="$REDIS_PORT"
  WHERE="the Redis already running on 127.0.0.1:$PORT (not pinned by this script)"
else
  PORT=8403
  if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
    echo "port $PORT is in use; stop whatever listens there first" >&2
    exit 1
  fi
  taskset -c 0 redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
  PIDS+=("$!")
  for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  WHERE="a private redis-server $(redis-server --version | awk '{print $3}' | tr -d 'v=') on 127.0.0.1:$PORT pinned to core 0"
fi
R=(redis-cli -h 127.0.0.1 -p "$PORT")
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SHA=$("${R[@]}" SCRIPT LOAD "$(cat crates/castellan-limit/src/redis/check.lua)")

stat() { # evalsha calls, evalsha failed+rejected, eval + script load calls
  "${R[@]}" INFO commandstats | tr -d '\r' | awk -F'[:,=]' '
    $1=="cmdstat_evalsha" {c=$3; for (i=2;i<NF;i++) if ($i=="rejected_calls"||$i=="failed_calls") f+=$(i+1)}
    $1=="cmdstat_eval" || $1=="cmdstat_script|load" {o+=$3}
    END {print c+0, f+0, o+0}'
}
delta() { # before after -> "evalsha failed others"
  read -r a1 b1 c1 <<<"$1"
  read -r a2 b2 c2 <<<"$2"
  echo "$((a2 - a1)) $((b2 - b1)) $((c2 - c1))"
}

bench_run() {
  local before after out rps p99
  before=$(stat)
  out=$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$C" -n "$N" -r "$KEYS" --csv \
    EVALSHA "$SHA" 2 "$PREFIX:{bench:k__rand_int__}:60" "$PREFIX:{bench:k__rand_int__}:86400" \
    1000000000 1000000000 60000 86400000)
  after=$(stat)
  rps=$(tail -n1 <<<"$out" | awk -F'","' '{print $2}')
  p99=$(tail -n1 <<<"$out" | awk -F'","' '{gsub("\"","",$7); print $7}')
  echo "$rps|$(awk -v p="$p99" 'BEGIN{printf "%.0f", p*1000}')|$N|$(delta "$before" "$after")"
}
driver_run() {
  local before after out rps p99 total fails
  before=$(stat)
  out=$(taskset -c 1 "$DRIVER" "redis://127.0.0.1:$PORT" --checks "$N" --concurrency "$C" \
    --keys "$KEYS" --prefix "$PREFIX")
  after=$(stat)
  rps=$(sed 's/.*checks_per_s=\([0-9]*\).*/\1/' <<<"$out")
  p99=$(sed 's/.*p99_us=\([0-9]*\).*/\1/' <<<"$out")
  total=$(sed 's/.*checks_total=\([0-9]*\).*/\1/' <<<"$out")
  fails=$(sed 's/.*failures=\([0-9]*\).*/\1/' <<<"$out")
  [ "$fails" = 0 ] || echo "warning: $fails limiter checks failed" >&2
  echo "$rps|$p99|$total|$(delta "$before" "$after")"
}

# Warm up (connections, script cache, keys), then alternate.
taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$C" -n 20000 -r "$KEYS" -q \
  EVALSHA "$SHA" 2 "$PREFIX:{bench:k__rand_int__}:60" "$PREFIX:{bench:k__rand_int__}:86400" \
  1000000000 1000000000 60000 86400000 >/dev/null
taskset -c 1 "$DRIVER" "redis://127.0.0.1:$PORT" --checks 20000 --concurrency "$C" \
  --keys "$KEYS" --prefix "$PREFIX" >/dev/null
B1=$(bench_run)
D1=$(driver_run)
B2=$(bench_run)
D2=$(driver_run)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

f() { cut -d'|' -f"$2" <<<"$1"; }
bmean=$(awk -v a="$(f "$B1" 1)" -v b="$(f "$B2" 1)" 'BEGIN{printf "%.0f", (a+b)/2}')
dmean=$(awk -v a="$(f "$D1" 1)" -v b="$(f "$D2" 1)" 'BEGIN{printf "%.0f", (a+b)/2}')
echo "Redis: $WHERE; clients on core 1; $C concurrent, $N checks per run, $KEYS keys"
echo "load average (1/5/15 min): $LOAD_START at start, $LOAD_END at end; $(nproc) CPUs"
echo "script: EVALSHA $SHA (crates/castellan-limit/src/redis/check.lua)"
echo
echo "| run | checks/s | p99 | checks made | EVALSHA calls (delta) | EVALSHA errors | EVAL / SCRIPT LOAD calls | ratio to redis-benchmark |"
echo "|---|---|---|---|---|---|---|---|"
for row in "redis-benchmark (1)|$B1" "castellan limiter, redis_load (1)|$D1" \
  "redis-benchmark (2)|$B2" "castellan limiter, redis_load (2)|$D2"; do
  name=${row%%|*}
  rest=${row#*|}
  IFS='|' read -r rps p99 made deltas <<<"$rest"
  read -r es ev other <<<"$deltas"
  ratio=$(awk -v r="$rps" -v b="$bmean" 'BEGIN{printf "%.2f", r/b}')
  p99ms=$(awk -v u="$p99" 'BEGIN{printf "%.2f ms", u/1000}')
  echo "| $name | $rps | $p99ms | $made | $es | $ev | $other | $ratio |"
done
echo
echo "- castellan limiter / redis-benchmark (means): $dmean / $bmean = **$(awk -v a="$dmean" -v b="$bmean" 'BEGIN{printf "%.2f", a/b}')x**; target >= 0.7x"
echo "- one round trip per check: EVALSHA calls (INFO commandstats delta) equal checks made (the driver's count includes its one warm-up check), with no EVAL or SCRIPT LOAD fallback"
