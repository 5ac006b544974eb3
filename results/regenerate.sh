#!/bin/sh
# Redraws every figure and report in results/ from the committed CSVs.
# Usage: results/regenerate.sh [path/to/raftrtc]   (default: target/release/raftrtc)
set -eu
cd "$(dirname "$0")/.."
RAFTRTC="${1:-target/release/raftrtc}"

# The README's figure: cold up, both profiles, beside the Sep 2015 paper (which timed a cold
# start), and warm up beside the Dec 2015 paper (which timed a warm one).
"$RAFTRTC" plot results/process-default/up.csv results/process-paper/up.csv --out results/figures/headline --log
"$RAFTRTC" plot results/warm/process-default/up.csv results/warm/process-paper/up.csv --out results/figures/headline-warm --log
"$RAFTRTC" plot results/process-default/*.csv --out results/figures/process-default --log
"$RAFTRTC" plot results/process-paper/*.csv --out results/figures/process-paper
"$RAFTRTC" plot results/docker/*.csv --out results/figures/docker --log

"$RAFTRTC" report results/process-default/*.csv --markdown results/process-default/report.md
"$RAFTRTC" report results/process-paper/*.csv --markdown results/process-paper/report.md
"$RAFTRTC" report results/warm/process-default/*.csv results/warm/process-paper/*.csv --markdown results/warm/report.md
"$RAFTRTC" report results/docker/*.csv --markdown results/docker/report.md
"$RAFTRTC" report results/archive/warm-2026-11-24/process-default/*.csv --markdown results/archive/warm-2026-11-24/process-default/report.md
"$RAFTRTC" report results/archive/warm-2026-11-24/process-paper/*.csv --markdown results/archive/warm-2026-11-24/process-paper/report.md
"$RAFTRTC" report results/archive/warm-2026-11-24/docker/*.csv --markdown results/archive/warm-2026-11-24/docker/report.md

# Issue 13: the papers' experiments and the pause of the leader under three network conditions,
# one figure set per condition, one report for all (each condition its own sections).
for net in loopback lan wan; do
  "$RAFTRTC" plot results/net/$net/*.csv --out results/figures/net-$net --log
done
"$RAFTRTC" report results/net/*/*.csv --markdown results/net/report.md
"$RAFTRTC" report results/faults/*.csv --markdown results/faults/report.md

# Issue 17: the tally of the chaos runs.
"$RAFTRTC" report results/chaos/default/*.csv results/chaos/paper/*.csv --markdown results/chaos/tally.md
