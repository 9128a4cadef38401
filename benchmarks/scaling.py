"""Strong and weak scaling over 1-8 devices: sharded (T, chain) batches and a row-strip domain-decomposed lattice.

* batch strong: a fixed batch of ``--batch`` lattices ``L_batch x L_batch`` (temperatures x 1 chain) over d devices.
* batch weak:   ``--batch-per-device * d`` lattices over d devices (ideal: constant time per sweep).
* domain strong: one ``L_domain x L_domain`` lattice in d row strips (:func:`jaxrg.parallel.domain_metropolis`).
* domain weak:  one lattice of about ``L_domain^2 * d`` sites in d strips (L rounded to a multiple of 2d).

Time per sweep is the median of ``--reps`` timed runs of ``--sweeps`` sweeps in one compiled ``lax.scan`` (compilation
excluded, ``block_until_ready``); every device count is timed in the same process, so the ratios (speed-up, parallel
efficiency) are comparable. Without an accelerator the script makes 8 host CPU devices
(``--xla_force_host_platform_device_count``) that share the machine's cores: then the numbers only measure the
overhead of sharding and halo exchange, not a speed-up.

Usage: python benchmarks/scaling.py [--quick] [--devices 1 2 4 8] [--out PATH]
Writes benchmarks/results/scaling-<host>.json.
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

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):  # before jax starts
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import jax
import numpy as np

from jaxrg import ising, parallel

T_BENCH = 2.269185314213022  # near T_c


def _time_sweeps(step, state, sweeps: int, reps: int) -> float:
    """Median seconds per sweep of ``step`` run ``sweeps`` times in one jitted scan."""

    @jax.jit
    def run(key, state):
        def body(s, k):
            return step(k, s)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, sweeps))[0]

    jax.block_until_ready(run(jax.random.key(0), state))  # compile + warm up
    times = []
    for r in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(run(jax.random.key(r + 1), state))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / sweeps


def batch_point(n_lattices: int, L: int, devices, sweeps: int, reps: int) -> dict:
    T = np.linspace(2.0, 2.6, n_lattices)
    sb = parallel.sharded_batch("metropolis", ising.couplings(T), 1, devices)
    state = sb.init(ising.random_spins(jax.random.key(2), L, (n_lattices, 1)), jax.random.key(1))
    sec = _time_sweeps(lambda key, st: sb.kernel(key, st, sb.params), state, sweeps, reps)
    return {"devices": len(devices), "lattices": n_lattices, "L": L, "seconds_per_sweep": sec,
            "flips_per_ns": n_lattices * L * L / sec * 1e-9}


def domain_point(L: int, devices, sweeps: int, reps: int) -> dict:
    kernel = parallel.domain_metropolis(ising.couplings(np.asarray(T_BENCH)), devices)
    state = kernel.init(ising.random_spins(jax.random.key(3), L))
    sec = _time_sweeps(kernel.step, state, sweeps, reps)
    return {"devices": len(devices), "L": L, "seconds_per_sweep": sec, "flips_per_ns": L * L / sec * 1e-9}


def _with_ratios(points: list[dict], weak: bool) -> list[dict]:
    base = points[0]
    for p in points:
        d = p["devices"] / base["devices"]
        if weak:  # ideal: same time per sweep with d times the work
            p["efficiency"] = (p["flips_per_ns"] / base["flips_per_ns"]) / d
        else:
            p["speedup"] = base["seconds_per_sweep"] / p["seconds_per_sweep"]
            p["efficiency"] = p["speedup"] / d
    return points


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--L-batch", type=int, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batch-per-device", type=int, default=2)
    parser.add_argument("--L-domain", type=int, default=None)
    parser.add_argument("--sweeps", type=int, default=None)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    accel = jax.default_backend() != "cpu"
    L_batch = args.L_batch or (32 if args.quick else (256 if accel else 64))
    L_domain = args.L_domain or (64 if args.quick else (4096 if accel else 256))
    sweeps = args.sweeps or (5 if args.quick else (100 if accel else 20))
    all_devices = jax.devices()
    counts = [d for d in args.devices if d <= len(all_devices)]
    out = {
        "benchmark": "scaling", "host": socket.gethostname(), "platform": platform.platform(),
        "backend": jax.default_backend(), "device_kind": all_devices[0].device_kind, "n_devices": len(all_devices),
        "cpu_count": os.cpu_count(), "jax": jax.__version__, "sweeps": sweeps, "reps": args.reps,
        "note": "host CPU devices share the cores: overhead only, no speed-up expected" if not accel else "",
    }
    runs = {
        "batch_strong": lambda d: batch_point(args.batch, L_batch, all_devices[:d], sweeps, args.reps),
        "batch_weak": lambda d: batch_point(args.batch_per_device * d, L_batch, all_devices[:d], sweeps, args.reps),
        "domain_strong": lambda d: domain_point(L_domain, all_devices[:d], sweeps, args.reps),
        "domain_weak": lambda d: domain_point(
            max(2 * d, int(round(L_domain * d**0.5 / (2 * d))) * 2 * d), all_devices[:d], sweeps, args.reps),
    }
    for name, point in runs.items():
        points = []
        for d in counts:
            points.append(point(d))
            print(name, points[-1], file=sys.stderr, flush=True)
        out[name] = _with_ratios(points, weak=name.endswith("weak"))
    path = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                    f"scaling-{socket.gethostname()}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, path)
    print(f"wrote {path}", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
