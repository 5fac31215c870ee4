-- 0005: calls.has_children: whether the call may have transfers or notes.
--
-- The call lists (active calls, history) read transfers and notes only for
-- the calls flagged here: most calls have neither, and a list then costs
-- one statement instead of three. Set by the triggers below in the same
-- transaction as the first transfer or note; never cleared (a call whose
-- children were all deleted only costs the look-up it did before).

ALTER TABLE calls ADD COLUMN has_children boolean NOT NULL DEFAULT false;

UPDATE calls c SET has_children = true
 WHERE EXISTS (SELECT 1 FROM call_transfers t WHERE t.call_id = c.id)
    OR EXISTS (SELECT 1 FROM call_notes n WHERE n.call_id = c.id);

CREATE FUNCTION calls_mark_children() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE calls SET has_children = true WHERE id = NEW.call_id AND NOT has_children;
    RETURN NULL;
END
$$;

CREATE TRIGGER call_transfers_mark_children AFTER INSERT ON call_transfers
    FOR EACH ROW EXECUTE FUNCTION calls_mark_children();
CREATE TRIGGER call_notes_mark_children AFTER INSERT ON call_notes
    FOR EACH ROW EXECUTE FUNCTION calls_mark_children();
