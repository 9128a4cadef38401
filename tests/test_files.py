"""jaxrg.files: atomic writes, HDF5 round trips, fingerprints; the simulation result schema on disk."""

import os

import h5py
import jax
import numpy as np
import pytest

from jaxrg import files, simulation

def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "a.txt"
    files.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with files.atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]  # no temporary file left behind


def test_hdf5_round_trip_with_plain_h5py(tmp_path):
    tree = {"a": np.arange(6, dtype=np.int8).reshape(2, 3), "g": {"x": np.float64(1.5), "s": "text"}}
    files.write_hdf5(tmp_path / "r.h5", tree, attrs={"config": {"L": 4}, "seed": 3})
    with h5py.File(tmp_path / "r.h5", "r") as f:
        np.testing.assert_array_equal(f["a"][()], tree["a"])
        assert f["a"].dtype == np.int8
        assert f["g/x"][()] == 1.5
        assert f["g/s"][()].decode() == "text"
        assert f.attrs["seed"] == 3 and '"L": 4' in f.attrs["config"]
    back, attrs = files.read_hdf5(tmp_path / "r.h5")
    assert back["g"]["s"] == "text" and attrs["seed"] == 3


def test_simulation_tree_round_trip(tmp_path):
    import jaxrg

    r = jaxrg.simulate(4, [2.0, 3.0], sweeps=32, thermalize=4, chains=2, seed=1, sampler="metropolis")
    files.write_hdf5(tmp_path / "s.h5", simulation.simulation_to_tree(r))
    back = simulation.simulation_from_tree(files.read_hdf5(tmp_path / "s.h5")[0])
    for a, b in zip(jax.tree.leaves(r), jax.tree.leaves(back)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_fingerprint_distinguishes_float_bits():
    assert files.fingerprint({"T": np.array([2.0, 2.5])}) != files.fingerprint({"T": np.array([2.0, 2.5 + 1e-15])})
    assert files.fingerprint({"a": 1, "b": [1.0]}) == files.fingerprint({"b": [1.0], "a": 1})
