"""A run's per-epoch scalars as TensorBoard event files, in ``WORKDIR/tensorboard/``.

Written by process 0 alongside ``metrics.jsonl`` (which stays the record) through
tensorboardX, which writes event files itself: no TensorFlow. tensorboardX is imported
when a :class:`ScalarWriter` is made, so importing this module (and the trainer) does not
need it.

Tags (step = the epoch, 1-based, of that model's training; ``<fold>`` is the test
subject, ``__all__`` the all-subjects model; with several seeds ``<fold>`` is
``<subject>/seed_<seed>`` and the pooled figures are also written per seed as
``<metric>/pooled/seed_<seed>``, ``<metric>/pooled`` being their mean over seeds):

- ``learning_rate``: the official schedule's rate during the epoch (``lr_schedule``);
- ``loss/<fold>``: the fold's mean training loss over the epoch (``metrics.jsonl``'s
  ``train_loss``);
- ``accuracy/<fold>``, ``uf1/<fold>``, ``uar/<fold>``: over the fold's test clips;
- ``accuracy/pooled``, ``uf1/pooled``, ``uar/pooled``: over all folds' test predictions
  of the epoch (``results.json``'s ``curves``), once every fold has reached it.
"""

from __future__ import annotations

import itertools
import os
import re
import struct
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from etils import epath

from mmnet_jax.evaluation import metrics, results
from mmnet_jax.training.fold_trainer import TrainSettings, lr_schedule
from mmnet_jax.training.folds import FoldPlan

# The characters TensorBoard takes in a tag (tensorboardX replaces others with "_").
_NOT_IN_TAG = re.compile(r"[^-/\w.]")
_FIGURES = ("accuracy", "uf1", "uar")
# tensorboardX names an event file by the second and host only (and truncates an existing
# one): a suffix of the process and writer keeps two writers of one second apart.
_WRITERS = itertools.count()


def clean_tag(tag: str) -> str:
    """``tag`` as TensorBoard will show it: characters outside ``[-/\\w.]`` become ``_``."""
    return _NOT_IN_TAG.sub("_", tag).lstrip("/")


class ScalarWriter:
    """Scalars into TensorBoard event files in ``logdir`` (local or a URL tensorboardX
    supports), over ``tensorboardX.SummaryWriter``; the event file is made at the first
    :meth:`write`, so a writer that writes nothing leaves nothing behind."""

    def __init__(self, logdir: str | os.PathLike, flush_secs: int = 30):
        import tensorboardX  # noqa: PLC0415 - needed only when event files are written

        self._summary_writer = tensorboardX.SummaryWriter
        self.logdir = os.fspath(logdir)
        self.flush_secs = flush_secs
        self._writer = None
        self.closed = False

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        """Write ``scalars`` (tag -> value) at ``step``, with one wall time."""
        if self.closed:
            raise ValueError(f"the writer of {self.logdir} is closed")
        if not scalars:
            return
        if self._writer is None:
            self._writer = self._summary_writer(
                self.logdir,
                flush_secs=self.flush_secs,
                filename_suffix=f".{os.getpid()}.{next(_WRITERS)}",
            )
        now = time.time()
        for tag, value in scalars.items():
            self._writer.add_scalar(clean_tag(tag), float(value), int(step), walltime=now)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close (again: nothing)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.closed = True

    def __enter__(self) -> ScalarWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def written_steps(logdir: str | os.PathLike) -> dict[str, int]:
    """The last step of each scalar tag in the event files in ``logdir`` ({} for none).

    A file's records are read up to the first incomplete or unreadable one (the tail a
    killed writer may leave)."""
    from tensorboardX.proto import event_pb2  # noqa: PLC0415

    last: dict[str, int] = {}
    path = epath.Path(logdir)
    if not path.exists():
        return last
    for file in sorted(path.glob("*tfevents*")):
        data = file.read_bytes()
        pos = 0  # a record: length (u64), its CRC (u32), the event, the event's CRC (u32)
        while pos + 12 <= len(data):
            (n,) = struct.unpack_from("<Q", data, pos)
            if pos + 16 + n > len(data):
                break
            try:
                event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + n])
            except Exception:  # noqa: BLE001 - protobuf's DecodeError: a damaged record
                break
            for value in event.summary.value:
                last[value.tag] = max(last.get(value.tag, 0), int(event.step))
            pos += 16 + n
    return last


def epoch_learning_rate(settings: TrainSettings, epoch: int) -> float:
    """The official schedule's learning rate during epoch ``epoch`` (1-based)."""
    return float(lr_schedule(settings, 1)(epoch - 1))  # one step per epoch: count = epoch


# (epoch, the tags, their values when asked): what _items yields.
_Item = tuple[int, tuple[str, ...], Callable[[], Sequence[float]]]


def _items(
    progress: results.Progress,
    plan: FoldPlan,
    labels: np.ndarray,
    num_classes: int,
    seeds: Sequence[int],
    learning_rate: Callable[[int], float] | None,
    after: Mapping[str, int],
) -> Iterator[_Item]:
    """Every (epoch, tags, values) of ``progress`` past ``after[tag]`` (0 if absent) for
    one of the item's tags at least (a killed writer may have left some of a step's tags
    and not the others; the writer drops those already written)."""
    labels = np.asarray(labels)
    num_seeds = max(len(seeds), 1)
    who = {results.record_name(s, k): (s, k) for k in range(num_seeds) for s in plan.subjects}

    def fold_tag(s: str, k: int) -> str:  # as written (and read back by written_steps)
        return clean_tag(f"{s}/seed_{seeds[k]}" if num_seeds > 1 and s in plan.subjects else s)

    last = max((len(r.train_loss) for r in progress.folds.values()), default=0)
    if learning_rate is not None:
        for e in range(after.get("learning_rate", 0) + 1, last + 1):
            yield e, ("learning_rate",), lambda e=e: (learning_rate(e),)
    for name, rec in progress.folds.items():
        s, k = who.get(name, (name, 0))
        label = fold_tag(s, k)
        loss = f"loss/{label}"
        for e in range(after.get(loss, 0) + 1, len(rec.train_loss) + 1):
            yield e, (loss,), lambda e=e, rec=rec: (rec.train_loss[e - 1],)
        if s not in plan.subjects:
            continue
        y = labels[plan.test_mask[plan.subjects.index(s)]]
        tags = tuple(f"{m}/{label}" for m in _FIGURES)
        for e in range(min(after.get(t, 0) for t in tags) + 1, len(rec.test_preds) + 1):
            yield e, tags, lambda e=e, rec=rec, y=y: _figures(y, rec.test_preds[e - 1], num_classes)
    # Pooled: each seed's folds, at the epochs all of them reached; then the seeds' mean.
    views = [results.seed_view(progress, plan, k) for k in range(num_seeds)]
    reached = [
        min((len(v.folds[s].test_preds) for s in plan.subjects), default=0)
        if len(v.folds) == len(plan.subjects)
        else 0
        for v in views
    ]
    seed_tags = [
        tuple(f"{m}/pooled" + (f"/seed_{seeds[k]}" if num_seeds > 1 else "") for m in _FIGURES)
        for k in range(num_seeds)
    ]

    def pooled(k: int, e: int) -> tuple[float, ...]:
        ye, pe, _ = results.pooled(views[k], plan, labels, {s: e for s in plan.subjects})
        return _figures(ye, pe, num_classes)

    for k in range(num_seeds):
        for e in range(min(after.get(t, 0) for t in seed_tags[k]) + 1, reached[k] + 1):
            yield e, seed_tags[k], lambda k=k, e=e: pooled(k, e)
    if num_seeds > 1:
        tags = tuple(f"{m}/pooled" for m in _FIGURES)
        for e in range(min(after.get(t, 0) for t in tags) + 1, min(reached) + 1):
            yield (
                e,
                tags,
                lambda e=e: tuple(np.mean([pooled(k, e) for k in range(num_seeds)], axis=0)),
            )


def _figures(y: np.ndarray, preds: Sequence[int], num_classes: int) -> tuple[float, ...]:
    m = metrics.compute(y, np.asarray(preds, int), num_classes)
    return tuple(float(m[f]) for f in _FIGURES)


def epoch_scalars(
    progress: results.Progress,
    plan: FoldPlan,
    labels: np.ndarray,
    num_classes: int,
    seeds: Sequence[int] = (),
    learning_rate: Callable[[int], float] | None = None,
    after: Mapping[str, int] | None = None,
) -> dict[int, dict[str, float]]:
    """The scalars of ``progress``'s finished epochs, by epoch (1-based) then tag (see the
    module docstring), without each tag's epochs up to ``after[tag]``.

    Args:
      progress, plan, labels: the run's progress, fold plan and clip labels.
      num_classes: the data's classes (a wider head's extra outputs have no clips).
      seeds: the run's seeds (``Replicas.seeds``); one or none: tags without seeds.
      learning_rate: epoch (1-based) -> rate, e.g. ``partial(epoch_learning_rate,
        settings)``; None: no ``learning_rate`` tag.
    """
    after = after or {}
    out: dict[int, dict[str, float]] = {}
    for e, tags, values in _items(progress, plan, labels, num_classes, seeds, learning_rate, after):
        new = {t: float(v) for t, v in zip(tags, values(), strict=True) if e > after.get(t, 0)}
        if new:
            out.setdefault(e, {}).update(new)
    return dict(sorted(out.items()))


class RunWriter:
    """A run's TensorBoard scalars in ``logdir``: each :meth:`write` writes each tag's
    epochs of the progress past the last one written, by this writer or by those before
    it in ``logdir`` (:func:`written_steps`), so every epoch appears once.

    A resumed run thus writes the epochs its checkpoint holds that the killed run had not
    written yet (killed between saving a checkpoint and writing its epoch), and not those
    the killed run wrote past its last checkpoint, which it trains again (to the same
    values where training is deterministic); a run made before event files were written
    gets those of its checkpoint's epochs at its first write.
    """

    def __init__(
        self,
        logdir: str | os.PathLike,
        plan: FoldPlan,
        labels: np.ndarray,
        num_classes: int,
        seeds: Sequence[int],
        settings: TrainSettings,
    ):
        self.writer = ScalarWriter(logdir)
        self._args = (plan, np.asarray(labels), int(num_classes), tuple(seeds))
        self._lr = lambda e: epoch_learning_rate(settings, e)
        self.last_step = written_steps(logdir)  # tag -> the last epoch written

    def write(self, progress: results.Progress) -> None:
        for e, scalars in epoch_scalars(progress, *self._args, self._lr, self.last_step).items():
            self.writer.write(e, scalars)
            self.last_step.update((t, max(e, self.last_step.get(t, 0))) for t in scalars)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
