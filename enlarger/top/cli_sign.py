"""``enlarger sign URL``: the URL signed with the first of ``ENLARGER_SIGNING_KEYS``, once read as
the server will (the ``/i/<id>`` path, its extension, the query through the same parser): a URL the
server would refuse is not signed, and the refusal says why."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from enlarger import ids
from enlarger.errors import EnlargerError
from enlarger.proxy.signing import Signer
from enlarger.proxy.spec import ViewPolicy, check_presets_only, parse_spec, split_extension
from enlarger.settings import Settings

VIEW_PREFIX = "/i/"


def add_commands(commands: Any) -> None:
    """Register ``sign`` on the top-level parser's subparsers."""
    sign = commands.add_parser(
        "sign", help="sign a view URL (exact sizes; needed under ENLARGER_REQUIRE_SIGNATURE)"
    )
    sign.add_argument("url", help="a view URL or path, as it will be requested: /i/<id>?w=333")
    sign.set_defaults(handler=sign_url)


def sign_url(settings: Settings, args: argparse.Namespace) -> int:
    signer = Signer(settings.signing_secrets)
    signed = signer.sign(args.url)  # its own refusals first: no keys, signed already
    check_view(args.url, replace(ViewPolicy.from_settings(settings), exact=True))
    print(signed)
    return 0


def check_view(url: str, policy: ViewPolicy) -> None:
    """Raise, in the server's words, when the server would not answer ``url`` with an image."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    raw_id = path.removeprefix(VIEW_PREFIX)
    if not path.startswith(VIEW_PREFIX) or not ids.is_path_id(raw_id):
        raise EnlargerError(f"not signed: {path[:80]!r} is not a view path {VIEW_PREFIX}<id>")
    try:
        extension = split_extension(raw_id)[1]
        query = parse_qsl(parts.query, keep_blank_values=True)
        check_presets_only([name for name, _ in query], policy)  # a signature does not open it
        parse_spec(query, policy, None, extension)
    except EnlargerError as exc:
        raise EnlargerError(
            f"not signed: the server would answer {exc.status} {exc.code}: {exc.message}"
        ) from None
