"""Query string → canonical, versioned variant spec: unknown and duplicate parameters refused, sizes
snapped up to the ladder, qualities and blur/sharpen/dpr to steps, ``dpr`` folded into the sizes,
so no query makes unbounded variants; the key is made from parsed values, never the raw query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cachetools import LRUCache

from enlarger import ids, media
from enlarger.errors import DuplicateParameter, InvalidParameter, UnknownParameter
from enlarger.proxy.params import (
    as_bool,
    as_colour,
    as_crop,
    as_float,
    as_integer,
    colour_key,
    snap_nearest,
    snap_up,
)
from enlarger.settings import Settings

# Bump when a change to the pipeline changes the pixels of an existing spec: every key (and so
# every ETag and stored variant name) changes with it.
PIPELINE_VERSION = 2

SIZE_NAMES = media.SIZE_NAMES
OUTPUT_FORMATS = ("jpeg", "png", "webp", "avif", "gif", "auto")
FITS = ("inside", "cover", "fill", "pad")
GRAVITIES = (
    "centre",
    "north",
    "south",
    "east",
    "west",
    "north-east",
    "north-west",
    "south-east",
    "south-west",
    "attention",
    "entropy",
)
WHITE = (255, 255, 255, 255)
LOSSLESS = ("png", "gif")
TRIM_DEFAULT = 10  # trim=1: libvips find_trim's own default threshold
TRIM_THRESHOLDS = (2, 254)  # trim=N: N is the threshold (1 is "on", so it cannot be one)
# q=auto: the quality is searched per variant (proxy.autoq) for this SSIMULACRA2 score, a little
# under the mean JPEG's default q80 reaches at size=medium (76.7-78.1), so that q=auto takes no
# more bytes in all than q80 (docs/benchmarks.md, "q=auto"); the spec holds AUTO_QUALITY, the key
# "qauto".
AUTO_QUALITY = 0
AUTO_TARGET = 76.0


def quality_key(quality: int) -> str:
    return "auto" if quality == AUTO_QUALITY else str(quality)


# canonical name → accepted spellings
ALIASES = {
    "w": ("w", "width"),
    "h": ("h", "height"),
    "size": ("size",),
    "q": ("q", "quality"),
    "fmt": ("fmt", "format", "f"),
    "fit": ("fit",),
    "g": ("g", "gravity"),
    "dpr": ("dpr",),
    "crop": ("crop",),
    "trim": ("trim",),
    "rot": ("rot", "rotate"),
    "flip": ("flip",),
    "flop": ("flop",),
    "blur": ("blur",),
    "sharpen": ("sharpen",),
    "bg": ("bg", "background"),
    "wm": ("wm",),
    "wm_pos": ("wm_pos",),
    "wm_scale": ("wm_scale",),
    "wm_opacity": ("wm_opacity",),
    "wm_margin": ("wm_margin",),
}
_CANONICAL = {alias: name for name, spellings in ALIASES.items() for alias in spellings}
_FORMAT_ALIASES = {"jpg": "jpeg"}
# /i/<id>.<extension>: the extension asks for the output format, as fmt= does.
EXTENSIONS = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "png": "png",
    "webp": "webp",
    "avif": "avif",
    "gif": "gif",
}
_FIT_ALIASES = {"contain": "inside", "crop": "cover", "scale": "fill", "stretch": "fill"}
_GRAVITY_ALIASES = {
    "center": "centre",
    "c": "centre",
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
    "ne": "north-east",
    "nw": "north-west",
    "se": "south-east",
    "sw": "south-west",
    "northeast": "north-east",
    "northwest": "north-west",
    "southeast": "south-east",
    "southwest": "south-west",
    "smart": "attention",
}


# wm=: another hosted image over the output (proxy.overlay). Its placement is a gravity of g but
# the content-aware ones; its width a stepped fraction of the output's; all bounded.
WM_POSITIONS = GRAVITIES[:9]
WM_SHORT = dict(zip(WM_POSITIONS, ("c", "n", "s", "e", "w", "ne", "nw", "se", "sw"), strict=True))
WM_SCALE = (0.01, 1.0, 0.01, 0.25)  # min, max, step, default
WM_OPACITY = (0.0, 1.0, 0.05, 1.0)
WM_MARGIN = (0, 256, 16)  # min, max, default (output pixels)


@dataclass(frozen=True, slots=True)
class Watermark:
    """``wm=<image id>`` and its parameters, parsed (key part ``wm<id>-se-s0.25-o1-m16``)."""

    image_id: str
    position: str = "south-east"
    scale: float = WM_SCALE[3]
    opacity: float = WM_OPACITY[3]
    margin: int = WM_MARGIN[2]

    @property
    def key(self) -> str:
        short = WM_SHORT[self.position]
        return f"wm{self.image_id}-{short}-s{self.scale:g}-o{self.opacity:g}-m{self.margin}"


@dataclass(frozen=True, slots=True)
class ViewPolicy:
    """The settings that shape specs: reported by ``GET /v1/limits``."""

    named_sizes: Mapping[str, int]
    width_ladder: Sequence[int]
    default_quality: int
    quality_ladder: Sequence[int]
    max_side: int
    exact: bool = False  # signed URLs (proxy.signing): sizes and qualities as asked, not snapped

    @classmethod
    def from_settings(cls, settings: Settings) -> ViewPolicy:
        return cls(
            named_sizes=settings.named_sizes,
            width_ladder=settings.width_ladder,
            default_quality=settings.default_quality,
            quality_ladder=settings.quality_ladder,
            max_side=settings.max_side,
        )


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """What to render. ``width``/``height`` are exact targets (either may be None); ``box`` bounds
    the longest side (named sizes); none of the three means the original size. ``format`` is an
    output format, ``same`` (keep the source's where browsers show it) or a negotiated class
    ``auto-avif``/``auto-webp``/``auto`` (see proxy.negotiate)."""

    width: int | None = None
    height: int | None = None
    box: int | None = None
    quality: int = 80
    format: str = "same"
    fit: str = "inside"
    gravity: str = "centre"
    crop: tuple[int, int, int, int] | None = None
    trim: int = 0  # 0: off; else find_trim's threshold
    rotate: int = 0
    flip: bool = False
    flop: bool = False
    blur: float = 0.0
    sharpen: float = 0.0
    background: tuple[int, int, int, int] = field(default=WHITE)
    watermark: Watermark | None = None
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Computed once: the key is read on every view (cache key, ETag, blob name, analytics).
        object.__setattr__(self, "key", self._make_key())

    def canonical(self) -> VariantSpec:
        """Drop what cannot change the pixels, so equivalent queries share one key: fit only
        matters with both sides given, gravity only for cover and pad."""
        fit = self.fit if self.width is not None and self.height is not None else "inside"
        gravity = self.gravity if fit in ("cover", "pad") else "centre"
        return replace(self, fit=fit, gravity=gravity)

    @property
    def negotiated(self) -> bool:
        return self.format.startswith("auto")

    def _make_key(self) -> str:
        parts = [f"p{PIPELINE_VERSION}", self._geometry_key()]
        if self.crop:
            parts.append("c" + "_".join(str(v) for v in self.crop))
        parts += [f"trim{self.trim}"] if self.trim else []
        parts += [f"r{self.rotate}"] if self.rotate else []
        parts += ["flip"] if self.flip else []
        parts += ["flop"] if self.flop else []
        parts += [f"blur{self.blur:g}"] if self.blur else []
        parts += [f"sh{self.sharpen:g}"] if self.sharpen else []
        parts += [f"bg{colour_key(self.background)}"] if self.background != WHITE else []
        parts += [self.watermark.key] if self.watermark else []
        parts += [f"q{quality_key(self.quality)}", self.format]
        return ".".join(parts)

    def _geometry_key(self) -> str:
        if self.box is not None:
            return f"b{self.box}"
        if self.width is None and self.height is None:
            return "orig"
        geometry = (f"w{self.width}" if self.width else "") + (
            f"h{self.height}" if self.height else ""
        )
        if self.width and self.height and self.fit != "inside":
            geometry += f"-{self.fit}"
            if self.fit in ("cover", "pad") and self.gravity != "centre":
                geometry += f"-{self.gravity}"
        return geometry


Query = Mapping[str, str] | Sequence[tuple[str, str]]


class SpecCache:
    """Parsed specs by (query string, Accept), bounded LRU: a hot URL is parsed once.

    Only successful parses are kept; a refused query is parsed (and refused) every time.
    """

    def __init__(self, policy: ViewPolicy, size: int = 4096) -> None:
        self.policy = policy
        self._specs: LRUCache[tuple[str, str | None, str | None], VariantSpec] = LRUCache(
            maxsize=size
        )

    def parse(
        self, query_string: str, query: Query, accept: str | None, extension: str | None = None
    ) -> VariantSpec:
        spec = self.known(query_string, accept, extension)
        if spec is None:
            spec = parse_spec(query, self.policy, accept, extension)
            self._specs[(query_string, accept, extension)] = spec
        return spec

    def known(
        self, query_string: str, accept: str | None, extension: str | None = None
    ) -> VariantSpec | None:
        """The spec parsed before from the same query string, if still kept: a hot URL's query
        is not even split into parameters."""
        return self._specs.get((query_string, accept, extension))


def parse_spec(
    query: Query, policy: ViewPolicy, accept: str | None = None, extension: str | None = None
) -> VariantSpec:
    """``extension`` is the output format a link's extension asked for (see
    :func:`split_extension`); a ``fmt`` that says otherwise is refused."""
    params = _single_values(query)
    dpr = as_float("dpr", params["dpr"], 1.0, 4.0, step=0.5) if "dpr" in params else 1.0
    width, height, box = _dimensions(params, policy, dpr)
    fmt = _output_format(params, accept, extension)
    return VariantSpec(
        width=width,
        height=height,
        box=box,
        format=fmt,
        quality=_quality(params, policy, fmt),
        fit=_choice("fit", params.get("fit", "inside"), FITS, _FIT_ALIASES, "inside"),
        gravity=_choice("g", params.get("g", "centre"), GRAVITIES, _GRAVITY_ALIASES, "centre"),
        crop=as_crop(params["crop"], policy.max_side) if "crop" in params else None,
        trim=_trim(params["trim"]) if "trim" in params else 0,
        rotate=_rotation(params["rot"]) if "rot" in params else 0,
        flip=as_bool("flip", params["flip"]) if "flip" in params else False,
        flop=as_bool("flop", params["flop"]) if "flop" in params else False,
        blur=as_float("blur", params["blur"], 0.0, 50.0, step=0.5) if "blur" in params else 0.0,
        sharpen=(
            as_float("sharpen", params["sharpen"], 0.0, 10.0, step=0.5)
            if "sharpen" in params
            else 0.0
        ),
        background=as_colour(params["bg"]) if "bg" in params else WHITE,
        watermark=_watermark(params),
    ).canonical()


def _output_format(params: dict[str, str], accept: str | None, extension: str | None) -> str:
    from enlarger.proxy.negotiate import negotiate

    fmt = "same"
    if "fmt" in params:
        fmt = _choice("fmt", params["fmt"], OUTPUT_FORMATS, _FORMAT_ALIASES, "")
        if extension is not None and fmt != extension:
            raise InvalidParameter(
                f"the link's extension asks for {extension} and fmt for {fmt}: drop one",
                parameter="fmt",
                extension=extension,
            )
    fmt = extension or fmt
    return negotiate(accept) if fmt == "auto" else fmt


def split_extension(raw: str) -> tuple[str, str | None]:
    """``<id>.jpg`` → (``<id>``, ``"jpeg"``); no extension → (``raw``, None). An extension that
    names no output format is a 400 (the caller checks the id first: a bad id is a 404)."""
    stem, dot, suffix = raw.rpartition(".")
    if not dot:
        return raw, None
    return stem, extension_format(suffix)


def extension_format(suffix: str) -> str:
    """``jpg`` → ``"jpeg"``: the output format a link's extension names, or a 400."""
    extension = EXTENSIONS.get(suffix.lower())
    if extension is None:
        allowed = [f".{name}" for name in EXTENSIONS]
        raise InvalidParameter(
            f"the extension .{suffix[:16]} is not an output format; use one of "
            + ", ".join(allowed),
            parameter="extension",
            allowed=allowed,
        )
    return extension


def _single_values(query: Query) -> dict[str, str]:
    items = query.items() if isinstance(query, Mapping) else query
    params: dict[str, str] = {}
    for name, value in items:
        canonical = _CANONICAL.get(name)
        if canonical is None:
            raise UnknownParameter(
                f"unknown parameter {name!r}", parameter=name, allowed=sorted(_CANONICAL)
            )
        if canonical in params:
            raise DuplicateParameter(f"parameter {name!r} given more than once", parameter=name)
        params[canonical] = value
    return params


def _dimensions(
    params: dict[str, str], policy: ViewPolicy, dpr: float
) -> tuple[int | None, int | None, int | None]:
    if "size" in params and ("w" in params or "h" in params):
        raise InvalidParameter("use either size or w/h, not both", parameter="size")
    if "w" in params and "h" in params:
        return (*_box_sides(params, policy, dpr), None)
    width = _side("w", params, policy, dpr)
    height = _side("h", params, policy, dpr)
    if width is not None or height is not None:
        return width, height, None
    size = params.get("size", "large")
    if size == "original":
        return None, None, None
    if size not in policy.named_sizes:
        raise InvalidParameter(
            f"size must be one of {', '.join(SIZE_NAMES)}",
            parameter="size",
            allowed=list(SIZE_NAMES),
        )
    return None, None, min(policy.max_side, round(policy.named_sizes[size] * dpr))


def _box_sides(params: dict[str, str], policy: ViewPolicy, dpr: float) -> tuple[int, int]:
    """Both sides given: the longer side snaps up to the ladder and the other keeps the asked
    aspect ratio, so 400x300 stays 400x300 and 410x300 becomes 480x351 (still 4.1:3). Variants
    stay bounded: at most one per ladder step and short side."""
    width = as_integer("w", params["w"], 1, policy.max_side) * dpr
    height = as_integer("h", params["h"], 1, policy.max_side) * dpr
    long_side, short_side = max(width, height), min(width, height)
    snapped = _snap(min(policy.max_side, round(long_side)), policy)
    short = max(1, min(policy.max_side, round(short_side * snapped / long_side)))
    return (snapped, short) if width >= height else (short, snapped)


def _side(name: str, params: dict[str, str], policy: ViewPolicy, dpr: float) -> int | None:
    if name not in params:
        return None
    requested = as_integer(name, params[name], 1, policy.max_side)
    return _snap(min(policy.max_side, round(requested * dpr)), policy)


def _snap(side: int, policy: ViewPolicy) -> int:
    return side if policy.exact else snap_up(side, policy.width_ladder)


def _quality(params: dict[str, str], policy: ViewPolicy, fmt: str) -> int:
    if fmt in LOSSLESS:
        return 100  # quality does not apply: one key whatever q says
    if "q" not in params:
        return policy.default_quality
    if params["q"].strip().lower() == "auto":
        return AUTO_QUALITY
    if not params["q"].strip().isdigit():
        raise InvalidParameter(
            "q must be auto or a whole number from 1 to 100",
            parameter="q",
            value=params["q"][:32],
            minimum=1,
            maximum=100,
        )
    value = as_integer("q", params["q"], 1, 100)
    return value if policy.exact else snap_nearest(value, policy.quality_ladder)


def _choice(
    name: str, raw: str, allowed: Sequence[str], aliases: Mapping[str, str], default: str
) -> str:
    value = raw.strip().lower() or default
    value = aliases.get(value, value)
    if value not in allowed:
        raise InvalidParameter(
            f"{name} must be one of {', '.join(allowed)}", parameter=name, allowed=list(allowed)
        )
    return value


def _trim(raw: str) -> int:
    """``1`` (or true, yes, on, empty) trims with the default threshold, ``0`` (false…) does not
    trim, ``2`` to ``254`` is the threshold itself."""
    value = raw.strip().lower()
    if value in ("0", "false", "no", "off"):
        return 0
    if value in ("1", "true", "yes", "on", ""):
        return TRIM_DEFAULT
    low, high = TRIM_THRESHOLDS
    if not value.isascii() or not value.isdigit() or not low <= int(value[:4]) <= high:
        raise InvalidParameter(
            f"trim must be 1 (on, threshold {TRIM_DEFAULT}), 0 (off), or a threshold from"
            f" {low} to {high}",
            parameter="trim",
            value=raw[:32],
            minimum=low,
            maximum=high,
        )
    return int(value)


def _watermark(params: dict[str, str]) -> Watermark | None:
    """``wm`` and its ``wm_*`` parameters; a ``wm_*`` without ``wm`` is a 400 (it would change
    nothing). The overlay's existence is the variant service's to check (404 unknown_overlay)."""
    if "wm" not in params:
        lone = next((name for name in params if name.startswith("wm_")), None)
        if lone is not None:
            raise InvalidParameter(f"{lone} needs wm=<image id>", parameter=lone)
        return None
    image_id = params["wm"].strip()
    if not ids.is_public_id(image_id):
        raise InvalidParameter("wm must be the id of a hosted image", parameter="wm")
    low, high, step, default = WM_SCALE
    scale = (
        as_float("wm_scale", params["wm_scale"], low, high, step)
        if "wm_scale" in params
        else default
    )
    low, high, step, default = WM_OPACITY
    opacity = (
        as_float("wm_opacity", params["wm_opacity"], low, high, step)
        if "wm_opacity" in params
        else default
    )
    margin = (
        as_integer("wm_margin", params["wm_margin"], WM_MARGIN[0], WM_MARGIN[1])
        if "wm_margin" in params
        else WM_MARGIN[2]
    )
    position = _choice(
        "wm_pos", params.get("wm_pos", "se"), WM_POSITIONS, _GRAVITY_ALIASES, "south-east"
    )
    return Watermark(image_id, position, scale, opacity, margin)


def _rotation(raw: str) -> int:
    value = raw.strip()
    sign = -1 if value.startswith("-") else 1
    degrees = sign * as_integer("rot", value.lstrip("-"), 0, 3600)
    if degrees % 90:
        raise InvalidParameter("rot must be a multiple of 90", parameter="rot")
    return degrees % 360


def snap_width(requested: int, ladder: Sequence[int]) -> int:
    return snap_up(requested, ladder)


def describe(policy: ViewPolicy) -> dict[str, dict[str, object]]:
    """Every view parameter, its names and its range: served by ``GET /v1/limits`` and checked
    against docs/api.md by the tests."""
    side = {"min": 1, "max": policy.max_side, "snaps_to": "width_ladder"}
    table: dict[str, dict[str, object]] = {
        "w": {**side, "default": None},
        "h": {**side, "default": None},
        "size": {"values": list(SIZE_NAMES), "default": "large"},
        "q": {
            "min": 1,
            "max": 100,
            "snaps_to": "quality_ladder",
            "ladder": list(policy.quality_ladder),
            "default": policy.default_quality,
            "auto": {"value": "auto", "target_ssimulacra2": AUTO_TARGET},
        },
        "fmt": {"values": list(OUTPUT_FORMATS), "default": "same as the original"},
        "fit": {"values": list(FITS), "default": "inside"},
        "g": {"values": list(GRAVITIES), "default": "centre"},
        "dpr": {"min": 1, "max": 4, "step": 0.5, "default": 1},
        "crop": {"format": "x,y,width,height", "default": None},
        "trim": {
            "values": [0, 1],
            "min": TRIM_THRESHOLDS[0],
            "max": TRIM_THRESHOLDS[1],
            "threshold_of_1": TRIM_DEFAULT,
            "default": 0,
        },
        "rot": {"values": [0, 90, 180, 270], "default": 0},
        "flip": {"values": [0, 1], "default": 0},
        "flop": {"values": [0, 1], "default": 0},
        "blur": {"min": 0, "max": 50, "step": 0.5, "default": 0},
        "sharpen": {"min": 0, "max": 10, "step": 0.5, "default": 0},
        "bg": {"format": "rgb, rrggbb, rrggbbaa, white, black, transparent", "default": "ffffff"},
        **_describe_watermark(),
    }
    for name, entry in table.items():
        entry["names"] = list(ALIASES[name])
    return table


def _describe_watermark() -> dict[str, dict[str, object]]:
    scale, opacity = WM_SCALE, WM_OPACITY
    return {
        "wm": {"format": "the id of another hosted image", "default": None},
        "wm_pos": {"values": list(WM_POSITIONS), "default": "south-east"},
        "wm_scale": {"min": scale[0], "max": scale[1], "step": scale[2], "default": scale[3]},
        "wm_opacity": {
            "min": opacity[0],
            "max": opacity[1],
            "step": opacity[2],
            "default": opacity[3],
        },
        "wm_margin": {"min": WM_MARGIN[0], "max": WM_MARGIN[1], "default": WM_MARGIN[2]},
    }
