-- 0005: statistics scoped to each claim (SQLite). Two uploaders of identical bytes share one
-- image and its view counts; each sees only the views from their own upload on.
-- user_images.views/bytes_served: the claim's own running total (the list's "views"), added to
-- by every flush for days from the claim's day on. claim_baselines: the counts of the claim's
-- day already recorded when the claim was made, subtracted from that day in the claim's
-- statistics. Claims made before this migration get their total from the days since their
-- upload day (that whole day included) and no baseline.

ALTER TABLE user_images ADD COLUMN views INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_images ADD COLUMN bytes_served INTEGER NOT NULL DEFAULT 0;

UPDATE user_images SET
    views = (
        SELECT COALESCE(SUM(v.views), 0) FROM image_views AS v
        WHERE v.image_id = user_images.image_id AND v.day >= substr(user_images.uploaded_at, 1, 10)
    ),
    bytes_served = (
        SELECT COALESCE(SUM(v.bytes_served), 0) FROM image_views AS v
        WHERE v.image_id = user_images.image_id AND v.day >= substr(user_images.uploaded_at, 1, 10)
    );

CREATE TABLE claim_baselines (
    user_id      INTEGER NOT NULL,
    image_id     TEXT NOT NULL,
    day          TEXT NOT NULL, -- the claim's day, 'YYYY-MM-DD' (UTC)
    kind         TEXT NOT NULL CHECK (kind IN ('variant', 'referrer', 'tier')),
    key          TEXT NOT NULL,
    views        INTEGER NOT NULL,
    bytes_served INTEGER NOT NULL,
    PRIMARY KEY (user_id, image_id, kind, key),
    FOREIGN KEY (user_id, image_id) REFERENCES user_images (user_id, image_id) ON DELETE CASCADE
);
