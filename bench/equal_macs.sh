#!/usr/bin/env bash
# Search spaces against each other at equal cost: for each seed and each space, one search of
# the shipped MNIST (default settings: 12 children of one epoch on 3,000 images, then the best
# retrained as a finalist on all 60,000) with every architecture over --max-macs rejected
# before training. Prints, per space and seed, the best child's validation accuracy, MACs and
# parameters, and its finalist's test accuracy (all 10,000 test images); then the mean and
# spread of the finalists' test accuracy per space.
#
# Usage: bench/equal_macs.sh [--spaces "mobile-cells resnet-cells"] [--seeds "0 1 2"]
#                            [--max-macs N] [--threads T] [--out DIR] [-- extra search flags]
set -euo pipefail

spaces="mobile-cells resnet-cells"
seeds="0 1 2"
max_macs=20000000
out=bench/.equal-macs
threads=()
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --spaces) spaces="$2"; shift 2 ;;
        --seeds) seeds="$2"; shift 2 ;;
        --max-macs) max_macs="$2"; shift 2 ;;
        --threads) threads=(--threads "$2"); export RAYON_NUM_THREADS="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release --quiet)
mkdir -p "$out"
cd "$out"
# a copy, so that rebuilding while the benchmark runs does not change its binary
nas="$PWD/nas-$$"
cp "$root/target/release/nas" "$nas"
trap 'rm -f "$nas"' EXIT

printf "%-14s %-5s %-9s %-8s %-8s %-10s %s\n" space seed best_val macs params final_test children
results=()
for seed in $seeds; do
    for space in $spaces; do
        run="$space-$seed-$(date +%s)"
        "$nas" search --space "$space" --seed "$seed" --max-macs "$max_macs" --run "$run" \
            --json "${threads[@]}" "${extra[@]}" >/dev/null 2>"$run.err"
        line=$("$nas" show "runs/$run" --json | python3 -c '
import json, sys
run = json.load(sys.stdin)
done = [c for c in run["candidates"] if c["status"] == "completed"]
best = max(done, key=lambda c: c["metrics"]["val_acc"])
fin = [c["finalist"]["test_acc"] for c in done if c.get("finalist") and "test_acc" in c["finalist"]]
print("%.4f %d %d %s %d" % (best["metrics"]["val_acc"], best["macs"], best["params"],
      "%.4f" % max(fin) if fin else "-", len(done)))')
        read -r val macs params fin n <<<"$line"
        printf "%-14s %-5s %-9s %-8s %-8s %-10s %s\n" "$space" "$seed" "$val" \
            "$((macs / 1000))k" "$params" "$fin" "$n"
        results+=("$space $fin")
    done
done
printf "%s\n" "${results[@]}" | python3 -c '
import collections, statistics, sys
by = collections.defaultdict(list)
for line in sys.stdin:
    space, acc = line.split()
    if acc != "-":
        by[space].append(float(acc))
for space, xs in by.items():
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    print("%-14s finalist test accuracy %.4f +- %.4f over %d seeds" % (space, statistics.mean(xs), sd, len(xs)))'
echo "max MACs $max_macs; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
