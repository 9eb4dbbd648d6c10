"""Throughput of the OFFICIAL PyTorch MMNet on this machine, measured like benchmarks/run.py.

A baseline for mmnet_jax's figures: the same figures, shapes and timing method, taken with
the authors' own model code (their public repository muse1998/MMNet) in PyTorch. The official
code is not part of this repository: point ``--official_dir`` at a checkout of it (the
script needs its ``CA_block.py`` and ``PC_module.py``). Run it with a separate virtualenv
holding CPU PyTorch (``benchmarks/requirements-official.txt``); it imports neither jax nor
the model code of mmnet_jax (only ``mmnet_jax.cli``, which needs absl-py alone)::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install --no-deps -r benchmarks/requirements-official.txt
    /tmp/torchenv/bin/python benchmarks/official_torch.py --official_dir PATH/TO/MMNet \\
        --quick --json out.json --md out.md

What is measured (float32, NCHW, ``torch.set_num_threads(--threads)``):

- ceilings: a ``2048 x 2048`` matmul (``2 n^3`` FLOPs) and a 3x3 convolution
  ``8x128x112x112 -> 128``, padding 1 (``2 B H W Cin Cout 9``), under
  ``torch.inference_mode``: the shapes of benchmarks/run.py's CPU ceilings;
- training step, per ``--train_batches`` size: the model composed as the official training
  script's ``MMNet`` class (5 classes; see ``OfficialMMNet``) in train mode, forward,
  cross-entropy on random labels, backward, ``AdamW(lr=8e-4, weight_decay=0.6)`` step,
  ``zero_grad``; random normal onset and apex frames;
- evaluation forward pass, per ``--eval_batches`` size, in eval mode under
  ``torch.inference_mode``;
- the official data pipeline per training sample: nine 224 px JPEG frames read with
  ``cv2.imread``, BGR -> RGB, ``ToPILImage, Resize, ToTensor, Normalize`` each, concatenated
  along channels, then ``RandomHorizontalFlip, RandomRotation(3), RandomCrop(224, 15)`` on
  the 27-channel tensor; single process (the official script's ``--workers 0``), on nine
  random-noise JPEGs written to a temporary directory.

Timing, as benchmarks/bench.py: one warm-up call, then ``--repeats`` timed samples, each of
``inner`` back-to-back calls (1 unless ``--min_seconds`` asks for longer samples); the
figure is the MEDIAN sample (``min_s``, ``max_s``, ``warmup_s`` are kept). PyTorch on CPU
runs eagerly and synchronously, so there is nothing to compile or to block on. FLOPs are
MMNet's reference counts, as benchmarks/run.py's ``reference_gflops_per_s``: 43 GFLOP per
training sample and 14.4 per forward sample at 224 px (scaled with the image area).
``train_samples_per_s`` is the best training rate over the batch sizes (all are listed);
``eval_samples_per_s`` is at the largest eval batch, as in benchmarks/run.py.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from absl import flags  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks import common  # noqa: E402  (imports neither JAX nor mmnet_jax)
from mmnet_jax import cli  # noqa: E402  (absl only: no JAX)

REFERENCE_TRAIN_FLOPS_224 = common.REFERENCE_TRAIN_FLOPS_224
REFERENCE_EVAL_FLOPS_224 = common.REFERENCE_EVAL_FLOPS_224
NUM_CLASSES = 5
OFFICIAL_FILES = ("CA_block.py", "PC_module.py")
# The official model is hardwired to 224 px: the main branch ends at 14 x 14 and adds the
# 14 x 14 position embeddings, and its classifier takes 512 * 14 * 14 features.
IMAGE_SIZE = 224
FRAMES_PER_SAMPLE = 9

# Keeps the stand-in op schemas of ``_import_torchvision`` registered.
_TORCHVISION_STUB_LIBS: list = []


def _log(msg: str) -> None:
    print(f"[official {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- imports --------------------------------------------------------------------------
def _import_torchvision() -> tuple[Any, str | None]:
    """``torchvision``, and a note when its compiled ops could not be loaded.

    PyPI's Linux torchvision wheels are CUDA builds; beside a CPU-only torch their C
    extension does not load, and torchvision's import then fails registering fake kernels
    for ``torchvision::nms`` and ``qnms``. Only the pure-Python transforms are used here, so
    the two op schemas are declared (never run) and the import is retried.
    """
    try:
        import torchvision  # noqa: PLC0415

        return torchvision, None
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        first_error = str(err)
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _TORCHVISION_STUB_LIBS.append(lib)
    import torchvision  # noqa: PLC0415

    note = (
        "torchvision's C extension did not load (a CUDA build beside CPU torch?): "
        f"{first_error!r}; declared stand-in schemas for torchvision::nms/qnms and used "
        "only the pure-Python transforms"
    )
    return torchvision, note


def import_official(official_dir: str) -> tuple[Any, Any]:
    """``(resnet18_pos_attention, VisionTransformer_POS)`` from the official checkout."""
    official_dir = os.path.abspath(official_dir)
    missing = [f for f in OFFICIAL_FILES if not os.path.isfile(os.path.join(official_dir, f))]
    if missing:
        cli.fail(
            f"--official_dir {official_dir}: missing {', '.join(missing)}. Point it at a "
            "checkout of the authors' MMNet repository, muse1998/MMNet (the directory holding "
            f"{' and '.join(OFFICIAL_FILES)})."
        )
    sys.path.insert(0, official_dir)
    try:
        from CA_block import resnet18_pos_attention  # noqa: PLC0415
        from PC_module import VisionTransformer_POS  # noqa: PLC0415
    except ImportError as err:
        cli.fail(
            f"importing the official model from {official_dir} failed: {err}. PC_module.py "
            "needs timm (timm.models.layers, timm.models.vision_transformer, "
            "timm.models.registry, timm.data); see benchmarks/requirements-official.txt."
        )
    return resnet18_pos_attention, VisionTransformer_POS


# --- the model ------------------------------------------------------------------------
# The official training scripts' variants: PC depth, MLP ratio, drop-path rate, and the
# name of the head their forward never uses (CASME2_5.py: "head"; CASME2_3.py: "head1").
OFFICIAL_VARIANTS = {"5": (2, 4, 0.0, "head"), "3": (3, 2, 0.3, "head1")}


class OfficialMMNet(nn.Module):
    """The official training script's ``MMNet`` with a 5-way classifier.

    ``variant`` "5" is CASME2_5.py's model, "3" CASME2_3.py's (whose stem convolution has
    ``groups=2``, which cannot divide 3 input channels: both use ``groups=1`` here).
    ``forward(onset, apex)`` takes the two frames the official forward uses, of nine.
    The official class also builds ``pos``, a head and ``timeembed``, which its forward
    never uses; ``with_unused`` builds them too (the state dict of the parity fixtures),
    else they are left out (no FLOPs, no gradients: AdamW's weight decay would only
    touch ``timeembed``, a constant zero tensor there).
    """

    def __init__(
        self,
        resnet18_pos_attention,
        vision_transformer_pos,
        torchvision,
        variant: str = "5",
        with_unused: bool = False,
    ) -> None:
        super().__init__()
        depth, mlp_ratio, drop_path, head = OFFICIAL_VARIANTS[variant]
        self._resize_cls = torchvision.transforms.Resize
        self.conv_act = nn.Sequential(
            nn.Conv2d(3, 180, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(180),
            nn.ReLU(inplace=True),
        )
        if with_unused:
            self.pos = nn.Sequential(
                nn.Conv2d(3, 512, kernel_size=1, stride=1, bias=False),
                nn.BatchNorm2d(512),
                nn.ReLU(inplace=True),
            )
        self.vit_pos = vision_transformer_pos(
            img_size=14,
            patch_size=1,
            embed_dim=512,
            depth=depth,
            num_heads=4,
            mlp_ratio=mlp_ratio,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            drop_path_rate=drop_path,
        )
        # antialias=False: the paper-era torchvision behaviour on tensors.
        self.set_antialias(False)
        self.main_branch = resnet18_pos_attention()
        if with_unused:
            unused_head = nn.Sequential(nn.Dropout(p=0.5), nn.Linear(112 * 112, 38, bias=False))
            setattr(self, head, unused_head)
            self.timeembed = nn.Parameter(torch.zeros(1, 4, 111, 111))

    def set_antialias(self, on: bool) -> None:
        """The PC module's input resize, with or without anti-aliasing."""
        self.resize = self._resize_cls([14, 14], antialias=on)

    def pc(self, onset: torch.Tensor) -> torch.Tensor:
        """The PC module's output laid out as a map, (B, 512, 14, 14)."""
        b = onset.shape[0]
        return self.vit_pos(self.resize(onset)).transpose(1, 2).view(b, 512, 14, 14)

    def forward(self, onset: torch.Tensor, apex: torch.Tensor) -> torch.Tensor:
        act = self.conv_act(apex - onset)
        out, _ = self.main_branch(act, self.pc(onset))
        return out


def build_model(
    official_dir: str, torchvision, variant: str = "5", with_unused: bool = False
) -> tuple[OfficialMMNet, str | None]:
    """The model (see :class:`OfficialMMNet`), and a note if its classifier had to be set
    to 5 classes."""
    resnet18_pos_attention, vision_transformer_pos = import_official(official_dir)
    model = OfficialMMNet(
        resnet18_pos_attention, vision_transformer_pos, torchvision, variant, with_unused
    )
    fc = model.main_branch.fc
    if fc.out_features == NUM_CLASSES:
        return model, None
    # Some commits of CA_block.py carry another dataset's class count.
    model.main_branch.fc = nn.Linear(fc.in_features, NUM_CLASSES)
    return model, f"CA_block.py's fc has {fc.out_features} outputs; replaced by {NUM_CLASSES}"


# --- timing ---------------------------------------------------------------------------
def time_calls(call: Callable[[], Any], *, repeats: int, min_seconds: float = 0.0) -> dict:
    """``common.time_calls``: PyTorch on CPU runs synchronously, nothing to block on."""
    return common.time_calls(call, repeats=repeats, min_seconds=min_seconds)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def matmul_peak(n: int, repeats: int, min_seconds: float) -> dict:
    """float32 ``(n, n) @ (n, n)``: the machine's dense ceiling in torch."""
    g = _gen()
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    with torch.inference_mode():
        t = time_calls(lambda: torch.mm(a, b), repeats=repeats, min_seconds=min_seconds)
    flops = 2.0 * n**3
    return {
        "what": "matmul",
        "shape": [n, n, n],
        "dtype": "float32",
        "flops": flops,
        "gflops_per_s": flops / t["median_s"] / 1e9,
        "timing": t,
    }


def conv_peak(batch: int, size: int, channels: int, repeats: int, min_seconds: float) -> dict:
    """float32 3x3 NCHW convolution ``(B, C, S, S) -> (B, C, S, S)``, padding 1."""
    g = _gen()
    x = torch.randn(batch, channels, size, size, generator=g)
    w = torch.randn(channels, channels, 3, 3, generator=g) * (9 * channels) ** -0.5
    with torch.inference_mode():
        t = time_calls(lambda: F.conv2d(x, w, padding=1), repeats=repeats, min_seconds=min_seconds)
    flops = 2.0 * batch * size * size * channels * channels * 9
    return {
        "what": "conv3x3",
        "shape": [batch, channels, size, size],
        "dtype": "float32",
        "flops": flops,
        "gflops_per_s": flops / t["median_s"] / 1e9,
        "timing": t,
    }


def _frames(batch: int, image_size: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    shape = (batch, 3, image_size, image_size)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def _rate_row(batch: int, image_size: int, t: dict, flops_224: float) -> dict:
    flops = flops_224 * (image_size / 224) ** 2
    sps = batch / t["median_s"]
    return {
        "batch_size": batch,
        "image_size": image_size,
        "step_s": t["median_s"],
        "samples_per_s": sps,
        "reference_flops_per_sample": flops,
        "gflops_per_s": sps * flops / 1e9,
        "timing": t,
    }


def train_bench(model: nn.Module, batch: int, image_size: int, repeats: int, ms: float) -> dict:
    """One training step: forward, cross-entropy, backward, AdamW step, zero_grad."""
    g = _gen()
    onset, apex = _frames(batch, image_size, g)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=g)
    model.train()
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=8e-4, weight_decay=0.6)

    def step() -> torch.Tensor:
        loss = criterion(model(onset, apex), labels)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    t = time_calls(step, repeats=repeats, min_seconds=ms)
    return _rate_row(batch, image_size, t, REFERENCE_TRAIN_FLOPS_224)


def eval_bench(model: nn.Module, batch: int, image_size: int, repeats: int, ms: float) -> dict:
    """One forward pass in eval mode under ``torch.inference_mode``."""
    onset, apex = _frames(batch, image_size, _gen())
    model.eval()
    with torch.inference_mode():
        t = time_calls(lambda: model(onset, apex), repeats=repeats, min_seconds=ms)
    return _rate_row(batch, image_size, t, REFERENCE_EVAL_FLOPS_224)


def data_loading_bench(torchvision, samples: int, repeats: int) -> dict:
    """The official training pipeline's cost per sample (nine JPEG frames), one process."""
    import cv2  # noqa: PLC0415

    transforms = torchvision.transforms
    per_frame = transforms.Compose(
        [
            transforms.ToPILImage(),
            transforms.Resize((224, 224)),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    augment = transforms.Compose(
        [
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.RandomRotation(3),
            transforms.RandomCrop(224, padding=15),
        ]
    )
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="mmnet_official_frames_") as tmp:
        paths = []
        for i in range(FRAMES_PER_SAMPLE):
            path = os.path.join(tmp, f"reg_img{i}.jpg")
            img = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
            if not cv2.imwrite(path, img):
                raise RuntimeError(f"cv2.imwrite failed for {path}")
            paths.append(path)

        def load_one() -> torch.Tensor:
            frames = [per_frame(cv2.imread(p)[:, :, ::-1]) for p in paths]
            return augment(torch.cat(frames, dim=0))

        def load_many() -> None:
            for _ in range(samples):
                load_one()

        shape = list(load_one().shape)
        t = time_calls(load_many, repeats=repeats)
    return {
        "frames_per_sample": FRAMES_PER_SAMPLE,
        "samples_per_timed_call": samples,
        "sample_shape": shape,
        "workers": 0,
        "samples_per_s": samples / t["median_s"],
        "seconds_per_sample": t["median_s"] / samples,
        "timing": t,
    }


# --- machine --------------------------------------------------------------------------
def machine_info(threads: int) -> dict:
    return {
        "cpu_model": common.cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": common.cores_usable(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "torchvision_version": common.package_version("torchvision"),
        "timm_version": common.package_version("timm"),
        "opencv_version": (
            common.package_version("opencv-python-headless")
            or common.package_version("opencv-contrib-python-headless")
            or common.package_version("opencv-python")
        ),
        "numpy_version": np.__version__,
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "load_average": common.load_average(),
    }


# --- the run --------------------------------------------------------------------------
def run(args: SimpleNamespace) -> dict:
    t_start, cpu_start = time.perf_counter(), time.process_time()
    torch.set_num_threads(args.threads)
    res: dict = {"mode": "quick" if args.quick else "full", "notes": []}
    res["machine"] = machine_info(args.threads)
    res["torch_version"] = torch.__version__
    res["threads"] = args.threads
    res["load_average"] = res["machine"]["load_average"]
    sections: dict[str, float] = {}

    torchvision, note = _import_torchvision()
    if note:
        res["notes"].append(note)
    model, note = build_model(args.official_dir, torchvision)
    if note:
        res["notes"].append(note)
    for n in res["notes"]:
        _log(f"note: {n}")
    with torch.inference_mode():
        model.eval()
        out = model(*_frames(2, args.image_size, _gen()))
    res["model"] = {
        "official_dir": os.path.abspath(args.official_dir),
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "output_shape_batch_2": list(out.shape),
    }
    _log(f"model: {res['model']['parameter_count']:,} parameters, output {list(out.shape)}")

    t0 = time.perf_counter()
    _log(f"ceilings: {args.matmul_size}^2 matmul, 3x3 conv")
    mm = matmul_peak(args.matmul_size, args.repeats, args.min_seconds)
    conv = conv_peak(args.conv_batch, 112, 128, args.repeats, args.min_seconds)
    res["ceilings"] = [mm, conv]
    res["matmul_peak_gflops_per_s"] = mm["gflops_per_s"]
    res["conv_peak_gflops_per_s"] = conv["gflops_per_s"]
    sections["ceilings"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = []
    for b in args.train_batches:
        _log(f"train step: {args.image_size} px, batch {b}")
        rows.append(train_bench(model, b, args.image_size, args.repeats, args.min_seconds))
    res["train"] = rows
    best = max(rows, key=lambda r: r["samples_per_s"])
    res["train_samples_per_s"] = best["samples_per_s"]
    res["train_gflops_per_s"] = best["gflops_per_s"]
    res["train_headline"] = {"batch_size": best["batch_size"], "dtype": "float32"}
    res["train_vs_conv_peak"] = best["gflops_per_s"] / conv["gflops_per_s"]
    res["train_vs_matmul_peak"] = best["gflops_per_s"] / mm["gflops_per_s"]
    sections["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = []
    for b in args.eval_batches:
        _log(f"eval: {args.image_size} px, batch {b}")
        rows.append(eval_bench(model, b, args.image_size, args.repeats, args.min_seconds))
    res["eval"] = rows
    head = max(rows, key=lambda r: r["batch_size"])
    res["eval_samples_per_s"] = head["samples_per_s"]
    res["eval_gflops_per_s"] = head["gflops_per_s"]
    res["eval_headline"] = {"batch_size": head["batch_size"], "dtype": "float32"}
    sections["eval"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _log(f"data loading: {args.data_samples} samples per timed call")
    res["data_loading"] = data_loading_bench(torchvision, args.data_samples, args.repeats)
    res["data_loading_samples_per_s"] = res["data_loading"]["samples_per_s"]
    sections["data_loading"] = time.perf_counter() - t0

    res["section_seconds"] = sections
    res["host_peak_rss_bytes"] = common.peak_rss_bytes()
    res["load_average_end"] = common.load_average()
    res["wall_s"] = time.perf_counter() - t_start
    res["cpu_s"] = time.process_time() - cpu_start
    return res


# --- report ---------------------------------------------------------------------------
HEADLINE_KEYS = (
    "train_samples_per_s",
    "train_gflops_per_s",
    "train_vs_conv_peak",
    "train_vs_matmul_peak",
    "eval_samples_per_s",
    "eval_gflops_per_s",
    "data_loading_samples_per_s",
    "conv_peak_gflops_per_s",
    "matmul_peak_gflops_per_s",
)


def to_markdown(res: dict) -> str:
    m = res["machine"]

    def la(x):
        return "/".join(f"{v:.1f}" for v in x or [])

    lines = [
        f"# Official PyTorch MMNet benchmarks ({res['mode']} mode)",
        "",
        f"{m['cpu_model']}, {m['cpu_cores']} cores ({m['cpu_cores_usable']} usable); torch "
        f"{m['torch_version']}, {res['threads']} threads. Load average at start "
        f"{la(res['load_average'])}, at end {la(res['load_average_end'])}. Wall time "
        f"{res['wall_s']:.0f} s ({res['cpu_s']:.0f} CPU-s); peak RSS "
        f"{res['host_peak_rss_bytes'] / 2**20:.0f} MiB. Medians of timed repeats; GFLOP/s "
        "from the reference counts (43 GFLOP/sample train, 14.4 forward, at 224 px).",
        "",
        "## Headline",
        "",
    ]
    lines += common.table(
        ["figure", "value"], [[k, common.fmt(res.get(k), 2)] for k in HEADLINE_KEYS]
    )
    lines += ["## Ceilings", ""]
    lines += common.table(
        ["what", "shape", "GFLOP/s", "median s"],
        [
            [
                r["what"],
                "x".join(map(str, r["shape"])),
                common.fmt(r["gflops_per_s"]),
                common.fmt(r["timing"]["median_s"], 4),
            ]
            for r in res["ceilings"]
        ],
    )
    for key, title in (("train", "Training step (AdamW)"), ("eval", "Eval forward")):
        lines += [f"## {title}", ""]
        lines += common.table(
            ["px", "batch", "samples/s", "GFLOP/s", "median s", "min s", "max s"],
            [
                [
                    r["image_size"],
                    r["batch_size"],
                    common.fmt(r["samples_per_s"], 2),
                    common.fmt(r["gflops_per_s"]),
                    common.fmt(r["step_s"], 3),
                    common.fmt(r["timing"]["min_s"], 3),
                    common.fmt(r["timing"]["max_s"], 3),
                ]
                for r in res[key]
            ],
        )
    d = res["data_loading"]
    lines += [
        "## Data loading (official pipeline, one process)",
        "",
        f"{d['samples_per_s']:.1f} samples/s ({d['seconds_per_sample'] * 1e3:.1f} ms per "
        f"sample of {d['frames_per_sample']} JPEG frames; tensor {d['sample_shape']}).",
        "",
    ]
    if res["notes"]:
        lines += ["Notes: " + "; ".join(res["notes"]), ""]
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------
def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("official_dir", None, "checkout of muse1998/MMNet", flag_values=fv)
    flags.DEFINE_string("json", None, "write the results here (JSON)", flag_values=fv)
    flags.DEFINE_string("md", None, "write the Markdown tables here (also printed)", flag_values=fv)
    flags.DEFINE_boolean("quick", False, "fewer sizes and repeats", flag_values=fv)
    flags.DEFINE_integer("image_size", IMAGE_SIZE, "only 224 is valid", flag_values=fv)
    flags.DEFINE_list("train_batches", None, "e.g. 4,8,32 (quick 4,8)", flag_values=fv)
    flags.DEFINE_list("eval_batches", ["8", "32"], "e.g. 8,32", flag_values=fv)
    flags.DEFINE_integer(
        "repeats", None, "timed samples per figure (quick 3, full 5)", flag_values=fv
    )
    flags.DEFINE_float("min_seconds", 0.0, "least seconds per sample", flag_values=fv)
    flags.DEFINE_integer(
        "data_samples", None, "samples per timed data-loading call", flag_values=fv
    )
    flags.DEFINE_integer("matmul_size", 2048, "matmul ceiling size n", flag_values=fv)
    flags.DEFINE_integer("conv_batch", 8, "conv ceiling batch", flag_values=fv)
    flags.DEFINE_integer("threads", os.cpu_count(), "torch.set_num_threads", flag_values=fv)


def options_from_flags(fv: flags.FlagValues) -> SimpleNamespace:
    """What :func:`run` reads, from parsed flags (raises ``cli.UserError``)."""
    if not fv.official_dir:
        cli.fail("--official_dir is required: a checkout of muse1998/MMNet (see --help)")
    if not os.path.isdir(fv.official_dir):
        cli.fail(f"--official_dir {fv.official_dir}: no such folder")
    if fv.image_size != IMAGE_SIZE:
        cli.fail(
            f"--image_size {fv.image_size}: the official model only runs at {IMAGE_SIZE} px "
            "(14 x 14 fusion, fc input)"
        )
    for name in ("json", "md"):
        path = fv[name].value
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            cli.fail(f"--{name} {path}: folder {os.path.dirname(path)} does not exist")
    return SimpleNamespace(
        official_dir=fv.official_dir,
        json=fv.json,
        md=fv.md,
        quick=fv.quick,
        image_size=fv.image_size,
        train_batches=common.flag_ints(fv, "train_batches") or ((4, 8) if fv.quick else (4, 8, 32)),
        eval_batches=common.flag_ints(fv, "eval_batches"),
        repeats=fv.repeats or (3 if fv.quick else 5),
        min_seconds=fv.min_seconds,
        data_samples=fv.data_samples or (10 if fv.quick else 20),
        matmul_size=fv.matmul_size,
        conv_batch=fv.conv_batch,
        threads=fv.threads,
    )


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    args = options_from_flags(fv)
    res = run(args)
    md = to_markdown(res)
    print(md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    if args.md:
        with open(args.md, "w") as f:
            f.write(md + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
