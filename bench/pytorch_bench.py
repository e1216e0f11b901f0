#!/usr/bin/env python3
"""PyTorch side of `nas bench train`: the same nets, layer for layer, trained with SGD
(momentum 0.9, weight decay 5e-4, lr 0.05, as nas's TrainConfig defaults) for the same warm-up
and timed steps at the same batch and thread count, then timed in eval mode under
torch.no_grad(), once in NCHW and once in channels_last; each net and layout in a process of
its own, whose peak resident memory (VmHWM) is reported beside the speed.

The four reference nets are written out here, mirroring src/bench/nets.rs (LeNet-5 from
src/zoo/lenet.rs, the small ResNet) and src/arch/lower.rs (dense and inception cells after a
conv-BN-ReLU stem); each net's parameter count is checked against the figure the Rust tests
assert. The other nets (a sampled child of each cell space, zoo nets at 3x32x32) are built
from their graphs, as `nas bench nets --json` prints them (--graphs FILE), and checked
against the parameter count nas gives there.

    python bench/pytorch_bench.py [--steps 20] [--warmup 3] [--threads T] [--net NAME]
        [--graphs FILE] [--json]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The parameter counts nas reports (src/bench/nets.rs tests).
EXPECTED_PARAMS = {"lenet5": 61_706, "residual": 42_938, "dense": 66_970, "inception": 4_154}
LR, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 5e-4


def conv_bn(cin, cout, kernel, stride=1):
    """Graph::conv_bn: a bias-free 'same' conv and batch norm."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)
    )


def conv_bn_relu(cin, cout, kernel, stride=1):
    """Graph::conv_bn_relu."""
    return nn.Sequential(conv_bn(cin, cout, kernel, stride), nn.ReLU(inplace=True))


class LeNet5(nn.Module):
    """src/zoo/lenet.rs at 1x32x32, 10 classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """nets.rs basic_block: conv3x3(stride)-BN-ReLU, conv3x3-BN, shortcut, add, ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn_relu(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout, 3)
        self.proj = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        return F.relu(self.b(self.a(x)) + shortcut)


class Residual(nn.Module):
    """nets.rs residual_net: 42,938 parameters at 1x28x28."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn_relu(1, 16, 3)
        self.blocks = nn.Sequential(
            BasicBlock(16, 16, 1), BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 32, 1)
        )
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean((2, 3)))


class DenseCell(nn.Module):
    """lower.rs Block::Dense: pre-activated BN-ReLU-conv1x1(4g)-BN-ReLU-convKxK(g) layers,
    each reading the concatenation of the cell input and all earlier layers."""

    def __init__(self, cin, growth, layers, kernel=3):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(layers):
            c = cin + i * growth
            self.layers.append(
                nn.Sequential(
                    nn.BatchNorm2d(c),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(c, 4 * growth, 1, bias=False),
                    nn.BatchNorm2d(4 * growth),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(4 * growth, growth, kernel, padding=kernel // 2, bias=False),
                )
            )
        self.out = cin + layers * growth

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            # Graph::concat passes a single input through unchanged.
            inp = features[0] if len(features) == 1 else torch.cat(features, 1)
            features.append(layer(inp))
        return torch.cat(features, 1)


class InceptionCell(nn.Module):
    """lower.rs inception(): 1x1 | 1x1-kxk | maxpool3-1x1 | 1x1-kxk-kxk, concatenated."""

    def __init__(self, cin, out, branches, kernel=3):
        super().__init__()
        base = out // branches
        widths = [base] * (branches - 1) + [out - base * (branches - 1)]
        self.branches = nn.ModuleList()
        for i, w in enumerate(widths):
            r = max(w // 2, 1)
            if i == 0:
                b = conv_bn_relu(cin, w, 1)
            elif i == 1:
                b = nn.Sequential(conv_bn_relu(cin, r, 1), conv_bn_relu(r, w, kernel))
            elif i == 2:
                b = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn_relu(cin, w, 1))
            else:
                b = nn.Sequential(
                    conv_bn_relu(cin, r, 1), conv_bn_relu(r, w, kernel), conv_bn_relu(w, w, kernel)
                )
            self.branches.append(b)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class TwoCells(nn.Module):
    """lower.rs for stem 16 and one stage of two cells, no reduction, no dropout."""

    def __init__(self, kind):
        super().__init__()
        self.stem = conv_bn_relu(1, 16, 3)
        if kind == "dense":
            c1 = DenseCell(16, 12, 4)
            c2 = DenseCell(c1.out, 12, 4)
            width = c2.out
            # Dense layers are pre-activated, so the last concatenation still needs BN-ReLU.
            self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        else:
            c1 = InceptionCell(16, 32, 4)
            c2 = InceptionCell(32, 32, 4)
            width = 32
            self.head = nn.Identity()
        self.cells = nn.Sequential(c1, c2)
        self.classifier = nn.Linear(width, 10)

    def forward(self, x):
        x = self.head(self.cells(self.stem(x)))
        return self.classifier(x.mean((2, 3)))


class GraphNet(nn.Module):
    """A nas graph (src/graph: node 0 the input, each node an op on earlier nodes, the last the
    logits) as PyTorch modules, one per node."""

    def __init__(self, graph):
        super().__init__()
        self.nodes = graph["nodes"]
        readers = [0] * len(self.nodes)
        for node in self.nodes:
            for i in node["inputs"]:
                readers[i] += 1
        self.readers = readers
        self.layers = nn.ModuleList(self.layer(node) for node in self.nodes)

    def channels(self, node_id):
        shape = self.nodes[node_id]["shape"]
        return shape[0] if isinstance(shape, list) else shape

    def layer(self, node):
        op, kind = node["op"], node["op"]["op"]
        cin = self.channels(node["inputs"][0]) if node["inputs"] else 0
        if kind == "conv":
            return nn.Conv2d(cin, op["out"], op["kernel"], op["stride"], op["padding"],
                             op["dilation"], op["groups"], bias=op["bias"])
        if kind == "batch_norm":
            return nn.BatchNorm2d(cin)
        if kind == "linear":
            return nn.Linear(cin, op["out"], bias=op["bias"])
        if kind == "max_pool":
            return nn.MaxPool2d(op["kernel"], op["stride"], op["padding"], ceil_mode=op["ceil"])
        if kind == "avg_pool":
            return nn.AvgPool2d(op["kernel"], op["stride"], op["padding"], ceil_mode=op["ceil"])
        if kind == "dropout":
            return nn.Dropout(op["p"])
        if kind == "silu":
            return nn.SiLU(inplace=True)
        if kind == "sigmoid":
            return nn.Sigmoid()
        if kind == "adaptive_avg_pool":
            return nn.AdaptiveAvgPool2d(op["size"])
        if kind in ("input", "relu", "relu6", "global_avg_pool", "concat", "add", "flatten",
                    "scale", "drop_path", "join"):
            return nn.Identity()
        raise SystemExit(f"pytorch_bench.py: no PyTorch op for nas op `{kind}`")

    def forward(self, x):
        values = [x] + [None] * (len(self.nodes) - 1)
        left = list(self.readers)
        for i, node in enumerate(self.nodes[1:], 1):
            kind, ins = node["op"]["op"], [values[j] for j in node["inputs"]]
            # in place only on a value no other node reads, as torchvision's ReLU(inplace=True)
            alone = node["inputs"][0] != 0 and self.readers[node["inputs"][0]] == 1
            if kind == "relu":
                y = F.relu(ins[0], inplace=alone)
            elif kind == "relu6":
                y = F.relu6(ins[0], inplace=alone)
            elif kind == "global_avg_pool":
                y = ins[0].mean((2, 3))
            elif kind == "concat":
                y = ins[0] if len(ins) == 1 else torch.cat(ins, 1)
            elif kind == "add":
                y = ins[0]
                for other in ins[1:]:
                    y = y + other
            elif kind == "flatten":
                y = torch.flatten(ins[0], 1)
            elif kind == "drop_path":
                y = drop_path(ins[0], node["op"]["p"], self.training)
            elif kind == "join":
                y = join(ins, node["op"]["p"], self.training)
            elif kind == "silu":
                y = F.silu(ins[0], inplace=alone)
            elif kind == "scale":
                # squeeze-and-excitation's product: the map times its per-channel gate
                y = ins[0] * ins[1]
            else:
                y = self.layers[i](ins[0])
            values[i] = y
            for j in node["inputs"]:
                left[j] -= 1
                if left[j] == 0:
                    values[j] = None
        return values[-1]


def drop_path(x, p, training):
    """Stochastic depth as nas's `drop_path`: each example's whole value zeroed with
    probability p, the kept ones scaled by 1 / (1 - p); identity in evaluation."""
    if not training or p == 0.0:
        return x
    keep = (torch.rand(x.shape[0], 1, 1, 1) >= p).to(x.dtype)
    return x * keep / (1.0 - p)


def join(xs, p, training):
    """FractalNet's join as nas's `join`: the mean of the inputs; in training each example
    drops each input with probability p, keeping at least one, and averages the kept."""
    if not training or p == 0.0 or len(xs) == 1:
        return sum(xs[1:], xs[0]) / len(xs)
    n = xs[0].shape[0]
    keep = (torch.rand(n, len(xs)) >= p)
    none = ~keep.any(1)
    keep[none, torch.randint(len(xs), (int(none.sum()),))] = True
    keep = keep.to(xs[0].dtype)
    total = sum(x * keep[:, i].view(n, 1, 1, 1) for i, x in enumerate(xs))
    return total / keep.sum(1).view(n, 1, 1, 1)


NETS = {
    "lenet5": (LeNet5, (1, 32, 32)),
    "residual": (Residual, (1, 28, 28)),
    "dense": (lambda: TwoCells("dense"), (1, 28, 28)),
    "inception": (lambda: TwoCells("inception"), (1, 28, 28)),
}


def random_batch(shape, b_sz, gen):
    xs = torch.rand((b_sz, *shape), generator=gen) * 2 - 1
    ys = torch.randint(0, 10, (b_sz,), generator=gen)
    return xs, ys


def time_net(name, args, channels_last):
    """Images/s of training and of inference for one fresh net in one memory layout."""
    build, shape = NETS[name]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = build()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    xs, ys = random_batch(shape, args.batch_size, gen)
    xs = xs.to(memory_format=fmt)
    model.train()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xs), ys)
        value = loss.item()
        loss.backward()
        opt.step()
        return value

    for _ in range(args.warmup):
        train_step()
    start = time.perf_counter()
    loss_sum = sum(train_step() for _ in range(args.steps))
    train_seconds = time.perf_counter() - start

    xs, _ = random_batch(shape, args.eval_batch_size, gen)
    xs = xs.to(memory_format=fmt)
    model.eval()
    batches = math.ceil(args.steps * args.batch_size / args.eval_batch_size)
    with torch.no_grad():
        for _ in range(args.warmup):
            model(xs).argmax(1).tolist()
        start = time.perf_counter()
        for _ in range(batches):
            model(xs).argmax(1).tolist()
        infer_seconds = time.perf_counter() - start
    return {
        "train_images_per_second": args.steps * args.batch_size / train_seconds,
        "infer_images_per_second": batches * args.eval_batch_size / infer_seconds,
        "train_seconds": train_seconds,
        "infer_seconds": infer_seconds,
        "loss": loss_sum / args.steps,
    }


def params(name):
    return sum(p.numel() for p in NETS[name][0]().parameters())


def add_graphs(path):
    """Adds the nets of `nas bench nets --json` that are not written out above, built from their
    graphs; returns nas's parameter count of each."""
    expected = {}
    for entry in json.load(open(path)):
        name = entry["name"]
        expected[name] = entry["params"]
        if name not in NETS:
            NETS[name] = ((lambda g: lambda: GraphNet(g))(entry["graph"]), tuple(entry["input"]))
    return expected


def peak_rss_bytes():
    """This process's peak resident memory (VmHWM), as nas reports its own."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def in_child(name, layout, args):
    """Times one net in one layout in a fresh process, so that its peak memory is its own."""
    cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--layout", layout,
           "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--batch-size", str(args.batch_size), "--eval-batch-size", str(args.eval_batch_size),
           "--threads", str(args.threads)]
    if args.graphs:
        cmd += ["--graphs", args.graphs]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--eval-batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--net", action="append", help="repeatable")
    parser.add_argument("--graphs", help="the JSON of `nas bench nets --json`")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--layout", choices=["nchw", "channels_last"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    expected = dict(EXPECTED_PARAMS)
    if args.graphs:
        expected.update(add_graphs(args.graphs))
    if args.one:
        timing = time_net(args.one, args, channels_last=args.layout == "channels_last")
        timing["peak_rss_bytes"] = peak_rss_bytes()
        print(json.dumps(timing))
        return
    names = args.net or list(NETS)
    for name in names:
        if name not in NETS:
            raise SystemExit(f"unknown net `{name}` (known: {', '.join(NETS)}; more with --graphs)")
        got = params(name)
        if got != expected[name]:
            raise SystemExit(f"{name}: {got} parameters, nas has {expected[name]}")
    nets = []
    for name in names:
        nchw = in_child(name, "nchw", args)
        cl = in_child(name, "channels_last", args)
        nets.append({"name": name, "params": params(name), "nchw": nchw, "channels_last": cl})
        if not args.json:
            print(
                f"{name:<10} {params(name):>7} params  train {nchw['train_images_per_second']:8.0f}"
                f" / {cl['train_images_per_second']:8.0f} img/s  infer"
                f" {nchw['infer_images_per_second']:8.0f} / {cl['infer_images_per_second']:8.0f}"
                " img/s (NCHW / channels_last)"
            )
    report = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "warmup": args.warmup,
        "batch_size": args.batch_size,
        "eval_batch_size": args.eval_batch_size,
        "nets": nets,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"torch {torch.__version__}, {report['threads']} threads")


if __name__ == "__main__":
    main()
