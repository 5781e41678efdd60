-- 0004: claims and deletion (PostgreSQL). An upload is a claim on an image: a user's
-- user_images row, or an anonymous claim holding the SHA-256 of its delete token (the token
-- itself is only in the upload's answer). When the last claim goes, the image's rows go and
-- image_deletions gets a row, which every process polls to drop the image from its in-process
-- cache. images.placeholder: the BlurHash of the share page, computed once on its first view.

CREATE TABLE anonymous_claims (
    token_hash text PRIMARY KEY,
    image_id   text NOT NULL REFERENCES images (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX anonymous_claims_image_id_idx ON anonymous_claims (image_id);

CREATE TABLE image_deletions (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    image_id   text NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE images ADD COLUMN placeholder text;
