/* files.h — writing files so that a reader never sees half of one. */
#ifndef UD_FILES_H
#define UD_FILES_H

#include <stdio.h>

/* Writes `path` atomically: fill(f, user) writes the contents into PATH.tmp (returning 0, or
 * nonzero on failure), which is flushed to disk and renamed to PATH; on any failure PATH.tmp
 * is removed and PATH is untouched (the previous version, or absent). Returns UD_OK, or
 * UD_EINTERNAL with "cannot write PATH: reason" on stderr. */
int ud_write_atomic(const char *path, int (*fill)(FILE *f, void *user), void *user);

/* mkdir -p: creates dir and its missing parents. Returns 0, or -1 with errno set. */
int ud_mkdir_p(const char *dir);

/* Reading what a user hands us. A FIFO, a device or a directory would block a reader forever or
 * read as garbage: these open only regular files, never waiting on the open itself.
 * ud_fopen_regular: the file for reading ("rb"), or NULL with why ("not a regular file (a
 * FIFO)", strerror) in why[0..n). */
FILE *ud_fopen_regular(const char *path, char *why, size_t n);
/* The whole file, NUL-terminated (malloc'd; *len without the NUL), or NULL with why: also
 * "larger than MAX bytes" for a file over max_bytes (nothing past it is ever silently dropped). */
char *ud_read_regular(const char *path, size_t max_bytes, size_t *len, char *why, size_t n);

#endif
