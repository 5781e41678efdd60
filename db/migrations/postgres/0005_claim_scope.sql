-- 0005: statistics scoped to each claim (PostgreSQL). Two uploaders of identical bytes share one
-- image and its view counts; each sees only the views from their own upload on.
-- user_images.views/bytes_served: the claim's own running total (the list's "views"), added to
-- by every flush for days from the claim's day on. claim_baselines: the counts of the claim's
-- day already recorded when the claim was made, subtracted from that day in the claim's
-- statistics. Claims made before this migration get their total from the days since their
-- upload day (that whole day included) and no baseline.

ALTER TABLE user_images ADD COLUMN views bigint NOT NULL DEFAULT 0;
ALTER TABLE user_images ADD COLUMN bytes_served bigint NOT NULL DEFAULT 0;

UPDATE user_images AS ui SET views = s.views, bytes_served = s.bytes_served
FROM (
    SELECT u.user_id, u.image_id, SUM(v.views) AS views, SUM(v.bytes_served) AS bytes_served
    FROM user_images AS u JOIN image_views AS v ON v.image_id = u.image_id
        AND v.day >= (u.uploaded_at AT TIME ZONE 'UTC')::date
    GROUP BY u.user_id, u.image_id
) AS s
WHERE ui.user_id = s.user_id AND ui.image_id = s.image_id;

CREATE TABLE claim_baselines (
    user_id      bigint NOT NULL,
    image_id     text NOT NULL,
    day          date NOT NULL, -- the claim's day (UTC)
    kind         text NOT NULL CHECK (kind IN ('variant', 'referrer', 'tier')),
    key          text NOT NULL,
    views        bigint NOT NULL,
    bytes_served bigint NOT NULL,
    PRIMARY KEY (user_id, image_id, kind, key),
    FOREIGN KEY (user_id, image_id) REFERENCES user_images (user_id, image_id) ON DELETE CASCADE
);
