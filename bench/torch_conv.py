#!/usr/bin/env python3
"""PyTorch reference for `minitorch bench conv`: conv2d forward + backward (input and weight
gradients) in float64 on the same shapes, the convolution MiniTorch computes (cross-correlation,
window anchored top-left, zero padding only on the bottom and right, output size = input size).

Usage: python torch_conv.py [--reps 20] [--threads 2] [--json]
Prints one line per shape: name, median milliseconds (or, with --json, one JSON object).
"""
import argparse, json, time

import torch
import torch.nn.functional as F

SHAPES = [
    ("mnist conv1 1→4", (16, 1, 28, 28), (4, 1, 3, 3)),
    ("mnist conv2 4→8", (16, 4, 28, 28), (8, 4, 3, 3)),
    ("64×16→32 28×28", (64, 16, 28, 28), (32, 16, 3, 3)),
]


def time_shape(inp, wt, reps):
    torch.manual_seed(1)
    x0 = torch.rand(inp, dtype=torch.float64)
    w0 = torch.rand(wt, dtype=torch.float64)
    g = torch.rand((inp[0], wt[0], inp[2], inp[3]), dtype=torch.float64)
    kh, kw = wt[2], wt[3]

    def run():
        x = x0.detach().requires_grad_(True)
        w = w0.detach().requires_grad_(True)
        # Pad right/bottom by K-1: same size, anchored top-left, as MiniTorch.
        out = F.conv2d(F.pad(x, (0, kw - 1, 0, kh - 1)), w)
        out.backward(g)
        return x.grad, w.grad

    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    result = {name: time_shape(i, w, a.reps) * 1e3 for name, i, w in SHAPES}
    if a.json:
        print(json.dumps({"torch": torch.__version__, "threads": a.threads, "ms": result}))
    else:
        for name, ms in result.items():
            print(f"{name:<18} {ms:10.3f} ms")


if __name__ == "__main__":
    main()
