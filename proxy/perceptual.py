"""SSIMULACRA2 (the JPEG XL project's perceptual metric) in libvips operations, for ``q=auto``: a
:class:`Reference` prepares its side once and scores candidates of the same size. Agrees with the
``ssimulacra2`` package (tests/test_perceptual.py); why libvips: docs/benchmarks.md, ``q=auto``.
"""

from __future__ import annotations

import math

import pyvips

# The metric's constants (libjxl's), shared with the benchmarks' numpy scorer.
SCALES = 6
SIGMA = 1.5
_RADIUS = 5  # the package's truncate 3.33 at sigma 1.5
C2 = 0.0009
BIAS = 0.0037930732552754493
CBRT_BIAS = BIAS ** (1 / 3)
OPSIN = [
    [0.30, 1.0 - 0.078 - 0.30, 0.078],
    [0.23, 1.0 - 0.078 - 0.23, 0.078],
    [0.24342268924547819, 0.20476744424496821, 1.0 - 0.24342268924547819 - 0.20476744424496821],
]
# Opsin mix, cube root, then X = 7 (a - b) + 0.42, Y = (a + b) / 2 + 0.01 and
# B = c - (a + b) / 2 + 0.55 (the cube root's bias cancels in X and B).
_XYB = [[7.0, -7.0, 0.0], [0.5, 0.5, 0.0], [-0.5, -0.5, 1.0]]
_XYB_OFFSET = [0.42, 0.01 - CBRT_BIAS, 0.55]
# 3 channels x 6 scales x (SSIM, artefacts, detail lost) x (1-norm, 4-norm), libjxl's order.
WEIGHTS = (
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0,
    0.0, 0.0004371155730107379, 0.0, 1.1041726426657346, 0.00066284834129271,
    0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0, 1.8422455520539298,
    11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653, 0.0,
    1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072,
    0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967,
    0.00031949755934435053, 0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398,
    0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296,
    1.027889937768264, 225.20515300849274, 0.0, 0.0, 19.213238186143016,
    0.0011401524586618361, 0.001237755635509985, 176.39317598450694, 0.0, 0.0,
    24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0, 0.0,
    34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0008680556573291698, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0005313191874358747, 0.0,
    0.00016533814161379112, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0004179171803251336,
    0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0, 8.826982764996862,
    23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682, 0.9834382792465353,
    0.0012286405048278493, 171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0,
    0.0005130064588990679, 0.0, 0.00010854057858411537,
)  # fmt: skip


def _kernel() -> list[float]:
    weights = [math.exp(-0.5 * (x / SIGMA) ** 2) for x in range(-_RADIUS, _RADIUS + 1)]
    total = sum(weights)
    return [w / total for w in weights]


_KERNEL = pyvips.Image.new_from_list([_kernel()], scale=1.0)
_LINEAR = pyvips.Image.new_from_list(
    [
        [
            v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
            for v in (i / 255 for i in range(256))
        ]
    ]
)


def _linear(pixels: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB to linear light, float (the sRGB curve by table)."""
    if pixels.bands != 3 or pixels.format != "uchar":
        raise ValueError(f"expected 8-bit RGB pixels, got {pixels.bands} bands of {pixels.format}")
    return pixels.maplut(_LINEAR.cast("float")).copy_memory()


def _xyb(linear: pyvips.Image) -> pyvips.Image:
    mixed = linear.recomb(OPSIN) + BIAS  # > 0: light is never negative
    return (
        (mixed.log() * (1 / 3))
        .exp()
        .recomb(_XYB)
        .linear([1.0, 1.0, 1.0], _XYB_OFFSET)
        .copy_memory()
    )


def _blur(image: pyvips.Image) -> pyvips.Image:
    """Gaussian, sigma 1.5, radius 5: zero outside the left and right edges, mirrored above and
    below, as the package does (its planes are stored transposed, width first)."""
    width, height, r = image.width, image.height, _RADIUS
    padded = image.embed(r, 0, width + 2 * r, height, extend="black")
    padded = padded.embed(0, r, width + 2 * r, height + 2 * r, extend="mirror")
    blurred = padded.convsep(_KERNEL, precision="float")
    return blurred.crop(r, r, width, height)


def _downsample(linear: pyvips.Image) -> pyvips.Image:
    """2x2 box average; an odd last row or column averages the pixels it has."""
    width, height = linear.width + linear.width % 2, linear.height + linear.height % 2
    if (width, height) != (linear.width, linear.height):
        linear = linear.embed(0, 0, width, height, extend="copy")
    return linear.shrink(2, 2).copy_memory()


def _positive(image: pyvips.Image) -> pyvips.Image:
    return (image + image.abs()) * 0.5


def _bands(image: pyvips.Image, channels: tuple[int, ...]) -> pyvips.Image:
    if len(channels) == image.bands:
        return image
    first, *rest = (image.extract_band(c) for c in channels)
    return first.bandjoin(rest) if rest else first


def _ssim_channels(scales: int, scale: int) -> tuple[int, ...]:
    """The channels whose SSIM the score weighs at this scale (at full scale only Y's: the other
    SSIM maps are not computed)."""
    firsts = ((c * scales + scale) * 6 for c in range(3))
    return tuple(c for c, i in enumerate(firsts) if WEIGHTS[i] or WEIGHTS[i + 3])


class _Scale:
    """One scale of the reference: XYB, its blur (mu), the variance plus C2 of the channels whose
    SSIM is weighed, and 1 + |xyb - mu| (local detail, for the edge maps)."""

    __slots__ = ("channels", "detail", "mu", "sigma_sq_c2", "xyb")

    def __init__(self, xyb: pyvips.Image, channels: tuple[int, ...]) -> None:
        self.xyb, self.channels = xyb, channels
        self.mu = _blur(xyb).copy_memory()
        picked, mu = _bands(xyb, channels), _bands(self.mu, channels)
        self.sigma_sq_c2 = (_blur(picked * picked) - mu * mu + C2).copy_memory()
        self.detail = ((xyb - self.mu).abs() + 1.0).copy_memory()


class Reference:
    """The undistorted picture (8-bit sRGB, 3 bands), prepared once for scoring."""

    def __init__(self, pixels: pyvips.Image) -> None:
        self.size = (pixels.width, pixels.height)
        linear = _linear(pixels)
        planes = []
        for scale in range(SCALES):
            if linear.width < 8 or linear.height < 8:
                break
            planes.append(_xyb(linear))
            if scale < SCALES - 1:
                linear = _downsample(linear)
        self._scales = [
            _Scale(xyb, _ssim_channels(len(planes), scale)) for scale, xyb in enumerate(planes)
        ]

    def score(self, pixels: pyvips.Image) -> float:
        """SSIMULACRA2 of ``pixels`` (same size) against this reference: 100 is identical, 90
        visually lossless, 70 high quality, 50 medium; it can go below 0."""
        if (pixels.width, pixels.height) != self.size:
            raise ValueError(f"size differs: {pixels.width}x{pixels.height} vs {self.size}")
        linear = _linear(pixels)
        norms: list[list[float]] = []
        for index, ref in enumerate(self._scales):
            norms.append(_compare(ref, _xyb(linear)))
            if index < len(self._scales) - 1:
                linear = _downsample(linear)
        return _final(norms)


def _compare(ref: _Scale, xyb: pyvips.Image) -> list[float]:
    """One scale's 18 norms: per channel, SSIM, artefacts and detail lost, (mean, 4-norm) each,
    from one pass of ``stats`` over the maps and their squares."""
    mu = _blur(xyb).copy_memory()
    channels = ref.channels
    picked, mu1, mu2 = _bands(xyb, channels), _bands(ref.mu, channels), _bands(mu, channels)
    sigma_sq = _blur(picked * picked) - mu2 * mu2 + ref.sigma_sq_c2
    cross = (_blur(_bands(ref.xyb, channels) * picked) - mu1 * mu2) * 2.0 + C2
    delta = mu1 - mu2
    ssim = _positive(1.0 - (1.0 - delta * delta) * cross / sigma_sq)
    ratio = ((xyb - mu).abs() + 1.0) / ref.detail - 1.0
    artefacts, lost = _positive(ratio), _positive(ratio * -1.0)
    maps = [ssim, ssim * ssim, artefacts, artefacts * artefacts, lost, lost * lost]
    stats = maps[0].bandjoin(maps[1:]).stats()  # one pass; row 1 + band, column 4 mean, 3 sum2
    count = xyb.width * xyb.height
    norms = [0.0] * 18
    n = len(channels)
    bands = [(c * 6, i, n + i) for i, c in enumerate(channels)]  # SSIM: the map, its square
    bands += [(c * 6 + 2, 2 * n + c, 2 * n + 3 + c) for c in range(3)]  # artefacts
    bands += [(c * 6 + 4, 2 * n + 6 + c, 2 * n + 9 + c) for c in range(3)]  # detail lost
    for at, band, square in bands:
        norms[at] = stats(4, 1 + band)[0]
        norms[at + 1] = max(stats(3, 1 + square)[0] / count, 0.0) ** 0.25
    return norms


def _final(norms: list[list[float]]) -> float:
    """libjxl's weighting and its polynomial and power mapping to the score."""
    total, i = 0.0, 0
    for c in range(3):
        for scale in range(len(norms)):
            for n in range(2):
                values = norms[scale]
                total += WEIGHTS[i] * abs(values[c * 6 + n])
                total += WEIGHTS[i + 1] * abs(values[c * 6 + 2 + n])
                total += WEIGHTS[i + 2] * abs(values[c * 6 + 4 + n])
                i += 3
    total *= 0.9562382616834844
    total = (
        2.326765642916932 * total
        - 0.020884521182843837 * total**2
        + 6.248496625763138e-05 * total**3
    )
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0
