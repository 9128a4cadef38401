"""Scale-dynamics benchmark: accuracy against analytic cases and throughput of the jaxrg.scale cores.

Measures
  * RK4 convergence: error of g(s) and drift of the scale Hamiltonian H versus step ds (expected slope 4);
  * Hamilton-Jacobi quadrature: relative error of S = A / (lambda g) versus the number of panels;
  * VFT fit calibration: bias, scatter / reported error and the fraction within 2 % over many 1 %-noise data sets;
  * RG-map bridge: y_t of the toy 2D Ising map (exact 1) and of the 1D Ising decimation t' = t^2 (exact 1);
  * throughput: vmapped VFT fits per second and RK4 coupling-steps per second (after compilation).

Usage:
    .venv/bin/python benchmarks/scale.py [--quick] [--output PATH]
Writes benchmarks/results/scale-<host>[-quick].json atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jaxrg import scale  # noqa: E402

LAM, A = 0.1, 50.0


def rk4_convergence() -> dict:
    beta = lambda g: jnp.stack([-g[0] + g[0] * g[1], 0.5 * g[1] - g[0] ** 2])  # noqa: E731
    F = lambda g: g[0] ** 2 + jnp.cos(g[1])  # noqa: E731
    rows = []
    for n in (25, 50, 100, 200, 400):
        ds = 2.0 / n
        glass = scale.hamiltonian_trajectory(lambda g: LAM * g, lambda g: A / g, 1.0, 3.0, 20.0 / n, n)
        g_err = float(jnp.max(jnp.abs(glass.g - jnp.exp(LAM * glass.s)) / jnp.exp(LAM * glass.s)))
        traj = scale.hamiltonian_trajectory(beta, F, jnp.array([0.6, 0.2]), jnp.array([0.3, -0.4]), ds, n)
        rows.append({"n_steps": n, "glass_ds": 20.0 / n, "glass_rel_error_g": g_err,
                     "glass_H_drift": float(glass.max_drift), "nonlinear_ds": ds,
                     "nonlinear_H_drift": float(traj.max_drift)})
    for a, b in zip(rows[:-1], rows[1:]):
        b["nonlinear_drift_order"] = math.log2(a["nonlinear_H_drift"] / b["nonlinear_H_drift"])
    return {"rows": rows}


def hj_quadrature() -> dict:
    g = jnp.logspace(-3, 3, 13)
    exact = A / LAM * (1.0 / g - 1.0)
    rows = []
    for n_panels in (1, 2, 4, 8, 16):
        S = scale.hj_action(lambda x: LAM * x, lambda x: A / x, g, 1.0, n_panels=n_panels)
        err = jnp.abs(S - exact) / jnp.maximum(jnp.abs(exact), 1e-300)
        rows.append({"n_panels_per_half": n_panels, "order": 16,
                     "max_rel_error": float(jnp.max(jnp.where(g == 1.0, 0.0, err)))})
    return {"interval": "g in [1e-3, 1e3], g_ref = 1", "rows": rows}


def vft_calibration(n_sets: int) -> dict:
    tau0, D, T0 = 1e-13, 8.0, 150.0
    T = jnp.linspace(190.0, 400.0, 25)
    log_tau = jnp.log(tau0) + D * T0 / (T - T0)
    keys = jax.random.split(jax.random.PRNGKey(7), n_sets)
    fit_many = jax.jit(jax.vmap(lambda k: scale.fit_vft(
        T, jnp.exp(log_tau + 0.01 * jax.random.normal(k, T.shape)), sigma_log_tau=0.01)))
    fits = jax.block_until_ready(fit_many(keys))
    t0 = time.perf_counter()
    jax.block_until_ready(fit_many(keys))
    seconds = time.perf_counter() - t0
    out = {"n_sets": n_sets, "n_points": int(T.shape[0]), "noise": 0.01,
           "fits_per_second": n_sets / seconds, "converged_fraction": float(jnp.mean(fits.converged))}
    for name, true in (("tau0", tau0), ("D", D), ("T0", T0)):
        v = np.asarray(getattr(fits, name))
        e = np.asarray(getattr(fits, name + "_error"))
        out[name] = {"true": true, "mean": float(v.mean()), "bias_in_errors": float((v.mean() - true) / e.mean()),
                     "scatter_over_mean_error": float(v.std(ddof=1) / e.mean()),
                     "fraction_within_2_percent": float(np.mean(np.abs(v / true - 1.0) < 0.02))}
    A_pred, A_err = scale.barrier_amplitude(500.0, 0.1)
    out["barrier_amplitude_DT0_500_lambda_0.1"] = float(A_pred)
    return out


def bridge() -> dict:
    K_c = math.log1p(math.sqrt(2.0)) / 2.0
    an = scale.analyze_map(lambda K: K_c + 2.0 * (K - K_c) + 0.5 * (K - K_c) ** 2, 0.45, 2.0)
    an1 = scale.analyze_map(lambda t: t**2, 0.8, 2.0)
    beta1 = scale.beta_from_map(lambda K: K_c + 2.0 * (K - K_c) + 0.5 * (K - K_c) ** 2, 2.0)
    return {"toy_2d_ising": {"K_star_minus_Kc": float(an.g_star) - K_c, "y_t": float(an.y_t), "nu": float(an.nu),
                             "first_order_beta_slope": float(jnp.real(scale.linearize(beta1, K_c).eigenvalues[0]))},
            "ising_1d_decimation": {"t_star": float(an1.g_star), "y": float(an1.y_t)}}


def rk4_throughput(n_couplings: int, n_flows: int, n_steps: int) -> dict:
    key = jax.random.PRNGKey(0)
    M = -jnp.eye(n_couplings) + 0.1 * jax.random.normal(key, (n_couplings, n_couplings))
    beta = lambda g: M @ g + 0.01 * g**2  # noqa: E731
    g0 = jax.random.normal(jax.random.PRNGKey(1), (n_flows, n_couplings))
    run = jax.jit(jax.vmap(lambda g: scale.integrate_flow(beta, g, 1e-3, n_steps, save_every=n_steps).g[-1]))
    jax.block_until_ready(run(g0))
    t0 = time.perf_counter()
    jax.block_until_ready(run(g0))
    seconds = time.perf_counter() - t0
    return {"n_couplings": n_couplings, "n_flows": n_flows, "n_steps": n_steps,
            "flow_steps_per_second": n_flows * n_steps / seconds}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    parser.add_argument("--output", default=None, help="JSON path (default benchmarks/results/scale-<host>.json)")
    args = parser.parse_args(argv)
    result = {
        "benchmark": "scale",
        "host": socket.gethostname(),
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "quick": args.quick,
        "rk4_convergence": rk4_convergence(),
        "hj_quadrature": hj_quadrature(),
        "vft_calibration": vft_calibration(200 if args.quick else 2000),
        "bridge": bridge(),
        "rk4_throughput": rk4_throughput(8, 256 if args.quick else 4096, 1000),
    }
    out = args.output or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                      f"scale-{socket.gethostname()}{'-quick' if args.quick else ''}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, out)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
