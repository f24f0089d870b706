// fileio.c — see fileio.h.
#include "base/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int is_read_file(const char *path, size_t max_bytes, char **out, size_t *len, is_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return is_errf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = is_errf(err, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode)) rc = is_errf(err, "%s: is a directory, not a regular file", path);
    if (rc) {
        close(fd);
        return rc;
    }
    // read to the end rather than trusting st_size: pipes and /proc files report 0
    size_t cap = 1 << 16, n = 0;
    char *buf = is_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) break;
            cap *= 2;
            buf = is_xrealloc(buf, cap + 1);
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = is_errf(err, "%s: read failed: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return rc;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    close(fd);
    if (n > max_bytes) {
        free(buf);
        return is_errf(err, "%s: file is larger than the %zu-byte limit", path, max_bytes);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

// The temporary file of a write: path, this suffix, and mkstemp's six characters.
#define TMP_SUFFIX ".tmp."
#define TMP_RANDOM "XXXXXX"

int is_write_file_atomic(const char *path, const void *data, size_t len, is_err *err) {
    size_t pl = strlen(path) + sizeof TMP_SUFFIX TMP_RANDOM;
    char *tmp = is_xmalloc(pl);
    snprintf(tmp, pl, "%s" TMP_SUFFIX TMP_RANDOM, path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = is_errf(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *p = data;
    size_t w = 0;
    int rc = 0;
    while (w < len && rc == 0) {
        ssize_t r = write(fd, p + w, len - w);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) rc = is_errf(err, "%s: write failed: %s", tmp, strerror(errno));
        else w += (size_t)r;
    }
    if (rc == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        rc = is_errf(err, "%s: cannot finish writing: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0) rc = is_errf(err, "%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = is_errf(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

int is_write_file_atomic_clean(const char *path) {
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char *dir = slash ? is_xstrdup(path) : is_xstrdup(".");
    if (slash) dir[slash == path ? 1 : slash - path] = 0; // "/name" lives in "/"
    size_t bl = strlen(base), sl = strlen(TMP_SUFFIX), pl = strlen(dir) + bl + sizeof TMP_SUFFIX TMP_RANDOM + 1;
    char *tmp = is_xmalloc(pl);
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *name = e->d_name;
        bool ours = !strncmp(name, base, bl) && !strncmp(name + bl, TMP_SUFFIX, sl) &&
                    strlen(name + bl + sl) == strlen(TMP_RANDOM);
        if (!ours) continue;
        snprintf(tmp, pl, "%s/%s", dir, name);
        n += unlink(tmp) == 0;
    }
    if (d) closedir(d);
    free(tmp);
    free(dir);
    return n;
}

int is_map_file(const char *path, void **map, size_t *size, is_err *err) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return is_errf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return is_errf(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return is_errf(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return is_errf(err, "%s: the file is too large to map", path);
    }
    if (st.st_size == 0) { // mmap refuses a length of 0
        close(fd);
        return 0;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); // the mapping keeps the file
    if (m == MAP_FAILED) return is_errf(err, "%s: cannot mmap: %s", path, strerror(map_errno));
    *map = m;
    *size = (size_t)st.st_size;
    return 0;
}

void is_unmap_file(void *map, size_t size) {
    if (map) munmap(map, size);
}
