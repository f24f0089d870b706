// cli.h — the inferscope command line, a thin layer over engine/inferscope.h.
#ifndef IS_CLI_H
#define IS_CLI_H

// Runs one command; returns the process exit status (0 ok, 1 failure, 2 usage error).
int is_cli_main(int argc, char **argv);

#endif
