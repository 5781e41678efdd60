-- 0003: images that cannot be rendered (PostgreSQL). A render that finds the pixel data
-- undecodable (a valid header over corrupt data: the upload cannot tell without decoding) marks
-- the image, in the background; the view path never reads this (it has its own short-lived
-- marker in the caches). NULL: renderable as far as is known; else the reason, e.g.
-- 'undecodable'.

ALTER TABLE images
    ADD COLUMN unrenderable    text,
    ADD COLUMN unrenderable_at timestamptz;
