-- nextplane schema: work records, one per accepted message (issue 16).
-- Ids and state only: never a body, file name or status text. (source,
-- origin) is the message's id at its source (Slack team:event_id, XMPP full
-- JID + stanza id, SIP Call-ID + CSeq), so a retry is routed once; finished
-- records are pruned after the dedupe window. Unfinished ones (accepted,
-- handed_over) are what a restarted hub tells the senders about.

CREATE TABLE work_records (
    source       TEXT NOT NULL,
    origin       TEXT NOT NULL,
    work_id      TEXT NOT NULL,
    sender       TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    conversation TEXT NOT NULL,
    native_id    TEXT NOT NULL,
    delivered_id TEXT NOT NULL,
    state        TEXT NOT NULL,
    accepted_at  TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (source, origin)
);

CREATE INDEX work_records_unfinished ON work_records (state, accepted_at);
CREATE INDEX work_records_updated ON work_records (updated_at);
