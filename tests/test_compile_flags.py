"""The suite compiles with XLA:CPU's optimisation level 0 (tests/conftest.py); users get XLA's default compilation.

One subprocess runs the same small computations with XLA's default flags: the Metropolis kernels (int8 and
bit-packed), Wolff and a BTRG free energy must give what this process gives, up to the rounding of reductions
(relative 1e-12), so a miscompile of the optimised programs (as jax 0.10.2 has on CPU, jax-ml/jax#39103) cannot hide
behind the test configuration.
"""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = """
import json
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import jaxrg
out = {}
for sampler in ("metropolis", "bitpacked_metropolis", "wolff"):
    r = jaxrg.simulate(8, [2.0, 2.6], sampler=sampler, sweeps=100, thermalize=10, chains=2, seed=5)
    out[sampler] = np.asarray(r.timeseries.energy).ravel().tolist()
    out[sampler + "_spins"] = np.asarray(r.spins).ravel().tolist()
out["btrg"] = np.asarray(jaxrg.trg_free_energy(np.array([2.0, 2.4]), chi=6, method="btrg", steps=12)).tolist()
print(json.dumps(out))
"""


def _default_flags_env() -> dict:
    flags = os.environ.get("XLA_FLAGS", "").split()
    kept = [f for f in flags if not f.startswith(("--xla_backend_optimization_level", "--xla_llvm_disable_expensive"))]
    return dict(os.environ, XLA_FLAGS=" ".join(kept), JAX_PLATFORMS="cpu")


def test_default_xla_compilation_computes_what_the_test_configuration_computes(capsys):
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=_default_flags_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    optimised = json.loads(proc.stdout.strip().splitlines()[-1])
    exec(compile(SCRIPT, "<script>", "exec"), {})
    here = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(here) == set(optimised)
    for name in here:
        a, b = np.asarray(here[name]), np.asarray(optimised[name])
        if name.endswith("_spins"):
            np.testing.assert_array_equal(a, b, err_msg=name)  # the same Markov chains
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=name)
    assert np.ptp(here["metropolis"]) > 0  # not vacuous: the chains moved
