#!/usr/bin/env bash
# One ENAS setting against the reinforce runs an earlier `bench/enas.sh` left behind, without
# training those again: for each seed, ENAS runs anew with the given flags (one thread); the
# stored `reinforce` run of that seed is copied and resumed (exact resume: it continues as if
# never stopped) until it has used as many more CPU seconds as the new ENAS used beyond the old
# budget, then stopped with Ctrl-C. Each side's best by validation accuracy is retrained R times
# (seeds 1001..1000+R, one thread, the children's setting) and tested on all 10,000 test images,
# unless it is the architecture that side kept before, whose retrained mean the old table holds
# (same architecture, same seeds, one thread: the same trainings). A seed where the new ENAS used
# fewer CPU seconds than the stored reinforce run is marked `rl-over`: reinforce had the larger
# budget there.
#
# Usage: bench/enas_topup.sh --from DIR --table FILE --seeds "12 14" [--out DIR2] [--retrain R]
#                            [-- ENAS FLAGS]
# DIR is the earlier run's --out (it holds runs/rl-SEED-STAMP and the best architectures'
# files), FILE that run's printed table (its rows give the stored run's CPU seconds and both
# retrained means). The retraining must be the earlier one's (default: 10 seeds at the default
# children's setting, `bench/enas.sh --threads 1 --retrain 10`).
# Prints per seed: the new ENAS's CPU seconds, its best's recorded validation accuracy and the
# children it trained; reinforce's CPU seconds (stored + added), best and children; both
# retrained means (`old` where the best did not change) and their difference.
set -euo pipefail

from=""
table=""
seeds=""
out=""
retrain=10
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --from) from="$(cd "$2" && pwd)"; shift 2 ;;
        --table) table="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
        --seeds) seeds="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --retrain) retrain="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -n "$from" && -n "$table" && -n "$seeds" ]] || {
    echo "usage: bench/enas_topup.sh --from DIR --table FILE --seeds \"S ...\" [-- ENAS FLAGS]" >&2
    exit 2
}
child=(--epochs 1 --train-size 3000 --val-size 1000 --lr 0.2)

root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release --quiet)
out="${out:-$from/topup-$(date +%s)}"
mkdir -p "$out/runs"
cd "$out"
nas="$PWD/nas-$$"
cp "$root/target/release/nas" "$nas"
trap 'rm -f "$nas"' EXIT
export RAYON_NUM_THREADS=1
both=(--threads 1)
budget=cpu
retrain_at=child
sizes=("${child[@]}")
. "$root/bench/enas_lib.sh"

same() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])))' \
        "$1" "$2"
}

printf "%-5s %-9s %-9s %-7s %-15s %-9s %-7s %-14s %-14s %s\n" seed enas_cpu enas_val enas_n \
    rl_cpu rl_val rl_n enas_retrain rl_retrain difference
for seed in $seeds; do
    row=$(awk -v s="$seed" '$1 == s' "$table")
    [[ -n "$row" ]] || { echo "no row for seed $seed in $table" >&2; exit 2; }
    old_run=$(ls -d "$from/runs/rl-$seed-"* | head -1)
    stamp=${old_run##*-}
    old_cpu=$(awk '{ print $7 }' <<<"$row")
    old_e=$(awk '{ split($10, a, "[+]"); print a[1] }' <<<"$row")
    old_r=$(awk '{ split($11, a, "[+]"); print a[1] }' <<<"$row")

    out_err="enas-$seed.err"
    read -r _ ecpu < <(timed "$nas" search --space resnet-cells --strategy enas --seed "$seed" \
        --finalists 0 --run "enas-$seed" --json "${both[@]}" "${child[@]}" "${extra[@]}")
    read -r eacc en _ < <(best "runs/enas-$seed" "enas-$seed.arch.json")

    rm -rf "runs/rl-$seed"
    cp -r "$old_run" "runs/rl-$seed"
    more=$(echo "$ecpu - $old_cpu" | bc)
    rcpu=0 flag=""
    if (( $(echo "$more > 0" | bc) )); then
        "$nas" search --resume "runs/rl-$seed" --json "${both[@]}" >/dev/null 2>"rl-$seed.err" &
        stop_when_spent $! "$more" "$(date +%s.%N)"
        rcpu=$spent
    else
        flag=" rl-over"
    fi
    read -r racc rn _ < <(best "runs/rl-$seed" "rl-$seed.arch.json")

    if [[ "$(same "enas-$seed.arch.json" "$from/enas-$seed-$stamp.arch.json")" == True ]]; then
        eret="$old_e" enote=old
    else
        read -r eret _ < <(retrained "enas-$seed.arch.json"); enote=new
    fi
    if [[ "$(same "rl-$seed.arch.json" "$from/rl-$seed-$stamp.arch.json")" == True ]]; then
        rret="$old_r" rnote=old
    else
        read -r rret _ < <(retrained "rl-$seed.arch.json"); rnote=new
    fi
    printf "%-5s %-9s %-9s %-7s %-15s %-9s %-7s %-14s %-14s %+.2f%s\n" "$seed" "$ecpu" "$eacc" \
        "$en" "$old_cpu+$rcpu" "$racc" "$rn" "$eret $enote" "$rret $rnote" \
        "$(echo "100 * ($eret - $rret)" | bc -l)" "$flag"
done
