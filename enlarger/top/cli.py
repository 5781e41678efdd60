"""The ``enlarger`` command. Every subcommand reads the same settings as ``serve``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from enlarger import ids
from enlarger.db import Repository
from enlarger.errors import ConfigurationError, EnlargerError, SetupError
from enlarger.proxy import presets
from enlarger.settings import Settings, load_settings
from enlarger.top import cli_analytics, cli_doctor, cli_gc, cli_serve, cli_sign, cli_users, logs
from enlarger.top.cli_support import with_repo
from enlarger.top.cli_users import get_user


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        presets.check(settings)  # the parameters are the view feature's to check
    except ConfigurationError as exc:
        print(f"enlarger: {exc.message}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        result: int = args.handler(settings, args)
    except SetupError as exc:  # a port in use, no database there
        print(f"enlarger: {exc.message}", file=sys.stderr)
        return 2
    except EnlargerError as exc:
        print(f"enlarger: {exc.message}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enlarger", description="Image host and image proxy.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default=None, help="default ENLARGER_HOST, else 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default ENLARGER_PORT, else 8080")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes sharing the port (default ENLARGER_WORKERS, else one per core)",
    )
    serve.set_defaults(handler=cli_serve.serve)
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(handler=_migrate)
    cli_users.add_commands(commands)
    _key_commands(commands)
    cli_analytics.add_commands(commands)
    cli_sign.add_commands(commands)
    cli_gc.add_commands(commands)
    cli_doctor.add_commands(commands)
    return parser


def _key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(required=True)
    create = keys.add_parser("create", help="create an API key for a user (printed once)")
    create.add_argument("name")
    create.add_argument("--label", default="")
    create.set_defaults(handler=_create_key)
    listing = keys.add_parser("list", help="list a user's API keys (never the keys)")
    listing.add_argument("name")
    listing.set_defaults(handler=_list_keys)
    revoke = keys.add_parser("revoke", help="revoke an API key by its id")
    revoke.add_argument("key_id", type=int)
    revoke.set_defaults(handler=_revoke_key)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(repo: Repository) -> int:
        print(f"schema version {await repo.schema_version()}")
        return 0

    return with_repo(settings, work, create=True)


def _create_key(settings: Settings, args: argparse.Namespace) -> int:
    async def work(repo: Repository) -> int:
        user = await get_user(repo, args.name)
        key = ids.new_api_key()
        record = await repo.create_api_key(user.id, ids.hash_api_key(key), args.label)
        print(f"API key {record.id} for {user.username}; it is shown only this once:")
        print(key)
        return 0

    return with_repo(settings, work)


def _list_keys(settings: Settings, args: argparse.Namespace) -> int:
    async def work(repo: Repository) -> int:
        user = await get_user(repo, args.name)
        for key in await repo.list_api_keys(user.id):
            state = "revoked" if key.revoked_at else "active"
            used = key.last_used_at.isoformat() if key.last_used_at else "never"
            print(
                f"{key.id}\t{state}\t{key.label or '-'}\tcreated {key.created_at:%Y-%m-%d}"
                f"\tlast used {used}"
            )
        return 0

    return with_repo(settings, work)


def _revoke_key(settings: Settings, args: argparse.Namespace) -> int:
    async def work(repo: Repository) -> int:
        if not await repo.revoke_api_key(args.key_id):
            print(f"enlarger: no active API key with id {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked API key {args.key_id}")
        return 0

    return with_repo(settings, work)


if __name__ == "__main__":
    raise SystemExit(main())
