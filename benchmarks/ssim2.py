"""SSIMULACRA2, the JPEG XL project's perceptual metric, in vectorised float32 numpy: a
:class:`Reference` computes its side (XYB planes and their blurs, six scales) once and scores
any number of candidates against it. Agrees with the ``ssimulacra2`` package (tests/test_ssim2.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from enlarger.proxy import perceptual

Planes = npt.NDArray[np.float32]  # (3, height, width)
Plane = npt.NDArray[np.float32]  # (height, width)

SCALES = perceptual.SCALES
_SIGMA = perceptual.SIGMA
_TRUNCATE = 3.33  # the package's: a radius of 5 pixels
_C2 = perceptual.C2
_BIAS = perceptual.BIAS
_CBRT_BIAS = float(np.cbrt(_BIAS))
_OPSIN = np.array(perceptual.OPSIN, dtype=np.float32)
# 3 channels x 6 scales x (SSIM, artefacts, detail lost) x (1-norm, 4-norm), libjxl's order.
_WEIGHTS = np.array(perceptual.WEIGHTS)


def _srgb_to_linear_table() -> npt.NDArray[np.float32]:
    values = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)
    return linear.astype(np.float32)


_LINEAR = _srgb_to_linear_table()


def linear_planes(pixels: npt.NDArray[np.uint8]) -> Planes:
    """8-bit sRGB (height, width, 3) to linear-light planes (3, height, width)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected 8-bit RGB pixels (h, w, 3), got {pixels.dtype} {pixels.shape}")
    planes: Planes = np.take(_LINEAR, np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    return planes


def _xyb(linear: Planes) -> Planes:
    """libjxl's XYB (opsin absorbance, cube root), shifted positive as SSIMULACRA2 does."""
    channels, height, width = linear.shape
    mixed = (_OPSIN @ linear.reshape(channels, -1)).reshape(channels, height, width)
    mixed += np.float32(_BIAS)  # > 0: the pixels' light is never negative
    np.log(mixed, out=mixed)  # the cube root as exp(log / 3): numpy's float32 cbrt is 4x slower
    mixed *= np.float32(1 / 3)
    np.exp(mixed, out=mixed)
    mixed -= np.float32(_CBRT_BIAS)
    xyb = np.empty_like(mixed)
    np.subtract(mixed[0], mixed[1], out=xyb[0])
    xyb[0] *= np.float32(0.5 * 14.0)
    xyb[0] += np.float32(0.42)
    np.add(mixed[0], mixed[1], out=xyb[1])
    xyb[1] *= np.float32(0.5)
    np.subtract(mixed[2], xyb[1], out=xyb[2])
    xyb[2] += np.float32(0.55)
    xyb[1] += np.float32(0.01)
    return xyb


def _blur(plane: Plane) -> Plane:
    """Gaussian, sigma 1.5, radius 5: zero outside the left and right edges and mirrored above
    and below, as the package does (its planes are stored transposed, width first)."""
    across = ndimage.gaussian_filter1d(
        plane, _SIGMA, axis=1, mode="constant", cval=0.0, truncate=_TRUNCATE
    )
    blurred: Plane = ndimage.gaussian_filter1d(
        across, _SIGMA, axis=0, mode="reflect", truncate=_TRUNCATE
    )
    return blurred


def _downsample(linear: Planes) -> Planes:
    """2x2 box average; an odd last row or column averages the pixels it has."""
    _, height, width = linear.shape
    odd_h, odd_w = height % 2, width % 2
    if odd_h or odd_w:  # repeat the odd edge: the average of a pixel and itself is the pixel
        linear = np.pad(linear, ((0, 0), (0, odd_h), (0, odd_w)), mode="edge")
    result: Planes = linear[:, 0::2, 0::2] + linear[:, 1::2, 0::2]
    result += linear[:, 0::2, 1::2]
    result += linear[:, 1::2, 1::2]
    result *= np.float32(0.25)
    return result


def _norms(values: Plane) -> tuple[float, float]:
    """The mean and the 4-norm (mean of the 4th power, to the 1/4)."""
    fourth = values * values
    fourth *= fourth
    return float(values.mean(dtype=np.float64)), float(fourth.mean(dtype=np.float64)) ** 0.25


def _weighted(scales: int, scale: int, channel: int, part: int) -> bool:
    """Whether the score weighs SSIM (part 0), artefacts (1) or detail lost (2) of this channel
    at this scale; many weights are 0, and what they weigh need not be computed (at full scale
    only Y's SSIM counts: 5 of the 9 blurs of a candidate are computed there)."""
    first = (channel * scales + scale) * 6 + part
    return bool(_WEIGHTS[first] or _WEIGHTS[first + 3])


class _Scale:
    """One scale of the reference, per channel: the XYB plane; its blur (mu); where SSIM is
    weighed, its variance plus C2; where the edge maps are, 1 + |xyb - mu| (local detail)."""

    __slots__ = ("detail", "edges", "mu", "sigma_sq_c2", "ssim", "xyb")

    def __init__(self, xyb: Planes, ssim: tuple[int, ...], edges: tuple[int, ...]) -> None:
        self.ssim, self.edges = ssim, edges
        self.xyb = {c: xyb[c] for c in (*ssim, *edges)}
        self.mu = {c: _blur(plane) for c, plane in self.xyb.items()}
        self.sigma_sq_c2 = {
            c: _blur(xyb[c] * xyb[c]) - self.mu[c] * self.mu[c] + np.float32(_C2) for c in ssim
        }
        self.detail = {c: 1.0 + np.abs(xyb[c] - self.mu[c]) for c in edges}


class Reference:
    """The undistorted picture (8-bit sRGB, (height, width, 3)), prepared once for scoring."""

    def __init__(self, pixels: npt.NDArray[np.uint8]) -> None:
        self.shape = pixels.shape
        linear = linear_planes(pixels)
        planes = []
        for scale in range(SCALES):
            if linear.shape[1] < 8 or linear.shape[2] < 8:
                break
            planes.append(_xyb(linear))
            if scale < SCALES - 1:
                linear = _downsample(linear)
        count = len(planes)
        self._scales = [
            _Scale(
                xyb,
                tuple(c for c in range(3) if _weighted(count, scale, c, 0)),
                tuple(
                    c
                    for c in range(3)
                    if _weighted(count, scale, c, 1) or _weighted(count, scale, c, 2)
                ),
            )
            for scale, xyb in enumerate(planes)
        ]

    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        """SSIMULACRA2 of ``pixels`` (same size) against this reference: 100 is identical, 90
        visually lossless, 70 high quality, 50 medium; it can go below 0."""
        if pixels.shape != self.shape:
            raise ValueError(f"size differs: {pixels.shape} vs the reference's {self.shape}")
        linear = linear_planes(pixels)
        ssim_norms: list[list[float]] = []
        edge_norms: list[list[float]] = []
        for index, ref in enumerate(self._scales):
            ssim, edges = _compare(ref, _xyb(linear))
            ssim_norms.append(ssim)
            edge_norms.append(edges)
            if index < len(self._scales) - 1:
                linear = _downsample(linear)
        return _final(ssim_norms, edge_norms)


def _compare(ref: _Scale, xyb: Planes) -> tuple[list[float], list[float]]:
    """One scale: the SSIM map's norms per channel (mean, 4-norm), then the edge maps' per
    channel (artefacts, detail lost: mean, 4-norm each); 0 where unweighed. In place where
    possible: each pass over a full-size plane costs."""
    ssim, edges = [0.0] * 6, [0.0] * 12
    mu = {c: _blur(xyb[c]) for c in ref.mu}
    for c in ref.ssim:
        sigma_sq = _blur(xyb[c] * xyb[c])
        cross = _blur(ref.xyb[c] * xyb[c])
        num_m = ref.mu[c] - mu[c]  # 1 - (mu1 - mu2)^2
        num_m *= num_m
        np.subtract(np.float32(1), num_m, out=num_m)
        cross -= ref.mu[c] * mu[c]  # 2 (sigma12 - mu1 mu2) + C2
        cross *= np.float32(2)
        cross += np.float32(_C2)
        sigma_sq -= mu[c] * mu[c]  # (sigma11 - mu1^2) + (sigma22 - mu2^2) + C2
        sigma_sq += ref.sigma_sq_c2[c]
        num_m *= cross
        num_m /= sigma_sq
        np.subtract(np.float32(1), num_m, out=num_m)
        ssim[2 * c : 2 * c + 2] = _norms(np.maximum(num_m, 0, out=num_m))
    for c in ref.edges:
        # (1 + |xyb2 - mu2|) / (1 + |xyb1 - mu1|) - 1: > 0 artefacts, < 0 detail lost
        ratio = np.subtract(xyb[c], mu[c], out=mu[c])
        np.abs(ratio, out=ratio)
        ratio += np.float32(1)
        ratio /= ref.detail[c]
        ratio -= np.float32(1)
        edges[4 * c : 4 * c + 2] = _norms(np.maximum(ratio, 0))
        edges[4 * c + 2 : 4 * c + 4] = _norms(np.maximum(np.negative(ratio, out=ratio), 0))
    return ssim, edges


def _final(ssim: list[list[float]], edges: list[list[float]]) -> float:
    """libjxl's weighting and its polynomial and power mapping to the score."""
    total, i = 0.0, 0
    for c in range(3):
        for scale in range(len(ssim)):
            for n in range(2):
                total += _WEIGHTS[i] * abs(ssim[scale][c * 2 + n])
                total += _WEIGHTS[i + 1] * abs(edges[scale][c * 4 + n])
                total += _WEIGHTS[i + 2] * abs(edges[scale][c * 4 + n + 2])
                i += 3
    total *= 0.9562382616834844
    total = (
        2.326765642916932 * total
        - 0.020884521182843837 * total**2
        + 6.248496625763138e-05 * total**3
    )
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0
