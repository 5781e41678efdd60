"""A multi-host PostgreSQL URL split into one URL per host (enlarger.db.postgres._hosts)."""

from __future__ import annotations

from enlarger.db.postgres._hosts import split_hosts, url_parts
from enlarger.top.cli_support import redact


def test_one_url_per_host_with_the_same_user_database_and_options() -> None:
    url = "postgresql://u:pw@10.0.0.1:5432,[::1]:5433,db-b/enl?target_session_attrs=read-write"
    assert split_hosts(url) == [
        "postgresql://u:pw@10.0.0.1:5432/enl?target_session_attrs=read-write",
        "postgresql://u:pw@[::1]:5433/enl?target_session_attrs=read-write",
        "postgresql://u:pw@db-b/enl?target_session_attrs=read-write",
    ]


def test_a_single_host_is_left_as_it_is() -> None:
    for url in ("postgresql://u@h:5432/db", "postgresql:///db?host=/run/postgresql"):
        assert split_hosts(url) == [url]


def test_a_multi_host_url_is_redacted() -> None:
    url = "postgresql://u:s3cret@a:5432,b:5432/db?target_session_attrs=read-write"
    assert redact(url) == "postgresql://u:***@a:5432,b:5432/db?target_session_attrs=read-write"


def test_an_ipv6_host_in_a_multi_host_url_is_split_and_redacted_by_hand() -> None:
    """urllib.parse refuses this authority on the patch releases that check brackets strictly
    (Debian 12's Python 3.11.2): the URL is taken apart by hand everywhere it is read."""
    url = "postgresql://u:pw@a:5432,[::1]:5433/db?target_session_attrs=read-write"
    assert redact(url) == "postgresql://u:***@a:5432,[::1]:5433/db?target_session_attrs=read-write"
    assert url_parts(url) == (
        "postgresql",
        "u:pw@a:5432,[::1]:5433",
        "/db?target_session_attrs=read-write",
    )
