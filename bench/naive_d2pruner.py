"""The naive D2Pruner a Python user writes: numpy, full N×N cosine matrix via BLAS, then the greedy walk.

Used only by `npm run bench` as the speed reference (never by tests or users). Reads a float32 feature file
and float32 importance/prior files written by the benchmark, times the selection, and prints one JSON line
with the timings and the kept indices (so the benchmark can check both implementations agree).

Usage: python3 bench/naive_d2pruner.py FEATURES IMPORTANCE PRIOR N D BUDGET RUNS
"""
import json
import sys
import time

import numpy as np


def d2pruner_naive(features, importance, prior, budget, pivot_ratio=0.7, threshold=0.8, eps=1e-7):
    scores = importance / (prior + eps)
    order = np.argsort(-scores, kind="stable")  # ties: lower index first
    n_pivots = int(np.floor(pivot_ratio * budget))
    pivots = order[:n_pivots]
    rest = order[n_pivots:]
    norms = np.linalg.norm(features, axis=1)
    safe = np.where(norms == 0, 1.0, norms)
    normalized = features / safe[:, None]
    sim = normalized[rest] @ normalized[rest].T  # full cosine matrix over the remaining tokens
    available = np.ones(len(rest), dtype=bool)
    chosen = []
    target = budget - n_pivots
    for r in range(len(rest)):
        if len(chosen) == target:
            break
        if not available[r]:
            continue
        chosen.append(r)
        later = np.arange(len(rest)) > r
        available &= ~(later & (sim[r] > threshold))
    if len(chosen) < target:
        chosen_set = set(chosen)
        for r in range(len(rest)):
            if len(chosen) == target:
                break
            if r not in chosen_set:
                chosen.append(r)
    return np.sort(np.concatenate([pivots, rest[np.array(chosen, dtype=np.int64)]]))


def main():
    feat_path, imp_path, prior_path, n, d, budget, runs = sys.argv[1:8]
    n, d, budget, runs = int(n), int(d), int(budget), int(runs)
    features = np.fromfile(feat_path, dtype="<f4").reshape(n, d)
    importance = np.fromfile(imp_path, dtype="<f4").astype(np.float64)
    prior = np.fromfile(prior_path, dtype="<f4").astype(np.float64)
    keep = d2pruner_naive(features, importance, prior, budget)
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        d2pruner_naive(features, importance, prior, budget)
        times.append((time.perf_counter() - start) * 1000)
    times = sorted(times[1:])  # first run is warm-up
    print(json.dumps({"median_ms": times[len(times) // 2], "min_ms": times[0], "max_ms": times[-1],
                      "runs": runs, "numpy": np.__version__, "keep": keep.tolist()}))


if __name__ == "__main__":
    main()
