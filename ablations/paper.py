"""The paper's ablation tables: titles, row labels in the paper's order, and its numbers.

Hu et al., "Squeeze-and-Excitation Networks", TPAMI (arXiv 1709.01507). Tables 10-16 are
ImageNet, SE-ResNet-50, single-crop 224; Tables 4 and 5 are CIFAR-10 / CIFAR-100 top-1
error. ``None`` where the paper prints no value.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import unknown


@dataclass(frozen=True)
class PaperRow:
    label: str
    top1_err: float | None = None
    top5_err: float | None = None
    params_m: float | None = None
    gflops: float | None = None


@dataclass(frozen=True)
class PaperTable:
    """One table; ``reference`` maps a row to the row it is compared with (seed-noise test)."""

    number: int
    title: str
    dataset: str
    rows: tuple[PaperRow, ...]
    reference: dict[str, str]

    def row(self, label: str) -> PaperRow | None:
        return next((r for r in self.rows if r.label == label), None)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.rows]

    def reference_for(self, label: str) -> str | None:
        return self.reference.get(label)


def _refs(rows: list[str], ref: str) -> dict[str, str]:
    return {r: ref for r in rows if r != ref}


_IMAGENET = "ImageNet (SE-ResNet-50)"

PAPER_TABLES: dict[int, PaperTable] = {
    t.number: t
    for t in (
        PaperTable(
            4,
            "Classification error (%) on CIFAR-10",
            "cifar10",
            (
                PaperRow("ResNet-110", 6.37),
                PaperRow("SE-ResNet-110", 5.21),
                PaperRow("ResNet-164", 5.46),
                PaperRow("SE-ResNet-164", 4.39),
            ),
            {"SE-ResNet-110": "ResNet-110", "SE-ResNet-164": "ResNet-164"},
        ),
        PaperTable(
            5,
            "Classification error (%) on CIFAR-100",
            "cifar100",
            (
                PaperRow("ResNet-110", 26.88),
                PaperRow("SE-ResNet-110", 23.85),
                PaperRow("ResNet-164", 24.33),
                PaperRow("SE-ResNet-164", 21.31),
            ),
            {"SE-ResNet-110": "ResNet-110", "SE-ResNet-164": "ResNet-164"},
        ),
        PaperTable(
            10,
            "Reduction ratio r",
            _IMAGENET,
            (
                PaperRow("2", 22.29, 6.00, 45.7),
                PaperRow("4", 22.25, 6.09, 35.7),
                PaperRow("8", 22.26, 5.99, 30.7),
                PaperRow("16", 22.28, 6.03, 28.1),
                PaperRow("32", 22.72, 6.20, 26.9),
                PaperRow("original", 23.30, 6.55, 25.6),
            ),
            _refs(["2", "4", "8", "16", "32", "original"], "16"),
        ),
        PaperTable(
            11,
            "Squeeze operator",
            _IMAGENET,
            (PaperRow("Max", 22.57, 6.09), PaperRow("Avg", 22.28, 6.03)),
            {"Max": "Avg"},
        ),
        PaperTable(
            12,
            "Excitation operator",
            _IMAGENET,
            (
                PaperRow("ReLU", 23.47, 6.98),
                PaperRow("Tanh", 23.00, 6.38),
                PaperRow("Sigmoid", 22.28, 6.03),
            ),
            _refs(["ReLU", "Tanh", "Sigmoid"], "Sigmoid"),
        ),
        PaperTable(
            13,
            "SE blocks in different stages",
            _IMAGENET,
            (
                PaperRow("ResNet-50", 23.30, 6.55, 25.6, 3.86),
                PaperRow("SE_Stage_2", 23.03, 6.48, 25.6, 3.86),
                PaperRow("SE_Stage_3", 23.04, 6.32, 25.7, 3.86),
                PaperRow("SE_Stage_4", 22.68, 6.22, 26.4, 3.86),
                PaperRow("SE_All", 22.28, 6.03, 28.1, 3.87),
            ),
            _refs(["ResNet-50", "SE_Stage_2", "SE_Stage_3", "SE_Stage_4", "SE_All"], "ResNet-50"),
        ),
        PaperTable(
            14,
            "SE integration strategies",
            _IMAGENET,
            (
                PaperRow("SE", 22.28, 6.03),
                PaperRow("SE-PRE", 22.23, 6.00),
                PaperRow("SE-POST", 22.78, 6.35),
                PaperRow("SE-Identity", 22.20, 6.15),
            ),
            _refs(["SE", "SE-PRE", "SE-POST", "SE-Identity"], "SE"),
        ),
        PaperTable(
            15,
            "SE in the residual branch (SE_3x3)",
            _IMAGENET,
            (PaperRow("SE", 22.28, 6.03, 28.1, 3.87), PaperRow("SE_3x3", 22.48, 6.02, 25.8, 3.86)),
            {"SE_3x3": "SE"},
        ),
        PaperTable(
            16,
            "Effect of Squeeze",
            _IMAGENET,
            (
                PaperRow("ResNet-50", 23.30, 6.55, 25.6, 3.86),
                PaperRow("NoSqueeze", 22.93, 6.39, 28.1, 4.27),
                PaperRow("SE", 22.28, 6.03, 28.1, 3.87),
            ),
            _refs(["ResNet-50", "NoSqueeze", "SE"], "ResNet-50"),
        ),
    )
}


def paper_table(number: int) -> PaperTable:
    try:
        return PAPER_TABLES[number]
    except KeyError:
        raise unknown("paper table", number, PAPER_TABLES) from None
