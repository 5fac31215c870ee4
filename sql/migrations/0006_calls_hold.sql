-- 0006: hold. HoldCall puts one party of a call in progress on hold (ARI
-- POST /channels/{id}/hold: it hears music on hold) until ResumeCall, a
-- transfer or the end of the call.
--
-- held_party: which party is on hold, NULL when none; held_at: when that
-- hold began (set exactly when held_party is); hold_us: how long the
-- call's finished holds lasted, in microseconds (CallService shows whole
-- seconds), so short holds add up and count.
--
-- The checks are added NOT VALID: every existing row has the new columns
-- NULL / 0 and passes them, so there is nothing to scan for under the
-- ALTER's exclusive lock; new rows and every update are checked.
ALTER TABLE calls
    ADD COLUMN held_party text,
    ADD COLUMN held_at    timestamptz,
    ADD COLUMN hold_us    bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT calls_held_party_check CHECK (held_party IN ('caller', 'callee')) NOT VALID,
    ADD CONSTRAINT calls_hold_us_check CHECK (hold_us >= 0) NOT VALID,
    ADD CONSTRAINT calls_held_at_set CHECK ((held_party IS NULL) = (held_at IS NULL)) NOT VALID,
    ADD CONSTRAINT calls_held_live CHECK (held_party IS NULL OR ended_at IS NULL) NOT VALID;

-- An ended call holds no one (calls_held_live). callsvc finishes the hold
-- itself when it saves a call's end; this trigger (BEFORE, so it runs
-- ahead of the checks) does the same for a writer that does not know about
-- holds (an older callsvc during a rolling upgrade), so its end of a held
-- call is not refused.
CREATE FUNCTION calls_end_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ended_at IS NOT NULL AND NEW.held_party IS NOT NULL THEN
        NEW.hold_us := NEW.hold_us
            + greatest(0, floor(extract(epoch from NEW.ended_at - NEW.held_at) * 1000000))::bigint;
        NEW.held_party := NULL;
        NEW.held_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER calls_end_hold BEFORE UPDATE ON calls
    FOR EACH ROW WHEN (NEW.ended_at IS NOT NULL AND NEW.held_party IS NOT NULL)
    EXECUTE FUNCTION calls_end_hold();

-- The event log stores the two new call events (callservice.v1.EventType
-- CALL_HELD = 10, CALL_RESUMED = 11; 8 TYPING and 9 RESYNC are never
-- stored). NOT VALID: the old check already holds for every row, and
-- validating would scan the whole log under a lock that stops appends.
ALTER TABLE call_events DROP CONSTRAINT call_events_type_check,
    ADD CONSTRAINT call_events_type_check CHECK (type BETWEEN 1 AND 7 OR type IN (10, 11)) NOT VALID;
