-- The event log: every call transition, note and presence change, appended
-- by events_append() in the same transaction as the change it describes.
-- seq is the order every subscriber sees and the cursor they resume from.
--
-- Producers take pg_advisory_xact_lock(EVENTS_APPEND_LOCK) before taking a
-- seq, so transactions that append commit in seq order: a reader that sees
-- seq N knows every smaller seq is either visible already or never will be
-- (rolled back), and can read by range without waiting on gaps.
CREATE TABLE call_events (
    seq          bigserial   PRIMARY KEY,
    type         smallint    NOT NULL CHECK (type BETWEEN 1 AND 7),  -- callservice.v1.EventType
    call_id      uuid        NULL,
    user_id      uuid        NULL,
    -- who may see it besides supervisors and admins: the call's participants,
    -- or the user whose presence changed
    visible_to   uuid[]      NOT NULL DEFAULT '{}',
    -- which Event.payload field the bytes are: 10 Call, 11 User, 12 CallNote
    payload_kind smallint    NOT NULL CHECK (payload_kind IN (10, 11, 12)),
    payload      bytea       NOT NULL,  -- the packed message as it is after the change
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One call's events (WatchEvents with call_id, the latest state of a call).
CREATE INDEX call_events_call_seq ON call_events (call_id, seq) WHERE call_id IS NOT NULL;
-- An agent's events on replay.
CREATE INDEX call_events_visible_to ON call_events USING gin (visible_to);
-- Pruning by age.
CREATE INDEX call_events_created_at ON call_events (created_at);

-- The retention horizon: rows with seq <= pruned_through may have been
-- deleted (except the latest state of calls still live), so a subscriber
-- resuming from before it gets a RESYNC snapshot instead of a replay.
CREATE TABLE call_events_horizon (
    id             smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    pruned_through bigint   NOT NULL DEFAULT 0
);
INSERT INTO call_events_horizon (id, pruned_through) VALUES (1, 0);
