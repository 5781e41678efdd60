"""One settings object, read from ``ENLARGER_*`` environment variables once at start-up. Every limit
here is also reported by ``GET /v1/limits``; an invalid value stops start-up with a message that
names the variable (see :func:`load_settings`)."""

from __future__ import annotations

import json
import os
import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from enlarger.errors import ConfigurationError
from enlarger.media import SIZE_NAMES

MiB = 1024 * 1024
ENV_PREFIX = "ENLARGER_"

IPNetwork = IPv4Network | IPv6Network
# A host as links and Host headers carry it: a name or [IPv6], and an optional port.
HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)(:[0-9]{1,5})?", re.I)
Positive = Annotated[int, Field(gt=0)]
# A list setting: "40,50,60" or a JSON list "[40, 50, 60]" (see _split_list).
IntList = Annotated[tuple[int, ...], NoDecode]
SizeList = Annotated[tuple[Literal["small", "medium", "large", "original"], ...], NoDecode]
# ENLARGER_PRESETS: name → {parameter: value}, read by _read_presets; the parameters themselves are
# checked by the view feature (enlarger.proxy.presets), which knows them.
Presets = Annotated[dict[str, dict[str, str]], NoDecode]
PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
BUILTIN_PRESETS = SIZE_NAMES  # the named sizes are the built-in presets


class Settings(BaseSettings):
    """Everything configurable. Defaults run the whole product with no services."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # Where things live.
    data_dir: Path = Path("./data")
    database_url: str = ""
    blob_url: str = ""
    s3_endpoint_url: str | None = None
    redis_url: str | None = None
    public_url: str | None = None
    secret_key: SecretStr | None = None

    # The server (``enlarger serve``; its flags override these).
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    workers: Annotated[int, Field(ge=1)] | None = None  # None: one per core
    shutdown_timeout_seconds: Annotated[float, Field(gt=0)] = 20.0  # first signal to exit
    access_log: bool = True
    # A memory-tier hit asked plainly is answered from the connection's read (enlarger.top.hotpath)
    hot_path: bool = True
    # Connections (enlarger.top.protocol): a whole request head within this, from a connection's
    # start or a later request's first byte; and the idle time allowed between two requests.
    request_head_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    keepalive_timeout_seconds: Annotated[float, Field(gt=0)] = 75.0

    # Behaviour.
    allow_anonymous_uploads: bool = True
    analytics_flush_seconds: Annotated[float, Field(gt=0)] = 5.0
    analytics_max_pending: Positive = 50_000  # distinct pending keys per process
    analytics_rollup_days: Annotated[int, Field(ge=0)] = 0  # 0: keep daily rows forever
    public_stats: bool = False
    # Deletion: the CDN purge (a POST naming the image's surrogate key) and how often every
    # process looks for images deleted elsewhere (to drop them from its in-process cache).
    purge_url: str | None = None
    purge_header: SecretStr | None = None  # "Name: value", e.g. "Fastly-Key: …"
    purge_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    deletion_poll_seconds: Annotated[float, Field(gt=0)] = 2.0
    # the sweep after a deletion, past every process's poll (later writes are fenced off); 0: off
    deletion_sweep_seconds: Annotated[float, Field(ge=0)] = 6.0
    log_level: str = "INFO"

    # Caches.
    memory_cache_bytes: Annotated[int, Field(ge=0)] = 256 * MiB
    memory_cache_max_item_bytes: Positive = 16 * MiB
    redis_ttl_seconds: Positive = 7 * 24 * 3600
    redis_timeout_seconds: Annotated[float, Field(gt=0)] = 0.25
    negative_cache_seconds: Annotated[float, Field(ge=0)] = 10.0  # unknown ids; 0: off
    # images whose pixel data cannot be decoded: 422 without decoding again; 0: off
    undecodable_cache_seconds: Annotated[float, Field(ge=0)] = 86_400.0
    fallback_max_age: Annotated[int, Field(ge=0)] = 60  # Cache-Control of overload fallbacks

    # Rendering.
    render_threads: Positive = max(1, os.cpu_count() or 1)
    render_queue: Annotated[int, Field(ge=0)] = 32
    render_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    avif_effort: Annotated[int, Field(ge=0, le=9)] = 2
    avif_max_pixels: Positive = 16_000_000
    # named sizes rendered right after an upload, before their first view (proxy.prerender)
    prerender_sizes: SizeList = ()
    master_side: Annotated[int, Field(ge=0)] = 1600  # kept masters (see proxy.master_image); 0: off
    master_quality: Annotated[int, Field(ge=90, le=100)] = 95
    # decoded masters of the images viewed last, per process (9 MB for a 12 MP photo's); 0: off
    master_memory_bytes: Annotated[int, Field(ge=0)] = 64 * MiB
    # ... and as raw pixels under <data dir>/masters/, mapped by every process of the machine
    master_disk_bytes: Annotated[int, Field(ge=0)] = 1024 * MiB
    default_quality: Annotated[int, Field(ge=1, le=100)] = 80
    # q snaps to the nearest step (see proxy.params.snap_nearest): few variants per image.
    quality_ladder: IntList = (40, 50, 60, 70, 75, 80, 85, 90, 95, 100)
    size_small: Positive = 320
    size_medium: Positive = 800
    size_large: Positive = 1600
    width_ladder: IntList = (
        16,
        32,
        48,
        64,
        96,
        128,
        160,
        192,
        240,
        256,
        320,
        360,
        400,
        480,
        540,
        600,
        640,
        720,
        800,
        960,
        1024,
        1080,
        1200,
        1280,
        1440,
        1600,
        1920,
        2048,
        2560,
        3072,
        3840,
        4096,
        5120,
        6144,
        7680,
        8192,
        10240,
        12288,
        16384,
    )

    # Upload limits.
    max_upload_bytes: Positive = 32 * MiB
    upload_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    max_pixels: Positive = 100_000_000
    max_side: Positive = 16_384
    max_frames: Positive = 500
    max_total_pixels: Positive = 200_000_000

    # Abuse (docs/security.md): per-address token buckets, the variant budget, signed URLs.
    rate_limit_uploads: Annotated[int, Field(ge=0)] = 60  # per minute per address; 0: off
    rate_limit_renders: Annotated[int, Field(ge=0)] = 600  # cold renders per minute; 0: off
    # q=auto's first render searches the quality (10-55 renders' CPU): its own, smaller bucket
    rate_limit_quality_searches: Annotated[int, Field(ge=0)] = 30  # per minute; 0: off
    rate_limit_key_multiple: Positive = 10  # an API key's bucket is this many addresses'
    trusted_proxies: str = "127.0.0.0/8,::1/128"  # whose X-Forwarded-For/-Proto/-Host to believe
    allowed_hosts: str = ""  # the hosts answered for (comma list); empty: any (enlarger.origin)
    max_variants_per_image: Annotated[int, Field(ge=0)] = 100  # stored variants; 0: no budget
    signing_keys: SecretStr | None = None  # comma-separated; any one verifies
    require_signature: bool = False
    # Presets (docs/api.md, "Presets"): a JSON object or the path of a JSON file.
    presets: Presets = Field(default_factory=dict)
    presets_only: bool = False  # only preset= and the named sizes (and fmt)
    # Backend deadlines (docs/operations.md, "Deadlines and backend failures").
    upload_deadline_seconds: Annotated[float, Field(gt=0)] = 10.0  # after the body is read
    s3_connect_timeout_seconds: Annotated[float, Field(gt=0)] = 2.0
    s3_read_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    s3_max_attempts: Annotated[int, Field(ge=1, le=10)] = 2
    database_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    database_pool_timeout_seconds: Annotated[float, Field(gt=0)] = 2.0
    sqlite_busy_timeout_seconds: Annotated[float, Field(ge=0)] = 5.0

    @field_validator("workers", mode="before")
    @classmethod
    def _workers_unset(cls, value: object) -> object:
        return None if value == "" else value  # ENLARGER_WORKERS= : the default

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("blob_url")
    @classmethod
    def _blob_scheme(cls, value: str) -> str:
        if value and not value.startswith(("file://", "s3://")):
            raise ValueError("must start with file:// or s3://")
        if value.startswith("s3://") and not value[len("s3://") :].split("/", 1)[0]:
            raise ValueError("s3:// URL must name a bucket, e.g. s3://my-bucket/prefix")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else None

    @field_validator("width_ladder", "quality_ladder", "prerender_sizes", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in (p.strip() for p in text.split(",")) if part]
        return value

    @field_validator("presets", mode="before")
    @classmethod
    def _read_presets(cls, value: object) -> dict[str, dict[str, str]]:
        return read_presets(value)

    @field_validator("purge_url")
    @classmethod
    def _purge_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value or None

    @field_validator("purge_header")
    @classmethod
    def _purge_header(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not purge_header_parts(value.get_secret_value())[0]:
            raise ValueError("must be 'Header-Name: value'")
        return value

    @field_validator("width_ladder")
    @classmethod
    def _ladder(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(step <= 0 for step in value):
            raise ValueError("must be a non-empty list of positive widths")
        return tuple(sorted(set(value)))

    @field_validator("quality_ladder")
    @classmethod
    def _quality_ladder(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 1 <= step <= 100 for step in value):
            raise ValueError("must be a non-empty list of qualities from 1 to 100")
        return tuple(sorted(set(value)))

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"must be comma-separated CIDRs ({exc})") from None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        bad = [host for host in split_hosts(value) if not HOST.fullmatch(host)]
        if bad:
            raise ValueError(f"must be comma-separated host names, as in a Host header: {bad[0]}")
        return value

    @model_validator(mode="after")
    def _sizes_in_order(self) -> Settings:
        if not self.size_small <= self.size_medium <= self.size_large:
            raise ValueError(
                "ENLARGER_SIZE_SMALL <= ENLARGER_SIZE_MEDIUM <= ENLARGER_SIZE_LARGE must hold "
                f"(they are {self.size_small}, {self.size_medium}, {self.size_large})"
            )
        if self.default_quality not in self.quality_ladder:
            steps = ",".join(str(q) for q in self.quality_ladder)
            raise ValueError(
                f"ENLARGER_DEFAULT_QUALITY={self.default_quality} must be a step of "
                f"ENLARGER_QUALITY_LADDER={steps}"
            )
        return self

    @model_validator(mode="after")
    def _sweep_after_the_poll(self) -> Settings:
        if 0 < self.deletion_sweep_seconds <= self.deletion_poll_seconds:
            raise ValueError(
                "ENLARGER_DELETION_SWEEP_SECONDS must be longer than "
                "ENLARGER_DELETION_POLL_SECONDS (or 0: no sweep)"
            )
        return self

    @model_validator(mode="after")
    def _signature_needs_keys(self) -> Settings:
        if self.require_signature and not self.signing_secrets:
            raise ValueError("ENLARGER_REQUIRE_SIGNATURE needs ENLARGER_SIGNING_KEYS")
        return self

    @property
    def trusted_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def allowed_host_list(self) -> tuple[str, ...]:
        return split_hosts(self.allowed_hosts)

    @property
    def signing_secrets(self) -> tuple[bytes, ...]:
        """The signing keys, in the order given (the first one signs)."""
        raw = self.signing_keys.get_secret_value() if self.signing_keys else ""
        return tuple(key.strip().encode() for key in raw.split(",") if key.strip())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'enlarger.db').resolve()}"

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def named_sizes(self) -> dict[str, int]:
        return {"small": self.size_small, "medium": self.size_medium, "large": self.size_large}


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """``10.0.0.0/8, ::1/128`` → networks (a bare address is a /32 or /128)."""
    parts = (part.strip() for part in value.split(","))
    return tuple(ip_network(part, strict=False) for part in parts if part)


def split_hosts(value: str) -> tuple[str, ...]:
    """``"Img.Example.com, example.com:8443"`` → lower-case hosts (a trailing dot dropped)."""
    parts = (part.strip().lower().rstrip(".") for part in value.split(","))
    return tuple(part for part in parts if part)


def purge_header_parts(raw: str) -> tuple[str, str]:
    """``"Name: value"`` → ``("Name", "value")``; an empty name when malformed."""
    name, sep, value = raw.partition(":")
    name = name.strip()
    valid = sep and name and all(c.isalnum() or c == "-" for c in name)
    return (name, value.strip()) if valid else ("", "")


def read_presets(value: object) -> dict[str, dict[str, str]]:
    """``{"thumb": {"w": 200, "fit": "cover"}}`` (an object, its JSON text, or the path of a JSON
    file) → ``{"thumb": {"w": "200", "fit": "cover"}}``: names checked, values as in a query."""
    if isinstance(value, str):
        value = _presets_json(value.strip())
    if not isinstance(value, dict):
        raise ValueError('must be a JSON object of presets, e.g. {"thumb": {"w": 200}}')
    return {_preset_name(name): _preset_values(name, params) for name, params in value.items()}


def _presets_json(text: str) -> object:
    if not text:
        return {}
    if not text.startswith(("{", "[")):  # else a path
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"cannot read {text[:200]} ({exc.__class__.__name__}): give a JSON object "
                "or the path of a file holding one"
            ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def _preset_name(name: object) -> str:
    if not isinstance(name, str) or not PRESET_NAME.fullmatch(name):
        raise ValueError(
            f"preset {str(name)[:70]!r}: a name is 1-64 of a-z, 0-9, _ and -, starting with a "
            "letter or digit"
        )
    if name in BUILTIN_PRESETS:
        raise ValueError(
            f"preset {name!r}: {', '.join(BUILTIN_PRESETS)} are the named sizes (built-in "
            "presets, ENLARGER_SIZE_*); choose another name"
        )
    return name


def _preset_values(name: str, params: object) -> dict[str, str]:
    if not isinstance(params, dict) or not params:
        raise ValueError(
            f'preset {name!r}: must be a non-empty object of parameters, e.g. {{"w": 200}}'
        )
    return {str(key): _query_value(name, str(key), raw) for key, raw in params.items()}


def _query_value(name: str, parameter: str, raw: object) -> str:
    """A JSON value as the query would spell it: 200 → "200", true → "1"."""
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, int | float | str):
        return str(raw)
    raise ValueError(
        f"preset {name!r}: parameter {parameter!r}: must be a string, number or boolean"
    )


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus ``overrides``); raise :class:`ConfigurationError` naming the
    variable at fault."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [_problem(err) for err in exc.errors()]
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


def _problem(err: ErrorDetails) -> str:
    """One validation error in words. A field's names its variable; a check across several
    settings (a model validator, located nowhere) names its variables in its own message."""
    error = err.get("ctx", {}).get("error") if err["type"] == "value_error" else None
    message = str(error) if error is not None else err["msg"]
    field = ".".join(str(part) for part in err["loc"])
    return f"{ENV_PREFIX}{field.upper()}: {message}" if field else message
