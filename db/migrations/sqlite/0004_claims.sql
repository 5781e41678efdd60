-- 0004: claims and deletion (SQLite). An upload is a claim on an image: a user's user_images
-- row, or an anonymous claim holding the SHA-256 of its delete token (the token itself is only
-- in the upload's answer). When the last claim goes, the image's rows go and image_deletions
-- gets a row, which every process polls to drop the image from its in-process cache.
-- images.placeholder: the BlurHash of the share page, computed once on its first view.

CREATE TABLE anonymous_claims (
    token_hash TEXT PRIMARY KEY,
    image_id   TEXT NOT NULL REFERENCES images (id),
    created_at TEXT NOT NULL
);

CREATE INDEX anonymous_claims_image_id_idx ON anonymous_claims (image_id);

CREATE TABLE image_deletions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id   TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);

ALTER TABLE images ADD COLUMN placeholder TEXT;
