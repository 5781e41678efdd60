-- 0001: initial schema (PostgreSQL).

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE users (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username   text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash     text NOT NULL UNIQUE,
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE images (
    id         text PRIMARY KEY,
    sha256     text NOT NULL UNIQUE,
    format     text NOT NULL,
    width      integer NOT NULL,
    height     integer NOT NULL,
    frames     integer NOT NULL DEFAULT 1,
    bytes      bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_images (
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_id    text NOT NULL REFERENCES images (id),
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    filename    text,
    PRIMARY KEY (user_id, image_id)
);

CREATE INDEX user_images_user_uploaded_idx ON user_images (user_id, uploaded_at DESC);
CREATE INDEX user_images_image_id_idx ON user_images (image_id);

CREATE TABLE variants (
    image_id   text NOT NULL REFERENCES images (id),
    key        text NOT NULL,
    format     text NOT NULL,
    width      integer NOT NULL,
    height     integer NOT NULL,
    bytes      bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, key)
);

CREATE TABLE image_views (
    image_id     text NOT NULL REFERENCES images (id),
    day          date NOT NULL,
    variant      text NOT NULL,
    views        bigint NOT NULL DEFAULT 0,
    bytes_served bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, day, variant)
);

CREATE INDEX image_views_day_idx ON image_views (day);
