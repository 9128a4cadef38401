"""``jaxrg phi4``: the lattice phi^4 field sampled with blackjax HMC / NUTS (or local Metropolis)."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option

#: Estimated peak bytes per site of one chain (float32 field, momentum, gradient, proposals and adaptation state).
BYTES_PER_SITE = 64

OPTIONS = (
    Option("L", "int", 16, "lattice size (even)", minimum=4, maximum=2**15),
    Option("kappa", "floats", [0.2], "hopping parameters"),
    Option("lam", "float", 0.0, "quartic coupling lambda (0: free field, needs |kappa| < 1/4)", minimum=0.0),
    Option("sampler", "str", "hmc", "sampler", choices=("hmc", "nuts", "metropolis")),
    Option("sweeps", "int", 500, "trajectories (HMC/NUTS) or sweeps (Metropolis) after warmup", minimum=16,
           maximum=2**31 - 1),
    Option("thermalize", "int", 200, "warmup steps (step-size / mass-matrix adaptation for HMC/NUTS)", minimum=20),
    Option("chains", "int", 4, "independent chains per kappa", minimum=1, maximum=2**20),
    Option("measure_every", "int", 1, "steps between measurements", minimum=1, maximum=2**31 - 1),
    Option("integration_steps", "int", 16, "leapfrog steps per HMC trajectory", minimum=1, maximum=2**16),
    Option("seed", "int", 0, "seed of the run", minimum=0),
)


def execute(config: dict, ctx: Context) -> dict:
    """Run :func:`jaxrg.phi4.simulate` and print <phi^2>, |m|, chi, Binder, the Schwinger-Dyson check and acceptance."""
    import numpy as np

    from jaxrg import phi4

    from jaxrg.cli import check_memory

    kappa = np.asarray(config["kappa"], np.float64)
    lam = config["lam"]
    L, chains = config["L"], config["chains"]
    check_memory(kappa.size * chains * (BYTES_PER_SITE * L * L + 64 * (config["sweeps"] // config["measure_every"])),
                 f"phi4 with L = {L}, {kappa.size} kappa x {chains} chains",
                 "lower L, chains, the number of kappa values or sweeps")
    ctx.log(f"jaxrg phi4: L = {config['L']}, lambda = {lam}, {kappa.size} kappa, {config['sampler']}, "
            f"{config['chains']} chains x {config['sweeps']} steps")
    r = phi4.simulate(config["L"], kappa, lam=lam, sampler=config["sampler"], sweeps=config["sweeps"],
                      thermalize=config["thermalize"], chains=config["chains"],
                      measure_every=config["measure_every"], seed=config["seed"],
                      num_integration_steps=config["integration_steps"], progress=ctx.progress)
    result: dict = {"config": config, "kappa": kappa}
    for name in ("phi_squared", "abs_magnetization", "susceptibility", "binder", "schwinger_dyson", "action"):
        est = getattr(r, name)
        result[name] = {"mean": np.atleast_1d(est.mean), "error": np.atleast_1d(est.error)}
    result["acceptance"] = np.atleast_1d(r.acceptance)
    result["tau_abs_magnetization"] = np.atleast_1d(r.tau_abs_magnetization)
    exact_phi2 = None
    if lam == 0.0:  # free field: <phi^2> is the exact propagator at distance 0
        exact_phi2 = np.array([phi4.free_field_propagator(config["L"], k)[0, 0] for k in kappa])
        result["phi_squared_exact"] = exact_phi2

    def pm(name, i):
        return f"{result[name]['mean'][i]:10.5f}+-{result[name]['error'][i]:8.5f}"

    head = f"{'kappa':>8} {'<phi^2>':>20} {'<|m|>':>20} {'chi':>20} {'U4':>20} {'SD (exact 1)':>20} {'acc':>6}"
    lines = [head + ("  <phi^2> exact" if exact_phi2 is not None else "")]
    for i, k in enumerate(kappa):
        line = (f"{k:8.4f} {pm('phi_squared', i)} {pm('abs_magnetization', i)} {pm('susceptibility', i)} "
                f"{pm('binder', i)} {pm('schwinger_dyson', i)} {result['acceptance'][i]:6.3f}")
        if exact_phi2 is not None:
            line += f"  {exact_phi2[i]:.5f}"
        lines.append(line)
    ctx.out("\n".join(lines))
    return result


register(Command(
    name="phi4",
    help="lattice phi^4 field theory by blackjax HMC / NUTS: <phi^2>, |m|, chi, Binder",
    options=OPTIONS,
    execute=execute,
    description="Sample the L x L periodic phi^4 model S = sum_x [phi_x^2 + lam (phi_x^2 - 1)^2 - 2 kappa sum_mu "
    "phi_x phi_{x+mu}] with blackjax HMC or NUTS (window adaptation during warmup) or checkerboard Metropolis, "
    "vmapped over kappa and chains. Prints <phi^2> (with the exact free-field value when lam = 0), <|m|>, the "
    "susceptibility, the Binder cumulant and the Schwinger-Dyson identity <(1/N) sum phi dS/dphi> = 1 as a check.",
))
