"""Regenerate the parity fixtures (tests/fixtures/mmnet{5,3}_*) from the OFFICIAL PyTorch MMNet.

    /tmp/torchenv/bin/python benchmarks/make_parity_fixtures.py \\
        --official_dir PATH/TO/MMNet --out tests/fixtures

Runs in the PyTorch virtualenv of ``benchmarks/requirements-official.txt`` (CPU torch,
timm, torchvision; no JAX), on a checkout of the authors' code (muse1998/MMNet). It writes
``mmnet{5,3}_manifest.json`` and ``mmnet{5,3}_seed{SEED}.npz``; what they hold and the
tolerances the tests use: tests/fixtures/PARITY_README.md.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402  (absl only: no JAX)
from tests.parity_utils import recipe_state_dict  # noqa: E402  (NumPy only: the weight recipe)

VARIANTS = ("5", "3")
BATCH = 2
IMAGE_SIZE = 224
# Two different classes, fixed: the loss then has two distinct targets.
LABELS = (0, 3)
APEX_MOTION = 0.2  # apex = onset + APEX_MOTION * noise: a small, dense motion
# The official recipe's AdamW (CASME2_5.py): lr 8e-4, weight decay 0.6, PyTorch's betas.
ADAMW = dict(lr=8e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.6)
# Gradients and AdamW results kept per entry: the badly conditioned layer-1 attention, a
# PC norm scale, the stem BatchNorm scale, the classifier bias, the PC position embedding.
CHECKED = (
    "main_branch.layer1.0.attn.0.weight",
    "main_branch.layer1.0.attn.1.weight",
    "vit_pos.blocks.0.norm1.weight",
    "conv_act.1.weight",
    "main_branch.fc.bias",
    "vit_pos.pos_embed",
)
# BatchNorm statistics kept after one training-mode forward pass.
RUNNING = (
    "conv_act.1.running_mean",
    "conv_act.1.running_var",
    "main_branch.layer4.0.bn2.running_mean",
    "main_branch.layer4.0.bn2.running_var",
    "main_branch.layer1.0.attn.1.running_var",
)
# The unused head of each official variant (benchmarks/official_torch.OFFICIAL_VARIANTS,
# which imports torch): the manifests' last entry.
UNUSED_HEAD = {"5": "head", "3": "head1"}


# --- the parts without PyTorch ---------------------------------------------------------
def inputs(seed: int) -> dict[str, np.ndarray]:
    """``onset``, ``apex`` (B, 3, 224, 224) float32 NCHW and ``labels`` (B,) int64.

    Drawn from ``default_rng(seed + 1)`` (seed itself draws the weights): onset standard
    normal, apex = onset + APEX_MOTION x standard normal, rounded to float32 once.
    """
    rng = np.random.default_rng(seed + 1)
    shape = (BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)
    onset = rng.standard_normal(shape).astype(np.float32)
    apex = (onset + APEX_MOTION * rng.standard_normal(shape)).astype(np.float32)
    return {"onset": onset, "apex": apex, "labels": np.asarray(LABELS, np.int64)}


def recipe_weights(manifest: list, seed: int) -> dict[str, np.ndarray]:
    """The recipe's float32 weights (tests/parity_utils.recipe_state_dict, cast once)."""
    return {k: v.astype(np.float32) for k, v in recipe_state_dict(manifest, seed).items()}


def recipe_sums(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sums and absolute sums of every entry (float32 values accumulated in float64), in
    manifest order: a NumPy stream change shows up here first."""
    return {
        "recipe_sums": np.array([v.astype(np.float64).sum() for v in weights.values()]),
        "recipe_abs_sums": np.array([np.abs(v.astype(np.float64)).sum() for v in weights.values()]),
    }


def fixture_keys(variant: str) -> list[str]:
    """The keys of ``mmnet{variant}_seed*.npz``, in the order they are written."""
    if variant == "3":
        return ["onset", "apex", "eval_logits", "recipe_sums", "recipe_abs_sums"]
    return [
        "onset",
        "apex",
        "labels",
        "eval_logits",
        "eval_pos",
        "eval_pos_input",
        "eval_logits_antialias",
        "eval_pos_input_antialias",
        "train_logits",
        "train_loss",
        "grad_global_norm",
        *(f"grad__{n}" for n in CHECKED),
        *(f"running__{n}" for n in RUNNING),
        *(f"adamw__{n}" for n in CHECKED),
        "recipe_sums",
        "recipe_abs_sums",
        "grad64_global_norm",
        "train_loss64",
        *(f"grad64__{n}" for n in CHECKED),
        *(f"adamw2__{n}" for n in CHECKED),
    ]


# --- the official model (PyTorch) -------------------------------------------------------
def build_model(official_dir: str, variant: str) -> Any:
    """The official training script's ``MMNet`` with every member it builds (the state
    dict of the manifests, unused entries included), 5-way classifier, eval mode: the
    benchmark's ``official_torch.OfficialMMNet`` with ``with_unused=True``."""
    from benchmarks import official_torch  # noqa: PLC0415  (imports torch)

    torchvision, _ = official_torch._import_torchvision()
    model, _ = official_torch.build_model(official_dir, torchvision, variant, with_unused=True)
    return model.eval()


def manifest_of(model) -> list:
    """``[name, shape]`` of every state-dict entry, in order, without the BatchNorm
    ``num_batches_tracked`` counters."""
    return [
        [k, list(v.shape)]
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    ]


def load_weights(model, weights: dict[str, np.ndarray]) -> None:
    import torch  # noqa: PLC0415

    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=False
    )
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")


def _grads(model) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(global norm in float64 over every parameter with a gradient, CHECKED gradients)."""
    named = dict(model.named_parameters())
    used = [p.grad for p in named.values() if p.grad is not None]
    norm = np.sqrt(sum(float((g.double() ** 2).sum()) for g in used))
    return np.asarray(norm, np.float64), {n: named[n].grad.detach().numpy().copy() for n in CHECKED}


def _params(model) -> dict[str, np.ndarray]:
    named = dict(model.named_parameters())
    return {n: named[n].detach().numpy().copy() for n in CHECKED}


def compute(official_dir: str, variant: str, seed: int) -> tuple[list, dict[str, np.ndarray]]:
    """(manifest, fixture arrays in ``fixture_keys`` order) of one variant."""
    import torch  # noqa: PLC0415

    torch.manual_seed(seed)  # the recipe overwrites every weight; this fixes the rest
    model = build_model(official_dir, variant)
    manifest = manifest_of(model)
    weights = recipe_weights(manifest, seed)
    load_weights(model, weights)
    x = inputs(seed)
    onset, apex = torch.from_numpy(x["onset"]), torch.from_numpy(x["apex"])
    labels = torch.from_numpy(x["labels"])
    out: dict[str, np.ndarray] = {"onset": x["onset"], "apex": x["apex"]}
    with torch.no_grad():
        out["eval_logits"] = model(onset, apex).numpy()
    if variant == "3":
        out.update(recipe_sums(weights))
        return manifest, {k: out[k] for k in fixture_keys(variant)}

    out["labels"] = x["labels"]
    with torch.no_grad():
        out["eval_pos"] = model.pc(onset).numpy()
        out["eval_pos_input"] = model.resize(onset).numpy()
        model.set_antialias(True)
        out["eval_logits_antialias"] = model(onset, apex).numpy()
        out["eval_pos_input_antialias"] = model.resize(onset).numpy()
        model.set_antialias(False)

    # float32 training mode: logits, loss, gradients, BatchNorm statistics, AdamW.
    model.train()
    criterion = torch.nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), **ADAMW)
    logits = model(onset, apex)
    loss = criterion(logits, labels)
    loss.backward()
    out["train_logits"] = logits.detach().numpy()
    out["train_loss"] = loss.detach().numpy()
    norm, grads = _grads(model)
    out["grad_global_norm"] = norm
    out.update({f"grad__{n}": g for n, g in grads.items()})
    state = model.state_dict()
    out.update({f"running__{n}": state[n].numpy().copy() for n in RUNNING})
    opt.step()
    out.update({f"adamw__{n}": v for n, v in _params(model).items()})
    opt.zero_grad()
    criterion(model(onset, apex), labels).backward()  # a second step on the same batch
    opt.step()
    out.update({f"adamw2__{n}": v for n, v in _params(model).items()})

    # The same loss and gradients in float64, from the same float32 weights and inputs.
    model64 = build_model(official_dir, variant)
    load_weights(model64, weights)
    model64 = model64.double().train()
    loss64 = criterion(model64(onset.double(), apex.double()), labels)
    loss64.backward()
    out["train_loss64"] = loss64.detach().numpy()
    norm64, grads64 = _grads(model64)
    out["grad64_global_norm"] = norm64
    out.update({f"grad64__{n}": g for n, g in grads64.items()})
    out.update(recipe_sums(weights))
    return manifest, {k: out[k] for k in fixture_keys(variant)}


# --- command line -----------------------------------------------------------------------
def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("official_dir", None, "checkout of muse1998/MMNet", flag_values=fv)
    flags.DEFINE_string("out", "tests/fixtures", "write the fixtures here", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "weight recipe seed (inputs: seed + 1)", flag_values=fv)
    flags.DEFINE_list("variants", list(VARIANTS), "official variants: 5 and/or 3", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    if not fv.official_dir:
        cli.fail("--official_dir is required: a checkout of muse1998/MMNet (see --help)")
    if not os.path.isdir(fv.official_dir):
        cli.fail(f"--official_dir {fv.official_dir}: no such folder")
    if not os.path.isdir(fv.out):
        cli.fail(f"--out {fv.out}: no such folder")
    unknown = sorted(set(fv.variants) - set(VARIANTS))
    if unknown:
        cli.fail(f"--variants: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    for variant in fv.variants:
        manifest, arrays = compute(fv.official_dir, variant, fv.seed)
        stem = os.path.join(fv.out, f"mmnet{variant}")
        with open(f"{stem}_manifest.json", "w") as f:
            f.write(json.dumps(manifest))
        np.savez_compressed(f"{stem}_seed{fv.seed}.npz", **arrays)
        print(f"{stem}_seed{fv.seed}.npz: {len(arrays)} arrays; {stem}_manifest.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
