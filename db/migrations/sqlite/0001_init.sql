-- 0001: initial schema (SQLite).
-- Times are ISO-8601 UTC text with microseconds and a trailing Z
-- ('2024-05-01T12:00:00.000000Z'): fixed width, so text order is time order.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
);

CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    username   TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash     TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE images (
    id         TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL UNIQUE,
    format     TEXT NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    frames     INTEGER NOT NULL DEFAULT 1,
    bytes      INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE user_images (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_id    TEXT NOT NULL REFERENCES images (id),
    uploaded_at TEXT NOT NULL,
    filename    TEXT,
    PRIMARY KEY (user_id, image_id)
);

CREATE INDEX user_images_user_uploaded_idx ON user_images (user_id, uploaded_at DESC);
CREATE INDEX user_images_image_id_idx ON user_images (image_id);

CREATE TABLE variants (
    image_id   TEXT NOT NULL REFERENCES images (id),
    key        TEXT NOT NULL,
    format     TEXT NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (image_id, key)
);

CREATE TABLE image_views (
    image_id     TEXT NOT NULL REFERENCES images (id),
    day          TEXT NOT NULL, -- 'YYYY-MM-DD' (UTC)
    variant      TEXT NOT NULL,
    views        INTEGER NOT NULL DEFAULT 0,
    bytes_served INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, day, variant)
);

CREATE INDEX image_views_day_idx ON image_views (day);
