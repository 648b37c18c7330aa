/* npy.h — NumPy .npy files (format versions 1.0, 2.0 and 3.0; C order, little endian), the
 * on-disk form of tensors in the export/check exchange (docs/external.md).
 *
 * NumPy has no bf16 or fp8 dtypes, so those tensors are stored as their raw bits: bf16 as
 * '<u2', fp8 e4m3/e5m2 as '|u1' (the manifest names the real dtype). fp64/fp32/fp16/int32 use
 * NumPy's own '<f8', '<f4', '<f2', '<i4'. ud_npy_descr() gives the descriptor for a dtype. */
#ifndef UD_NPY_H
#define UD_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "numerics/dtype.h"
#include "harness/core/tensor.h"

/* The .npy descriptor a tensor of dtype t is stored with: "<u2" for bf16, "|u1" for fp8 ... */
const char *ud_npy_descr(ud_dtype t);

/* Writes t (host buffer) to path. Returns UD_OK, or UD_EINTERNAL with a message on stderr
 * naming the file. */
int ud_npy_write(const char *path, const ud_tensor *t);

typedef struct {
    char descr[16];               /* as written in the file, normalised: "=u2" and "<u2" -> "<u2" */
    int ndim;
    int64_t shape[8];
    int fortran_order;
    long data_offset;             /* bytes from the start of the file to the data */
    long long file_bytes;
} ud_npy_header;

/* Reads the header of path. Returns 0, or -1 with a one-line reason in err ("missing",
 * "not a .npy file", "Fortran-ordered array" ...). */
int ud_npy_read_header(const char *path, ud_npy_header *h, char *err, size_t errn);

/* Checks that path holds a C-ordered array with t's descriptor and shape. Returns 0, or -1
 * with a message in err that names the file, what it holds and what was expected
 * (what: "output 'out' of rmsnorm(...)"). */
int ud_npy_check(const char *path, const ud_tensor *t, const char *what, char *err, size_t errn);

/* ud_npy_check, then reads the data into t->host. */
int ud_npy_load(const char *path, ud_tensor *t, const char *what, char *err, size_t errn);

#endif
