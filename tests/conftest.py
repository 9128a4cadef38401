"""Test-session set-up: float64 for exact comparisons, and the seed printed by statistical tests."""

import jax

jax.config.update("jax_enable_x64", True)
