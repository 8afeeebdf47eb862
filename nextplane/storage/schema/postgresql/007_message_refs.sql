-- nextplane schema: message refs (issue 12). Which platform message a hub
-- message became or came from, between whom, and its place in a thread, so
-- a contact's edit or deletion and a user's reply still find it after a
-- restart. Ids and addresses only, never content; pruned by created_at.
-- conversation is the connector's key (Webex: the user's person id); a
-- later piece of a message the platform took in several has hub_id ''.

CREATE TABLE message_refs (
    platform      TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    native_id     TEXT NOT NULL,
    hub_id        TEXT NOT NULL,
    user_address  TEXT NOT NULL,
    contact       TEXT NOT NULL,
    from_platform INTEGER NOT NULL,
    thread_parent TEXT NOT NULL,
    starts_thread INTEGER NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform, conversation, native_id)
);

CREATE INDEX message_refs_hub ON message_refs (platform, hub_id);
CREATE INDEX message_refs_threads ON message_refs (platform, conversation, contact, starts_thread);
CREATE INDEX message_refs_created ON message_refs (created_at);
