"""jaxrg: JAX-accelerated renormalization-group physics on the 2D Ising model.

Every numerical core is a pure function of arrays and PRNG keys, so it jit-compiles, vmaps over temperatures and
chains, differentiates, and runs unchanged on CPU, GPU and TPU. The public API is re-exported here explicitly.
"""

__version__ = "0.1.0"

# --- foundation: model, exact results, samplers, driver, statistics -----------------------------------------
# (filled in by the lead as modules land)

# --- capabilities (each issue adds its own block below) -------------------------------------------------------
