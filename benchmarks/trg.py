"""Tensor-network RG benchmark: TRG, HOTRG, BTRG, Gilt-TRG accuracy at K_c, thermodynamics, scaling dimensions step by
step, and cost per coarse-graining step vs chi (jax vs numpy for TRG / HOTRG).

Usage (from the repository root):
    .venv/bin/python benchmarks/trg.py [--sections accuracy,heat,scaling,gilt,timing] [--chis 8,16,32,48] [--reps 3]
    make bench-tenax    (installs Tenax into the venv, then runs --sections tenax: side by side with Tenax)

Writes benchmarks/results/trg-<host>.json (merged with an existing file, section by section, atomically).
Timing: one jit-compiled step (compile excluded) and the same algorithm in plain numpy (np.linalg.svd, np.einsum
with the same contraction order) on the same input tensor in the same run; median of --reps repetitions; peak
memory from XLA's memory analysis (jax) and tracemalloc (numpy). Cost exponent: least-squares slope of
ln(time) vs ln(chi) over the chis measured (and over the two largest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

from benchmarks.metropolis import time_interleaved  # noqa: E402
from jaxrg import exact  # noqa: E402
from jaxrg.rg import trg  # noqa: E402
from jaxrg.rg.trg import network  # noqa: E402
from jaxrg.rg.trg._checks import check_method  # noqa: E402

KC = exact.CRITICAL_COUPLING


# ---------------------------------------------------------------------------------------------- numpy baseline


def np_trg_step(t, chi):
    dl, du, dr, dd = t.shape
    u, s, vt = np.linalg.svd(t.reshape(dl * du, dr * dd), full_matrices=False)
    k = min(chi, s.size)
    r = np.sqrt(s[:k])
    s1 = (u[:, :k] * r).reshape(dl, du, k)
    s3 = (r[:, None] * vt[:k]).reshape(k, dr, dd)
    u, s, vt = np.linalg.svd(t.transpose(1, 2, 3, 0).reshape(du * dr, dd * dl), full_matrices=False)
    r = np.sqrt(s[:k])
    s2 = (u[:, :k] * r).reshape(du, dr, k)
    s4 = (r[:, None] * vt[:k]).reshape(k, dd, dl)
    upper = np.einsum("pxw,qyx->pwqy", s3, s4, optimize=True)
    lower = np.einsum("zyr,wzd->rydw", s1, s2, optimize=True)
    return np.einsum("pwqy,rydw->pqrd", upper, lower, optimize=True)


def np_hotrg_step(t, chi):
    def gram(x):
        top = np.einsum("iurm,jurn->imjn", x, x, optimize=True)
        bottom = np.einsum("imrd,jnrd->imjn", x, x, optimize=True)
        d = x.shape[0]
        return np.einsum("imjn,kmln->ikjl", top, bottom, optimize=True).reshape(d * d, d * d)

    d1 = t.shape[0]
    k = min(chi, d1 * d1)
    ul, wl, _ = np.linalg.svd(gram(t))
    ur, wr, _ = np.linalg.svd(gram(t.transpose(2, 1, 0, 3)))
    iso = ul if (wl[k:].sum() / wl.sum() <= wr[k:].sum() / wr.sum()) else ur
    iso = iso[:, :k].reshape(d1, d1, k)
    x = np.einsum("abL,aurm->bLurm", iso, t, optimize=True)
    y = np.einsum("bLurm,bmsd->Lursd", x, t, optimize=True)
    merged = np.einsum("Lursd,rsR->LuRd", y, iso, optimize=True)
    return merged.transpose(1, 2, 3, 0)


NP_STEPS = {"trg": np_trg_step, "hotrg": np_hotrg_step}


# ---------------------------------------------------------------------------------------------- helpers


def atomic_json_update(path, section, payload):
    data = {}
    if os.path.exists(path):
        with open(path) as fh:
            data = json.load(fh)
    if isinstance(data.get(section), dict) and isinstance(payload, dict):
        data[section].update(payload)  # keep the entries of other methods from earlier runs
    else:
        data[section] = payload
    data["host"] = {"hostname": socket.gethostname(), "platform": platform.platform(),
                    "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "jax": jax.__version__, "backend": jax.default_backend(),
                    "load_average": os.getloadavg()}
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, default=float)
    os.replace(tmp, path)


def scheme_step(method, chi):
    """The jitted, normalising step of a method on the network ``(tensor, weights)``."""
    scheme = check_method(method)

    def step(t, w):
        t, w = scheme.step(t, w, chi, 1e-8)
        t, ln = network.normalise(t)
        return t, w, ln

    return jax.jit(step)


def input_tensor(chi, method):
    """A realistic chi-dimensional network ``(tensor, weights)``: coarse-grain at K_c until all legs reach chi."""
    t, _ = network.normalise(network.ising_site_tensor(jnp.asarray(KC), 0.0))
    w = jnp.ones((2, t.shape[0]))
    scheme = check_method(method)
    for _ in range(12):
        t, w = scheme.step(t, w, chi, 1e-8)
        t, _ = network.normalise(t)
        if all(d == chi for d in t.shape):
            break
    return t, w


def lnz_by_steps(K, chi, method, steps):
    """ln Z / N of the torus of 2^n sites for n = 0..steps, from one coarse-graining run (jitted steps, the
    library's padded tensors and step functions); entry ``steps`` is trg_log_partition(K, chi=chi, steps=steps)."""
    step = scheme_step(method, chi)
    t, ln = network.normalise(network.padded_site_tensor(jnp.asarray(K), 0.0, chi))
    w = jnp.ones((2, chi))
    total, out = float(ln), []
    for n in range(steps + 1):
        if n:
            t, w, ln = step(t, w)
            total += 0.5**n * float(ln)
        out.append(total + 0.5**n * float(jnp.log(jnp.abs(network.network_trace(t, w)))))
    return np.asarray(out)


def section_accuracy(out, args):
    """Relative error of ln Z / N at K_c vs chi, for every number of steps n (torus of 2^n sites).

    The infinite-lattice value is n = 32 (the library default). At n ~ 20 the positive universal torus term
    (ln Z_torus - N f ~ +0.64 at the critical point) still adds ~ +6e-7 to ln Z / N and partly cancels the negative
    truncation error; that is reported separately (relative_error_at_20_steps), not as the accuracy."""
    res = {}
    exact_lnz = float(exact.onsager_log_z(jnp.asarray(KC)))
    for method, chi in [(m, int(c)) for m, c in (x.split(":") for x in args.accuracy_cases.split(","))]:
        t0 = time.perf_counter()
        lnz = lnz_by_steps(KC, chi, method, trg.DEFAULT_STEPS)
        signed = lnz / exact_lnz - 1
        res[f"{method}_chi{chi}"] = {"lnZ_per_site": float(lnz[-1]), "onsager": exact_lnz, "steps": trg.DEFAULT_STEPS,
                                     "relative_error": float(abs(signed[-1])),
                                     "signed_relative_error_by_steps": signed.tolist(),
                                     "relative_error_at_20_steps": float(abs(signed[20])),
                                     "seconds": time.perf_counter() - t0}
        print(method, chi, {k: v for k, v in res[f"{method}_chi{chi}"].items() if "by_steps" not in k}, flush=True)
        atomic_json_update(out, "accuracy_lnZ_at_Kc", res)


def section_heat(out, args):
    res = {}
    T = np.array([2.0, 2.6])
    ref = exact.infinite_lattice(T)
    for method in args.heat_methods.split(","):
        t0 = time.perf_counter()
        r = trg.trg_thermodynamics(T, chi=24, method=method, steps=args.heat_steps)
        entry = {"T": T.tolist(), "steps": args.heat_steps, "seconds": time.perf_counter() - t0}
        for name in ("free_energy", "energy", "heat_capacity", "magnetization"):
            got, want = np.asarray(getattr(r, name)), np.asarray(getattr(ref, name))
            entry[name] = got.tolist()
            entry[name + "_onsager"] = want.tolist()
            entry[name + "_relative_error"] = (np.abs(got - want) / np.maximum(np.abs(want), 1e-300)).tolist()
        res[f"{method}_chi24"] = entry
        print(method, entry, flush=True)
        atomic_json_update(out, "thermodynamics_chi24", res)


def section_scaling(out, args):
    res = {}
    for method, chi, steps in [("trg", 24, 14), ("hotrg", 24, 14)]:
        t0 = time.perf_counter()
        spec = trg.trg_scaling_dimensions(chi=chi, steps=steps, method=method, num=6)
        step, c, x = spec.estimate
        res[f"{method}_chi{chi}"] = {
            "estimate": {"step": step, "central_charge": c, "x_sigma": float(x[0]), "x_epsilon": float(x[1]),
                         "central_charge_error": c - 0.5, "x_sigma_error": float(x[0]) - 0.125,
                         "x_epsilon_error": float(x[1]) - 1.0,
                         "goals_met": bool(abs(c - 0.5) <= 0.02 and abs(x[0] - 0.125) <= 0.01
                                           and abs(x[1] - 1.0) <= 0.05)},
            "step": spec.step.tolist(), "central_charge": spec.central_charge.tolist(),
            "scaling_dimensions": spec.scaling_dimensions.tolist(), "stationarity": spec.stationarity.tolist(),
            "seconds": time.perf_counter() - t0}
        print(method, chi, res[f"{method}_chi{chi}"], flush=True)
        atomic_json_update(out, "scaling_dimensions_at_Kc", res)


def goal_table(spec):
    """Step-by-step c, x_sigma, x_eps, x_3 of a :class:`ScalingSpectrum`, which steps meet the issue's goal
    (|x_sigma - 1/8| <= 1e-3, |x_eps - 1| <= 5e-3, |c - 1/2| <= 0.01 together) and the longest run of consecutive
    such steps."""
    x = spec.scaling_dimensions
    good = ((np.abs(x[:, 0] - 0.125) <= 1e-3) & (np.abs(x[:, 1] - 1.0) <= 5e-3)
            & (np.abs(spec.central_charge - 0.5) <= 0.01))
    run, best = 0, 0
    for g in good:
        run = run + 1 if g else 0
        best = max(best, run)
    return {"step": spec.step.tolist(), "central_charge": spec.central_charge.tolist(), "x_sigma": x[:, 0].tolist(),
            "x_epsilon": x[:, 1].tolist(), "x_3": x[:, 2].tolist(), "within_goal": good.tolist(),
            "longest_run_within_goal": best}


def print_goal_table(spec):
    x = spec.scaling_dimensions
    for n, c, xs in zip(spec.step, spec.central_charge, x):
        print(f"  {n:3d}  c = {c:.5f}  x = {xs[0]:.5f} {xs[1]:.5f} {xs[2]:.5f}", flush=True)


def section_gilt(out, args):
    """Scaling dimensions step by step at K_c: Gilt-TRG against plain TRG at the same chi (Gu-Wen 2x1 transfer
    matrix); the longest run of consecutive steps with |x_sigma - 1/8| <= 1e-3, |x_eps - 1| <= 5e-3 and
    |c - 1/2| <= 0.01."""
    res = {}
    for chi in [int(c) for c in args.gilt_chis.split(",")]:
        for name, method in [("trg", "trg")] + [(f"gilt-trg_eps{e}", trg.GiltTRG(epsilon=float(e)))
                                                for e in args.gilt_epsilons.split(",")]:
            t0 = time.perf_counter()
            spec = trg.trg_scaling_dimensions(chi=chi, steps=args.gilt_steps, method=method, num=4)
            res[f"{name}_chi{chi}"] = {**goal_table(spec), "seconds": time.perf_counter() - t0,
                                       "load_average_1min": os.getloadavg()[0]}
            best = res[f"{name}_chi{chi}"]["longest_run_within_goal"]
            print(name, chi, "longest run", best, f"{time.perf_counter() - t0:.1f} s", flush=True)
            print_goal_table(spec)
            atomic_json_update(out, "gilt_scaling_by_step_at_Kc", res)


def section_timing(out, args):
    """Time per step, jax (jit, compile excluded) and, for TRG and HOTRG, numpy on the same tensor, repetitions
    interleaved so both see the same host load; min and median reported, exponents fitted to the minima (least
    disturbed by other jobs). Peak memory: XLA's memory analysis of the compiled step (arguments, output, temps)."""
    res = {}
    for method in args.timing_methods.split(","):
        rows = []
        baseline = NP_STEPS.get(method)
        for chi in [int(c) for c in args.chis.split(",")]:
            t, w = input_tensor(chi, method)
            compiled = scheme_step(method, chi).lower(t, w).compile()
            mem = compiled.memory_analysis()
            jax_bytes = None if mem is None else int(mem.temp_size_in_bytes + mem.argument_size_in_bytes
                                                      + mem.output_size_in_bytes)
            jax.block_until_ready(compiled(t, w))
            tn = np.asarray(t)
            reps = args.reps if chi <= 32 else max(2, args.reps - 1)
            jt, nt = [], []
            load_before = os.getloadavg()[0]
            for _ in range(reps):
                t0 = time.perf_counter()
                jax.block_until_ready(compiled(t, w))
                jt.append(time.perf_counter() - t0)
                if baseline is not None:
                    t0 = time.perf_counter()
                    baseline(tn, chi)
                    nt.append(time.perf_counter() - t0)
            row = {"chi": chi, "reps": reps, "jax_seconds_min": float(np.min(jt)),
                   "jax_seconds_median": float(np.median(jt)), "jax_seconds": jt, "jax_peak_bytes_xla": jax_bytes,
                   "load_average_1min": [load_before, os.getloadavg()[0]]}
            if baseline is not None:
                tracemalloc.start()
                ref = baseline(tn, chi)
                _, np_peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                _, _, log_norm = compiled(t, w)
                # same algorithm: the coarse tensors agree up to the SVD gauge, so compare their (invariant) norms
                agree = abs(float(log_norm) - np.log(np.linalg.norm(ref)))
                row.update({"numpy_seconds_min": float(np.min(nt)), "numpy_seconds_median": float(np.median(nt)),
                            "numpy_seconds": nt, "numpy_over_jax_min": float(np.min(nt) / np.min(jt)),
                            "numpy_peak_bytes_tracemalloc": int(np_peak), "log_norm_difference": agree})
            rows.append(row)
            print(method, row, flush=True)
            chis = np.array([r["chi"] for r in rows], float)
            fit = {}
            for impl in ("jax", "numpy"):
                if len(rows) >= 2 and all(f"{impl}_seconds_min" in r for r in rows):
                    times = np.array([r[f"{impl}_seconds_min"] for r in rows])
                    fit[f"{impl}_exponent_all"] = float(np.polyfit(np.log(chis), np.log(times), 1)[0])
                    fit[f"{impl}_exponent_two_largest"] = float(np.polyfit(np.log(chis[-2:]), np.log(times[-2:]),
                                                                           1)[0])
            res[method] = {"rows": rows, "fitted_cost_exponent_from_minima": fit,
                           "expected_exponent": 7 if method == "hotrg" else 6}
            atomic_json_update(out, "time_per_step", res)


#: Tenax version the side-by-side section was written against (``make bench-tenax`` installs it).
TENAX_VERSION = "0.8.3"


def section_tenax(out, args):
    """Side by side with Tenax (a JAX tensor-network library: TRG and HOTRG; no BTRG or Gilt-TNR in the version
    installed): ln Z / N of the infinite lattice (32 steps) at the same chi and coupling, relative error against
    Onsager, and wall time of the whole flow (median of repetitions interleaved between the two). Tenax is timed
    as its API is called (op by op: its flow does not compile as one ``jax.jit``, the rank it keeps is read from the
    singular values at trace time); jaxrg's ``trg_log_partition`` is one compiled program. First calls (compilation
    included) are reported apart. The
    couplings: K_c and K = 0.3 (T = 3.3, short correlation length: truncation errors far below those at K_c, so an
    error that does not shrink there is not truncation). Runs only where ``tenax`` imports (``make bench-tenax``)."""
    try:
        import tenax
    except ImportError:
        print(f"tenax is not installed: `make bench-tenax` (pip install tenax-tn=={TENAX_VERSION}) runs this section",
              flush=True)
        atomic_json_update(out, "tenax_side_by_side", {"installed": False})
        return
    res = {"tenax_version": tenax.__version__, "steps": trg.DEFAULT_STEPS, "rows": {}}
    schemes = {"trg": (tenax.trg, tenax.TRGConfig), "hotrg": (tenax.hotrg, tenax.HOTRGConfig)}
    for case in args.tenax_cases.split(","):
        method, chi = case.split(":")
        chi = int(chi)
        run, config = schemes[method]
        cfg = config(max_bond_dim=chi, num_steps=trg.DEFAULT_STEPS)
        for K in (float(KC), 0.3):
            onsager = float(exact.onsager_log_z(jnp.asarray(K)))
            site = tenax.compute_ising_tensor(K)  # beta J with J = 1: the same coupling K
            load = os.getloadavg()[0]
            impls = {"tenax": lambda run=run, cfg=cfg, site=site: float(run(site, cfg)),
                     "jaxrg": lambda K=K, chi=chi, method=method: float(
                         trg.trg_log_partition(jnp.asarray(K), chi=chi, method=method))}
            values, first = {}, {}
            for name, fn in impls.items():  # first calls: compilation included, timed apart
                t0 = time.perf_counter()
                values[name] = fn()
                first[name] = time.perf_counter() - t0
            timings = time_interleaved(impls, args.reps)
            key = f"{method}_chi{chi}_K{K:.4f}"
            res["rows"][key] = {name: {"lnZ_per_site": values[name], "relative_error": values[name] / onsager - 1,
                                       "first_call_s": first[name], "seconds_median": timings[name][0],
                                       "cpu_seconds_median": timings[name][1]}
                                for name in impls}
            res["rows"][key].update({"onsager": onsager, "reps": args.reps,
                                     "load_average_1min": [load, os.getloadavg()[0]]})
            print(key, {n: (f"{r['relative_error']:+.2e}", f"{r['seconds_median']:.3f} s")
                        for n, r in res["rows"][key].items() if isinstance(r, dict)}, flush=True)
            atomic_json_update(out, "tenax_side_by_side", res)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", default="accuracy,heat,scaling,gilt,timing")
    p.add_argument("--chis", default="8,16,32,48")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--timing-methods", default="trg,hotrg,btrg,gilt-trg")
    p.add_argument("--heat-methods", default="trg,hotrg,btrg")
    p.add_argument("--gilt-chis", default="16,24")
    p.add_argument("--gilt-epsilons", default="1e-5")
    p.add_argument("--gilt-steps", type=int, default=24)
    p.add_argument("--accuracy-cases", default="trg:8,trg:16,trg:24,trg:32,hotrg:8,hotrg:16,hotrg:24,btrg:8,btrg:16,"
                   "btrg:24,btrg:32",
                   help="method:chi pairs for the accuracy section")
    p.add_argument("--tenax-cases", default="trg:8,trg:16,trg:24,hotrg:8,hotrg:16",
                   help="method:chi pairs for the side-by-side section (trg, hotrg)")
    p.add_argument("--heat-steps", type=int, default=20,
                   help="coarse-graining steps for the heat section (2^20 sites: converged off T_c, xi < 10)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"trg-{socket.gethostname()}.json")
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        {"accuracy": section_accuracy, "heat": section_heat, "scaling": section_scaling, "gilt": section_gilt,
         "timing": section_timing, "tenax": section_tenax}[name](out, args)
        print(f"[{name}] {time.perf_counter() - t0:.1f} s -> {out}", flush=True)


if __name__ == "__main__":
    main()
