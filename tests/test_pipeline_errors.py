"""Which libvips failures are the image's (422 undecodable) and which are ours (500)."""

from __future__ import annotations

import pytest
import pyvips

from enlarger.errors import InvalidImage
from enlarger.proxy.pipeline import STEPS, Canvas, RenderOptions, decode, encode, render
from enlarger.proxy.source import is_decode_failure
from enlarger.proxy.spec import VariantSpec
from tests.corrupt import corrupt_jpeg
from tests.e2e.conftest import make_jpeg

CORRUPT = corrupt_jpeg()
SPECS = {
    "large": VariantSpec(box=1600),
    "small": VariantSpec(box=320),
    "w64": VariantSpec(width=64),
    "original": VariantSpec(),
    "rotated": VariantSpec(width=320, rotate=90),  # pulls the pixels in a copy to memory
    "webp": VariantSpec(width=320, format="webp"),
}


@pytest.mark.parametrize("name", SPECS)
def test_corrupt_pixel_data_is_undecodable_at_every_size(name: str) -> None:
    """The header is valid, so the failure comes from whichever step first pulls the pixels
    (here the encoder or a copy to memory): it must still be the image's fault."""
    with pytest.raises(InvalidImage) as caught:
        render(CORRUPT, "jpeg", SPECS[name], RenderOptions())
    assert caught.value.details["reason"] == "undecodable"
    assert caught.value.__notes__[0].startswith("VipsJpeg: Corrupt JPEG data")


def _broken_step(canvas: Canvas) -> Canvas:
    image = canvas.img
    canvas.image = image.crop(0, 0, image.width + 10, image.height)  # a bug of ours
    return canvas


def test_a_libvips_error_from_our_own_code_is_not_blamed_on_the_image() -> None:
    good = make_jpeg(300, 200)
    render(good, "jpeg", VariantSpec(width=64), RenderOptions(), STEPS)  # the steps are fine
    with pytest.raises(pyvips.Error) as caught:
        render(good, "jpeg", VariantSpec(width=64), RenderOptions(), (decode, _broken_step, encode))
    assert not isinstance(caught.value, InvalidImage)
    assert not is_decode_failure(caught.value)


def test_out_of_order_reads_are_our_mistake() -> None:
    error = pyvips.Error("unable to call jpegsave_buffer", "VipsJpeg: out of order read at line 48")
    assert not is_decode_failure(error)
    error = pyvips.Error("unable to call gifsave_buffer", "gifload_buffer: Invalid frame data\n")
    assert is_decode_failure(error)
