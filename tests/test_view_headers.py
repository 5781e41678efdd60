"""The view's fixed headers, kept per (image, spec): what each answer gets is its own copy, with
the ETag of the canonical key, the purge keys of its image, and Vary only when negotiated."""

from __future__ import annotations

import pytest

from enlarger.proxy import headers
from enlarger.proxy.headers import IMMUTABLE, ViewHeaders
from enlarger.proxy.service import etag_for_key
from enlarger.proxy.spec import VariantSpec


def test_each_answer_gets_its_own_copy_of_the_same_headers() -> None:
    kept = ViewHeaders()
    spec = VariantSpec(width=640)
    first = kept.of("abc", spec)
    assert first["ETag"] == etag_for_key("abc", spec.key)
    assert first["Cache-Control"] == IMMUTABLE and first["X-Content-Type-Options"] == "nosniff"
    assert first["Surrogate-Key"] == first["Cache-Tag"] == "abc"
    assert "Vary" not in first
    first["Server-Timing"] = "tier;desc=memory"
    first["ETag"] = "changed"
    again = kept.of("abc", spec)
    assert again == kept.of("abc", spec) and again is not first
    assert "Server-Timing" not in again and again["ETag"] == etag_for_key("abc", spec.key)
    assert kept.of("abd", spec)["ETag"] != again["ETag"]


def test_negotiated_answers_vary_on_accept_and_a_full_store_starts_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = ViewHeaders()
    assert kept.of("abc", VariantSpec(width=640, format="auto"))["Vary"] == "Accept"
    monkeypatch.setattr(headers, "KEPT_HEADERS", 2)
    for index in range(5):
        kept.of(f"id{index}", VariantSpec(width=640))
        assert len(kept._made) <= 2
    assert kept.of("id4", VariantSpec(width=640))["Surrogate-Key"] == "id4"
