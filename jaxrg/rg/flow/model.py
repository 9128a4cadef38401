"""The learned RG step ``J' = J + f_theta(J)``: an equinox MLP, optionally symmetrised and anchored at J = 0."""

from __future__ import annotations

import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["FlowModel"]


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
