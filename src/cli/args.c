/* Command-line parsing shared by the client subcommands (pub, sub): flags with
 * values ("--url U" or "--url=U"), switches, positionals, "--", and -h/--help.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cr__cli_args(int argc, char **argv, cr_cli_args_t *a)
{
    int flags_done = 0;
    a->npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        if (flags_done || arg[0] != '-' || arg[1] == '\0') {
            if (a->npos == a->maxpos) {
                fprintf(stderr, "%s: %s (see %s --help)\n", a->cmd, a->too_many, a->cmd);
                return 2;
            }
            a->pos[a->npos++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            flags_done = 1;
            continue;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(a->usage, stdout);
            return 0;
        }
        size_t k = 0;
        while (k < a->nswitches && strcmp(arg, a->switches[k].name) &&
               !(a->switches[k].alt && !strcmp(arg, a->switches[k].alt)))
            k++;
        if (k < a->nswitches) {
            *a->switches[k].slot = 1;
            continue;
        }
        for (k = 0; k < a->nvalued && !cr__cli_flag(argc, argv, &i, a->valued[k].name, &v); k++)
            ;
        if (k == a->nvalued) {
            fprintf(stderr, "%s: unknown flag %s (see %s --help)\n", a->cmd, arg, a->cmd);
            return 2;
        }
        if (!v || (!*v && !a->empty_ok)) {
            fprintf(stderr, "%s: %s needs a value (see %s --help)\n", a->cmd, a->valued[k].name, a->cmd);
            return 2;
        }
        *a->valued[k].slot = v;
    }
    if (a->npos == 0) {
        fprintf(stderr, "%s: which channel? (see %s --help)\n", a->cmd, a->cmd);
        return 2;
    }
    return -1;
}
