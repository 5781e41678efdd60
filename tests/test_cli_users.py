"""``enlarger users create|list|delete`` in-process on the embedded database: names follow the
documented rule; a user who holds images is not deleted; deleting one takes their API keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from enlarger.db.factory import open_repository
from enlarger.top import cli
from tests.test_repository_conformance import make_image


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ENLARGER_DATABASE_URL", "ENLARGER_BLOB_URL", "ENLARGER_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENLARGER_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["migrate"]) == 0
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", ["", "two words", "tab\there", "é", "x" * 65, "a/b"])
def test_names_outside_the_rule_are_refused(capsys: pytest.CaptureFixture[str], name: str) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["users", "create", name])
    assert caught.value.code == 2
    assert "a user name is 1 to 64 characters of ASCII letters, digits" in capsys.readouterr().err


def test_list_and_delete(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("bob", "alice.b-2_x", "x" * 64):
        assert run(capsys, "users", "create", name)[0] == 0
    assert run(capsys, "keys", "create", "bob", "--label", "laptop")[0] == 0
    image = make_image(7)
    asyncio.run(_claim(data_dir, "bob", image.id))

    code, out, _ = run(capsys, "users", "list")
    assert code == 0
    lines = [line.split("\t") for line in out.splitlines()]
    assert [line[0] for line in lines] == ["alice.b-2_x", "bob", "x" * 64]
    assert lines[1][3:] == ["1 images", "1 active keys"]

    code, _, err = run(capsys, "users", "delete", "bob")
    assert code == 1 and "bob still holds 1 images; nothing was deleted" in err
    assert "bob" in run(capsys, "users", "list")[1]
    code, _, err = run(capsys, "users", "delete", "nobody")
    assert code == 1 and "no user named 'nobody'" in err

    asyncio.run(_unclaim(data_dir, "bob", image.id))
    code, out, _ = run(capsys, "users", "delete", "bob")
    assert code == 0 and "deleted user bob and their API keys" in out
    assert "bob" not in run(capsys, "users", "list")[1]
    assert run(capsys, "keys", "list", "bob")[0] == 1


async def _claim(data_dir: Path, name: str, image_id: str) -> None:
    repo = await open_repository(f"sqlite:///{data_dir / 'enlarger.db'}")
    try:
        user = await repo.get_user(name)
        assert user is not None
        assert await repo.insert_image(make_image(7))
        assert await repo.link_user_image(user.id, image_id, "a.jpg")
    finally:
        await repo.close()


async def _unclaim(data_dir: Path, name: str, image_id: str) -> None:
    repo = await open_repository(f"sqlite:///{data_dir / 'enlarger.db'}")
    try:
        user = await repo.get_user(name)
        assert user is not None
        assert await repo.remove_user_claim(user.id, image_id) == "deleted"
    finally:
        await repo.close()
