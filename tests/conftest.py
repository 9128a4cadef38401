"""Test-session set-up: float64 for exact comparisons and faster XLA compiles.

The suite is compile-bound (small lattices, many programs): LLVM's expensive optimisation passes are switched off
for it. The flag changes how fast XLA compiles, not what it computes (Metropolis, Wolff, TRG, BTRG heat capacity by
autodiff and phi^4 HMC results were checked bit for bit the same with and without it). It is set in the environment
so that subprocesses (CLI runs, notebook kernels, multi-process workers) inherit it. Benchmarks and user runs keep
XLA's defaults.

One persistent compilation cache, a temporary directory removed at exit, is shared by the whole session: the xdist
workers, the notebook kernels and the CLI and worker subprocesses, which would otherwise compile the same programs
again (a resumed `jaxrg run` in a child process, the same simulation in both workers). A program read from the cache
is the executable the first process compiled, so results are the same bit for bit; it still counts as a compilation
for the compile-policy tests (JAX fires the backend-compile event around cache reads as well). XLA:CPU logs an
error-level "machine feature" line for every program it reads from the cache (harmless on the machine that compiled
it), so C++ logging is kept to fatal messages: those lines would fill the stderr pipes of subprocesses.
"""

import atexit
import os
import shutil
import tempfile

_FAST_COMPILE = "--xla_llvm_disable_expensive_passes=true"
if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

# the first process of the session (the xdist controller) creates the cache; workers and subprocesses inherit it
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrg-tests-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # every program, however quick to compile
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")  # however small
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402  (XLA_FLAGS and the logging level must be set before the backend starts)

jax.config.update("jax_enable_x64", True)
# the environment above configures the subprocesses; this process may have imported jax before reading it
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
jax.config.update("jax_persistent_cache_min_entry_size_bytes",
                  int(os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"]))
