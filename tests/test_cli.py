"""The jaxrg command line: --help, bad inputs exit 2 naming the culprit, --json output against exact values."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxrg import exact
from jaxrg.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_entry_point_help():
    p = subprocess.run([sys.executable, "-m", "jaxrg.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0
    for name in ("run", "simulate", "exact", "trg", "mcrg", "phi4", "generate", "flow", "vft", "linearized"):
        assert name in p.stdout


@pytest.mark.parametrize("command", ["run", "simulate", "exact", "trg", "mcrg", "phi4", "generate", "flow", "vft"])
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "--json" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--L", "2"], "L must be an integer >= 4"),
        (["simulate", "--L", "5", "--sweeps", "16"], "L must be an even integer"),
        (["simulate", "--T", "2.0", "-1.0"], "every value of T must be a number > 0, got -1.0"),
        (["simulate", "--sampler", "heatbath"], "sampler must be one of"),
        (["simulate", "--chains", "0"], "chains must be an integer >= 1"),
        (["simulate", "--sweeps", "32", "--measure-every", "4"], "measure_every must be >= 16 measurements"),
        (["run", "--resume", "no/such/run"], "not a jaxrg run directory"),
        (["exact", "--T", "0.001"], "every value of T must be a number >= 0.01"),
        (["exact", "--L", "1"], "L must be an integer >= 2"),
        (["phi4", "--lam", "-1"], "lam must be a number >= 0"),
        (["phi4", "--kappa", "0.3"], "kappa must satisfy |kappa| < 1/4"),
        (["phi4", "--sampler", "langevin"], "sampler must be one of"),
        (["generate", "--size", "48"], "size must be a power of 2, got 48"),
        (["generate", "--n", "8"], "n must be an integer >= 64"),
        (["generate", "--model", "no/such.eqx"], "model: no such file 'no/such.eqx'"),
        (["generate", "--model", "pyproject.toml"], "not a generator file written by jaxrg.rg.inverse.save"),
        (["generate", "--temperature", "0"], "temperature must be a number >= 0.01, got 0.0"),
        (["vft"], "data is required"),
        (["flow", "--n", "4"], "n must be one of 1, 2, 3, 5, got 4"),
        (["flow", "--L", "10"], "L must be a multiple of 4"),
        (["flow", "--loss", "exact", "--L", "16"], "L must be 8"),
        (["flow", "--learning-rate", "0"], "learning_rate must be a number > 0"),
        (["vft", "--data", "no/such.csv"], "data: no such file 'no/such.csv'"),
        (["vft", "--data", "x.csv", "--lam", "0"], "lam must be a number > 0"),
    ],
)
def test_bad_command_line_values_exit_2(argv, message, capsys):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err, err


@pytest.mark.parametrize("argv", [["simulate", "--temperature", "2.0"], ["generate", "--temperature", "hot"]],
                         ids=["unknown flag", "not a number"])
def test_malformed_flags_exit_2(argv, capsys):
    """argparse's own errors (an unknown flag, a value of the wrong type) exit 2 naming the flag."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "--temperature" in capsys.readouterr().err


@pytest.mark.parametrize(
    "toml, message",
    [
        ("L = 8\ncolour = 'red'\n", "unknown key 'colour'"),
        ("L = 8.5\n", "L must be an integer >= 4 and <= 32768, got 8.5"),
        ("L = true\n", "L must be an integer"),
        ("T = []\n", "T must be a list of numbers"),
        ("initial = 'warm'\n", "initial must be one of 'generated', 'ordered', 'random'"),
        ("L = [8\n", "not valid TOML"),
    ],
)
def test_bad_simulate_config_exits_2(toml, message, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    code, out, err = run_cli(capsys, "simulate", "--config", str(cfg))
    assert code == 2
    assert message in err, err


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[sweep]\nL = [8, 16]\n[fourier]\nx = 1\n", "unknown table 'fourier'"),
        ("[sweep]\nL = [8, 16]\nsweeeps = 10\n", "[sweep] unknown key 'sweeeps'"),
        ("[sweep]\nL = [8, 16]\nT_min = -1.0\n", "[sweep].T_min must be a number > 0"),
        ("[sweep]\nL = [8]\n", "at least two different sizes"),
        ("[sweep]\nL = [6, 9]\n", "even sizes"),
        ("[sweep]\nT_min = 2.5\nT_max = 2.0\n", "T_max must be > T_min"),
        ("[study]\nseed = -3\n[sweep]\n", "[study].seed must be an integer >= 0"),
        ("[study]\nname = 'x'\n", "no section to run"),
        ("sweep = 3\n", "'sweep' must be a table"),
    ],
)
def test_bad_study_config_exits_2(toml, message, tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text(toml)
    code, out, err = run_cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path / "runs"), "--quiet")
    assert code == 2
    assert message in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_simulate_json_against_exact(tmp_path, capsys):
    """Energy and heat capacity of a small Metropolis run agree with Kaufman's exact values within 4.5 errors."""
    cfg = tmp_path / "sim.toml"
    cfg.write_text("L = 4\nT = [2.0, 2.5]\nsampler = 'metropolis'\nsweeps = 2048\nthermalize = 64\nseed = 11\n")
    code, out, err = run_cli(capsys, "simulate", "--config", str(cfg), "--chains", "8", "--json", "--quiet",
                             "--output", str(tmp_path / "sim.h5"))
    assert code == 0, err
    res = json.loads(out)
    assert res["config"]["chains"] == 8 and res["config"]["L"] == 4  # flag overrides default, file sets L
    ex = exact.finite_lattice(4, np.array([2.0, 2.5]))
    for obs in ("energy", "heat_capacity"):
        mean, err_ = np.array(res[obs]["mean"]), np.array(res[obs]["error"])
        np.testing.assert_allclose(res["exact"][obs], getattr(ex, obs), rtol=1e-12)
        pull = (mean - getattr(ex, obs)) / err_
        assert np.all(np.abs(pull) < 4.5), (obs, pull, "seed 11")
    # two susceptibilities under two names, each against the exact 4x4 moments (transfer matrix)
    mo = exact.finite_lattice_moments(4, np.array([2.0, 2.5]))
    for obs in ("susceptibility", "full_susceptibility"):
        pull = (np.array(res[obs]["mean"]) - getattr(mo, obs)) / np.array(res[obs]["error"])
        assert np.all(np.abs(pull) < 4.5), (obs, pull, "seed 11")
    import h5py

    with h5py.File(tmp_path / "sim.h5", "r") as f:
        np.testing.assert_array_equal(f["energy/mean"][()], res["energy"]["mean"])
        assert f.attrs["jax_version"] and "config" in f.attrs


def test_trg_json_against_onsager(capsys):
    """TRG at chi = 6 matches Onsager's free energy to 1e-3 relative (its truncation error is ~1e-4 at T_c)."""
    code, out, err = run_cli(capsys, "trg", "--chi", "6", "--T", "2.0", "2.269185314213022", "--json", "--quiet")
    assert code == 0, err
    res = json.loads(out)
    fe = exact.infinite_lattice(np.array([2.0, 2.269185314213022])).free_energy
    np.testing.assert_allclose(res["free_energy_exact"], fe, rtol=1e-14)
    assert np.all(np.abs(np.array(res["free_energy"]) / fe - 1) < 1e-3), res["relative_error"]


def test_linearized_spectrum_at_the_newton_fixed_point(capsys):
    """The CLI's path to the linearised map at chi 4, Gilt 1e-3: Newton converges, sigma and epsilon lead their Z2
    sectors within 0.05 of 1/8 and 1, the total derivatives d sigma follow as a purely imaginary pair (spin 1 under
    the quarter turn; the physics at chi 6 is tested in test_trg_linearized). A layout without odd states: exit 2
    before any work."""
    code, out, err = run_cli(capsys, "linearized", "--chi", "4", "--gilt-epsilon", "1e-3", "--num", "4", "--json",
                             "--quiet")
    assert code == 0, err
    res = json.loads(out)
    assert res["residual"] <= 1e-8
    assert abs(res["odd"]["x"][0] - 0.125) < 0.05 and abs(res["even"]["x"][0] - 1.0) < 0.05, res
    d_sigma = np.array(res["odd"]["eigenvalue_re"][1:3]) + 1j * np.array(res["odd"]["eigenvalue_im"][1:3])
    assert np.all(np.abs(d_sigma.real) < 1e-2 * np.abs(d_sigma)), d_sigma
    assert abs(d_sigma[0] - np.conj(d_sigma[1])) < 1e-6, d_sigma
    assert res["even_states"] == 2
    code, _, err = run_cli(capsys, "linearized", "--chi", "5", "--even-states", "5")
    assert code == 2 and "even_states must be an int in [1, chi - 1]" in err, err


def test_trg_gilt_scaling_dimensions_at_the_pseudo_critical_coupling(capsys):
    """The CLI's path to the Gilt-TNR plateau (threshold, pseudo-critical coupling, four-tensor cylinder) at chi 4:
    the coupling lies within 3% of K_c and x_eps within 0.05 of 1 (the physics at larger chi is tested in
    test_trg_pseudo_critical)."""
    code, out, err = run_cli(capsys, "trg", "--chi", "4", "--T", "2.0", "--method", "gilt-trg", "--gilt-epsilon",
                             "1e-4", "--scaling-steps", "4", "--pseudo-critical", "--circumference", "4", "--json",
                             "--quiet")
    assert code == 0, err
    scaling = json.loads(out)["scaling"]
    assert abs(scaling["coupling"] / exact.CRITICAL_COUPLING - 1) < 3e-2, scaling["coupling"]
    assert scaling["coupling"] != exact.CRITICAL_COUPLING
    assert abs(scaling["scaling_dimensions"][0][1] - 1.0) < 0.05, scaling["scaling_dimensions"][0]
    # a Gilt threshold for another method, or a cylinder of three tensors: exit 2 before any work
    for bad in (["--gilt-epsilon", "1e-4"], ["--circumference", "3"]):
        code, _, err = run_cli(capsys, "trg", "--chi", "4", "--T", "2.0", "--scaling-steps", "4", *bad)
        assert code == 2 and ("gilt_epsilon" in err or "circumference" in err), err


def test_exact_json_against_enumeration(capsys):
    """`jaxrg exact --L 4` (Kaufman + transfer matrix) agrees with brute-force enumeration of the 4x4 torus."""
    T = np.array([1.5, 2.269185314213022, 3.0])
    code, out, err = run_cli(capsys, "exact", "--L", "4", "--T", *map(str, T), "--json")
    assert code == 0, err
    res = json.loads(out)
    levels, probs = exact.energy_distribution(4, T)  # total energies, probabilities (n_T, levels)
    energies = levels / 16.0
    e_mean = probs @ energies
    c = (probs @ energies**2 - e_mean**2) * 16 / T**2
    np.testing.assert_allclose(res["energy"], e_mean, rtol=1e-10)
    np.testing.assert_allclose(res["heat_capacity"], c, rtol=1e-9)
    M, pm = exact.magnetization_distribution(4, T)
    np.testing.assert_allclose(res["abs_magnetization"], pm @ np.abs(M / 16), rtol=1e-10)
    code, out, err = run_cli(capsys, "exact", "--T", "2.0", "--json")  # infinite lattice: Onsager
    m = json.loads(out)["magnetization"][0]
    assert abs(m - (1 - np.sinh(2 / 2.0) ** -4) ** 0.125) < 1e-12  # Yang's spontaneous magnetisation


def test_phi4_free_field_against_exact_propagator(capsys):
    """HMC on the free field (lam = 0): <phi^2> = G(0) exactly, Schwinger-Dyson = 1, within 4.5 errors (seed 3)."""
    code, out, err = run_cli(capsys, "phi4", "--L", "8", "--kappa", "0.2", "--sweeps", "300", "--thermalize", "150",
                             "--chains", "4", "--seed", "3", "--json", "--quiet")
    assert code == 0, err
    res = json.loads(out)
    phi2, sd = res["phi_squared"], res["schwinger_dyson"]
    assert abs(phi2["mean"][0] - res["phi_squared_exact"][0]) < 4.5 * phi2["error"][0], phi2
    assert abs(sd["mean"][0] - 1.0) < 4.5 * sd["error"][0], sd


def test_generate_writes_configurations_and_levels(tmp_path, capsys):
    """`jaxrg generate` writes +-1 int8 spins and the per-level table; its largest level looks critical (U4)."""
    code, out, err = run_cli(capsys, "generate", "--size", "32", "--n", "64", "--output", str(tmp_path / "g.h5"),
                             "--picture", str(tmp_path / "g.png"), "--json", "--quiet")
    assert code == 0, err
    res = json.loads(out)
    import h5py

    with h5py.File(tmp_path / "g.h5", "r") as f:
        spins = f["spins"][()]
        np.testing.assert_array_equal(f["levels/binder/mean"][()], res["levels"]["binder"]["mean"])
    assert spins.shape == (64, 32, 32) and spins.dtype == np.int8 and set(np.unique(spins)) <= {-1, 1}
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    # The pretrained three-parameter generator is scale invariant but approximate: its U4 plateau is ~0.63
    # (critical Ising torus: 0.6107); 0.05 is the tolerance the inverse-RG issue accepts for the plateau.
    assert res["levels"]["sizes"] == [2, 4, 8, 16, 32]
    assert abs(res["levels"]["binder"]["mean"][-1] - 0.61069) < 0.05


def test_generate_temperature_needs_a_thermal_generator_and_a_thermal_generator_needs_it(tmp_path, capsys):
    """A critical generator file refuses --temperature, a thermal one requires it: exit 2 naming the parameter."""
    from jaxrg.rg import inverse

    inverse.save(tmp_path / "critical.eqx", inverse.load_pretrained())
    inverse.save(tmp_path / "thermal.eqx", inverse.load_pretrained_thermal())
    code, _, err = run_cli(capsys, "generate", "--model", str(tmp_path / "critical.eqx"), "--temperature", "2.2")
    assert code == 2 and "temperature needs a thermal generator" in err, err
    code, _, err = run_cli(capsys, "generate", "--model", str(tmp_path / "thermal.eqx"))
    assert code == 2 and "temperature is required" in err, err


def test_generate_at_a_temperature_compares_with_the_exact_torus(capsys):
    """`jaxrg generate --temperature 2.0`: the final level is at T = 2.0, its reference is the exact energy of the
    same torus there, and its <|m|> is within 5% of Onsager's spontaneous magnetisation (0.9113; xi ~ 2 << L)."""
    code, out, err = run_cli(capsys, "generate", "--size", "32", "--n", "64", "--temperature", "2.0", "--json",
                             "--quiet")
    assert code == 0, err
    levels = json.loads(out)["levels"]
    assert levels["sizes"] == [2, 4, 8, 16, 32] and levels["temperature"][-1] == 2.0
    assert levels["temperature"][-2] < 2.0  # below T_c the scaling temperature falls towards the coarse levels
    np.testing.assert_allclose(levels["energy_exact"][-1], exact.finite_lattice(32, 2.0).energy, rtol=1e-12)
    onsager = (1 - np.sinh(2 / 2.0) ** -4) ** 0.125
    assert abs(levels["abs_magnetization"]["mean"][-1] / onsager - 1) < 0.05, levels["abs_magnetization"]


def test_vft_recovers_the_law_and_rejects_bad_files(tmp_path, capsys):
    """VFT data generated with tau0 = 1e-3, D T0 = 500 K, T0 = 40 K and 5% log-normal noise (seed 0): the fit is within
    4 of its errors of the truth, and A = D T0 lambda follows; a ragged file exits with 2 naming the line."""
    T = np.linspace(70.0, 140.0, 12)
    sigma = 0.05
    tau = 1e-3 * np.exp(500.0 / (T - 40.0) + np.random.default_rng(0).normal(0.0, sigma, T.size))
    data = tmp_path / "tau.csv"
    data.write_text("# relaxation times\nT,tau,sigma\n" + "".join(f"{a},{b},{sigma}\n" for a, b in zip(T, tau)))
    code, out, err = run_cli(capsys, "vft", "--data", str(data), "--lam", "0.1", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["converged"] and res["n_points"] == 12 and res["dof"] == 9
    for name, truth in (("T0", 40.0), ("D_T0", 500.0), ("D", 12.5)):
        assert abs(res[name]["mean"] - truth) < 4 * res[name]["error"], (name, res[name])
    assert abs(res["barrier_amplitude"]["mean"] - 0.1 * res["D_T0"]["mean"]) < 1e-9 * res["D_T0"]["mean"]
    bad = tmp_path / "bad.csv"
    bad.write_text("80,1.0\n90,0.5,0.1\n")
    code, out, err = run_cli(capsys, "vft", "--data", str(bad))
    assert code == 2 and "bad.csv:2: expected 2 or 3 columns" in err, err


def test_version_broken_pipe_and_susceptibility_names(capsys):
    """`--version`; `exact --json | head` ends quietly; exact reports chi (connected) and chi_full under two names."""
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("jaxrg ")
    pipe = subprocess.run(f"{sys.executable} -m jaxrg.cli exact --L 4 --T 2 3 --json | head -c 10",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in pipe.stderr and "BrokenPipe" not in pipe.stderr, pipe.stderr
    code, out, err = run_cli(capsys, "exact", "--L", "4", "--T", "2.0", "--json")
    res = json.loads(out)
    M, pm = exact.magnetization_distribution(4, np.array([2.0]))
    m2, am = pm @ (M / 16) ** 2, pm @ np.abs(M / 16)
    np.testing.assert_allclose(res["full_susceptibility"], 16 * m2 / 2.0, rtol=1e-10)
    np.testing.assert_allclose(res["susceptibility"], 16 * (m2 - am**2) / 2.0, rtol=1e-10)
