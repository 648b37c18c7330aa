/* tensor.c — host side of ud_tensor. */
#include "harness/core/tensor.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"

int ud_tensor_shape(ud_tensor *t, const char *name, ud_dtype dtype, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = 1;
    if (ndim < 0 || ndim > UD_MAX_DIMS) { ud_error("tensor %s: %d dimensions (at most %d)", name, ndim, UD_MAX_DIMS); return UD_EINTERNAL; }
    for (int d = 0; d < ndim; d++) {
        /* The product is checked as it grows: a shape whose element count does not fit is
         * refused, never wrapped into a small allocation. */
        if (shape[d] < 0 || (shape[d] > 0 && t->numel > SIZE_MAX / 16 / (size_t)shape[d])) {
            ud_error("tensor %s: dimension %d of %lld does not fit in memory", name, d, (long long)shape[d]);
            return UD_EUSAGE;
        }
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    return UD_OK;
}

int ud_tensor_alloc_host(ud_tensor *t)
{
    size_t bytes = ud_tensor_bytes(t);
    /* 64-byte alignment: the cpu backend may use wide loads, and 16-byte alignment of row
     * starts is what the CUDA launchers test for their vector path. */
    t->host = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    UD_ALLOC_CHECK(t->host);
    return UD_OK;
}

int ud_tensor_alloc(ud_tensor *t, const char *name, ud_dtype dtype, int ndim, const int64_t *shape)
{
    UD_TRY(ud_tensor_shape(t, name, dtype, ndim, shape));
    return ud_tensor_alloc_host(t);
}

void ud_tensor_free(ud_tensor *t)
{
    free(t->host);
    if (t->dev) ud_device_free(t->dev);
    t->host = t->dev = NULL;
}

size_t ud_tensor_bytes(const ud_tensor *t) { return t->numel * ud_format(t->dtype)->size; }

void ud_tensor_poison(ud_tensor *t)
{
    uint64_t p = ud_poison_bits(t->dtype);
    for (size_t i = 0; i < t->numel; i++) ud_set_bits(t->dtype, t->host, i, p);
}

int ud_unwritten_bits(ud_dtype t, uint64_t bits) { return bits == ud_poison_bits(t) && t != UD_E4M3; }

size_t ud_tensor_bitwise_diff(const ud_tensor *a, const ud_tensor *b, size_t *first)
{
    size_t count = 0;
    *first = (size_t)-1;
    if (memcmp(a->host, b->host, ud_tensor_bytes(a)) == 0) return 0;
    for (size_t i = 0; i < a->numel; i++) {
        uint64_t x = ud_get_bits(a->dtype, a->host, i), y = ud_get_bits(b->dtype, b->host, i);
        if (x == y) continue;
        if (!ud_unwritten_bits(a->dtype, x) && !ud_unwritten_bits(b->dtype, y) && isnan(ud_get(a->dtype, a->host, i)) &&
            isnan(ud_get(b->dtype, b->host, i)))
            continue;
        if (*first == (size_t)-1) *first = i;
        count++;
    }
    return count;
}

void ud_tensor_coords(const ud_tensor *t, size_t i, char *buf, size_t n)
{
    size_t idx[UD_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) { idx[d] = i % (size_t)t->shape[d]; i /= (size_t)t->shape[d]; }
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, d ? ", %zu" : "%zu", idx[d]);
    if (off < n) snprintf(buf + off, n - off, "]");
}
