"""All LOSO folds at once: stacked per-fold states, one jitted epoch, sharded over devices.

Every fold has its own parameters, BatchNorm statistics, optimiser state and PRNG key,
stacked on a leading fold axis. ``jax.vmap`` maps one fold's step over that axis, and
the axis is sharded over a 1-D ``Mesh`` of all devices (``NamedSharding``), so each
device trains its share of the folds. The dataset (uint8 frames) is replicated on every
device; each fold draws its own batches from its own training clips, with its own keys.

A fold's keys derive from its seed and its index in the plan only (never its position
in a group), so a fold trained alone gives the same result as in a group. The stacked
models are (seed, fold) replicas (``folds.Replicas``): with one seed, replica i is fold i.

Schedules (``TrainSettings.schedule``):

- ``"per_fold"`` (default, the official one): each fold takes ``ceil(n_train / B)``
  optimiser steps per epoch over its own shuffled training clips, each clip once, the
  last batch smaller (PyTorch's ``DataLoader(shuffle=True, drop_last=False)``). The
  program runs the group's largest step count; a fold's samples past its own clips are
  masked out (no loss, no BatchNorm statistics: ``layers.sample_mask``) and its steps
  past its own count change nothing (parameters, BatchNorm statistics and the optimiser
  state, Adam's moments and step count included, are kept). The learning rate decays
  per epoch of the fold's own steps.
- ``"wrapped"``: every fold takes the group's step count of full batches, wrapping round
  its own shuffled order (some clips twice per epoch). No masking: a little faster on
  accelerators, not the official recipe.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import time
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from mmnet_jax.data import augment, flow_inputs
from mmnet_jax.models import layers as model_layers
from mmnet_jax.models import registry
from mmnet_jax.training import folds, recipe
from mmnet_jax.training.folds import FoldPlan

if TYPE_CHECKING:  # the annotations only
    from mmnet_jax.data.records import ClipArrays

log = logging.getLogger(__name__)

FOLD_AXIS = "fold"
# Keys are threefry (JAX's default): its draws are the same under vmap as alone, which
# makes a fold's training independent of the group it runs in. Parameter init, ~150
# draws that XLA compiles ~4x slower as threefry, uses "rbg" keys derived from the
# fold's key, run one fold after another (lax.map), where rbg is also group-invariant.
# The one definition of both (benchmarks import them).
PRNG_IMPL = "threefry2x32"
INIT_PRNG_IMPL = "rbg"
# The all-subjects model (final_model) is trained as "fold" ALL_SUBJECTS, in a group of
# its own: it takes its own steps per epoch (all clips), so its epoch is another program.
ALL_SUBJECTS = -1
SCHEDULES = ("per_fold", "wrapped")
FOLD_LOOPS = ("vmap", "map")
OPTIMIZERS = ("adamw", "adam")


class FoldState(struct.PyTreeNode):
    """Training state of a group of folds, every leaf with a leading fold axis."""

    params: Any
    rest: Any  # BatchNorm statistics and drop-path PRNG streams
    opt_state: Any
    key: jax.Array  # raw uint32 key data of PRNG_IMPL keys, (G, 2)


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    steps_per_epoch: int
    learning_rate: float
    weight_decay: float
    lr_decay: float
    lr_decay_epochs: int
    b1: float
    b2: float
    eps: float
    eval_chunk: int
    augment: augment.AugmentConfig
    # How one device runs its share of the folds: "vmap" (one batched program; best on
    # accelerators) or "map" (one fold after another; XLA:CPU runs the batched,
    # per-fold-weight convolutions of "vmap" slowly).
    fold_loop: str = "vmap"
    # "per_fold" (official: each fold its own ceil(n_train / B) steps, last batch smaller)
    # or "wrapped" (every fold the group's steps of full batches); see the module docstring.
    schedule: str = "per_fold"
    # "adamw" (PyTorch's AdamW: decoupled weight decay; MMNet's recipe) or "adam"
    # (PyTorch's Adam: weight_decay as an L2 term added to the gradient; the flow
    # baselines' recipes).
    optimizer: str = "adamw"
    # Each epoch in a new random order (False: the training clips in clip order, as a
    # PyTorch DataLoader without shuffle=True, which the STSTNet and HTNet scripts use).
    shuffle: bool = True

    def __post_init__(self):
        # Each value checked here, where it is defined: the message names the field.
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("epochs", "batch_size", "steps_per_epoch", "eval_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: want 1 or more")
        for name in ("learning_rate", "weight_decay", "lr_decay_epochs", "eps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: want 0 or more")
        if self.fold_loop not in FOLD_LOOPS:
            raise ValueError(f"fold_loop must be one of {FOLD_LOOPS}, got {self.fold_loop!r}")

    @classmethod
    def official(
        cls, steps_per_epoch: int, platform: str | None = None, **overrides: Any
    ) -> TrainSettings:
        """The official recipe (``recipe``: AdamW 8e-4, wd 0.6, lr x0.987 for 50 of 74
        epochs, batch 32, the official augmentation, eval chunk 16) for ``steps_per_epoch``
        steps per epoch, any field overridden; a ``fold_loop`` of ``"auto"`` (the
        default) is resolved for ``platform`` (None: this process's backend)."""
        kw: dict[str, Any] = {
            **dataclasses.asdict(recipe.OFFICIAL_TRAIN),
            "eval_chunk": recipe.OFFICIAL_EVAL_CHUNK,
            "augment": recipe.OFFICIAL_AUGMENT,
            "fold_loop": "auto",
            **overrides,
        }
        if kw["fold_loop"] == "auto":
            kw["fold_loop"] = default_fold_loop(platform)
        return cls(steps_per_epoch=steps_per_epoch, **kw)


def make_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh of every device (all hosts), the fold axis."""
    return jax.make_mesh(
        (jax.device_count(),), (FOLD_AXIS,), axis_types=(jax.sharding.AxisType.Auto,)
    )


def lr_schedule(s: TrainSettings, steps_per_epoch: int | jax.Array | None = None) -> optax.Schedule:
    """The official schedule: times ``lr_decay`` after each of the first N epochs.

    ``steps_per_epoch`` (default ``s.steps_per_epoch``; may be a traced per-fold count)
    turns the optimiser's step count into the epoch."""
    steps = s.steps_per_epoch if steps_per_epoch is None else steps_per_epoch

    def schedule(count):
        epoch = count // steps
        return s.learning_rate * s.lr_decay ** jnp.minimum(epoch, s.lr_decay_epochs)

    return schedule


def make_optimizer(
    s: TrainSettings, steps_per_epoch: int | jax.Array | None = None
) -> optax.GradientTransformation:
    """``s.optimizer`` (AdamW or Adam, as PyTorch's) with the official schedule
    (``lr_schedule``). The optimiser state does not depend on ``steps_per_epoch``: states
    made with one serve optimisers of another."""
    schedule = lr_schedule(s, steps_per_epoch)
    if s.optimizer == "adam":  # torch.optim.Adam: L2 decay enters the moments
        return optax.chain(
            optax.add_decayed_weights(s.weight_decay),
            optax.scale_by_adam(b1=s.b1, b2=s.b2, eps=s.eps),
            optax.scale_by_learning_rate(schedule),
        )
    # Like PyTorch's AdamW, decay every parameter (biases and norm scales too).
    return optax.adamw(schedule, b1=s.b1, b2=s.b2, eps=s.eps, weight_decay=s.weight_decay)


def train_step(graphdef, tx, params, rest, opt_state, xs, labels, mask=None):
    """One optimiser step of one model: ``(params, rest, opt_state, loss, grad_norm)``.

    ``graphdef`` is the model's training-mode graph (``nnx.split(model, nnx.Param, ...)``),
    ``xs`` the model's inputs in its order (``ModelSpec.inputs``: e.g. the normalised
    NHWC float32 onset and apex batches), ``labels`` (B,) int32. ``rest``
    (BatchNorm statistics, drop-path streams) goes in as an argument, not a closure, so
    that its Variables belong to the gradient's trace, where BatchNorm updates them.
    ``mask`` (B,) bool, optional: the samples that count; the loss is their mean and
    BatchNorm's statistics are theirs (a smaller batch padded to B). It must hold at
    least one True (a step without samples is the caller's to skip).
    """

    def loss_fn(p, r):
        model = nnx.merge(graphdef, p, r, copy=True)
        with model_layers.sample_mask(mask):
            logits = model(*xs)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        if mask is None:
            loss = ce.mean()
        else:
            w = mask.astype(ce.dtype)
            loss = jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        return loss, new_rest

    (loss, new_rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, rest)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, new_rest, opt_state, loss, optax.tree.norm(grads)


def fold_epoch_plan(
    key: jax.Array, mask: jax.Array, *, steps: int, batch: int, wrapped: bool, shuffle: bool = True
):
    """One fold's epoch from its key data (2,) and training mask (N,): ``(next key data,
    batches (steps, B) clip indices, valid (steps, B), step keys (steps,), the fold's own
    step count)``. A uniform shuffle of its training clips (``shuffle`` False: clip
    order); ``wrapped`` goes round them again to fill every step, else each clip once and
    the rest masked."""
    n = mask.shape[0]
    key = jax.random.wrap_key_data(key, impl=PRNG_IMPL)
    k_next, k_order, k_aug = jax.random.split(key, 3)
    # A uniform shuffle of this fold's clips (its training clips first).
    rank = jax.random.uniform(k_order, (n,)) if shuffle else jnp.arange(n) / n
    order = jnp.argsort(jnp.where(mask, rank, 2.0))
    count = mask.sum()
    pos = jnp.arange(steps * batch)
    if wrapped:  # round the fold's own order again to fill every step
        batches = order[pos % jnp.maximum(count, 1)]
        valid = jnp.ones(steps * batch, bool)
        fold_steps = jnp.int32(steps)
    else:  # each clip once; past the fold's own clips: masked samples
        batches = order[jnp.minimum(pos, n - 1)]
        valid = pos < count
        fold_steps = (count + batch - 1) // batch
    # One key per step from the step's index: the same whatever the step count.
    step_keys = jax.vmap(lambda i: jax.random.fold_in(k_aug, i))(jnp.arange(steps))
    return (
        jax.random.key_data(k_next),
        batches.reshape(steps, batch),
        valid.reshape(steps, batch),
        step_keys,
        fold_steps,
    )


def fold_key(seed: int, fold_index: jax.Array) -> jax.Array:
    return jax.random.fold_in(jax.random.key(seed, impl=PRNG_IMPL), fold_index)


class FoldTrainer:
    """Builds, trains and evaluates stacked fold states for one model/data/plan."""

    def __init__(
        self,
        model_config: Any,
        settings: TrainSettings,
        data: ClipArrays,
        plan: FoldPlan,
        seed: int,
        mesh: jax.sharding.Mesh,
        replicas: folds.Replicas | None = None,
    ):
        """``replicas``: the (seed, fold) models that group entries index (default: one
        per fold of ``plan``, trained with ``seed``, no validation subjects)."""
        self.model_config = model_config
        self.spec = registry.of_config(model_config)
        self.s = settings
        # Only the frames this augmentation draws, with its jitter recipe's ranges.
        aug = settings.augment
        data = data.for_jitter(aug.jitter if aug.temporal_jitter else None)
        self.data = data
        self.plan = plan
        self.seed = seed
        self.replicas = replicas or folds.Replicas.one_seed(plan, seed)
        self.mesh = mesh
        self.tx = make_optimizer(settings)
        abstract = nnx.eval_shape(lambda: self.spec.build(model_config, nnx.Rngs(0)))
        abstract.train()
        self.graphdef_train = nnx.split(abstract, nnx.Param, ...)[0]
        abstract.eval()
        self.graphdef_eval = nnx.split(abstract, nnx.Param, ...)[0]
        self.fold_sharding = NamedSharding(mesh, P(FOLD_AXIS))
        self.replicated = NamedSharding(mesh, P())
        # On the devices: only what the model's inputs are made from.
        self.device_data = {"labels": self._replicate(data.labels)}
        if {"onset", "apex"} & set(self.spec.inputs):
            self.device_data["onset"] = self._replicate(data.onset_frames)
            self.device_data["apex"] = self._replicate(data.apex_frames)
            self.device_data["jitter"] = self._replicate(data.jitter)
        if "flow" in self.spec.inputs:
            self.device_data["flow"] = self._replicate(data.flow)
        self._compiled: dict[str, Any] = {}
        # Seconds spent compiling each epoch program this trainer built, in order (one
        # entry per compilation, none for a cached program); ``compile_seconds`` is the
        # latest of them.
        self.compile_times: list[float] = []
        self.compile_seconds: float | None = None

    def with_steps(self, steps_per_epoch: int) -> FoldTrainer:
        """The same trainer (data on device, model, plan, seed) taking ``steps_per_epoch``
        steps per epoch (the all-subjects model's own count); compiles its own programs."""
        other = copy.copy(self)
        other.s = dataclasses.replace(self.s, steps_per_epoch=steps_per_epoch)
        other.tx = make_optimizer(other.s)
        other._compiled = {}
        other.compile_times = []
        other.compile_seconds = None
        return other

    # --- placement -------------------------------------------------------------------
    def _replicate(self, x: np.ndarray) -> jax.Array:
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, self.replicated, lambda i: x[i])

    def _shard_folds(self, x: np.ndarray) -> jax.Array:
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, self.fold_sharding, lambda i: x[i])

    def train_masks(self, group: list[int]) -> jax.Array:
        """(G, N) training clips of each replica of the group (all clips for ALL_SUBJECTS)."""
        train = self.replicas.train_mask
        masks = [np.ones(len(self.data), bool) if f == ALL_SUBJECTS else train[f] for f in group]
        return self._shard_folds(np.stack(masks))

    def train_counts(self, group: list[int]) -> np.ndarray:
        """(G,) training clips of each fold of the group (all clips for ALL_SUBJECTS)."""
        return np.asarray(
            [
                len(self.data) if f == ALL_SUBJECTS else int(self.replicas.train_mask[f].sum())
                for f in group
            ]
        )

    def fold_steps(self, group: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(train_steps, train_samples)``, (G,) each: the optimiser steps each fold of the
        group takes per epoch and the training clips it sees (repeats counted)."""
        n, b = self.train_counts(group), self.s.batch_size
        if self.s.schedule == "wrapped":
            steps = np.full(len(group), self.s.steps_per_epoch)
            return steps, steps * b
        steps = -(-n // b)
        if (steps > self.s.steps_per_epoch).any():
            raise ValueError(
                f"a fold needs {steps.max()} steps per epoch, the program has "
                f"{self.s.steps_per_epoch} (steps_per_epoch is too small for this data)"
            )
        return steps, n

    def test_indices(self, group: list[int]) -> tuple[jax.Array, np.ndarray]:
        """(G, chunks, chunk) clip indices of each replica's evaluation clips (its test clips,
        then its validation clips: ``Replicas.eval_clips``), and their validity."""
        t = self.replicas.max_eval
        c = self.s.eval_chunk
        t_pad = -(-t // c) * c
        idx = np.zeros((len(group), t_pad), np.int32)
        valid = np.zeros((len(group), t_pad), bool)
        for gi, f in enumerate(group):
            if f == ALL_SUBJECTS:
                continue  # nothing is held out
            clips = self.replicas.eval_clips(f)
            idx[gi, : len(clips)] = clips
            valid[gi, : len(clips)] = True
        return self._shard_folds(idx.reshape(len(group), t_pad // c, c)), valid

    # --- state -----------------------------------------------------------------------
    def init(self, group: list[int]) -> FoldState:
        """Fresh states for the replicas ``group`` (``Replicas`` indices, or ALL_SUBJECTS)."""
        cfg, tx = self.model_config, self.tx

        def init_one(seed_and_fold):
            key = fold_key(*seed_and_fold)
            k_params, k_drop, k_data = jax.random.split(key, 3)
            bits = jax.random.key_data(k_params)
            k_params = jax.random.wrap_key_data(jnp.concatenate([bits, bits]), impl=INIT_PRNG_IMPL)
            model = self.spec.build(cfg, nnx.Rngs(params=k_params, dropout=k_drop))
            model.train()
            _, params, rest = nnx.split(model, nnx.Param, ...)
            return FoldState(params, rest, tx.init(params), jax.random.key_data(k_data))

        # A replica's keys depend on its seed and plan index only; the all-subjects model
        # takes the first seed and the index after the last fold's.
        r = self.replicas
        seeds = [r.seeds[0] if f == ALL_SUBJECTS else r.seed(f) for f in group]
        ids = [self.plan.num_folds if f == ALL_SUBJECTS else r.fold(f) for f in group]
        ids = tuple(self._shard_folds(np.asarray(x, np.int32)) for x in (seeds, ids))
        if "init" not in self._compiled:  # one jitted function: compiled once per group size
            local = jax.shard_map(
                lambda i: jax.lax.map(init_one, i),
                mesh=self.mesh,
                in_specs=(P(FOLD_AXIS),),
                out_specs=P(FOLD_AXIS),
            )
            # Fold-sharded as the epoch's outputs are (on one device XLA would pick
            # replicated for most leaves): the epoch compiled for a fresh state is then
            # the program compiled ahead for its shapes (the run's memory probes).
            self._compiled["init"] = jax.jit(local, out_shardings=self.fold_sharding)
        return self._compiled["init"](ids)

    def model_of(self, state: FoldState, i: int) -> nnx.Module:
        """Fold ``i`` of a stacked state as a stand-alone model (eval mode)."""
        return fold_model(self.graphdef_eval, state.params, state.rest, i)

    # --- the jitted epoch ------------------------------------------------------------
    def _epoch(self, state: FoldState, train_mask: jax.Array, data: dict):
        """One epoch, each device running its own folds (``shard_map`` over the fold axis)."""
        fold, rep = P(FOLD_AXIS), P()
        fn = jax.shard_map(
            self._local_epoch,
            mesh=self.mesh,
            in_specs=(fold, fold, rep),
            out_specs=(fold, fold, fold),
            # No collectives inside: nothing for the check to find. jax 0.12.0.x's
            # lax.polynomial (in erf/erfc's gradient: the exact GELU) mixes the folds'
            # varying values with unvarying constants and fails the check otherwise.
            check_vma=False,
        )
        return fn(state, train_mask, data)

    def _local_epoch(self, state: FoldState, train_mask: jax.Array, data: dict):
        """One epoch of this device's folds: each fold's plan of the epoch, then a scan
        over its steps (``_epoch_step``); returns (state, losses (G, steps), norms)."""
        steps = self.s.steps_per_epoch
        plan = functools.partial(
            fold_epoch_plan,
            steps=steps,
            batch=self.s.batch_size,
            wrapped=self.s.schedule == "wrapped",
            shuffle=self.s.shuffle,
        )
        next_keys, batches, valid, step_keys, fold_steps = jax.vmap(plan)(state.key, train_mask)
        xs = (
            jnp.swapaxes(batches, 0, 1),
            jnp.swapaxes(valid, 0, 1),
            jnp.swapaxes(step_keys, 0, 1),
            jnp.arange(steps),
        )
        body = functools.partial(self._epoch_step, data, fold_steps)
        (params, rest, opt_state), (loss, gnorm) = jax.lax.scan(
            body, (state.params, state.rest, state.opt_state), xs
        )
        new_state = FoldState(params, rest, opt_state, next_keys)
        # (G, steps); a fold's steps past its own count hold 0 (see fold_steps()).
        return new_state, loss.T, gnorm.T

    def _epoch_step(self, data: dict, fold_steps: jax.Array, carry, xs):
        """The scan body: one step of every fold of the device, by ``fold_loop``."""
        params, rest, opt_state = carry
        idx, mask, keys, step = xs  # (G, B), (G, B), (G,), ()
        steps_g = jnp.broadcast_to(step, fold_steps.shape)
        args = (params, rest, opt_state, keys, idx, mask, fold_steps, steps_g)
        one = functools.partial(self._fold_step, data)
        if self.s.fold_loop == "map":
            out = jax.lax.map(one, args)
        else:
            out = jax.vmap(lambda *a: one(a))(*args)
        params, rest, opt_state, loss, gnorm = out
        return (params, rest, opt_state), (loss, gnorm)

    def _fold_step(self, data: dict, args: tuple):
        """One fold's step: its augmented batch and one optimiser step; under the
        per-fold schedule a step past the fold's own count changes nothing."""
        params, rest, opt_state, key, idx, mask, own_steps, step = args
        xs = self.training_inputs(key, data, idx)
        labels = data["labels"][idx]
        if self.s.schedule == "wrapped":
            return train_step(self.graphdef_train, self.tx, params, rest, opt_state, xs, labels)
        # The fold's own schedule: its epoch is its own number of steps.
        tx = make_optimizer(self.s, own_steps)
        out = train_step(self.graphdef_train, tx, params, rest, opt_state, xs, labels, mask)
        # Past the fold's own steps nothing changes: state kept, loss and norm 0.
        active = step < own_steps
        new = jax.tree.map(lambda a, o: jnp.where(active, a, o), out[:3], args[:3])
        zero = jnp.zeros((), jnp.float32)
        return (*new, jnp.where(active, out[3], zero), jnp.where(active, out[4], zero))

    def training_inputs(self, key: jax.Array, data: dict, idx: jax.Array) -> tuple:
        """The model's augmented inputs (``ModelSpec.inputs``, in its order) for clips
        ``idx``: frames through :func:`augment.training_batch`, flow through
        :func:`flow_inputs.training_batch` (flipped as ``augment.flip`` says)."""
        made = {}
        if "onset" in data:  # the step's key as it is: the frame models' draws unchanged
            made["onset"], made["apex"] = augment.training_batch(
                key, data["onset"], data["apex"], data["jitter"], idx, self.s.augment
            )
        if "flow" in data:
            k_flow = jax.random.fold_in(key, 1)
            made["flow"] = flow_inputs.training_batch(
                k_flow, data["flow"], idx, self.s.augment.flip
            )
        return self.spec.pick(**made)

    def eval_inputs(self, data: dict, idx: jax.Array) -> tuple:
        """The model's test-time inputs for clips ``idx`` (no augmentation)."""
        made = {}
        if "onset" in data:
            made["onset"], made["apex"] = augment.eval_batch(data["onset"], data["apex"], idx)
        if "flow" in data:
            made["flow"] = flow_inputs.eval_batch(data["flow"], idx)
        return self.spec.pick(**made)

    def _evaluate(self, state: FoldState, test_idx: jax.Array, data: dict):
        def fold_eval(params, rest, idx):
            model = nnx.merge(self.graphdef_eval, params, rest)

            def chunk(_, ix):
                return None, model(*self.eval_inputs(data, ix))

            _, logits = jax.lax.scan(chunk, None, idx)
            return logits.reshape(-1, logits.shape[-1])

        return jax.vmap(fold_eval)(state.params, state.rest, test_idx)

    def compiled_epoch(self, state: FoldState, train_mask: jax.Array, what: str = ""):
        """The epoch function compiled ahead of time for this group shape (cached).

        ``what`` names the group's models in the log (default: "G models")."""
        key = ("epoch", len(train_mask))
        if key not in self._compiled:
            t0 = time.perf_counter()
            log.info(
                "compiling the training epoch: %s x %d steps x batch %d at %d px "
                "(takes a while the first time)",
                what or f"{len(train_mask)} models",
                self.s.steps_per_epoch,
                self.s.batch_size,
                self.model_config.image_size,
            )
            compiled = self.lower_epoch(state, train_mask).compile()
            self.compile_seconds = time.perf_counter() - t0
            self.compile_times.append(self.compile_seconds)
            log.info("compiled in %.1f s", self.compile_seconds)
            self._compiled[key] = compiled
        return self._compiled[key]

    def lower_epoch(self, state: FoldState, train_mask: jax.Array, platform: str | None = None):
        """The epoch program lowered (not compiled) for this group shape, for ``platform``
        ("cpu", "cuda", "rocm", "tpu"; None: this process's backend). Lowering for another
        platform works on any machine (the accelerator check reads its convolutions)."""
        state_sharding = jax.tree.map(lambda _: self.fold_sharding, state)
        fn = jax.jit(
            self._epoch,
            donate_argnums=(0,),
            out_shardings=(state_sharding, self.fold_sharding, self.fold_sharding),
        )
        return _lower(fn, (state, train_mask, self.device_data), platform)

    def lower_evaluate(self, state: FoldState, test_idx: jax.Array, platform: str | None = None):
        """The evaluation program lowered for ``platform`` (see ``lower_epoch``)."""
        return _lower(self._evaluate_fn(), (state, test_idx, self.device_data), platform)

    def train_epoch(self, state: FoldState, train_mask: jax.Array):
        """One epoch of every fold in the group: (new state, losses (G, steps), grad norms).

        Fold ``g`` takes ``fold_steps(group)[0][g]`` steps: its losses and norms are the
        first that many entries of its row (the rest are 0)."""
        return self.compiled_epoch(state, train_mask)(state, train_mask, self.device_data)

    def evaluate(self, state: FoldState, test_idx: jax.Array) -> jax.Array:
        """Logits (G, T, C) of each fold on its own test clips (padded; see test_indices)."""
        key = ("eval", test_idx.shape)
        if key not in self._compiled:
            self._compiled[key] = self._evaluate_fn()
        return self._compiled[key](state, test_idx, self.device_data)

    def _evaluate_fn(self):
        # Each device evaluates its own folds (shard_map, as the epoch does): XLA's
        # automatic partitioning of the vmapped per-fold convolutions over a fold-sharded
        # mesh of 2+ devices fails ("output feature dimension ... not divisible by
        # feature_group_count").
        fold, rep = P(FOLD_AXIS), P()
        local = jax.shard_map(
            self._evaluate, mesh=self.mesh, in_specs=(fold, fold, rep), out_specs=fold
        )
        return jax.jit(local, out_shardings=self.fold_sharding)


def _lower(jitted, args: tuple, platform: str | None):
    """``jitted`` lowered for ``args``; for ``platform`` when given (cross-platform)."""
    if platform is None:
        return jitted.lower(*args)
    return jitted.trace(*args).lower(lowering_platforms=(platform_name(platform),))


def fold_model(graphdef, params, rest, i: int) -> nnx.Module:
    """Row ``i`` of fold-stacked ``params`` and ``rest`` as a stand-alone model (eval mode)."""
    # device_get, not np.asarray: PRNG key leaves (dropout streams) stay typed keys.
    one = jax.tree.map(lambda x: jax.device_get(x)[i], (params, rest))
    model = nnx.merge(graphdef, *one)
    model.eval()
    return model


def eval_graphdef(model_config: Any):
    """The eval-mode graph of a model of the registry (by its config), split as fold
    states are (``Param``, the rest)."""
    spec = registry.of_config(model_config)
    abstract = nnx.eval_shape(lambda: spec.build(model_config, nnx.Rngs(0)))
    abstract.eval()
    return nnx.split(abstract, nnx.Param, ...)


def to_host(x: jax.Array) -> np.ndarray:
    """A (possibly multi-host, fold-sharded) array gathered to a NumPy array."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils  # noqa: PLC0415

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))


# The defaults per platform, (fold loop, conv impl). They are resolved for the platform a
# program is lowered for (``platform``), not for the machine doing the lowering.
# - cpu: one fold after another ("map"; XLA:CPU runs vmap's batched per-fold-weight
#   convolutions at half the rate) with matrix-product weight gradients ("matmul_grad":
#   XLA:CPU's own conv weight gradients run at 20-30 GFLOP/s against ~100).
# - cuda/rocm: folds batched ("vmap"), weight gradients as batched matrix products
#   ("matmul_grad"). Under vmap every convolution gets feature_group_count = folds, and
#   XLA:GPU does not turn grouped backward-filter convolutions into cuDNN backward-filter
#   calls: they run as forward convolutions with a huge window, a known slow path
#   (jax-ml/jax#13800). matmul_grad leaves no grouped weight gradient in the program
#   (tests/test_accelerator_check.py counts them in the program lowered for cuda).
#   PROVISIONAL until measured on a GPU: chosen from those counts alone. The accelerator
#   check (benchmarks/accelerator_check.py) times map/xla, vmap/matmul_grad and vmap/xla
#   side by side; set this from its figures (BENCHMARKS.md) once it has run on one.
# - tpu: "vmap" with XLA's own convolutions: TPUs run grouped convolutions natively
#   (likewise not yet measured).
PLATFORM_DEFAULTS: dict[str, tuple[str, str]] = {
    "cpu": ("map", "matmul_grad"),
    "cuda": ("vmap", "matmul_grad"),
    "rocm": ("vmap", "matmul_grad"),
    "tpu": ("vmap", "xla"),
}


def platform_name(platform: str | None = None) -> str:
    """``platform`` as a lowering platform name ("cpu", "cuda", "rocm", "tpu"); None: the
    platform of this process's default backend."""
    name = (platform or jax.default_backend()).lower()
    return {"gpu": "cuda"}.get(name, name)


def platform_defaults(platform: str | None = None) -> tuple[str, str]:
    """``(fold_loop, conv_impl)`` defaults for ``platform`` (None: this process's)."""
    name = platform_name(platform)
    if name not in PLATFORM_DEFAULTS:
        raise ValueError(f"unknown platform {name!r}; known: {sorted(PLATFORM_DEFAULTS)}")
    return PLATFORM_DEFAULTS[name]


def default_conv_impl(platform: str | None = None) -> str:
    """The default ``conv_impl`` for ``platform`` (``platform_defaults``)."""
    return platform_defaults(platform)[1]


def default_fold_loop(platform: str | None = None) -> str:
    """The default fold loop for ``platform`` (``platform_defaults``)."""
    return platform_defaults(platform)[0]
