"""The commands as a user runs them: ``--help`` and a bad path.

``mmnet --help`` lists the commands, ``mmnet <command> --help`` shows an example; a path
that does not exist ends the command with exit status 2 and one line, ``error: ...``,
naming it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from mmnet_jax import commands
from mmnet_jax.inference import convert, explain, export, predict
from mmnet_jax.models import MMNet, MMNetConfig
from mmnet_jax.models.mmnet import params

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {"predict": predict, "export": export, "explain": explain, "convert": convert}


def _run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_mmnet_lists_every_command_one_line_each():
    """``mmnet --help`` (the console script) and ``python -m mmnet_jax --help``."""
    script = Path(sys.executable).parent / "mmnet"
    forms = [(sys.executable, "-m", "mmnet_jax", "--help")]
    if script.exists():  # an installed checkout (CI, the Quickstart)
        forms.append((str(script), "--help"))
    for form in forms:
        proc = _run(*form)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        for name in commands.COMMANDS:
            (line,) = [x for x in lines if x.startswith(f"  {name} ")]
            assert len(line.split(maxsplit=1)[1]) > 10  # a line saying what it does
        assert "130  interrupted" in proc.stdout  # the exit status table


def test_every_command_help_shows_an_example(capsys):
    proc = _run(sys.executable, "-m", "mmnet_jax", "predict", "--help")
    assert proc.returncode == 0 and "mmnet predict --workdir" in proc.stdout, proc.stderr
    assert "flags:" in proc.stdout and "Traceback" not in proc.stderr
    for name in commands.COMMANDS:
        assert commands.main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"mmnet {name} " in out or (name == "train" and "mmnet train --config" in out)
        assert "flags:" in out, name


def test_unknown_command_is_one_error_line(capsys):
    assert commands.main(["predcit"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown command 'predcit' (did you mean predict?); known: ")
    assert "\n" not in err
    assert commands.main([]) == 2  # no command: the usage, status 2
    assert "commands:" in capsys.readouterr().out


def _one_error_line(capsys, main, argv) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_bad_workdir(capsys, tmp_path):
    nope = tmp_path / "no_such_run"
    pair = ["--onset", tmp_path / "a.png", "--apex", tmp_path / "b.png"]
    for main, rest in (
        (predict.main, pair),
        (export.main, ["--out", tmp_path / "m.zip"]),
        (explain.main, [*pair, "--out", tmp_path / "pictures"]),
    ):
        assert _one_error_line(capsys, main, ["--workdir", nope, *rest]) == (
            f"error: workdir not found: {nope}"
        )


def test_bad_model_dir_and_inputs(capsys, tmp_path):
    nope = tmp_path / "no_model"
    line = _one_error_line(capsys, export.main, ["--model_dir", nope, "--out", "m.zip"])
    assert line == f"error: model directory not found: {nope}"
    clip = tmp_path / "no_clip"
    argv = ["--model_dir", tmp_path, "--clip_dir", clip, "--onset_frame", 1, "--apex_frame", 2]
    line = _one_error_line(capsys, predict.main, argv)
    assert str(tmp_path / "model.json") in line  # the model is checked first
    line = _one_error_line(capsys, predict.main, ["--workdir", tmp_path, "--csv", "x.csv"])
    assert str(tmp_path) in line and "config.json" in line


def test_bad_weights(capsys, tmp_path):
    nope = tmp_path / "official.pth"
    line = _one_error_line(capsys, convert.main, ["--weights", nope, "--out", tmp_path / "m"])
    assert line == f"error: weights file not found: {nope}"
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    line = _one_error_line(capsys, convert.main, ["--weights", junk, "--out", tmp_path / "m"])
    assert line.startswith(f"error: {junk}: not a readable .npz state dict")


def test_flag_mistakes(capsys, tmp_path):
    line = _one_error_line(capsys, predict.main, ["--workdir", tmp_path, "--onset_frame", "x"])
    assert "--onset_frame" in line
    line = _one_error_line(capsys, convert.main, ["--weights", "w.npz", "--preset", "4class"])
    assert "--preset" in line
    line = _one_error_line(capsys, export.main, ["--workdir", tmp_path])
    assert "--out is required" in line
    line = _one_error_line(capsys, explain.main, ["--workdir", tmp_path, "--csv", "p.csv"])
    assert "--out is required" in line
    line = _one_error_line(capsys, predict.main, ["--workdir", tmp_path, "stray"])
    assert "unexpected arguments: stray" in line


def test_convert_writes_a_model_directory(capsys, tmp_path):
    """The documented command on an .npz state dict with official names; the model it
    writes gives back the same state dict."""
    from flax import nnx  # noqa: PLC0415

    from mmnet_jax.inference import model_dir  # noqa: PLC0415

    config = MMNetConfig.official_3class(num_classes=5)
    abstract = nnx.eval_shape(lambda: MMNet(config, rngs=nnx.Rngs(0)))
    rng = np.random.default_rng(0)
    sd = {
        name: rng.normal(size=shape).astype(np.float32)
        for name, shape in _official_shapes(abstract).items()
    }
    weights = tmp_path / "weights.npz"
    np.savez(weights, **sd)
    out = tmp_path / "casme2_3"
    argv = ["--weights", weights, "--preset", "3class", "--out", out]
    code = convert.main([str(a) for a in argv])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert stdout.strip() == f"wrote {out} (5 classes, 3class)"
    model, meta = model_dir.load(out)
    assert meta["source"] == f"converted from {weights}" and len(meta["class_names"]) == 5
    back = params.mmnet_to_torch(model)
    assert back.keys() == sd.keys()
    for name, value in sd.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def _official_shapes(abstract) -> dict[str, tuple]:
    """Official name -> PyTorch-layout shape, for the model an abstract MMNet describes."""
    flat = dict(nnx_flat(abstract))
    out = {}
    for name, (path, kind) in params.official_name_map(abstract.config).items():
        zeros = np.zeros(flat[path].shape, np.float32)
        out[name] = params.to_torch_layout(zeros, kind, abstract.config).shape
    return out


def nnx_flat(model):
    from flax import nnx  # noqa: PLC0415

    return [(path, var.get_value()) for path, var in nnx.to_flat_state(nnx.state(model))]
