/* The crier subcommands. Each takes argv with argv[0] the subcommand name and
 * returns the process exit code.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CLI_CLI_H
#define CR_CLI_CLI_H

int cr_cli_serve(int argc, char **argv);
int cr_cli_pub(int argc, char **argv);
int cr_cli_sub(int argc, char **argv);

#endif
