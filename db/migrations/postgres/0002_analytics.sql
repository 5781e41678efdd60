-- 0002: analytics (PostgreSQL). Views are flushed in batches by every process; nothing is
-- written per view. image_views (0001) keeps the per-variant counts; two sibling tables keep the
-- per-referrer-host and per-tier counts of the same views, and image_view_totals the running
-- total per image (for listing and sorting). A row's period is 'day' or, once rolled up,
-- 'month': a month row is keyed by the first day of its month.

ALTER TABLE image_views
    ADD COLUMN period text NOT NULL DEFAULT 'day' CHECK (period IN ('day', 'month'));

CREATE TABLE image_view_referrers (
    image_id     text NOT NULL REFERENCES images (id),
    day          date NOT NULL,
    referrer     text NOT NULL, -- host name only; '' when no Referer was sent
    period       text NOT NULL DEFAULT 'day' CHECK (period IN ('day', 'month')),
    views        bigint NOT NULL DEFAULT 0,
    bytes_served bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, day, referrer)
);

CREATE INDEX image_view_referrers_day_idx ON image_view_referrers (day);

CREATE TABLE image_view_tiers (
    image_id     text NOT NULL REFERENCES images (id),
    day          date NOT NULL,
    tier         text NOT NULL, -- memory, redis, store, render, etag (304), cdn (imported)
    period       text NOT NULL DEFAULT 'day' CHECK (period IN ('day', 'month')),
    views        bigint NOT NULL DEFAULT 0,
    bytes_served bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, day, tier)
);

CREATE INDEX image_view_tiers_day_idx ON image_view_tiers (day);

CREATE TABLE image_view_totals (
    image_id     text PRIMARY KEY REFERENCES images (id),
    views        bigint NOT NULL DEFAULT 0,
    bytes_served bigint NOT NULL DEFAULT 0
);

CREATE TABLE imported_logs (
    sha256      text PRIMARY KEY, -- of the (decompressed) file content
    name        text NOT NULL,
    format      text NOT NULL,    -- cloudfront, nginx
    views       bigint NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now()
);
