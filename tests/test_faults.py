"""Fault injection and fuzzing: damaged files are always detected, bad inputs always exit 2, never a traceback.

Every persisted file type (HDF5 results and stage files, ``.npz`` checkpoints, inverse-RG generator files) gets random
bit flips and truncations: reading must raise the named error, or return exactly what was written (a flip in bytes
that carry no data). Random TOML documents and flag values go through ``jaxrg.cli.main`` in-process: it must return 0
or 2 (argparse's own exit 2 included), and any other exception fails the test. Commands whose valid inputs would start
real work have that work replaced by a sentinel (:class:`ReachedWork`), so valid inputs count as "passed validation".

``JAXRG_FAULTS_EXAMPLES`` scales the number of examples (``benchmarks/faults.py`` runs a larger corpus), and
``JAXRG_FAULTS_TALLY`` names a JSON file where the counts of inputs tried and outcomes are written.
"""

import contextlib
import io
import json
import os
import string
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxrg import files
from jaxrg.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from jaxrg.cli import main
from jaxrg.lattice import MAX_SIDE

SCALE = float(os.environ.get("JAXRG_FAULTS_EXAMPLES", "1"))
TALLY: Counter = Counter()


def examples(n: int) -> settings:
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def teardown_module(module):
    path = os.environ.get("JAXRG_FAULTS_TALLY")
    if path:
        with open(path, "w") as f:
            json.dump(dict(TALLY), f, indent=1, sort_keys=True)


class ReachedWork(BaseException):
    """Raised in place of the real computation: the input passed every check (not caught by the CLI)."""


def run_main(argv) -> tuple[int, str]:
    """``jaxrg.cli.main(argv)`` in-process: (exit code, stderr); argparse's SystemExit becomes its code."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
        except ReachedWork:
            code = "work"
    return code, err.getvalue()


# ---------------------------------------------------------------------------------------------- damaged files


def _damage(raw: bytes, data) -> tuple[bytes, str]:
    """Random bit flips (1-8) or a truncation of ``raw``."""
    if data.draw(st.booleans(), label="truncate"):
        return raw[:data.draw(st.integers(0, len(raw) - 1), label="length")], "truncation"
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1), label="byte")
        out[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    return bytes(out), "bit flips"


def _same_tree(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_tree(a[k], b[k]) for k in a)
    if isinstance(a, str):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


TREE = {"energy": np.linspace(-2, -1, 13), "spins": np.where(np.arange(64).reshape(8, 8) % 3, 1, -1).astype(np.int8),
        "fit": {"nu": np.float64(1.0), "label": "binder", "flags": np.array([True, False])}}
ATTRS = {"config": {"L": [4, 8], "sampler": "wolff"}, "seed": 7, "fingerprint": "ab" * 32}


@pytest.fixture(scope="module")
def hdf5_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("h5") / "stage.h5"
    files.write_hdf5(path, TREE, attrs=ATTRS)
    return path.read_bytes()


@examples(150)
@given(data=st.data())
def test_hdf5_bit_flips_and_truncations_are_detected(hdf5_bytes, tmp_path, data):
    damaged, kind = _damage(hdf5_bytes, data)
    path = tmp_path / "stage.h5"
    path.write_bytes(damaged)
    try:
        tree, attrs = files.read_hdf5(path)
    except files.CorruptFileError as e:
        assert str(path) in str(e) and "delete it" in str(e)
        TALLY[f"hdf5 {kind}: detected"] += 1
        return
    # read back without error: every dataset and attribute must be exactly what was written
    assert _same_tree(tree, TREE) and attrs["seed"] == 7 and json.loads(attrs["config"]) == ATTRS["config"]
    TALLY[f"hdf5 {kind}: payload intact"] += 1


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "measure.npz"
    save_checkpoint(path, {"state_0": np.arange(32, dtype=np.int8), "records_0": np.ones((5, 3), np.float32)},
                    {"fingerprint": "f" * 64, "next_chunk": 3})
    return path.read_bytes()


@examples(150)
@given(data=st.data())
def test_checkpoint_bit_flips_and_truncations_are_detected(checkpoint_bytes, tmp_path, data):
    damaged, kind = _damage(checkpoint_bytes, data)
    path = tmp_path / "measure.npz"
    path.write_bytes(damaged)
    try:
        arrays, meta = load_checkpoint(path, fingerprint="f" * 64)
    except CheckpointError as e:
        assert str(path) in str(e) and "delete" in str(e)
        TALLY[f"checkpoint {kind}: detected"] += 1
        return
    assert meta["next_chunk"] == 3
    assert _same_tree(arrays, {"state_0": np.arange(32, dtype=np.int8), "records_0": np.ones((5, 3), np.float32)})
    TALLY[f"checkpoint {kind}: payload intact"] += 1


@pytest.fixture(scope="module")
def generator_bytes(tmp_path_factory):
    from jaxrg.rg import inverse

    path = tmp_path_factory.mktemp("gen") / "generator.eqx"
    inverse.save(path, inverse.load_pretrained())
    return path.read_bytes()


@examples(100)
@given(data=st.data())
def test_generator_file_bit_flips_and_truncations_are_detected(generator_bytes, tmp_path, data):
    from jaxrg.rg import inverse

    damaged, kind = _damage(generator_bytes, data)
    path = tmp_path / "generator.eqx"
    path.write_bytes(damaged)
    try:
        model = inverse.load(path)
    except files.CorruptFileError as e:
        assert str(path) in str(e)
        TALLY[f"generator {kind}: detected"] += 1
        return
    np.testing.assert_array_equal(np.asarray(model.params), np.asarray(inverse.load_pretrained().params))
    TALLY[f"generator {kind}: payload intact"] += 1


def test_damaged_stage_file_is_recomputed_and_stale_temporaries_removed(tmp_path):
    """A stage file with a flipped byte is recomputed (saying so); a killed write's temporary file is removed."""
    from jaxrg import study

    cfg_path = tmp_path / "s.toml"
    cfg_path.write_text('[study]\nseed = 1\n[trg]\nchi = 4\nT_min = 2.0\nT_max = 2.5\nn_T = 2\nscaling_steps = 2\n')
    run_dir, _ = study.run_study(study.load_config(cfg_path), output_dir=tmp_path / "runs", name="r")
    stage = next((run_dir / "stages").glob("*.h5"))
    good = files.read_hdf5(stage)[0]
    raw = bytearray(stage.read_bytes())
    raw[_data_offset(stage)] ^= 0x10  # inside a dataset's data, so the payload really changes
    stage.write_bytes(bytes(raw))
    stale = run_dir / ".results.h5.abc123.tmp"
    stale.write_bytes(b"half")
    lines = []
    study.run_study(resume=run_dir, log=lines.append)
    assert any("recomputing" in line for line in lines), lines
    assert _same_tree(files.read_hdf5(stage)[0], good)  # recomputed bitwise
    assert not stale.exists()
    assert (os.stat(run_dir / "results.h5").st_mode & 0o777) == 0o666 & ~_umask()


def _data_offset(path) -> int:
    """File offset of the first byte of the first contiguous float dataset's data."""
    import h5py

    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append(obj.id.get_offset()) if isinstance(obj, h5py.Dataset)
                     and obj.dtype.kind == "f" and obj.size > 1 and obj.id.get_offset() is not None else None)
    return found[0]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------ file-system faults


@pytest.mark.parametrize("argv_of, message", [
    (lambda d: ["simulate", "--output", str(d)], "is a directory"),
    (lambda d: ["simulate", "--output", str(d / "file" / "x.h5")], "is a file"),
    (lambda d: ["simulate", "--output", str(d) + "/"], "is a directory"),
    (lambda d: ["simulate", "--checkpoint", str(d / "file")], "is a file"),
    (lambda d: ["simulate", "--config", str(d)], "is a directory"),
    (lambda d: ["simulate", "--config", str(d / "missing.toml")], "does not exist"),
    (lambda d: ["simulate", "--config", str(d / "binary")], "UTF-8"),
    (lambda d: ["run", "--output-dir", str(d / "file")], "is a file"),
    (lambda d: ["run", "--resume", str(d / "file")], "not a jaxrg run directory"),
    (lambda d: ["run", str(d)], "is a directory"),
    (lambda d: ["generate", "--picture", str(d)], "is a directory"),
    (lambda d: ["generate", "--output", str(d / "file" / "g.h5")], "is a file"),
    (lambda d: ["generate", "--model", str(d / "file")], "damaged or not a generator"),
    (lambda d: ["generate", "--model", str(d)], "no such file"),
])
def test_unusable_paths_exit_2_before_work(argv_of, message, tmp_path, monkeypatch):
    import jaxrg
    from jaxrg.rg import inverse

    monkeypatch.setattr(jaxrg, "simulate", _reached)
    monkeypatch.setattr(inverse, "level_observables", _reached)
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00bad")
    code, err = run_main(argv_of(tmp_path))
    assert code == 2, err
    assert message in err and "Traceback" not in err
    TALLY["unusable paths: exit 2"] += 1


def _reached(*args, **kwargs):
    raise ReachedWork


def test_unwritable_directory_is_refused_before_work(tmp_path, monkeypatch):
    """Permission denied (simulated with os.access, since the tests may run as root) is a PathError naming the path."""
    real_access = os.access
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(locked) else real_access(p, mode))
    with pytest.raises(files.PathError, match="locked.*not writable"):
        files.check_writable_file(locked / "x.h5")
    with pytest.raises(files.PathError, match="not writable"):
        files.check_writable_directory(locked / "runs")
    code, err = run_main(["simulate", "--output", str(locked / "x.h5")])
    assert code == 2 and "not writable" in err
    TALLY["unwritable paths: exit 2"] += 3


def test_failed_final_write_keeps_the_results(tmp_path, monkeypatch):
    """A write that fails after the work goes to the current directory instead, and the error says where."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "gone" / "r.h5"

    def write(path):
        if path == target:
            raise PermissionError(13, "Permission denied", str(path))
        files.write_hdf5(path, TREE)

    with pytest.raises(files.PathError, match=r"written to .*r\.h5 instead"):
        files.write_with_fallback(target, write)
    assert _same_tree(files.read_hdf5(tmp_path / "r.h5")[0], TREE)
    TALLY["failed final write: rescued"] += 1


# ----------------------------------------------------------------------------------------- fuzzed inputs

SIMULATE_KEYS = ["L", "T", "sampler", "sweeps", "thermalize", "chains", "measure_every", "seed", "h", "initial",
                 "chunk_size", "checkpoint", "output"]
EXACT_KEYS = ["L", "T"]
GENERATE_KEYS = ["size", "n", "seed", "model", "output", "picture"]
PHI4_KEYS = ["L", "kappa", "lam", "sampler", "sweeps", "thermalize", "chains", "measure_every", "integration_steps",
             "seed"]
FLOW_KEYS = ["n", "L", "rounds", "couplings", "steps", "loss", "seeds", "cd_sweeps", "learning_rate", "seed"]
VFT_KEYS = ["data", "lam", "lam_error"]


def _stub_work(monkeypatch) -> None:
    """Replace every command's real computation by :class:`ReachedWork` (exact and vft run: they are cheap)."""
    import jaxrg
    from jaxrg import phi4, study
    from jaxrg.rg import inverse
    from jaxrg.study import flow

    monkeypatch.setattr(jaxrg, "simulate", _reached)
    monkeypatch.setattr(inverse, "level_observables", _reached)
    monkeypatch.setattr(study, "run_study", _reached)
    monkeypatch.setattr(phi4, "simulate", _reached)
    monkeypatch.setattr(flow, "train_and_analyze", _reached)

scalars = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2, 3, 4, 15, 16, MAX_SIDE, MAX_SIDE + 1, 2**31, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(string.printable, max_size=12), st.sampled_from(["wolff", "metropolis", "random", "ordered", ""]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=5), scalars, max_size=2))


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value < 0 and
                                             value == -float("inf") else repr(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _safe(command: str, doc: dict) -> dict:
    """Keep the fuzzed work small: exact runs for real (L <= 64), others stop at :class:`ReachedWork`."""
    if command == "exact" and isinstance(doc.get("L"), int) and 64 < doc["L"] <= MAX_SIDE:
        doc["L"] = 64
    return doc


@examples(150)
@given(command=st.sampled_from(["simulate", "exact", "generate", "phi4", "flow", "vft"]), data=st.data())
def test_random_toml_documents_exit_0_or_2(command, data, tmp_path_factory, monkeypatch):
    _stub_work(monkeypatch)
    keys = {"simulate": SIMULATE_KEYS, "exact": EXACT_KEYS, "generate": GENERATE_KEYS, "phi4": PHI4_KEYS,
            "flow": FLOW_KEYS, "vft": VFT_KEYS}[command]
    doc = data.draw(st.dictionaries(st.one_of(st.sampled_from(keys), st.text(string.ascii_letters, min_size=1,
                                                                             max_size=6)), values, max_size=5))
    doc = _safe(command, doc)
    text = "\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in doc.items())
    if data.draw(st.booleans()):  # sometimes raw garbage
        text = data.draw(st.text(max_size=40))
    path = tmp_path_factory.mktemp("toml") / "c.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, err = run_main([command, "--config", str(path), "--quiet"])
    assert code in (0, 2, "work"), (code, err)
    assert "Traceback" not in err
    TALLY[f"toml {command}: {code}"] += 1


flag_values = st.one_of(
    st.sampled_from(["0", "-1", "3", "4", "15", "16", str(MAX_SIDE), str(MAX_SIDE + 1), "2147483648", "1e400", "nan",
                     "inf", "-inf", "2.269", "wolff", "bogus", "", "--json", "99999999999999999999999"]),
    st.text(string.printable, max_size=10),
)


@examples(200)
@given(command=st.sampled_from(["simulate", "exact", "generate", "run", "phi4", "flow", "vft"]), data=st.data())
def test_random_flag_values_exit_0_or_2(command, data, monkeypatch, tmp_path_factory):
    _stub_work(monkeypatch)
    keys = {"simulate": SIMULATE_KEYS, "exact": EXACT_KEYS, "generate": GENERATE_KEYS, "phi4": PHI4_KEYS,
            "flow": FLOW_KEYS, "vft": VFT_KEYS, "run": ["output-dir", "name", "resume"]}[command]
    argv = [command]
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=4)):
        argv += [f"--{key.replace('_', '-')}", *data.draw(st.lists(flag_values, min_size=1, max_size=2))]
    if command == "exact" and "--L" in argv:  # keep real exact work small
        i = argv.index("--L") + 1
        if i < len(argv) and argv[i].isdigit() and 64 < int(argv[i]) <= MAX_SIDE:
            argv[i] = "64"
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))  # relative output paths land in a scratch directory
    try:
        code, err = run_main(argv + ["--quiet"])
    finally:
        os.chdir(cwd)  # later tests read files relative to the repository
    assert code in (0, 2, "work"), (argv, code, err)
    assert "Traceback" not in err
    TALLY[f"flags {command}: {code}"] += 1


# ------------------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize("argv, ok", [
    (["simulate", "--L", str(MAX_SIDE)], None),  # accepted by the checks, then refused by the memory estimate
    (["simulate", "--L", str(MAX_SIDE + 2)], False),
    (["simulate", "--L", "100000"], False),
    (["simulate", "--sweeps", str(2**31 - 1), "--L", "4"], False),  # memory of the time series
    (["simulate", "--sweeps", str(2**31 - 1), "--measure-every", str(2**20), "--L", "4"], True),
    (["simulate", "--sweeps", str(2**31), "--L", "4"], False),
    (["simulate", "--chains", str(2**20 + 1)], False),
    (["simulate", "--seed", str(2**63 - 1), "--L", "4"], True),
    (["simulate", "--seed", str(2**63)], False),
    (["generate", "--size", str(2**15 * 2)], False),
    (["generate", "--size", "1024", "--n", str(2**20), "--output", "g.h5"], False),  # memory estimate
    (["exact", "--L", str(MAX_SIDE + 1)], False),
])
def test_sizes_at_and_past_the_limits(argv, ok, monkeypatch, tmp_path):
    import jaxrg
    from jaxrg.rg import inverse

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(jaxrg, "simulate", _reached)
    monkeypatch.setattr(inverse, "level_observables", _reached)
    code, err = run_main(argv + ["--quiet"])
    if ok is None:
        assert code in ("work", 2) and ("memory" in err or code == "work"), err
    else:
        assert code == ("work" if ok else 2), err
    if code == 2:
        assert "Traceback" not in err and ("must be" in err or "memory" in err), err
    TALLY["limits"] += 1


def test_library_size_limit_names_the_parameter():
    from jaxrg import lattice

    assert lattice.validate_size(MAX_SIDE) == MAX_SIDE
    with pytest.raises(ValueError, match=r"L must be .*<= 32768"):
        lattice.validate_size(MAX_SIDE + 2, name="L")
    with pytest.raises(ValueError, match="L must be"):
        jaxrg_simulate(100000)


def jaxrg_simulate(L):
    import jaxrg

    return jaxrg.simulate(L, 2.0, sweeps=16, thermalize=0)


# ------------------------------------------------------------------------------------------------ signals

KILL_STUDY = """
[study]
name = "term"
seed = 3

[sweep]
sampler = "metropolis"
L = [4, 6]
T_min = 2.0
T_max = 2.6
n_T = 4
sweeps = 20000
thermalize = 16
chains = 2
chunk_size = 1
jackknife_blocks = 4
"""


def test_sigterm_exits_130_with_the_resume_command(tmp_path):
    """`kill` (SIGTERM) during a run: exit 130, no traceback, and the message names `jaxrg run --resume RUN_DIR`."""
    import signal
    import subprocess
    import sys
    import time

    cfg = tmp_path / "term.toml"
    cfg.write_text(KILL_STUDY)
    runs = tmp_path / "runs"
    env = dict(os.environ, JAX_ENABLE_X64="1")
    proc = subprocess.Popen([sys.executable, "-m", "jaxrg.cli", "run", str(cfg), "--output-dir", str(runs),
                             "--name", "t"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(runs.glob("t/checkpoints/*/*.npz")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 130, err
    assert f"jaxrg run --resume {runs / 't'}" in err and "Traceback" not in err, err
    TALLY["signals: SIGTERM with resume command"] += 1
