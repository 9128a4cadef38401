"""Scale-dynamics benchmark: the jaxrg.scale solvers (diffrax / optimistix / lineax) side by side with the
hand-written solvers they replaced (RK4 and Dormand-Prince in lax.scan, damped Newton, Levenberg-Marquardt), on the
same problems: accuracy against exact answers, steps, compile time, run time, and compilations of a second call.

The replaced implementation is read from git history (`--legacy-commit`, default the last commit that had it) into a
temporary package `scale_legacy`, so nothing of it is kept in the tree.

Problems
  * fixed-step RK4 on a linear 3-coupling flow (error vs expm, and the RK4 order from two step sizes);
  * adaptive integration of the same flow at rtol 1e-10 (Dormand-Prince 5(4) vs diffrax Tsit5);
  * a stiff linear flow, eigenvalues -1 and -1e4 (explicit solvers vs diffrax Kvaerno5);
  * the scale Hamiltonian: H drift on an RK4 trajectory; the Hamilton-Jacobi action along a flow line;
  * fixed points of a two-coupling beta (Newton); analyze_map of the toy 2D Ising map and of a learned map (equinox
    FlowModel) called again with new weights;
  * VFT fits: noise-free recovery and a vmapped batch of 1 %-noise fits (calibration and fits per second).

Usage:
    .venv/bin/python benchmarks/scale.py [--quick] [--output PATH] [--legacy-commit SHA]
Writes benchmarks/results/scale-<host>[-quick].json atomically.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from jaxrg import scale  # noqa: E402

LEGACY_COMMIT = "e77a1149acf549cabc2653b4121641f5c1ac608a"
LAM, A = 0.1, 50.0
K_C = math.log1p(math.sqrt(2.0)) / 2.0

# Linear flow with spectrum (1, 0, -1/2) in a non-orthogonal basis, and a stiff one with spectrum (-1, -1e4).
P = np.array([[1.0, 0.4, -0.2], [0.3, 1.0, 0.5], [-0.1, 0.2, 1.0]])
M_LIN = P @ np.diag([1.0, 0.0, -0.5]) @ np.linalg.inv(P)
Q = np.array([[1.0, 0.3], [0.2, 1.0]])
M_STIFF = Q @ np.diag([-1.0, -1e4]) @ np.linalg.inv(Q)


def linear_beta(g):
    return jnp.asarray(M_LIN) @ g


def stiff_beta(g):
    return jnp.asarray(M_STIFF) @ g


def load_legacy(commit: str):
    """The replaced jaxrg.scale package from git history, imported as `scale_legacy` (None if git has no copy)."""
    files = subprocess.run(["git", "-C", ROOT, "ls-tree", "--name-only", commit, "jaxrg/scale/"],
                           capture_output=True, text=True)
    if files.returncode != 0 or not files.stdout.strip():
        return None
    tmp = tempfile.mkdtemp(prefix="scale_legacy_")
    pkg = os.path.join(tmp, "scale_legacy")
    os.makedirs(pkg)
    for path in files.stdout.split():
        text = subprocess.run(["git", "-C", ROOT, "show", f"{commit}:{path}"], capture_output=True, text=True,
                              check=True).stdout
        with open(os.path.join(pkg, os.path.basename(path)), "w") as f:
            f.write(text.replace("jaxrg.scale.", "scale_legacy."))
    sys.path.insert(0, tmp)
    return importlib.import_module("scale_legacy")


class CompileCounter:
    """Counts XLA compilations (jax.monitoring) while active."""

    def __init__(self):
        self.count = 0

    def __call__(self, name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            self.count += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def timed(fn, first, second):
    """Run fn(first) then fn(second) (new values, same shapes): (second result, timings and compilations)."""
    with CompileCounter() as c1:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(first))
        t_first = time.perf_counter() - t0
    with CompileCounter() as c2:
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(second))
        t_second = time.perf_counter() - t0
    return out, {"first_call_s": t_first, "run_s": t_second, "compile_s": max(t_first - t_second, 0.0),
                 "compilations_first": c1.count, "compilations_second": c2.count}


def fixed_step(impl) -> dict:
    g0s = (jnp.array([0.5, 0.3, -0.2]), jnp.array([0.4, 0.2, -0.1]))
    errs = {}
    for n in (50, 100):
        traj, t = timed(lambda g: impl.integrate_flow(linear_beta, g, 1.0 / n, n), *g0s)
        exact = jax.scipy.linalg.expm(jnp.asarray(M_LIN)) @ g0s[1]
        errs[n] = float(jnp.max(jnp.abs(traj.g[-1] - exact)))
    return {"max_error_100_steps": errs[100], "order": math.log2(errs[50] / errs[100]), "steps": 100, **t}


def adaptive(impl, beta, M, g0s, s_end, max_steps, solver=None) -> dict:
    s = jnp.array([0.0, 0.1, 0.7, s_end]) if M is M_LIN else jnp.array([0.0, 0.5, s_end])
    kw = {} if solver is None else {"solver": solver}
    sol, t = timed(lambda g: impl.integrate_flow_adaptive(beta, g, s, rtol=1e-10, atol=1e-12, max_steps=max_steps,
                                                          **kw), *g0s)
    exact = jnp.stack([jax.scipy.linalg.expm(jnp.asarray(M) * si) @ g0s[1] for si in s])
    return {"max_error": float(jnp.max(jnp.abs(sol.g - exact))), "accepted_steps": int(sol.n_accepted),
            "rejected_steps": int(sol.n_rejected), "success": bool(sol.success), **t}


def hamiltonian(impl) -> dict:
    beta = lambda g: LAM * g  # noqa: E731
    F = lambda g: A / g  # noqa: E731
    traj, t = timed(lambda p0: impl.hamiltonian_trajectory(beta, F, 1.0, p0, 0.2, 100), 3.0, 2.0)
    fa, t2 = timed(lambda g0: impl.hj_action_along_flow(beta, F, g0, 0.05, 400), 0.4, 0.5)
    S_exact = A / LAM * (1.0 / fa.g[-1] - 1.0 / 0.5)
    return {"glass_ds_0.2_H_drift": float(traj.max_drift),
            "glass_rel_error_g": float(jnp.max(jnp.abs(traj.g / jnp.exp(LAM * traj.s) - 1.0))), **t,
            "hj_along_flow_rel_error_S": float(jnp.abs(fa.S[-1] / S_exact - 1.0)), "hj_along_flow_run_s": t2["run_s"],
            "hj_along_flow_compile_s": t2["compile_s"]}


def fixed_points(impl) -> dict:
    beta = lambda g: jnp.stack([g[0] ** 2 + g[1] ** 2 - 4.0, g[0] - g[1]])  # noqa: E731
    fp, t = timed(lambda g: impl.find_fixed_point(beta, g), jnp.array([1.0, 2.0]), jnp.array([3.0, 0.5]))
    return {"max_error": float(jnp.max(jnp.abs(fp.g_star - math.sqrt(2.0)))), "iterations": int(fp.n_iter), **t}


def toy_map(K):
    return K_C + 2.0 * (K - K_C) + 0.5 * (K - K_C) ** 2


def learned_map(w, a):
    """jaxrg.rg.flow.FlowModel J -> J + a tanh(w (J - K_c)) (an equinox module): y_t = log2(1 + a w)."""
    import equinox as eqx

    from jaxrg.rg.flow import FlowModel

    model = FlowModel(jax.random.PRNGKey(0), 1, width=1, depth=1)
    return eqx.tree_at(
        lambda m: (m.mlp.layers[0].weight, m.mlp.layers[0].bias, m.mlp.layers[1].weight, m.mlp.layers[1].bias),
        model, (jnp.array([[w]]), jnp.array([-w * K_C]), jnp.array([[a]]), jnp.array([0.0])))


def bridge(impl) -> dict:
    an, t = timed(lambda g: impl.analyze_map(toy_map, g, 2.0), 0.45, 0.40)
    models = (learned_map(4.0, 0.25), learned_map(3.0, 1.0 / 3.0))
    an2, t2 = timed(lambda m: impl.analyze_map(m.step, jnp.array([0.42]), 2.0), *models)
    return {"toy_K_star_error": abs(float(an.g_star) - K_C), "toy_y_t_error": abs(float(an.y_t) - 1.0), **t,
            "learned_y_t_error": abs(float(an2.y_t) - 1.0), "learned_first_call_s": t2["first_call_s"],
            "learned_new_weights_s": t2["run_s"], "learned_compilations_new_weights": t2["compilations_second"]}


def vft(impl, n_sets: int) -> dict:
    tau0, D, T0 = 1e-13, 8.0, 150.0
    T = jnp.linspace(190.0, 400.0, 25)
    log_tau = jnp.log(tau0) + D * T0 / (T - T0)
    exact = impl.fit_vft(T, jnp.exp(log_tau))
    fit_many = jax.jit(jax.vmap(lambda k: impl.fit_vft(
        T, jnp.exp(log_tau + 0.01 * jax.random.normal(k, T.shape)), sigma_log_tau=0.01)))
    fits, t = timed(fit_many, jax.random.split(jax.random.PRNGKey(6), n_sets),
                    jax.random.split(jax.random.PRNGKey(7), n_sets))
    out = {"noise_free_max_rel_error": max(abs(float(exact.tau0) / tau0 - 1), abs(float(exact.D) / D - 1),
                                           abs(float(exact.T0) / T0 - 1)),
           "n_sets": n_sets, "fits_per_second": n_sets / t["run_s"], "compile_s": t["compile_s"],
           "converged_fraction": float(jnp.mean(fits.converged)), "mean_iterations": float(jnp.mean(fits.n_iter))}
    for name, true in (("D", D), ("T0", T0)):
        v, e = np.asarray(getattr(fits, name)), np.asarray(getattr(fits, name + "_error"))
        out[name + "_scatter_over_mean_error"] = float(v.std(ddof=1) / e.mean())
        out[name + "_bias_in_errors"] = float((v.mean() - true) / e.mean())
    return out


def run(impl, quick: bool, new: bool) -> dict:
    import diffrax

    lin0 = (jnp.array([0.5, 0.3, -0.2]), jnp.array([0.4, 0.2, -0.1]))
    stiff0 = (jnp.array([1.0, 2.0]), jnp.array([2.0, 1.0]))
    out = {
        "fixed_step_rk4": fixed_step(impl),
        "adaptive_linear": adaptive(impl, linear_beta, M_LIN, lin0, 2.0, 4096),
        "stiff_explicit": adaptive(impl, stiff_beta, M_STIFF, stiff0, 1.0, 20000),
        "hamiltonian": hamiltonian(impl),
        "fixed_point": fixed_points(impl),
        "bridge": bridge(impl),
        "vft": vft(impl, 200 if quick else 2000),
    }
    if new:
        out["stiff_implicit_kvaerno5"] = adaptive(impl, stiff_beta, M_STIFF, stiff0, 1.0, 20000, diffrax.Kvaerno5())
    return out


def table(result: dict) -> str:
    """Markdown rows: problem, quantity, legacy, new."""
    old, new = result.get("legacy") or {}, result["new"]
    lines = ["| problem | quantity | legacy | new |", "|---|---|---|---|"]
    for problem, values in new.items():
        for key, v in values.items():
            o = old.get(problem, {}).get(key, "")
            fmt = lambda x: f"{x:.3g}" if isinstance(x, float) else str(x)  # noqa: E731
            lines.append(f"| {problem} | {key} | {fmt(o)} | {fmt(v)} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--output", default=None, help="JSON path (default benchmarks/results/scale-<host>.json)")
    parser.add_argument("--legacy-commit", default=LEGACY_COMMIT, help="git commit holding the replaced solvers")
    args = parser.parse_args(argv)
    legacy = load_legacy(args.legacy_commit)
    result = {
        "benchmark": "scale",
        "host": socket.gethostname(),
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "quick": args.quick,
        "legacy_commit": args.legacy_commit if legacy is not None else None,
        "legacy": None if legacy is None else run(legacy, args.quick, new=False),
        "new": run(scale, args.quick, new=True),
        "loadavg": os.getloadavg(),
    }
    out = args.output or os.path.join(ROOT, "benchmarks", "results",
                                      f"scale-{socket.gethostname()}{'-quick' if args.quick else ''}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, out)
    print(table(result))
    return result


if __name__ == "__main__":
    main()
