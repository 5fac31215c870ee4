/* config: table-driven environment parsing. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *cfg__getenv(const char *name)
{
    return getenv(name);
}

static int cfg__parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    return -1;
}

int cfg_load_from(const cfg_entry *table, size_t n, void *cfg, const char *(*lookup)(const char *),
                  char *err, size_t errlen)
{
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        const cfg_entry *e = &table[i];
        const char *v = lookup(e->name);
        char *field = (char *)cfg + e->offset;
        if (v == NULL || (*v == '\0' && e->type != CFG_STR))
            v = e->def;
        switch (e->type) {
        case CFG_STR: {
            char **dst = (char **)(void *)field;
            free(*dst);
            *dst = v ? strdup(v) : NULL;
            break;
        }
        case CFG_INT: {
            int *dst = (int *)(void *)field;
            char *end = NULL;
            long x;
            if (v == NULL) {
                *dst = 0;
                break;
            }
            errno = 0;
            x = strtol(v, &end, 10);
            if (errno || end == v || *end || x < e->min || x > e->max) {
                snprintf(err, errlen, "%s: expected an integer in [%ld, %ld], got '%s'", e->name,
                         e->min, e->max, v);
                goto out;
            }
            *dst = (int)x;
            break;
        }
        case CFG_BOOL: {
            int *dst = (int *)(void *)field;
            if (v == NULL) {
                *dst = 0;
            } else if (cfg__parse_bool(v, dst) != 0) {
                snprintf(err, errlen, "%s: expected true or false, got '%s'", e->name, v);
                goto out;
            }
            break;
        }
        }
    }
    rc = 0;
out:
    return rc;
}

int cfg_load(const cfg_entry *table, size_t n, void *cfg, char *err, size_t errlen)
{
    return cfg_load_from(table, n, cfg, cfg__getenv, err, errlen);
}

void cfg_free(const cfg_entry *table, size_t n, void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == CFG_STR) {
            char **p = (char **)(void *)((char *)cfg + table[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

void cfg_print_help(const cfg_entry *table, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-28s %s%s%s%s\n", table[i].name, table[i].help,
                table[i].def ? " (default: " : "", table[i].def ? table[i].def : "",
                table[i].def ? ")" : "");
}

int cfg_split_hostport(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon;
    char *end = NULL;
    long p;
    size_t hl;
    if (!addr)
        return -1;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -1;
        hl = (size_t)(close - addr - 1);
        colon = close + 1;
        addr++;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535)
        return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}
