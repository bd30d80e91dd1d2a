"""Residual units with attention at any of the paper's integration points (Fig. 5, Tables 14-15).

Every unit computes ``act(shortcut(x) + branch(x))`` and holds four slots, all but one
``nn.Identity``: ``pre`` (SE-PRE, on the unit's input), ``identity`` (SE-Identity, on the
shortcut path), ``standard`` (on the branch before the sum) and ``post`` (SE-POST, after
the sum and its activation). ``inner`` (the paper's SE_3x3) sits inside the branch, right
after the 3x3 convolution and its BN/ReLU. A slot holds whatever module ``model.se.module``
names (:mod:`.attention`); with no SE config every slot is an identity, which is the plain
baseline through the same code.
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention import create_attention
from .config import SEConfig


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


def slot(channels: int, se: SEConfig | None, name: str) -> nn.Module:
    """The attention module for the slot ``name`` when ``se`` puts it there, else an identity."""
    if se is not None and se.integration == name:
        return create_attention(channels, se)
    return nn.Identity()


def projection(cin: int, cout: int, stride: int, norm: bool = True) -> nn.Module:
    if cin == cout and stride == 1:
        return nn.Identity()
    if not norm:
        return conv1x1(cin, cout, stride)
    return nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))


class SlottedUnit(nn.Module):
    """A unit whose attention module sits in one of its slots: ``se_<slot>``, or the branch's
    ``inner`` slot."""

    _attention_path: str | None = None

    def place_attention(self, se: SEConfig | None, inner: nn.Module | None) -> None:
        """Remember where ``se`` put the module (call once the slots are built)."""
        if se is None:
            self._attention_path = None
        elif se.integration == "inner":
            self._attention_path = next(name for name, m in self.named_modules() if m is inner)
        else:
            self._attention_path = f"se_{se.integration}"

    @property
    def attention(self) -> nn.Module | None:
        """The unit's attention module, in whichever slot it sits; None for a plain unit."""
        return None if self._attention_path is None else self.get_submodule(self._attention_path)


class ResidualUnit(SlottedUnit):
    """``out = post(act(identity(shortcut(x')) + standard(branch(x'))))``, ``x' = pre(x)``.

    ``inner``: the branch's ``inner`` slot, so that :attr:`attention` can find the unit's
    module wherever it sits.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        branch: nn.Module,
        shortcut: nn.Module,
        se: SEConfig | None,
        final_act: bool = True,
        inner: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.se_pre = slot(cin, se, "pre")
        self.branch = branch
        self.se_standard = slot(cout, se, "standard")
        self.shortcut = shortcut
        self.se_identity = slot(cout, se, "identity")
        self.act = nn.ReLU(inplace=True) if final_act else nn.Identity()
        self.se_post = slot(cout, se, "post")
        self._fused = getattr(self.se_standard, "fuses_residual", False)
        self.place_attention(se, inner)

    def forward(self, x: Tensor) -> Tensor:
        x = self.se_pre(x)
        branch, shortcut = self.branch(x), self.se_identity(self.shortcut(x))
        if self._fused:
            out = self.se_standard(branch, shortcut)  # shortcut + branch * s in one pass
        else:
            out = self.se_standard(branch) + shortcut
        return self.se_post(self.act(out))


def basic_unit(cin: int, cout: int, stride: int, se: SEConfig | None) -> ResidualUnit:
    """He et al. (2016) basic block: two 3x3 convs; ``inner`` SE after the first."""
    branch = nn.Sequential(
        conv3x3(cin, cout, stride),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        inner := slot(cout, se, "inner"),
        conv3x3(cout, cout),
        nn.BatchNorm2d(cout),
    )
    return ResidualUnit(cin, cout, branch, projection(cin, cout, stride), se, inner=inner)


def bottleneck_unit(
    cin: int,
    planes: int,
    stride: int,
    se: SEConfig | None,
    stride_in_1x1: bool = True,
    groups: int = 1,
    base_width: int = 64,
    expansion: int = 4,
) -> ResidualUnit:
    """1x1 -> 3x3 -> 1x1 bottleneck (ResNet / ResNeXt); ``inner`` SE after the 3x3 (SE_3x3)."""
    width = int(planes * base_width / 64) * groups
    cout = planes * expansion
    s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
    branch = nn.Sequential(
        conv1x1(cin, width, s1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        conv3x3(width, width, s3, groups),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        inner := slot(width, se, "inner"),
        conv1x1(width, cout),
        nn.BatchNorm2d(cout),
    )
    return ResidualUnit(cin, cout, branch, projection(cin, cout, stride), se, inner=inner)


def preact_bottleneck_unit(
    cin: int, planes: int, stride: int, se: SEConfig | None
) -> ResidualUnit:
    """Pre-activation bottleneck of ResNet-164 (He et al., "Identity Mappings", 2016)."""
    cout = planes * 4
    branch = nn.Sequential(
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        conv1x1(cin, planes),
        nn.BatchNorm2d(planes),
        nn.ReLU(inplace=True),
        conv3x3(planes, planes, stride),
        nn.BatchNorm2d(planes),
        nn.ReLU(inplace=True),
        inner := slot(planes, se, "inner"),
        conv1x1(planes, cout),
    )
    shortcut = projection(cin, cout, stride, norm=False)
    return ResidualUnit(cin, cout, branch, shortcut, se, final_act=False, inner=inner)
