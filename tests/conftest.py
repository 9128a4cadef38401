"""Test-session set-up: float64 for exact comparisons and faster XLA compiles.

The suite is compile-bound (small lattices, many programs): LLVM's expensive optimisation passes are switched off
for it. The flag changes how fast XLA compiles, not what it computes (Metropolis, Wolff, TRG, BTRG heat capacity by
autodiff and phi^4 HMC results were checked bit for bit the same with and without it). It is set in the environment
so that subprocesses (CLI runs, notebook kernels, multi-process workers) inherit it. Benchmarks and user runs keep
XLA's defaults.
"""

import os

_FAST_COMPILE = "--xla_llvm_disable_expensive_passes=true"
if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

import jax  # noqa: E402  (XLA_FLAGS must be set before the backend starts)

jax.config.update("jax_enable_x64", True)
