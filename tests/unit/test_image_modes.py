"""Every image mode Pillow opens decodes to uint8 RGB, each mode's value range scaled.

The images are built here from known numpy values and saved in a format that keeps their mode;
the expected pixels are computed here from those values, not by the loader: 16-bit integers
as ``value >> 8``, floats in [0, 1] as ``round(value * 255)``, other ranges min-max scaled,
8-bit modes as their own values (alpha dropped; CMYK, YCbCr and LAB by Pillow's formulas).
Images are square and decoded at their own size, so the resize is the identity and the pixels
compare exactly.
"""

import warnings

import numpy as np
import pytest
from PIL import Image

from hume_workflow.data.images import convert_to_rgb8, decode_image
from hume_workflow.data.prepare import prepare_dataset
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_dataset, write_dataset

SIDE = 16


def _saved(image: Image.Image, path, mode: str):
    """Save ``image`` to ``path``; check it opens again in ``mode`` (what the test exercises)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == mode, f"{path.suffix} turned {image.mode} into {reopened.mode}"
    return path


def _gray(values: np.ndarray) -> np.ndarray:
    """(H, W) uint8 gray values -> (H, W, 3), as a gray image's RGB."""
    return np.repeat(values.astype(np.uint8)[..., None], 3, axis=-1)


def _min_max(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    lo, hi = np.nanmin(values), np.nanmax(values)
    return np.nan_to_num(np.rint((values - lo) / (hi - lo) * 255), nan=0.0)


def _spread16() -> np.ndarray:
    """(SIDE, SIDE) uint16 over the whole 0..65535 range, the extremes included."""
    return np.linspace(0, 65535, SIDE * SIDE).round().astype(np.uint16).reshape(SIDE, SIDE)


# --- high bit depths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "suffix", "opens_as"),
    [
        ("I;16", ".png", "I;16"),
        ("I;16B", ".png", "I;16"),
        ("I;16", ".tif", "I;16"),
        ("I;16B", ".tif", "I;16B"),
        ("I;16L", ".tif", "I;16"),
    ],
)
def test_16_bit_gray_keeps_its_high_byte(tmp_path, mode, suffix, opens_as):
    values = _spread16()
    dtype = {"I;16B": ">u2", "I;16L": "<u2"}.get(mode, np.uint16)
    image = Image.frombytes(mode, (SIDE, SIDE), values.astype(dtype).tobytes())
    path = _saved(image, tmp_path / f"gray16{suffix}", opens_as)
    np.testing.assert_array_equal(decode_image(path, SIDE), _gray(values >> 8))


def test_16_bit_gray_png_is_not_saturated(tmp_path):
    """Regression: Pillow's convert("RGB") clips 16-bit values, so nearly every pixel was 255."""
    path = _saved(Image.fromarray(_spread16()), tmp_path / "gray16.png", "I;16")
    decoded = decode_image(path, SIDE)
    assert (decoded < 255).mean() > 0.9 and len(np.unique(decoded)) == 256


def test_float_tiff_in_unit_range_scales_by_255(tmp_path):
    values = np.linspace(0, 1, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
    path = _saved(Image.fromarray(values), tmp_path / "unit.tif", "F")
    decoded = decode_image(path, SIDE)
    assert decoded.max() == 255 and len(np.unique(decoded)) > 200  # regression: was all 0 or 1
    np.testing.assert_array_equal(decoded, _gray(np.rint(values.astype(np.float64) * 255)))


def test_float_tiff_outside_unit_range_is_min_max_scaled_and_nan_is_black(tmp_path):
    values = np.linspace(-3, 40, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
    values[0, :3] = np.nan
    path = _saved(Image.fromarray(values), tmp_path / "wide.tif", "F")
    decoded = decode_image(path, SIDE)
    assert (decoded[0, :3] == 0).all() and decoded.max() == 255
    np.testing.assert_array_equal(decoded, _gray(_min_max(values)))


@pytest.mark.parametrize(
    ("low", "high", "rule"),
    [(0, 255, "8-bit"), (0, 65535, "16-bit"), (-500, 1000, "min-max"), (0, 100_000, "min-max")],
)
def test_32_bit_int_tiff_uses_the_range_its_values_imply(tmp_path, low, high, rule):
    values = np.linspace(low, high, SIDE * SIDE).round().astype(np.int32).reshape(SIDE, SIDE)
    path = _saved(Image.fromarray(values), tmp_path / "int32.tif", "I")
    expected = {"8-bit": values, "16-bit": values >> 8, "min-max": _min_max(values)}[rule]
    np.testing.assert_array_equal(decode_image(path, SIDE), _gray(expected))


def test_16_bit_modes_in_memory_all_keep_the_high_byte():
    values = _spread16()
    for mode, dtype in (("I;16", "=u2"), ("I;16N", "=u2"), ("I;16L", "<u2"), ("I;16B", ">u2")):
        image = Image.frombytes(mode, (SIDE, SIDE), values.astype(dtype).tobytes())
        np.testing.assert_array_equal(convert_to_rgb8(image), _gray(values >> 8), err_msg=mode)


def test_truncated_16_bit_png_is_an_input_error_naming_the_file(tmp_path):
    path = _saved(Image.fromarray(_spread16()), tmp_path / "gray16.png", "I;16")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(InputError, match=r"gray16.png: cannot decode the image"):
        decode_image(path, SIDE)


def test_constant_float_and_int_images_do_not_divide_by_zero():
    for image in (Image.new("F", (4, 4), 7.5), Image.new("I", (4, 4), -3)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rgb = convert_to_rgb8(image)
        assert rgb.shape == (4, 4, 3) and (rgb == 0).all()


# --- 8-bit modes: their own values, alpha dropped ----------------------------------------------


def _pixels(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE, *shape), dtype=np.uint8)


def test_bilevel_png_is_0_or_255(tmp_path):
    bits = _pixels((), 1) > 127
    path = _saved(Image.fromarray(bits), tmp_path / "bits.png", "1")
    np.testing.assert_array_equal(decode_image(path, SIDE), _gray(bits * 255))


@pytest.mark.parametrize(("mode", "channels"), [("L", ()), ("RGB", (3,))])
def test_gray_and_rgb_png_keep_their_values(tmp_path, mode, channels):
    values = _pixels(channels, 2)
    path = _saved(Image.fromarray(values, mode), tmp_path / "x.png", mode)
    expected = _gray(values) if mode == "L" else values
    np.testing.assert_array_equal(decode_image(path, SIDE), expected)


@pytest.mark.parametrize(("mode", "suffix"), [("LA", ".png"), ("RGBA", ".png"), ("LA", ".tif")])
def test_alpha_is_dropped_and_the_colour_kept(tmp_path, mode, suffix):
    values = _pixels((len(mode),), 3)
    values[0, 0, -1] = 0  # a fully transparent pixel keeps its colour too
    path = _saved(Image.fromarray(values, mode), tmp_path / f"alpha{suffix}", mode)
    colour = values[..., :-1]
    expected = _gray(colour[..., 0]) if mode == "LA" else colour
    np.testing.assert_array_equal(decode_image(path, SIDE), expected)


@pytest.mark.parametrize("transparency", [None, 3, "bytes"])
def test_palette_png_looks_up_its_palette_without_warnings(tmp_path, transparency):
    palette = _pixels((3,), 4)[0]  # (16, 3): 16 colours
    indices = _pixels((), 5) % 16
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.ravel().tolist())
    if transparency == "bytes":
        transparency = bytes([255] * 8 + [0] * 8)
    if transparency is not None:
        image.info["transparency"] = transparency
    path = _saved(image, tmp_path / "palette.png", "P")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = decode_image(path, SIDE)
    np.testing.assert_array_equal(decoded, palette[indices])


def test_palette_with_alpha_tiff_drops_alpha(tmp_path):
    palette = _pixels((3,), 6)[0]
    indices, alpha = _pixels((), 7) % 16, _pixels((), 8)
    image = Image.fromarray(np.stack([indices, alpha], axis=-1), "LA")
    image = Image.merge("PA", image.split())
    image.putpalette(palette.ravel().tolist())
    path = _saved(image, tmp_path / "pa.tif", "PA")
    np.testing.assert_array_equal(decode_image(path, SIDE), palette[indices])


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_cmyk_uses_pillows_conversion(tmp_path, suffix):
    """Pillow's CMYK -> RGB (no colour profile): R = (255 - C) * (255 - K) / 255, rounded."""
    cmyk = np.zeros((SIDE, SIDE, 4), np.uint8) + np.array([10, 60, 200, 40], np.uint8)
    path = _saved(Image.fromarray(cmyk, "CMYK"), tmp_path / f"cmyk{suffix}", "CMYK")
    expected = np.rint((255.0 - cmyk[..., :3]) * (255.0 - cmyk[..., 3:]) / 255)
    np.testing.assert_array_equal(decode_image(path, SIDE), expected.astype(np.uint8))


@pytest.mark.parametrize("mode", ["YCbCr", "LAB"])
def test_other_colour_spaces_use_pillows_conversion(tmp_path, mode):
    path = _saved(Image.fromarray(_pixels((3,), 9), mode), tmp_path / "colour.tif", mode)
    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(decode_image(path, SIDE), expected)


def test_every_pillow_mode_converts_to_rgb8():
    """Modes no file format here writes (La, RGBa, HSV, RGBX, ...) still convert."""
    for mode in Image.MODES:
        rgb = convert_to_rgb8(Image.new(mode, (5, 3)))
        assert rgb.shape == (3, 5, 3) and rgb.dtype == np.uint8, mode
    premultiplied = Image.new("RGBa", (1, 1), (50, 60, 70, 128))
    straight = Image.new("La", (1, 1), (50, 128))
    assert convert_to_rgb8(premultiplied).tolist() == [[[99, 119, 139]]]
    assert convert_to_rgb8(straight).tolist() == [[[99, 99, 99]]]


def test_8_bit_resize_and_crop_are_unchanged(tmp_path):
    """RGB and L images decode byte for byte as before: convert("RGB"), bicubic, center crop."""
    for mode, channels in (("RGB", (3,)), ("L", ())):
        values = np.random.default_rng(10).integers(0, 256, (21, 34, *channels), dtype=np.uint8)
        path = _saved(Image.fromarray(values, mode), tmp_path / f"{mode}.png", mode)
        with Image.open(path) as image:
            before = image.convert("RGB").resize((13, 8), Image.Resampling.BICUBIC)
        expected = np.asarray(before.crop((2, 0, 10, 8)))
        np.testing.assert_array_equal(decode_image(path, 8), expected, err_msg=mode)


# --- through the dataset preparation ----------------------------------------------------------


def test_image_folder_of_high_depth_images(tmp_path):
    gray16, unit = _spread16(), np.linspace(0, 1, SIDE * SIDE, dtype=np.float32)
    _saved(Image.fromarray(gray16), tmp_path / "imgs" / "a" / "gray16.png", "I;16")
    _saved(Image.fromarray(unit.reshape(SIDE, SIDE)), tmp_path / "imgs" / "b" / "unit.tif", "F")
    ds = prepare_dataset("image_folder", root=tmp_path / "imgs", image_size=SIDE)
    write_dataset(tmp_path / "d.h5", ds)
    images = read_dataset(tmp_path / "d.h5").images
    np.testing.assert_array_equal(images[0], _gray(gray16 >> 8))
    expected = np.rint(unit.astype(np.float64) * 255).reshape(SIDE, SIDE)
    np.testing.assert_array_equal(images[1], _gray(expected))
