"""Samples of one run, in flat arrays (a 20 s hot run records a few hundred thousand)."""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field

# Status codes below 100 are failures below HTTP.
CONNECTION_ERROR = -1
TIMEOUT = -2
STATUS_NAMES = {CONNECTION_ERROR: "connection error", TIMEOUT: "timeout"}


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, str(status))


def is_error(status: int) -> bool:
    return status < 200 or status >= 400


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # start, seconds since the recorder started (scheduled time for open loops)
    latency: float  # seconds
    status: int
    kind: str
    size: int
    tier: str


@dataclass
class Recorder:
    """Appends are O(1) into arrays; kinds and tiers are interned as small integers."""

    start: float = field(default_factory=time.perf_counter)
    kinds: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=lambda: [""])
    t: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    status: array[int] = field(default_factory=lambda: array("i"))
    kind: array[int] = field(default_factory=lambda: array("i"))
    size: array[int] = field(default_factory=lambda: array("q"))
    tier: array[int] = field(default_factory=lambda: array("i"))
    errors: int = 0
    end: float | None = None

    def kind_id(self, name: str) -> int:
        try:
            return self.kinds.index(name)
        except ValueError:
            self.kinds.append(name)
            return len(self.kinds) - 1

    def tier_id(self, name: str) -> int:
        try:
            return self.tiers.index(name)
        except ValueError:
            self.tiers.append(name)
            return len(self.tiers) - 1

    def add(
        self, kind: int, started: float, latency: float, status: int, size: int, tier: int
    ) -> None:
        """``started`` is a perf_counter value."""
        self.t.append(started - self.start)
        self.latency.append(latency)
        self.status.append(status)
        self.kind.append(kind)
        self.size.append(size)
        self.tier.append(tier)
        if is_error(status):
            self.errors += 1

    def __len__(self) -> int:
        return len(self.t)

    def stop(self) -> None:
        self.end = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return (self.end if self.end is not None else time.perf_counter()) - self.start

    def samples(self) -> list[Sample]:
        return [
            Sample(
                self.t[i],
                self.latency[i],
                self.status[i],
                self.kinds[self.kind[i]],
                self.size[i],
                self.tiers[self.tier[i]],
            )
            for i in range(len(self))
        ]
