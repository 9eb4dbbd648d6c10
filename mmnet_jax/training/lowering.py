"""What a lowered program's convolutions are: counted from its StableHLO text.

Why it matters: under ``vmap`` over folds every convolution of the epoch program gets
``feature_group_count`` = the number of folds, the weight gradients included, and XLA:GPU
runs grouped backward-filter convolutions as forward convolutions with a huge window (a
known slow path, jax-ml/jax#13800). Lowering works for any platform on any machine
(``FoldTrainer.lower_epoch(..., platform="cuda")``), so the count can be read on a CPU.
"""

from __future__ import annotations

import re

_CONV = re.compile(r"stablehlo\.convolution")
_GROUPS = re.compile(r"(feature|batch)_group_count = (\d+)")
# A ranked tensor type; "?" is a dynamic dimension (an exported program's batch).
_TENSOR = re.compile(r"tensor<([0-9?x]+)x[a-z]+[0-9]*>")
_DIMS = re.compile(r"dim_numbers = \[([^\]]*)\]x\[([^\]]*)\]->\[([^\]]*)\]")


def _shape(text: str) -> tuple[int, ...]:
    return tuple(-1 if d == "?" else int(d) for d in text.split("x"))


def convolutions(text: str) -> list[dict]:
    """Every convolution of a lowered program's text (``Lowered.as_text()``): its
    ``groups`` (the larger of feature_group_count and batch_group_count), the shapes of
    its ``lhs``, ``rhs`` and ``out``, and ``rhs_is_kernel``: whether its right-hand
    operand is laid out as a kernel (spatial dimensions first, as HWIO/HWOI are; a
    weight gradient's right-hand operand is the output gradient, laid out as images)."""
    out = []
    for line in text.splitlines():
        if not _CONV.search(line):
            continue
        groups = max([int(n) for _, n in _GROUPS.findall(line)] or [1])
        # The signature closes the line: "(tensor<lhs>, tensor<rhs>) -> tensor<out>".
        signature = line.rsplit(" : ", 1)[-1]
        shapes = [_shape(s) for s in _TENSOR.findall(signature)]
        if len(shapes) != 3:
            raise ValueError(f"cannot read the convolution's types: {signature[:200]!r}")
        dims = _DIMS.search(line)
        if dims is None:
            raise ValueError(f"cannot read the convolution's dim_numbers: {line[:200]!r}")
        rhs_spec = [d.strip() for d in dims.group(2).split(",")]
        out.append(
            {
                "groups": groups,
                "lhs": shapes[0],
                "rhs": shapes[1],
                "out": shapes[2],
                "rhs_is_kernel": rhs_spec[:2] == ["0", "1"],
            }
        )
    return out


def conv_counts(text: str) -> dict:
    """``{"convolutions", "grouped", "grouped_weight_gradients"}`` of a lowered program.

    A grouped weight gradient is a convolution with a group count over 1 whose output has
    the shape of a kernel (or of a stack of kernels): the shape of a kernel operand of a
    convolution of the same program (under vmap, G folds' kernels stacked on the output
    features, as the grouped forward convolution takes them).
    """
    convs = convolutions(text)
    kernels = {c["rhs"] for c in convs if c["rhs_is_kernel"]}
    grouped = [c for c in convs if c["groups"] > 1]
    return {
        "convolutions": len(convs),
        "grouped": len(grouped),
        "grouped_weight_gradients": sum(c["out"] in kernels for c in grouped),
    }
