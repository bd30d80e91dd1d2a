"""Published numbers of the tables the suites reproduce, by table id.

Hu et al., "Squeeze-and-Excitation Networks", TPAMI (arXiv 1709.01507): Tables 10-16 are
ImageNet, SE-ResNet-50, single-crop 224 (top-1/top-5 error, %, Params in M, GFLOPs); Tables
4 and 5 are CIFAR-10 / CIFAR-100 top-1 error. ``None`` where the paper prints no value.
Each table's title, dataset, reference rows and citation are in sweeps.yaml with its rows.

ECA-Net's Table 2 (the ``eca`` suite's ``ECA2``) has no entry: its values could not be
checked against the paper where this was written, and a table shows nothing rather than an
unchecked number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    label: str
    top1_err: float | None = None
    top5_err: float | None = None
    params_m: float | None = None
    gflops: float | None = None


_CIFAR_DEPTH = {
    4: (6.37, 5.21, 5.46, 4.39),
    5: (26.88, 23.85, 24.33, 21.31),
}

PUBLISHED: dict[int | str, tuple[PaperRow, ...]] = {
    **{
        table: tuple(PaperRow(label, err) for label, err in zip(
            ("ResNet-110", "SE-ResNet-110", "ResNet-164", "SE-ResNet-164"), errors, strict=True))
        for table, errors in _CIFAR_DEPTH.items()
    },
    10: (
        PaperRow("2", 22.29, 6.00, 45.7),
        PaperRow("4", 22.25, 6.09, 35.7),
        PaperRow("8", 22.26, 5.99, 30.7),
        PaperRow("16", 22.28, 6.03, 28.1),
        PaperRow("32", 22.72, 6.20, 26.9),
        PaperRow("original", 23.30, 6.55, 25.6),
    ),
    11: (PaperRow("Max", 22.57, 6.09), PaperRow("Avg", 22.28, 6.03)),
    12: (PaperRow("ReLU", 23.47, 6.98), PaperRow("Tanh", 23.00, 6.38), PaperRow("Sigmoid", 22.28, 6.03)),
    13: (
        PaperRow("ResNet-50", 23.30, 6.55, 25.6, 3.86),
        PaperRow("SE_Stage_2", 23.03, 6.48, 25.6, 3.86),
        PaperRow("SE_Stage_3", 23.04, 6.32, 25.7, 3.86),
        PaperRow("SE_Stage_4", 22.68, 6.22, 26.4, 3.86),
        PaperRow("SE_All", 22.28, 6.03, 28.1, 3.87),
    ),
    14: (
        PaperRow("SE", 22.28, 6.03),
        PaperRow("SE-PRE", 22.23, 6.00),
        PaperRow("SE-POST", 22.78, 6.35),
        PaperRow("SE-Identity", 22.20, 6.15),
    ),
    15: (PaperRow("SE", 22.28, 6.03, 28.1, 3.87), PaperRow("SE_3x3", 22.48, 6.02, 25.8, 3.86)),
    16: (
        PaperRow("ResNet-50", 23.30, 6.55, 25.6, 3.86),
        PaperRow("NoSqueeze", 22.93, 6.39, 28.1, 4.27),
        PaperRow("SE", 22.28, 6.03, 28.1, 3.87),
    ),
}


def published(table: int | str, label: str) -> PaperRow | None:
    """The published numbers of one row, if its table has any."""
    return next((r for r in PUBLISHED.get(table, ()) if r.label == label), None)
