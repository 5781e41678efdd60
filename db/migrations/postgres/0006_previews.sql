-- 0006: an image's placeholder for clients (PostgreSQL), shown by GET /v1/images/<id>: its
-- ThumbHash (base64) and dominant colour ('#rrggbb'), made at upload, or on the first GET of an
-- image stored before this migration (or whose upload could not make them). NULL: not made yet.

ALTER TABLE images
    ADD COLUMN thumbhash      text,
    ADD COLUMN dominant_color text;
