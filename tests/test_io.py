"""jaxrg.io: atomic writes, HDF5 round trips, checksummed checkpoints, bitwise-identical resumed chains."""

import os

import h5py
import jax
import numpy as np
import pytest

from jaxrg import io, ising
from jaxrg.sampling.driver import run_chain
from jaxrg.simulation import _measure, batched_kernel


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "a.txt"
    io.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with io.atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]  # no temporary file left behind


def test_hdf5_round_trip_with_plain_h5py(tmp_path):
    tree = {"a": np.arange(6, dtype=np.int8).reshape(2, 3), "g": {"x": np.float64(1.5), "s": "text"}}
    io.write_hdf5(tmp_path / "r.h5", tree, attrs={"config": {"L": 4}, "seed": 3})
    with h5py.File(tmp_path / "r.h5", "r") as f:
        np.testing.assert_array_equal(f["a"][()], tree["a"])
        assert f["a"].dtype == np.int8
        assert f["g/x"][()] == 1.5
        assert f["g/s"][()].decode() == "text"
        assert f.attrs["seed"] == 3 and '"L": 4' in f.attrs["config"]
    back, attrs = io.read_hdf5(tmp_path / "r.h5")
    assert back["g"]["s"] == "text" and attrs["seed"] == 3


def test_checkpoint_round_trip_and_detects_corruption(tmp_path):
    path = tmp_path / "c.npz"
    arrays = {"x": np.arange(1000, dtype=np.float32), "k": np.array([1, 2], np.uint32)}
    io.save_checkpoint(path, arrays, {"fingerprint": "abc", "next_chunk": 3})
    back, meta = io.load_checkpoint(path, fingerprint="abc")
    assert meta["next_chunk"] == 3
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
    with pytest.raises(io.CheckpointError, match="different run"):
        io.load_checkpoint(path, fingerprint="xyz")

    raw = bytearray(path.read_bytes())
    bad = tmp_path / "bad.npz"
    i = raw.find(np.arange(1000, dtype=np.float32)[500:].tobytes()[:8])  # inside the stored array x
    assert i > 0
    raw[i] ^= 0x01  # one flipped bit
    bad.write_bytes(bytes(raw))
    with pytest.raises(io.CheckpointError, match="corrupted|unreadable"):
        io.load_checkpoint(bad, fingerprint="abc")
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(io.CheckpointError, match="unreadable"):
        io.load_checkpoint(truncated)


def _chain_setup(n_T=2, chains=2, L=8, seed=5):
    c = ising.couplings(np.array([2.0, 2.6])[:n_T])
    init, step = batched_kernel("metropolis", c, chains)
    key = jax.random.key(seed)
    state = init(key, ising.random_spins(jax.random.fold_in(key, 1), L, (n_T, chains)))
    return step, key, state


def test_interrupted_checkpointed_chain_resumes_bitwise(tmp_path, monkeypatch):
    step, key, state = _chain_setup()
    kw = dict(n_measurements=37, steps_per_measurement=2, measure=_measure, chunk_size=5)
    reference = run_chain(step, key, state, **kw)

    path = tmp_path / "chain.npz"
    fp = io.fingerprint({"test": 1})
    real_save = io.save_checkpoint
    calls = []

    def save_then_die(*args, **kwargs):  # a crash right after the 3rd checkpoint
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(io, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        io.run_chain_checkpointed(step, key, state, checkpoint=path, fingerprint=fp, **kw)
    monkeypatch.setattr(io, "save_checkpoint", real_save)
    _, meta = io.load_checkpoint(path, fingerprint=fp)
    assert meta["next_chunk"] == 3

    resumed = io.run_chain_checkpointed(step, key, state, checkpoint=path, fingerprint=fp, **kw)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a finished checkpoint returns the same result again without running
    again = io.run_chain_checkpointed(step, key, state, checkpoint=path, fingerprint=fp, **kw)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    with pytest.raises(io.CheckpointError, match="different run"):
        io.run_chain_checkpointed(step, key, state, checkpoint=path, fingerprint=io.fingerprint({"test": 2}), **kw)
    with pytest.raises(io.CheckpointError, match="PRNG key"):
        io.run_chain_checkpointed(step, jax.random.key(6), state, checkpoint=path, fingerprint=fp, **kw)


def test_simulation_tree_round_trip(tmp_path):
    import jaxrg

    r = jaxrg.simulate(4, [2.0, 3.0], sweeps=32, thermalize=4, chains=2, seed=1, sampler="metropolis")
    io.write_hdf5(tmp_path / "s.h5", io.simulation_to_tree(r))
    back = io.simulation_from_tree(io.read_hdf5(tmp_path / "s.h5")[0])
    for a, b in zip(jax.tree.leaves(r), jax.tree.leaves(back)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_fingerprint_distinguishes_float_bits():
    assert io.fingerprint({"T": np.array([2.0, 2.5])}) != io.fingerprint({"T": np.array([2.0, 2.5 + 1e-15])})
    assert io.fingerprint({"a": 1, "b": [1.0]}) == io.fingerprint({"b": [1.0], "a": 1})
