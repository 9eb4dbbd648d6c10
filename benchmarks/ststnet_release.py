"""The STSTNet release's own weights on its own flow images: do they give its logged figures?

    python benchmarks/ststnet_release.py --weights STSTNet_Weights \\
        --flow_dir norm_u_v_os --log STSTNet_python_logfile.txt

``--weights``: the release's folder of per-subject state dicts (christy1206/STSTNet
``STSTNet_Weights/<subject>.pth``, 68; ``.pth`` needs torch, ``.npz`` copies do not).
``--flow_dir``: its flow images, ``<subject>/u_test/<class>/<name>.png`` (the release's
``norm_u_v_os``, also in wangzhifengharrison/HTNet as ``datasets/three_norm_u_v_os``).
Each subject's weights are converted with ``mmnet convert --model ststnet`` into a model
directory and run on that subject's ``u_test`` images, read as the official code reads
them (``cv2.imread``, float 0..255), once per channel order of ``--channel_orders``
(``all``: the six permutations; ``012`` is cv2.imread's order, the official input). The
predictions of all subjects are pooled into UF1 and UAR (the authors logged UF1 0.7209,
UAR 0.725 in ``STSTNet_python_logfile.txt``); with ``--log``, each subject's (label,
prediction) counts are compared with the log's.
Which channel holds u, v and strain: ``benchmarks/flow_channels.py`` (docs/flow.md).
"""

from __future__ import annotations

import itertools
import os
import pathlib
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402

LOGGED = {"uf1": 0.7209, "uar": 0.725}
NUM_CLASSES = 3


def read_test_images(flow_dir: str, subject: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 28, 28, 3) float32 in cv2.imread's channel order, labels (n,))`` of a
    subject's ``u_test`` folder (classes and files in sorted order)."""
    root = os.path.join(flow_dir, subject, "u_test")
    images, labels = [], []
    for label in sorted(os.listdir(root), key=int):
        folder = os.path.join(root, label)
        for name in sorted(os.listdir(folder)):
            image = cv2.imread(os.path.join(folder, name))
            if image is None:
                cli.fail(f"{os.path.join(folder, name)}: not an image cv2 can read")
            images.append(image.astype(np.float32))
            labels.append(int(label))
    return np.stack(images), np.asarray(labels)


def read_log(path: str) -> dict[str, Counter]:
    """``{subject: Counter((label, prediction))}`` of the official script's log."""
    text = pathlib.Path(path).read_text()
    out = {}
    pattern = r"Subject: (\S+)\s*\nPredicted\s*: \[([^\]]*)\]\s*\nGround Truth\s*: \[([^\]]*)\]"
    for subject, preds, truth in re.findall(pattern, text):
        p = [int(v) for v in preds.split(",") if v.strip()]
        t = [int(v) for v in truth.split(",") if v.strip()]
        out[subject] = Counter(zip(t, p, strict=True))
    return out


def load_fold_models(weights: str, workdir: str) -> dict:
    """``{subject: model}``: each ``<subject>`` state dict of the folder converted with
    ``mmnet convert --model ststnet`` into ``workdir/<subject>`` and loaded from there."""
    from mmnet_jax.inference import convert, model_dir  # noqa: PLC0415 - JAX

    models = {}
    for subject, path in convert.fold_weights(weights).items():
        out = os.path.join(workdir, subject)
        code = convert.main(["--model", "ststnet", "--weights", path, "--out", out])
        if code:
            raise cli.UserError(f"converting {path} failed (exit {code})")
        models[subject], _ = model_dir.load(out)
    if not models:
        cli.fail(f"{weights}: no <subject>.pth or .npz state dicts")
    return models


def predict_all(models: dict, data: dict, orders: list[tuple[int, ...]]) -> dict:
    """``{order: {subject: predictions}}``: each fold model on its subject's images with
    the channels in ``order``."""
    import jax.numpy as jnp  # noqa: PLC0415
    from flax import nnx  # noqa: PLC0415

    run = nnx.jit(lambda m, x: m(x))
    out = {order: {} for order in orders}
    for subject, model in models.items():
        images, _ = data[subject]
        pad = -len(images) % 32  # a few batch sizes: a few compilations
        for order in orders:
            x = np.pad(images[..., list(order)], ((0, pad), (0, 0), (0, 0), (0, 0)))
            logits = np.asarray(run(model, jnp.asarray(x)))[: len(images)]
            out[order][subject] = logits.argmax(-1)
    return out


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("weights", None, "folder of <subject>.pth (or .npz) state dicts; "
                        "required", flag_values=fv)  # fmt: skip
    flags.DEFINE_string("flow_dir", None, "the release's norm_u_v_os folder; required",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_string("log", None, "the official STSTNet_python_logfile.txt, to compare "
                        "each subject's predictions with", flag_values=fv)  # fmt: skip
    flags.DEFINE_string("channel_orders", "all", "comma-separated channel orders of the "
                        "cv2.imread image to feed (e.g. 012,210), or all",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_string("workdir", None, "where the converted model directories go "
                        "(default: a temporary folder)", flag_values=fv)  # fmt: skip


def _orders(text: str) -> list[tuple[int, ...]]:
    if text == "all":
        return list(itertools.permutations(range(3)))
    out = []
    for item in text.split(","):
        if sorted(item) != ["0", "1", "2"]:
            cli.fail(f"--channel_orders: {item!r} is not a permutation of 012")
        out.append(tuple(int(c) for c in item))
    return out


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    for name in ("weights", "flow_dir"):
        if not fv[name].value or not os.path.isdir(fv[name].value):
            cli.fail(f"--{name}: a folder is required (see --help)")
    orders = _orders(fv.channel_orders)
    logged = read_log(fv.log) if fv.log else None
    from mmnet_jax.evaluation import metrics  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        models = load_fold_models(fv.weights, fv.workdir or tmp)
        missing = [s for s in models if not os.path.isdir(os.path.join(fv.flow_dir, s))]
        if missing:
            cli.fail(f"--flow_dir {fv.flow_dir}: no folder for subjects {missing}")
        data = {s: read_test_images(fv.flow_dir, s) for s in models}
        preds = predict_all(models, data, orders)
    labels = np.concatenate([data[s][1] for s in models])
    print(f"{len(models)} subjects, {len(labels)} test images; logged: UF1 {LOGGED['uf1']}, "
          f"UAR {LOGGED['uar']}\n")  # fmt: skip
    head = "| channel order fed (of cv2.imread's) | UF1 | UAR | accuracy |"
    print(head + (" subjects as logged |" if logged else ""))
    print("|---|---|---|---|" + ("---|" if logged else ""))
    for order in orders:
        pooled = np.concatenate([preds[order][s] for s in models])
        m = metrics.compute(labels, pooled, NUM_CLASSES)
        name = "".join(map(str, order))
        row = f"| {name} | {m['uf1']:.4f} | {m['uar']:.4f} | {m['accuracy']:.4f} |"
        if logged:
            same = sum(
                Counter(zip(data[s][1].tolist(), preds[order][s].tolist(), strict=True))
                == logged.get(s)
                for s in models
            )
            row += f" {same}/{len(models)} |"
        print(row)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; returns the exit status."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
