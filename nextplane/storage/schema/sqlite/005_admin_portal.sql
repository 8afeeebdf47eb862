-- The admin portal: accounts, the audit trail and tenant retirement.
-- No message content: audit rows say who did what, when and from where.
CREATE TABLE admin_accounts (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    tenant        TEXT,
    token_hash    TEXT UNIQUE,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE admin_audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    tenant    TEXT,
    source    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX admin_audit_tenant ON admin_audit (tenant, id);

CREATE TABLE tenant_retirements (
    domain     TEXT PRIMARY KEY,
    retired_at TEXT NOT NULL
);
