/*
 * libFuzzer target for the ARI event decoder (src/ari/event.c): any bytes
 * must decode or fail cleanly, without a crash, leak or UB. A decoded event
 * is walked so that every pointer it hands out is read.
 * Corpus: tests/fuzz/corpus/ari_event/ (one event line of the traces each).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ari/ari.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t touch(const char *s)
{
    return s ? strlen(s) : 0;
}

static size_t touch_channel(const ari_channel *ch)
{
    return touch(ch->id) + touch(ch->name) + touch(ch->state_name) + touch(ch->caller_name) +
           touch(ch->caller_number) + touch(ch->connected_name) + touch(ch->connected_number) +
           touch(ch->context) + touch(ch->exten) + touch(ch->app_name) + touch(ch->app_data) +
           touch(ari_channel_state_name(ch->state));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ari_event *ev = NULL;
    volatile size_t sink = 0;
    if (ari_event_decode((const char *)data, size, &ev) != CS_OK)
        return 0;
    sink += touch(ev->type_name) + touch(ari_event_type_name(ev->type));
    if (ev->has_channel)
        sink += touch_channel(&ev->channel);
    if (ev->has_peer)
        sink += touch_channel(&ev->peer);
    if (ev->has_caller)
        sink += touch_channel(&ev->caller);
    if (ev->has_bridge) {
        sink += touch(ev->bridge.id);
        for (size_t i = 0; i < ev->bridge.n_channels; i++)
            sink += touch(ev->bridge.channels[i]);
    }
    for (size_t i = 0; i < ev->n_args; i++)
        sink += touch(ev->args[i]);
    sink += touch(ev->dialstatus) + touch(ev->cause_txt) + touch(ev->variable) + touch(ev->value);
    (void)sink;
    ari_event_free(ev);
    return 0;
}
