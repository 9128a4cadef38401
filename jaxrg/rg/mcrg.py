"""Monte Carlo renormalization group (Swendsen 1979, 1984): RG eigenvalues from correlations across block levels.

Configurations are blocked ``levels`` times (:func:`jaxrg.rg.blocking.block_hierarchy`) and the coupling operators of
:mod:`jaxrg.rg.operators` are evaluated at every level. Writing ``S^(n)`` for the operators on level ``n`` and
``K^(n)`` for the couplings of the (unknown) level-``n`` Hamiltonian, the chain rule

    d<S_a^(n)>/dK_b^(n-1) = sum_c  d<S_a^(n)>/dK_c^(n)  dK_c^(n)/dK_b^(n-1)

with ``d<S_a>/dK_b = <S_a S_b> - <S_a><S_b>`` gives the linearised RG matrix ``T_cb = dK_c^(n)/dK_b^(n-1)`` as

    B = C T,   T = C^{-1} B,   B_ab = <S_a^(n) S_b^(n-1)>_c,   C_ac = <S_a^(n) S_c^(n)>_c     (connected)

(Swendsen, PRL 42, 859 (1979), eq. 6). Its eigenvalues are ``lambda = b^y``; the leading even one gives the thermal
exponent ``y_t`` (exactly 1 in 2D), the leading odd one the magnetic exponent ``y_h`` (15/8). Even and odd operators
do not mix at ``h = 0`` and are treated as two separate blocks. "Level n" below means the step from level ``n - 1`` to
level ``n`` (level 0 is the unblocked lattice); a truncation to the first ``m`` operators gives one column of the
``y_t_table`` / ``y_h_table``.

Note: ``C`` must be the correlation matrix of the *coarser* level; the form ``B = T A`` with ``A`` the level-``n-1``
matrix (sometimes quoted) differs from this by ``A T A^{-1} ~ b^d`` factors and does not give ``b^y``.

Two-lattice variant (finite-size effects): ``B`` from the lattice ``L`` (levels ``n-1`` and ``n``, final size
``L/b^n``) and ``C`` from an independent lattice ``L/b`` blocked ``n - 1`` times, which has the same final size
``L/b^n``; near the fixed point its level-``n-1`` Hamiltonian equals the level-``n`` Hamiltonian of ``L``, so both
correlation matrices are measured on equal lattices and the leading finite-size error cancels.

Errors: samples are cut into contiguous blocks (per chain), the block means of ``S``, ``S S`` are pooled, and every
eigenvalue and exponent is re-estimated leaving one block out (:func:`jaxrg.stats.jackknife`, bias-corrected).
Operator values are centred in float64 before products are formed, and the linear algebra runs in float64.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from functools import partial
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import files, ising, lattice, stats
from jaxrg.rg.blocking import block_hierarchy, resolve_rule, validate_block_size
from jaxrg.rg.operators import even_operators, odd_operators, operator_values
from jaxrg.sampling import SAMPLERS
from jaxrg.sampling.base import BatchedKernel
from jaxrg.sampling.driver import default_chunk_size, run_chain
from jaxrg.stats import Estimate

__all__ = [
    "MCRGResult", "operator_series", "sample_series", "rg_matrix", "analyze", "analyze_series", "mcrg", "max_levels",
]

MIN_COARSE_SIZE = 4  # a 3 x 3 operator patch must not wrap onto itself on the coarsest lattice used


class MCRGResult(NamedTuple):
    """Eigenvalues and exponents of the linearised RG map per level; arrays run over ``levels``.

    Attributes:
        L: lattice size of the sampled configurations.
        b: block side.
        levels: ``(n_levels,)`` int, 1..levels; entry ``n`` is the map from level ``n - 1`` to level ``n``.
        lambda_t, lambda_h: :class:`~jaxrg.stats.Estimate` ``(n_levels,)``, leading even / odd eigenvalue with all
            ``n_even`` / ``n_odd`` operators.
        y_t, y_h: ``(n_levels,)`` exponents ``ln(lambda) / ln(b)`` (jackknifed as such).
        y_t_table, y_h_table: ``(n_levels, n_even)`` / ``(n_levels, n_odd)``: exponent from the first ``m``
            operators in column ``m - 1`` (the usual level x n_operators table).
        even_eigenvalues, odd_eigenvalues: ``(n_levels, n_even)`` / ``(n_levels, n_odd)``, the real parts of all
            eigenvalues with all operators, in descending order.
        even_operators, odd_operators: operator names used, in order.
        n_samples: number of configurations analysed (of the lattice ``L``).
        n_blocks: jackknife blocks.
        two_lattice: the two-lattice estimate (same fields; level ``n`` compares ``L`` at level ``n`` with ``L/b`` at
            level ``n - 1``), or None.
    """

    L: int
    b: int
    levels: np.ndarray
    lambda_t: Estimate
    lambda_h: Estimate
    y_t: Estimate
    y_h: Estimate
    y_t_table: Estimate
    y_h_table: Estimate
    even_eigenvalues: Estimate
    odd_eigenvalues: Estimate
    even_operators: tuple
    odd_operators: tuple
    n_samples: int
    n_blocks: int
    two_lattice: Optional["MCRGResult"]


# ----------------------------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------------------------


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def max_levels(L: int, b: int = 2) -> int:
    """Largest number of blockings with ``b**levels | L`` and a coarsest lattice of side >= 4."""
    levels = 0
    while L % (b ** (levels + 1)) == 0 and L // b ** (levels + 1) >= MIN_COARSE_SIZE:
        levels += 1
    return levels


def _check_levels(L: int, b: int, levels, *, two_lattice: bool = False) -> int:
    levels = _int(levels, "levels", 1)
    validate_block_size(b, L, levels=levels)
    if L // b**levels < MIN_COARSE_SIZE:
        raise ValueError(
            f"levels = {levels} leaves a {L // b**levels} x {L // b**levels} lattice; the coarsest level must be >= "
            f"{MIN_COARSE_SIZE} (levels <= {max_levels(L, b)} for L = {L}, b = {b})"
        )
    return levels


def _operators(n_even, n_odd):
    return even_operators(n_even), odd_operators(n_odd)


# ----------------------------------------------------------------------------------------------------------------
# operator values on every level
# ----------------------------------------------------------------------------------------------------------------


def _level_values(spins: Array, key: Array, rule, b: int, levels: int, operators) -> Array:
    """``(L, L)`` configuration -> ``(levels + 1, n_ops)`` operator values on every level (``rule`` a pytree)."""
    hierarchy = block_hierarchy(spins, b, levels, key=key, rule=rule)
    return jnp.stack([operator_values(s, operators) for s in hierarchy])


@partial(jax.jit, static_argnames=("b", "levels", "operators"))
def _batched_level_values(configs: Array, keys: Array, rule, *, b: int, levels: int, operators) -> Array:
    """``(n, L, L)`` configurations and ``(n,)`` keys -> ``(n, levels + 1, n_ops)``; the rule's arrays are traced."""
    one = partial(_level_values, b=b, levels=levels, operators=operators)
    return jax.vmap(one, in_axes=(0, 0, None))(configs, keys, rule)


@dataclasses.dataclass(frozen=True)
class _LevelMeasure:
    """Operator values on every block level of each chain's configuration, recorded by the sampling driver.

    Static (hashable) for the driver; the block-spin rule comes with the call-time parameters
    ``(couplings, n_steps, rule)``, so new couplings and new rule weights reuse the compiled chunk.
    """

    b: int
    levels: int
    operators: tuple
    chains: int
    L: int

    def __call__(self, carry, params):
        state, key = carry
        rule = params[2]
        spins = state.spins.reshape(self.chains, self.L, self.L)
        one = partial(_level_values, b=self.b, levels=self.levels, operators=self.operators)
        return jax.vmap(one, in_axes=(0, 0, None))(spins, jax.random.split(key, self.chains), rule)


@dataclasses.dataclass(frozen=True)
class _ThinnedKernel:
    """``n_steps`` kernel steps as one driver step, also carrying the PRNG key of the block-spin rule.

    The parameters are ``(couplings, n_steps, rule)``: the thinning ``n_steps`` (from the measured work per step)
    is a traced trip count, so a new temperature with a different thinning reuses the compiled chunk. The info is
    the mean over the ``n_steps`` steps.
    """

    kernel: Any

    def __call__(self, key, carry, params):
        couplings, n_steps, _ = params
        state, _ = carry
        key, key_rule = jax.random.split(key)
        info_shape = jax.eval_shape(self.kernel, key, state, couplings)[1]
        zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, jnp.result_type(float)), info_shape)

        def body(i, loop):
            state, info_sum = loop
            state, info = self.kernel(jax.random.fold_in(key, i), state, couplings)
            return state, jax.tree.map(lambda total, x: total + x, info_sum, info)

        state, info_sum = jax.lax.fori_loop(0, n_steps, body, (state, zeros))
        info = jax.tree.map(lambda total: total / n_steps, info_sum)
        return (state, key_rule), info


def operator_series(
    configs, b: int = 2, levels: int = 1, *, key: Array, n_even: int = 4, n_odd: int = 2, rule: str = "majority",
    batch_size: int = 256,
) -> np.ndarray:
    """Operator values of every configuration on every block level.

    Args:
        configs: ``(n_samples, L, L)`` int8 configurations (in sampling order).
        b: block side; ``b**levels`` must divide ``L``.
        levels: number of blockings (>= 0).
        key: PRNG key for the majority-rule tie-breaks (configuration ``i`` of batch ``j`` uses
            ``split(fold_in(key, j), batch)[i]``).
        n_even, n_odd: the first ``n_even`` even and ``n_odd`` odd operators of :mod:`jaxrg.rg.operators`.
        rule: ``"majority"``, ``"decimation"`` or a callable ``rule(spins, b, key)`` such as
            :class:`jaxrg.rg.blocking.FilterRule` (its arrays are traced: new weights do not recompile).
        batch_size: configurations per compiled batch.

    Returns:
        ``(n_samples, levels + 1, n_even + n_odd)`` float64 numpy array, even operators first.
    """
    configs = ising.validate_spins(configs, name="configs", minimum=1)
    if configs.ndim != 3:
        raise ValueError(f"configs must have shape (n_samples, L, L), got {configs.shape}")
    levels = _int(levels, "levels", 0)
    b = validate_block_size(b, configs.shape[-1], levels=max(levels, 1))
    rule = resolve_rule(rule)
    batch_size = _int(batch_size, "batch_size", 1)
    even, odd = _operators(n_even, n_odd)
    batched = partial(_batched_level_values, rule=rule, b=b, levels=levels, operators=even + odd)
    n_samples = configs.shape[0]
    batch_size = min(batch_size, n_samples)
    out = []
    for j, start in enumerate(range(0, n_samples, batch_size)):
        chunk = configs[start : start + batch_size]
        n = chunk.shape[0]
        if n < batch_size:  # pad the last batch (one compiled shape), drop the padding afterwards
            chunk = jnp.concatenate([chunk, jnp.broadcast_to(chunk[-1:], (batch_size - n, *chunk.shape[1:]))])
        keys = jax.random.split(jax.random.fold_in(key, j), batch_size)
        out.append(np.asarray(batched(chunk, keys), dtype=np.float64)[:n])
    return np.concatenate(out, axis=0)


# ----------------------------------------------------------------------------------------------------------------
# the estimator
# ----------------------------------------------------------------------------------------------------------------


def rg_matrix(fine, coarse, coarse_reference=None) -> np.ndarray:
    """Point estimate of the linearised RG matrix ``T = C^{-1} B`` from operator samples.

    Args:
        fine: ``(n_samples, n)`` operators on level ``n - 1``.
        coarse: ``(n_samples, n)`` the same operators on level ``n`` of the same configurations.
        coarse_reference: optional ``(m_samples, n)`` operators from which ``C`` is measured instead (two-lattice:
            the ``L/b`` lattice at level ``n - 1``); default ``coarse``.

    Returns:
        ``(n, n)`` float64 matrix ``T_cb = dK_c^(n) / dK_b^(n-1)``; its eigenvalues are ``b^y``.
    """
    fine = np.asarray(fine, np.float64)
    coarse = np.asarray(coarse, np.float64)
    ref = coarse if coarse_reference is None else np.asarray(coarse_reference, np.float64)
    if fine.ndim != 2 or fine.shape != coarse.shape or ref.ndim != 2 or ref.shape[1] != fine.shape[1]:
        raise ValueError(f"fine and coarse must be (n_samples, n) of equal shape, got {fine.shape}, {coarse.shape}")
    dx = fine - fine.mean(0)
    dy = coarse - coarse.mean(0)
    dr = ref - ref.mean(0)
    B = dy.T @ dx / fine.shape[0]
    C = dr.T @ dr / ref.shape[0]
    return np.linalg.solve(C, B)


@partial(jax.jit, static_argnums=(0, 1))
def _sector_estimator(log_b, n, xm, ym, yxm, rm, rrm):
    """Leading eigenvalue for truncations 1..n, the full spectrum and exponents, from block means (pure jnp)."""
    C = rrm - jnp.outer(rm, rm)
    B = yxm - jnp.outer(ym, xm)
    leading, spectrum = [], None
    for m in range(1, n + 1):
        T = jnp.linalg.solve(C[:m, :m], B[:m, :m])
        ev = jnp.sort(jnp.real(jnp.linalg.eigvals(T)))[::-1]
        leading.append(ev[0])
        spectrum = ev
    leading = jnp.stack(leading)
    return {"leading": leading, "y": jnp.log(leading) / log_b, "spectrum": spectrum}


def _blocks(data: np.ndarray, n_blocks: int) -> np.ndarray:
    """``(chains, n_time, ...)`` -> ``(chains * k, n_time // k, ...)`` contiguous time blocks, k per chain."""
    chains, n_time = data.shape[:2]
    k = max(1, math.ceil(n_blocks / chains))
    if n_time < k:
        raise ValueError(f"{n_time} samples per chain cannot be cut into {k} jackknife blocks; use more samples")
    size = n_time // k
    kept = data[:, n_time - k * size :]  # drop the remainder at the start (the least equilibrated part)
    return kept.reshape(chains * k, size, *data.shape[2:])


def _block_moments(fine: np.ndarray, coarse: np.ndarray, n_blocks: int):
    """Block means of centred x (fine), y (coarse), y y^T and y x^T; inputs ``(chains, n_time, n)``."""
    x = _blocks(fine - fine.mean(axis=(0, 1)), n_blocks)
    y = _blocks(coarse - coarse.mean(axis=(0, 1)), n_blocks)
    size = x.shape[1]
    return (
        x.mean(1),
        y.mean(1),
        np.einsum("bsi,bsj->bij", y, x) / size,
        np.einsum("bsi,bsj->bij", y, y) / size,
    )


def _sector(series, sector, n, level, log_b, n_blocks, reference=None):
    """Jackknife estimate of one parity sector at one level; ``series``: ``(chains, n_time, levels+1, n_ops)``."""
    fine = series[:, :, level - 1, sector]
    coarse = series[:, :, level, sector]
    xm, ym, yxm, yym = _block_moments(fine, coarse, n_blocks)
    if reference is None:
        rm, rrm = ym, yym
    else:
        ref = reference[:, :, level - 1, sector]
        _, rm, _, rrm = _block_moments(ref, ref, n_blocks)
        if rm.shape[0] != ym.shape[0]:
            raise ValueError(
                f"the two-lattice ensembles give {ym.shape[0]} and {rm.shape[0]} jackknife blocks; "
                "use the same number of chains and enough samples in both"
            )
    with jax.enable_x64(True):
        est = stats.jackknife(partial(_sector_estimator, log_b, n), xm, ym, yxm, rm, rrm)
        return jax.tree.map(lambda a: np.asarray(a, np.float64), est)


def analyze_series(
    series, b: int, *, n_even: int, n_odd: int, L: int, n_blocks: int = 32, reference=None,
) -> MCRGResult:
    """MCRG eigenvalues and exponents from operator values on all levels (see :func:`operator_series`).

    Args:
        series: ``(chains, n_time, levels + 1, n_even + n_odd)`` operator values (or ``(n_time, levels + 1, n)``
            for one chain), even operators first; independent chains and time order are used to form blocks.
        b: block side.
        n_even, n_odd: how many of the operators are even / odd (even first), each >= 1.
        L: lattice size of the configurations (reported).
        n_blocks: jackknife blocks (>= 2), split evenly over chains (at least one per chain).
        reference: optional series of the ``L/b`` lattice with ``levels`` levels (``levels - 1`` blockings) for the
            two-lattice estimate, same layout and chains.

    Returns:
        :class:`MCRGResult` (its ``two_lattice`` field set when ``reference`` is given).
    """
    series = np.asarray(series, np.float64)
    if series.ndim == 3:
        series = series[None]
    b = _int(b, "b", 2)
    n_even = _int(n_even, "n_even", 1)
    n_odd = _int(n_odd, "n_odd", 1)
    if series.ndim != 4 or series.shape[-1] != n_even + n_odd or series.shape[2] < 2:
        raise ValueError(
            f"series must be (chains, n_time, levels + 1 >= 2, n_even + n_odd = {n_even + n_odd}), got {series.shape}"
        )
    n_blocks = _int(n_blocks, "n_blocks", 2)
    levels = series.shape[2] - 1
    result = _analyze(series, b, n_even, n_odd, L, n_blocks, None)
    if reference is None:
        return result
    reference = np.asarray(reference, np.float64)
    if reference.ndim == 3:
        reference = reference[None]
    if reference.ndim != 4 or reference.shape[2] != levels or reference.shape[3] != series.shape[3]:
        raise ValueError(
            f"reference must be (chains, n_time, levels = {levels}, {series.shape[3]}) for the L/b lattice, "
            f"got {reference.shape}"
        )
    return result._replace(two_lattice=_analyze(series, b, n_even, n_odd, L, n_blocks, reference))


def _analyze(series, b, n_even, n_odd, L, n_blocks, reference) -> MCRGResult:
    levels = series.shape[2] - 1
    log_b = math.log(b)
    even = np.arange(n_even)
    odd = np.arange(n_even, n_even + n_odd)
    per_level = {"even": [], "odd": []}
    for level in range(1, levels + 1):
        per_level["even"].append(_sector(series, even, n_even, level, log_b, n_blocks, reference))
        per_level["odd"].append(_sector(series, odd, n_odd, level, log_b, n_blocks, reference))

    def stack(sector, field, column=None):
        ests = per_level[sector]
        mean = np.stack([e.mean[field] for e in ests])
        error = np.stack([e.error[field] for e in ests])
        if column is not None:
            mean, error = mean[:, column], error[:, column]
        return Estimate(mean, error)

    n_chains, n_time = series.shape[:2]
    k = max(1, math.ceil(n_blocks / n_chains))
    return MCRGResult(
        L=int(L),
        b=int(b),
        levels=np.arange(1, levels + 1),
        lambda_t=stack("even", "leading", -1),
        lambda_h=stack("odd", "leading", -1),
        y_t=stack("even", "y", -1),
        y_h=stack("odd", "y", -1),
        y_t_table=stack("even", "y"),
        y_h_table=stack("odd", "y"),
        even_eigenvalues=stack("even", "spectrum"),
        odd_eigenvalues=stack("odd", "spectrum"),
        even_operators=tuple(op.name for op in even_operators(n_even)),
        odd_operators=tuple(op.name for op in odd_operators(n_odd)),
        n_samples=int(n_chains * n_time),
        n_blocks=int(n_chains * k),
        two_lattice=None,
    )


def analyze(
    configs, b: int = 2, levels: int = 1, *, key: Array, n_even: int = 4, n_odd: int = 2, n_blocks: int = 32,
    rule: str = "majority", small_configs=None,
) -> MCRGResult:
    """MCRG analysis of configurations the caller provides (e.g. generated by an inverse-RG model).

    Args:
        configs: ``(n_samples, L, L)`` int8 configurations in sampling order (contiguous runs form jackknife blocks,
            so correlated samples are handled if blocks are longer than the autocorrelation time).
        b: block side (>= 2); ``b**levels`` must divide ``L`` and the coarsest level be >= 4.
        levels: number of blockings; results are given for levels 1..levels.
        key: PRNG key for majority-rule tie-breaks.
        n_even, n_odd: numbers of even / odd operators (first ones of :mod:`jaxrg.rg.operators`).
        n_blocks: jackknife blocks (>= 2).
        rule: ``"majority"``, ``"decimation"`` or a callable rule (see :func:`operator_series`).
        small_configs: optional ``(m_samples, L/b, L/b)`` configurations of the same model on the ``L/b`` lattice for
            the two-lattice estimate.

    Returns:
        :class:`MCRGResult`.
    """
    configs = ising.validate_spins(configs, name="configs", minimum=1)
    if configs.ndim != 3:
        raise ValueError(f"configs must have shape (n_samples, L, L), got {configs.shape}")
    L = configs.shape[-1]
    b = validate_block_size(b, L)
    levels = _check_levels(L, b, levels)
    n_blocks = _int(n_blocks, "n_blocks", 2)
    if configs.shape[0] < n_blocks:
        raise ValueError(f"need at least n_blocks = {n_blocks} configurations, got {configs.shape[0]}")
    if key is None:
        raise ValueError("key is required: a PRNG key for the majority-rule tie-breaks (jax.random.key(seed))")
    if small_configs is not None:
        small_configs = ising.validate_spins(small_configs, name="small_configs", minimum=1)
        if small_configs.ndim != 3 or small_configs.shape[-1] * b != L:
            raise ValueError(f"small_configs must be (m_samples, L/b, L/b) = (m, {L // b}, {L // b}), got "
                             f"{small_configs.shape}")
        if small_configs.shape[0] < n_blocks:
            raise ValueError(f"need at least n_blocks = {n_blocks} small_configs, got {small_configs.shape[0]}")
    key_main, key_small = jax.random.split(key)
    series = operator_series(configs, b, levels, key=key_main, n_even=n_even, n_odd=n_odd, rule=rule)
    reference = None
    if small_configs is not None:
        reference = operator_series(
            small_configs, b, levels - 1, key=key_small, n_even=n_even, n_odd=n_odd, rule=rule
        )
    return analyze_series(series, b, n_even=n_even, n_odd=n_odd, L=L, n_blocks=n_blocks, reference=reference)


# ----------------------------------------------------------------------------------------------------------------
# sampling + analysis
# ----------------------------------------------------------------------------------------------------------------


def _chunking(n: int, chunk_size: int | None) -> tuple[int, int]:
    """``(n_rounded, chunk)``: ``n`` rounded up to a multiple of the chunk length (one compiled chunk shape)."""
    chunk = default_chunk_size(n) if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return math.ceil(n / chunk) * chunk, chunk


def sample_series(
    L: int, T: float, b: int, levels: int, operators, *, key: Array, rule: str = "majority", sampler: str = "wolff",
    chains: int = 8, n_measurements: int = 1250, thermalize: int = 1000, thin: float = 2.0,
    initial: str = "ordered", chunk_size: int | None = None, progress: bool = False, checkpoint: str | None = None,
) -> tuple[np.ndarray, dict]:
    """Sample ``chains`` chains at temperature ``T`` and record the operators on every block level of each sample.

    Inputs are not re-validated here (see :func:`mcrg`, which checks them). Configurations are blocked inside the
    compiled chain, so only operator values are stored.

    Args:
        L, T, b, levels: lattice size, temperature, block side, number of blockings.
        operators: sequence of :class:`~jaxrg.rg.operators.Operator`.
        key: PRNG key of the run.
        rule, sampler, chains, thermalize, thin, initial, chunk_size, progress: as in :func:`mcrg`.
        n_measurements: stored samples per chain (rounded up to a multiple of the chunk length).
        checkpoint: a file (``.npz``) for checkpoints of the measuring phase, saved after every chunk and resumed
            from (thermalisation is deterministic and simply rerun); ``None``: no checkpoints.

    Returns:
        ``(series, info)``: ``series`` ``(chains, n_time, levels + 1, n_ops)`` float64; ``info`` a dict with the
        measured ``sweeps_per_step`` and the ``steps_per_sample`` used.
    """

    couplings = ising.couplings(np.atleast_1d(T))
    kernel = BatchedKernel(SAMPLERS[sampler].build_kernel(), chains)
    key_spins, key_init, key_therm, key_run, key_tie = jax.random.split(key, 5)
    if initial == "random":
        spins = ising.random_spins(key_spins, L, (1, chains))
    else:
        spins = ising.ordered_spins(L, (1, chains))
    state = jax.vmap(jax.vmap(SAMPLERS[sampler].init))(spins)
    # Thermalise; the mean work per step (sweeps) over the last quarter converts `thin` into kernel steps. (Averaged
    # over the whole run it would be far too small for Wolff from a hot start at T_c, where early clusters are tiny.)
    key_first, key_last = jax.random.split(key_therm)
    n_last = max(1, thermalize // 4)
    n_first, first_chunk = _chunking(thermalize - n_last, chunk_size)
    n_last, last_chunk = _chunking(n_last, chunk_size)
    if n_first > 0:
        state = run_chain(kernel, key_first, state, couplings, n_measurements=n_first, chunk_size=first_chunk).state
    therm = run_chain(kernel, key_last, state, couplings, n_measurements=n_last, chunk_size=last_chunk)
    state = therm.state
    sweeps_per_step = float(np.mean(np.asarray(therm.info.sweeps)))
    steps_per_measurement = max(1, math.ceil(thin / max(sweeps_per_step, 1e-12)))

    params = (couplings, jnp.asarray(steps_per_measurement, jnp.int32), resolve_rule(rule))
    measure = _LevelMeasure(b=b, levels=levels, operators=tuple(operators), chains=chains, L=L)
    n_measurements, chunk = _chunking(n_measurements, chunk_size)
    checkpointing = {}
    if checkpoint is not None:
        run_args = dict(L=L, T=float(T), b=b, levels=levels, operators=[str(o) for o in operators],
                        rule=rule if isinstance(rule, str) else [np.asarray(x).tolist() for x in jax.tree.leaves(rule)],
                        sampler=sampler, chains=chains, n_measurements=n_measurements, thermalize=thermalize,
                        thin=float(thin), initial=initial, key=np.asarray(jax.random.key_data(key)).tolist(),
                        steps_per_measurement=steps_per_measurement, dtype=str(jnp.result_type(float)))
        checkpointing = dict(checkpoint=checkpoint, fingerprint=files.fingerprint(run_args))
    out = run_chain(
        _ThinnedKernel(kernel), key_run, (state, key_tie), params, n_measurements=n_measurements, measure=measure,
        chunk_size=chunk, progress=progress, description=f"MCRG L={L}", **checkpointing,
    )
    series = np.moveaxis(np.asarray(out.measurements, np.float64), 0, 1)  # (chains, n_time, levels + 1, n_ops)
    return series, {"sweeps_per_step": sweeps_per_step, "steps_per_sample": steps_per_measurement}


def mcrg(
    L: int,
    T: float,
    *,
    b: int = 2,
    levels: int | None = None,
    n_even: int = 4,
    n_odd: int = 2,
    samples: int = 10_000,
    sampler: str = "wolff",
    seed: int = 0,
    chains: int = 8,
    thermalize: int = 1_000,
    thin: float = 2.0,
    initial: str = "ordered",
    two_lattice: bool = False,
    n_blocks: int = 32,
    rule: str = "majority",
    chunk_size: int | None = None,
    progress: bool = False,
    checkpoint: str | None = None,
) -> MCRGResult:
    """Sample the Ising model at temperature ``T``, block the configurations and estimate RG eigenvalues (MCRG).

    Args:
        L: lattice size (even, >= 8).
        T: temperature (J = k_B = 1), a positive scalar; ``T_c = 1 / K_c = 2.269185...``.
        b: block side (>= 2; ``b**levels`` must divide ``L``).
        levels: number of blockings (default: as many as leave a coarsest lattice >= 4).
        n_even, n_odd: number of even / odd operators (first ones of :mod:`jaxrg.rg.operators`).
        samples: total stored configurations (over all chains; rounded up to a multiple of ``chains``).
        sampler: a name in ``jaxrg.sampling.SAMPLERS`` (``"wolff"`` by default).
        seed: integer seed.
        chains: independent chains run as one vmapped batch.
        thermalize: kernel steps discarded before sampling.
        thin: lattice sweeps between stored configurations (converted to kernel steps with the measured mean work
            per step; for Wolff ``<|C|>/N`` sweeps per cluster).
        initial: ``"ordered"`` (cold start, default) or ``"random"`` (hot start). Near and below T_c a cold start
            equilibrates a cluster sampler in a few steps, while from a hot start Wolff clusters stay tiny for
            thousands of steps on large lattices.
        two_lattice: also sample the ``L/b`` lattice (same samples and chains) and return the two-lattice estimate in
            ``result.two_lattice``.
        n_blocks: jackknife blocks, split evenly over chains.
        rule: ``"majority"``, ``"decimation"`` or a callable ``rule(spins, b, key)`` with array leaves, e.g.
            :func:`jaxrg.rg.blocking.swendsen_rule` or a learned :class:`jaxrg.rg.blocking.FilterRule`.
        chunk_size: measurements per compiled chunk of the driver.
        progress: show progress bars.
        checkpoint: a directory for checkpoints of the sampling, saved after every chunk; a killed run called again
            with the same arguments and directory resumes, bitwise identical to an uninterrupted run. ``None``: none.

    Returns:
        :class:`MCRGResult` with ``y_t``, ``y_h`` (``.mean``, ``.error`` arrays over levels) and tables.

    Example:
        >>> r = jaxrg.mcrg(32, 2.269185314213022, levels=2, samples=4000)
        >>> r.y_h.mean, r.y_h.error
    """

    L = lattice.validate_size(L, name="L", minimum=8, even=True)
    T_arr = ising.validate_temperature(T)
    if T_arr.ndim != 0:
        raise ValueError(f"T must be a scalar temperature, got shape {T_arr.shape}")
    b = validate_block_size(b, L)
    levels = max_levels(L, b) if levels is None else levels
    levels = _check_levels(L, b, levels)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    resolve_rule(rule)
    if initial not in ("random", "ordered"):
        raise ValueError(f"initial must be 'random' or 'ordered', got {initial!r}")
    samples = _int(samples, "samples", 2)
    seed = _int(seed, "seed", 0)
    chains = _int(chains, "chains", 1)
    thermalize = _int(thermalize, "thermalize", 2)
    n_blocks = _int(n_blocks, "n_blocks", 2)
    if not (isinstance(thin, (numbers.Real, np.floating)) and np.isfinite(thin) and thin > 0):
        raise ValueError(f"thin must be a positive number of sweeps, got {thin!r}")
    even, odd = _operators(n_even, n_odd)
    n_time = math.ceil(samples / chains)
    if n_time < max(1, math.ceil(n_blocks / chains)):
        raise ValueError(f"samples = {samples} too few for n_blocks = {n_blocks} with chains = {chains}")

    key_main, key_small = jax.random.split(jax.random.key(seed))
    common = dict(rule=rule, sampler=sampler, chains=chains, n_measurements=n_time, thermalize=thermalize,
                  thin=float(thin), initial=initial, chunk_size=chunk_size, progress=progress)
    ckpt = (lambda name: None) if checkpoint is None else (lambda name: f"{checkpoint}/{name}.npz")
    series, _ = sample_series(L, float(T_arr), b, levels, even + odd, key=key_main, checkpoint=ckpt("lattice"),
                              **common)
    reference = None
    if two_lattice:
        small = L // b
        if small < 8 or small % 2:
            raise ValueError(f"two_lattice needs L/b even and >= 8, got L/b = {small}")
        reference, _ = sample_series(small, float(T_arr), b, levels - 1, even + odd, key=key_small,
                                     checkpoint=ckpt("reference"), **common)
    return analyze_series(series, b, n_even=n_even, n_odd=n_odd, L=L, n_blocks=n_blocks, reference=reference)
