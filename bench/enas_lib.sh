# Helpers shared by bench/enas.sh and bench/enas_topup.sh, sourced after the script has set:
# nas (its copy of the binary), both (thread flags for every run), budget (cpu or wall),
# retrain and retrain_at (how many retrainings, and the name of their setting), sizes (the
# retrainings' flags) and, before each `timed`, out_err (where the command's stderr goes).

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

# The best completed candidate of run $1 by validation accuracy, its architecture written to
# $2; prints "val_acc children macs".
best() {
    "$nas" show "$1" --json | python3 -c '
import json, sys
run = json.load(sys.stdin)
done = [c for c in run["candidates"] if c["status"] == "completed"]
best = max(done, key=lambda c: c["metrics"]["val_acc"]) if done else None
if best is not None:
    json.dump(best["arch"], open(sys.argv[1], "w"))
print("%.4f %d %d" % (best["metrics"]["val_acc"] if best else 0.0, len(done), best["macs"] if best else 0))' "$2"
}

# Lets the running process $1 go on until it has spent $2 seconds (CPU seconds, or wall seconds
# since it started at $3 when budget is wall), then stops it with Ctrl-C; sets `spent` to the
# CPU seconds it used.
stop_when_spent() {
    local pid=$1 limit=$2 start=$3 used
    spent=0
    while kill -0 "$pid" 2>/dev/null; do
        spent=$(cpu_of "$pid" 2>/dev/null || echo "$spent")
        used=$spent
        [[ "$budget" == wall ]] && used=$(echo "$(date +%s.%N) - $start" | bc)
        if (( $(echo "$used >= $limit" | bc) )); then
            kill -INT "$pid"
            break
        fi
        sleep 1
    done
    wait "$pid" || true
}

# One stand-alone training of architecture file $1 with seed $2, kept in $3, with the training
# flags that follow $4; prints its metric $4.
trained() {
    local arch=$1 seed=$2 out=$3 metric=$4
    shift 4
    "$nas" train --arch "$arch" "$@" --seed "$seed" --out "$out" --json "${both[@]}" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$metric"
}

# Mean and spread of the test accuracy of architecture file $1 over $retrain training seeds.
retrained() {
    local accs=()
    for s in $(seq 1 "$retrain"); do
        accs+=("$(trained "$1" "$((1000 + s))" "$1.$retrain_at-$s" test_acc "${sizes[@]}")")
    done
    python3 -c '
import statistics, sys
xs = [float(x) for x in sys.argv[1:]]
print("%.4f %.4f" % (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0))' "${accs[@]}"
}
