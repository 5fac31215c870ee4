/*
 * events filter: visibility, request filters, uuid helpers and the resume
 * plan. See filter.h. Pure code: everything here is unit-tested.
 */
#include "events/filter.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool events_type_stored(int t)
{
    switch (t) {
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_INITIATED:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_RINGING:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ANSWERED:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ENDED:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_TRANSFERRED:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_NOTE_ADDED:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_USER_STATUS_CHANGED:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_HELD:
    case CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_RESUMED:
        return true;
    default:
        return false;
    }
}

/* Types a subscriber may ask for: the stored ones and TYPING (ephemeral);
 * RESYNC is not a filterable type (it always comes). */
static bool events__type_subscribable(int t)
{
    return events_type_stored(t) || t == CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_TYPING;
}

bool events_is_uuid(const char *s)
{
    static const size_t dash[] = {8, 13, 18, 23};
    size_t i, d = 0;

    if (s == NULL || strlen(s) != EVENTS_UUID_LEN)
        return false;
    for (i = 0; i < EVENTS_UUID_LEN; i++) {
        if (d < sizeof dash / sizeof dash[0] && i == dash[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

void events_uuid_lower(char out[EVENTS_UUID_LEN + 1], const char *s)
{
    size_t i;

    for (i = 0; i < EVENTS_UUID_LEN && s[i] != '\0'; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

cs_err events_filter_init(events_filter *f, bool sees_all, const char *user_id,
                          const Callservice__V1__WatchEventsRequest *req, char *err, size_t errlen)
{
    cs_err rc = CS_ERR_INVALID;
    size_t i;

    memset(f, 0, sizeof *f);
    f->sees_all = sees_all;
    if (!events_is_uuid(user_id)) {
        snprintf(err, errlen, "bad subscriber identity");
        goto out;
    }
    events_uuid_lower(f->user_id, user_id);
    if (req->call_id != NULL && req->call_id[0] != '\0') {
        if (!events_is_uuid(req->call_id)) {
            snprintf(err, errlen, "call_id must be a uuid");
            goto out;
        }
        events_uuid_lower(f->call_id, req->call_id);
    }
    if (req->after_seq < 0) {
        snprintf(err, errlen, "after_seq must not be negative");
        goto out;
    }
    for (i = 0; i < req->n_types; i++) {
        int t = (int)req->types[i];
        if (!events__type_subscribable(t)) {
            snprintf(err, errlen, "types[%zu]: %d is not an event type one can watch", i, t);
            goto out;
        }
        f->types |= 1u << t;
    }
    rc = CS_OK;
out:
    return rc;
}

bool events_filter_match(const events_filter *f, const events_meta *m)
{
    size_t i;
    bool visible = f->sees_all;

    if (m->type == CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_RESYNC)
        return true;
    if (f->types != 0 && ((unsigned)m->type >= 32 || (f->types & (1u << m->type)) == 0))
        return false;
    if (f->call_id[0] != '\0' && (m->call_id == NULL || strcasecmp(m->call_id, f->call_id) != 0))
        return false;
    for (i = 0; !visible && i < m->n_visible; i++)
        visible = m->visible_to[i] != NULL && strcasecmp(m->visible_to[i], f->user_id) == 0;
    return visible;
}

int events_parse_uuid_array(char *buf, const char **out, size_t max)
{
    size_t len, n = 0;
    char *p, *end;

    if (buf == NULL)
        return -1;
    len = strlen(buf);
    if (len < 2 || buf[0] != '{' || buf[len - 1] != '}')
        return -1;
    buf[len - 1] = '\0';
    p = buf + 1;
    if (*p == '\0')
        return 0;
    for (;;) {
        end = strchr(p, ',');
        if (end != NULL)
            *end = '\0';
        if (!events_is_uuid(p) || n == max)
            return -1;
        out[n++] = p;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return (int)n;
}

events_resume_plan events_resume_decide(int64_t after_seq, int64_t horizon, int64_t hub_seq)
{
    events_resume_plan p;

    if (after_seq <= 0) {
        p.mode = EVENTS_RESUME_LIVE;
        p.start = hub_seq;
    } else if (after_seq < horizon) {
        /* Rows in (after_seq, horizon] may be gone: a replay would have a
         * hole the subscriber could not see. */
        p.mode = EVENTS_RESUME_RESYNC;
        p.start = hub_seq > horizon ? hub_seq : horizon;
    } else if (after_seq >= hub_seq) {
        /* Seen through another instance whose hub is ahead of ours (or at
         * ours): nothing to replay, skip live events it already has. */
        p.mode = EVENTS_RESUME_LIVE;
        p.start = after_seq;
    } else {
        p.mode = EVENTS_RESUME_REPLAY;
        p.start = after_seq;
    }
    return p;
}

bool events_cursor_accept(int64_t *through, int64_t seq)
{
    if (seq == 0)
        return true;
    if (seq <= *through)
        return false;
    *through = seq;
    return true;
}
