-- nextplane schema version 1 for SQLite (3.35 or newer).
-- Timestamps are UTC ISO-8601 text with microseconds, so text order is time
-- order; days are ISO dates. Booleans are 0 or 1. No table holds message
-- content: the metadata log records who, to whom, what type, when and what
-- the hub decided.

CREATE TABLE tenants (
    domain       TEXT PRIMARY KEY,
    platform     TEXT NOT NULL,
    workspace    TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT ''
);

CREATE TABLE users (
    address_key  TEXT PRIMARY KEY,  -- lower-case local part @ domain
    local        TEXT NOT NULL,     -- as given, for display
    domain       TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    platform     TEXT NOT NULL,
    platform_id  TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    avatar_url   TEXT,
    title        TEXT,
    UNIQUE (platform, platform_id)
);
CREATE INDEX users_tenant ON users (tenant, address_key);

CREATE TABLE contacts (
    owner_key    TEXT NOT NULL,
    external_key TEXT NOT NULL,
    owner        TEXT NOT NULL,
    external     TEXT NOT NULL,
    state        TEXT NOT NULL,
    direction    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (owner_key, external_key)
);
-- The external domain; queries repeat this expression exactly (_sql.SQLITE).
CREATE INDEX contacts_external_domain
    ON contacts (substr(external_key, instr(external_key, '@') + 1));

CREATE TABLE chat_sessions (
    session_id TEXT PRIMARY KEY,
    first_key  TEXT NOT NULL,  -- the pair in canonical (sorted key) order
    second_key TEXT NOT NULL,
    first      TEXT NOT NULL,
    second     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (first_key, second_key)
);

CREATE TABLE session_refs (
    platform   TEXT NOT NULL,
    ref        TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES chat_sessions (session_id) ON DELETE CASCADE,
    PRIMARY KEY (platform, ref),
    UNIQUE (session_id, platform)
);

CREATE TABLE message_map (
    platform   TEXT NOT NULL,
    native_id  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    session_id TEXT,
    PRIMARY KEY (platform, native_id),
    UNIQUE (message_id, platform)
);

CREATE TABLE tenant_policies (
    tenant          TEXT PRIMARY KEY,
    federation      TEXT NOT NULL,
    files           INTEGER NOT NULL CHECK (files IN (0, 1)),
    presence        INTEGER NOT NULL CHECK (presence IN (0, 1)),
    channel_invites INTEGER NOT NULL CHECK (channel_invites IN (0, 1))
);

CREATE TABLE user_policies (
    address_key TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1))
);

CREATE TABLE domain_policies (
    tenant  TEXT NOT NULL,
    pattern TEXT NOT NULL,
    action  TEXT NOT NULL,
    PRIMARY KEY (tenant, pattern)
);

CREATE TABLE metadata_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    ts            TEXT NOT NULL,
    sender        TEXT NOT NULL,
    receiver      TEXT NOT NULL,
    category      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    session_id    TEXT,
    decision      TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    tenant        TEXT,
    remote_domain TEXT,
    platform      TEXT
);
CREATE INDEX metadata_log_ts ON metadata_log (ts, id);
CREATE INDEX metadata_log_session ON metadata_log (session_id);
-- Users are matched case-insensitively: lower(sender) = lower(?).
CREATE INDEX metadata_log_sender ON metadata_log (lower(sender));
CREATE INDEX metadata_log_receiver ON metadata_log (lower(receiver));
CREATE INDEX metadata_log_remote_domain ON metadata_log (remote_domain);

CREATE TABLE usage_users (
    day           TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    remote_domain TEXT NOT NULL,
    platform      TEXT NOT NULL,
    user_key      TEXT NOT NULL,
    PRIMARY KEY (day, tenant, remote_domain, platform, user_key)
);

CREATE TABLE usage_messages (
    day           TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    remote_domain TEXT NOT NULL,
    platform      TEXT NOT NULL,
    messages      INTEGER NOT NULL,
    PRIMARY KEY (day, tenant, remote_domain, platform)
);
