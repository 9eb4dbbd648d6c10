"""benchmarks/ststnet_release.py on a tiny release of its layout: converted fold models,
flow images read as cv2.imread reads them, the official log compared subject by subject."""

from __future__ import annotations

import cv2
import jax.numpy as jnp
import numpy as np

from benchmarks import ststnet_release
from mmnet_jax.models import ststnet
from tests.parity_utils import load_fixture, recipe_state_dict


def test_the_release_check_reads_weights_images_and_log(tmp_path, capsys):
    manifest, _ = load_fixture("ststnet")
    weights, flow_dir = tmp_path / "STSTNet_Weights", tmp_path / "norm_u_v_os"
    weights.mkdir()
    rng = np.random.default_rng(0)
    log = []
    for seed, subject in enumerate(["006", "sub01"]):
        sd = {k: v.astype(np.float32) for k, v in recipe_state_dict(manifest, seed).items()}
        np.savez(weights / f"{subject}.npz", **sd)
        images, labels = [], []
        for label in (0, 2):
            folder = flow_dir / subject / "u_test" / str(label)
            folder.mkdir(parents=True)
            for i in range(2):
                image = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
                cv2.imwrite(str(folder / f"{subject}_{i}_{label} .png"), image)
                images.append(image.astype(np.float32))
                labels.append(label)
        model = ststnet.params.from_torch(sd, ststnet.STSTNetConfig())
        model.eval()
        preds = np.asarray(model(jnp.asarray(np.stack(images)))).argmax(-1).tolist()
        log += [f"Subject: {subject} ", f"Predicted   : {preds} ", f"Ground Truth: {labels} "]
    (tmp_path / "log.txt").write_text("\n".join(log) + "\n")
    argv = ["--weights", weights, "--flow_dir", flow_dir, "--log", tmp_path / "log.txt",
            "--channel_orders", "012,210"]  # fmt: skip
    assert ststnet_release.main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert "2 subjects, 8 test images" in out
    row = next(line for line in out.splitlines() if line.startswith("| 012 |"))
    assert row.endswith("| 2/2 |")  # each subject's predictions as the log has them
    assert "| 210 |" in out
