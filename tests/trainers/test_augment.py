"""trainers/augment.py: every op's shape, dtype and reproducibility; each op's statistics."""

from __future__ import annotations

import pytest
import torch

from trainers.augment import AUGMENTS, Pipeline, get_augment, list_augments
from trainers.imageops import rotation, warp

N = 2000  # samples for the statistics: +-3% at p = 0.5 is ~3 standard deviations


def images(n=64, c=3, h=16, w=16, seed=0) -> torch.Tensor:
    return torch.randint(1, 255, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def run(name, params, x, seed=0):
    op = get_augment(name, params)
    x = x.float() if op.floats else x
    return op(x, torch.Generator().manual_seed(seed))


# params that make each op act on (nearly) every sample, so seeds must differ
ACTIVE = {
    "resize": {"size": 20},
    "perspective": {"p": 1.0},
    "random_erasing": {"p": 1.0},
    "grayscale": {"p": 0.5},
    "color_jitter": {"hue": 0.1},
    "affine": {"degrees": 10},
}


def test_every_op_is_registered_with_its_parameters():
    assert sorted(AUGMENTS.configs()) == list_augments()


def test_unknown_op_lists_the_valid_ones():
    with pytest.raises(KeyError, match="did you mean 'hflip'"):
        get_augment("hflp")


@pytest.mark.parametrize("name", list_augments())
def test_op_shape_dtype_and_seeds(name):
    x = images()
    op = get_augment(name, ACTIVE.get(name))
    a, b, c = run(name, ACTIVE.get(name), x, 1), run(name, ACTIVE.get(name), x, 1), run(name, ACTIVE.get(name), x, 2)
    assert a.shape == (64, 3, *op.output_size(16, 16))
    assert a.dtype == (torch.float32 if op.floats else torch.uint8)
    assert torch.equal(a, b), "the same seed must repeat exactly"
    if name != "resize":  # resize is deterministic
        assert not torch.equal(a, c), "two seeds must differ"
    assert float(a.float().min()) >= 0 and float(a.float().max()) <= 255
    assert op.eval(x.float()).shape == a.shape  # evaluation images get the same size


@pytest.mark.parametrize("name", ["hflip", "vflip"])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_flip_rate_is_p(name, p):
    x = images(N, 1, 4, 4)
    flipped = x.flip(3 if name == "hflip" else 2)
    out = run(name, {"p": p}, x)
    rate = (out == flipped).flatten(1).all(1).float().mean().item()
    assert abs(rate - p) < 0.03


def test_random_crop_offsets_stay_within_padding():
    pad, h = 3, 8
    x = torch.arange(1, h * h + 1, dtype=torch.uint8).view(1, 1, h, h).expand(N, 1, h, h)
    out = run("random_crop", {"padding": pad}, x)
    # output pixel (r, c) is original pixel (r + dy - pad, c + dx - pad) for a crop offset (dy, dx)
    center = out[:, 0, h // 2, h // 2].long() - 1  # inside the original for any offset
    dy, dx = center // h - h // 2 + pad, center % h - h // 2 + pad
    assert dy.min() == 0 and dy.max() == 2 * pad and dx.min() == 0 and dx.max() == 2 * pad
    counts = torch.bincount(dy * (2 * pad + 1) + dx, minlength=(2 * pad + 1) ** 2).float()
    assert counts.min() > 0.5 * counts.mean()  # every offset, roughly uniformly
    assert (out.float().mean((1, 2, 3)) <= x.float().mean()).all()  # only zero padding comes in


def test_random_crop_to_a_size_and_center_in_eval():
    op = get_augment("random_crop", {"size": 6, "padding": 0})
    x = images(8, 3, 10, 10)
    assert op(x, torch.Generator()).shape == (8, 3, 6, 6)
    assert torch.equal(op.eval(x), x[:, :, 2:8, 2:8])


def test_random_erasing_area_within_scale():
    x = images(N, 1, 16, 16)
    out = run("random_erasing", {"p": 1.0, "scale": [0.1, 0.3], "value": 0.0}, x)
    share = (out == 0).flatten(1).float().mean(1)
    assert share.min() >= 0.05 and share.max() <= 0.35  # rounding and clipping at the borders
    assert 0.15 < share.mean() < 0.25


def test_random_erasing_probability():
    x = images(N, 1, 8, 8)
    out = run("random_erasing", {"p": 0.4, "value": 0.0}, x)
    assert abs((out == 0).flatten(1).any(1).float().mean().item() - 0.4) < 0.03


def test_cutout_square_is_clipped_at_borders():
    x = images(N, 1, 16, 16)
    out = run("cutout", {"size": 6, "value": 0.0}, x)
    area = (out == 0).flatten(1).sum(1)
    assert area.max() == 36 and area.min() >= 9  # a corner keeps at least a quarter (3x3)


def test_grayscale_rate_and_gray():
    x = images(N, 3, 4, 4)
    out = run("grayscale", {"p": 0.25}, x)
    gray = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    assert abs(gray.float().mean().item() - 0.25) < 0.03


def test_brightness_factor_within_range():
    x = images(N, 3, 4, 4).clamp(10, 100)
    out = run("color_jitter", {"brightness": 0.4, "contrast": 0, "saturation": 0, "hue": 0}, x)
    ratio = out / x.float()
    factor = ratio.flatten(1).mean(1)
    assert torch.allclose(ratio, factor.view(-1, 1, 1, 1).expand_as(ratio), atol=1e-4)  # one factor per image
    assert factor.min() >= 0.6 - 1e-4 and factor.max() <= 1.4 + 1e-4
    assert factor.min() < 0.65 and factor.max() > 1.35


def test_contrast_keeps_mean_gray_and_hue_keeps_gray():
    x = images(256, 3, 8, 8).float()
    out = run("color_jitter", {"brightness": 0, "contrast": 0.5, "saturation": 0, "hue": 0}, x.clamp(60, 190))
    mean = lambda t: (0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]).mean((1, 2))  # noqa: E731
    assert torch.allclose(mean(out), mean(x.clamp(60, 190)), atol=1e-3)
    gray = torch.full((16, 3, 4, 4), 120.0)
    assert torch.allclose(run("color_jitter", {"brightness": 0, "contrast": 0, "hue": 0.5, "saturation": 0.5}, gray), gray, atol=1e-3)


@pytest.mark.parametrize(
    "name, params",
    [
        ("rotate", {"degrees": 0}),
        ("affine", {"degrees": 0, "translate": [0, 0], "scale": [1, 1], "shear": 0}),
        ("perspective", {"p": 0.0}),
        ("random_resized_crop", {"scale": [1, 1], "ratio": [1, 1]}),
        ("color_jitter", {"brightness": 0, "contrast": 0, "saturation": 0, "hue": 0}),
    ],
)
def test_resampling_ops_at_zero_strength_are_identity(name, params):
    x = images(16, 3, 12, 12)
    assert torch.allclose(run(name, params, x), x.float(), atol=1e-3)


def test_rotate_turns_about_the_center():
    x = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    x[0, 0, 4, 4] = 200
    x[0, 0, 4, 8] = 100  # right of the center
    turned = warp(x.float(), rotation(torch.tensor([90.0])), torch.zeros(1, 2))
    assert turned[0, 0, 4, 4] == pytest.approx(200, abs=1)
    assert turned[0, 0, 8, 4] == pytest.approx(100, abs=1)  # x right -> y down for +90 degrees


def test_affine_translation_bounded():
    x = torch.zeros(N, 1, 11, 11, dtype=torch.uint8)
    x[:, 0, 5, 5] = 255
    out = run("affine", {"translate": [0.2, 0.2], "scale": [1, 1]}, x)
    peak = out.flatten(1).argmax(1)
    rows, cols = peak // 11 - 5, peak % 11 - 5
    assert rows.abs().max() <= 2 and cols.abs().max() <= 2 and rows.abs().max() >= 1


def test_resize_and_random_resized_crop_sizes():
    x = images(4, 3, 32, 32)
    assert run("resize", {"size": 96}, x).shape == (4, 3, 96, 96)
    assert get_augment("resize", {"size": 8}).output_size(32, 64) == (8, 16)  # shorter side
    assert run("random_resized_crop", {"size": 24}, x).shape == (4, 3, 24, 24)


def test_pipeline_normalises_and_keeps_order():
    mean, std = (0.5, 0.25, 0.1), (0.2, 0.1, 0.05)
    pipe = Pipeline([("resize", {"size": 8}), ("hflip", None)], mean, std, "cpu")
    x = (torch.tensor(mean).view(1, 3, 1, 1) * 255).expand(4, 3, 4, 4).round().to(torch.uint8)
    out = pipe.train(x, torch.Generator().manual_seed(0))
    assert out.shape == (4, 3, 8, 8) and out.dtype == torch.float32
    assert out.abs().max() < 0.05  # the mean image normalises to ~0
    assert pipe.output_shape(3, 4, 4) == (3, 8, 8)
    assert torch.equal(pipe.eval(x), Pipeline([("resize", {"size": 8})], mean, std, "cpu").eval(x))


def test_pipeline_without_ops_only_normalises():
    pipe = Pipeline([], (0.0,), (1.0,), "cpu")
    x = images(2, 1, 4, 4)
    assert torch.allclose(pipe.train(x, torch.Generator()), x.float() / 255)


@pytest.mark.parametrize("channels", [1, 2, 4])
@pytest.mark.parametrize("name", list_augments())
def test_ops_work_for_any_channel_count(name, channels):
    x = images(8, channels, 12, 12)
    out = run(name, ACTIVE.get(name), x)
    assert out.shape[:2] == (8, channels)
