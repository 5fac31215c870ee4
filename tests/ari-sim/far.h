/*
 * far: how the far end of a dialled endpoint behaves (answers after N ms,
 * rings forever, is busy, ...), configured at four levels and resolved from
 * the most to the least specific:
 *   endpoint "PJSIP/3001"  >  (Local only) context "ring-answer"  >
 *   technology "PJSIP"  >  default (ring 1000 ms, then answer).
 * Local contexts start out as the dialplan the traces were recorded with
 * (answer-wait, ring-answer, ring-forever, busy, answer-hangup-3s,
 * dtmf-sender, stasis-in); an unknown context fails the call, as Asterisk does.
 *
 * Ownership: far_ keeps its own copies; far_list returns a new json_t.
 */
#ifndef ARI_SIM_FAR_H
#define ARI_SIM_FAR_H

#include <jansson.h>

typedef enum far_mode {
    FAR_ANSWER,       /* rings answer_after_ms (0: no ringing), answers */
    FAR_RING_FOREVER, /* rings until the caller gives up */
    FAR_NO_ANSWER,    /* rings answer_after_ms, then gives up: Dial NOANSWER */
    FAR_BUSY,         /* Dial BUSY */
    FAR_UNAVAILABLE,  /* Dial CHANUNAVAIL */
    FAR_CONGESTION,   /* Dial CONGESTION */
    FAR_STASIS,       /* Local context that runs Stasis(app,${EXTEN}) */
    FAR_INVALID,      /* Local context that does not exist */
} far_mode;

typedef struct far_cfg {
    far_mode mode;
    int answer_after_ms; /* ring time before answer / give-up */
    int hangup_after_ms; /* after answer; -1: never */
} far_cfg;

typedef enum far_scope {
    FAR_SCOPE_DEFAULT,
    FAR_SCOPE_TECH,
    FAR_SCOPE_ENDPOINT,
    FAR_SCOPE_CONTEXT
} far_scope;

void far_init(void);
void far_free(void);
/* tech: "PJSIP"; resource: "3001" or, for Local, "1000@ring-answer". */
far_cfg far_resolve(const char *tech, const char *resource);
/* The built-in or configured behaviour of a Local context; FAR_INVALID if unknown. */
far_cfg far_context(const char *context);
/* "default" | "tech" | "endpoint" | "context"; -1 if none. */
int far_scope_parse(const char *s);
/* Parses {"mode","answer_after_ms","hangup_after_ms"}; fills err on failure. */
int far_parse(const json_t *body, far_cfg *out, char *err, size_t errlen);
/* 0 ok, -1 table full. key is ignored for FAR_SCOPE_DEFAULT. */
int far_set(far_scope scope, const char *key, const far_cfg *cfg);
/* 0 removed, -1 not found. */
int far_clear(far_scope scope, const char *key);
json_t *far_list(void);
const char *far_mode_name(far_mode m);
/* Calls fn for every configured endpoint ("TECH/resource"). */
void far_each_endpoint(void (*fn)(const char *tech, const char *resource, void *arg), void *arg);

#endif
