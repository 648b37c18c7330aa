/* npy.c — reading and writing NumPy .npy files (npy.h). The format: the magic "\x93NUMPY",
 * a major and minor version byte, the header length (2 bytes little endian in 1.0, 4 bytes in
 * 2.0/3.0), then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), }
 * padded with spaces and a newline so the data starts on a 64-byte boundary, then the raw
 * data. This is what numpy.save writes and numpy.load reads. */
#include "harness/external/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/core/files.h"

#include "numerics/status.h"

const char *ud_npy_descr(ud_dtype t)
{
    switch (t) {
    case UD_F64: return "<f8";
    case UD_F32: return "<f4";
    case UD_F16: return "<f2";
    case UD_BF16: return "<u2";     /* raw bits: NumPy has no bfloat16 */
    case UD_E4M3: return "|u1";     /* raw bits */
    case UD_E5M2: return "|u1";
    case UD_I32: return "<i4";
    default: return "?";
    }
}

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "npy: IEEE binary32/binary64 expected");

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

int ud_npy_write(const char *path, const ud_tensor *t)
{
    if (!host_is_little_endian()) { ud_error("%s: npy: big-endian hosts are not supported", path); return UD_EINTERNAL; }
    char dict[512];
    int off = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", ud_npy_descr(t->dtype));
    for (int d = 0; d < t->ndim; d++)
        off += snprintf(dict + off, sizeof dict - (size_t)off, "%lld,%s", (long long)t->shape[d],
                        d + 1 < t->ndim ? " " : "");
    off += snprintf(dict + off, sizeof dict - (size_t)off, "), }");
    /* Pad with spaces so magic (6) + version (2) + length (2) + header is a multiple of 64,
     * the header ending in '\n' as NumPy requires. */
    size_t total = 10 + (size_t)off + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)off + pad + 1;
    if (hlen > 65535) { ud_error("%s: npy header too long", path); return UD_EINTERNAL; }
    FILE *f = fopen(path, "wb");
    if (!f) { ud_error("%s: cannot create: %s", path, strerror(errno)); return UD_EINTERNAL; }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)off, f) == (size_t)off;
    for (size_t k = 0; ok && k < pad; k++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t bytes = ud_tensor_bytes(t);
    ok = ok && (bytes == 0 || fwrite(t->host, 1, bytes, f) == bytes);
    if (fclose(f) != 0) ok = 0;
    if (!ok) { ud_error("%s: write failed: %s", path, strerror(errno)); return UD_EINTERNAL; }
    return UD_OK;
}

/* Finds 'key' in the dict literal and returns a pointer just past the ':' (spaces skipped). */
static const char *dict_value(const char *dict, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(dict, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(dict, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

int ud_npy_read_header(const char *path, ud_npy_header *h, char *err, size_t errn)
{
    memset(h, 0, sizeof *h);
    char why[160];
    FILE *f = ud_fopen_regular(path, why, sizeof why);   /* a FIFO would block the read forever */
    if (!f) { snprintf(err, errn, "%s", errno == ENOENT ? "missing" : why); return -1; }
    unsigned char pre[12];
    int rc = -1;
    char *dict = NULL;
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        snprintf(err, errn, "not a .npy file (no \\x93NUMPY magic)");
        goto out;
    }
    size_t hlen;
    long start;
    if (pre[6] == 1) {
        if (fread(pre + 8, 1, 2, f) != 2) { snprintf(err, errn, "truncated header"); goto out; }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        start = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 8, 1, 4, f) != 4) { snprintf(err, errn, "truncated header"); goto out; }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        start = 12;
    } else {
        snprintf(err, errn, "unsupported .npy format version %d.%d", pre[6], pre[7]);
        goto out;
    }
    if (hlen > (1u << 20)) { snprintf(err, errn, "implausible header length %zu", hlen); goto out; }
    dict = malloc(hlen + 1);
    if (!dict) { snprintf(err, errn, "out of memory"); goto out; }
    if (fread(dict, 1, hlen, f) != hlen) { snprintf(err, errn, "truncated header"); goto out; }
    dict[hlen] = 0;
    h->data_offset = start + (long)hlen;
    if (fseek(f, 0, SEEK_END) == 0) h->file_bytes = ftell(f);

    const char *d = dict_value(dict, "descr");
    if (!d || (*d != '\'' && *d != '"')) {
        snprintf(err, errn, "header has no 'descr' string (structured dtypes are not supported)");
        goto out;
    }
    char q = *d++;
    size_t k = 0;
    while (*d && *d != q && k + 1 < sizeof h->descr) h->descr[k++] = *d++;
    h->descr[k] = 0;
    /* '=' (native) is little endian here; single-byte types are written '|'. */
    if (h->descr[0] == '=') h->descr[0] = '<';
    if ((h->descr[0] == '<' || h->descr[0] == '>') && strlen(h->descr) == 3 && h->descr[2] == '1') h->descr[0] = '|';

    const char *fo = dict_value(dict, "fortran_order");
    if (!fo) { snprintf(err, errn, "header has no 'fortran_order'"); goto out; }
    h->fortran_order = strncmp(fo, "True", 4) == 0;

    const char *s = dict_value(dict, "shape");
    if (!s || *s != '(') { snprintf(err, errn, "header has no 'shape' tuple"); goto out; }
    s++;
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        if (!isdigit((unsigned char)*s)) { snprintf(err, errn, "malformed 'shape' in header"); goto out; }
        if (h->ndim == 8) { snprintf(err, errn, "more than 8 dimensions"); goto out; }
        char *end;
        long long v = strtoll(s, &end, 10);
        h->shape[h->ndim++] = v;
        s = end;
    }
    rc = 0;
out:
    free(dict);
    fclose(f);
    return rc;
}

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, "%lld%s", (long long)shape[d], ndim == 1 ? "," : d + 1 < ndim ? ", " : "");
    if (off < n) snprintf(buf + off, n - off, ")");
}

/* How to write a dtype from NumPy, for error messages. */
static const char *how_to_store(ud_dtype t)
{
    switch (t) {
    case UD_BF16: return " (bf16 is stored as its raw bits: np.save(path, a.view(np.uint16)) for an ml_dtypes.bfloat16 array a)";
    case UD_E4M3: return " (fp8 e4m3 is stored as its raw bits: a.view(np.uint8) for an ml_dtypes.float8_e4m3fn array a)";
    case UD_E5M2: return " (fp8 e5m2 is stored as its raw bits: a.view(np.uint8) for an ml_dtypes.float8_e5m2 array a)";
    default: return "";
    }
}

int ud_npy_check(const char *path, const ud_tensor *t, const char *what, char *err, size_t errn)
{
    ud_npy_header h;
    char why[256];
    if (ud_npy_read_header(path, &h, why, sizeof why)) {
        snprintf(err, errn, "%s: %s (%s)", path, why, what);
        return -1;
    }
    char want[96], got[96];
    shape_str(t->shape, t->ndim, want, sizeof want);
    shape_str(h.shape, h.ndim, got, sizeof got);
    if (strcmp(h.descr, ud_npy_descr(t->dtype)) != 0) {
        snprintf(err, errn, "%s: dtype '%s', expected '%s' for %s, %s%s", path, h.descr, ud_npy_descr(t->dtype),
                 ud_dtype_name(t->dtype), what, how_to_store(t->dtype));
        return -1;
    }
    int same = h.ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = h.shape[d] == t->shape[d];
    if (!same) {
        snprintf(err, errn, "%s: shape %s, expected %s for %s", path, got, want, what);
        return -1;
    }
    if (h.fortran_order && t->ndim > 1) {
        snprintf(err, errn, "%s: Fortran-ordered array; write C order (np.ascontiguousarray) for %s", path, what);
        return -1;
    }
    long long need = (long long)h.data_offset + (long long)ud_tensor_bytes(t);
    if (h.file_bytes < need) {
        snprintf(err, errn, "%s: truncated: %lld bytes, the header promises %lld (%s)", path, h.file_bytes, need, what);
        return -1;
    }
    return 0;
}

int ud_npy_load(const char *path, ud_tensor *t, const char *what, char *err, size_t errn)
{
    if (ud_npy_check(path, t, what, err, errn)) return -1;
    ud_npy_header h;
    char why[256];
    if (ud_npy_read_header(path, &h, why, sizeof why)) { snprintf(err, errn, "%s: %s", path, why); return -1; }
    FILE *f = ud_fopen_regular(path, why, sizeof why);
    if (!f) { snprintf(err, errn, "%s: %s (%s)", path, why, what); return -1; }
    size_t bytes = ud_tensor_bytes(t);
    int ok = fseek(f, h.data_offset, SEEK_SET) == 0 && (bytes == 0 || fread(t->host, 1, bytes, f) == bytes);
    fclose(f);
    if (!ok) { snprintf(err, errn, "%s: read failed (%s)", path, what); return -1; }
    return 0;
}
