"""Exact information budget of one block-spin step on a small torus, by enumerating every state.

For a fine distribution ``p(s)`` on the ``L x L`` torus and a block map ``P(s' | s) = prod_blocks P(H_B | V_B)``:

    H(fine),  H(coarse) = -sum_s' p(s') ln p(s'),  p(s') = sum_s p(s) P(s' | s),
    H(coarse | fine) = sum_s p(s) sum_B H[P(. | V_B(s))]            (0 for deterministic maps),
    information lost  H(fine | coarse) = H(fine) + H(coarse | fine) - H(coarse).

All entropies are in nats. The states of the ``L x L`` torus are indexed as in :func:`jaxrg.exact.enumerate_states`
(site ``i = row * L + column``, spin ``1 - 2 bit_i``), and coarse states of the ``L/b x L/b`` torus the same way
(with ``n_hidden = 1``), so a coarse distribution can be blocked again: ``4 x 4 -> 2 x 2 -> 1 x 1`` with ``b = 2``.

Closed forms at infinite temperature (independent fair spins, ``b = 2``): decimation loses ``(3/4) ln 2`` per fine spin;
majority rule with fair-coin ties loses ``(3 + 6/16 - 0) ln 2 / 4 = (27/32) ln 2`` per fine spin (``H(fine) = 4 ln 2``,
``H(coarse) = ln 2`` and ``H(coarse | fine) = P(tie) ln 2 = (6/16) ln 2`` per block).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import xlogy

from jaxrg import ising
from jaxrg.exact import enumerate_states
from jaxrg.rg.information.maps import binary_configurations, block_index, conditional_table

__all__ = ["InformationBudget", "boltzmann_distribution", "information_budget", "exact_information_lost"]

MAX_SITES = 16  # 4 x 4 tori: 65536 states


class InformationBudget(NamedTuple):
    """Entropies of one block-spin step (nats, totals over the lattice; divide by ``n_fine`` for per-spin values).

    Attributes:
        fine_entropy: ``H(fine)``.
        coarse_entropy: ``H(coarse)``.
        map_entropy: ``H(coarse | fine)``, the randomness the map adds.
        information_lost: ``H(fine | coarse) = H(fine) + H(coarse | fine) - H(coarse)``.
        n_fine: number of fine spins.
    """

    fine_entropy: Array
    coarse_entropy: Array
    map_entropy: Array
    information_lost: Array
    n_fine: int

    @property
    def information_lost_per_spin(self) -> Array:
        """``H(fine | coarse)`` per fine spin."""
        return self.information_lost / self.n_fine


def _entropy(p: Array, axis=-1) -> Array:
    return -jnp.sum(xlogy(p, p), axis=axis)


def _check_torus(L) -> int:
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 1 or L * L > MAX_SITES:
        raise ValueError(f"L must be an integer with 1 <= L * L <= {MAX_SITES} (enumeration), got {L!r}")
    return int(L)


def boltzmann_distribution(L: int, T) -> Array:
    """Gibbs probabilities ``p(s) ~ exp(-E(s) / T)`` of all ``2^(L^2)`` states of the ``L x L`` torus (``L = 2, 4``).

    Args:
        L: side (2 to 4); bonds to the right and lower neighbour, periodic (``L = 2`` counts each pair twice).
        T: positive temperature (``inf`` gives the uniform distribution).

    Returns:
        ``(2^(L^2),)`` probabilities in the default float dtype.
    """
    L = _check_torus(L)
    if not (np.ndim(T) == 0 and float(T) == np.inf):
        T = float(ising.validate_temperature(T, max_ndim=0))
    if L < 2:
        raise ValueError(f"L must be >= 2 for a Boltzmann distribution, got {L}")
    energy, _ = enumerate_states(L)
    log_w = -np.asarray(energy, np.float64) / T if np.isfinite(T) else np.zeros(energy.shape)
    w = np.exp(log_w - log_w.max())
    return jnp.asarray(w / w.sum(), jnp.result_type(float))


def _state_blocks(L: int, b: int) -> np.ndarray:
    """Block configuration index of every block of every state: ``(2^(L^2), (L/b)^2)`` int32."""
    spins = binary_configurations(L * L).reshape(-1, L // b, b, L // b, b).transpose(0, 1, 3, 2, 4)
    return np.asarray(block_index(jnp.asarray(spins))).reshape(2 ** (L * L), -1)


def information_budget(p_fine: Array, L: int, rule="majority", b: int = 2) -> tuple[InformationBudget, Array]:
    """Exact entropies of one block-spin step of the distribution ``p_fine`` on the ``L x L`` torus.

    Args:
        p_fine: ``(2^(L^2),)`` probabilities of the fine states.
        L: side of the fine torus (``b`` divides ``L``, ``L^2 <= 16``).
        rule: ``"majority"``, ``"decimation"``, a :class:`~jaxrg.rg.information.maps.FilterMap`, a
            :class:`~jaxrg.rg.blocking.FilterRule` or a ``(2^(b^2), 2^n_hidden)`` table.
        b: block side.

    Returns:
        ``(budget, p_coarse)``: :class:`InformationBudget` and the ``(2^(n_hidden (L/b)^2),)`` coarse probabilities
        (differentiable in the map's parameters).
    """
    L = _check_torus(L)
    if L % b:
        raise ValueError(f"b = {b} must divide L = {L}")
    table = conditional_table(rule, b)
    p_fine = jnp.asarray(p_fine)
    if p_fine.shape != (2 ** (L * L),):
        raise ValueError(f"p_fine must have shape (2^(L^2),) = ({2 ** (L * L)},), got {p_fine.shape}")
    blocks = _state_blocks(L, b)  # (n_s, n_B)
    n_blocks, n_h = blocks.shape[1], table.shape[1]
    coarse_digits = (np.arange(n_h**n_blocks)[:, None] // n_h ** np.arange(n_blocks)[None, :]) % n_h  # (n_c, n_B)
    transition = jnp.ones((blocks.shape[0], coarse_digits.shape[0]), table.dtype)
    for B in range(n_blocks):  # P(s' | s) = prod_B P(h_B(s') | v_B(s))
        transition = transition * table[blocks[:, B]][:, coarse_digits[:, B]]
    p_coarse = p_fine @ transition
    map_entropy = jnp.sum(p_fine[:, None] * _entropy(table)[blocks])
    fine_entropy = _entropy(p_fine)
    coarse_entropy = _entropy(p_coarse)
    budget = InformationBudget(fine_entropy, coarse_entropy, map_entropy,
                               fine_entropy + map_entropy - coarse_entropy, L * L)
    return budget, p_coarse


def exact_information_lost(L: int, T, rule="majority", b: int = 2, levels: int = 1) -> list[InformationBudget]:
    """Information budgets of ``levels`` successive block-spin steps of the Ising torus at temperature ``T``.

    Args:
        L: fine side (2 or 4 for ``b = 2``); ``b**levels`` must divide ``L``.
        T: temperature (``inf``: independent fair spins).
        rule: a map with one coarse variable per block (see :func:`information_budget`).
        b: block side.
        levels: number of steps (``4 x 4`` with ``b = 2``: at most 2).

    Returns:
        List of :class:`InformationBudget`, one per step (entry 0: ``L -> L/b``).
    """
    L = _check_torus(L)
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1 or L % b**levels:
        raise ValueError(f"levels must be an integer >= 1 with b**levels dividing L = {L}, got {levels!r}")
    if conditional_table(rule, b).shape[1] != 2 and levels > 1:
        raise ValueError("several levels need a map with one coarse variable per block (n_hidden = 1)")
    p = boltzmann_distribution(L, T)
    out = []
    for n in range(levels):
        budget, p = information_budget(p, L // b**n, rule, b)
        out.append(budget)
    return out

