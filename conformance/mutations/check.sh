#!/usr/bin/env bash
# Shows that the gate catches the extension bugs no impl-side perturbation can inject: each patch
# here makes raft-core make one bug flag's mistake. For each, in a scratch worktree, the patched
# impl must diverge from the correct model of its profile (exit 1), and, where the patch is the
# modelled mistake itself, conform to the model with that bug flag (exit 0).
#
#   conformance/mutations/check.sh [PATCH_NAME...]     (run by hand; a few minutes per patch)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
scratch="$(mktemp -d)"
trap 'git -C "$repo" worktree remove --force "$scratch/tree" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git -C "$repo" worktree add -q --detach "$scratch/tree" HEAD
cd "$scratch/tree"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/mutations}"

# patch name -> profile (and bounds beyond the profile's, where its CI bounds cannot reach the
# mistake), and whether the patched impl is exactly the bug flag of the same name.
declare -A profile=(
  [backtrack-past-conflict]=fast-backtrack
  [match-on-send]=pipelining
  [no-probe-after-rejection]=pipelining
  [timeout-now-to-lagging-target]=transfer
  [leader-counts-unwritten-entry]=persistence
  # A follower holds more than a snapshot it is sent only after a restart, with three messages
  # in flight (specs/model.md, Snapshots); the gate's walks reach it too.
  [snapshot-discards-matching-suffix]="snapshots --max-messages 3 --max-drops 0 --symmetry"
  [snapshot-keeps-conflicting-suffix]=snapshots
  [older-snapshot-accepted]="snapshots --max-messages 3 --max-drops 0 --symmetry"
)
declare -A same=(
  [backtrack-past-conflict]=yes
  [match-on-send]=yes
  [no-probe-after-rejection]=yes
  [timeout-now-to-lagging-target]=yes
  # The core has no one place where a leader takes input during its own write (the driver
  # keeps that rule); this patch loses the leader's write instead, which the check also sees.
  [leader-counts-unwritten-entry]=no
  [snapshot-discards-matching-suffix]=yes
  [snapshot-keeps-conflicting-suffix]=yes
  [older-snapshot-accepted]=yes
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(backtrack-past-conflict match-on-send no-probe-after-rejection \
  timeout-now-to-lagging-target leader-counts-unwritten-entry snapshot-discards-matching-suffix \
  snapshot-keeps-conflicting-suffix older-snapshot-accepted)

status=0
for name in "${names[@]}"; do
  [ -n "${profile[$name]:-}" ] || { echo "unknown patch: $name" >&2; exit 2; }
  git checkout -q -- .
  git apply "$here/$name.patch"
  cargo build --release -q --bin raft-conform
  conform="$CARGO_TARGET_DIR/release/raft-conform"
  set +e
  # shellcheck disable=SC2086 # the profile entry is a profile name and flags
  "$conform" exhaustive --protocol ${profile[$name]} --out "$scratch/out-$name" >"$scratch/log" 2>&1
  code=$?
  set -e
  steps="$(grep -o 'shortest trace: [0-9]* steps' "$scratch/log" | head -1)"
  if [ "$code" = 1 ]; then
    echo "$name: caught by exhaustive --protocol ${profile[$name]} ($steps)"
  else
    echo "$name: NOT caught by exhaustive --protocol ${profile[$name]} (exit $code)"
    status=1
  fi
  if [ "${same[$name]}" = yes ]; then
    set +e
    "$conform" exhaustive --bug "$name" >"$scratch/log" 2>&1
    code=$?
    set -e
    if [ "$code" = 0 ]; then
      echo "$name: conforms to the model with --bug $name (the same mistake)"
    else
      echo "$name: differs from the model with --bug $name (exit $code)"
      status=1
    fi
  fi
done
git checkout -q -- .
exit $status
