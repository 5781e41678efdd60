from __future__ import annotations

import hashlib

from enlarger import ids


def test_public_id_is_keyed_and_stable() -> None:
    sha = hashlib.sha256(b"photo").hexdigest()
    a, b = ids.new_secret(), ids.new_secret()
    assert ids.public_id(a, sha) == ids.public_id(a, sha)
    assert ids.public_id(a, sha) != ids.public_id(b, sha)
    assert ids.is_public_id(ids.public_id(a, sha))
    assert not ids.is_public_id("../../etc/passwd")


def test_blob_keys_are_sharded() -> None:
    image_id = ids.public_id(b"k", hashlib.sha256(b"x").hexdigest())
    assert ids.original_key(image_id) == f"originals/{image_id[:2]}/{image_id[2:4]}/{image_id}"
    assert ids.variant_key(image_id, "p1.w640.q80.same").endswith(f"{image_id}/p1.w640.q80.same")


def test_api_keys_are_random_and_only_hashed() -> None:
    key = ids.new_api_key()
    assert key.startswith("enl_") and len(key) > 40 and key != ids.new_api_key()
    assert ids.hash_api_key(key) != key and len(ids.hash_api_key(key)) == 64


def test_ids_in_paths_have_one_shape() -> None:
    image_id = ids.public_id(b"k", hashlib.sha256(b"x").hexdigest())
    assert ids.is_path_id(image_id) and ids.is_path_id(f"{image_id}.webp")
    assert not ids.is_public_id(image_id + "\n")  # "$" alone would let a newline through
    for raw in ("\x00", image_id + "\x00", image_id + "\n", f"{image_id}.", f"{image_id}.a.b"):
        assert not ids.is_path_id(raw), repr(raw)
    assert not ids.is_path_id(f"{image_id}.j\x00g") and not ids.is_path_id(image_id.upper())
