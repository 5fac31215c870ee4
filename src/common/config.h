/*
 * config: environment variables read through a table.
 *
 * Each program declares a table of cfg_entry rows (name, type, offset into
 * its own config struct, default, help) and calls cfg_load(). Adding a
 * setting means adding a row. cfg_print_help() lists the table, which is
 * what .env.example documents.
 *
 * Ownership: CFG_STR values are heap copies owned by the struct; free them
 * with cfg_free(table, struct).
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL } cfg_type;

typedef struct cfg_entry {
    const char *name; /* environment variable */
    cfg_type type;
    size_t offset;   /* offsetof(struct, field): char *, int or int (bool) */
    const char *def; /* default as text; NULL means "unset" (NULL / 0) */
    long min, max;   /* CFG_INT bounds (inclusive) */
    const char *help;
} cfg_entry;

/* Loads every row from the environment (or its default) into cfg.
 * On a bad value writes a message naming the variable to err and
 * returns -1; 0 on success. */
int cfg_load(const cfg_entry *table, size_t n, void *cfg, char *err, size_t errlen);
/* Same, from a lookup function instead of getenv (for tests). */
int cfg_load_from(const cfg_entry *table, size_t n, void *cfg, const char *(*lookup)(const char *),
                  char *err, size_t errlen);
void cfg_free(const cfg_entry *table, size_t n, void *cfg);
void cfg_print_help(const cfg_entry *table, size_t n, FILE *out);

/* "host:port" (host may be "[v6]"); returns 0 and fills host/port, or -1. */
int cfg_split_hostport(const char *addr, char *host, size_t hostlen, int *port);

#endif
