#!/usr/bin/env bash
# Weight sharing against plain REINFORCE on the shipped MNIST, resnet-cells, default settings:
# for each seed, an ENAS search runs to the end; then a plain reinforce search of the same seed
# gets the same budget (CPU seconds by default, which a machine shared with other work does not
# distort; or wall seconds) and is stopped with Ctrl-C when it is spent. Neither trains a
# finalist (--finalists 0): that retraining is the same for every strategy and not the search.
# Prints, per seed, the recorded validation accuracy of ENAS's best derived candidate and of the
# best child the reinforce search finished, and the children each trained. Then each of the two
# best architectures is trained stand-alone again (`nas train --arch`, the children's settings:
# by default one epoch of the same 3,000 images, learning rate 0.2) with R fresh seeds, and the
# mean test accuracy (all 10,000 test images) is printed: the recorded best of a search that
# trained 40 children is the largest of 40 noisy measurements and reads high, the retrained mean
# does not. The last column retrains ENAS's own answer, the derived candidate the shared weights
# rate best (Pham et al. retrain only that one), where it is not also the best by validation
# accuracy; otherwise it repeats the first.
# With --retrain-at finalist, the retraining is instead the finalist's: one epoch on the whole
# 55,000-image training split (about 270 s a time on one core), which is what a user keeps.
#
# Usage: bench/enas.sh [--seeds "0 1 2"] [--budget cpu|wall] [--threads T] [--out DIR]
#                      [--child FLAGS] [--retrain R] [--retrain-at child|finalist]
#                      [-- extra enas flags]
#        bench/enas.sh --tau N [--repeats R] [--threads T] [--out DIR] [--child FLAGS]
#                      [-- extra enas flags]
# --child FLAGS sets the children's training for both searches and for every stand-alone
# training at the children's setting (default "--epochs 1 --train-size 3000 --val-size 1000
# --lr 0.2", the search's defaults); e.g. --child "--epochs 2 --train-size 6000 --val-size 2000
# --lr 0.2" for children whose training the architecture decides more than the seed does.
# --threads T runs both searches on T threads (RAYON_NUM_THREADS and --threads); with T = 1,
# equal CPU seconds are equal wall seconds on a core of one's own.
# With --tau N, instead: one ENAS search that trains all N architectures it derives, and the
# Kendall tau between their shared-weight rating and stand-alone accuracy. With --repeats R
# (R >= 2), each of the N is trained stand-alone R - 1 more times with fresh seeds (validation
# accuracy on the search's own 1,000 images): the tau against the mean of the R trainings, and
# how much of the stand-alone variance lies between architectures rather than between seeds of
# one (the one-way intraclass correlation): a tau cannot rise above what that share allows.
set -euo pipefail

seeds="0 1 2"
budget=cpu
out=bench/.enas
tau=""
repeats=1
threads=""
retrain=3
retrain_at=child
child="--epochs 1 --train-size 3000 --val-size 1000 --lr 0.2"
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --tau) tau="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --retrain) retrain="$2"; shift 2 ;;
        --retrain-at) retrain_at="$2"; shift 2 ;;
        --child) child="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
read -ra child_flags <<<"$child"
case "$retrain_at" in
    child) sizes=("${child_flags[@]}") ;;
    finalist) sizes=(--epochs 1 --lr 0.2) ;;
    *) echo "--retrain-at: expected child or finalist, got $retrain_at" >&2; exit 2 ;;
esac

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
. "$root/bench/enas_lib.sh"

# The derived candidate of run $1 with the best shared-weight rating (ENAS's own pick, the one it
# retrains), written to $2; prints whether it is also the best by validation accuracy (same) or
# not (other).
shared_best() {
    "$nas" show "$1" --json | python3 -c '
import json, sys
run = json.load(sys.stdin)
done = [c for c in run["candidates"] if c["status"] == "completed"]
by_val = max(done, key=lambda c: c["metrics"]["val_acc"])
by_shared = max(done, key=lambda c: c["metrics"].get("shared_acc", -1.0))
json.dump(by_shared["arch"], open(sys.argv[1], "w"))
print("same" if by_shared["id"] == by_val["id"] else "other")' "$2"
}

if [[ -n "$tau" ]]; then
    run="tau-$tau-$(date +%s)"
    out_err="$run.err"
    read -r wall cpu < <(timed "$nas" search --space resnet-cells --strategy enas --seed 0 \
        --enas-derive "$tau" --enas-top "$tau" --finalists 0 --run "$run" --json "${both[@]}" \
        "${child_flags[@]}" "${extra[@]}")
    "$nas" show "$run"
    echo "wall ${wall}s, cpu ${cpu}s, load $(cut -d' ' -f1-3 /proc/loadavg)"
    (( repeats >= 2 )) || exit 0
    "$nas" show "$run" --json >"$run.json"
    ids=$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))["candidates"]:
    if c["status"] == "completed":
        json.dump(c["arch"], open("%s.%d.arch.json" % (sys.argv[2], c["id"]), "w"))
        print(c["id"])' "$run.json" "$run")
    : >"$run.repeats"
    for r in $(seq 2 "$repeats"); do
        for id in $ids; do
            arch="$run.$id.arch.json"
            # the repeats train as the search trained its children, whatever --retrain-at says
            echo "$id $(trained "$arch" "$((1000 + r))" "$arch.repeat-$r" val_acc \
                "${child_flags[@]}")" >>"$run.repeats"
        done
    done
    python3 - "$run.json" "$run.repeats" <<'PY'
import json, statistics as st, sys
run = json.load(open(sys.argv[1]))
shared, accs = {}, {}
for c in run["candidates"]:
    if c["status"] == "completed":
        shared[c["id"]] = c["metrics"]["shared_acc"]
        accs[c["id"]] = [c["metrics"]["val_acc"]]
for line in open(sys.argv[2]):
    i, acc = line.split()
    accs[int(i)].append(float(acc))
ids = sorted(shared)

def tau(x, y):
    """Kendall's tau-b."""
    c = d = tx = ty = 0
    for a in range(len(x)):
        for b in range(a + 1, len(x)):
            dx, dy = x[a] - x[b], y[a] - y[b]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                c += 1
            else:
                d += 1
    return (c - d) / (((c + d + tx) * (c + d + ty)) ** 0.5 or 1)

k = min(len(accs[i]) for i in ids)
means = [st.mean(accs[i][:k]) for i in ids]
within = st.mean(st.variance(accs[i][:k]) for i in ids)
between = st.variance(means) * k
icc = (between - within) / (between + (k - 1) * within)
print("%d architectures, %d stand-alone trainings each" % (len(ids), k))
print("tau(shared, first training) = %.3f" % tau([shared[i] for i in ids], [accs[i][0] for i in ids]))
print("tau(shared, mean of %d) = %.3f" % (k, tau([shared[i] for i in ids], means)))
print("stand-alone: spread of the means %.2f points, seed-to-seed sd within one architecture %.2f"
      % (100 * st.stdev(means), 100 * within ** 0.5))
print("intraclass correlation of one training: %.2f (share of its variance between architectures)" % icc)
PY
    exit 0
fi

printf "%-5s %-9s %-9s %-8s %-6s %-9s %-9s %-8s %-6s %-17s %-17s %s\n" seed enas_val enas_cpu \
    enas_wall mmacs rl_val rl_cpu rl_wall rl_n enas_retrain rl_retrain enas_shared_retrain
for seed in $seeds; do
    stamp=$(date +%s)
    out_err="enas-$seed-$stamp.err"
    read -r ewall ecpu < <(timed "$nas" search --space resnet-cells --strategy enas --seed "$seed" \
        --finalists 0 --run "enas-$seed-$stamp" --json "${both[@]}" "${child_flags[@]}" \
        "${extra[@]}")
    read -r eacc _ emacs < <(best "runs/enas-$seed-$stamp" "enas-$seed-$stamp.arch.json")
    limit=$ecpu
    [[ "$budget" == wall ]] && limit=$ewall
    start=$(date +%s.%N)
    "$nas" search --space resnet-cells --strategy reinforce --seed "$seed" --samples 100000 \
        --finalists 0 --run "rl-$seed-$stamp" --json "${both[@]}" "${child_flags[@]}" \
        >/dev/null 2>"rl-$seed-$stamp.err" &
    stop_when_spent $! "$limit" "$start"
    rcpu=$spent
    rwall=$(echo "$(date +%s.%N) - $start" | bc)
    read -r racc rn rmacs < <(best "runs/rl-$seed-$stamp" "rl-$seed-$stamp.arch.json")
    read -r eret esd < <(retrained "enas-$seed-$stamp.arch.json")
    read -r rret rsd < <(retrained "rl-$seed-$stamp.arch.json")
    # ENAS's own answer, the derived candidate the shared weights rate best, where it differs
    same=$(shared_best "runs/enas-$seed-$stamp" "enas-$seed-$stamp.shared.arch.json")
    sret=$eret sd=$esd
    if [[ "$same" == other ]]; then
        read -r sret sd < <(retrained "enas-$seed-$stamp.shared.arch.json")
    fi
    printf "%-5s %-9s %-9s %-8.0f %-6s %-9s %-9s %-8.0f %-6s %-17s %-17s %s\n" "$seed" "$eacc" "$ecpu" \
        "$ewall" "$((emacs / 1000000))/$((rmacs / 1000000))" "$racc" "$rcpu" "$rwall" "$rn" \
        "$eret+-$esd" "$rret+-$rsd" "$sret+-$sd"
done
echo "budget: $budget; retrained at the $retrain_at setting with $retrain seeds; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
