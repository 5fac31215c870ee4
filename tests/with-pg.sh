#!/usr/bin/env bash
# tests/with-pg.sh CMD [ARG...]: runs CMD with a private, throw-away
# PostgreSQL cluster (bench/stack.sh's, fsync off) and CS_TEST_DATABASE_URL
# pointing at its database, so that the cmocka tests that need a live
# server (tests/unit/test_db.c) run instead of skipping. The cluster is
# stopped, by its pid file, and removed when CMD ends; CMD's exit status is
# this script's.
set -u
# shellcheck source=../bench/stack.sh
. "$(cd "$(dirname "$0")/.." && pwd)/bench/stack.sh"
PG_FAST=1 PG_SOCKET=0 stack_pg_start || { echo "with-pg: PostgreSQL did not start" >&2; exit 1; }
CS_TEST_DATABASE_URL="$DATABASE_URL" "$@"
