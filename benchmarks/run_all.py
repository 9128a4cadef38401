"""Run every benchmark and print one summary table (workload, metric, jaxrg, baseline, ratio, device).

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...] [--summary-only]

Each benchmark script writes its own JSON to benchmarks/results/<name>-<host>.json; this runner calls them one after
another (never in parallel: the timings compare implementations side by side within each script) and then reads the
JSON files of this host back into one table. ``--summary-only`` skips the runs and tabulates what is on disk.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# script -> arguments for a quick smoke run (None: the script has no quick mode; full run only)
BENCHMARKS = {
    "metropolis": ["--quick"],
    "cluster": ["--quick"],
    "trg": None,
    "mcrg": ["--quick"],
    "hmc": ["--quick"],
    "flow": None,
    "inverse": ["--quick"],
    "scale": ["--quick"],
    "scaling": None,
}


def _rows_metropolis(d):
    for r in d.get("rows", []):
        label = f"L={r['L']} batch={r['batch']}"
        for kernel, name in (("jaxrg", "metropolis int8"), ("bitpacked", "metropolis bit-packed")):
            if r.get(kernel) is None:
                continue
            yield (f"{name} {label}", "flips/ns", r[kernel], r["numpy"], r[kernel] / r["numpy"], "numpy")
            if r.get("numba"):
                yield (f"{name} {label}", "flips/ns", r[kernel], r["numba"], r[kernel] / r["numba"], "numba")
    for r in d.get("accelerator_rows", []):  # GPU/TPU: jaxrg kernels only (no host baseline)
        for kernel in ("jaxrg", "bitpacked", "bitpacked_rounds8"):
            if r.get(kernel) is not None:
                yield (f"metropolis {kernel} L={r['L']} batch={r['batch']}", "flips/ns", r[kernel], None, None, "")


def _rows_cluster(d):
    for L, s in d.get("speedup_vs_metropolis", {}).items():
        for name, ratio in s.items():
            yield (f"{name} L={L} at T_c", "indep. samples/s vs Metropolis", None, None, ratio, "metropolis")
    for name, fit in d.get("z_fits", {}).items():
        c = fit.get("compared", {})
        obs = c.get("observable")
        if obs and obs in fit:
            yield (f"{name} dynamic exponent z ({obs})", "z", fit[obs]["z"], c.get("literature_z"), None, "literature")


def _rows_mcrg(d):
    for y, b in d.get("best", {}).items():
        exact = 1.0 if y == "y_t" else 1.875
        yield (f"MCRG {y} (level {b['level']}, L={d.get('L')})", y, b["mean"], exact, None, "exact")


def _rows_inverse(d):
    t = d.get("throughput", {})
    if t:
        yield (f"inverse-RG generation L={t['L']}", "spins/ns", t["spins_per_ns"], None, None, "")
    if "threshold_per_level" in d:  # --throughput-only: the generation path against the one-program float path
        fast, slow = d["threshold_per_level"]["spins_per_ns"], d["float_one_program"]["spins_per_ns"]
        yield (f"inverse-RG generation {d['n']} x {d['L']}^2", "spins/ns", fast, slow, fast / slow, "float path")


def _rows_warm_start(d):
    for r in d.get("rows", []):
        for obs in ("energy", "abs_m"):
            gen = r["generated"][f"sweeps_{obs}"]
            kind = r.get(f"saving_{obs}_kind", "")
            baseline = [r[s][f"sweeps_{obs}"] for s in ("random", "ordered") if r[s][f"sweeps_{obs}"] is not None]
            yield (f"generated start, {r['sampler']} L={r['L']} ({obs}{', bound' if 'bound' in kind else ''})",
                   "sweeps to equilibrium", gen, min(baseline) if baseline else None,
                   r[f"saving_{obs}_vs_better_of_hot_cold"], "better of hot, cold")


def _rows_hmc(d):
    for r in d.get("efficiency", []):
        yield (f"phi^4 {r['sampler']} L={r['L']}", "ESS/s of |M|", r["ess_per_second"], None,
               r.get("ess_per_second_over_metropolis"), "metropolis")


def _rows_trg(d):
    for case, r in d.get("accuracy_lnZ_at_Kc", {}).items():
        yield (f"{case} ln Z/N at K_c", "relative error", r["relative_error"], None, None, "Onsager")
    for case, r in d.get("thermodynamics_chi24", {}).items():
        for T, err in zip(r["T"], r["heat_capacity_relative_error"]):
            yield (f"{case} heat capacity T={T}", "relative error", err, None, None, "Onsager")
    for case, r in d.get("scaling_dimensions_at_Kc", {}).items():
        e = r["estimate"]
        for name, exact in (("central_charge", 0.5), ("x_sigma", 0.125), ("x_epsilon", 1.0)):
            yield (f"{case} at K_c (step {e['step']})", name, e[name], exact, None, "exact")
    for case, r in d.get("plateau_at_pseudo_critical", {}).items():
        for estimator in ("circumference_2", "circumference_4", "extrapolated"):
            if estimator in r:
                yield (f"{case} plateau at K* ({estimator})", "consecutive steps within goal",
                       r[estimator]["longest_run_within_goal"], 15, None, "goal")
    tenax = d.get("tenax_side_by_side", {})
    for case, r in tenax.get("rows", {}).items():
        ours, theirs = r["jaxrg"], r["tenax"]
        vs = f"Tenax {tenax['tenax_version']}"
        yield (f"{case} ln Z/N, {tenax['steps']} steps", "|relative error|", abs(ours["relative_error"]),
               abs(theirs["relative_error"]), abs(theirs["relative_error"] / ours["relative_error"]), vs)
        yield (f"{case} whole flow", "seconds (median)", ours["seconds_median"], theirs["seconds_median"],
               theirs["seconds_median"] / ours["seconds_median"], vs)
    for method, t in d.get("time_per_step", {}).items():
        for r in t.get("rows", []):
            baseline = r.get("numpy_seconds_min")  # methods without a numpy implementation have none
            yield (f"{method} step chi={r['chi']}", "seconds (min)", r["jax_seconds_min"], baseline,
                   baseline / r["jax_seconds_min"] if baseline else None, "numpy" if baseline else "")


def _rows_trg_linearized(d):
    for case, r in d.get("linearized", {}).items():
        j = r["jacobian"]
        tag = f"linearised map chi:eps={case} (|R-T| {r['residual']:.0e})"
        for name, exact in (("lambda_sigma", 2.0 ** (15 / 8)), ("lambda_epsilon", 2.0), ("x_sigma", 0.125),
                            ("x_epsilon", 1.0), ("x_spin2", 2.0)):
            yield (tag, name, j[name], exact, None, "exact")


def _rows_flow(d):
    for r in d.get("summary", []):
        patch = " 3x3" if r.get("patch") == 3 else ""
        tag = f"learned flow n={r['n']}{patch} ({r.get('seeds', '?')} seeds, {r.get('failed_seeds', 0)} failed)"
        yield (tag, "K_c", r["K_c_mean"], d.get("K_c_exact", 0.4406867935097715), None, "exact")
        yield (tag, "nu", r["nu_mean"], d.get("nu_exact", 1.0), None, "exact")


def _rows_scale(d):
    v = d.get("vft_calibration", {})
    if v:
        yield ("VFT fits (25 points)", "fits/s", v["fits_per_second"], None, None, "")
    t = d.get("rk4_throughput", {})
    if t:
        yield (f"RK4 coupling flows ({t['n_flows']} x {t['n_couplings']} couplings)", "flow steps/s",
               t["flow_steps_per_second"], None, None, "")


EXTRACTORS = {
    "trg": _rows_trg,
    "trg_linearized": _rows_trg_linearized,
    "flow": _rows_flow,
    "scale": _rows_scale,
    "metropolis": _rows_metropolis,
    "cluster": _rows_cluster,
    "mcrg": _rows_mcrg,
    "inverse": _rows_inverse,
    "hmc": _rows_hmc,
    "warm_start": _rows_warm_start,
}


def _device(d) -> str:
    for where in (d, d.get("host") if isinstance(d.get("host"), dict) else {}):
        for key in ("device", "device_kind", "backend"):
            v = where.get(key)
            if isinstance(v, str):
                return v
    return "?"


def result_files(host: str) -> list[tuple[str, str]]:
    """(benchmark name, path) of every result JSON of this host, one script's default run first then its variants.

    A script writes ``<name>-<host>.json`` for its default configuration and ``<name>-<host>-<variant>.json`` for
    others (e.g. ``flow-vm-cd-L16-k5-patch3.json``); every benchmark script in this folder is looked for, also those
    the runner does not run itself (long or GPU-sized ones).
    """
    scripts = sorted(f[:-3] for f in os.listdir(HERE) if f.endswith(".py") and f != "run_all.py")
    names = list(BENCHMARKS) + [s for s in scripts if s not in BENCHMARKS]
    found = []
    for name in names:
        default = os.path.join(RESULTS, f"{name}-{host}.json")
        variants = sorted(glob.glob(os.path.join(RESULTS, glob.escape(f"{name}-{host}-") + "*.json")))
        found += [(name, path) for path in [default] + variants if os.path.exists(path)]
    return found


def summary(host: str) -> list[tuple]:
    rows = []
    for name, path in result_files(host):
        with open(path) as f:
            d = json.load(f)
        extract = EXTRACTORS.get(name)
        if extract is None:
            rows.append((name, f"see {os.path.relpath(path, HERE)}", None, None, None, "", _device(d)))
            continue
        variant = os.path.basename(path)[len(f"{name}-{host}"):-len(".json")].lstrip("-")
        try:
            for r in extract(d):
                label = f"{r[0]} [{variant}]" if variant else r[0]
                rows.append((label, *r[1:], _device(d)))
        except (KeyError, TypeError) as exc:  # a result file of another format: point at it
            rows.append((name, f"unreadable summary ({exc!r}); see {os.path.relpath(path, HERE)}", None, None, None,
                         "", _device(d)))
    return rows


def print_table(rows) -> None:
    fmt = lambda v: "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    header = ("workload", "metric", "jaxrg", "baseline", "ratio", "vs", "device")
    table = [header] + [tuple(fmt(v) for v in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke runs where a script supports it")
    p.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    p.add_argument("--summary-only", action="store_true")
    args = p.parse_args(argv)
    host = socket.gethostname()
    failed = []
    if not args.summary_only:
        for name in args.only or BENCHMARKS:
            script = os.path.join(HERE, f"{name}.py")
            if not os.path.exists(script):
                continue
            extra = BENCHMARKS[name] if args.quick and BENCHMARKS[name] else []
            print(f"=== {name} {' '.join(extra)}", flush=True)
            rc = subprocess.call([sys.executable, script, *extra])
            if rc:
                failed.append(name)
    print()
    print_table(summary(host))
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
