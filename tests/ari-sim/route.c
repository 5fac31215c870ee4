/*
 * route: see route.h.
 */
#include "route.h"

#include <stdio.h>
#include <string.h>

/* Splits path into at most max segments (in place); -1 if there are more. */
static int route__split(char *path, char **segs, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        segs[n++] = t;
    }
    return n;
}

/* 1 if the pattern matches, with "*" segments copied into params. */
static int route__match(const char *pattern, char **segs, int nsegs, const char **params)
{
    char pat[128];
    char *psegs[ROUTE_MAX_SEGS];
    int np, k = 0;

    snprintf(pat, sizeof(pat), "%s", pattern);
    np = route__split(pat, psegs, ROUTE_MAX_SEGS);
    if (np != nsegs)
        return 0;
    for (int i = 0; i < np; i++) {
        if (strcmp(psegs[i], "*") == 0)
            params[k++] = segs[i];
        else if (strcmp(psegs[i], segs[i]) != 0)
            return 0;
    }
    return 1;
}

void route_dispatch(const route *table, size_t n, const char *method, const char *path,
                    const struct srv_req *req, sim_reply *r)
{
    char buf[1024];
    char *segs[ROUTE_MAX_SEGS];
    const char *params[ROUTE_MAX_SEGS];
    int nsegs, path_known = 0;

    r->status = 404;
    r->body = NULL;
    if (strlen(path) >= sizeof(buf))
        goto not_found;
    snprintf(buf, sizeof(buf), "%s", path);
    nsegs = route__split(buf, segs, ROUTE_MAX_SEGS);
    if (nsegs < 0)
        goto not_found;
    for (size_t i = 0; i < n; i++) {
        if (!route__match(table[i].pattern, segs, nsegs, params))
            continue;
        path_known = 1;
        if (strcmp(table[i].method, method) == 0) {
            table[i].fn(req, params, r);
            return;
        }
    }
    if (path_known) {
        r->status = 405;
        r->body = json_pack("{s:s}", "message", "Invalid method");
        return;
    }
not_found:
    r->status = 404;
    r->body = json_pack("{s:s}", "message", "Resource not found");
}
