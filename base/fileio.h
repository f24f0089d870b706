// fileio.h — reading a whole file and writing one so that a crash never leaves
// it half-written, and mapping one read-only. Declares: is_read_file,
// is_write_file_atomic, is_write_file_atomic_clean, is_map_file, is_unmap_file.
#ifndef IS_FILEIO_H
#define IS_FILEIO_H

#include <stddef.h>

#include "base/error.h"

// Reads the whole of path into *out (malloc'd, NUL-terminated; length in *len).
// A directory, or more than max_bytes, is an error naming the path.
int is_read_file(const char *path, size_t max_bytes, char **out, size_t *len, is_err *err);

// Writes len bytes to path through a temporary file in the same directory,
// synced and renamed into place (mode 0644); on failure nothing is left behind.
int is_write_file_atomic(const char *path, const void *data, size_t len, is_err *err);

// Removes the temporary files a killed is_write_file_atomic of path left beside
// it (path.tmp.XXXXXX), for a writer about to write path again. A write of path
// in flight in another process would lose its file too. Returns how many.
int is_write_file_atomic_clean(const char *path);

// Maps the whole regular file path read-only and private (*map, *size; an empty
// file: NULL and 0). An error names the path and what failed (open, not a regular
// file, mmap). Unmap with is_unmap_file.
int is_map_file(const char *path, void **map, size_t *size, is_err *err);
void is_unmap_file(void *map, size_t size);

#endif
