/*
 * libFuzzer target for the events NOTIFY payloads (src/events/record.c):
 * a stored event's notification (events_rec_from_notify) and an ephemeral
 * one (events_ephemeral_decode). Any bytes must decode or be refused
 * cleanly, without a crash, leak or UB. A decoded stored event is packed
 * as the hub sends it and unpacked as a client would (the decoder does not
 * check the payload bytes, so that may fail; it must not crash).
 * Corpus: tests/fuzz/corpus/events_notify/ (notifications as sent).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    const char *vis[64];
    size_t n_vis = 0;
    int64_t seq = 0;
    events_rec *r;
    Callservice__V1__Event *ev;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    r = events_rec_from_notify(s, &seq);
    if (r != NULL) {
        size_t len = protobuf_c_message_get_packed_size(&r->ev.base);
        uint8_t *wire = malloc(len > 0 ? len : 1);
        if (wire != NULL) {
            protobuf_c_message_pack(&r->ev.base, wire);
            ev = callservice__v1__event__unpack(NULL, len, wire);
            if (ev != NULL)
                protobuf_c_message_free_unpacked(&ev->base, NULL);
            free(wire);
        }
        for (size_t i = 0; i < r->n_visible; i++)
            seq += (int64_t)strlen(r->visible_to[i]);
        events_rec_free(r);
    }
    ev = events_ephemeral_decode(s, vis, 64, &n_vis);
    if (ev != NULL)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
    free(s);
    return 0;
}
