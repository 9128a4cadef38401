"""Off-critical inverse-RG generation: calibrate the thermal responses of a generator against Monte Carlo at one
size, then compare generated and Monte Carlo <|m|> and U4 at another size and the same temperatures.

    .venv/bin/python benchmarks/inverse_thermal.py                      # calibrate at L = 64, check at L = 256
    .venv/bin/python benchmarks/inverse_thermal.py --save-pretrained    # also writes jaxrg/data/inverse_thermal_3x3.eqx
    .venv/bin/python benchmarks/inverse_thermal.py --quick              # smoke run (L = 16 -> 32)

The critical generator is the 3-parameter kernel trained on three levels of Wolff configurations at K_c (L = 64);
the thermal scaling field of every level is t = T/T_c - 1 run backwards in scale by the linearised flow
d tau / ds = y_t tau (jaxrg.scale.integrate_flow, y_t = 1 / nu). Monte Carlo: Swendsen-Wang through jaxrg.simulate
(cold start, 4 and 2 chains per temperature, errors from the autocorrelation time). Monte Carlo results are cached in
--mc-cache (default benchmarks/results/inverse_thermal_mc-<host>.json) and reused when the same run is asked again.

Writes benchmarks/results/inverse_thermal-<host>.json (the table and the goal: generated <|m|> and U4 within 5% of
Monte Carlo at L = 256 for T in {2.20, 2.25, 2.30, 2.35}).
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


def monte_carlo(L, temperatures, sweeps, chains, cache_path):
    """<|m|>, U4 and energy with errors from Swendsen-Wang (cached by (L, T, sweeps, chains))."""
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}
    name = f"L{L}-sweeps{sweeps}-chains{chains}-T" + ",".join(f"{T:.4f}" for T in temperatures)
    if name in cache:
        return cache[name]
    t0 = time.perf_counter()
    r = simulate(L, temperatures, sampler="swendsen_wang", sweeps=sweeps, thermalize=300, chains=chains, seed=L,
                 initial="ordered")
    row = {"L": L, "T": list(temperatures), "sweeps": sweeps, "chains": chains,
           "seconds": time.perf_counter() - t0, "load": os.getloadavg()[0],
           "abs_m": [np.asarray(r.abs_magnetization.mean).tolist(), np.asarray(r.abs_magnetization.error).tolist()],
           "binder": [np.asarray(r.binder.mean).tolist(), np.asarray(r.binder.error).tolist()],
           "energy": [np.asarray(r.energy.mean).tolist(), np.asarray(r.energy.error).tolist()]}
    cache[name] = row
    write_json(cache_path, cache)
    return row


def generated(model, L, n, key, T, n_blocks=32):
    """<|m|> and U4 of n generated configurations with jackknife errors."""
    _, e, m = inv.level_observables(model, L, n, key, temperature=T)
    m = np.asarray(m[-1], np.float64)
    edges = np.linspace(0, n, n_blocks + 1).astype(int)

    def stats(x):
        return np.array([np.mean(np.abs(x)), 1 - np.mean(x**4) / (3 * np.mean(x**2) ** 2)])

    full = stats(m)
    reps = np.stack([stats(np.delete(m, np.s_[edges[i]:edges[i + 1]])) for i in range(n_blocks)])
    err = np.sqrt((n_blocks - 1) * np.mean((reps - reps.mean(0)) ** 2, axis=0))
    return full, err, float(np.mean(np.asarray(e[-1])))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--calibration-L", type=int, default=64)
    p.add_argument("--calibration-T", type=float, nargs="*", default=[2.15, 2.20, 2.25, 2.30, 2.35, 2.40, 2.50, 2.60])
    p.add_argument("--check-L", type=int, default=256)
    p.add_argument("--check-T", type=float, nargs="*", default=[2.20, 2.25, 2.30, 2.35])
    p.add_argument("--mc-sweeps", type=int, nargs=2, default=[4000, 1000], help="calibration and check sizes")
    p.add_argument("--chains", type=int, nargs=2, default=[4, 2], help="calibration and check sizes")
    p.add_argument("--n", type=int, default=1024, help="generated configurations per temperature")
    p.add_argument("--mc-cache", default=None)
    p.add_argument("--save-pretrained", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.calibration_L, args.check_L, args.mc_sweeps, args.n = 16, 32, [400, 400], 256
    host = socket.gethostname().split(".")[0]
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"inverse_thermal-{host}.json")
    cache = args.mc_cache or os.path.join(os.path.dirname(__file__), "results", f"inverse_thermal_mc-{host}.json")
    t_start = time.perf_counter()

    # 1. critical generator: three levels of critical Wolff configurations at once (multi-level consistency)
    t0 = time.perf_counter()
    data = inv.critical_configurations(64, 256, seed=0)
    critical = inv.train(inv.symmetric_generator(3), data, key=jax.random.fold_in(jax.random.key(2025), 2),
                         steps=300, learning_rate=0.05, batch_size=32, levels=3).model
    train_seconds = time.perf_counter() - t0
    print(f"critical generator (3 levels, Wolff L = 64): params {np.asarray(critical.params)}, {train_seconds:.0f} s")

    # 2. Monte Carlo at the calibration size, and the calibration
    mc_cal = monte_carlo(args.calibration_L, args.calibration_T, args.mc_sweeps[0], args.chains[0], cache)
    print(f"Monte Carlo L = {args.calibration_L}: {mc_cal['seconds']:.0f} s")
    t0 = time.perf_counter()
    cal = inv.calibrate_thermal(critical, args.calibration_L, args.calibration_T, Estimate(*mc_cal["abs_m"]),
                                Estimate(*mc_cal["binder"]), key=jax.random.key(1), n=args.n)
    cal_seconds = time.perf_counter() - t0
    response = np.asarray(cal.model.response).tolist()
    print(f"calibrated responses (ordered, disordered) = {response} in {cal_seconds:.0f} s")

    # 3. the check: Monte Carlo at another size, and generated ensembles from fresh keys
    mc_chk = monte_carlo(args.check_L, args.check_T, args.mc_sweeps[1], args.chains[1], cache)
    print(f"Monte Carlo L = {args.check_L}: {mc_chk['seconds']:.0f} s")
    rows = []
    for i, T in enumerate(args.check_T):
        (m, u), (dm, du), e = generated(cal.model, args.check_L, args.n, jax.random.key(100 + i), T)
        m_mc, dm_mc = mc_chk["abs_m"][0][i], mc_chk["abs_m"][1][i]
        u_mc, du_mc = mc_chk["binder"][0][i], mc_chk["binder"][1][i]
        rows.append({"T": T, "abs_m": [m, dm], "abs_m_mc": [m_mc, dm_mc], "abs_m_rel": m / m_mc - 1,
                     "binder": [u, du], "binder_mc": [u_mc, du_mc], "binder_rel": u / u_mc - 1,
                     "energy": e, "energy_mc": mc_chk["energy"][0][i],
                     "met": bool(abs(m / m_mc - 1) <= 0.05 and abs(u / u_mc - 1) <= 0.05)})
    print(f"\nL = {args.check_L}, calibrated at L = {args.calibration_L}, {args.n} generated configurations per T")
    print(f"{'T':>6} {'<|m|> gen':>16} {'<|m|> MC':>16} {'rel':>7} {'U4 gen':>16} {'U4 MC':>16} {'rel':>7} "
          f"{'e gen':>8} {'e MC':>8}  met")
    for r in rows:
        print(f"{r['T']:6.3f} {r['abs_m'][0]:8.4f}({r['abs_m'][1]:.4f}) {r['abs_m_mc'][0]:8.4f}({r['abs_m_mc'][1]:.4f})"
              f" {r['abs_m_rel']:+7.3f} {r['binder'][0]:8.4f}({r['binder'][1]:.4f}) {r['binder_mc'][0]:8.4f}"
              f"({r['binder_mc'][1]:.4f}) {r['binder_rel']:+7.3f} {r['energy']:8.4f} {r['energy_mc']:8.4f}  {r['met']}")
    if args.save_pretrained:
        path = os.path.join(os.path.dirname(__file__), "..", "jaxrg", inv.PRETRAINED_THERMAL_PATH)
        inv.save(path, cal.model)
        print(f"saved {os.path.normpath(path)}")
    record = {
        "host": host, "platform": platform.platform(), "jax": jax.__version__, "load": os.getloadavg(),
        "command": "benchmarks/inverse_thermal.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "args": vars(args), "critical_params": np.asarray(critical.params).tolist(), "train_seconds": train_seconds,
        "response": response, "calibration": {"L": args.calibration_L, "T": args.calibration_T,
                                              "grid": cal.grid.tolist(), "chi2": cal.chi2.tolist(),
                                              "abs_m": np.asarray(cal.abs_magnetization).tolist(),
                                              "binder": np.asarray(cal.binder).tolist(),
                                              "mc": mc_cal, "seconds": cal_seconds},
        "check": {"L": args.check_L, "rows": rows, "mc": mc_chk},
        "goal_within_5pct_all": bool(all(r["met"] for r in rows)),
        "total_seconds": time.perf_counter() - t_start,
    }
    write_json(out, record)
    print(f"wrote {out} ({record['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
