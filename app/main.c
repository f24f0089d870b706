// main.c — the inferscope executable (the commands: app/commands.c).
#include "app/app.h" // defines: is_app_main

int main(int argc, char **argv) { return is_app_main(argc, argv); }
