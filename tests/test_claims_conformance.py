"""The claims part of :class:`db.protocol.Repository` on every backend: anonymous claims, claim
removal down to the last one, the deletion log and the placeholder."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from enlarger.db._claims import ImageGone
from enlarger.db.protocol import Repository
from tests.test_repository_conformance import db_url, make_image, make_variant, repo, views

__all__ = ["db_url", "repo"]  # the fixtures, shared with the repository suite


async def _claimed_image(repo: Repository, n: int) -> str:
    image = make_image(n)
    assert await repo.insert_image(image)
    return image.id


async def test_removing_claims_down_to_the_last(repo: Repository) -> None:
    image_id = await _claimed_image(repo, 1)
    user = await repo.create_user("alice")
    await repo.link_user_image(user.id, image_id, "a.jpg")
    await repo.add_anonymous_claim(image_id, "hash-1")
    await repo.record_variant(make_variant(image_id, "p1.w320"))
    await repo.record_views([views(image_id, date(2026, 5, 1), 3)])
    assert await repo.remove_anonymous_claim(image_id, "wrong") == "none"
    assert await repo.remove_user_claim(user.id + 1, image_id) == "none"
    assert await repo.remove_anonymous_claim(image_id, "hash-1") == "kept"
    assert await repo.get_image(image_id) is not None
    assert await repo.remove_anonymous_claim(image_id, "hash-1") == "none"  # once
    assert await repo.remove_user_claim(user.id, image_id) == "deleted"
    assert await repo.get_image(image_id) is None
    assert await repo.list_variants(image_id) == []
    assert (await repo.image_stats(image_id)).views == 0
    assert await repo.list_user_images(user.id) == []


async def test_deletion_log(repo: Repository) -> None:
    assert await repo.last_deletion() == 0
    first, second = await _claimed_image(repo, 2), await _claimed_image(repo, 3)
    for image_id, token in ((first, "t2"), (second, "t3")):
        await repo.add_anonymous_claim(image_id, token)
    assert await repo.remove_anonymous_claim(first, "t2") == "deleted"
    start = await repo.last_deletion()
    assert start > 0
    assert await repo.remove_anonymous_claim(second, "t3") == "deleted"
    assert [image for _, image in await repo.deletions_after(0)] == [first, second]
    assert [image for _, image in await repo.deletions_after(start)] == [second]
    assert await repo.deletions_after(await repo.last_deletion()) == []


async def test_last_claims_removed_at_once_delete_the_image_once(
    db_url: str, repo: Repository
) -> None:
    from enlarger.db.factory import open_repository

    image_id = await _claimed_image(repo, 4)
    for token in ("a", "b"):
        await repo.add_anonymous_claim(image_id, token)
    other = await open_repository(db_url)
    try:
        answers = await asyncio.gather(
            repo.remove_anonymous_claim(image_id, "a"), other.remove_anonymous_claim(image_id, "b")
        )
    finally:
        await other.close()
    assert sorted(answers) == ["deleted", "kept"]
    assert await repo.get_image(image_id) is None


async def test_placeholder_is_kept(repo: Repository) -> None:
    image_id = await _claimed_image(repo, 5)
    assert await repo.get_placeholder(image_id) is None
    await repo.set_placeholder(image_id, "LEHV6nWB2yk8pyo0adR*.7kCMdnj")
    assert await repo.get_placeholder(image_id) == "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
    assert await repo.get_placeholder("missing") is None


async def test_a_claim_on_a_missing_image_says_so(repo: Repository) -> None:
    """What an upload racing the removal of the image's last claim meets (then stores anew)."""
    user = await repo.create_user("late")
    with pytest.raises(ImageGone):
        await repo.link_user_image(user.id, "gone", None)
    with pytest.raises(ImageGone):
        await repo.add_anonymous_claim("gone", "hash")


async def test_a_failure_on_the_last_claim_rolls_the_removal_back(repo: Repository) -> None:
    """The blobs go inside the removal's transaction: if that fails, rows and claim stay."""
    image_id = await _claimed_image(repo, 6)
    await repo.add_anonymous_claim(image_id, "t6")

    async def blob_store_down() -> None:
        raise RuntimeError("blob store down")

    with pytest.raises(RuntimeError):
        await repo.remove_anonymous_claim(image_id, "t6", blob_store_down)
    assert await repo.get_image(image_id) is not None
    assert await repo.last_deletion() == 0
    ran: list[bool] = []

    async def blobs_deleted() -> None:  # (no repository call here: SQLite's lock is held)
        ran.append(True)

    assert await repo.remove_anonymous_claim(image_id, "t6", blobs_deleted) == "deleted"
    assert ran == [True]


async def test_a_user_holding_images_is_not_deleted(repo: Repository) -> None:
    """Deleting a user never drops their claims behind the deletion path's back (the cascade
    would leave the image public with no one able to delete it): refused until they hold none;
    then the user and their API keys go."""
    image_id = await _claimed_image(repo, 2)
    alice, bob = await repo.create_user("alice"), await repo.create_user("bob")
    await repo.link_user_image(alice.id, image_id, "a.jpg")
    await repo.create_api_key(alice.id, "hash-a", "laptop")
    revoked = await repo.create_api_key(alice.id, "hash-old", "old")
    await repo.revoke_api_key(revoked.id)
    listed = [(u.user.username, u.images, u.keys) for u in await repo.list_users()]
    assert listed == [("alice", 1, 1), ("bob", 0, 0)]

    assert await repo.delete_user(alice.id) == 1
    assert await repo.get_user("alice") == alice
    assert await repo.user_for_api_key("hash-a") == alice
    assert await repo.remove_user_claim(alice.id, image_id) == "deleted"
    assert await repo.delete_user(alice.id) == 0
    assert await repo.get_user("alice") is None
    assert await repo.user_for_api_key("hash-a") is None
    assert [u.user.username for u in await repo.list_users()] == ["bob"]
    assert await repo.delete_user(bob.id) == 0
    assert await repo.list_users() == []
