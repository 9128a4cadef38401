"""Off-critical inverse-RG generation: calibrate the thermal responses (and curvatures) of a generator against
Monte Carlo at smaller sizes, then compare generated and Monte Carlo <|m|> and U4 at L = 256 and the goal temperatures.

    .venv/bin/python benchmarks/inverse_thermal.py                      # calibrate at L = 64 and 128, check at 256
    .venv/bin/python benchmarks/inverse_thermal.py --save-pretrained    # also writes jaxrg/data/inverse_thermal_3x3.eqx
    .venv/bin/python benchmarks/inverse_thermal.py --curvature-grid     # a linear response (no curvature)
    .venv/bin/python benchmarks/inverse_thermal.py --quick              # smoke run (L = 16 -> 32)

The shipped generator is the linear response calibrated at L = 64 alone (it meets the L = 256 check better than the
default two-size curvature calibration, see the JSON's check_shipped rows); it is reproduced by
    --calibrate 64 2.15 2.2 2.25 2.3 2.35 2.4 2.5 2.6 --calibration-sweeps 4000 --calibration-chains 4
    --curvature-grid --grid 0.5 0.55 ... 2.5

The critical generator is the 3-parameter kernel trained on three levels of Wolff configurations at K_c (L = 64; the
critical part of the shipped generator unless --retrain-critical); the thermal scaling field of every level is
t = T/T_c - 1 run backwards in scale by the linearised flow d tau / ds = y_t tau (jaxrg.scale.integrate_flow,
y_t = 1 / nu), and a level's kernel is the critical one times exp(-response tau / (1 + curvature |tau|)), one response
and one curvature per side of T_c, chosen on a grid by the chi-square of <|m|> and U4 over all calibration points.
Monte Carlo: Swendsen-Wang through jaxrg.simulate (cold start, errors from the autocorrelation time); the check
temperatures in --check-extra-T get a second, independent run, combined by inverse variance. Monte Carlo results are
cached in --mc-cache (default benchmarks/results/inverse_thermal_mc-<host>.json) and reused when asked again.

Writes benchmarks/results/inverse_thermal-<host>.json (the table, the same table for the generator shipped before the
run, and the goal: generated <|m|> and U4 within 5% of Monte Carlo at L = 256 for T in {2.20, 2.25, 2.30, 2.35}).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from jaxrg import files
from jaxrg.rg import inverse as inv
from jaxrg.stats import Estimate
from jaxrg.simulation import simulate


def write_json(path, data):
    """Write ``data`` as JSON atomically (``jaxrg.files.write_text``), creating the directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files.write_text(path, json.dumps(data, indent=1))


def monte_carlo(L, temperatures, sweeps, chains, cache_path, seed=None):
    """<|m|>, U4 and energy with errors from Swendsen-Wang (cached by (L, T, sweeps, chains, seed))."""
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}
    name = f"L{L}-sweeps{sweeps}-chains{chains}-T" + ",".join(f"{T:.4f}" for T in temperatures)
    if seed is not None and seed != L:
        name += f"-seed{seed}"
    if name in cache:
        return cache[name]
    t0 = time.perf_counter()
    r = simulate(L, temperatures, sampler="swendsen_wang", sweeps=sweeps, thermalize=300, chains=chains,
                 seed=L if seed is None else seed, initial="ordered")
    row = {"L": L, "T": list(temperatures), "sweeps": sweeps, "chains": chains,
           "seconds": time.perf_counter() - t0, "load": os.getloadavg()[0],
           "abs_m": [np.asarray(r.abs_magnetization.mean).tolist(), np.asarray(r.abs_magnetization.error).tolist()],
           "binder": [np.asarray(r.binder.mean).tolist(), np.asarray(r.binder.error).tolist()],
           "energy": [np.asarray(r.energy.mean).tolist(), np.asarray(r.energy.error).tolist()]}
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}  # another run may have written it
    cache[name] = row
    write_json(cache_path, cache)
    return row


def combine(runs, T):
    """Inverse-variance mean of independent Monte Carlo runs at temperature ``T``: {name: [mean, error]}."""
    out = {}
    for name in ("abs_m", "binder", "energy"):
        values = [(r[name][0][r["T"].index(T)], r[name][1][r["T"].index(T)]) for r in runs if T in r["T"]]
        w = np.array([1 / e**2 for _, e in values])
        out[name] = [float(np.sum(w * [v for v, _ in values]) / np.sum(w)), float(1 / np.sqrt(np.sum(w)))]
    return out


def generated(model, L, n, key, T, n_blocks=32, batch=1024):
    """<|m|> and U4 of n generated configurations with jackknife errors (batches of ``batch``: key, fold_in(key, i)
    for i >= 1)."""
    e, m = [], []
    for i in range(-(-n // batch)):
        _, e_i, m_i = inv.level_observables(model, L, min(batch, n - i * batch), key if i == 0 else
                                            jax.random.fold_in(key, i), temperature=T)
        e.append(np.asarray(e_i[-1]))
        m.append(np.asarray(m_i[-1], np.float64))
    e, m = [np.concatenate(e)], np.concatenate(m)
    edges = np.linspace(0, n, n_blocks + 1).astype(int)

    def stats(x):
        return np.array([np.mean(np.abs(x)), 1 - np.mean(x**4) / (3 * np.mean(x**2) ** 2)])

    full = stats(m)
    reps = np.stack([stats(np.delete(m, np.s_[edges[i]:edges[i + 1]])) for i in range(n_blocks)])
    err = np.sqrt((n_blocks - 1) * np.mean((reps - reps.mean(0)) ** 2, axis=0))
    return full, err, float(np.mean(e[-1]))


def check_rows(model, L, temperatures, n, mc):
    """Generated <|m|>, U4 and energy against Monte Carlo at each temperature (fresh keys), with the 5% goal."""
    rows = []
    for i, T in enumerate(temperatures):
        (m, u), (dm, du), e = generated(model, L, n, jax.random.key(100 + i), T)
        (m_mc, dm_mc), (u_mc, du_mc) = mc[T]["abs_m"], mc[T]["binder"]
        rows.append({"T": T, "abs_m": [m, dm], "abs_m_mc": [m_mc, dm_mc], "abs_m_rel": m / m_mc - 1,
                     "abs_m_sigma": (m - m_mc) / np.hypot(dm, dm_mc),
                     "binder": [u, du], "binder_mc": [u_mc, du_mc], "binder_rel": u / u_mc - 1,
                     "binder_sigma": (u - u_mc) / np.hypot(du, du_mc),
                     "energy": e, "energy_mc": mc[T]["energy"][0],
                     "met": bool(abs(m / m_mc - 1) <= 0.05 and abs(u / u_mc - 1) <= 0.05)})
    return rows


def print_rows(title, rows):
    print(f"\n{title}")
    print(f"{'T':>6} {'<|m|> gen':>16} {'<|m|> MC':>16} {'rel':>7} {'sig':>5} {'U4 gen':>16} {'U4 MC':>16} {'rel':>7} "
          f"{'sig':>5} {'e gen':>8} {'e MC':>8}  met")
    for r in rows:
        print(f"{r['T']:6.3f} {r['abs_m'][0]:8.4f}({r['abs_m'][1]:.4f}) {r['abs_m_mc'][0]:8.4f}({r['abs_m_mc'][1]:.4f})"
              f" {r['abs_m_rel']:+7.3f} {r['abs_m_sigma']:+5.1f} {r['binder'][0]:8.4f}({r['binder'][1]:.4f}) "
              f"{r['binder_mc'][0]:8.4f}({r['binder_mc'][1]:.4f}) {r['binder_rel']:+7.3f} {r['binder_sigma']:+5.1f} "
              f"{r['energy']:8.4f} {r['energy_mc']:8.4f}  {r['met']}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--calibrate", type=float, nargs="+", action="append", default=None, metavar="L T",
                   help="a calibration size and its temperatures (repeatable); default L = 64 at 2.15 ... 2.6 and "
                        "L = 128 at 2.20 ... 2.45")
    p.add_argument("--calibration-sweeps", type=int, nargs="*", default=[4000, 2000], help="per --calibrate entry")
    p.add_argument("--calibration-chains", type=int, nargs="*", default=[4, 4], help="per --calibrate entry")
    p.add_argument("--grid", type=float, nargs="*", default=list(np.round(np.arange(0.6, 2.401, 0.1), 2)))
    p.add_argument("--curvature-grid", type=float, nargs="*", default=[0.0, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6],
                   help="curvatures tried per side (none given: a linear response)")
    p.add_argument("--check-L", type=int, default=256)
    p.add_argument("--check-T", type=float, nargs="*", default=[2.20, 2.25, 2.30, 2.35])
    p.add_argument("--check-sweeps", type=int, default=1000)
    p.add_argument("--check-chains", type=int, default=2)
    p.add_argument("--check-extra-T", type=float, nargs="*", default=[2.30, 2.35],
                   help="temperatures given a second, independent Monte Carlo run (seed L + 1) at the check size")
    p.add_argument("--check-extra-sweeps", type=int, default=2000)
    p.add_argument("--n", type=int, default=1024, help="generated configurations per calibration point")
    p.add_argument("--check-n", type=int, default=8192,
                   help="generated configurations per check temperature (U4 near 2.30 at L = 256 needs thousands)")
    p.add_argument("--retrain-critical", action="store_true",
                   help="train the critical generator again (default: the critical part of the shipped one, which "
                        "this script trained: 3 levels of Wolff configurations at K_c, L = 64)")
    p.add_argument("--mc-cache", default=None)
    p.add_argument("--save-pretrained", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.calibrate is None:
        args.calibrate = [[64, 2.15, 2.20, 2.25, 2.30, 2.35, 2.40, 2.50, 2.60],
                          [128, 2.20, 2.25, 2.28, 2.30, 2.32, 2.35, 2.40, 2.45]]
    if args.quick:
        args.calibrate, args.calibration_sweeps, args.calibration_chains = [[16, 2.1, 2.5]], [400], [4]
        args.check_L, args.check_sweeps, args.check_extra_T, args.n, args.check_n = 32, 400, [], 256, 256
        args.grid, args.curvature_grid = [0.6, 1.0, 1.4], [0.0, 0.1]
    host = socket.gethostname().split(".")[0]
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"inverse_thermal-{host}.json")
    cache = args.mc_cache or os.path.join(os.path.dirname(__file__), "results", f"inverse_thermal_mc-{host}.json")
    t_start = time.perf_counter()
    shipped = inv.load_pretrained_thermal()

    # 1. critical generator: three levels of critical Wolff configurations at once (multi-level consistency)
    t0 = time.perf_counter()
    if args.retrain_critical:
        data = inv.critical_configurations(64, 256, seed=0)
        critical = inv.train(inv.symmetric_generator(3), data, key=jax.random.fold_in(jax.random.key(2025), 2),
                             steps=300, learning_rate=0.05, batch_size=32, levels=3).model
    else:
        critical = shipped.critical
    train_seconds = time.perf_counter() - t0
    print(f"critical generator (3 levels, Wolff L = 64): params {np.asarray(critical.params)}, {train_seconds:.0f} s")

    # 2. Monte Carlo at the calibration sizes, and the calibration over all of them at once
    sizes, temps, m_cal, u_cal, mc_cal = [], [], [], [], []
    for entry, sweeps, chains in zip(args.calibrate, args.calibration_sweeps, args.calibration_chains):
        L, T = int(entry[0]), [float(x) for x in entry[1:]]
        mc = monte_carlo(L, T, sweeps, chains, cache)
        print(f"Monte Carlo L = {L}: {mc['seconds']:.0f} s (load {mc['load']:.1f})")
        mc_cal.append(mc)
        sizes += [L] * len(T)
        temps += T
        m_cal.append(np.asarray(mc["abs_m"]))
        u_cal.append(np.asarray(mc["binder"]))
    m_cal, u_cal = np.concatenate(m_cal, axis=1), np.concatenate(u_cal, axis=1)
    t0 = time.perf_counter()
    cal = inv.calibrate_thermal(critical, sizes, temps, Estimate(*m_cal), Estimate(*u_cal), key=jax.random.key(1),
                                n=args.n, grid=args.grid, curvature_grid=args.curvature_grid or None)
    cal_seconds = time.perf_counter() - t0
    response = np.asarray(cal.model.response).tolist()
    curvature = None if cal.model.curvature is None else np.asarray(cal.model.curvature).tolist()
    n_side = [int(np.sum(np.asarray(temps) < 2.269185314213022)), int(np.sum(np.asarray(temps) > 2.269185314213022))]
    chi2_best = [float(np.nanmin(cal.chi2[side])) for side in (0, 1)]
    print(f"calibrated (ordered, disordered side): responses {response}, curvatures {curvature}; chi2 {chi2_best} "
          f"for {[2 * k for k in n_side]} values, in {cal_seconds:.0f} s")

    # 3. the check: Monte Carlo at the check size (plus independent extra runs), generated ensembles from fresh keys
    runs = [monte_carlo(args.check_L, args.check_T, args.check_sweeps, args.check_chains, cache)]
    if args.check_extra_T:
        runs.append(monte_carlo(args.check_L, args.check_extra_T, args.check_extra_sweeps, args.check_chains, cache,
                                seed=args.check_L + 1))
    for r in runs:
        print(f"Monte Carlo L = {args.check_L}, T = {r['T']}: {r['seconds']:.0f} s (load {r['load']:.1f})")
    mc = {T: combine(runs, T) for T in args.check_T}
    rows = check_rows(cal.model, args.check_L, args.check_T, args.check_n, mc)
    rows_shipped = check_rows(shipped, args.check_L, args.check_T, args.check_n, mc)
    sizes_text = ", ".join(str(int(e[0])) for e in args.calibrate)
    print_rows(f"L = {args.check_L}, calibrated at L = {sizes_text}, {args.check_n} generated configurations per T",
               rows)
    print_rows(f"the same check for the shipped generator (responses {np.asarray(shipped.response).tolist()}, "
               f"curvatures {None if shipped.curvature is None else np.asarray(shipped.curvature).tolist()})",
               rows_shipped)
    if args.save_pretrained:
        path = os.path.join(os.path.dirname(__file__), "..", "jaxrg", inv.PRETRAINED_THERMAL_PATH)
        inv.save(path, cal.model)
        print(f"saved {os.path.normpath(path)}")
    record = {
        "host": host, "platform": platform.platform(), "jax": jax.__version__, "load": os.getloadavg(),
        "command": "benchmarks/inverse_thermal.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "args": vars(args), "critical_params": np.asarray(critical.params).tolist(), "train_seconds": train_seconds,
        "response": response, "curvature": curvature,
        "calibration": {"L": sizes, "T": temps, "grid": cal.grid.tolist(),
                        "curvature_grid": cal.curvature_grid.tolist(), "chi2": cal.chi2.tolist(),
                        "chi2_best": chi2_best, "n_values": [2 * k for k in n_side],
                        "abs_m": np.asarray(cal.abs_magnetization).tolist(), "abs_m_mc": m_cal.tolist(),
                        "binder": np.asarray(cal.binder).tolist(), "binder_mc": u_cal.tolist(),
                        "mc": mc_cal, "seconds": cal_seconds},
        "check": {"L": args.check_L, "rows": rows, "mc_runs": runs},
        "check_shipped": {"response": np.asarray(shipped.response).tolist(), "rows": rows_shipped},
        "goal_within_5pct_all": bool(all(r["met"] for r in rows)),
        "total_seconds": time.perf_counter() - t_start,
    }
    write_json(out, record)
    print(f"wrote {out} ({record['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
