/* files.c — atomic file writes and directory creation (files.h). */
#include "harness/core/files.h"

#include <errno.h>
#include <fcntl.h>
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

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a plain file";
}

FILE *ud_fopen_regular(const char *path, char *why, size_t n)
{
    /* O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { snprintf(why, n, "%s", strerror(errno)); return NULL; }
    struct stat sb;
    if (fstat(fd, &sb)) { snprintf(why, n, "%s", strerror(errno)); close(fd); return NULL; }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(why, n, "not a regular file (%s)", file_kind(sb.st_mode));
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) { snprintf(why, n, "%s", strerror(errno)); close(fd); }
    return f;
}

char *ud_read_regular(const char *path, size_t max_bytes, size_t *len, char *why, size_t n)
{
    FILE *f = ud_fopen_regular(path, why, n);
    if (!f) return NULL;
    size_t cap = 4096, got = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (got == cap) {
            if (cap > max_bytes) break;
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + got, 1, cap - got, f);
        got += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) { snprintf(why, n, "out of memory"); return NULL; }
    if (bad) { free(buf); snprintf(why, n, "read error"); return NULL; }
    if (got > max_bytes) { free(buf); snprintf(why, n, "larger than %zu bytes", max_bytes); return NULL; }
    buf[got] = 0;
    if (len) *len = got;
    return buf;
}
