"""Learned, differentiable RG flows in coupling space (MLRG, after Hou and You 2023 and Shen and Kao 2024).

Model. A *coupling space* of dimension ``n`` is a linear subspace of the 2 x 2-patch Hamiltonians of
:mod:`jaxrg.sampling.multispin`: flow coordinates ``J in R^n`` give the patch couplings ``J @ basis`` (``basis`` is
``(n, 6)``), and the flow operators are ``S(s) = basis @ S_patch(s)``, so ``beta H = -J . S``. Spaces by ``n``:

===  ================================================  ============================================================
 n    coordinates                                       meaning
===  ================================================  ============================================================
 1    ``nn``                                            isotropic nearest neighbour, ``K (S_x + S_y)``
 2    ``nn, nnn``                                       + both diagonals with one coupling
 3    ``nn, nnn, plaquette``                            + the 4-spin plaquette
 5    ``nn_x, nn_y, diagonal, antidiagonal, plaquette``  the five even patch couplings, each separate
===  ================================================  ============================================================

The 2 x 2 patch holds exactly three square-symmetric even operators (nearest neighbour, next-nearest neighbour,
plaquette), so n = 5 adds only the two anisotropies (``nn_x - nn_y`` and ``diagonal - antidiagonal``). The blocked
distribution of a symmetric model is symmetric, so the n = 5 flow is made equivariant under the reflections that swap
them (:attr:`CouplingSpace.symmetries`): the isotropic subspace (= the n = 3 space) is invariant, K_c and nu come from
it, and the anisotropies are (nearly) marginal directions -- in the true RG a spatial anisotropy is a redundant
perturbation with eigenvalue 1 (a line of fixed points); Newton starts on the isotropic axis and stays in it.

RG step. The fine model at ``J`` on an ``L x L`` torus is sampled with the four-sublattice Metropolis kernel, blocked
with 2 x 2 majority rule (random tie-break, :func:`jaxrg.rg.blocking.majority_rule`) to ``L/2 x L/2``, and the coarse
model is the Gibbs distribution of the same coupling space at ``J' = J + f_theta(J)`` on the ``L/2`` torus (same
boundary conditions: the two-lattice matching of MCRG). ``f_theta`` is an equinox MLP (:class:`FlowModel`).

Loss. ``KL(P_blocked || P_J') / N' = -J' . m_b + ln Z(J') / N' + const`` with per-site moments ``m = <S> / N'``;
its gradient in ``J'`` is ``m_J' - m_b`` (model minus data). Two estimators:

* contrastive divergence (:func:`cd_loss`): ``m_J'`` from ``k`` Metropolis sweeps at ``J'`` started from the blocked
  configurations; the surrogate ``stop_gradient(m_J' - m_b) . J'`` has the CD gradient in ``theta`` (chain rule through
  ``J' = J + f_theta(J)``). Its value is not the KL; :func:`cd_loss` also returns the moment mismatch.
* exact (:func:`exact_loss`, coarse lattice 4 x 4 only): ``ln Z(J')`` by enumeration of the 2^16 coarse states, so the
  cross-entropy and its gradient in ``J'`` are exact *given the blocked moments* ``m_b``; the blocked moments are
  Monte Carlo estimates (enumerating the 8 x 8 fine lattice is impossible), and the entropy of ``P_blocked`` (the
  constant) is not known, so the returned value is the KL up to that constant.

Training couplings (:func:`sample_couplings`): a mixture of uniform draws in a box (broad exploration) and blackjax HMC
samples of ``p(J) ~ exp(-beta_a ||f_theta(J)||^2)`` inside the box, with ``beta_a`` annealed upwards over the rounds,
so that training concentrates near the fixed points of the current flow.

Analysis (all pure JAX; derivatives through the implicit function theorem):

* fixed points and eigen-analysis are those of :mod:`jaxrg.scale` (no second Newton solver here):
  :func:`jaxrg.scale.analyze_map` / :func:`jaxrg.scale.find_fixed_point` on the map ``J + f_theta(J)`` (optimistix
  Newton with autodiff Jacobian, derivatives by the implicit function theorem); :func:`linearize` is the
  eigen-analysis of ``M = I + Df(J*)`` via :func:`jaxrg.scale.rg_matrix_exponents`: ``nu = ln 2 / ln lambda_t`` with
  ``lambda_t`` the largest eigenvalue, ``|lambda| > 1`` relevant, ``< 1`` irrelevant.
* :func:`critical_coupling`: ``K_c`` on the nearest-neighbour axis by bisection on the sink of the iterated map (the
  sign of the projection on the relevant left eigenvector after ``m`` iterations), made differentiable by a final
  implicit Newton step, so ``jax.grad`` gives the sensitivity of ``K_c`` to anything the flow depends on.
"""

from __future__ import annotations

import functools
import numbers
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxrg.rg.blocking import majority_rule
from jaxrg.scale import RGMatrixExponents, analyze_map, rg_matrix_exponents
from jaxrg.sampling.multispin import N_PATCH_OPERATORS, patch_metropolis, patch_operator_sums

__all__ = [
    "CouplingSpace",
    "coupling_space",
    "COUPLING_SPACES",
    "FlowModel",
    "FlowData",
    "blocked_data",
    "coupling_operators",
    "cd_model_moments",
    "cd_loss",
    "EnumerationTable",
    "enumeration_table",
    "exact_model_moments",
    "exact_loss",
    "sample_couplings",
    "TrainingConfig",
    "TrainingResult",
    "train_flow",
    "linearize",
    "critical_coupling",
    "FlowAnalysis",
    "analyze_flow",
]


# ------------------------------------------------------------------------------------------------ coupling spaces


class CouplingSpace(NamedTuple):
    """A linear subspace of the patch couplings.

    Attributes:
        names: names of the ``n`` flow coordinates.
        basis: ``(n, 6)`` (nested tuples, so the space is hashable and static under jit; :meth:`array` gives numpy);
            patch couplings are ``J @ basis``.
        nn_axis: ``(n,)`` direction of the isotropic nearest-neighbour model ``K (S_x + S_y)`` in flow coordinates.
        box_low, box_high: ``(n,)`` default box of training couplings.
        symmetries: permutations of the coordinates induced by lattice reflections (``()`` is the identity); the
            flow model is averaged over them, so it is equivariant (for n = 5: x <-> y swaps ``nn_x, nn_y``, and
            x -> -x swaps ``diagonal, antidiagonal``).
    """

    names: tuple[str, ...]
    basis: tuple
    nn_axis: tuple
    box_low: tuple
    box_high: tuple
    symmetries: tuple = ((),)

    @property
    def n(self) -> int:
        """Number of couplings."""
        return len(self.names)

    def array(self, field: str) -> np.ndarray:
        """A field (``"basis"``, ``"nn_axis"``, ``"box_low"``, ``"box_high"``) as a float64 numpy array."""
        return np.asarray(getattr(self, field), np.float64)


def _space(names, rows, nn_axis, low, high, symmetries=((),)) -> CouplingSpace:
    basis = np.zeros((len(rows), N_PATCH_OPERATORS))
    for i, row in enumerate(rows):
        for j in row:
            basis[i, j] = 1.0
    f = lambda x: tuple(float(v) for v in x)  # noqa: E731
    return CouplingSpace(tuple(names), tuple(f(row) for row in basis), f(nn_axis), f(low), f(high), symmetries)


COUPLING_SPACES = {
    1: _space(("nn",), [(0, 1)], [1.0], [0.0], [0.8]),
    2: _space(("nn", "nnn"), [(0, 1), (2, 3)], [1.0, 0.0], [0.0, -0.15], [0.8, 0.2]),
    3: _space(
        ("nn", "nnn", "plaquette"), [(0, 1), (2, 3), (4,)], [1.0, 0.0, 0.0], [0.0, -0.15, -0.15], [0.8, 0.2, 0.15]
    ),
    5: _space(
        ("nn_x", "nn_y", "diagonal", "antidiagonal", "plaquette"),
        [(0,), (1,), (2,), (3,), (4,)],
        [1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, -0.15, -0.15, -0.15],
        [0.8, 0.8, 0.2, 0.2, 0.15],
        symmetries=((), (1, 0, 2, 3, 4), (0, 1, 3, 2, 4), (1, 0, 3, 2, 4)),
    ),
}
"""The coupling spaces by dimension (see the module docstring)."""


def coupling_space(n) -> CouplingSpace:
    """The coupling space of dimension ``n`` (1, 2, 3 or 5), see the module docstring."""
    if isinstance(n, CouplingSpace):
        return n
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) not in COUPLING_SPACES:
        raise ValueError(f"n (number of couplings) must be one of {sorted(COUPLING_SPACES)}, got {n!r}")
    return COUPLING_SPACES[int(n)]


def coupling_operators(spins: Array, space: CouplingSpace, dtype=None) -> Array:
    """Per-site flow operators ``basis @ S_patch(s) / N`` of each configuration, ``(..., n)``."""
    S = patch_operator_sums(spins, dtype)
    n_sites = spins.shape[-1] * spins.shape[-2]
    return S @ jnp.asarray(space.array("basis").T, S.dtype) / n_sites


def _patch(J: Array, space: CouplingSpace) -> Array:
    return J @ jnp.asarray(space.array("basis"), J.dtype)


# ------------------------------------------------------------------------------------------------ flow model


class FlowModel(eqx.Module):
    """The learned RG step ``J' = J + f_theta(J)``: ``f_theta`` is an MLP ``R^n -> R^n`` (``__call__`` is ``f``).

    With ``anchored=True`` the flow is ``f(J) = g(J) - g(0)`` (``g`` the symmetrised MLP), so the infinite-temperature
    point is an exact fixed point, ``f(0) = 0``: majority-rule blocking of independent spins (random tie-break) gives
    independent spins, so ``J = 0`` maps to ``J' = 0`` in every coupling space (all its couplings are even).

    Attributes:
        mlp: the ``eqx.nn.MLP`` (tanh hidden layers).
        scale: fixed input scale (the box width), so inputs to the MLP are O(1).
        symmetries: coordinate permutations the flow is averaged over (static).
        anchored: subtract ``g(0)`` (static).
    """

    mlp: eqx.nn.MLP
    scale: Array
    symmetries: tuple = eqx.field(static=True, default=((),))
    anchored: bool = eqx.field(static=True, default=False)

    def __init__(
        self, key: Array, n: int, *, width: int = 32, depth: int = 2, scale=1.0, symmetries=((),),
        anchored: bool = False,
    ):
        """Args: key; n (couplings); width, depth of the MLP; scale (``(n,)`` or scalar input scale); symmetries
        (coordinate permutations the flow is averaged over, ``()`` the identity); anchored (build in ``f(0) = 0``)."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got {width}, {depth}")
        mlp = eqx.nn.MLP(n, n, width, depth, activation=jnp.tanh, key=key)
        # small initial output: the untrained map is close to the identity
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, last.weight * 0.1)
        self.mlp = mlp
        self.scale = jnp.broadcast_to(jnp.asarray(scale, jnp.float32), (n,))
        self.symmetries = tuple(tuple(int(i) for i in g) for g in symmetries)
        self.anchored = bool(anchored)

    def _raw(self, J: Array) -> Array:
        return self.mlp(J / self.scale.astype(J.dtype)).astype(J.dtype) * self.scale.astype(J.dtype)

    def _symmetrised(self, J: Array) -> Array:
        total = 0.0
        for g in self.symmetries:
            if not g:
                total = total + self._raw(J)
            else:
                perm = np.asarray(g)
                total = total + self._raw(J[perm])[np.argsort(perm)]
        return total / len(self.symmetries)

    def __call__(self, J: Array) -> Array:
        """``f_theta(J)`` for one coupling vector ``(n,)`` (averaged over the symmetries: equivariant)."""
        f = self._symmetrised(J)
        if self.anchored:
            f = f - self._symmetrised(jnp.zeros_like(J))
        return f

    def step(self, J: Array) -> Array:
        """The RG map ``J + f_theta(J)``, ``(..., n)``."""
        f = self
        for _ in range(J.ndim - 1):
            f = jax.vmap(f)
        return J + f(J)


# ------------------------------------------------------------------------------------------------ data


class FlowData(NamedTuple):
    """Blocked Monte Carlo data for a batch of fine couplings.

    Attributes:
        couplings: ``(B, n)`` fine couplings ``J``.
        moments: ``(B, n)`` per-site blocked moments ``m_b`` (means over all blocked samples).
        spins: ``(B, M, L/2, L/2)`` int8 blocked configurations (starting points of contrastive divergence).
    """

    couplings: Array
    moments: Array
    spins: Array


def _sweeps(kernel, key, state, n):
    def body(st, k):
        return kernel.step(k, st)[0], None

    return jax.lax.scan(body, state, jax.random.split(key, n))[0]


def blocked_data(
    key: Array,
    couplings: Array,
    space: CouplingSpace,
    L: int,
    *,
    n_chains: int = 8,
    n_thermalize: int = 200,
    n_samples: int = 8,
    sweeps_between: int = 10,
    rng: str = "hash",
) -> FlowData:
    """Sample the fine model at each coupling, block with 2 x 2 majority rule, and record blocked moments.

    Chains start ordered (all +1; the even operators do not see the global sign), are thermalised for ``n_thermalize``
    sweeps, then ``n_samples`` configurations ``sweeps_between`` sweeps apart are blocked per chain.

    Args:
        key: PRNG key.
        couplings: ``(B, n)`` fine couplings in ``space``.
        space: the :class:`CouplingSpace`.
        L: fine lattice side (static; multiple of 4, >= 8, so that the coarse lattice is even and >= 4).
        n_chains, n_thermalize, n_samples, sweeps_between: Monte Carlo effort per coupling (static ints).
        rng: random bits of the Metropolis kernel.

    Returns:
        :class:`FlowData` with ``M = n_chains * n_samples`` blocked configurations per coupling.
    """
    if isinstance(L, bool) or not isinstance(L, numbers.Integral) or L < 8 or L % 4:
        raise ValueError(f"L must be a multiple of 4 and >= 8 (coarse lattice even, >= 4), got {L!r}")
    for name, v, lo in (("n_chains", n_chains, 1), ("n_thermalize", n_thermalize, 0), ("n_samples", n_samples, 1),
                        ("sweeps_between", sweeps_between, 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    couplings = jnp.asarray(couplings)
    if couplings.ndim != 2 or couplings.shape[-1] != space.n:
        raise ValueError(f"couplings must have shape (B, {space.n}) for this space, got {couplings.shape}")
    return _blocked_data(key, couplings, space, int(L), int(n_chains), int(n_thermalize), int(n_samples),
                         int(sweeps_between), rng)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7, 8))
def _blocked_data(key, couplings, space, L, n_chains, n_thermalize, n_samples, sweeps_between, rng) -> FlowData:
    def one_coupling(key, J):
        kernel = patch_metropolis(_patch(J, space), rng=rng)

        def one_chain(key):
            k_therm, k_run = jax.random.split(key)
            state = kernel.init(key, jnp.ones((L, L), jnp.int8))
            state = _sweeps(kernel, k_therm, state, n_thermalize) if n_thermalize else state

            def sample(state, k):
                k_sweep, k_block = jax.random.split(k)
                state = _sweeps(kernel, k_sweep, state, sweeps_between)
                return state, majority_rule(state.spins, 2, key=k_block)

            return jax.lax.scan(sample, state, jax.random.split(k_run, n_samples))[1]

        blocked = jax.vmap(one_chain)(jax.random.split(key, n_chains)).reshape(-1, L // 2, L // 2)
        moments = jnp.mean(coupling_operators(blocked, space, J.dtype), axis=0)
        return moments, blocked

    keys = jax.random.split(key, couplings.shape[0])
    moments, spins = jax.vmap(one_coupling)(keys, couplings)
    return FlowData(couplings, moments, spins)


# ------------------------------------------------------------------------------------------------ losses


def cd_model_moments(key: Array, coarse_couplings: Array, spins: Array, space: CouplingSpace, k: int) -> Array:
    """Contrastive-divergence estimate of the coarse model moments: ``k`` sweeps at ``J'`` from each configuration.

    Args:
        key: PRNG key.
        coarse_couplings: ``(n,)`` coarse couplings ``J'``.
        spins: ``(M, L', L')`` int8 starting configurations (the blocked data).
        space: coupling space.
        k: Metropolis sweeps (static int >= 1).

    Returns:
        ``(n,)`` per-site moments averaged over the ``M`` chains after ``k`` sweeps.
    """
    kernel = patch_metropolis(_patch(coarse_couplings, space))

    def chain(key, s):
        return _sweeps(kernel, key, kernel.init(key, s), k).spins

    final = jax.vmap(chain)(jax.random.split(key, spins.shape[0]), spins)
    return jnp.mean(coupling_operators(final, space, coarse_couplings.dtype), axis=0)


def cd_loss(flow: FlowModel, key: Array, data: FlowData, space: CouplingSpace, k: int) -> tuple[Array, Array]:
    """Surrogate loss whose ``theta`` gradient is the CD-k estimate of the gradient of the mean KL per coarse site.

    Returns:
        ``(surrogate, mismatch)``: scalar surrogate ``mean_B stop_gradient(m_J' - m_b) . J'`` and the ``(B, n)``
        moment differences ``m_J' - m_b`` (the CD estimate of ``dKL/dJ'`` per site).
    """
    J_coarse = flow.step(data.couplings)
    keys = jax.random.split(key, data.couplings.shape[0])
    model = jax.vmap(lambda kk, J, s: cd_model_moments(kk, J, s, space, k))(
        keys, jax.lax.stop_gradient(J_coarse), data.spins
    )
    diff = jax.lax.stop_gradient(model - data.moments)
    return jnp.mean(jnp.sum(diff * J_coarse, axis=-1)), diff


class EnumerationTable(NamedTuple):
    """The distinct per-site operator vectors of all 2^16 states of the 4 x 4 torus, with their multiplicities.

    Attributes:
        values: ``(U, n)`` distinct per-site flow-operator vectors ``S(s) / 16``.
        log_multiplicity: ``(U,)`` log of the number of states with each vector.
    """

    values: Array
    log_multiplicity: Array


@functools.lru_cache(maxsize=None)
def _enumeration_table(space: CouplingSpace) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(2**16, dtype=np.int64)[:, None]
    s = (1 - 2 * ((x >> np.arange(16)) & 1)).astype(np.float64).reshape(-1, 4, 4)
    right, down = np.roll(s, -1, -1), np.roll(s, -1, -2)
    dr = np.roll(right, -1, -2)
    S = np.stack([s * right, s * down, s * dr, right * down, s * right * down * dr, s], -1).sum((1, 2))
    flow_ops = np.rint(S @ space.array("basis").T).astype(np.int64)  # integer totals: exact uniqueness
    values, counts = np.unique(flow_ops, axis=0, return_counts=True)
    return values / 16.0, np.log(counts.astype(np.float64))


def enumeration_table(space: CouplingSpace, L: int = 4) -> EnumerationTable:
    """Exact density of states of the flow operators on the ``L x L`` coarse torus by enumeration of ``2^(L^2)`` states.

    Args:
        space: coupling space.
        L: coarse side, 4 (2^16 states; the only even side >= 4 that can be enumerated).

    Returns:
        :class:`EnumerationTable` (float64 numpy arrays; ``Z(J') = sum_u exp(log_multiplicity_u + 16 J' . values_u)``).
    """
    if L != 4:
        raise ValueError(f"L must be 4 for exact enumeration (2^16 states), got {L!r}")
    values, log_mult = _enumeration_table(coupling_space(space))
    return EnumerationTable(values, log_mult)


def _log_weights(coarse_couplings: Array, table: EnumerationTable) -> Array:
    values = jnp.asarray(table.values, coarse_couplings.dtype)
    return jnp.asarray(table.log_multiplicity, coarse_couplings.dtype) + 16.0 * (coarse_couplings @ values.T)


def exact_model_moments(coarse_couplings: Array, table: EnumerationTable) -> Array:
    """Exact per-site moments ``<S>_J' / 16`` of the 4 x 4 coarse model by enumeration, ``(..., n)``."""
    p = jax.nn.softmax(_log_weights(coarse_couplings, table), axis=-1)
    return p @ jnp.asarray(table.values, p.dtype)


def exact_loss(flow: FlowModel, data: FlowData, table: EnumerationTable) -> Array:
    """Mean cross-entropy per coarse site ``-J' . m_b + ln Z(J') / 16`` on the 4 x 4 coarse torus (by enumeration).

    This is ``KL(P_blocked || P_J') / 16`` up to the (unknown, ``J'``-independent) entropy of the blocked
    distribution; its gradient ``m_J' - m_b`` is exact given the Monte Carlo blocked moments ``data.moments``.
    """
    J_coarse = flow.step(data.couplings)
    log_z = jax.nn.logsumexp(_log_weights(J_coarse, table), axis=-1) / 16.0
    return jnp.mean(log_z - jnp.sum(J_coarse * data.moments, axis=-1))


# ------------------------------------------------------------------------------------------------ coupling sampling


def sample_couplings(
    key: Array,
    flow: FlowModel,
    space: CouplingSpace,
    n: int,
    *,
    beta: float,
    uniform_fraction: float = 0.5,
    n_trajectories: int = 20,
    step_size: float = 0.02,
    num_integration_steps: int = 10,
    box_low=None,
    box_high=None,
) -> Array:
    """Training couplings: uniform draws in the box mixed with HMC samples of ``exp(-beta ||f_theta(J)||^2)``.

    ``flow`` is a :class:`FlowModel` or any jax-traceable callable ``(n,) -> (n,)``.

    The HMC target has a soft wall outside the box (quadratic penalty of stiffness 1e4), so chains stay inside;
    each of the ``n - n_uniform`` HMC chains starts from a uniform point and runs ``n_trajectories`` trajectories
    (blackjax HMC through :func:`jaxrg.sampling.hmc.hmc`). ``beta = 0`` gives uniform samples only.

    Returns:
        ``(n, space.n)`` couplings, clipped to the box.
    """
    if not 0.0 <= float(uniform_fraction) <= 1.0:
        raise ValueError(f"uniform_fraction must be in [0, 1], got {uniform_fraction!r}")
    if float(beta) < 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    low = jnp.asarray(space.box_low if box_low is None else box_low, jnp.float32)
    high = jnp.asarray(space.box_high if box_high is None else box_high, jnp.float32)
    if low.shape != (space.n,) or high.shape != (space.n,) or not bool(jnp.all(high > low)):
        raise ValueError(f"box_low, box_high must be ({space.n},) with box_high > box_low")
    k_u, k_h, k_s = jax.random.split(key, 3)
    uniform = jax.random.uniform(k_u, (n, space.n), jnp.float32, low, high)
    n_hmc = 0 if float(beta) == 0.0 else n - int(round(float(uniform_fraction) * n))
    if n_hmc == 0:
        return uniform
    concentrated = _hmc_couplings(
        k_h, k_s, flow, n_hmc, jnp.asarray(beta, jnp.float32), low, high, int(n_trajectories),
        jnp.asarray(step_size, jnp.float32), int(num_integration_steps),
    )
    return jnp.clip(jnp.concatenate([uniform[: n - n_hmc], concentrated]), low, high)


@eqx.filter_jit
def _hmc_couplings(k_h, k_s, flow, n_hmc, beta, low, high, n_trajectories, step_size, num_integration_steps):
    from jaxrg.sampling.hmc import hmc

    flow32 = jax.tree.map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, flow)

    def log_density(J):
        wall = jnp.sum((J - jnp.clip(J, low, high)) ** 2)
        f = flow32(J)
        return -beta * jnp.sum(f * f) - 1e4 * wall

    kernel = hmc(log_density, step_size=step_size, num_integration_steps=num_integration_steps)

    def chain(key, J0):
        state = kernel.init(key, J0)
        state = jax.lax.scan(lambda st, k: (kernel.step(k, st)[0], None), state,
                             jax.random.split(key, n_trajectories))[0]
        return state.position

    starts = jax.random.uniform(k_s, (n_hmc, low.shape[0]), jnp.float32, low, high)
    return jax.vmap(chain)(jax.random.split(k_h, n_hmc), starts)


# ------------------------------------------------------------------------------------------------ training


class TrainingConfig(NamedTuple):
    """Hyper-parameters of :func:`train_flow` (all static).

    Attributes:
        L: fine lattice side (coarse ``L/2``); ``L = 8`` allows ``loss="exact"``.
        loss: ``"cd"`` (contrastive divergence) or ``"exact"`` (enumeration of the 4 x 4 coarse lattice).
        cd_sweeps: ``k`` of CD-k.
        rounds: data rounds; round ``r`` samples couplings with ``betas[r]``, generates data, trains.
        couplings_per_round: new training couplings per round.
        betas: annealing schedule of the HMC energy ``beta_a ||f||^2`` (length ``rounds``; 0 = uniform only).
        uniform_fraction: fraction of uniform (broad-exploration) couplings in HMC rounds.
        n_chains, n_thermalize, n_samples, sweeps_between: fine Monte Carlo effort per coupling.
        steps_per_round: optimiser steps per round; batch_size: couplings per step; cd_chains: blocked
            configurations per coupling used per CD step.
        learning_rate: Adam learning rate (cosine-decayed to 1% over all steps).
        width, depth: MLP size.
        anchored: build the exact infinite-temperature fixed point ``f(0) = 0`` into the flow (:class:`FlowModel`);
            without it a poorly constrained ``f(0)`` can create a spurious fixed point near ``J = 0`` that breaks the
            ``K_c`` bisection.
    """

    L: int = 16
    loss: str = "cd"
    cd_sweeps: int = 5
    rounds: int = 3
    couplings_per_round: int = 64
    betas: tuple = (0.0, 30.0, 100.0)
    uniform_fraction: float = 0.5
    n_chains: int = 8
    n_thermalize: int = 150
    n_samples: int = 8
    sweeps_between: int = 5
    steps_per_round: int = 200
    batch_size: int = 32
    cd_chains: int = 16
    learning_rate: float = 3e-3
    width: int = 32
    depth: int = 2
    anchored: bool = True


class TrainingResult(NamedTuple):
    """What :func:`train_flow` returns: the trained flow, all data, and the loss history (numpy, one per step)."""

    flow: FlowModel
    data: FlowData
    loss_history: np.ndarray


def _validate_config(config: TrainingConfig) -> None:
    if config.loss not in ("cd", "exact"):
        raise ValueError(f"loss must be 'cd' or 'exact', got {config.loss!r}")
    if config.loss == "exact" and config.L != 8:
        raise ValueError(f"loss='exact' enumerates the 4x4 coarse lattice: L must be 8, got {config.L}")
    if len(config.betas) != config.rounds:
        raise ValueError(f"betas must have one entry per round ({config.rounds}), got {config.betas}")
    for name in ("cd_sweeps", "rounds", "couplings_per_round", "steps_per_round", "batch_size", "cd_chains"):
        v = getattr(config, name)
        if not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if config.cd_chains > config.n_chains * config.n_samples:
        raise ValueError(
            f"cd_chains ({config.cd_chains}) must be <= n_chains * n_samples ({config.n_chains * config.n_samples})"
        )


def train_flow(key: Array, n, config: TrainingConfig = TrainingConfig(), *, progress: bool = False) -> TrainingResult:
    """Learn the majority-rule RG flow in the coupling space of dimension ``n`` (see the module docstring).

    Args:
        key: PRNG key (fixes the network initialisation, coupling samples, Monte Carlo data and CD chains).
        n: coupling-space dimension (1, 2, 3, 5) or a :class:`CouplingSpace`.
        config: :class:`TrainingConfig`.
        progress: print one line per round.

    Returns:
        :class:`TrainingResult`.
    """
    space = coupling_space(n)
    _validate_config(config)
    k_init, k_rounds = jax.random.split(key)
    scale = space.array("box_high") - space.array("box_low")
    flow = FlowModel(k_init, space.n, width=config.width, depth=config.depth, scale=scale,
                     symmetries=space.symmetries, anchored=config.anchored)
    optimizer = _optimizer(config.learning_rate, config.rounds * config.steps_per_round)
    opt_state = optimizer.init(eqx.filter(flow, eqx.is_inexact_array))
    table = None
    if config.loss == "exact":
        table = EnumerationTable(*(jnp.asarray(x, jnp.float32) for x in enumeration_table(space)))

    per_round = config.couplings_per_round
    pool, history = None, []
    for r in range(config.rounds):
        k_sample, k_data, k_train = jax.random.split(jax.random.fold_in(k_rounds, r), 3)
        J = sample_couplings(
            k_sample, flow, space, per_round, beta=config.betas[r], uniform_fraction=config.uniform_fraction
        )
        new = _blocked_data(k_data, J, space, config.L, config.n_chains, config.n_thermalize, config.n_samples,
                            config.sweeps_between, "hash")
        if pool is None:  # preallocated: one compiled training step for all rounds
            pool = jax.tree.map(lambda x: jnp.zeros((config.rounds * per_round, *x.shape[1:]), x.dtype), new)
        pool = jax.tree.map(lambda a, b: a.at[r * per_round:(r + 1) * per_round].set(b), pool, new)
        filled = jnp.asarray((r + 1) * per_round)
        flow, opt_state, reports = _train_round(flow, opt_state, k_train, pool, filled, table, optimizer, space, config)
        history.extend(np.asarray(reports))
        if progress:
            print(f"round {r}: {(r + 1) * per_round} couplings, loss/mismatch {float(history[-1]):.4g}")
    return TrainingResult(flow, pool, np.asarray(history))


@functools.lru_cache(maxsize=None)
def _optimizer(learning_rate: float, total_steps: int):
    return optax.adam(optax.cosine_decay_schedule(learning_rate, total_steps, alpha=0.01))


@eqx.filter_jit
def _train_round(flow, opt_state, key, pool: FlowData, filled, table, optimizer, space, config):
    params, static = eqx.partition(flow, eqx.is_array)

    def body(carry, k):
        params, opt_state = carry
        flow, opt_state, report = _train_step(
            eqx.combine(params, static), opt_state, k, pool, filled, table, optimizer, space, config
        )
        return (eqx.filter(flow, eqx.is_array), opt_state), report

    (params, opt_state), reports = jax.lax.scan(
        body, (params, opt_state), jax.random.split(key, config.steps_per_round)
    )
    return eqx.combine(params, static), opt_state, reports


def _train_step(flow, opt_state, key, pool: FlowData, filled, table, optimizer, space, config):
    k_batch, k_chains, k_cd = jax.random.split(key, 3)
    idx = jnp.floor(jax.random.uniform(k_batch, (config.batch_size,)) * filled).astype(jnp.int32)
    batch = jax.tree.map(lambda x: x[idx], pool)
    if config.loss == "cd":
        chains = jax.random.choice(k_chains, batch.spins.shape[1], (config.cd_chains,), replace=False)
        batch = batch._replace(spins=batch.spins[:, chains])

        def loss_fn(flow):
            surrogate, diff = cd_loss(flow, k_cd, batch, space, config.cd_sweeps)
            return surrogate, jnp.sqrt(jnp.mean(jnp.sum(diff * diff, -1)))
    else:

        def loss_fn(flow):
            value = exact_loss(flow, batch, table)
            return value, value

    (_, report), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(flow)
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(flow, eqx.is_inexact_array))
    return eqx.apply_updates(flow, updates), opt_state, report


# ------------------------------------------------------------------------------------------------ analysis


def linearize(f: Callable[[Array], Array], J_star: Array, b: float = 2.0) -> RGMatrixExponents:
    """Eigen-analysis of the RG map ``R(J) = J + f(J)`` at the fixed point ``J_star`` (scale factor ``b``).

    The Jacobian ``dR/dJ = I + Df(J*)`` by autodiff goes to :func:`jaxrg.scale.rg_matrix_exponents`: eigenvalues
    ``lambda_i`` (``rg_eigenvalues``), ``y_i = ln lambda_i / ln b`` sorted by decreasing real part, scaling directions
    (right) and fields (left, row 0 the relevant thermal field), classification, ``nu = 1 / y_t = ln b / ln lambda_t``.
    Differentiable (eigenvalue derivatives through ``lax.linalg.eig``).

    Args:
        f: the flow ``(n,) -> (n,)``.
        J_star: ``(n,)`` fixed point (e.g. from :func:`jaxrg.scale.find_fixed_point` on ``f``).
        b: rescaling factor of one RG step (> 1).

    Returns:
        :class:`jaxrg.scale.RGMatrixExponents`.
    """
    J_star = jnp.asarray(J_star)
    if J_star.ndim != 1:
        raise ValueError(f"J_star must be a coupling vector of shape (n,), got shape {J_star.shape}")
    T = jnp.eye(J_star.shape[0], dtype=J_star.dtype) + jax.jacfwd(f)(J_star)
    return rg_matrix_exponents(T, b)


def critical_coupling(
    f: Callable[[Array], Array],
    J_star: Array,
    relevant_left: Array,
    nn_axis: Array,
    *,
    K_low: float = 0.0,
    K_high: float = 1.0,
    n_maps: int = 12,
    n_bisect: int = 40,
    escape: float = 1.0,
) -> Array:
    """Critical coupling on the nearest-neighbour axis: where iterated maps switch between the two sinks.

    ``g(K) = u . (R^m(K e) - J*)`` with ``R(J) = J + f(J)``, ``e = nn_axis``, ``u`` the relevant left eigenvector at
    ``J*`` (oriented so that ``u . e > 0``) and ``m = n_maps`` (an orbit is frozen once ``|g|`` exceeds ``escape``,
    so orbits that leave the trained region do not run away). ``g < 0``: flows to the high-temperature sink; ``g > 0``:
    to the low-temperature sink. Bisection brackets the sign change in ``[K_low, K_high]``; a final Newton step from
    the stop-gradient bisection result makes ``K_c`` differentiable (implicit function theorem; ``u`` is held fixed).

    Returns:
        scalar ``K_c`` (NaN if ``g`` has the same sign at both ends).
    """
    u = jnp.real(jnp.asarray(relevant_left))
    e = jnp.asarray(nn_axis, J_star.dtype)
    u = jnp.where(u @ e >= 0, u, -u).astype(J_star.dtype)

    def g(K):
        def body(i, J):
            proj = u @ (J - J_star)
            return jnp.where(jnp.abs(proj) > escape, J, J + f(J))

        return u @ (jax.lax.fori_loop(0, n_maps, body, K * e) - J_star)

    lo, hi = jnp.asarray(K_low, J_star.dtype), jnp.asarray(K_high, J_star.dtype)
    g_lo, g_hi = jax.lax.stop_gradient(g(lo)), jax.lax.stop_gradient(g(hi))

    def bisect(i, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        high_side = jax.lax.stop_gradient(g(mid)) > 0
        return jnp.where(high_side, lo, mid), jnp.where(high_side, mid, hi)

    lo, hi = jax.lax.fori_loop(0, n_bisect, bisect, (jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)))
    K0 = jax.lax.stop_gradient(0.5 * (lo + hi))
    slope = jax.lax.stop_gradient(jax.grad(g)(K0))
    K_c = K0 - (g(K0) - jax.lax.stop_gradient(g(K0))) / slope
    return jnp.where((g_lo < 0) & (g_hi > 0), K_c, jnp.nan)


class FlowAnalysis(NamedTuple):
    """Fixed point, linearisation and critical coupling of a learned flow (numpy / float values).

    Attributes:
        fixed_point: ``(n,)`` non-trivial fixed point ``J*``.
        residual: ``||f(J*)||``.
        eigenvalues: ``(n,)`` eigenvalues ``lambda_i`` of the linearised map (complex), decreasing modulus.
        nu: ``ln 2 / ln lambda_t``.
        n_relevant: number of eigenvalues with modulus > 1.
        K_c: critical coupling on the nearest-neighbour axis.
    """

    fixed_point: np.ndarray
    residual: float
    eigenvalues: np.ndarray
    nu: float
    n_relevant: int
    K_c: float


def analyze_flow(flow: FlowModel, space: CouplingSpace, *, J0=None, n_maps: int = 12) -> FlowAnalysis:
    """Critical fixed point by Newton, eigen-analysis, and ``K_c`` by bisection.

    Fixed point and eigen-analysis are :func:`jaxrg.scale.analyze_map` of the map ``J + f_theta(J)`` (optimistix
    Newton, implicit derivatives), one vmapped search over all starts ``J0`` (``(n,)`` or ``(k, n)``; default
    ``K e_nn`` for K = 0.3 ... 0.5); the solution kept is the converged one inside the training box with a
    thermal eigenvalue > 1.2 and the smallest residual; the infinite-temperature fixed point ``J = 0`` is never
    kept. ``K_c``: :func:`critical_coupling` bracketed inside the training box (NaN, as is ``nu``, when no
    non-trivial fixed point with a relevant direction is found).

    Args:
        flow: a trained :class:`FlowModel` (evaluated in float64 when x64 is enabled).
        space: its coupling space (or its dimension).
        J0: Newton starting points.
        n_maps: iterations of the map in the sink test of :func:`critical_coupling`.

    Returns:
        :class:`FlowAnalysis`.
    """
    space = coupling_space(space)
    if isinstance(n_maps, bool) or not isinstance(n_maps, numbers.Integral) or n_maps < 1:
        raise ValueError(f"n_maps must be an integer >= 1, got {n_maps!r}")
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    f64 = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, flow)
    if J0 is None:
        starts = np.asarray([K * space.array("nn_axis") for K in (0.3, 0.35, 0.4, 0.45, 0.5)])
    else:
        starts = np.atleast_2d(np.asarray(J0, np.float64))
        if starts.ndim != 2 or starts.shape[-1] != space.n:
            raise ValueError(f"J0 must have shape ({space.n},) or (k, {space.n}), got {np.shape(J0)}")
    low, high = space.array("box_low"), space.array("box_high")
    analyses = _analyze_map_jit(f64, jnp.asarray(starts, dtype))
    best, best_score = None, np.inf
    for i in range(starts.shape[0]):
        an = jax.tree.map(lambda x: x[i], analyses)
        Jn = np.asarray(an.g_star)
        if not (bool(an.converged) and np.all(np.isfinite(Jn))) or np.max(np.abs(Jn)) < 1e-3:
            continue  # not converged, or the infinite-temperature fixed point J = 0
        lam_t = float(np.real(np.asarray(an.rg_eigenvalues)[0]))
        # the critical fixed point: inside the box, one relevant (thermal) eigenvalue clearly > 1
        inside = np.all(Jn >= low - 1e-6) and np.all(Jn <= high + 1e-6)
        score = float(an.residual) + (0 if inside else 1.0) + (0 if lam_t > 1.2 else 1.0)
        if score < best_score:
            best, best_score = an, score
    if best is None:
        nan = np.full(space.n, np.nan)
        return FlowAnalysis(nan, float("nan"), nan.astype(complex), float("nan"), 0, float("nan"))
    if not float(np.abs(np.asarray(best.rg_eigenvalues)[0])) > 1.0:
        # only the trivial (attractive) fixed point was found: no critical point, no K_c
        return FlowAnalysis(np.asarray(best.g_star), float(jnp.linalg.norm(f64(best.g_star))),
                            np.asarray(best.rg_eigenvalues), float("nan"), 0, float("nan"))
    # bracket inside the trained box: beyond it the network extrapolates and the low-temperature sink is not learned
    axis = space.array("nn_axis")
    K_high = float(np.min(high[axis > 0] / axis[axis > 0]))
    K_c = _critical_jit(f64, best.g_star, best.left_eigenvectors[0], jnp.asarray(axis, dtype), n_maps, K_high)
    return FlowAnalysis(
        np.asarray(best.g_star), float(jnp.linalg.norm(f64(best.g_star))), np.asarray(best.rg_eigenvalues),
        float(best.nu), int(np.sum(np.abs(np.asarray(best.rg_eigenvalues)) > 1.0)), float(K_c),
    )


@eqx.filter_jit
def _analyze_map_jit(flow, starts):
    # one root search per start, vmapped; traced, so analyze_map reports convergence instead of raising
    return jax.vmap(lambda J0: analyze_map(flow.step, J0, 2.0))(starts)


@eqx.filter_jit
def _critical_jit(flow, J_star, left, nn_axis, n_maps, K_high):
    return critical_coupling(flow, J_star, left, nn_axis, n_maps=n_maps, K_high=K_high)
