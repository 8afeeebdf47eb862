-- nextplane schema version 4 for SQLite: SIP presence subscriptions.
-- One row per subscription dialog (call_id, local_tag), so that after a
-- restart the hub renews its own subscriptions (role 'subscriber') and
-- answers the peers' refreshes of theirs (role 'notifier'). Ids, routing,
-- state and expiry only: no presence document, no note, no display name.
-- route_set is a JSON list of Route values; secure is 0 or 1.

CREATE TABLE sip_subscriptions (
    call_id       TEXT NOT NULL,
    local_tag     TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('subscriber', 'notifier')),
    hub_user      TEXT NOT NULL,
    remote        TEXT NOT NULL,
    remote_tag    TEXT NOT NULL,
    local_uri     TEXT NOT NULL,
    remote_uri    TEXT NOT NULL,
    remote_target TEXT NOT NULL,
    route_set     TEXT NOT NULL,
    local_seq     INTEGER,
    remote_seq    INTEGER,
    local_contact TEXT NOT NULL,
    secure        INTEGER NOT NULL CHECK (secure IN (0, 1)),
    state         TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    PRIMARY KEY (call_id, local_tag)
);
