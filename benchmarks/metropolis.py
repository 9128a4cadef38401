"""Checkerboard Metropolis throughput: jaxrg vs a vectorised numpy and a one-thread numba checkerboard, side by side.

Attempted spin flips per nanosecond for L in {64, 256, 1024} and batch {1, 16}, after a warm-up (compilation excluded),
with ``block_until_ready``; every implementation is timed in the same run, interleaved, and the median of several
repetitions is kept, so the ratios are meaningful on a shared, noisy machine.

Usage: python benchmarks/metropolis.py [--quick] [--sizes 64 256 1024] [--batches 1 16] [--out PATH]
Writes benchmarks/results/metropolis-<host>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrg import ising
from jaxrg.simulation import batched_kernel

T_BENCH = 2.269185314213022  # near T_c: acceptance ~ 0.2, the representative regime


# --- jaxrg -----------------------------------------------------------------------------------------------------
def make_jaxrg(L: int, batch: int, sweeps: int):
    c = ising.couplings(np.full(batch, T_BENCH))
    init, step = batched_kernel("metropolis", c, 1)
    state = init(jax.random.key(0), ising.random_spins(jax.random.key(1), L, (batch, 1)))

    @jax.jit
    def run(key, state):
        def body(state, k):
            return step(k, state)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, sweeps))[0]

    holder = {"state": state, "i": 0}

    def go():
        holder["i"] += 1
        holder["state"] = run(jax.random.key(holder["i"]), holder["state"])
        jax.block_until_ready(holder["state"])

    return go


# --- numpy: full lattice, masks, vectorised, integer thresholds like jaxrg -----------------------------------------
def make_numpy(L: int, batch: int, sweeps: int):
    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(batch, L, L))
    i, j = np.indices((L, L))
    masks = [(i + j) % 2 == c for c in (0, 1)]
    K = 1.0 / T_BENCH
    thr = np.floor(np.minimum(1.0, np.exp(-2.0 * K * np.arange(-4, 5))) * 2.0**32).astype(np.uint64)
    thr = np.minimum(thr, 2**32 - 1).astype(np.uint32)  # indexed by s*n + 4; p = 1 entries effectively always pass

    def go():
        nonlocal s
        for _ in range(sweeps):
            for m in masks:
                n = np.roll(s, 1, 1) + np.roll(s, -1, 1) + np.roll(s, 1, 2) + np.roll(s, -1, 2)
                sn = (s * n + 4).astype(np.intp)
                r = rng.integers(0, 2**32, size=s.shape, dtype=np.uint32)
                flip = m & ((r < thr[sn]) | (sn <= 4))
                s = np.where(flip, -s, s).astype(np.int8)

    return go


# --- numba: one thread, site loop, xorshift RNG, precomputed thresholds -----------------------------------------
def make_numba(L: int, batch: int, sweeps: int):
    try:
        import numba
    except ImportError:  # bench-only dependency
        return None

    @numba.njit(cache=False, fastmath=True)
    def kernel(s, thr, sweeps, state):
        B, L, _ = s.shape
        x = state
        for _ in range(sweeps):
            for b in range(B):
                for c in range(2):
                    for i in range(L):
                        ip = (i + 1) % L
                        im = (i - 1) % L
                        for j in range((i + c) % 2, L, 2):
                            jp = j + 1 if j + 1 < L else 0
                            jm = j - 1 if j > 0 else L - 1
                            n = s[b, ip, j] + s[b, im, j] + s[b, i, jp] + s[b, i, jm]
                            sn = s[b, i, j] * n
                            if sn <= 0:
                                s[b, i, j] = -s[b, i, j]
                            else:
                                x ^= (x << np.uint64(13)) & np.uint64(0xFFFFFFFFFFFFFFFF)
                                x ^= x >> np.uint64(7)
                                x ^= (x << np.uint64(17)) & np.uint64(0xFFFFFFFFFFFFFFFF)
                                if (x >> np.uint64(32)) < thr[sn + 4]:
                                    s[b, i, j] = -s[b, i, j]
        return x

    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(batch, L, L))
    K = 1.0 / T_BENCH
    thr = np.minimum(np.floor(np.exp(-2.0 * K * np.arange(-4, 5)) * 2.0**32), 2**32 - 1).astype(np.uint64)
    state = {"x": np.uint64(88172645463325252)}
    kernel(s, thr, 1, state["x"])  # compile

    def go():
        state["x"] = kernel(s, thr, sweeps, state["x"])

    return go


def time_it(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="fewer sweeps and repeats (smoke run)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    repeats = 2 if args.quick else args.repeats

    rows = []
    for L in args.sizes:
        for B in args.batches:
            flips_per_sweep = L * L * B
            # aim at ~0.1-0.5 s per timed call for jaxrg; baselines get fewer sweeps (they are slower), same units.
            sweeps = max(2, int(2e7 / flips_per_sweep)) if not args.quick else 2
            base_sweeps = max(1, sweeps // 20)
            impls = {
                "jaxrg": (make_jaxrg(L, B, sweeps), sweeps),
                "numpy": (make_numpy(L, B, base_sweeps), base_sweeps),
                "numba": (make_numba(L, B, base_sweeps), base_sweeps),
            }
            for fn, _ in impls.values():
                if fn is not None:
                    fn()  # warm-up (compilation)
            row = {"L": L, "batch": B}
            for name, (fn, n) in impls.items():
                if fn is None:
                    row[name] = None
                    continue
                dt = time_it(fn, repeats)
                row[name] = flips_per_sweep * n / dt / 1e9
            row["ratio_vs_numpy"] = row["jaxrg"] / row["numpy"]
            row["ratio_vs_numba"] = row["jaxrg"] / row["numba"] if row["numba"] else None
            rows.append(row)
            print(
                f"L={L:5d} batch={B:3d}  jaxrg {row['jaxrg']:.4f}  numpy {row['numpy']:.4f}  "
                f"numba {row['numba'] or float('nan'):.4f} flips/ns  x{row['ratio_vs_numpy']:.1f} numpy  "
                f"x{row['ratio_vs_numba'] or float('nan'):.1f} numba",
                flush=True,
            )

    host = socket.gethostname()
    result = {
        "benchmark": "metropolis",
        "metric": "attempted spin flips per ns (median of repeats)",
        "temperature": T_BENCH,
        "device": str(jax.devices()[0].device_kind),
        "backend": jax.default_backend(),
        "host": host,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "load_average": os.getloadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"metropolis-{host}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, out)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
