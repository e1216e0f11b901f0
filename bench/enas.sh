#!/usr/bin/env bash
# Weight sharing against plain REINFORCE on the shipped MNIST, resnet-cells, default settings:
# for each seed, an ENAS search runs to the end; then a plain reinforce search of the same seed
# gets the same budget (CPU seconds by default, which a machine shared with other work does not
# distort; or wall seconds) and is stopped with Ctrl-C when it is spent. Prints, per seed, the
# stand-alone validation accuracy of ENAS's best derived candidate and of the best child the
# reinforce search finished, and the children each trained.
#
# Usage: bench/enas.sh [--seeds "0 1 2"] [--budget cpu|wall] [--threads T] [--out DIR]
#                      [-- extra enas flags]
# --threads T runs both searches on T threads (RAYON_NUM_THREADS and --threads); with T = 1,
# equal CPU seconds are equal wall seconds on a core of one's own.
# With --tau N, instead: one ENAS search that trains all N architectures it derives, and the
# Kendall tau between their shared-weight rating and stand-alone accuracy.
set -euo pipefail

seeds="0 1 2"
budget=cpu
out=bench/.enas
tau=""
threads=""
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --tau) tau="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
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
both=()
if [[ -n "$threads" ]]; then
    export RAYON_NUM_THREADS="$threads"
    both=(--threads "$threads")
fi
tick=$(getconf CLK_TCK)

# CPU seconds (user + system, all threads) of a running process.
cpu_of() { awk -v t="$tick" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$1/stat"; }

# Runs a command to the end; prints "wall cpu" seconds.
timed() {
    local start=$(date +%s.%N)
    "$@" >/dev/null 2>"$out_err" &
    local pid=$! cpu=0
    while kill -0 "$pid" 2>/dev/null; do
        cpu=$(cpu_of "$pid" 2>/dev/null || echo "$cpu")
        sleep 1
    done
    wait "$pid"
    echo "$(echo "$(date +%s.%N) - $start" | bc) $cpu"
}

best() {
    "$nas" show "$1" --json | python3 -c '
import json, sys
run = json.load(sys.stdin)
done = [c for c in run["candidates"] if c["status"] == "completed"]
acc = max(c["metrics"]["val_acc"] for c in done) if done else 0.0
print("%.4f %d" % (acc, len(done)))'
}

if [[ -n "$tau" ]]; then
    run="tau-$tau-$(date +%s)"
    out_err="$run.err"
    read -r wall cpu < <(timed "$nas" search --space resnet-cells --strategy enas --seed 0 \
        --enas-derive "$tau" --enas-top "$tau" --run "$run" --json "${both[@]}" "${extra[@]}")
    "$nas" show "$run"
    echo "wall ${wall}s, cpu ${cpu}s, load $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

printf "%-5s %-10s %-10s %-8s %-10s %-10s %-8s %s\n" seed enas_acc enas_cpu enas_wall rl_acc rl_cpu rl_wall rl_children
for seed in $seeds; do
    stamp=$(date +%s)
    out_err="enas-$seed-$stamp.err"
    read -r ewall ecpu < <(timed "$nas" search --space resnet-cells --strategy enas --seed "$seed" \
        --run "enas-$seed-$stamp" --json "${both[@]}" "${extra[@]}")
    read -r eacc _ < <(best "runs/enas-$seed-$stamp")
    limit=$ecpu
    [[ "$budget" == wall ]] && limit=$ewall
    start=$(date +%s.%N)
    "$nas" search --space resnet-cells --strategy reinforce --seed "$seed" --samples 100000 \
        --run "rl-$seed-$stamp" --json "${both[@]}" >/dev/null 2>"rl-$seed-$stamp.err" &
    pid=$!
    rcpu=0
    while kill -0 "$pid" 2>/dev/null; do
        rcpu=$(cpu_of "$pid" 2>/dev/null || echo "$rcpu")
        used=$rcpu
        [[ "$budget" == wall ]] && used=$(echo "$(date +%s.%N) - $start" | bc)
        if (( $(echo "$used >= $limit" | bc) )); then
            kill -INT "$pid"
            break
        fi
        sleep 1
    done
    wait "$pid" || true
    rwall=$(echo "$(date +%s.%N) - $start" | bc)
    read -r racc rn < <(best "runs/rl-$seed-$stamp")
    printf "%-5s %-10s %-10s %-8.0f %-10s %-10s %-8.0f %s\n" "$seed" "$eacc" "$ecpu" "$ewall" "$racc" "$rcpu" "$rwall" "$rn"
done
echo "budget: $budget; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
