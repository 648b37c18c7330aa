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

#endif
