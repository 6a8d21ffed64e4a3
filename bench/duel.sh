#!/usr/bin/env bash
# Two builds of the server (or a server and the floor) loaded at the same time, each by its own
# bench process, and their CPU compared over the same 15 s of the relay phase. On a shared VM whose
# speed drifts by 20% from minute to minute, this compares two variants of ours to within about 2%
# (a build against itself gave 1.008); it is not the measure of ours against the floor, which the
# bench's alternating rounds are (docs/performance.md, eighth session).
#
#   bench/duel.sh A B [rounds]
#
# A and B are kind:tree[:node flags], kind `ours` or `floor`, tree a checkout with `npm run build`
# and `tsc -p bench` done (its dist/ and dist-bench/). Ours runs with its tree's own `npm start`
# variables (the glibc ones) always, and its `npm start` Node flags unless the spec gives flags.
# DUEL_ENV_A="KEY=VALUE ..." adds variables to A's server process, DUEL_ENV_B to B's, whichever
# kind it is. The floor acts on RECONNECT_GRACE_MS, PING_INTERVAL_MS and PING_TIMEOUT_MS: all three
# (no defaults here, unlike the bench's --floor-recovery) turn on Socket.IO's own recovery
# (bench/bare-server.ts). DUEL_WARMUP_S (6) is how long the relay runs before the window: 40 puts it
# past the recovery log's first fill and first waves of confirmations, in the steady state.
# Prints, per round, the CPU ticks of each, B/A, and their minor page faults.
# DUEL_PERF=PREFIX also records both servers with `perf` over each window (on-CPU samples, so no
# time spent preempted is counted, and JIT code named exactly through Node's jitdump) into
# PREFIX.roundN, the dumps, their symbol files and each round's raw recording kept in
# PREFIX.jit/ (several MB a round); read one with
# `perf report -i PREFIX.round1 --no-children --sort pid,dso,sym` (docs/performance.md,
# fifteenth session). Under it the servers run in PREFIX.jit/, so a relative path among a spec's
# Node flags resolves there. The profiler's cost grows with the JIT code each side writes: the
# ticks of such rounds are not the duel's figures.
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-3} WARMUP=${DUEL_WARMUP_S:-6} PERF=${DUEL_PERF:-}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
# The servers start in command substitutions, outside this shell's jobs: killed by pid.
trap 'kill ${pa:-} ${pb:-} $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

# shipped TREE: two lines, the variables and the Node flags of TREE's `npm start`, read by the
# parser the bench uses (bench/shipped-node-flags.ts), so that no copy of them is kept here.
shipped() {
  (cd "$HERE"; node --input-type=module -e '
    import { readFileSync } from "node:fs"
    import { startScriptCommand } from "./dist-bench/bench/shipped-node-flags.js"
    const { env, flags } = startScriptCommand(JSON.parse(readFileSync(process.argv[1] + "/package.json", "utf8")).scripts.start)
    console.log(Object.entries(env).map(([name, value]) => `${name}=${value}`).join(" "))
    console.log(flags.join(" "))' "$1")
}

# With DUEL_PERF, Node writes its jitdump (jit-PID.dump) into its working directory: JIT_DIR.
JIT_DIR= PROFILING=
if [ -n "$PERF" ]; then
  command -v perf >/dev/null || { echo "DUEL_PERF needs perf (Debian's linux-perf)" >&2; exit 1; }
  mkdir -p "$PERF.jit"
  JIT_DIR=$(cd "$PERF.jit" && pwd)
  PERF=$(cd "$(dirname "$PERF")" && pwd)/$(basename "$PERF")
  PROFILING="--perf-prof --perf-prof-unwinding-info"
fi

# server_command SPEC EXTRA_ENV: how to start SPEC's server, resolved once, before any round, so that a
# tree whose `npm start` cannot be read stops the duel here rather than starting without flags.
server_command() {
  local kind tree flags lines dir
  IFS=: read -r kind tree flags <<<"$1"
  tree=$(cd "$tree" && pwd) || exit 1
  # Neither server reads a file relative to its working directory.
  dir=${JIT_DIR:-$tree}
  if [ "$kind" = ours ]; then
    mapfile -t lines < <(shipped "$tree")
    [ "${#lines[@]}" = 2 ] || { echo "cannot read the npm start of $tree" >&2; exit 1; }
    printf 'cd %q && exec env %s HOST=127.0.0.1 METRICS_PORT=0 %s node %s %s %q/dist/server.js\n' "$dir" "${lines[0]}" "$2" "$PROFILING" "${flags:-${lines[1]}}" "$tree"
  else
    printf 'cd %q && exec env %s node %s %s %q/dist-bench/bench/bare-server.js\n' "$dir" "$2" "$PROFILING" "$flags" "$tree"
  fi
}
COMMAND_A=$(server_command "$A" "${DUEL_ENV_A:-}")
COMMAND_B=$(server_command "$B" "${DUEL_ENV_B:-}")

# start COMMAND PORT: the server's pid
start() {
  PORT=$2 bash -c "$1" >"$WORK/$2.log" 2>&1 &
  echo $!
}
stat_field() { local s; s=$(cat "/proc/$1/stat"); s=${s#*) }; read -r -a f <<<"$s"; echo "${f[$2]}"; }
ticks() { echo $(( $(stat_field "$1" 11) + $(stat_field "$1" 12) )); }
faults() { stat_field "$1" 7; }

for round in $(seq "$ROUNDS"); do
  pa=$(start "$COMMAND_A" 5101)
  pb=$(start "$COMMAND_B" 5102)
  until grep -qs listening "$WORK/5101.log" && grep -qs listening "$WORK/5102.log"; do
    kill -0 "$pa" 2>/dev/null && kill -0 "$pb" 2>/dev/null || { tail -n 5 "$WORK"/510?.log >&2; exit 1; }
    sleep 0.2
  done
  for port in 5101 5102; do
    (cd "$HERE"; exec node dist-bench/bench/run.js --url "http://127.0.0.1:$port" --sockets 2000 --rates 3000 --duration $((WARMUP + 19)) --workers 1 >"$WORK/load-$port.txt" 2>&1) &
  done
  until grep -qs seated "$WORK/load-5101.txt" && grep -qs seated "$WORK/load-5102.txt"; do sleep 0.5; done
  sleep "$WARMUP"
  a0=$(ticks "$pa") b0=$(ticks "$pb") fa0=$(faults "$pa") fb0=$(faults "$pb")
  # -k 1: the clock Node's jitdump stamps code with, so that code moved or freed is named right.
  if [ -n "$PERF" ]; then perf record -q -k 1 -e cpu-clock -F 999 -g -p "$pa,$pb" -o "$JIT_DIR/round$round.raw" -- sleep 15
  else sleep 15; fi
  a1=$(ticks "$pa") b1=$(ticks "$pb") fa1=$(faults "$pa") fb1=$(faults "$pb")
  wait $(jobs -p | grep -v -e "^$pa\$" -e "^$pb\$") 2>/dev/null || true
  kill "$pa" "$pb"
  while [ -e "/proc/$pa" ] || [ -e "/proc/$pb" ]; do sleep 0.2; done
  echo "round $round: A $((a1 - a0)) ticks, B $((b1 - b0)) ticks, B/A $(awk "BEGIN { printf \"%.3f\", ($b1 - $b0) / ($a1 - $a0) }"); page faults A $((fa1 - fa0)), B $((fb1 - fb0))"
  if [ -n "$PERF" ]; then
    # A round whose recording cannot be read costs its profile, not the rounds after it.
    if perf inject --jit -i "$JIT_DIR/round$round.raw" -o "$PERF.round$round"; then
      echo "round $round: perf data $PERF.round$round (A is pid $pa, B is pid $pb)"
    else
      echo "round $round: perf inject failed; the recording is $JIT_DIR/round$round.raw" >&2
    fi
  fi
done
