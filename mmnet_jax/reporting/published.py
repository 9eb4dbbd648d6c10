"""Published figures that a report shows beside a run's own: MMNet's paper results and the
MEGC 2019 composite's, each with the selection rule behind it."""

from __future__ import annotations

from typing import Any

# MMNet's published results (accuracy %, F1), keyed by builder name and class count. All
# of them select, for every held-out subject, the epoch with the best test accuracy.
PAPER_RESULTS: dict[tuple[str, int], tuple[str, float, float]] = {
    ("casme2", 5): ("CASME II, 5 classes", 88.35, 0.8676),
    ("casme2", 3): ("CASME II, 3 classes", 95.51, 0.9494),
    ("samm", 3): ("SAMM, 3 classes", 90.22, 0.8391),
    ("mmew", 4): ("MMEW, 4 classes", 87.45, 0.8635),
}


# Published figures on the MEGC 2019 composite (442 clips of SMIC-HS, CASME II and SAMM,
# 3 classes, leave-one-subject-out over 68 subjects, UF1 and UAR over the pooled
# predictions), with the selection rule behind them. MMNet (IJCAI 2022) published none.
# HTNet: Wang, Zhang, Luo, Sankaranarayana, "HTNet for micro-expression recognition",
# Neurocomputing 602:128196, 2024 (arXiv:2307.14637), composite table; its released code
# (github.com/wangzhifengharrison/HTNet, HTNet_for_three_datasets_confusion_matrix.py)
# keeps each subject's best test-accuracy epoch ("best UF1 / best UAR").
PUBLISHED_COMPOSITE: list[dict[str, Any]] = [
    {
        "method": "STSTNet (Liong et al., FG 2019)",
        "uf1": 0.7353,
        "uar": 0.7605,
        "per_source_uf1": {},
        "selection": "not stated in the paper",
    },
    {
        "method": "STSTNet, its released per-subject weights (christy1206/STSTNet log)",
        "uf1": 0.7209,
        "uar": 0.725,
        "per_source_uf1": {},
        "selection": "the last of 800 epochs (main.py; reproduced by mmnet evaluate)",
    },
    {
        "method": "Off-ApexNet (Gan et al., Signal Process. Image Commun. 2019)",
        "uf1": 0.7196,
        "uar": 0.7096,
        "per_source_uf1": {},
        "selection": "not stated in the paper",
    },
    {
        "method": "HTNet (Neurocomputing 2024, arXiv:2307.14637)",
        "uf1": 0.8603,
        "uar": 0.8475,
        "per_source_uf1": {"casme2": 0.9532, "smic": 0.8049, "samm": 0.8131},
        "selection": "each subject's best test-accuracy epoch (its released code)",
    },
]


COMPOSITE_DATASET = "megc2019"


def paper_result(dataset: str, num_classes: int) -> tuple[str, float, float] | None:
    """The paper's (task, accuracy %, F1) for a dataset name and class count, or None."""
    return PAPER_RESULTS.get((str(dataset).split("/")[0], int(num_classes)))
