-- Kalamu store, schema 1: installed packs, learners and app settings.

CREATE TABLE packs (
    id           TEXT PRIMARY KEY,           -- stable pack id, e.g. org.kalamu.samples.networks-intro
    version      TEXT NOT NULL,              -- semantic version of the installed pack
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    language     TEXT NOT NULL,              -- BCP 47 tag: en, fr, ...
    publisher    TEXT NOT NULL,
    signer       TEXT,                       -- hex Ed25519 public key; NULL when installed unsigned
    installed_at INTEGER NOT NULL            -- unix milliseconds
) STRICT;

CREATE TABLE learners (
    id         TEXT PRIMARY KEY,             -- UUID, stable across devices
    name       TEXT NOT NULL CHECK (length(trim(name)) > 0),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
