// The `tiebreak` command: a thin shell over the library's command-line front end.
#include "cli/commands.h"

int main(int argc, char** argv) { return tiebreak::cli::run(argc, argv); }
