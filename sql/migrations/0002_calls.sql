-- 0002: calls, the users taking part in them, their notes and transfers.
--
-- Applied by `callsvc migrate` inside one transaction. Statuses and
-- directions are stored as their short names (src/calls/state.c has the
-- same table). Users may be deleted; their calls stay (history and
-- statistics), with the user reference set to NULL and the name kept.

CREATE TABLE calls (
    id                uuid PRIMARY KEY,
    direction         text NOT NULL CHECK (direction IN ('outbound', 'inbound', 'internal')),
    status            text NOT NULL CHECK (status IN ('initiated', 'ringing', 'in_progress',
                                                      'completed', 'busy', 'no_answer',
                                                      'failed', 'canceled')),
    caller_user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    caller_name       text NOT NULL DEFAULT '',
    caller_extension  text NOT NULL DEFAULT '',
    caller_number     text NOT NULL DEFAULT '',
    callee_user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    callee_name       text NOT NULL DEFAULT '',
    callee_extension  text NOT NULL DEFAULT '',
    callee_number     text NOT NULL DEFAULT '',
    hangup_cause      text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    ringing_at        timestamptz,
    answered_at       timestamptz,
    ended_at          timestamptz,
    -- Asterisk's side: the current legs (ids chosen by callsvc, "<call id>.a",
    -- except an inbound caller's, which Asterisk named), whether each leg has
    -- answered (so a repeated "up" event never dials twice), the bridge, and
    -- the Asterisk instance (entity id) the channels live on.
    caller_channel_id text,
    callee_channel_id text,
    caller_up         boolean NOT NULL DEFAULT false,
    callee_up         boolean NOT NULL DEFAULT false,
    bridge_id         text,
    asterisk_id       text NOT NULL DEFAULT '',
    -- A transfer leg being dialled, not yet joined (NULL: none).
    pending_channel_id text,
    -- Idempotency: MakeCall's request_id is unique per requesting user.
    owner_id          uuid,
    request_id        text CHECK (request_id IS NULL OR char_length(request_id) BETWEEN 1 AND 128),
    version           bigint NOT NULL DEFAULT 1,
    CONSTRAINT calls_request_key UNIQUE (owner_id, request_id),
    -- ended_at is set exactly when the status is terminal.
    CONSTRAINT calls_ended_terminal CHECK (
        (ended_at IS NULL) = (status IN ('initiated', 'ringing', 'in_progress')))
);

-- History of everyone (supervisors), newest first, keyset on (created_at, id);
-- statistics scan a created_at range of it.
CREATE INDEX calls_created_idx ON calls (created_at DESC, id DESC);
-- Active calls and reconciliation: only live rows are indexed.
CREATE INDEX calls_live_idx ON calls (created_at DESC, id DESC) WHERE ended_at IS NULL;
-- ARI events name channels; live calls are found by them.
CREATE INDEX calls_live_caller_channel_idx ON calls (caller_channel_id) WHERE ended_at IS NULL;
CREATE INDEX calls_live_callee_channel_idx ON calls (callee_channel_id) WHERE ended_at IS NULL;
-- An inbound channel becomes at most one call, also with several instances
-- receiving the same StasisStart.
CREATE UNIQUE INDEX calls_inbound_channel_key ON calls (asterisk_id, caller_channel_id)
    WHERE direction = 'inbound';

-- The users a call belongs to (caller, callee, transfer targets and the
-- users who transferred): an agent's history, visibility and per-user
-- statistics. created_at copies the call's so that a user's history is one
-- index range scan, newest first.
CREATE TABLE call_parties (
    call_id    uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_parties_user_idx ON call_parties (user_id, created_at DESC, call_id DESC);

CREATE TABLE call_notes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    call_id     uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    author_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    author_name text NOT NULL DEFAULT '',
    text        text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 4000),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX call_notes_call_idx ON call_notes (call_id, created_at, id);

-- Blind transfers: who moved the call, and to whom.
CREATE TABLE call_transfers (
    id          bigserial PRIMARY KEY,
    call_id     uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    by_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    by_name     text NOT NULL DEFAULT '',
    to_target   text NOT NULL,
    to_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    channel_id  text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX call_transfers_call_idx ON call_transfers (call_id, id);
