"""Checkpoints (checksummed, fingerprinted) and the driver's bitwise-identical resume of an interrupted chain."""

import jax
import numpy as np
import pytest

from jaxrg import checkpoints, files, ising
from jaxrg.checkpoints import CheckpointError
from jaxrg.sampling import driver, metropolis
from jaxrg.sampling.base import BatchedKernel
from jaxrg.sampling.driver import run_chain
from jaxrg.simulation import measure_spins


def test_checkpoint_round_trip_and_detects_corruption(tmp_path):
    path = tmp_path / "c.npz"
    arrays = {"x": np.arange(1000, dtype=np.float32), "k": np.array([1, 2], np.uint32)}
    checkpoints.save_checkpoint(path, arrays, {"fingerprint": "abc", "next_chunk": 3})
    back, meta = checkpoints.load_checkpoint(path, fingerprint="abc")
    assert meta["next_chunk"] == 3
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
    with pytest.raises(CheckpointError, match="different run"):
        checkpoints.load_checkpoint(path, fingerprint="xyz")

    raw = bytearray(path.read_bytes())
    bad = tmp_path / "bad.npz"
    i = raw.find(np.arange(1000, dtype=np.float32)[500:].tobytes()[:8])  # inside the stored array x
    assert i > 0
    raw[i] ^= 0x01  # one flipped bit
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted|unreadable"):
        checkpoints.load_checkpoint(bad, fingerprint="abc")
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="unreadable"):
        checkpoints.load_checkpoint(truncated)


def _chain_setup(n_T=2, chains=2, L=8, seed=5):
    c = ising.couplings(np.array([2.0, 2.6])[:n_T])
    kernel = BatchedKernel(metropolis.build_kernel(), chains)
    key = jax.random.key(seed)
    state = jax.vmap(jax.vmap(metropolis.init))(ising.random_spins(jax.random.fold_in(key, 1), L, (n_T, chains)))
    return kernel, key, state, c


def test_interrupted_checkpointed_chain_resumes_bitwise(tmp_path, monkeypatch):
    kernel, key, state, c = _chain_setup()
    kw = dict(n_measurements=37, steps_per_measurement=2, measure=measure_spins, chunk_size=5)
    reference = run_chain(kernel, key, state, c, **kw)

    path = tmp_path / "chain.npz"
    fp = files.fingerprint({"test": 1})
    real_save = checkpoints.save_checkpoint
    calls = []

    def save_then_die(*args, **kwargs):  # a crash right after the 3rd checkpoint
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(driver, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_chain(kernel, key, state, c, checkpoint=path, fingerprint=fp, **kw)
    monkeypatch.setattr(driver, "save_checkpoint", real_save)
    _, meta = checkpoints.load_checkpoint(path, fingerprint=fp)
    assert meta["next_chunk"] == 3

    resumed = run_chain(kernel, key, state, c, checkpoint=path, fingerprint=fp, **kw)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a finished checkpoint returns the same result again without running
    again = run_chain(kernel, key, state, c, checkpoint=path, fingerprint=fp, **kw)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    with pytest.raises(CheckpointError, match="different run"):
        run_chain(kernel, key, state, c, checkpoint=path, fingerprint=files.fingerprint({"test": 2}), **kw)
    with pytest.raises(CheckpointError, match="PRNG key"):
        run_chain(kernel, jax.random.key(6), state, c, checkpoint=path, fingerprint=fp, **kw)
