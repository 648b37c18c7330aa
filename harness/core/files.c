/* files.c — atomic file writes and directory creation (files.h). */
#include "harness/core/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numerics/status.h"

int ud_write_atomic(const char *path, int (*fill)(FILE *f, void *user), void *user)
{
    size_t len = strlen(path) + 5;
    char *tmp = malloc(len);
    if (!tmp) { ud_error("cannot write %s: out of memory", path); return UD_EINTERNAL; }
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        ud_error("cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return UD_EINTERNAL;
    }
    errno = 0;
    int bad = fill(f, user) != 0;
    bad |= fflush(f) != 0;
    /* The rename must not publish a file whose data is not on disk. */
    if (!bad) fsync(fileno(f));
    bad |= fclose(f) != 0;
    int err = errno;
    if (!bad && rename(tmp, path) != 0) { bad = 1; err = errno; }
    if (bad) {
        ud_error("cannot write %s: %s", path, err ? strerror(err) : "write failed");
        unlink(tmp);
    }
    free(tmp);
    return bad ? UD_EINTERNAL : UD_OK;
}

int ud_mkdir_p(const char *dir)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    return (mkdir(tmp, 0777) && errno != EEXIST) ? -1 : 0;
}
