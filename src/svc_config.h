/*
 * svc_config: callsvc's settings, one row each in the table of
 * svc_config.c (which .env.example documents row by row).
 *
 * Ownership: strings are heap copies owned by the struct; svc_config_free
 * releases them.
 */
#ifndef CS_SVC_CONFIG_H
#define CS_SVC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef struct svc_config {
    char *database_url;
    char *jwt_secret;
    int jwt_expires_in;
    char *grpc_addr;
    int workers; /* 0 in the table means "2 x cores", resolved by svc_config_load */
    char *admin_email;
    char *admin_password;
    int extension_min;
    int extension_max;
    char *device_context;
    char *log_level;
    char *log_dir;
    int dev_mode;
    char *ari_url;
    char *ari_user;
    char *ari_password;
    char *ari_app;
    int ari_connect_timeout_ms;
    int ari_request_timeout_ms;
    int ari_backoff_max_ms;
    char *device_endpoint_template;
    char *outbound_endpoint_template;
    char *sql_dir;
    int login_max_failures;
    int login_window;
    int health_interval_ms;
    int stream_max_queued;
    int users_cache_size;
    int users_cache_ttl_ms;
    int token_cache_size;
    int calls_cache_size;
    int calls_cache_entry_max;
    int calls_cache_ttl_ms;
} svc_config;

/* Loads from lookup (getenv when NULL) and checks the cross-field rules:
 * the extension range, the JWT secret (>= 32 bytes unless DEV_MODE; in dev
 * mode a missing one is replaced by a fixed, loudly logged dev secret),
 * the log level. On failure writes a message naming the variable into err
 * and returns -1 (the struct is then freed). */
int svc_config_load(svc_config *cfg, const char *(*lookup)(const char *), char *err, size_t errlen);
void svc_config_free(svc_config *cfg);
void svc_config_print_help(FILE *out);

#define SVC_JWT_SECRET_MIN 32

#endif
