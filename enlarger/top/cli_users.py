"""``enlarger users create|list|delete``: the accounts that upload with API keys. A name is 1 to 64
ASCII letters, digits, ``.``, ``_`` or ``-``; deleting a user removes their keys and is refused
while they hold a claim on an image (docs/operations.md, "Users")."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from enlarger.db import Repository, User
from enlarger.errors import EnlargerError
from enlarger.settings import Settings
from enlarger.top.cli_support import with_repo

USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
USERNAME_RULE = "1 to 64 characters of ASCII letters, digits, '.', '_' and '-'"


def add_commands(commands: Any) -> None:
    """Register ``users`` on the top-level parser's subparsers."""
    users = commands.add_parser("users", help="manage users").add_subparsers(required=True)
    create = users.add_parser("create", help=f"create a user (a name of {USERNAME_RULE})")
    create.add_argument("name", type=username)
    create.set_defaults(handler=create_user)
    listing = users.add_parser("list", help="list users, their images and active API keys")
    listing.set_defaults(handler=list_users)
    delete = users.add_parser(
        "delete", help="delete a user and their API keys (refused while they hold images)"
    )
    delete.add_argument("name")
    delete.set_defaults(handler=delete_user)


def username(raw: str) -> str:
    if not USERNAME.fullmatch(raw):
        raise argparse.ArgumentTypeError(f"a user name is {USERNAME_RULE}, not {raw[:80]!r}")
    return raw


async def get_user(repo: Repository, name: str) -> User:
    user = await repo.get_user(name)
    if user is None:
        raise EnlargerError(f"no user named {name!r}: create it with 'enlarger users create'")
    return user


def create_user(settings: Settings, args: argparse.Namespace) -> int:
    async def work(repo: Repository) -> int:
        user = await repo.create_user(args.name)
        print(f"created user {user.username} (id {user.id})")
        return 0

    return with_repo(settings, work)


def list_users(settings: Settings, args: argparse.Namespace) -> int:
    async def work(repo: Repository) -> int:
        for entry in await repo.list_users():
            user = entry.user
            print(
                f"{user.username}\tid {user.id}\tcreated {user.created_at:%Y-%m-%d}"
                f"\t{entry.images} images\t{entry.keys} active keys"
            )
        return 0

    return with_repo(settings, work)


def delete_user(settings: Settings, args: argparse.Namespace) -> int:
    async def work(repo: Repository) -> int:
        user = await get_user(repo, args.name)
        held = await repo.delete_user(user.id)
        if held:
            print(
                f"enlarger: {user.username} still holds {held} images; nothing was deleted. "
                "Delete them first (DELETE /v1/images/<id> with one of their API keys, "
                "GET /v1/me/images lists them), then delete the user",
                file=sys.stderr,
            )
            return 1
        print(f"deleted user {user.username} and their API keys")
        return 0

    return with_repo(settings, work)
