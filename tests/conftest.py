"""Test-session set-up: float64 for exact comparisons and faster XLA compiles.

The suite is compile-bound (small lattices, many programs): XLA:CPU compiles it with LLVM's expensive passes off
and at optimisation level 0 (a quarter to a third less CPU time). The first flag changes how fast XLA compiles,
not what it computes (Metropolis, Wolff, TRG, BTRG heat capacity by autodiff and phi^4 HMC results were checked bit
for bit the same with and without it). The second also changes the rounding of floating-point reductions (relative
1e-15): spin chains are the same and their averages round differently; HMC trajectories, being chaotic, become
another realisation of the same chain. Both are far inside every tolerance of the suite, and bitwise comparisons
(resume, sharding) compare runs of one configuration. tests/test_compile_flags.py checks in every run that XLA's
default compilation (what users get) computes the same; ``JAXRG_TEST_XLA_DEFAULTS=1`` runs the whole suite with it.
The flags are set in the environment so that subprocesses (CLI runs, notebook kernels, multi-process workers) inherit
them. Benchmarks and user runs keep XLA's defaults.
"""

import os

_FAST_COMPILE = ("--xla_llvm_disable_expensive_passes=true", "--xla_backend_optimization_level=0")
if os.environ.get("JAXRG_TEST_XLA_DEFAULTS", "") != "1":
    for _flag in _FAST_COMPILE:
        if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()

import jax  # noqa: E402  (XLA_FLAGS must be set before the backend starts)

jax.config.update("jax_enable_x64", True)
