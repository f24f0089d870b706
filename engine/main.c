// main.c — the inferscope executable.
#include "engine/cli.h"

int main(int argc, char **argv) { return is_cli_main(argc, argv); }
