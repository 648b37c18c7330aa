/* util.c — error reporting shared by every layer. */
#include <stdarg.h>
#include <stdio.h>

#include "numerics/status.h"

void ud_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ulpdiff: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
