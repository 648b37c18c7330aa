/* isolate_wire.h — private to isolate_parent.c and isolate_worker.c: the records a parent and
 * its worker process (isolate.h) exchange over pipes.
 *
 * Wire format (one machine, one binary: host byte order, raw structs): a record is a header
 * {type, payload length, case index} and a payload. Parent -> worker: CASE (the operator's
 * name and the ud_case; pointers are re-resolved by name on arrival). Worker -> parent: HELLO
 * (backend usable? device name), BEGIN, KERNEL, KDONE (the kernel phase of a case opens and
 * closes), RESULT (status, output names, ud_result; pointers are re-resolved by the parent). */
#ifndef UD_ISOLATE_WIRE_H
#define UD_ISOLATE_WIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "harness/exec/isolate.h"
#include "harness/ops/registry.h"

enum { M_CASE = 1, M_HELLO, M_BEGIN, M_KERNEL, M_KDONE, M_RESULT };
/* A worker that hit a device error exits with this code after sending that case's RESULT:
 * its CUDA context may be unusable, so the parent starts a fresh one. */
enum { EXIT_DEVICE_ERROR = 86 };

typedef struct { uint32_t type, len; uint64_t index; } msg_hdr;
typedef struct { char op[64]; ud_case c; } wire_case;
typedef struct { int32_t ok, pad; char name[256]; char why[256]; } wire_hello;
typedef struct { int32_t status; char out_names[UD_MAX_TENSORS][48]; ud_result r; } wire_result;
_Static_assert(sizeof(msg_hdr) % 8 == 0 && sizeof(wire_case) % 8 == 0 && sizeof(wire_hello) % 8 == 0 &&
               sizeof(wire_result) % 8 == 0, "records must keep headers 8-byte aligned");

/* Whole buffers through a pipe (retrying short transfers and EINTR); 0, or -1 when the other
 * end is gone. */
static inline int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

#endif
