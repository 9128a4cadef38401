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

    r = jaxrg.simulate(4, [2.0, 3.0], sweeps=32, thermalize=4, chains=2, seed=1, sampler="metropolis",
                       exchange_every=2)
    assert r.exchange is not None
    assert repr(r).startswith("SimulationResult(L=4, T=[2., 3.]") and "int8[2, 2, 4, 4]" in repr(r)  # spins: shape
    assert len(repr(r)) < 1500  # a summary, not the arrays
    files.write_hdf5(tmp_path / "s.h5", simulation.simulation_to_tree(r))
    back = simulation.simulation_from_tree(files.read_hdf5(tmp_path / "s.h5")[0])
    assert back.exchange is not None  # the replica walks and swap statistics survive the round trip
    assert jax.tree.structure(back) == jax.tree.structure(r)
    for a, b in zip(jax.tree.leaves(r), jax.tree.leaves(back)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_long_series_are_stored_compressed(tmp_path):
    series = np.repeat(np.arange(64, dtype=np.float64), 256).reshape(4, 4096)  # compressible, above the threshold
    files.write_hdf5(tmp_path / "c.h5", {"series": series, "short": np.arange(8.0)})
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert f["series"].compression == "gzip" and f["short"].compression is None
        np.testing.assert_array_equal(f["series"][()], series)
    assert os.path.getsize(tmp_path / "c.h5") < series.nbytes / 4


def test_fingerprint_distinguishes_float_bits():
    assert files.fingerprint({"T": np.array([2.0, 2.5])}) != files.fingerprint({"T": np.array([2.0, 2.5 + 1e-15])})
    assert files.fingerprint({"a": 1, "b": [1.0]}) == files.fingerprint({"b": [1.0], "a": 1})


def test_files_get_umask_permissions_and_stale_temporaries_go(tmp_path):
    """Written files are 0666 & ~umask (0644 by default), not mkstemp's 0600; a killed write's .tmp is removed."""
    import socket

    old = os.umask(0o022)
    live = tmp_path / f".r.h5.{socket.gethostname()}-{os.getppid()}.abc.tmp"  # a writer that is still running
    live.write_bytes(b"in progress")
    try:
        stale = tmp_path / ".r.h5.x1y2z3.tmp"
        stale.write_bytes(b"half-written")
        files.write_hdf5(tmp_path / "r.h5", {"a": np.arange(3)})
        files.write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "r.h5").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "t.txt").st_mode & 0o777 == 0o644
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, "r.h5", "t.txt"])


def test_read_hdf5_refuses_files_without_or_with_a_wrong_checksum(tmp_path):
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["a"] = np.arange(3)
    with pytest.raises(files.CorruptFileError, match="has no checksum"):
        files.read_hdf5(tmp_path / "plain.h5")
    files.write_hdf5(tmp_path / "r.h5", {"a": np.arange(3.0)}, attrs={"seed": 1})
    with h5py.File(tmp_path / "r.h5", "r+") as f:  # a change that keeps the file valid HDF5
        f["a"][1] = 7.0
    with pytest.raises(files.CorruptFileError, match="checksum .* does not match.*delete it"):
        files.read_hdf5(tmp_path / "r.h5")
    with pytest.raises(files.PathError, match="directory"):
        files.read_hdf5(tmp_path)
