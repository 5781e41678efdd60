"""``enlarger sign URL``: print the URL signed with the first of ``ENLARGER_SIGNING_KEYS``."""

from __future__ import annotations

import argparse
from typing import Any

from enlarger.proxy.signing import Signer
from enlarger.settings import Settings


def add_commands(commands: Any) -> None:
    """Register ``sign`` on the top-level parser's subparsers."""
    sign = commands.add_parser(
        "sign", help="sign a view URL (exact sizes; needed under ENLARGER_REQUIRE_SIGNATURE)"
    )
    sign.add_argument("url", help="a view URL or path, as it will be requested: /i/<id>?w=333")
    sign.set_defaults(handler=sign_url)


def sign_url(settings: Settings, args: argparse.Namespace) -> int:
    print(Signer(settings.signing_secrets).sign(args.url))
    return 0
