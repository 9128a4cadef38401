"""Checkerboard Metropolis throughput: jaxrg's int8 and bit-packed kernels vs numpy and numba, side by side.

Attempted spin flips per nanosecond for L in {64, 256, 1024} and batch {1, 16}, after a warm-up (compilation excluded),
with ``block_until_ready``. Implementations: ``jaxrg`` (int8 kernel, :func:`jaxrg.metropolis`), ``bitpacked``
(:func:`jaxrg.sampling.bitpacked.bitpacked_metropolis`, one bit per spin), a vectorised numpy checkerboard and a
one-thread numba checkerboard. All are timed in the same run, interleaved repetition by repetition, and the median is
kept, so the ratios are meaningful on a shared, noisy machine. Besides wall-clock flips/ns every row records flips per
CPU-ns (``<name>_per_core``: flips / process CPU time), the per-core throughput whatever the number of threads used
(None for the jaxrg kernels on an accelerator, where host CPU time means nothing).
On an accelerator backend (GPU/TPU) the run adds ``--gpu-sizes`` (default 4096 8192 16384) for the two jaxrg kernels
only (the CPU baselines are skipped there), so the GPU measurement is the one command below.

Usage: python benchmarks/metropolis.py [--quick] [--sizes 64 256 1024] [--batches 1 16] [--gpu-sizes 4096 ...]
       [--out PATH]
Writes benchmarks/results/metropolis-<host>.json: ``rows`` (L, batch, jaxrg, bitpacked, numpy, numba, *_per_core,
ratio_vs_numpy, ratio_vs_numba (int8 kernel), bitpacked_ratio_vs_numpy, bitpacked_ratio_vs_numba, bitpacked_vs_int8,
device) and, on an accelerator, ``accelerator_rows`` (the --gpu-sizes, jaxrg kernels only, baselines None).
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
import numpy as np

from jaxrg import ising
from jaxrg.sampling import bitpacked_metropolis, metropolis

T_BENCH = 2.269185314213022  # near T_c: acceptance ~ 0.2, the representative regime


# --- jaxrg (int8 kernel jaxrg.metropolis or the bit-packed kernel), vmapped over the batch -------------------------
def make_jaxrg(L: int, batch: int, sweeps: int, sampler=metropolis, **static):
    c = ising.couplings(np.full(batch, T_BENCH))
    kernel = jax.vmap(sampler.build_kernel(**static), in_axes=(0, 0, 0))
    step = lambda key, st: kernel(jax.random.split(key, batch), st, c)  # noqa: E731
    state = jax.vmap(sampler.init)(ising.random_spins(jax.random.key(1), L, (batch,)))

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
    state["x"] = np.uint64(kernel(s, thr, 1, state["x"]))  # compile

    def go():
        state["x"] = np.uint64(kernel(s, thr, sweeps, state["x"]))  # keep the argument type: no recompilation

    return go


def time_interleaved(impls: dict, repeats: int) -> dict:
    """Median wall and CPU seconds per call of each implementation, timed in turn within every repetition."""
    wall = {name: [] for name in impls}
    cpu = {name: [] for name in impls}
    for _ in range(repeats):
        for name, fn in impls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in impls}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--gpu-sizes", type=int, nargs="*", default=[4096, 8192, 16384],
                   help="extra sizes run only on a GPU/TPU backend (jaxrg kernels only)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="fewer sweeps and repeats (smoke run)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    accelerator = jax.default_backend() != "cpu"
    configs = [(L, B, False) for L in args.sizes for B in args.batches]
    if accelerator:
        configs += [(L, B, True) for L in args.gpu_sizes for B in args.batches]

    rows, accelerator_rows = [], []  # accelerator_rows: no baselines (kept apart so run_all's ratios stay defined)
    for L, B, jax_only in configs:
        flips_per_sweep = L * L * B
        # aim at ~0.1-0.5 s per timed call for jaxrg; baselines get fewer sweeps (they are slower), same units.
        target = 5e9 if accelerator else 2e7
        sweeps = max(2, int(target / flips_per_sweep)) if not args.quick else 2
        bp_sweeps = sweeps if accelerator or args.quick else 2 * sweeps
        base_sweeps = max(1, sweeps // 20)
        impls = {
            "jaxrg": (make_jaxrg(L, B, sweeps), sweeps),
            "bitpacked": (make_jaxrg(L, B, bp_sweeps, bitpacked_metropolis), bp_sweeps),
            # off CPU the bit-packed default is one unrolled round of 32 planes; also time rounds of 8 (while loop)
            "bitpacked_rounds8": (make_jaxrg(L, B, bp_sweeps, bitpacked_metropolis, planes_per_round=8)
                                  if accelerator else None, bp_sweeps),
            "numpy": (None if jax_only else make_numpy(L, B, base_sweeps), base_sweeps),
            "numba": (None if jax_only else make_numba(L, B, base_sweeps), base_sweeps),
        }
        for fn, _ in impls.values():
            if fn is not None:
                fn()  # warm-up (compilation)
        timed = time_interleaved({k: fn for k, (fn, _) in impls.items() if fn is not None}, repeats)
        row = {"L": L, "batch": B}
        for name, (fn, n) in impls.items():
            if fn is None:
                row[name] = row[f"{name}_per_core"] = None
                continue
            wall, cpu = timed[name]
            row[name] = flips_per_sweep * n / wall / 1e9
            on_host = not (accelerator and name in ("jaxrg", "bitpacked", "bitpacked_rounds8"))
            row[f"{name}_per_core"] = flips_per_sweep * n / cpu / 1e9 if cpu > 0 and on_host else None
        for kernel, prefix in (("jaxrg", ""), ("bitpacked", "bitpacked_")):
            for base in ("numpy", "numba"):
                row[f"{prefix}ratio_vs_{base}"] = row[kernel] / row[base] if row[base] else None
        row["bitpacked_vs_int8"] = row["bitpacked"] / row["jaxrg"]
        row["device"] = str(jax.devices()[0].device_kind)
        (accelerator_rows if jax_only else rows).append(row)
        fmt = lambda v: "  n/a " if v is None else f"{v:6.3f}"  # noqa: E731
        fmtx = lambda v: " n/a" if v is None else f"{v:4.1f}"  # noqa: E731
        print(
            f"L={L:5d} batch={B:3d}  flips/ns int8 {fmt(row['jaxrg'])}  bitpacked {fmt(row['bitpacked'])}  "
            f"numpy {fmt(row['numpy'])}  numba {fmt(row['numba'])} | per core {fmt(row['jaxrg_per_core'])} "
            f"{fmt(row['bitpacked_per_core'])} {fmt(row['numpy_per_core'])} {fmt(row['numba_per_core'])} | "
            f"int8 x{fmtx(row['ratio_vs_numpy'])} numpy x{fmtx(row['ratio_vs_numba'])} numba; "
            f"bitpacked x{fmtx(row['bitpacked_ratio_vs_numpy'])} numpy x{fmtx(row['bitpacked_ratio_vs_numba'])} numba"
            + (f"; bitpacked, rounds of 8 planes {fmt(row['bitpacked_rounds8'])}" if accelerator else ""),
            flush=True,
        )

    host = socket.gethostname()
    result = {
        "benchmark": "metropolis",
        "metric": "attempted spin flips per ns (median of repeats); *_per_core: flips per CPU-ns (process time)",
        "kernels": {"jaxrg": "int8 checkerboard (jaxrg.metropolis, hash RNG)",
                    "bitpacked": "bit-packed 16 spins/word, bit-serial exact acceptance (bitpacked_metropolis)",
                    "numpy": "vectorised numpy checkerboard", "numba": "one-thread numba checkerboard"},
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
        "accelerator_rows": accelerator_rows,
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
