-- nextplane schema version 2 for PostgreSQL: Slack app installations.
-- Same table and columns as the SQLite schema. One row per workspace that
-- installed the Slack app with OAuth v2, so the hub serves it after a
-- restart without a configured bot token. bot_token is a secret:
-- dump_tables() shows it as [redacted] and it is never logged. Scopes are
-- comma-separated, as Slack gives them.

CREATE TABLE slack_installations (
    team_id       TEXT COLLATE "C" PRIMARY KEY,
    bot_token     TEXT NOT NULL,
    bot_user_id   TEXT,
    bot_id        TEXT,
    scopes        TEXT NOT NULL,
    installed_at  TIMESTAMPTZ NOT NULL,
    enterprise_id TEXT
);
