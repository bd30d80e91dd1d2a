"""Batched tensor augmentation (no per-image PIL work): pad + random crop, horizontal flip."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each image by ``padding`` and crop back to its size at a random offset.

    Offsets are uniform in [0, 2 * padding] per image and axis, as torchvision's
    ``RandomCrop(size, padding)``; works on any dtype (uint8 included) and device.
    """
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=generator.device)
    offsets = offsets.to(x.device)
    rows = (offsets[0, :, None] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (offsets[1, :, None] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    padded = padded.gather(2, rows.expand(n, c, h, w + 2 * padding))
    return padded.gather(3, cols.expand(n, c, h, w))


def random_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image left-right with probability ``p``."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device) < p
    return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)


class Normalize:
    """uint8 images -> float, minus mean, over std (per channel, 0-1 scale statistics)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.scale - self.shift
