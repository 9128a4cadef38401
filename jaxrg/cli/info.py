"""``jaxrg info``: how much information block-spin maps keep about a block's environment, and what they lose."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import ConfigError, Option

T_C = 2.269185314213022

OPTIONS = (
    Option("L", "int", 32, "lattice size of the sampled configurations (even)", minimum=8),
    Option("T", "float", T_C, "temperature (default: exact T_c)", minimum=0.0, exclusive_minimum=True),
    Option("b", "int", 2, "block side (2 or 3)", minimum=2, maximum=3),
    Option("buffer", "int", 1, "buffer width between block and environment", minimum=0, maximum=3),
    Option("configs", "int", 128, "configurations sampled (Swendsen-Wang)", minimum=2),
    Option("learn_steps", "int", 200, "Adam steps for the learned filter (0: no learned map)", minimum=0),
    Option("n_hidden", "int", 1, "coarse variables per block of the learned map", minimum=1, maximum=4),
    Option("seed", "int", 0, "seed of the run", minimum=0),
)


def execute(config: dict, ctx: Context) -> dict:
    """Reference I(H : E) for majority rule, decimation and a learned filter; exact 4x4 information lost."""
    import numpy as np

    from jaxrg.rg.information import block_environments, exact_information_lost, reference_information
    from jaxrg.rg.information.learning import filter_spread, learn_map
    from jaxrg.rg.information.samples import ising_configurations

    L, T, b, buffer = config["L"], config["T"], config["b"], config["buffer"]
    if b + 2 * buffer + 1 > L:
        raise ConfigError(f"L = {L} must be >= b + 2 buffer + 1 = {b + 2 * buffer + 1}")
    ctx.log(f"jaxrg info: L = {L}, T = {T}, {b}x{b} blocks, buffer {buffer}, {config['configs']} configurations")
    configs = ising_configurations(L, T, config["configs"], seed=config["seed"])
    env = block_environments(configs, T, b=b, buffer=buffer)
    n_blocks = min(20, config["configs"])
    rules = {"majority": "majority", "decimation": "decimation"}
    result = {"config": config, "I_H_E": {}}
    if config["learn_steps"]:
        model, _ = learn_map(env.conditional, b=b, n_hidden=config["n_hidden"], steps=config["learn_steps"],
                             seed=config["seed"])
        rules["learned"] = model
        result["learned"] = {"weights": np.asarray(model.weights).tolist(), "bias": np.asarray(model.bias).tolist(),
                             "spread": filter_spread(model).tolist()}
    lines = [f"I(H : E) per block, nats (Markov-blanket reference, jackknife errors; {b}x{b}, buffer {buffer})"]
    for name, rule in rules.items():
        est = reference_information(env, rule, n_blocks=n_blocks)
        result["I_H_E"][name] = {"mean": float(est.mean), "error": float(est.error)}
        lines.append(f"  {name:<11} {float(est.mean):.5f} +- {float(est.error):.5f}")
    if "learned" in result:
        w = np.asarray(model.weights)
        relative = np.round(w / w.reshape(len(w), -1).mean(1)[:, None, None], 3)
        lines.append(f"  learned filter(s) / mean weight:\n{relative}")
    if b == 2:
        exact = {}
        for name, rule in rules.items():
            if name == "learned" and config["n_hidden"] != 1:
                continue
            budgets = exact_information_lost(4, T, rule.rule(0) if name == "learned" else rule, levels=2)
            exact[name] = [float(x.information_lost_per_spin) for x in budgets]
        result["exact_4x4_information_lost_per_spin"] = exact
        lines.append("exact H(fine | coarse) per fine spin on the 4x4 torus, levels 1 and 2 (nats):")
        lines += [f"  {name:<11} {v[0]:.5f}  {v[1]:.5f}" for name, v in exact.items()]
    ctx.out("\n".join(lines))
    return result


register(Command(
    name="info",
    help="information kept and lost by block-spin maps (majority, decimation, learned)",
    options=OPTIONS,
    execute=execute,
    description="Sample the L x L Ising model at T and measure, for every b x b block, the mutual information "
    "I(H : E) between the coarse variable and the environment beyond a buffer, exactly per sampled environment "
    "(Markov property), for majority rule, decimation and a filter map trained to maximise it; plus the exact "
    "information lost per fine spin, H(fine | coarse), on the 4x4 torus.",
))
