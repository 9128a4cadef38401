"""End-to-end `jaxrg run` at tiny sizes: run directory, results.h5 vs report.md, physics vs exact, kill -9, resume."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from jaxrg.cli import main

# Tiny study: Metropolis (quick to compile), L = 4 and 8, 4 temperatures + T_c. chunk_size = 1 makes many chunks, so
# the subprocess below is still running when the first checkpoint appears.
TINY = """
[study]
name = "tiny"
seed = 7

[sweep]
sampler = "metropolis"
L = [4, 8]
T_min = 2.0
T_max = 2.6
n_T = 4
sweeps = 96
thermalize = 16
chains = 4
chunk_size = 4
jackknife_blocks = 4
"""


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


# The tests that read this run come one after another: pytest-xdist hands out consecutive tests to one worker, so
# the run is usually made once, not once per worker.
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY)
    code = main(["run", str(cfg), "--output-dir", str(root / "runs"), "--name", "straight", "--quiet"])
    assert code == 0
    return root, cfg, root / "runs" / "straight"


def test_run_directory_contents(tiny_run):
    _, _, run = tiny_run
    for name in ("config.toml", "results.h5", "report.md", "figures/observables.png", "figures/binder.png",
                 "figures/collapse.png", "figures/spins.png", "stages/sweep-L4.h5", "stages/sweep-L8.h5"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists()
    assert (run / "figures/spins.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_file_holds_metadata_and_what_the_report_shows(tiny_run):
    _, _, run = tiny_run
    report = (run / "report.md").read_text()
    with h5py.File(run / "results.h5", "r") as f:
        for key in ("config", "seed", "jaxrg_version", "jax_version", "device", "config_toml"):
            assert key in f.attrs, key
        assert f.attrs["seed"] == 7
        a = f["sweep/analysis"]
        tc, dtc = a["T_c/mean"][()], a["T_c/error"][()]
        g, dg = a["gamma_over_nu/mean"][()], a["gamma_over_nu/error"][()]
        assert f"{tc:.5f} +- {dtc:.5f}" in report
        assert f"{g:.4f} +- {dg:.4f}" in report
        energy = f["sweep/sweep-L8/energy/mean"][()]
        T = f["sweep/sweep-L8/T"][()]
        ic = int(np.argmin(np.abs(T - 2.269185314213022)))
        assert f"{energy[ic]:.5f} +- {f['sweep/sweep-L8/energy/error'][ic]:.5f}" in report
        pull = f["sweep/analysis/L8/pull/energy"][()]
        assert f"| 8 | energy | {pull.size} | {np.sqrt(np.mean(pull**2)):.2f} | {np.max(np.abs(pull)):.2f} |" in report


def test_measured_values_agree_with_exact(tiny_run):
    """Every observable of L = 4 and 8 against exact values (Kaufman, transfer matrix) within 4.5 errors (seed 7)."""
    _, _, run = tiny_run
    with h5py.File(run / "results.h5", "r") as f:
        for L in (4, 8):
            pulls = f[f"sweep/analysis/L{L}/pull"]
            assert set(pulls) >= {"energy", "heat_capacity", "abs_magnetization", "binder", "susceptibility"}
            for obs in pulls:
                p = pulls[obs][()]
                assert np.all(np.abs(p) < 4.5), (L, obs, p)
            ex = f[f"sweep/analysis/L{L}/exact/energy"][()]
            T = f[f"sweep/sweep-L{L}/T"][()]
            assert abs(ex[np.argmin(np.abs(T - 2.269185314213022))] - {4: -1.5656, 8: -1.4916}[L]) < 1e-3


def test_rerunning_the_saved_config_is_reproducible_and_existing_name_refused(tiny_run, capsys):
    root, cfg, run = tiny_run
    code = main(["run", str(cfg), "--output-dir", str(root / "runs"), "--name", "straight", "--quiet"])
    assert code == 2 and "exists" in capsys.readouterr().err


def test_kill_9_and_resume_is_bitwise_identical(tiny_run, tmp_path, capsys):
    root, cfg, straight = tiny_run
    runs = tmp_path / "runs"
    env = dict(os.environ, JAX_ENABLE_X64="1")  # the test session runs with x64 (conftest); so must the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxrg.cli", "run", str(cfg), "--output-dir", str(runs), "--name", "killed", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    ckpt = runs / "killed" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list(ckpt.glob("*/measure.npz")):
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (runs / "killed" / "results.h5").exists()
    assert list(ckpt.glob("*/*.npz"))

    # a corrupted checkpoint and a changed config are refused with exit code 2, never resumed
    broken = tmp_path / "broken"
    shutil.copytree(runs / "killed", broken)
    victim = sorted(broken.glob("checkpoints/*/measure.npz"))[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    assert main(["run", "--resume", str(broken), "--quiet"]) == 2
    assert re.search(r"corrupted|unreadable", capsys.readouterr().err)
    changed = tmp_path / "changed"
    shutil.copytree(runs / "killed", changed)
    (changed / "config.toml").write_text((changed / "config.toml").read_text().replace("seed = 7", "seed = 8"))
    assert main(["run", "--resume", str(changed), "--quiet"]) == 2
    assert "different" in capsys.readouterr().err

    assert main(["run", "--resume", str(runs / "killed"), "--quiet"]) == 0
    a, b = datasets(straight / "results.h5"), datasets(runs / "killed" / "results.h5")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_reweight_command_reads_the_raw_series_and_matches_kaufman(tiny_run, capsys):
    """`jaxrg reweight RUN_DIR` reweights the stored series (no rerun); L = 8 energies agree with Kaufman."""
    import json

    from jaxrg import exact

    _, _, run = tiny_run
    capsys.readouterr()
    assert main(["reweight", str(run), "--points", "5", "--jackknife-blocks", "4", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    L8 = out["sizes"]["8"]
    T = np.asarray(L8["T"])
    e, de = np.asarray(L8["energy"]["mean"]), np.asarray(L8["energy"]["error"])
    pull = (e - exact.finite_lattice(8, T).energy) / de
    assert np.all(np.abs(pull) < 5), pull
    assert main(["reweight", str(run / "nowhere"), "--quiet"]) == 2


SECTIONS_TINY = """
[study]
seed = 3

[mcrg]
L = 8
samples = 128
chains = 8
thermalize = 20

[inverse]
L_train = 16
n_train = 64
train_steps = 50
size = 32
n_generate = 64
warm_start_L = 32
warm_start_sweeps = 200
"""


def test_mcrg_and_inverse_sections_end_to_end(tmp_path, capsys):
    """MCRG y_h and the generated ensemble's Binder cumulant near their critical values; report == results.h5."""
    cfg = tmp_path / "s.toml"
    cfg.write_text(SECTIONS_TINY)
    assert main(["run", str(cfg), "--output-dir", str(tmp_path), "--name", "s", "--quiet", "--json"]) == 0
    import json

    summary = json.loads(capsys.readouterr().out)["summary"]
    run = tmp_path / "s"
    report = (run / "report.md").read_text()
    assert (run / "figures/mcrg.png").is_file() and (run / "figures/inverse.png").is_file()
    with h5py.File(run / "results.h5", "r") as f:
        yh, dyh = f["mcrg/mcrg-L8/y_h/mean"][()], f["mcrg/mcrg-L8/y_h/error"][()]
        assert f"{yh[0]:.4f} +- {dyh[0]:.4f}" in report
        assert abs(yh[-1] - 15 / 8) < 5 * dyh[-1], (yh, dyh, "seed 3")
        assert summary["mcrg"]["y_h"] == pytest.approx(yh[-1])
        u, du = f["inverse/analysis/binder/mean"][()], f["inverse/analysis/binder/error"][()]
        assert f"{u[-1]:.4f} +- {du[-1]:.4f}" in report
        # a trained critical generator gives a scale-invariant ensemble with U4 near the critical value (3 params:
        # not exactly Ising, so a loose 0.1 band plus 5 errors)
        assert np.all(np.abs(u - 0.61069) < 0.1 + 5 * du), (u, du, "seed 3")
        # warm starts: over the first 10 sweeps the generated start's energy is the closest to Kaufman's
        e = f["inverse/analysis/warm_start/energy_mean"][()]  # (hot, cold, generated) x sweeps
        gap = np.mean(np.abs(e[:, :10] - f["inverse/analysis/warm_start/energy_exact"][()]), axis=1)
        assert gap[2] < min(gap[0], gap[1]), (gap, "seed 3")
    assert (run / "figures/warm_start.png").is_file() and "| generated |" in report


FLOW_TINY = """
[study]
seed = 5

[flow]
n = 1
L = 8
rounds = 2
couplings = 32
steps = 100
"""


def test_flow_section_end_to_end(tmp_path, capsys):
    """A short learned flow (n = 1, L = 8 -> 4, CD) puts K_c within 5% of 0.440687 (the n = 1 projection is biased by
    ~1%; short training adds a few per cent) and nu within 25% of 1; report, summary and results.h5 agree."""
    cfg = tmp_path / "f.toml"
    cfg.write_text(FLOW_TINY)
    assert main(["run", str(cfg), "--output-dir", str(tmp_path), "--name", "f", "--quiet", "--json"]) == 0
    import json

    summary = json.loads(capsys.readouterr().out)["summary"]["flow"]
    run = tmp_path / "f"
    report = (run / "report.md").read_text()
    assert (run / "figures/flow.png").is_file()
    with h5py.File(run / "results.h5", "r") as f:
        K_c, nu = f["flow/analysis/K_c_mean"][()], f["flow/analysis/nu_mean"][()]
        stage = [k for k in f["flow"] if k.startswith("flow-n1-")]
        assert len(stage) == 1 and f[f"flow/{stage[0]}/trajectories"].shape == (13, 6, 1)
    assert f"K_c = {K_c:.5f}" in report and summary["flow_K_c"] == pytest.approx(K_c)
    K_exact = 0.5 * np.log1p(np.sqrt(2.0))
    assert abs(K_c / K_exact - 1) < 0.05, (K_c, "seed 5")
    assert abs(nu - 1.0) < 0.25, (nu, "seed 5")
