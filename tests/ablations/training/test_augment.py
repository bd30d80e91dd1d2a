from __future__ import annotations

import torch

from ablations.training.augment import Normalize, random_crop, random_flip


def _coords(n, size=32):
    """Images whose pixel values encode their own (row, col), so crops can be decoded."""
    rows = torch.arange(size).view(1, 1, size, 1).expand(n, 1, size, size)
    cols = torch.arange(size).view(1, 1, 1, size).expand(n, 1, size, size)
    return torch.cat([rows + 1, cols + 1, torch.zeros_like(rows)], 1).to(torch.uint8)


def test_crop_offsets_stay_within_the_padding():
    x = _coords(2000)
    gen = torch.Generator().manual_seed(0)
    out = random_crop(x, 4, gen)
    assert out.shape == x.shape and out.dtype == torch.uint8
    # Each crop is a shifted window: where not padding, pixel (i, j) holds (i + dy, j + dx).
    shifts = set()
    for k in range(0, 2000, 50):
        inside = out[k, 0] > 0
        dy = (out[k, 0].long() - 1 - torch.arange(32).view(32, 1))[inside].unique()
        dx = (out[k, 1].long() - 1 - torch.arange(32).view(1, 32))[out[k, 1] > 0].unique()
        assert len(dy) == 1 and len(dx) == 1
        shifts.add((int(dy), int(dx)))
    assert all(-4 <= dy <= 4 and -4 <= dx <= 4 for dy, dx in shifts)
    assert len(shifts) > 15  # offsets really vary


def test_padding_is_zero_and_every_offset_occurs():
    x = torch.full((4000, 1, 8, 8), 255, dtype=torch.uint8)
    out = random_crop(x, 2, torch.Generator().manual_seed(1))
    zero_rows = (out[:, 0].amax(2) == 0).sum(1)  # padded rows show up as all-zero rows
    zero_cols = (out[:, 0].amax(1) == 0).sum(1)
    assert set(zero_rows.tolist()) == {0, 1, 2}  # offsets 0..4 in a padding of 2
    assert set(zero_cols.tolist()) == {0, 1, 2}
    assert ((out == 0) | (out == 255)).all()


def test_flip_rate_is_about_one_half():
    x = _coords(4000)
    out = random_flip(x, torch.Generator().manual_seed(2))
    flipped = (out[:, 1, 0, 0] == 32).float().mean().item()
    assert 0.46 < flipped < 0.54
    same = out[:, 1, 0, 0] == 1
    assert torch.equal(out[same], x[same])
    assert torch.equal(out[~same], x[~same].flip(3))


def test_normalize():
    norm = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), torch.device("cpu"))
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    torch.testing.assert_close(norm(x)[0, :, 0], torch.tensor([[-2.0, 2.0]] * 3))
