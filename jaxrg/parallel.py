"""Running on many devices and hosts with JAX's own runtime: sharded batches, domain decomposition, multi-host start.

Three layers, all on ``jax.sharding`` / ``shard_map`` / ``jax.distributed`` (no scheduler of our own):

* **Sharded batches** (:func:`batch_mesh`, :func:`sharded_batch`): the ``(n_T, chains)`` batch of
  :func:`jaxrg.simulate` is laid out on a 2D device mesh ``("temperature", "chain")`` with ``NamedSharding``; the
  compiled chunk is partitioned by XLA (GSPMD), every device runs its members. Each member keeps the key it gets in
  the unsharded run (``jax.random.split(key, (n_T, chains))``) and every measurement is per member, so the results
  are bitwise identical to the single-device run. When ``n_T`` is not a multiple of the temperature axis of the mesh,
  the batch is padded with copies of the last temperature (same couplings, same keys) and the copies are dropped
  from every output: they cost device time, nothing else.
* **Domain decomposition** (:func:`domain_metropolis`): one large lattice split in row strips over a 1D mesh
  ``("rows",)``; checkerboard Metropolis in the compact layout with the halo rows exchanged by ``ppermute`` before
  each colour's half-sweep. The random bits of a site come from :func:`jaxrg.rng.site_bits` keyed by its global
  compact index ``row * L/2 + k`` (the counter :func:`jaxrg.sampling.metropolis.metropolis` uses), so the spins are
  bitwise identical to the single-device kernel on any number of devices.
* **Multi-host** (:func:`initialize_distributed`): ``jax.distributed.initialize`` from arguments or the environment
  JAX reads (``JAX_COORDINATOR_ADDRESS``, SLURM, TPU pod slices, Open MPI); afterwards ``jax.devices()`` lists the
  devices of all processes and the same program runs on all of them (see ``docs/distributed.md``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxrg import _checks, ising, lattice, rng as rng_lib
from jaxrg.ising import Couplings
from jaxrg.sampling import SAMPLERS
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm, closed_over
from jaxrg.sampling.driver import ChainOutput
from jaxrg.sampling.metropolis import MetropolisInfo, MetropolisState, acceptance_thresholds

__all__ = [
    "resolve_devices",
    "batch_mesh",
    "ShardedKernel",
    "ReplicatedMeasure",
    "ShardedBatch",
    "sharded_batch",
    "replicate",
    "rows_mesh",
    "domain_init",
    "domain_kernel",
    "domain_metropolis",
    "initialize_distributed",
    "start_distributed",
]

BATCH_AXES = ("temperature", "chain")
ROWS_AXIS = "rows"


def resolve_devices(devices: Sequence[jax.Device] | None = None) -> list[jax.Device]:
    """The device list to use: ``devices`` (checked: non-empty, distinct ``jax.Device``) or all of ``jax.devices()``.

    Raises:
        ValueError: for an empty list, duplicates or entries that are not devices.
    """
    if devices is None:
        return list(jax.devices())
    devices = list(devices)
    if not devices:
        raise ValueError("devices must be a non-empty list of jax devices (or None for all devices)")
    if not all(isinstance(d, jax.Device) for d in devices):
        raise ValueError(f"devices must hold jax.Device objects (e.g. from jax.devices()), got {devices!r}")
    if len({d.id for d in devices}) != len(devices):
        raise ValueError(f"devices must be distinct, got ids {[d.id for d in devices]}")
    return devices


def batch_mesh(devices: Sequence[jax.Device] | None = None, *, chains: int = 1) -> Mesh:
    """A 2D mesh ``("temperature", "chain")`` over ``devices`` for an ``(n_T, chains)`` batch.

    The chain axis gets ``gcd(chains, n_devices)`` devices (no padding needed there); the rest go to temperatures.

    Args:
        devices: devices to use (default all, across all processes).
        chains: chains per temperature (>= 1).

    Returns:
        ``jax.sharding.Mesh`` of shape ``(n_devices / d_chain, d_chain)``.
    """
    devices = resolve_devices(devices)
    if isinstance(chains, bool) or int(chains) < 1:
        raise ValueError(f"chains must be an integer >= 1, got {chains!r}")
    n = len(devices)
    d_chain = math.gcd(int(chains), n)
    return Mesh(np.array(devices, dtype=object).reshape(n // d_chain, d_chain), BATCH_AXES)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Copy every leaf of ``tree`` to all devices of ``mesh`` (an all-gather), so every process can read it."""
    return _replicated(tree, mesh=mesh)


@functools.partial(jax.jit, static_argnames="mesh")
def _replicated(tree: Any, mesh: Mesh) -> Any:
    return _constrain(tree, NamedSharding(mesh, P()))


def _global_array(x, sharding: NamedSharding) -> Array:
    """Place the host array ``x`` (the same on every process) as a global array with ``sharding``."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return jax.device_put(x, sharding)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _pad_rows(x, pad: int):
    """Append ``pad`` copies of the last entry along axis 0 (works for arrays and typed key arrays)."""
    if pad == 0:
        return x
    last = x[-1:]
    return jnp.concatenate([x] + [last] * pad, axis=0)


def _constrain(tree: Any, sharding: NamedSharding) -> Any:
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


@dataclasses.dataclass(frozen=True)
class ShardedKernel:
    """A ``(n_T, chains)`` batched kernel laid out on a ``("temperature", "chain")`` mesh (see :func:`sharded_batch`).

    ``kernel(key, state, params)`` with ``params`` padded to ``n_T + pad`` rows; every member draws the key it gets
    in the unsharded :class:`~jaxrg.sampling.base.BatchedKernel`. Frozen and hashable: the driver compiles it once.
    """

    kernel: Callable
    chains: int
    n_T: int
    pad: int
    mesh: Mesh
    replicate_state: bool
    replicate_outputs: bool

    def member_keys(self, key: Array) -> Array:
        """Exactly the keys of the unsharded batch, then copies of the last row for the padding temperatures."""
        keys = _pad_rows(jax.random.split(key, (self.n_T, self.chains)), self.pad)
        return jax.lax.with_sharding_constraint(keys, NamedSharding(self.mesh, P(*BATCH_AXES)))

    def _members(self, keys: Array, state: Any, params: Any) -> tuple[Any, Any]:
        over_chains = jax.vmap(self.kernel, in_axes=(0, 0, None))
        return jax.vmap(over_chains, in_axes=(0, 0, 0))(keys, state, params)

    def __call__(self, key: Array, state: Any, params: Any) -> tuple[Any, Any]:
        batch, replicated = NamedSharding(self.mesh, P(*BATCH_AXES)), NamedSharding(self.mesh, P())
        if self.replicate_state:
            return self._replicated_step(key, state, params)
        state, info = self._members(self.member_keys(key), _constrain(state, batch), params)
        state = _constrain(state, batch)
        return state, (_constrain(info, replicated) if self.replicate_outputs else info)

    def _replicated_step(self, key: Array, state: Any, params: Any) -> tuple[Any, Any]:
        """Each device updates its block of the replicated batch, then the blocks are all-gathered."""
        d_T, d_chain = self.mesh.shape["temperature"], self.mesh.shape["chain"]
        block_T, block_chain = (self.n_T + self.pad) // d_T, self.chains // d_chain

        def local_members(params, keys, state):
            t0 = jax.lax.axis_index("temperature") * block_T
            c0 = jax.lax.axis_index("chain") * block_chain
            take = lambda x, axis, start, size: jax.lax.dynamic_slice_in_dim(x, start, size, axis)  # noqa: E731
            block = lambda x: take(take(x, 0, t0, block_T), 1, c0, block_chain)  # noqa: E731
            state, info = self._members(block(keys), jax.tree.map(block, state),
                                        jax.tree.map(lambda x: take(x, 0, t0, block_T), params))
            gather = lambda x: jax.lax.all_gather(  # noqa: E731
                jax.lax.all_gather(x, "chain", axis=1, tiled=True), "temperature", axis=0, tiled=True)
            return jax.tree.map(gather, (state, info))

        sweep = jax.shard_map(  # all-gathered blocks: replicated (the vma check cannot see it)
            local_members, mesh=self.mesh, in_specs=(P(), P(), P()), out_specs=P(), check_vma=False)
        keys = _pad_rows(jax.random.split(key, (self.n_T, self.chains)), self.pad)
        return sweep(params, keys, state)


@dataclasses.dataclass(frozen=True)
class ReplicatedMeasure:
    """A measurement whose records are replicated on every device, so that every process can read them."""

    fn: Callable
    mesh: Mesh

    def __call__(self, state: Any, params: Any) -> Any:
        return _constrain(self.fn(state, params), NamedSharding(self.mesh, P()))


@functools.partial(jax.jit, static_argnames=("init_one", "kernel"))
def _sharded_init(spins: Array, key: Array, *, init_one: Callable, kernel: ShardedKernel) -> Any:
    """The sampler state of a padded ``(n_T, chains)`` batch, laid out as the kernel runs it (compiled once)."""
    state = jax.vmap(jax.vmap(init_one))(spins, kernel.member_keys(key))
    layout = P() if kernel.replicate_state else P(*BATCH_AXES)
    return _constrain(state, NamedSharding(kernel.mesh, layout))


class ShardedBatch(NamedTuple):
    """A batched kernel over ``(n_T, chains)`` laid out on a device mesh (see :func:`sharded_batch`).

    Attributes:
        kernel: the :class:`ShardedKernel` (run it with :func:`jaxrg.sampling.driver.run_chain` and ``params``).
        params: the couplings, padded to the mesh (pass them to the kernel).
        init: ``init(spins, key)`` with spins ``(n_T, chains, L, L)`` (padded and placed here) -> sharded state.
        measure: ``measure(fn)`` wraps a per-member measurement so every process can read its records.
        unpad: ``unpad(ChainOutput)`` -> the output with padding dropped and the state readable on every process.
    """

    kernel: ShardedKernel
    params: Any
    init: Callable
    measure: Callable
    unpad: Callable


def sharded_batch(
    sampler: str,
    couplings: Couplings,
    chains: int,
    devices: Sequence[jax.Device] | None = None,
    *,
    replicate_state: bool | None = None,
) -> ShardedBatch:
    """The ``(n_T, chains)`` batched ``sampler`` kernel, sharded over ``devices`` (bitwise equal to one device).

    Args:
        sampler: a name in ``jaxrg.sampling.SAMPLERS``.
        couplings: :class:`~jaxrg.ising.Couplings` with leaves of shape ``(n_T,)``.
        chains: chains per temperature (>= 1).
        devices: devices to use (default all devices of all processes).
        replicate_state: keep the state replicated on every device (each device updates its block of members in a
            ``shard_map`` and the blocks are all-gathered after every step), so that every process can read and
            checkpoint it. Default: only when more than one process runs (the cost is one all-gather of the spins
            per step; the sweeps themselves stay split over the devices).

    Returns:
        :class:`ShardedBatch`.
    """
    _checks.choice(sampler, "sampler", sorted(SAMPLERS))
    mesh = batch_mesh(devices, chains=chains)
    chains = int(chains)
    n_T = int(couplings.K.shape[0])
    d_T = mesh.shape["temperature"]
    pad = -(-n_T // d_T) * d_T - n_T
    if replicate_state is None:
        replicate_state = jax.process_count() > 1
    replicate_outputs = jax.process_count() > 1
    batch_sharding = NamedSharding(mesh, P(*BATCH_AXES))
    kernel = ShardedKernel(SAMPLERS[sampler].build_kernel(), chains, n_T, pad, mesh, bool(replicate_state),
                           replicate_outputs)
    params = jax.tree.map(lambda x: _pad_rows(jnp.asarray(x), pad), couplings)
    def init(spins, key):
        spins = _pad_rows(np.asarray(spins), pad) if pad else np.asarray(spins)
        return _sharded_init(_global_array(spins, batch_sharding), key, init_one=SAMPLERS[sampler].init,
                             kernel=kernel)

    def measure(fn):
        return ReplicatedMeasure(fn, mesh) if replicate_outputs else fn

    def unpad(out: ChainOutput) -> ChainOutput:
        state = out.state
        if not all(x.is_fully_addressable or x.is_fully_replicated for x in jax.tree.leaves(state)):
            state = replicate(state, mesh)
        # per-member leaves lose their padding rows; scalars (e.g. the exchange step counter) are shared
        state = jax.tree.map(lambda x: np.asarray(x)[:n_T] if np.ndim(x) else np.asarray(x), state)
        measurements = jax.tree.map(lambda x: np.asarray(x)[:, :n_T], out.measurements)
        info = jax.tree.map(lambda x: np.asarray(x)[:n_T], out.info)
        return ChainOutput(state, measurements, info)

    return ShardedBatch(kernel, params, init, measure, unpad)


# --- domain decomposition of one lattice -------------------------------------------------------------------------


def rows_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1D mesh ``("rows",)`` over ``devices`` (default all) for row-strip domain decomposition."""
    return Mesh(np.array(resolve_devices(devices), dtype=object), (ROWS_AXIS,))


def _strip_update(key, spins, other, colour, thresholds, global_rows, n_dev):
    """Update one colour of a row strip; halo rows of ``other`` come from the neighbouring strips via ``ppermute``."""
    half = spins.shape[-1]
    from_above = jax.lax.ppermute(other[-1:], ROWS_AXIS, [(i, (i + 1) % n_dev) for i in range(n_dev)])
    from_below = jax.lax.ppermute(other[:1], ROWS_AXIS, [(i, (i - 1) % n_dev) for i in range(n_dev)])
    extended = jnp.concatenate([from_above, other, from_below], axis=0)
    vertical = extended[:-2] + extended[2:]
    shift_even = 1 if colour == 0 else -1  # as in lattice.compact_neighbour_sum, with the GLOBAL row parity
    even_row = (global_rows % 2 == 0)[:, None]
    horizontal = jnp.where(even_row, jnp.roll(other, shift_even, axis=-1), jnp.roll(other, -shift_even, axis=-1))
    n = vertical + other + horizontal
    index = ((spins * n + 4) // 2 + 5 * (spins > 0)).astype(jnp.int32)
    counter = global_rows.astype(jnp.uint32)[:, None] * jnp.uint32(half) + jax.lax.iota(jnp.uint32, half)[None, :]
    bits = rng_lib.site_bits(key, counter) >> 1
    accept = bits < jnp.take(thresholds, index)
    count = jax.lax.psum(jnp.sum(accept, dtype=jnp.int32), ROWS_AXIS)
    return jnp.where(accept, -spins, spins), count


def _domain_sweep(key_black, key_white, thresholds, black, white, *, n_dev: int):
    rows = black.shape[0]
    global_rows = jax.lax.axis_index(ROWS_AXIS) * rows + jnp.arange(rows)
    black, acc_b = _strip_update(key_black, black, white, 0, thresholds, global_rows, n_dev)
    white, acc_w = _strip_update(key_white, white, black, 1, thresholds, global_rows, n_dev)
    return black, white, acc_b, acc_w


def domain_kernel(key: Array, state: MetropolisState, couplings: Couplings, *, mesh: Mesh
                  ) -> tuple[MetropolisState, MetropolisInfo]:
    """One checkerboard sweep of a row-sharded lattice at couplings ``(K, h)`` (scalars, traced)."""
    n_dev = mesh.shape[ROWS_AXIS]
    sweep = jax.shard_map(
        functools.partial(_domain_sweep, n_dev=n_dev), mesh=mesh,
        in_specs=(P(), P(), P(), P(ROWS_AXIS, None), P(ROWS_AXIS, None)),
        out_specs=(P(ROWS_AXIS, None), P(ROWS_AXIS, None), P(), P()),
    )
    thresholds = acceptance_thresholds(couplings)
    key_black, key_white = jax.random.split(key)
    black, white, acc_b, acc_w = sweep(key_black, key_white, thresholds, state.black, state.white)
    n_sites = black.shape[0] * black.shape[1]
    acc = lambda c: c.astype(jnp.float32) / jnp.float32(n_sites)  # noqa: E731  (= jnp.mean of 0/1 float32)
    info = MetropolisInfo(acceptance=0.5 * (acc(acc_b) + acc(acc_w)), sweeps=jnp.ones((), jnp.float32))
    return MetropolisState(black, white), info


def domain_init(spins, mesh: Mesh) -> MetropolisState:
    """Place one ``(L, L)`` int8 lattice as row-sharded compact colours on ``mesh`` (``L`` a multiple of its size)."""
    spins = ising.validate_spins(spins, even=True, max_ndim=2)
    n_dev = mesh.shape[ROWS_AXIS]
    L = spins.shape[-1]
    if L % n_dev:
        raise ValueError(f"L must be a multiple of the number of devices ({n_dev}) for row strips, got L={L}")
    strips = NamedSharding(mesh, P(ROWS_AXIS, None))
    black, white = (np.asarray(x) for x in lattice.split_checkerboard(np.asarray(spins)))
    return MetropolisState(_global_array(black, strips), _global_array(white, strips))


def domain_metropolis(couplings: Couplings, devices: Sequence[jax.Device] | None = None, *,
                      rng: str = "hash") -> SamplingAlgorithm:
    """Checkerboard Metropolis on ONE lattice split in row strips over ``devices`` (bitwise equal to one device).

    Each device holds rows ``[r * L/n, (r + 1) * L/n)`` of both compact colour arrays; before each colour's
    half-sweep the strips swap their boundary rows of the other colour with ``ppermute``. The random bits are
    those of :func:`jaxrg.metropolis` with the same key (site counter = global compact index), so the spins after any
    number of sweeps do not depend on the number of devices. The kernel layer is :func:`domain_kernel` (bound with
    ``BoundKernel(domain_kernel, (("mesh", rows_mesh(devices)),))``), the state layer :func:`domain_init`.

    Args:
        couplings: :class:`~jaxrg.ising.Couplings` with scalar ``K`` and ``h``.
        devices: devices to split the rows over (default all); ``L`` must be a multiple of their number.
        rng: ``"hash"`` only (threefry bits cannot be drawn per strip independently of the decomposition).

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(spins)`` (spins ``(L, L)`` int8) places the compact
        colours row-sharded; ``step(key, state) -> (MetropolisState, MetropolisInfo)`` is one sweep.
    """
    if rng != "hash":
        raise ValueError(f"rng must be 'hash' for domain decomposition (site-keyed bits), got {rng!r}")
    if jnp.ndim(couplings.K) != 0 or jnp.ndim(couplings.h) != 0:
        raise ValueError("couplings must be scalars for one domain-decomposed lattice (K and h of shape ())")
    mesh = rows_mesh(devices)

    def init(spins, key=None) -> MetropolisState:
        del key
        return domain_init(spins, mesh)

    return closed_over(init, BoundKernel(domain_kernel, (("mesh", mesh),)), couplings)


# --- multi-host start -----------------------------------------------------------------------------------------------


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    initialization_timeout: int = 300,
) -> tuple[int, int]:
    """Start JAX's distributed runtime (``jax.distributed.initialize``); call before any other JAX work.

    Unset arguments come from the environment JAX reads: ``JAX_COORDINATOR_ADDRESS`` (and here also
    ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``), else JAX's cluster auto-detection (SLURM ``srun``, Cloud TPU pod
    slices, Open MPI, Kubernetes). On CPU the cross-process collectives use gloo (JAX's default).

    Args:
        coordinator_address: ``host:port`` of process 0.
        num_processes: total number of processes (>= 1).
        process_id: this process, in ``[0, num_processes)``.
        local_device_ids: devices of this host to use (default all).
        initialization_timeout: seconds to wait for all processes.

    Returns:
        ``(process_index, process_count)`` after initialisation.
    """
    if num_processes is None and os.environ.get("JAX_NUM_PROCESSES"):
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    if process_id is None and os.environ.get("JAX_PROCESS_ID"):
        process_id = int(os.environ["JAX_PROCESS_ID"])
    if num_processes is not None and (isinstance(num_processes, bool) or int(num_processes) < 1):
        raise ValueError(f"num_processes must be an integer >= 1, got {num_processes!r}")
    if process_id is not None and num_processes is not None and not 0 <= int(process_id) < int(num_processes):
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id!r}")
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise RuntimeError(
            "jax.distributed must start before JAX's backend, and importing jaxrg starts it (blackjax computes at "
            "import): call jax.distributed.initialize(...) before `import jaxrg`, or use `jaxrg run --distributed`"
        )
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=None if num_processes is None else int(num_processes),
        process_id=None if process_id is None else int(process_id),
        local_device_ids=None if local_device_ids is None else list(local_device_ids),
        initialization_timeout=int(initialization_timeout),
    )
    return jax.process_index(), jax.process_count()


_BOOTSTRAP = """\
import os, sys
import jax
num, pid = os.environ.get("JAX_NUM_PROCESSES"), os.environ.get("JAX_PROCESS_ID")
jax.distributed.initialize(os.environ.get("JAX_COORDINATOR_ADDRESS"), None if num is None else int(num),
                           None if pid is None else int(pid))
from jaxrg.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start_distributed(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> tuple[int, int]:
    """Start ``jax.distributed`` for the ``jaxrg`` command (``jaxrg run --distributed``); returns (index, count).

    If the runtime is up already, nothing is done. If JAX's backend has started (``import jaxrg`` starts it), the
    process re-executes itself (``os.execve``, same ``sys.argv``) through a bootstrap that starts the runtime before
    importing jaxrg, with the settings passed as ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID``; unset ones fall back to JAX's cluster auto-detection.
    """
    from jax._src import xla_bridge

    if num_processes is not None and (isinstance(num_processes, bool) or int(num_processes) < 1):
        raise ValueError(f"num_processes must be an integer >= 1, got {num_processes!r}")
    if process_id is not None and num_processes is not None and not 0 <= int(process_id) < int(num_processes):
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id!r}")
    if jax.distributed.is_initialized():
        return jax.process_index(), jax.process_count()
    if not xla_bridge.backends_are_initialized():
        return initialize_distributed(coordinator_address, num_processes, process_id)
    import sys

    if "--distributed" not in sys.argv[1:]:
        raise RuntimeError("JAX's backend has started and this is not a `jaxrg ... --distributed` command line: "
                           "call jax.distributed.initialize(...) before `import jaxrg`")
    env = dict(os.environ)
    for name, value in (("JAX_COORDINATOR_ADDRESS", coordinator_address), ("JAX_NUM_PROCESSES", num_processes),
                        ("JAX_PROCESS_ID", process_id)):
        if value is not None:
            env[name] = str(value)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-c", _BOOTSTRAP, *sys.argv[1:]], env)
    raise AssertionError("unreachable")  # pragma: no cover
