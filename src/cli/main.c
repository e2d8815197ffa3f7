/* The crier binary: one command per job (serve, pub, sub). Everything else is
 * in libcrier.a.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define CRIER_VERSION "0.1.0"

static const char usage[] =
    "usage: crier COMMAND [flags]\n"
    "\n"
    "crier is a push server: publishers send messages to named channels, and every\n"
    "subscriber of a channel gets each message at once (SSE, long polling, polling,\n"
    "NDJSON and raw streaming), with history so that a reconnecting client misses nothing.\n"
    "\n"
    "commands:\n"
    "  serve     run the server (crier serve --help for its flags)\n"
    "  pub       publish a message: crier pub CHANNEL [MESSAGE] (crier pub --help)\n"
    "  sub       print a channel's messages, resuming after disconnects (crier sub --help)\n"
    "\n"
    "  -h, --help      this text\n"
    "  --version       print the version\n";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("crier " CRIER_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return cr_cli_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "pub"))
        return cr_cli_pub(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sub"))
        return cr_cli_sub(argc - 1, argv + 1);
    fprintf(stderr, "crier: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
