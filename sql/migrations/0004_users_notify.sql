-- Every change to a user or its SIP device announces the user's id on the
-- cs_users channel, so each callsvc instance can drop what it cached of that
-- user (src/users/cache.h). A trigger catches every writer: callsvc, seed,
-- and an operator's own SQL. Delivered at commit, like any NOTIFY.
CREATE FUNCTION users_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('cs_users', (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)::text);
    ELSE
        PERFORM pg_notify('cs_users', (CASE WHEN TG_OP = 'DELETE' THEN OLD.user_id ELSE NEW.user_id END)::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_notify_change AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_notify_change();
CREATE TRIGGER sip_devices_notify_change AFTER INSERT OR UPDATE OR DELETE ON sip_devices
    FOR EACH ROW EXECUTE FUNCTION users_notify_change();
