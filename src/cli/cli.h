/* The crier subcommands. Each takes argv with argv[0] the subcommand name and
 * returns the process exit code: 0 success, 1 failure, 2 bad usage.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CLI_CLI_H
#define CR_CLI_CLI_H

#include <stddef.h>

#include "core/buf.h"

int cr_cli_serve(int argc, char **argv);
/* crier pub: POSTs a message to /pub/CHANNEL[,CHANNEL...] with libcurl. */
int cr_cli_pub(int argc, char **argv);
/* crier sub: reads /sub/CHANNEL[,CHANNEL...] as Server-Sent Events, printing each
 * message and resuming with Last-Event-ID after a drop. */
int cr_cli_sub(int argc, char **argv);

/* Shared by the HTTP clients pub.c and sub.c (defined in pub.c). */

#define CR_CLI_DEFAULT_URL "http://127.0.0.1:8080"

/* The server's base URL: flag if given, else $CRIER_URL, else CR_CLI_DEFAULT_URL. */
const char *cr__cli_base_url(const char *flag);
/* Sets out to "<base>/<route>/<channels>" (NUL-terminated; trailing slashes of base
 * dropped), each channel percent-encoded where it holds a byte outside
 * [A-Za-z0-9_.~:-] and the channels joined by ','. Returns 0, or CR_ECHANNEL when
 * channels is empty or names an empty channel ("a,,b"). */
int cr__cli_url(cr_buf_t *out, const char *base, const char *route, const char *channels);
/* Whether argv[*i] is the flag name, as "name VALUE" or "name=VALUE". On a match
 * *value is the value (NULL when it is missing) and *i has moved past it. */
int cr__cli_flag(int argc, char **argv, int *i, const char *name, const char **value);
typedef struct cr_cli_valued {
    const char *name;  /* "--url" */
    const char **slot; /* receives the value */
} cr_cli_valued_t;

typedef struct cr_cli_switch {
    const char *name, *alt; /* "--quiet", "-q" (alt may be NULL) */
    int *slot;              /* set to 1 when given */
} cr_cli_switch_t;

typedef struct cr_cli_args {
    const char *cmd, *usage; /* "crier pub", the --help text */
    const cr_cli_valued_t *valued;
    size_t nvalued;
    const cr_cli_switch_t *switches;
    size_t nswitches;
    int empty_ok;         /* whether "--flag=" (an empty value) is a value */
    const char **pos;     /* receives the positionals (the first is the channel list) */
    int maxpos;           /* at most this many */
    const char *too_many; /* the complaint when there are more */
    int npos;             /* out: how many */
} cr_cli_args_t;

/* Parses argv by a's tables (args.c). -1 to go on, else the exit code: 0 after --help,
 * 2 on bad usage (told on stderr), including when no positional (channel) is given. */
int cr__cli_args(int argc, char **argv, cr_cli_args_t *a);
/* A libcurl write callback appending to the cr_buf_t in userdata, up to 1 MiB. */
size_t cr__cli_collect(char *ptr, size_t size, size_t nmemb, void *userdata);

#endif
