#!/usr/bin/env bash
# nas vs PyTorch on the CPU, one command: training and inference images/s of the benchmark nets
# (`nas bench train`, `bench/pytorch_bench.py`) at the same steps, warm-up, batch and threads,
# and each side's peak resident memory per net (each net runs in a process of its own).
#
#   bench/compare.sh [--steps N] [--warmup W] [--threads T] [--rounds R] [--reference]
#                    [--net NAME]...
#
# --net (repeatable) times only those nets (default: all of `nas bench nets`). PyTorch builds the
# nets it does not write out from the graphs nas prints (`nas bench nets --json`).
# --rounds R (default 3) runs nas and PyTorch R times, alternating, and keeps each net's best
# round on each side: on a shared machine other load only ever slows a round down, so the best
# round is the one closest to what the code can do, and alternating gives both sides the same
# chances.
# --reference also times nas on candle's own ops (`--kernels reference`). Creates bench/.venv
# with torch from PyPI if it is missing. The JSON of each run is kept in a temporary folder,
# printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=20 warmup=3 threads=$(nproc) reference=0 rounds=3 nets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --net) nets+=(--net "$2"); shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --reference) reference=1; shift ;;
        *) echo "usage: $0 [--steps N] [--warmup W] [--threads T] [--rounds R] [--reference] [--net NAME]..." >&2; exit 2 ;;
    esac
done

venv=bench/.venv
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch numpy
fi

cargo build --release --quiet
nas="${CARGO_TARGET_DIR:-target}/release/nas"
out=$(mktemp -d)
common=(--steps "$steps" --warmup "$warmup" --threads "$threads" "${nets[@]}")
"$nas" bench nets --json >"$out/nets.json"

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds: timing nas (fast kernels)..." >&2
    "$nas" bench train "${common[@]}" --json >"$out/nas.$round.json"
    if [ "$reference" = 1 ]; then
        echo "round $round of $rounds: timing nas (reference kernels)..." >&2
        "$nas" bench train "${common[@]}" --kernels reference --json >"$out/nas-reference.$round.json"
    fi
    echo "round $round of $rounds: timing PyTorch (NCHW and channels_last)..." >&2
    "$venv/bin/python" bench/pytorch_bench.py "${common[@]}" --graphs "$out/nets.json" --json \
        >"$out/torch.$round.json" 2>"$out/torch.stderr"
done

"$venv/bin/python" - "$out" <<'EOF'
import json, os, sys

out = sys.argv[1]
KEYS = ("train_images_per_second", "infer_images_per_second")


def best(prefix):
    """The rounds' reports merged: for every net and figure, the best round's."""
    rounds = sorted(f for f in os.listdir(out) if f.startswith(prefix + ".") and f.endswith(".json"))
    if not rounds:
        return None
    reports = [json.load(open(os.path.join(out, f))) for f in rounds]
    merged = reports[0]
    for report in reports[1:]:
        for net, other in zip(merged["nets"], report["nets"]):
            for layouts in (["nchw", "channels_last"] if "nchw" in net else [None]):
                a, b = (net, other) if layouts is None else (net[layouts], other[layouts])
                for key in KEYS + ("train_gflops",):
                    if key in a:
                        a[key] = max(a[key], b[key])
                # memory is not load-dependent: the lowest round is the least disturbed one
                if a.get("peak_rss_bytes") and b.get("peak_rss_bytes"):
                    a["peak_rss_bytes"] = min(a["peak_rss_bytes"], b["peak_rss_bytes"])
        if merged.get("gemm_peak_gflops") and report.get("gemm_peak_gflops"):
            merged["gemm_peak_gflops"] = max(merged["gemm_peak_gflops"], report["gemm_peak_gflops"])
    merged["rounds"] = len(reports)
    return merged


nas, torch, ref = best("nas"), best("torch"), best("nas-reference")
torch_nets = {n["name"]: n for n in torch["nets"]}
ref_nets = {n["name"]: n for n in ref["nets"]} if ref else {}

for phase, key in [("training", "train_images_per_second"), ("inference", "infer_images_per_second")]:
    batch = nas["batch_size"] if phase == "training" else nas["eval_batch_size"]
    print(f"\n{phase} (batch {batch}), images/s")
    header = ["net", "params", "nas"] + (["nas ref"] if ref else [])
    header += ["torch NCHW", "torch CL", "nas/NCHW", "nas/CL"]
    rows = []
    for n in nas["nets"]:
        t = torch_nets[n["name"]]
        if t["params"] != n["params"]:
            sys.exit(f"{n['name']}: nas has {n['params']} parameters, PyTorch {t['params']}")
        ours, nchw, cl = n[key], t["nchw"][key], t["channels_last"][key]
        row = [n["name"], f"{n['params']:,}", f"{ours:,.0f}"]
        if ref:
            row.append(f"{ref_nets[n['name']][key]:,.0f}")
        row += [f"{nchw:,.0f}", f"{cl:,.0f}", f"{ours / nchw:.2f}", f"{ours / cl:.2f}"]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))

print("\npeak resident memory (each net in a process of its own), MB")
header = ["net", "nas", "torch NCHW", "torch CL", "nas/NCHW", "nas/CL"]
rows = []
mb = lambda b: b / (1 << 20) if b else float("nan")
for n in nas["nets"]:
    t = torch_nets[n["name"]]
    ours, nchw, cl = mb(n.get("peak_rss_bytes")), mb(t["nchw"].get("peak_rss_bytes")), mb(t["channels_last"].get("peak_rss_bytes"))
    rows.append([n["name"], f"{ours:,.0f}", f"{nchw:,.0f}", f"{cl:,.0f}", f"{ours / nchw:.2f}", f"{ours / cl:.2f}"])
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
for r in [header] + rows:
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
residual = next((n for n in nas["nets"] if n["name"] == "residual"), None)
if nas.get("gemm_peak_gflops") and residual:
    peak = nas["gemm_peak_gflops"]
    print(f"\nresidual training: {residual['train_gflops']:.1f} GFLOP/s, {100 * residual['train_gflops'] / peak:.0f}% "
          f"of the f32 GEMM peak measured by nas ({peak:.1f} GFLOP/s)")

print(
    f"\nthreads: nas {nas['threads']}, torch {torch['threads']} (torch {torch['torch']}); "
    f"{nas['steps']} timed steps after {nas['warmup']} warm-up; "
    f"inference {nas['infer_batches']} batches of {nas['eval_batch_size']}; "
    f"best of {nas['rounds']} alternating rounds"
)
print(f"JSON: {out}")
EOF
