"""Subprocess side of tests/test_parallel.py: runs one sharded computation and writes its arrays to an .npz file.

Usage: python worker.py MODE OUT.npz [PROCESS_ID NUM_PROCESSES PORT]
  MODE batch:   jaxrg.simulate on device subsets of 8 host devices (8 and 3: padded temperature axes), without
                and with replica exchange -> spins/series (and replica walks) per subset.
  MODE domain:  domain-decomposed Metropolis on 1, 2, 4, 8 devices -> final spins and acceptances per count.
  MODE multi:   jax.distributed on localhost (CPU, gloo), one simulate over the devices of all processes.
The device count comes from XLA_FLAGS=--xla_force_host_platform_device_count=N set by the caller.
"""

import os
import sys

import numpy as np

MODE, OUT = sys.argv[1], sys.argv[2]

import jax  # noqa: E402

if MODE == "multi":  # before importing jaxrg: importing it (blackjax) initialises the XLA backend
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    process_id, num_processes, port = (int(a) for a in sys.argv[3:6])
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes, process_id, initialization_timeout=60)

jax.config.update("jax_enable_x64", True)  # as tests/conftest.py does for the reference computed in the test

from jaxrg import ising, parallel  # noqa: E402
from jaxrg.simulation import simulate  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parallel_params import BATCH, DOMAIN, EXCHANGE  # noqa: E402



def run_batch(devices, params=BATCH):
    p = dict(params)
    r = simulate(p.pop("L"), p.pop("T"), devices=devices, **p)
    out = {"spins": r.spins, "energy": r.timeseries.energy, "magnetization": r.timeseries.magnetization,
           "acceptance": r.acceptance}
    if r.exchange is not None:
        out.update(replica=r.exchange.replica, swap_acceptance=r.exchange.swap_acceptance)
    return out


def run_domain(devices):
    c = ising.couplings(np.asarray(DOMAIN["T"]), DOMAIN["h"])
    spins = ising.random_spins(jax.random.key(DOMAIN["seed"]), DOMAIN["L"])
    kernel = parallel.domain_metropolis(c, devices)
    step = jax.jit(kernel.step)
    state = kernel.init(spins)
    key = jax.random.key(DOMAIN["seed"] + 1)
    acc = []
    for t in range(DOMAIN["sweeps"]):
        state, info = step(jax.random.fold_in(key, t), state)
        acc.append(info.acceptance)
    return {"spins": np.asarray(state.spins), "acceptance": np.asarray(acc)}


out = {}
if MODE == "batch":
    for n in (8, 3):
        for k, v in run_batch(jax.devices()[:n]).items():
            out[f"{k}_{n}"] = v
        for k, v in run_batch(jax.devices()[:n], EXCHANGE).items():
            out[f"exchange_{k}_{n}"] = v
elif MODE == "domain":
    for n in (1, 2, 4, 8):
        for k, v in run_domain(jax.devices()[:n]).items():
            out[f"{k}_{n}"] = v
elif MODE == "multi":
    out = run_batch(None)
    if len(sys.argv) > 6:  # also through checkpoints (every process reads the replicated state and writes its own)
        p = dict(BATCH)
        r = simulate(p.pop("L"), p.pop("T"), checkpoint=sys.argv[6], **p)
        out["spins_checkpointed"] = r.spins
    out["process_count"] = np.asarray(jax.process_count())
    out["device_count"] = np.asarray(jax.device_count())
else:
    raise SystemExit(f"unknown mode {MODE!r}")
tmp = OUT + ".tmp.npz"
np.savez(tmp, **out)
os.replace(tmp, OUT)
