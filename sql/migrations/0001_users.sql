-- 0001: users, their SIP devices, Asterisk's realtime PJSIP tables, and
-- the login-failure counters used for throttling.
--
-- Applied by `callsvc migrate` inside one transaction; do not add
-- BEGIN/COMMIT here. gen_random_uuid() is core since PostgreSQL 13.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    email         text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'agent'
                  CHECK (role IN ('admin', 'supervisor', 'agent')),
    status        text NOT NULL DEFAULT 'offline'
                  CHECK (status IN ('available', 'busy', 'away', 'offline')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Case-insensitive uniqueness: the name is what callsvc matches on
-- (unique violation of users_email_lower_key => ALREADY_EXISTS).
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_created_at_idx ON users (created_at, id);

-- One SIP device a user. extension is text (Asterisk ids are strings),
-- digits only; allocated by callsvc as the lowest free one in the configured
-- range under a transaction-level advisory lock, with this unique index as
-- the backstop.
CREATE TABLE sip_devices (
    user_id    uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    extension  text NOT NULL CHECK (extension ~ '^[0-9]{1,10}$'),
    username   text NOT NULL,
    secret     text NOT NULL,
    context    text NOT NULL DEFAULT 'default',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sip_devices_extension_key UNIQUE (extension)
);

-- Asterisk realtime (res_config_pgsql + sorcery.conf mapping
-- endpoint/auth/aor to these tables). Column names as Asterisk's own
-- alembic scripts; only what a basic endpoint needs. Asterisk reads them on
-- demand, so devices appear without a reload.
CREATE TABLE ps_endpoints (
    id           varchar(40) PRIMARY KEY,
    transport    varchar(40),
    aors         varchar(200),
    auth         varchar(40),
    context      varchar(40),
    disallow     varchar(200),
    allow        varchar(200),
    direct_media varchar(3) CHECK (direct_media IN ('yes', 'no')),
    callerid     varchar(40)
);

CREATE TABLE ps_auths (
    id        varchar(40) PRIMARY KEY,
    auth_type varchar(20) CHECK (auth_type IN ('userpass', 'md5')),
    password  varchar(80),
    username  varchar(40)
);

CREATE TABLE ps_aors (
    id              varchar(40) PRIMARY KEY,
    max_contacts    integer,
    remove_existing varchar(3) CHECK (remove_existing IN ('yes', 'no'))
);

-- Asterisk's rows follow sip_devices through a trigger, so every path that
-- changes a device (insert, secret change, the cascade when a user is
-- deleted, a manual fix in psql) keeps Asterisk in step in the same
-- transaction.
CREATE FUNCTION sip_devices_sync_asterisk() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM ps_endpoints WHERE id = OLD.extension;
        DELETE FROM ps_auths WHERE id = OLD.extension;
        DELETE FROM ps_aors WHERE id = OLD.extension;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO ps_aors (id, max_contacts, remove_existing)
        VALUES (NEW.extension, 1, 'yes');
        INSERT INTO ps_auths (id, auth_type, password, username)
        VALUES (NEW.extension, 'userpass', NEW.secret, NEW.username);
        INSERT INTO ps_endpoints (id, transport, aors, auth, context, disallow, allow,
                                  direct_media, callerid)
        VALUES (NEW.extension, 'transport-udp', NEW.extension, NEW.extension, NEW.context,
                'all', 'ulaw,alaw,opus', 'no', NEW.extension);
        RETURN NEW;
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER sip_devices_sync_asterisk
AFTER INSERT OR UPDATE OR DELETE ON sip_devices
FOR EACH ROW EXECUTE FUNCTION sip_devices_sync_asterisk();

-- Login throttling, shared by every callsvc instance: failures per
-- lower-cased email in a fixed window.
CREATE TABLE login_failures (
    email        text PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL
);
