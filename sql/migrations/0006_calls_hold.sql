-- 0006: hold. HoldCall puts one party of a call in progress on hold (ARI
-- POST /channels/{id}/hold: it hears music on hold) until ResumeCall, a
-- transfer or the end of the call.
--
-- held_party: which party is on hold, NULL when none; held_at: when that
-- hold began (set exactly when held_party is); hold_seconds: the time the
-- call's holds that ended so far lasted.
ALTER TABLE calls
    ADD COLUMN held_party   text CHECK (held_party IN ('caller', 'callee')),
    ADD COLUMN held_at      timestamptz,
    ADD COLUMN hold_seconds integer NOT NULL DEFAULT 0 CHECK (hold_seconds >= 0),
    ADD CONSTRAINT calls_held_at_set CHECK ((held_party IS NULL) = (held_at IS NULL)),
    ADD CONSTRAINT calls_held_live CHECK (held_party IS NULL OR ended_at IS NULL);

-- The event log stores the two new call events (callservice.v1.EventType
-- CALL_HELD = 10, CALL_RESUMED = 11; 8 TYPING and 9 RESYNC are never stored).
ALTER TABLE call_events DROP CONSTRAINT call_events_type_check,
    ADD CONSTRAINT call_events_type_check CHECK (type BETWEEN 1 AND 7 OR type IN (10, 11));
