#!/usr/bin/env python3
"""The MiniTorch Module 4 sentiment network in PyTorch, for side-by-side timing and accuracy
with `minitorch sentiment`.

Data (the course's run_sentiment.py): GLUE SST-2 train.tsv / dev.tsv (header `sentence\\tlabel`),
the first --train training and --valid validation sentences, tokens from str.split(), every
sentence zero-padded to the longest of them, GloVe vectors (plain or gzipped text, `word v1 ... vD`
per line) for known words and one shared random vector 0.1*(rand-0.5) for unknown ones.

Network: input (B, L, D) permuted to (B, D, L); for each filter width k (3, 4, 5) a conv1d
D->100 with bias, MiniTorch-style (output width L, window anchored left, zeros past the end),
ReLU, max over time; the pooled (B, 100) maps summed; then the head:
  course:      Linear 100->1, dropout 0.25 (train only, no rescale), sigmoid;
  course-relu: Linear 100->1, ReLU, dropout 0.25, sigmoid (MiniTorch's run_sentiment.py);
  kim:         dropout 0.25 on the pooled features (inverted), Linear 100->1, sigmoid.
Loss -sum(log(p*y + (1-p)*(1-y) + 1e-6)) / B (MiniTorch's log is ln(x + 1e-6)). Plain SGD,
lr 0.01, batch 10, gradients zeroed before each step, sentences walked in file order; weights
and biases 0.1*(rand-0.5). Per epoch: training time, mean loss per batch, training accuracy
(dropout on) and validation accuracy.

With --optimizer adam (torch.optim.Adam, PyTorch's defaults) and --tune-vectors (the word
vectors, unknown-word row included, become a parameter; padding positions stay zero) it is
`minitorch sentiment --optimizer adam --tune-vectors`; --shuffle draws a new order each epoch.

Usage: python torch_sentiment.py --data DIR [--glove FILE] [--epochs 2] [--dtype float64]
       [--threads 2] [--train 450] [--valid 100] [--head course] [--optimizer sgd|adam]
       [--tune-vectors] [--shuffle]
DIR holds train.tsv and dev.tsv (or .gz); --glove defaults to DIR/glove.6B.50d.sst2-vocab.txt.gz.
"""
import argparse, gzip, os, time

import numpy as np
import torch
import torch.nn.functional as F


def open_text(path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")


def find(d, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise SystemExit(f"no {stem}(.gz) in {d}")


def read_sst2(path, n):
    with open_text(path) as f:
        header = f.readline().rstrip("\r\n")
        assert header == "sentence\tlabel", f"{path}: header {header!r}"
        rows = []
        for line in f:
            sentence, label = line.rstrip("\r\n").split("\t")
            rows.append((sentence, int(label)))
    return rows if n == "all" else rows[: int(n)]


def read_glove(path, vocab):
    vectors, dim = {}, None
    with open_text(path) as f:
        for line in f:
            parts = line.rstrip().split(" ")
            if dim is None:
                dim = len(parts) - 1
            if parts[0] in vocab and parts[0] not in vectors:
                vectors[parts[0]] = np.array(parts[1:], dtype=np.float64)
    return vectors, dim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--glove")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train", default="450")
    ap.add_argument("--valid", default="100")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--maps", type=int, default=100)
    ap.add_argument("--filters", default="3,4,5")
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--head", default="course", choices=["course", "course-relu", "kim"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    ap.add_argument("--tune-vectors", action="store_true")
    ap.add_argument("--shuffle", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    dt = getattr(torch, a.dtype)
    filters = [int(k) for k in a.filters.split(",")]

    t0 = time.perf_counter()
    train = read_sst2(find(a.data, "train.tsv"), a.train)
    valid = read_sst2(find(a.data, "dev.tsv"), a.valid)
    vocab = {w for s, _ in train + valid for w in s.split()}
    glove_path = a.glove or os.path.join(a.data, "glove.6B.50d.sst2-vocab.txt.gz")
    vectors, dim = read_glove(glove_path, vocab)
    print(f"read data and {len(vectors)} of {len(vocab)} GloVe vectors in "
          f"{time.perf_counter() - t0:.3f} s")
    unk = 0.1 * (rng.random(dim) - 0.5)
    length = max(len(s.split()) for s, _ in train + valid)

    # Token ids into one table: row 0 is padding (zero, masked), row 1 the unknown-word vector.
    index = {w: i + 2 for i, w in enumerate(sorted(w for w in vocab if w in vectors))}
    table = np.zeros((len(index) + 2, dim))
    table[1] = unk
    for w, i in index.items():
        table[i] = vectors[w]

    def encode(rows):
        x = np.zeros((len(rows), length), dtype=np.int64)
        for i, (s, _) in enumerate(rows):
            for j, w in enumerate(s.split()):
                x[i, j] = index.get(w, 1)
        return torch.tensor(x), torch.tensor([y for _, y in rows], dtype=dt)

    xt, yt = encode(train)
    xv, yv = encode(valid)
    emb = torch.tensor(table, dtype=dt).requires_grad_(a.tune_vectors)
    keep = torch.ones(len(table), 1, dtype=dt)
    keep[0] = 0

    def p(*shape):
        return (0.1 * (torch.rand(*shape, dtype=dt) - 0.5)).requires_grad_()

    convs = [(p(a.maps, dim, k), p(a.maps, 1)) for k in filters]
    w, b = p(a.maps, 1), p(1)
    params = [t for c in convs for t in c] + [w, b] + ([emb] if a.tune_vectors else [])
    adam = torch.optim.Adam(params, lr=a.lr) if a.optimizer == "adam" else None

    def conv(x, weight):  # MiniTorch conv1d: output width kept, window anchored left, zeros beyond
        return F.conv1d(F.pad(x, (0, weight.shape[2] - 1)), weight)

    def forward(ids, train):
        x = (emb * keep)[ids].permute(0, 2, 1)
        h = sum(F.relu(conv(x, cw) + cb).amax(dim=2) for cw, cb in convs)  # (B, maps)
        if a.head in ("course", "course-relu"):
            h = h @ w + b
            if a.head == "course-relu":
                h = F.relu(h)
            if train:
                h = h * (torch.rand_like(h) > a.dropout)
        else:
            if train:
                h = h * (torch.rand_like(h) > a.dropout) / (1 - a.dropout)
            h = h @ w + b
        return torch.sigmoid(h).view(-1)

    n = len(train)
    nb = (n + a.batch - 1) // a.batch
    best = 0.0
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        total, correct = 0.0, 0
        order = torch.randperm(n) if a.shuffle else torch.arange(n)
        for i in range(nb):
            rows = order[i * a.batch : (i + 1) * a.batch]
            x, y = xt[rows], yt[rows]
            out = forward(x, True)
            loss = -torch.log(out * y + (1 - out) * (1 - y) + 1e-6).sum() / len(y)
            for q in params:
                q.grad = None
            loss.backward()
            if adam is not None:
                adam.step()
            else:
                with torch.no_grad():
                    for q in params:
                        q -= a.lr * q.grad
            total += loss.item()
            correct += ((out > 0.5).to(dt) == y).sum().item()
        dt_epoch = time.perf_counter() - t0
        with torch.no_grad():
            acc = ((forward(xv, False) > 0.5).to(dt) == yv).double().mean().item() * 100
        best = max(best, acc)
        print(f"Epoch {epoch} loss {total / nb:.4f} train acc {100 * correct / n:.1f}% "
              f"valid acc {acc:.1f}% best valid {best:.1f}% time {dt_epoch:.3f} s "
              f"({dt_epoch / nb * 1e3:.3f} ms/batch, {a.dtype}, {a.threads} threads, {a.head} head)")


if __name__ == "__main__":
    main()
