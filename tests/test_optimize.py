"""Optimization-based transfer: schedule, losses that fall, colour, multi-style, determinism."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from painterly.errors import PainterlyError
from painterly.methods.optimize import OptimizeConfig, optimize, plan_scales
from painterly.methods.optimize_spec import optimize_memory
from painterly.ops.resize import resize_to_long_side
from painterly.progress import Cancelled
from painterly.ops.color import rgb_to_yiq

FAST = dict(steps=6, min_size=32, precision="fp32")


def stripes(height=48, width=64, period=6, colour=(1.0, 0.2, 0.1)) -> torch.Tensor:
    image = torch.zeros(1, 3, height, width)
    band = (torch.arange(width) // (period // 2)) % 2 == 0
    for channel, value in enumerate(colour):
        image[0, channel, :, band] = value
    return image


def photo(height=48, width=64, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 4, 5, generator=generator)
    return torch.nn.functional.interpolate(low, size=(height, width), mode="bicubic").clamp(0, 1)


def test_plan_scales_puts_most_steps_at_low_resolution():
    plan = plan_scales(512, 128, 70, 0.5)
    assert [(stage.long_side, stage.steps) for stage in plan] == [(128, 40), (256, 20), (512, 10)]
    assert sum(stage.steps for stage in plan_scales(1000, 128, 201, 0.5)) == 201
    assert [stage.long_side for stage in plan_scales(100, 128, 5, 0.5)] == [100]


def test_resize_keeps_aspect_ratio():
    assert resize_to_long_side(torch.rand(1, 3, 30, 60), 20).shape == (1, 3, 10, 20)


def test_losses_fall_and_output_has_requested_size(vgg):
    events = []
    config = OptimizeConfig(size=48, steps=12, min_size=24, precision="fp32")
    result = optimize(vgg, photo(), [(stripes(), 1.0)], config, progress=events.append)
    assert result.shape == (1, 3, 36, 48)
    assert 0 <= result.min() and result.max() <= 1
    assert [event.step for event in events] == list(range(0, 13))
    assert events[0].stage == "preparing" and events[0].fraction == 0
    # The peak memory is estimated before the work, for the output's size (48×36 here), and only then.
    assert events[0].memory == optimize_memory(config, 48, 36, torch.float32) and events[0].memory > 0
    assert all(event.memory is None for event in events[1:])
    assert events[-1].fraction == pytest.approx(1.0)
    final_scale = [event for event in events if event.stage.endswith("(48 px)")]
    assert final_scale[-1].losses["style"] < final_scale[0].losses["style"]
    assert events[-1].losses["total"] < events[1].losses["total"]


def test_strength_zero_keeps_the_content(vgg):
    content = photo()
    config = OptimizeConfig(size=64, strength=0.0, tv_weight=0.0, **FAST)
    result = optimize(vgg, content, [(stripes(), 1.0)], config)
    assert (result - content).abs().mean() < 0.01


def test_same_seed_same_image_and_noise_init_depends_on_seed(vgg):
    config = OptimizeConfig(size=32, init="noise", seed=3, **{**FAST, "min_size": 32, "steps": 3})
    first = optimize(vgg, photo(), [(stripes(), 1.0)], config)
    second = optimize(vgg, photo(), [(stripes(), 1.0)], config)
    assert torch.equal(first, second)
    other = optimize(vgg, photo(), [(stripes(), 1.0)], OptimizeConfig(**{**config.to_dict(), "seed": 4}))
    assert not torch.equal(first, other)


def test_style_weights_steer_the_blend(vgg):
    red, blue = stripes(colour=(1.0, 0.1, 0.1)), stripes(colour=(0.1, 0.1, 1.0))
    config = OptimizeConfig(size=32, steps=20, min_size=32, precision="fp32", style_weight=100.0)
    grey = torch.full((1, 3, 32, 32), 0.5)
    mostly_red = optimize(vgg, grey, [(red, 0.9), (blue, 0.1)], config)
    mostly_blue = optimize(vgg, grey, [(red, 0.1), (blue, 0.9)], config)
    redness = lambda image: (image[:, 0] - image[:, 2]).mean().item()  # noqa: E731
    assert redness(mostly_red) > redness(mostly_blue) + 0.05


def test_cancel_from_progress_callback(vgg):
    with pytest.raises(Cancelled):
        optimize(vgg, photo(), [(stripes(), 1.0)], OptimizeConfig(size=32, **FAST), progress=lambda event: False)


def test_preview_images_are_sent_every_n_steps(vgg):
    events = []
    optimize(vgg, photo(), [(stripes(), 1.0)], OptimizeConfig(size=32, preview_every=2, **FAST), progress=events.append)
    with_preview = [event.step for event in events if event.preview is not None]
    assert with_preview == [2, 4, 6]
    assert events[2].step == 2 and events[2].preview.shape[1] == 3


def test_bad_options_are_clear_errors(vgg):
    with pytest.raises(PainterlyError, match="optimizer"):
        OptimizeConfig(optimizer="sgd").validate()
    with pytest.raises(PainterlyError, match="no style"):
        optimize(vgg, photo(), [], OptimizeConfig(size=32, **FAST))
    with pytest.raises(PainterlyError, match="build it up to"):
        optimize(vgg, photo(), [(stripes(), 1.0)], OptimizeConfig(size=32, style_layers=("relu5_4",), **FAST))


def test_adam_and_bf16_run(vgg):
    config = OptimizeConfig(size=32, steps=4, min_size=32, optimizer="adam", precision="bf16")
    result = optimize(vgg, photo(), [(stripes(), 1.0)], config)
    assert result.dtype == torch.float32 and torch.isfinite(result).all()


def test_luminance_preservation_keeps_content_chroma(vgg):
    from painterly.api import Stylizer
    from painterly.io.images import image_to_tensor

    content = (photo(seed=5)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
    painting = (stripes(colour=(0.1, 1.0, 0.2))[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
    stylizer = Stylizer(device="cpu")
    stylizer._networks[("relu5_1", "max")] = vgg
    result = stylizer.stylize(content, painting, size=64, preserve_color="luminance", **FAST)
    plain = stylizer.stylize(content, painting, size=64, **FAST)
    content_iq = rgb_to_yiq(image_to_tensor(content_image := __import__("PIL.Image").Image.fromarray(content)))[:, 1:]
    chroma_error = (rgb_to_yiq(image_to_tensor(result))[:, 1:] - content_iq).abs().mean().item()
    plain_error = (rgb_to_yiq(image_to_tensor(plain))[:, 1:] - content_iq).abs().mean().item()
    assert content_image.size == result.size
    assert chroma_error < 0.02 < plain_error


def test_default_steps_depend_on_size():
    assert OptimizeConfig().total_steps == 140
    assert OptimizeConfig(size=1024).total_steps == 100
    assert OptimizeConfig(size=1024, steps=7).total_steps == 7


def test_upsampling_with_full_detail_restores_the_photo():
    from painterly.methods.optimize import upsample_with_detail

    content = photo(seed=2)
    coarse = torch.nn.functional.interpolate(content, size=(12, 16), mode="bicubic", align_corners=False, antialias=True)
    assert torch.allclose(upsample_with_detail(coarse, content, 1.0), content, atol=1e-5)
    blurred = upsample_with_detail(coarse, content, 0.0)
    assert (blurred - content).abs().mean() > 0.001


def test_laplacian_pyramid_round_trips_an_image():
    from painterly.ops.pyramid import collapse_laplacian_pyramid, laplacian_pyramid

    image = photo(height=37, width=64, seed=7)  # an odd side: the bands round up
    bands = laplacian_pyramid(image, 4)
    assert [tuple(band.shape[-2:]) for band in bands] == [(37, 64), (19, 32), (10, 16), (5, 8)]
    assert torch.allclose(collapse_laplacian_pyramid(bands), image, atol=1e-6)
    # the finer bands hold detail only: their mean is near zero, the coarsest holds the colours
    assert bands[0].abs().mean() < 0.05 < bands[-1].mean()


def test_laplacian_parameterization_loss_falls(vgg):
    events = []
    config = OptimizeConfig(size=48, steps=10, min_size=48, precision="fp32", parameterization="laplacian")
    result = optimize(vgg, photo(), [(stripes(), 1.0)], config, progress=events.append)
    assert result.shape == (1, 3, 36, 48) and 0 <= result.min() and result.max() <= 1
    assert events[-1].losses["total"] < 0.8 * events[1].losses["total"]


def test_split_top_scale_measures_deep_layers_at_half_size(vgg):
    from painterly.methods.optimize import split_layers

    config = OptimizeConfig(size=64, min_size=32, steps=8, precision="fp32", full_size_layers=("relu1_1", "relu2_1"))
    full, half = split_layers(config, split=True)
    assert full == ("relu1_1", "relu2_1") and set(half) == {"relu3_1", "relu4_1", "relu5_1", "relu4_2"}
    assert split_layers(config, split=False) == (tuple(dict.fromkeys([*config.style_layers, *config.content_layers])), ())
    assert split_layers(OptimizeConfig(full_size_layers=()), split=True)[1] == ()
    events = []
    result = optimize(vgg, photo(), [(stripes(), 1.0)], config, progress=events.append)
    assert result.shape == (1, 3, 48, 64)
    top = [event for event in events if event.stage.endswith("(64 px)")]
    assert len(top) >= 2 and top[-1].losses["total"] < top[0].losses["total"]


def test_early_stopping_stops_a_scale_when_the_loss_settles(vgg):
    from painterly.methods.optimize import loss_settled

    assert not loss_settled([10, 8, 6, 4, 2, 1], 0.01)
    assert loss_settled([10, 9.99, 9.99, 9.98, 9.98, 9.98], 0.01)
    assert not loss_settled([10, 9.99, 9.99], 0.01)  # not enough steps yet
    assert not loss_settled([10, 9.99, 9.99, 9.98, 9.98, 9.98], 0.0)

    config = OptimizeConfig(size=64, min_size=32, steps=40, fine_share=1.0, precision="fp32")
    all_steps, stopped = [], []
    optimize(vgg, photo(), [(stripes(), 1.0)], config, progress=all_steps.append)
    optimize(vgg, photo(), [(stripes(), 1.0)], dataclasses.replace(config, stop_tolerance=0.5), progress=stopped.append)
    assert len(all_steps) == 41
    assert len(stopped) < 41
    # the progress still ends at the planned total, and steps never go backwards
    assert stopped[-1].step == 40 and stopped[-1].fraction == pytest.approx(1.0)
    assert all(a.step < b.step for a, b in zip(stopped, stopped[1:]))


def test_memory_estimate_grows_with_size_and_history():
    from painterly.methods.optimize import estimate_memory

    small = estimate_memory(OptimizeConfig(size=512, precision="fp32"), 384, 512)
    large = estimate_memory(OptimizeConfig(size=1024, precision="fp32"), 768, 1024)
    assert 2.5 * small < large < 4.5 * small
    # L-BFGS keeps a pair of image-sized vectors per step, up to its cap in bytes (14 pairs at 1024×768).
    more_steps = estimate_memory(OptimizeConfig(size=1024, steps=400, fine_share=1.0, precision="fp32"), 768, 1024)
    assert more_steps == large
    few = estimate_memory(OptimizeConfig(size=256, steps=12, precision="fp32"), 192, 256)
    many = estimate_memory(OptimizeConfig(size=256, steps=120, precision="fp32"), 192, 256)
    assert many == few + 2 * (50 - 6) * 3 * 192 * 256 * 4  # 6 → 60 steps at the top scale, 50 of them kept


def test_lbfgs_history_is_capped_in_bytes():
    from painterly.methods.optimize_spec import LBFGS_HISTORY, LBFGS_HISTORY_BYTES, lbfgs_history

    assert lbfgs_history(3 * 64 * 64) == LBFGS_HISTORY
    for numel in (3 * 1024 * 768, 3 * 2048 * 1536):
        kept = lbfgs_history(numel)
        assert kept < LBFGS_HISTORY and (kept == 5 or kept * 2 * 4 * numel <= LBFGS_HISTORY_BYTES)


def test_quality_presets_set_the_steps_unless_given():
    assert [OptimizeConfig(quality=q).total_steps for q in ("draft", "default", "best")] == [60, 140, 300]
    assert [OptimizeConfig(quality=q, size=1024).total_steps for q in ("draft", "default", "best")] == [40, 100, 200]
    assert OptimizeConfig(quality="best", steps=9).total_steps == 9
    with pytest.raises(PainterlyError, match="quality"):
        OptimizeConfig(quality="ultra").validate()


def test_the_half_precision_gram_matrix_follows_the_float32_one(vgg):
    """bf16 Gram products (float32 sums in the kernel) stay within 1 % of float32's on real features,
    and an optimization with them lands where one with float32 products does."""
    from painterly.devices import autocast
    from painterly.losses import gram_matrix

    with torch.no_grad(), autocast(torch.device("cpu"), torch.bfloat16):
        features = vgg(photo(seed=4).contiguous(memory_format=torch.channels_last), ["relu1_1", "relu3_1"])
    for value in features.values():
        exact, half = gram_matrix(value), gram_matrix(value, half_products=True)
        assert half.dtype == exact.dtype == torch.float32
        assert ((half - exact).norm() / exact.norm()).item() < 0.01
    content, style = photo(seed=5), photo(seed=6)
    results = [optimize(vgg, content, [(style, 1.0)], OptimizeConfig(size=64, min_size=32, steps=6, precision="bf16",
                                                                        half_gram=half))
               for half in (False, True)]  # fmt: skip
    assert (results[0] - results[1]).abs().mean().item() < 0.02


def test_anystyle_start_stands_in_for_the_lower_scales(vgg):
    from painterly.io.images import tensor_to_image
    from painterly.methods.optimize_stylizer import OptimizeStylizer, anystyle_start, top_scale_only

    config = OptimizeConfig(size=64, steps=12, min_size=16, precision="fp32", init="anystyle")
    run = top_scale_only(config)
    assert (run.size, run.min_size, run.steps) == (64, 64, plan_scales(64, 16, 12, 1.0)[-1].steps) == (64, 64, 4)
    content, painting = photo(48, 64), stripes()
    start = anystyle_start(content, [(painting, 1.0)], 1.0, torch.device("cpu"), lambda layer, pooling: vgg)
    assert start.shape == content.shape and 0 <= start.min() and start.max() <= 1
    assert (start - content).abs().mean() > 0.02  # the network painted the photo
    stylizer = OptimizeStylizer(config, [(tensor_to_image(painting), 1.0)], torch.device("cpu"), lambda layer, pooling: vgg)
    events = []
    result = stylizer.stylize_image(tensor_to_image(content), progress=events.append)
    assert result.size == (64, 48)
    # One scale, with the top scale's share of the steps, starting from the network's painting.
    assert [event.stage for event in events[1:]] == ["scale 1/1 (64 px)"] * 4
    assert events[-1].losses["total"] < events[1].losses["total"]


def test_an_init_that_is_no_mode_and_no_file_is_a_clear_error(vgg, tmp_path):
    from painterly.io.images import tensor_to_image
    from painterly.methods.optimize_stylizer import OptimizeStylizer

    config = OptimizeConfig(size=32, steps=2, min_size=32, precision="fp32", init=str(tmp_path / "missing.jpg"))
    stylizer = OptimizeStylizer(config, [(tensor_to_image(stripes()), 1.0)], torch.device("cpu"), lambda layer, pooling: vgg)
    with pytest.raises(PainterlyError, match=r"^init \(one of content, noise, anystyle, or an image\) '.*missing.jpg' is neither a file"):
        stylizer.stylize_image(tensor_to_image(photo(24, 32)))
