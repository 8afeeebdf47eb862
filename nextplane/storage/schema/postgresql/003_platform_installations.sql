-- nextplane schema version 3 for PostgreSQL: platform installations.
-- Same table and columns as the SQLite schema. Slack installations become
-- platform installations, so Teams and Webex store theirs without a
-- migration of their own: one row per (platform, workspace or tenant id).
-- credentials is a secret (dump_tables() shows it as [redacted]; it is
-- never logged). Scopes are comma-separated; attributes is a JSON object
-- (text) of non-secret facts, unknown ones left out. Every Slack
-- installation is carried over.

CREATE TABLE platform_installations (
    platform     TEXT COLLATE "C" NOT NULL,
    workspace    TEXT COLLATE "C" NOT NULL,
    credentials  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    installed_at TIMESTAMPTZ NOT NULL,
    attributes   TEXT NOT NULL,
    PRIMARY KEY (platform, workspace)
);

INSERT INTO platform_installations
    (platform, workspace, credentials, scopes, installed_at, attributes)
SELECT 'slack', team_id, bot_token, scopes, installed_at,
       jsonb_strip_nulls(jsonb_build_object('bot_user_id', bot_user_id, 'bot_id', bot_id,
                                            'enterprise_id', enterprise_id))::text
  FROM slack_installations;

DROP TABLE slack_installations;
