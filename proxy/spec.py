"""Query string → canonical, versioned variant spec: unknown and duplicate parameters refused, sizes
snapped up to the ladder, qualities and blur/sharpen/dpr to steps, ``dpr`` folded into the sizes,
so no query makes unbounded variants; the key is made from parsed values, never the raw query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cachetools import LRUCache

from enlarger import ids, media
from enlarger.errors import (
    DuplicateParameter,
    InvalidParameter,
    PresetsOnly,
    UnknownParameter,
    UnknownPreset,
)
from enlarger.proxy import text as text_overlay
from enlarger.proxy.hints import DPR_HINTS, NO_HINTS, WIDTH_HINTS, Hints, is_auto, may_use_hints
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
# The named sizes are the built-in presets (preset=small is size=small): see _with_preset.
BUILTIN_PRESETS: Mapping[str, Mapping[str, str]] = {name: {"size": name} for name in SIZE_NAMES}
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
# The formats a render may answer as Ultra HDR JPEG (an explicit or kept JPEG, or the legacy
# class: a JPEG source stays JPEG); ``hdr=0`` means nothing for the others, so it is dropped from
# their key (proxy/hdr.py).
HDR_FORMATS = ("jpeg", "same", "auto-legacy")
TRIM_DEFAULT = 10  # trim=1: libvips find_trim's own default threshold
TRIM_THRESHOLDS = (2, 254)  # trim=N: N is the threshold (1 is "on", so it cannot be one)
# q=auto: the quality is searched per variant (proxy.autoq) for this SSIMULACRA2 score, a little
# under the mean JPEG's default q80 reaches at size=medium (76.7-78.1), so that q=auto takes no
# more bytes in all than q80 (docs/benchmarks.md, "q=auto"); the spec holds AUTO_QUALITY, the key
# "qauto".
AUTO_QUALITY = 0
AUTO_TARGET = 76.0
# w=auto without a width hint (Safari, Firefox, curl: most clients send none) is the width of
# this named size's box (ENLARGER_SIZE_MEDIUM, 800), times dpr: a phone's width at 2x and an
# article column's at 1x, on the ladder, and no new setting (docs/api.md, "Client hints").
AUTO_WIDTH_SIZE = "medium"
# max_bytes=N: a byte budget from 1,000 to 50,000,000, snapped DOWN (the answer may never be
# larger than asked) to 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten: 48 budgets,
# each under a quarter below what was asked; signed URLs keep N exact (docs/api.md, max_bytes).
MAX_BYTES_RANGE = (1_000, 50_000_000)
MAX_BYTES_LADDER = tuple(
    step
    for power in range(1, 6)
    for mantissa in (100, 125, 150, 200, 250, 300, 400, 500, 600, 800)
    if MAX_BYTES_RANGE[0] <= (step := mantissa * 10**power) <= MAX_BYTES_RANGE[1]
)


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
    "max_bytes": ("max_bytes",),
    "hdr": ("hdr",),
    "txt": ("txt",),
    "txt_pos": ("txt_pos",),
    "txt_size": ("txt_size",),
    "txt_color": ("txt_color", "txt_colour"),
    "txt_opacity": ("txt_opacity",),
    "preset": ("preset",),
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
    # name → parameters as a query gives them: the named sizes, then ENLARGER_PRESETS (checked
    # at start by proxy.presets); presets_only: ENLARGER_PRESETS_ONLY (see check_presets_only)
    presets: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: BUILTIN_PRESETS)
    presets_only: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ViewPolicy:
        return cls(
            named_sizes=settings.named_sizes,
            width_ladder=settings.width_ladder,
            default_quality=settings.default_quality,
            quality_ladder=settings.quality_ladder,
            max_side=settings.max_side,
            presets={**BUILTIN_PRESETS, **settings.presets},
            presets_only=settings.presets_only,
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
    max_bytes: int = 0  # 0: no byte budget
    # The client hint headers read (w=auto, dpr=auto): named in Vary, never part of the key.
    hints: tuple[str, ...] = field(default=(), compare=False)
    hdr: bool = True  # keep an Ultra HDR source's gain map where the output carries one
    text: text_overlay.TextOverlay | None = None
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
        hdr = self.hdr or self.format not in HDR_FORMATS
        return replace(self, fit=fit, gravity=gravity, hdr=hdr)

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
        parts += [f"mb{self.max_bytes}"] if self.max_bytes else []
        parts += [] if self.hdr else ["hdr0"]
        parts += [f"txt{self.text.digest}"] if self.text else []
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


_CacheKey = tuple[str, str | None, str | None, tuple[str | None, ...] | None]


class SpecCache:
    """Parsed specs by (query string, Accept, extension), bounded LRU: a hot URL is parsed once.

    Only successful parses are kept; a refused query is parsed (and refused) every time. A query
    with ``w=auto`` or ``dpr=auto`` is kept by its hint values too; a spec that read hints is
    never kept without them (a query spelling auto otherwise is parsed every time), so no spec
    is served for another hint.
    """

    def __init__(self, policy: ViewPolicy, size: int = 4096) -> None:
        self.policy = policy
        self._specs: LRUCache[_CacheKey, VariantSpec] = LRUCache(maxsize=size)

    def parse(
        self,
        query_string: str,
        query: Query,
        accept: str | None,
        extension: str | None = None,
        hints: Hints = NO_HINTS,
    ) -> VariantSpec:
        key = _cache_key(query_string, accept, extension, hints)
        spec = self._specs.get(key)
        if spec is None:
            spec = parse_spec(query, self.policy, accept, extension, hints)
            if key[3] is not None or not spec.hints:
                self._specs[key] = spec
        return spec

    def known(
        self,
        query_string: str,
        accept: str | None,
        extension: str | None = None,
        hints: Hints = NO_HINTS,
    ) -> VariantSpec | None:
        """The spec parsed before from the same query string, if still kept: a hot URL's query
        is not even split into parameters."""
        return self._specs.get(_cache_key(query_string, accept, extension, hints))


def _cache_key(
    query_string: str, accept: str | None, extension: str | None, hints: Hints
) -> _CacheKey:
    kept_hints = hints.values if may_use_hints(query_string) else None
    return query_string, accept, extension, kept_hints


def parse_spec(
    query: Query,
    policy: ViewPolicy,
    accept: str | None = None,
    extension: str | None = None,
    hints: Hints = NO_HINTS,
) -> VariantSpec:
    """``extension`` is the output format a link's extension asked for (see
    :func:`split_extension`); a ``fmt`` that says otherwise is refused. ``hints`` are the
    request's client hints, read only for ``w=auto`` and ``dpr=auto``."""
    params = _with_preset(_single_values(query), policy)
    dpr = _dpr(params, hints)
    width, height, box = _dimensions(params, policy, dpr, _auto_width(params, policy, dpr, hints))
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
        max_bytes=_max_bytes(params["max_bytes"], policy) if "max_bytes" in params else 0,
        hints=_hints_read(params),
        hdr=as_bool("hdr", params["hdr"]) if "hdr" in params else True,
        text=_text(params, dpr),
        watermark=_watermark(params),
    ).canonical()


def _dpr(params: dict[str, str], hints: Hints) -> float:
    """``dpr=auto``: the DPR hint, else 1."""
    if "dpr" not in params:
        return 1.0
    if is_auto(params["dpr"]):
        return hints.dpr() or 1.0
    return as_float("dpr", params["dpr"], 1.0, 4.0, step=0.5)


def _auto_width(params: dict[str, str], policy: ViewPolicy, dpr: float, hints: Hints) -> int | None:
    """``w=auto``: the width hint, in device pixels already (never times dpr), else
    :data:`AUTO_WIDTH_SIZE`'s box as a width times dpr; bounded and up the ladder even in a
    signed URL, so hints make at most one variant per ladder step."""
    if "w" not in params or not is_auto(params["w"]):
        return None
    hinted = hints.width()
    device = hinted if hinted is not None else round(policy.named_sizes[AUTO_WIDTH_SIZE] * dpr)
    return snap_up(min(policy.max_side, device), policy.width_ladder)


def _hints_read(params: dict[str, str]) -> tuple[str, ...]:
    read = WIDTH_HINTS if "w" in params and is_auto(params["w"]) else ()
    return read + (DPR_HINTS if "dpr" in params and is_auto(params["dpr"]) else ())


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


# Presets: a name for parameters, expanded here before anything is parsed, so a preset and the
# same parameters spelled out are one spec and one key. The named sizes are the built-in presets
# (BUILTIN_PRESETS); ENLARGER_PRESETS adds the operator's (checked at start by proxy.presets).
PRESETS_ONLY_ALLOWED = ("preset", "size", "fmt")  # ENLARGER_PRESETS_ONLY: the rest is refused
_SIDES = ("w", "h")


def _with_preset(params: dict[str, str], policy: ViewPolicy) -> dict[str, str]:
    """``preset=thumb&q=90`` → thumb's parameters, each one given beside it replacing the
    preset's; ``size`` and ``w``/``h`` exclude each other, so giving one drops the other's."""
    if "preset" not in params:
        return params
    name = params.pop("preset").strip().lower()
    preset = policy.presets.get(name)
    if preset is None:
        names = sorted(policy.presets)
        raise UnknownPreset(
            f"unknown preset {name[:64]!r}; use one of {', '.join(names)}",
            parameter="preset",
            allowed=names,
        )
    base = _single_values(list(preset.items()))
    if "size" in params:
        base = {k: v for k, v in base.items() if k not in _SIDES}
    if any(side in params for side in _SIDES):
        base.pop("size", None)
    return {**base, **params}


def check_presets_only(names: Iterable[str], policy: ViewPolicy) -> None:
    """Under ENLARGER_PRESETS_ONLY, a query names presets, named sizes and the format only (an
    unknown name is left to the parser's 400); signed URLs alike. Checked before SpecCache, so
    a query parsed before (an internal one) cannot slip through."""
    if not policy.presets_only:
        return
    free = [name for name in names if _CANONICAL.get(name, "preset") not in PRESETS_ONLY_ALLOWED]
    if free:
        allowed = [alias for name in PRESETS_ONLY_ALLOWED for alias in ALIASES[name]]
        raise PresetsOnly(
            f"this server serves presets only: {free[0][:32]!r} is not allowed; use preset="
            f"{'|'.join(sorted(policy.presets))} (and fmt)",
            parameter=free[0][:32],
            allowed=allowed,
            presets=sorted(policy.presets),
        )


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
    params: dict[str, str], policy: ViewPolicy, dpr: float, auto_width: int | None = None
) -> tuple[int | None, int | None, int | None]:
    if "size" in params and ("w" in params or "h" in params):
        raise InvalidParameter("use either size or w/h, not both", parameter="size")
    if "w" in params and "h" in params:
        return (*_box_sides(params, policy, dpr, auto_width), None)
    width = auto_width if auto_width is not None else _side("w", params, policy, dpr)
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


def _box_sides(
    params: dict[str, str], policy: ViewPolicy, dpr: float, auto_width: int | None = None
) -> tuple[int, int]:
    """Both sides given: the longer side snaps up to the ladder and the other keeps the asked
    aspect ratio, so 400x300 stays 400x300 and 410x300 becomes 480x351 (still 4.1:3). Variants
    stay bounded: at most one per ladder step and short side. ``auto_width``: see
    :func:`_auto_width` (device pixels)."""
    width = (
        auto_width
        if auto_width is not None
        else as_integer("w", params["w"], 1, policy.max_side) * dpr
    )
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


def _max_bytes(raw: str, policy: ViewPolicy) -> int:
    """A whole number of bytes in :data:`MAX_BYTES_RANGE`, snapped down to
    :data:`MAX_BYTES_LADDER` (exact when signed)."""
    value = as_integer("max_bytes", raw, *MAX_BYTES_RANGE)
    return value if policy.exact else max(s for s in MAX_BYTES_LADDER if s <= value)


def _text(params: dict[str, str], dpr: float) -> text_overlay.TextOverlay | None:
    """``txt`` and its ``txt_*`` (checked, then ignored without a text); None when nothing would
    show: a blank text, or no opacity. The size is in CSS px like ``w``: times ``dpr``, even."""
    low, high = text_overlay.SIZES
    size = as_integer("txt_size", params.get("txt_size", str(text_overlay.DEFAULT_SIZE)), low, high)
    step = text_overlay.SIZE_STEP
    position = _choice(
        "txt_pos",
        params.get("txt_pos", ""),
        GRAVITIES[:9],  # not attention/entropy: nothing to look for
        _GRAVITY_ALIASES,
        text_overlay.DEFAULT_POSITION,
    )
    colour = as_colour(params["txt_color"], "txt_color") if "txt_color" in params else None
    opacity = (
        as_float("txt_opacity", params["txt_opacity"], 0.0, 1.0, text_overlay.OPACITY_STEP)
        if "txt_opacity" in params
        else 1.0
    )
    if not params.get("txt", "").strip():
        return None
    overlay = text_overlay.TextOverlay(
        text=text_overlay.checked_text(params["txt"]),
        position=position,
        size=min(high, step * round(size * dpr / step)),
        colour=colour or text_overlay.DEFAULT_COLOUR,
        opacity=opacity,
    )
    return overlay if overlay.alpha > 0 else None


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
    auto_default = snap_up(policy.named_sizes[AUTO_WIDTH_SIZE], policy.width_ladder)
    table: dict[str, dict[str, object]] = {
        "w": {
            **side,
            "default": None,
            "auto": {
                "value": "auto",
                "hints": list(WIDTH_HINTS),
                "unit": "device pixels (never times dpr)",
                "snaps_to": "width_ladder",
                "without_hint": {"size": AUTO_WIDTH_SIZE, "width": auto_default, "times": "dpr"},
            },
        },
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
        "dpr": {
            "min": 1,
            "max": 4,
            "step": 0.5,
            "default": 1,
            "auto": {"value": "auto", "hints": list(DPR_HINTS), "without_hint": 1},
        },
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
        "max_bytes": {
            "min": MAX_BYTES_RANGE[0],
            "max": MAX_BYTES_RANGE[1],
            "snaps_down_to": list(MAX_BYTES_LADDER),
            "default": None,
        },
        "hdr": {"values": [0, 1], "default": 1, "carried_by": ["jpeg"]},
        **_describe_text(),
        "preset": {"values": sorted(policy.presets), "default": None, "only": policy.presets_only},
        **_describe_watermark(),
    }
    for name, entry in table.items():
        entry["names"] = list(ALIASES[name])
    return table


def _describe_text() -> dict[str, dict[str, object]]:
    low, high = text_overlay.SIZES
    return {
        "txt": {
            "format": "UTF-8 text, no control characters, only characters DejaVu Sans draws",
            "max_characters": text_overlay.MAX_CHARACTERS,
            "font": text_overlay.FAMILY,
            "default": None,
        },
        "txt_pos": {"values": list(GRAVITIES[:9]), "default": text_overlay.DEFAULT_POSITION},
        "txt_size": {
            "min": low,
            "max": high,
            "step": text_overlay.SIZE_STEP,
            "times": "dpr",
            "default": text_overlay.DEFAULT_SIZE,
        },
        "txt_color": {"format": "rgb, rrggbb, rrggbbaa, white, black", "default": "ffffff"},
        "txt_opacity": {"min": 0, "max": 1, "step": text_overlay.OPACITY_STEP, "default": 1},
    }


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
