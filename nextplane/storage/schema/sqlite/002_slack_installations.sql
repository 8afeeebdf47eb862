-- nextplane schema version 2 for SQLite: Slack app installations.
-- One row per workspace that installed the Slack app with OAuth v2, so the
-- hub serves it after a restart without a configured bot token. bot_token
-- is a secret: dump_tables() shows it as [redacted] and it is never logged.
-- Scopes are comma-separated, as Slack gives them; installed_at is UTC
-- ISO-8601 text like every other timestamp.

CREATE TABLE slack_installations (
    team_id       TEXT PRIMARY KEY,
    bot_token     TEXT NOT NULL,
    bot_user_id   TEXT,
    bot_id        TEXT,
    scopes        TEXT NOT NULL,
    installed_at  TEXT NOT NULL,
    enterprise_id TEXT
);
