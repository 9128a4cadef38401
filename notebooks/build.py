"""Build the notebooks from their cell sources and execute them, so outputs are committed and read on GitHub.

Usage: python notebooks/build.py [NAME ...]   (default: all). Execution at full size; the tests execute the same
notebooks with JAXRG_NOTEBOOK_SMALL=1 (tests/test_notebooks.py), so a broken API breaks CI.
"""

from __future__ import annotations

import os
import sys

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = """\
import os
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import matplotlib.pyplot as plt   # inline backend in Jupyter
import jaxrg
SMALL = os.environ.get("JAXRG_NOTEBOOK_SMALL") == "1"   # the test suite runs every notebook at small sizes
"""

NOTEBOOKS = {
    "01_quickstart": [
        ("md", "# 1. Quickstart: sampling the 2D Ising model and checking it against exact results\n\n"
               "`jaxrg.simulate` runs all temperatures and chains as one vmapped batch and returns observables "
               "with error bars. `jaxrg.exact` gives Kaufman's exact finite-lattice values to compare with."),
        ("code", SETUP),
        ("code", """\
L = 8 if SMALL else 16
T = np.linspace(1.8, 3.0, 4 if SMALL else 9)
r = jaxrg.simulate(L, T, sampler="wolff", sweeps=400 if SMALL else 4000, thermalize=100 if SMALL else 500,
                   chains=2 if SMALL else 4, seed=0)
ex = jaxrg.exact.finite_lattice(L, T)
print(" T      e (MC)              e (exact)   C (MC)           C (exact)")
for t, e, de, ee, c, dc, ce in zip(T, r.energy.mean, r.energy.error, ex.energy,
                                     r.heat_capacity.mean, r.heat_capacity.error, ex.heat_capacity):
    print(f"{t:.3f}  {e:+.4f} +- {de:.4f}   {ee:+.4f}     {c:.3f} +- {dc:.3f}   {ce:.3f}")
"""),
        ("md", "The deviations in units of the error bar should look like draws from a standard normal:"),
        ("code", """\
z = (r.energy.mean - ex.energy) / r.energy.error
print("z-scores of the energy:", np.round(z, 2))
fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
Tf = np.linspace(T[0], T[-1], 200)
exf = jaxrg.exact.finite_lattice(L, Tf)
ax[0].plot(Tf, exf.energy, "k-", label=f"Kaufman, L={L}")
ax[0].errorbar(T, r.energy.mean, r.energy.error, fmt="o", label="Wolff")
ax[0].set_xlabel("T"); ax[0].set_ylabel("energy per spin"); ax[0].legend()
ax[1].plot(Tf, exf.heat_capacity, "k-")
ax[1].errorbar(T, r.heat_capacity.mean, r.heat_capacity.error, fmt="o")
ax[1].set_xlabel("T"); ax[1].set_ylabel("heat capacity per spin")
plt.tight_layout(); plt.show()
"""),
        ("md", "Autocorrelation times (in sweeps) tell how many sweeps make one independent sample:"),
        ("code", """\
for name in ("metropolis", "wolff"):
    rr = jaxrg.simulate(L, jaxrg.exact.CRITICAL_TEMPERATURE, sampler=name, sweeps=400 if SMALL else 4000,
                        thermalize=100, chains=2, seed=1)
    print(f"{name:10s} tau_int(|m|) = {rr.tau_abs_magnetization:.2f} sweeps, Binder U4 = "
          f"{rr.binder.mean:.3f} +- {rr.binder.error:.3f}")
"""),
    ],
    "02_trg_thermodynamics": [
        ("md", "# 2. Thermodynamics by differentiating a tensor network\n\n"
               "`jaxrg.rg.trg` coarse-grains the Ising partition function with TRG (Levin-Nave), bond-weighted TRG "
               "(BTRG, Adachi-Okubo-Todo), HOTRG or Gilt-TNR. "
               "The result is a differentiable function of K and h: the energy and heat capacity are its first and "
               "second derivatives (`jax.grad`), compared here with Onsager's exact solution."),
        ("code", SETUP),
        ("code", """\
from jaxrg.rg import trg
chi = 8 if SMALL else 24
T = np.array([1.8, 2.0, 2.6, 3.0])
th = trg.trg_thermodynamics(T, chi=chi, method="hotrg")
ex = jaxrg.exact.infinite_lattice(T)
for name in ("free_energy", "energy", "heat_capacity", "magnetization"):
    print(f"{name:14s} HOTRG {np.round(np.asarray(getattr(th, name)), 6)}  Onsager {np.round(getattr(ex, name), 6)}")
"""),
        ("md", "## The heat capacity by autodiff against Onsager\n\n"
               "C(T) = K^2 d^2(ln Z/N)/dK^2 from reverse-over-forward differentiation of BTRG, on a temperature grid "
               "through T_c. Away from T_c it matches Onsager to the truncation error; at T_c the finite bond "
               "dimension rounds the logarithmic divergence into a finite peak."),
        ("code", """\
chi_h, steps_h = (6, 16) if SMALL else (16, 24)
T_grid = np.linspace(1.9, 2.7, 9 if SMALL else 33)
th_b = trg.trg_thermodynamics(T_grid, chi=chi_h, steps=steps_h, method="btrg")
T_fine = np.linspace(1.9, 2.7, 400)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
ax.plot(T_fine, jaxrg.exact.infinite_lattice(T_fine).heat_capacity, "k-", lw=1, label="Onsager")
ax.plot(T_grid, th_b.heat_capacity, "o", ms=4, label=f"BTRG chi = {chi_h}, autodiff")
ax.axvline(jaxrg.exact.CRITICAL_TEMPERATURE, color="gray", ls=":", lw=0.8)
ax.set_xlabel("T"); ax.set_ylabel("C per spin"); ax.legend()
rel_c = np.abs(np.asarray(th_b.heat_capacity) / jaxrg.exact.infinite_lattice(T_grid).heat_capacity - 1)
bx.semilogy(T_grid, rel_c, "o-", ms=4)
bx.axvline(jaxrg.exact.CRITICAL_TEMPERATURE, color="gray", ls=":", lw=0.8)
bx.set_xlabel("T"); bx.set_ylabel("|C / C_Onsager - 1|")
plt.tight_layout(); plt.show()
"""),
        ("md", "## Accuracy against bond dimension, for each method\n\n"
               "Relative error of ln Z/N at K_c (the hardest point) against chi. BTRG costs as much as TRG per step "
               "(O(chi^6)) and is more accurate than HOTRG (O(chi^7)) at equal chi."),
        ("code", """\
chis = [4, 8] if SMALL else [8, 12, 16, 24]
T_c = jaxrg.exact.CRITICAL_TEMPERATURE
f_c = jaxrg.exact.infinite_lattice(T_c).free_energy
fig, ax = plt.subplots(figsize=(5.5, 4))
for method in ("trg", "hotrg", "btrg"):
    err = [abs(float(trg.trg_free_energy(T_c, chi=c, steps=20 if SMALL else 32, method=method)) / f_c - 1)
           for c in chis]
    ax.loglog(chis, err, "o-", label=method)
    print(method, "relative error at K_c:", ", ".join(f"chi={c}: {e:.1e}" for c, e in zip(chis, err)))
ax.set_xlabel("chi"); ax.set_ylabel("|f / f_Onsager - 1| at T_c"); ax.legend()
plt.tight_layout(); plt.show()
"""),
        ("md", "## T_c by gradient ascent on the heat capacity\n\n"
               "C(T) = K^2 d^2(ln Z/N)/dK^2 is itself differentiable: its slope dC/dT is a third derivative of the "
               "TRG free energy, taken by nested forward-mode autodiff through every (regularised) SVD. First a "
               "check of the third derivative against a finite difference, then ascent to the maximum of C, which "
               "the truncated network puts near (not exactly at) T_c."),
        ("code", """\
import time
chi_c, steps_c, tol = (6, 12, 2e-3) if SMALL else (8, 16, 5e-4)
T0, eps = 2.30, 1e-4
c_lo, _ = jaxrg.trg_heat_capacity_and_slope(T0 - eps, chi=chi_c, steps=steps_c)
c_hi, _ = jaxrg.trg_heat_capacity_and_slope(T0 + eps, chi=chi_c, steps=steps_c)
_, slope = jaxrg.trg_heat_capacity_and_slope(T0, chi=chi_c, steps=steps_c)
print(f"dC/dT at T = {T0}: autodiff {float(slope):.6f}, central difference {float(c_hi - c_lo) / (2 * eps):.6f}")
t0 = time.perf_counter()
peak = jaxrg.trg_heat_capacity_peak(chi=chi_c, steps=steps_c, method="trg", T_init=2.4, step_size=0.02, tol=tol)
for T_i, C_i, dC_i in peak.history:
    print(f"  T = {T_i:.5f}   C = {C_i:.5f}   dC/dT = {dC_i:+9.3f}")
T_c = jaxrg.exact.CRITICAL_TEMPERATURE
print(f"TRG chi = {chi_c}, torus of 2^{steps_c} sites: C peaks at T = {peak.temperature:.4f} "
      f"({len(peak.history)} iterations, {time.perf_counter() - t0:.1f} s); exact T_c = {T_c:.6f}, "
      f"offset {peak.temperature - T_c:+.4f} ({(peak.temperature / T_c - 1) * 100:+.2f} %)")
"""),
        ("md", "The truncated network has a finite correlation length at T_c (growing with chi), which rounds and "
               "shifts the singularity of C: the peak moves towards T_c as chi and the number of steps grow."),
        ("md", "Scaling dimensions and central charge from the fixed-point tensor (Gu-Wen):"),
        ("code", """\
spec = trg.trg_scaling_dimensions(chi=8 if SMALL else 24, steps=8 if SMALL else 14)
print("central charge by step:", np.round(spec.central_charge, 4))
step, c, x = spec.estimate   # the most stationary step: between the lattice crossover and the truncation drift
print(f"plateau at step {step}: c = {c:.4f} (exact 1/2), x_sigma = {x[0]:.4f} (1/8), x_epsilon = {x[1]:.4f} (1)")
"""),
        ("md", "## Scaling dimensions step by step: Gilt-TNR against TRG\n\n"
               "Plain TRG keeps short-range (corner double-line) correlations, and its truncation slowly drives the "
               "critical tensor away from the fixed point. Gilt-TNR removes the short-range loops before every TRG "
               "step (threshold epsilon). The estimates at every RG step, same chi:"),
        ("code", """\
chi_g, steps_g, eps_g = (6, 10, 1e-4) if SMALL else (16, 22, 1e-4)
runs = {"TRG": trg.trg_scaling_dimensions(chi=chi_g, steps=steps_g, method="trg", num=3),
        f"Gilt-TRG, eps = {eps_g:g}": trg.trg_scaling_dimensions(chi=chi_g, steps=steps_g,
                                                                 method=trg.GiltTRG(epsilon=eps_g), num=3)}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for label, sp in runs.items():
    axes[0].plot(sp.step, sp.central_charge, "o-", ms=3, label=label)
    axes[1].plot(sp.step, sp.scaling_dimensions[:, 0], "o-", ms=3, label=label)
    axes[2].plot(sp.step, sp.scaling_dimensions[:, 1], "o-", ms=3, label=label)
for a, exact_value, name in zip(axes, (0.5, 0.125, 1.0), ("c", "x_sigma", "x_epsilon")):
    a.axhline(exact_value, color="k", lw=0.8, ls="--"); a.set_xlabel("RG step"); a.set_ylabel(name)
axes[1].set_ylim(0.0, 0.2); axes[2].set_ylim(0.8, 1.3); axes[0].set_ylim(0.3, 0.6); axes[0].legend()
plt.tight_layout(); plt.show()
"""),
    ],
    "03_learned_rg_flow": [
        ("md", "# 3. Learning the RG flow of the 2D Ising model in coupling space\n\n"
               "A small equinox network f_theta maps couplings J to the coarse couplings J' = J + f_theta(J) of the "
               "2x2 majority-rule blocked model. It is trained with optax by minimising the KL divergence between "
               "the blocked Monte Carlo data (L = 16 -> 8) and the coarse Gibbs distribution at J', its gradient "
               "estimated by contrastive divergence; training couplings come from blackjax HMC on "
               "beta_a ||f_theta(J)||^2, so they concentrate near fixed points. Here n = 3 couplings: nearest "
               "neighbour, next-nearest neighbour and the 4-spin plaquette."),
        ("code", SETUP),
        ("code", """\
from jaxrg.rg import flow
n = 3
cfg = flow.TrainingConfig(
    L=8 if SMALL else 16, loss="cd", cd_sweeps=5 if SMALL else 20, rounds=1 if SMALL else 3,
    couplings_per_round=8 if SMALL else 64, betas=(0.0,) if SMALL else (0.0, 30.0, 90.0),
    steps_per_round=20 if SMALL else 1500, learning_rate=1e-2, n_chains=2 if SMALL else 8,
    n_thermalize=20 if SMALL else 150, n_samples=2 if SMALL else 8, cd_chains=4 if SMALL else 16)
result = flow.train_flow(jax.random.key(0), n, cfg)
space = flow.coupling_space(n)
analysis = flow.analyze_flow(result.flow, space)
print("couplings:", space.names)
print("non-trivial fixed point J* =", np.round(analysis.fixed_point, 4))
print("eigenvalues of the linearised map:", np.round(np.real(analysis.eigenvalues), 4),
      f"({analysis.n_relevant} relevant)")
print(f"nu = ln 2 / ln lambda_t = {analysis.nu:.3f} (exact 1)")
print(f"K_c on the nearest-neighbour axis = {analysis.K_c:.5f} (exact {jaxrg.exact.CRITICAL_COUPLING:.5f}, "
      f"{analysis.K_c / jaxrg.exact.CRITICAL_COUPLING - 1:+.2%})")
"""),
        ("md", "The learned map, iterated from the nearest-neighbour axis either side of K_c: below K_c the "
               "trajectories run to the high-temperature sink J = 0, above it to the low-temperature sink, and "
               "both pass close to the non-trivial fixed point (the projection on the nn-nnn plane)."),
        ("code", """\
import jax.numpy as jnp
axis = jnp.asarray(space.array("nn_axis"), jnp.float32)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
for K in np.linspace(0.30, 0.60, 13):
    J, path = K * axis, [K * axis]
    for _ in range(5):
        J = result.flow.step(J)
        path.append(J)
    path = np.asarray(path)
    ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=0.9, color="C0" if K < analysis.K_c else "C3")
ax.plot(analysis.fixed_point[0], analysis.fixed_point[1], "k*", ms=12, label="fixed point")
ax.set_xlabel("nn"); ax.set_ylabel("nnn"); ax.legend(); ax.set_title("learned RG trajectories")
bx.semilogy(result.loss_history); bx.set_xlabel("Adam step"); bx.set_ylabel("CD moment mismatch")
plt.tight_layout(); plt.show()
"""),
        ("md", "How many couplings? `benchmarks/flow.py` trains n = 1, 3 and 5 couplings with 5 seeds each in the "
               "configuration above; its table (read from the committed JSON) is the honest answer: on this small "
               "lattice all three are within about 1% of K_c, and n = 5 adds only anisotropies that vanish by "
               "symmetry, so the table does not show a bias that shrinks with n."),
        ("code", """\
import json, pathlib
path = pathlib.Path("..") / "benchmarks" / "results" / "flow-vm.json"
if path.exists():
    table = json.loads(path.read_text())["summary"]
    print(f"{'n':>2} {'seeds':>5}  {'K_c':>17}  {'rel. error':>10}  {'nu':>14}")
    for r in table:
        print(f"{r['n']:>2} {r['seeds']:>5}  {r['K_c_mean']:.5f} +- {r['K_c_sd']:.5f}  {r['K_c_rel_error']:+10.2%}  "
              f"{r['nu_mean']:.3f} +- {r['nu_sd']:.3f}")
"""),
    ],
    "04_dreaming_up_criticality": [
        ("md", "# 4. Dreaming up a critical configuration with a three-parameter generator\n\n"
               "An inverse-RG generator upsamples a coarse configuration 2x and samples each fine spin from one "
               "symmetric 3x3 convolution [[a, b, a], [b, c, b], [a, b, a]] (three numbers). Applied repeatedly to a "
               "tiny random lattice, it generates critical-looking configurations of any size (arXiv:2506.04016). "
               "A trained model ships with jaxrg."),
        ("code", SETUP),
        ("code", """\
from jaxrg.rg import inverse
model = inverse.load_pretrained()
print(model)
size = 128 if SMALL else 1024
spins = jaxrg.generate(model, size, 1, jax.random.key(0))
print(spins.shape, spins.dtype)
plt.figure(figsize=(6, 6)); plt.imshow(np.asarray(spins[0]), cmap="gray", interpolation="nearest"); plt.axis("off")
plt.title(f"{size}x{size}, generated"); plt.show()
"""),
        ("md", "Is the ensemble scale invariant? The Binder ratio and the energy per spin of generated configurations "
               "at every level of the upsampling, against the critical Ising values (U4 -> 0.6107, e -> -sqrt 2):"),
        ("code", """\
sizes, e, m = inverse.level_observables(model, 64 if SMALL else 512, 16 if SMALL else 128, jax.random.key(1))
for L, ee, mm in zip(sizes, np.asarray(e), np.asarray(m)):
    if L >= 8:
        obs = inverse.ensemble_observables(ee, mm, L)
        print(f"L={L:5d}  e = {float(obs.energy.mean):+.4f} +- {float(obs.energy.error):.4f}   "
              f"U4 = {float(obs.binder.mean):.4f} +- {float(obs.binder.error):.4f}")
"""),
        ("md", "Off the critical point: `load_pretrained_thermal()` adds the thermal direction, a field that grows by "
               "b^(y_t) per level (the linearised RG flow run backwards in scale, `jaxrg.scale`), calibrated against "
               "Monte Carlo at one size; `generate(..., temperature=T)` dreams up ensembles near T_c at any size:"),
        ("code", """\
thermal = inverse.load_pretrained_thermal()
size = 64 if SMALL else 256
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, T in zip(axes, (2.20, jaxrg.exact.CRITICAL_TEMPERATURE, 2.35)):
    s = jaxrg.generate(thermal, size, 64 if SMALL else 256, jax.random.key(3), temperature=T)
    m = np.abs(np.asarray(s, np.float64).mean(axis=(1, 2)))
    ax.imshow(np.asarray(s[0]), cmap="gray", interpolation="nearest"); ax.axis("off")
    ax.set_title(f"T = {T:.3f}: <|m|> = {m.mean():.3f}")
plt.tight_layout(); plt.show()
"""),
        ("md", "A generated configuration is a head start for a Monte Carlo chain at T_c "
               "(`simulate(..., initial=\"generated\")`). The energy per spin against Metropolis sweeps for chains "
               "started hot (random), cold (ordered) and generated, against Kaufman's exact value at this size:"),
        ("code", """\
L = 64 if SMALL else 128
sweeps = 64 if SMALL else 500
Tc = jaxrg.exact.CRITICAL_TEMPERATURE
fig, ax = plt.subplots(figsize=(5, 3.5))
for i, start in enumerate(("random", "ordered", "generated")):
    r = jaxrg.simulate(L, Tc, sweeps=sweeps, thermalize=0, chains=4, initial=start, seed=2 + i)
    ax.plot(np.arange(1, sweeps + 1), r.timeseries.energy.mean(axis=0), label=start)
ax.axhline(float(jaxrg.exact.finite_lattice(L, Tc).energy), color="k", ls=":", label="exact (Kaufman)")
ax.set_xscale("log"); ax.set_xlabel("Metropolis sweeps"); ax.set_ylabel("energy per spin (mean of 4 chains)")
ax.set_title(f"L = {L} at T_c"); ax.legend(); plt.tight_layout(); plt.show()
"""),
    ],
    "05_scale_dynamics": [
        ("md", "# 5. Scale dynamics: the scale Hamiltonian and the VFT law\n\n"
               "With s the logarithm of the length scale, a coupling flows as dg/ds = beta(g). The scale Hamiltonian "
               "H(g, p) = p beta(g) + F(g) has the Hamilton-Jacobi action S(g) = -int F/beta dg. For glass formers, "
               "beta = lambda g and F = A/g with g = T - T0 give S = A/(lambda g) and the VFT law "
               "tau = tau0 exp(D T0 / (T - T0)) with D T0 = A / lambda."),
        ("code", SETUP),
        ("code", """\
import jax.numpy as jnp
from jaxrg import scale
lam, A = 0.1, 50.0
beta = lambda g: lam * g
F = lambda g: A / g
g = jnp.linspace(5.0, 100.0, 5)
S = scale.hj_action(beta, F, g, 1000.0)
print("quadrature S(g) - S(1000):", np.asarray(S))
print("exact A/(lambda g) - A/(lambda 1000):", np.asarray(A / (lam * g) - A / (lam * 1000.0)))
"""),
        ("md", "Hamilton's equations by autodiff conserve H along RK4 trajectories:"),
        ("code", """\
traj = scale.hamiltonian_trajectory(beta, F, jnp.asarray(10.0), jnp.asarray(-0.3), 0.01, 200 if SMALL else 2000)
print("H drift along the trajectory:", float(traj.max_drift))
plt.figure(figsize=(4, 3)); plt.plot(traj.s, traj.H - traj.H[0]); plt.xlabel("s"); plt.ylabel("H(s) - H(0)")
plt.tight_layout(); plt.show()
"""),
        ("md", "A VFT fit of noisy synthetic relaxation times, and the scale-Hamiltonian prediction A = D T0 lambda:"),
        ("code", """\
rng = np.random.default_rng(0)
tau0, D, T0 = 1e-13, 10.0, 50.0
T = np.linspace(70.0, 140.0, 12 if SMALL else 40)
tau = tau0 * np.exp(D * T0 / (T - T0)) * (1 + 0.01 * rng.standard_normal(T.shape))
fit = scale.fit_vft(T, tau)
print(f"tau0 = {float(fit.tau0):.3e} +- {float(fit.tau0_error):.1e}  (true {tau0})")
print(f"D    = {float(fit.D):.3f} +- {float(fit.D_error):.3f}  (true {D})")
print(f"T0   = {float(fit.T0):.3f} +- {float(fit.T0_error):.3f}  (true {T0})")
A_fit, A_err = scale.barrier_amplitude(fit.D_T0, 0.1, fit.D_T0_error, 0.0)
print(f"A = D T0 lambda = {float(A_fit):.2f} +- {float(A_err):.2f} K (lambda = 0.1)")
"""),
        ("md", "The same toolkit reads the thermal exponent of an RG map: for a toy map of the 2D Ising model with "
               "y_t = 1, `analyze_map` finds the fixed point and nu = 1."),
        ("code", """\
Kc = jaxrg.exact.CRITICAL_COUPLING
rg_map = lambda K: Kc + 2.0 * (K - Kc) + 0.3 * (K - Kc) ** 2
res = scale.analyze_map(rg_map, jnp.asarray(0.45), 2.0)
print(res)
"""),
    ],
    "06_information_optimal_coarse_graining": [
        ("md", "# 6. Information-optimal coarse-graining\n\n"
               "A block-spin map forgets most of the fine configuration. How much, and which map forgets the least of "
               "what matters? `jaxrg.rg.information` measures (i) the exact information lost per RG step, "
               "H(fine | coarse), on small tori, and (ii) the mutual information I(H : E) between a block's coarse "
               "variable H and its environment E beyond a buffer (Koch-Janusz and Ringel 2018), exactly for each "
               "sampled environment thanks to the Markov property; it then learns the map that keeps the most."),
        ("code", SETUP),
        ("code", """\
from jaxrg.rg import information as info
from jaxrg.rg.blocking import swendsen_rule
Tc = 1 / jaxrg.exact.CRITICAL_COUPLING
T = np.linspace(1.5, 3.5, 5 if SMALL else 17)
lost = {r: np.array([[float(b.information_lost_per_spin) for b in info.exact_information_lost(4, t, r, levels=2)]
                     for t in T]) for r in ("majority", "decimation")}
print("T -> infinity closed forms: majority 27/32 ln 2 =", 27 / 32 * np.log(2),
      " decimation 3/4 ln 2 =", 0.75 * np.log(2))
print("exact at T = 1e6:", {r: float(info.exact_information_lost(4, 1e6, r)[0].information_lost_per_spin)
                            for r in ("majority", "decimation")})
fig, ax = plt.subplots(figsize=(5, 3.5))
for r, v in lost.items():
    ax.plot(T, v[:, 0], "o-", label=f"{r}, 4x4 -> 2x2")
    ax.plot(T, v[:, 1], "s--", label=f"{r}, 2x2 -> 1x1")
ax.axvline(Tc, color="gray", lw=0.5); ax.set_xlabel("T"); ax.set_ylabel("H(fine | coarse) per fine spin (nats)")
ax.legend(fontsize=7); plt.tight_layout(); plt.show()
"""),
        ("md", "Majority rule's random tie-breaks cost information on the first step; on the second step it loses "
               "less than decimation. Next, the environment information at the critical point: for each block, "
               "P(V | E) is an exact sum over block and buffer given the ring of sites around the buffer."),
        ("code", """\
L = 16 if SMALL else 36
configs = info.samples.ising_configurations(L, Tc, 24 if SMALL else 256, seed=0)
env2 = info.block_environments(configs, Tc, b=2, buffer=1)
for r in ("majority", "decimation"):
    print(f"I(H : E), 2x2 {r:<10}", info.reference_information(env2, r, n_blocks=8))
model2, hist = info.learning.learn_map(env2.conditional, b=2, steps=60 if SMALL else 300)
print("learned 2x2 filter / mean weight:\\n", np.round(np.asarray(model2.weights[0] / model2.weights.mean()), 3),
      " bias", np.asarray(model2.bias))
print("I(H : E), 2x2 learned   ", info.reference_information(env2, model2, n_blocks=8))
plt.figure(figsize=(4, 3)); plt.plot(hist); plt.xlabel("Adam step"); plt.ylabel("I(H : E) (nats)")
plt.tight_layout(); plt.show()
"""),
        ("md", "The 2x2 filter comes out uniform without being told; the bias breaks ties deterministically. "
               "On 3x3 blocks (no ties) the learned filter is symmetric but not uniform: corners weigh most, the "
               "centre least, since the coarse variable should carry what the environment can see."),
        ("code", """\
if not SMALL:
    configs3 = info.samples.ising_configurations(36, Tc, 128, seed=1)
    env3 = info.block_environments(configs3, Tc, b=3, buffer=1)
    model3, _ = info.learning.learn_map(env3.conditional, b=3, steps=300)
    print("learned 3x3 filter / mean weight:\\n", np.round(np.asarray(model3.weights[0] / model3.weights.mean()), 3))
    for r in ("majority", "decimation", model3):
        print("I(H : E), 3x3", r if isinstance(r, str) else "learned", info.reference_information(env3, r))
"""),
        ("md", "A neural estimator (InfoNCE, equinox critic trained by optax) sees only sampled (H, ring) pairs; "
               "the reference tells how close it gets:"),
        ("code", """\
from jaxrg.rg.information import estimators as est
n = env2.ring.shape[0] * env2.ring.shape[1]
h = est.sample_coarse(jax.random.key(0), env2.blocks, "majority").reshape(-1)
e = env2.ring.reshape(n, -1)
perm = np.random.default_rng(0).permutation(n); tr, te = perm[: n // 2], perm[n // 2:]
critic, _ = est.train_critic(jax.random.key(1), h[tr], e[tr], steps=100 if SMALL else 1500, batch=256)
print("InfoNCE :", est.estimate_information(critic, h[te], e[te], batch=256))
reference = info.mutual_information(env2.conditional.reshape(n, -1)[te], info.conditional_table("majority", 2))
print("reference:", float(reference))
"""),
        ("md", "Swendsen's stochastic map P(s' | V) ~ exp(p s' sum V) interpolates from a coin (p = 0) to majority "
               "rule (p -> infinity). The information it keeps grows monotonically with p, so minimum information loss "
               "picks majority rule. Any such map, or a learned filter, plugs into MCRG as a rule; MCRG separates even "
               "and odd operators, which needs an up/down symmetric map, so the filter is learned with zero bias:"),
        ("code", """\
ps = [0.25, 0.5, 1.0, 2.0, 4.0]
kept = [float(info.mutual_information(env2.conditional, info.conditional_table(swendsen_rule(p), 2))) for p in ps]
print("p:", ps); print("I(H : E):", np.round(kept, 4))
symmetric, _ = info.learning.learn_map(env2.conditional, b=2, steps=60 if SMALL else 300, symmetric=True)
print("symmetric learned filter:", np.round(np.asarray(symmetric.weights[0]), 3), "bias", np.asarray(symmetric.bias))
r = jaxrg.rg.mcrg.mcrg(16 if SMALL else 32, Tc, levels=1 if SMALL else 2, samples=128 if SMALL else 2000,
                       rule=symmetric.rule(0), thermalize=50 if SMALL else 500, n_blocks=16 if SMALL else 32)
print("MCRG with the learned map: y_t =", np.round(r.y_t.mean, 3), "+-", np.round(r.y_t.error, 3),
      " y_h =", np.round(r.y_h.mean, 4), "+-", np.round(r.y_h.error, 4))
"""),
    ],
}


def build(name: str, execute: bool = True) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src in NOTEBOOKS[name]:
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        nb.cells.append(cell)
    if execute:
        NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": HERE}}).execute()
    path = os.path.join(HERE, f"{name}.ipynb")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        nbformat.write(nb, f)
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    for name in sys.argv[1:] or list(NOTEBOOKS):
        print("built", build(name))
