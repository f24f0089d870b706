// buildinfo.h — what the build knows about itself. Declares: is_build_commit.
#ifndef IS_BUILDINFO_H
#define IS_BUILDINFO_H

// The commit this binary was built from (git's 12-digit abbreviation), with
// "-dirty" when tracked files differed from it; "unknown" outside a git checkout.
// Written by the build at every build (build_commit.c in the build directory).
extern const char is_build_commit[];

#endif
