"""Multi-device and multi-process runs give bitwise the single-device results (CPU devices forced by XLA_FLAGS).

Each heavy check runs tests/parallel_scripts/worker.py in a subprocess with 8 (or 2 x 4) host CPU devices; the
single-device reference is computed here, in the test process, with the same parameters (x64 on in both).
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrg import ising, parallel
from jaxrg.sampling.metropolis import metropolis
from jaxrg.simulation import simulate

WORKER = Path(__file__).parent / "parallel_scripts" / "worker.py"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKER.parent))


from parallel_params import BATCH, DOMAIN, EXCHANGE  # noqa: E402


def _env(devices: int) -> dict:
    # the device count is added to the session's XLA flags (tests/conftest.py): both sides compile alike
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_worker(mode: str, out: Path, devices: int = 8, timeout: int = 240) -> dict:
    proc = subprocess.run([sys.executable, str(WORKER), mode, str(out)], env=_env(devices), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as f:
        return dict(f)


def _batch(params: dict) -> dict:
    p = dict(params)
    r = simulate(p.pop("L"), p.pop("T"), devices=jax.devices()[:1], **p)
    out = {"spins": r.spins, "energy": r.timeseries.energy, "magnetization": r.timeseries.magnetization,
           "acceptance": r.acceptance}
    if r.exchange is not None:
        out.update(replica=r.exchange.replica, swap_acceptance=r.exchange.swap_acceptance)
    return out


@pytest.fixture(scope="module")
def batch_reference():
    return _batch(BATCH)


def test_sharded_batch_equals_single_device_bitwise(tmp_path, batch_reference):
    """5 temperatures x 2 chains on 8 and 3 devices (padded to 8 and 6 temperatures) = one device, bit for bit."""
    got = _run_worker("batch", tmp_path / "batch.npz")
    for n in (8, 3):
        for name, ref in batch_reference.items():
            np.testing.assert_array_equal(got[f"{name}_{n}"], ref, err_msg=f"{name} on {n} devices")
    # the comparison is not vacuous: the chains moved and differ between temperatures
    assert np.ptp(batch_reference["energy"][:, 0, -1]) > 0
    assert np.all(batch_reference["acceptance"] > 0)
    # replica exchange across the sharded temperature axis (padding rows never swap): the same walks, bit for bit
    exchange = _batch(EXCHANGE)
    for n in (8, 3):
        for name, ref in exchange.items():
            np.testing.assert_array_equal(got[f"exchange_{name}_{n}"], ref, err_msg=f"exchange {name} on {n} devices")
    assert np.any(exchange["replica"][..., -1] != exchange["replica"][..., 0])  # some swaps were accepted


def test_domain_decomposition_equals_single_device_bitwise(tmp_path):
    """One 16x16 lattice on 1, 2, 4, 8 row strips: spins after 40 sweeps equal the single-device kernel's."""
    c = ising.couplings(np.asarray(DOMAIN["T"]), DOMAIN["h"])
    spins0 = ising.random_spins(jax.random.key(DOMAIN["seed"]), DOMAIN["L"])
    kernel = metropolis(c)
    step = jax.jit(kernel.step)
    state = kernel.init(spins0)
    key = jax.random.key(DOMAIN["seed"] + 1)
    acc = []
    for t in range(DOMAIN["sweeps"]):
        state, info = step(jax.random.fold_in(key, t), state)
        acc.append(info.acceptance)
    ref_spins, ref_acc = np.asarray(state.spins), np.asarray(acc)
    assert np.mean(ref_spins != np.asarray(spins0)) > 0.2  # many spins flipped: a mismatch would show
    got = _run_worker("domain", tmp_path / "domain.npz")
    for n in (1, 2, 4, 8):
        np.testing.assert_array_equal(got[f"spins_{n}"], ref_spins, err_msg=f"spins on {n} strips")
        np.testing.assert_array_equal(got[f"acceptance_{n}"], ref_acc, err_msg=f"acceptance on {n} strips")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_jax_distributed_equal_single_process(tmp_path, batch_reference):
    """Two processes x 4 CPU devices (jax.distributed on localhost, gloo) run one simulate = one device, bitwise.

    Run twice in each process: plain (state sharded across the processes) and checkpointed (state replicated).
    """
    port = _free_port()
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), "multi", str(tmp_path / f"multi{i}.npz"), str(i), "2", str(port),
                          str(tmp_path / f"checkpoints{i}")],
                         env=_env(4), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    logs = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=240)
            logs.append(err[-3000:])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), "\n---\n".join(logs)
    for i in range(2):
        with np.load(tmp_path / f"multi{i}.npz") as f:
            got = dict(f)
        assert int(got["process_count"]) == 2 and int(got["device_count"]) == 8
        for name, ref in batch_reference.items():
            np.testing.assert_array_equal(got[name], ref, err_msg=f"{name} seen by process {i}")
        # with checkpoints (what `jaxrg run --distributed` does) the state is replicated: same spins again
        np.testing.assert_array_equal(got["spins_checkpointed"], batch_reference["spins"])


def test_input_validation():
    c = ising.couplings(np.asarray(2.3), 0.0)
    with pytest.raises(ValueError, match="rng"):
        parallel.domain_metropolis(c, rng="threefry")
    with pytest.raises(ValueError, match="scalars"):
        parallel.domain_metropolis(ising.couplings(np.asarray([2.0, 2.3]), 0.0))
    with pytest.raises(ValueError, match="devices"):
        parallel.resolve_devices([])
    with pytest.raises(ValueError, match="devices"):
        parallel.resolve_devices(["cpu:0"])
    with pytest.raises(ValueError, match="devices"):
        simulate(8, 2.3, sweeps=16, devices=[])
    with pytest.raises(ValueError, match="chains"):
        parallel.batch_mesh(chains=0)
    with pytest.raises(ValueError, match="num_processes"):
        parallel.initialize_distributed("127.0.0.1:1", num_processes=0, process_id=0)
    with pytest.raises(ValueError, match="process_id"):
        parallel.initialize_distributed("127.0.0.1:1", num_processes=2, process_id=2)
    with pytest.raises(ValueError, match="spins"):
        parallel.domain_metropolis(c).init(np.ones((4, 6), np.int8))
