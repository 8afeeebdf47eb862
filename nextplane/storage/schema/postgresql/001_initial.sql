-- nextplane schema version 1 for PostgreSQL (10 or newer).
-- Same tables and columns as the SQLite schema. Columns the store sorts by
-- use the "C" collation so every database orders them by code point, as the
-- other backends do. No table holds message content: the metadata log
-- records who, to whom, what type, when and what the hub decided.

CREATE TABLE tenants (
    domain       TEXT COLLATE "C" PRIMARY KEY,
    platform     TEXT NOT NULL,
    workspace    TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT ''
);

CREATE TABLE users (
    address_key  TEXT COLLATE "C" PRIMARY KEY,  -- lower-case local part @ domain
    local        TEXT NOT NULL,                 -- as given, for display
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
    owner_key    TEXT COLLATE "C" NOT NULL,
    external_key TEXT COLLATE "C" NOT NULL,
    owner        TEXT NOT NULL,
    external     TEXT NOT NULL,
    state        TEXT NOT NULL,
    direction    TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner_key, external_key)
);
-- The external domain; queries repeat this expression exactly (_sql.POSTGRESQL).
CREATE INDEX contacts_external_domain ON contacts (split_part(external_key, '@', 2));

CREATE TABLE chat_sessions (
    session_id TEXT PRIMARY KEY,
    first_key  TEXT NOT NULL,  -- the pair in canonical (sorted key) order
    second_key TEXT NOT NULL,
    first      TEXT NOT NULL,
    second     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (first_key, second_key)
);

CREATE TABLE session_refs (
    platform   TEXT COLLATE "C" NOT NULL,
    ref        TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES chat_sessions (session_id) ON DELETE CASCADE,
    PRIMARY KEY (platform, ref),
    UNIQUE (session_id, platform)
);

CREATE TABLE message_map (
    platform   TEXT COLLATE "C" NOT NULL,
    native_id  TEXT COLLATE "C" NOT NULL,
    message_id TEXT NOT NULL,
    session_id TEXT,
    PRIMARY KEY (platform, native_id),
    UNIQUE (message_id, platform)
);

CREATE TABLE tenant_policies (
    tenant          TEXT COLLATE "C" PRIMARY KEY,
    federation      TEXT NOT NULL,
    files           BOOLEAN NOT NULL,
    presence        BOOLEAN NOT NULL,
    channel_invites BOOLEAN NOT NULL
);

CREATE TABLE user_policies (
    address_key TEXT COLLATE "C" PRIMARY KEY,
    address     TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL
);

CREATE TABLE domain_policies (
    tenant  TEXT COLLATE "C" NOT NULL,
    pattern TEXT COLLATE "C" NOT NULL,
    action  TEXT NOT NULL,
    PRIMARY KEY (tenant, pattern)
);

CREATE TABLE metadata_log (
    id            BIGSERIAL PRIMARY KEY,
    ts            TIMESTAMPTZ NOT NULL,
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
    day           DATE NOT NULL,
    tenant        TEXT COLLATE "C" NOT NULL,
    remote_domain TEXT COLLATE "C" NOT NULL,
    platform      TEXT COLLATE "C" NOT NULL,
    user_key      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (day, tenant, remote_domain, platform, user_key)
);

CREATE TABLE usage_messages (
    day           DATE NOT NULL,
    tenant        TEXT COLLATE "C" NOT NULL,
    remote_domain TEXT COLLATE "C" NOT NULL,
    platform      TEXT COLLATE "C" NOT NULL,
    messages      BIGINT NOT NULL,
    PRIMARY KEY (day, tenant, remote_domain, platform)
);
