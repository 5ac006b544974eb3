#!/bin/sh
# Redraws every figure and report in results/ from the committed CSVs.
# Usage: results/regenerate.sh [path/to/raftrtc]   (default: target/release/raftrtc)
set -eu
cd "$(dirname "$0")/.."
RAFTRTC="${1:-target/release/raftrtc}"

# The README's figure: up, both profiles, beside the papers.
"$RAFTRTC" plot results/process-default/up.csv results/process-paper/up.csv --out results/figures/headline --log
"$RAFTRTC" plot results/process-default/*.csv --out results/figures/process-default --log
"$RAFTRTC" plot results/process-paper/*.csv --out results/figures/process-paper
"$RAFTRTC" plot results/docker/*.csv --out results/figures/docker --log

"$RAFTRTC" report results/process-default/*.csv --markdown results/process-default/report.md
"$RAFTRTC" report results/process-paper/*.csv --markdown results/process-paper/report.md
"$RAFTRTC" report results/docker/*.csv --markdown results/docker/report.md
