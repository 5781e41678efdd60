"""What two uploaders of identical bytes share, on every backend: statistics scoped to each
claim (nothing from before it, the claim's day included), the claim's own total and time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from enlarger.db.models import Breakdown
from enlarger.db.protocol import Repository
from tests.test_repository_conformance import db_url, images, repo, views

__all__ = ["db_url", "repo"]  # the fixtures, shared with the repository suite

MAY_1 = date(2024, 5, 1)


def _today() -> date:
    return datetime.now(UTC).date()


async def test_a_later_claim_sees_nothing_from_before_it(repo: Repository) -> None:
    [image_id] = await images(repo, 40)
    alice, bob = await repo.create_user("alice"), await repo.create_user("bob")
    assert await repo.link_user_image(alice.id, image_id, "alice.jpg")
    today = _today()
    await repo.record_views(
        [
            views(image_id, today, 5, referrer="alice-blog.example", tier="render"),
            views(image_id, MAY_1, 7, referrer="old.example", variant="p1.b320.q80.same"),
        ]
    )
    assert await repo.link_user_image(bob.id, image_id, "bob.jpg")
    assert (await repo.image_stats(image_id, user_id=bob.id)).views == 0
    await repo.record_views([views(image_id, _today(), 3, referrer="bob.example")])

    bobs = await repo.image_stats(image_id, user_id=bob.id)
    assert (bobs.views, bobs.bytes) == (3, 3000)
    assert [(b.start, b.views) for b in bobs.days] == [(today, 3)]
    assert bobs.referrers == (Breakdown("bob.example", 3, 3000),)
    assert bobs.variants == (Breakdown("p1.w640.q80.same", 3, 3000),)
    assert bobs.tiers == (Breakdown("memory", 3, 3000),)  # not Alice's renders
    alices = await repo.image_stats(image_id, user_id=alice.id)  # from her own claim's day
    assert alices.views == 8 and {r.key for r in alices.referrers} == {
        "alice-blog.example",
        "bob.example",
    }
    assert (await repo.image_stats(image_id)).views == 15  # unscoped: public statistics
    listed = {r.entry.filename: r.views for r in await repo.list_user_image_views(bob.id)}
    assert listed == {"bob.jpg": 3}
    assert [r.views for r in await repo.list_user_image_views(alice.id)] == [8]
    carol = await repo.create_user("carol")
    assert (await repo.image_stats(image_id, user_id=carol.id)).views == 0  # no claim


async def test_a_claim_made_again_starts_again(repo: Repository) -> None:
    [image_id] = await images(repo, 41)
    alice, bob = await repo.create_user("alice"), await repo.create_user("bob")
    await repo.link_user_image(alice.id, image_id, None)
    await repo.link_user_image(bob.id, image_id, None)
    await repo.record_views([views(image_id, _today(), 4)])
    assert (await repo.image_stats(image_id, user_id=bob.id)).views == 4
    assert await repo.remove_user_claim(bob.id, image_id) == "kept"
    assert await repo.link_user_image(bob.id, image_id, None)  # its old baseline went with it
    assert (await repo.image_stats(image_id, user_id=bob.id)).views == 0
    assert [r.views for r in await repo.list_user_image_views(bob.id)] == [0]
    claimed = await repo.claim_time(bob.id, image_id)
    assert claimed is not None and abs(claimed - datetime.now(UTC)) < timedelta(minutes=1)
    assert await repo.claim_time(bob.id, "missing") is None


async def test_a_rolled_up_claim_day_takes_its_baseline_with_it(repo: Repository) -> None:
    """Once the claim's day is folded into a month, that month is left out of the claim's
    statistics and the baseline no longer subtracts from the days after it."""
    [image_id] = await images(repo, 44)
    alice, bob = await repo.create_user("alice"), await repo.create_user("bob")
    await repo.link_user_image(alice.id, image_id, None)
    today = _today()
    await repo.record_views([views(image_id, today, 5)])
    await repo.link_user_image(bob.id, image_id, None)
    await repo.record_views([views(image_id, today, 3)])
    assert await repo.rollup_views(today + timedelta(days=1)) == 1
    tomorrow = today + timedelta(days=1)
    await repo.record_views([views(image_id, tomorrow, 4)])
    bobs = await repo.image_stats(image_id, user_id=bob.id)
    assert bobs.views == 4 and bobs.variants == (Breakdown("p1.w640.q80.same", 4, 4000),)
    assert bobs.referrers == (Breakdown("example.com", 4, 4000),)
    assert [r.views for r in await repo.list_user_image_views(bob.id)] == [7]
