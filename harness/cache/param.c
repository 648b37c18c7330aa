/* param.c — the deterministic pool allocator and parameter handles (param.h). */
#include "harness/cache/param.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"

const char *ud_dev_name(int dev, char *buf, size_t n)
{
    if (dev == UD_DEV_CPU) snprintf(buf, n, "cpu");
    else if (dev == UD_DEV_CPU1) snprintf(buf, n, "cpu:1");
    else snprintf(buf, n, "cuda:%d", dev);
    return buf;
}

int ud_dev_parse(const char *s, int *dev)
{
    if (strcmp(s, "cpu") == 0 || strcmp(s, "cpu:0") == 0) { *dev = UD_DEV_CPU; return 0; }
    if (strcmp(s, "cpu:1") == 0) { *dev = UD_DEV_CPU1; return 0; }
    if (strncmp(s, "cuda:", 5) == 0 && s[5] >= '0' && s[5] <= '9') {
        char *end;
        long k = strtol(s + 5, &end, 10);
        if (*end == 0 && k < 64) { *dev = (int)k; return 0; }
    }
    return -1;
}

/* ---- pool ---- */

struct ud_pool {
    ud_block *blocks;          /* every block ever allocated, live or free */
    uint64_t frees;            /* counter giving the free list its LIFO order */
};

/* Allocation ids are unique in the process (pools of concurrent cases never share one). */
static atomic_uint_fast64_t next_alloc_id = 1;

uint64_t ud_alloc_id_next(void) { return (uint64_t)atomic_fetch_add(&next_alloc_id, 1); }

int ud_pool_create(ud_pool **p)
{
    *p = calloc(1, sizeof **p);
    UD_ALLOC_CHECK(*p);
    return UD_OK;
}

static void release_memory(ud_block *b)
{
    if (b->space < 0) free(b->ptr);
    else (void)ud_dev_free(b->space, b->ptr);   /* teardown: nothing left to report to */
}

void ud_pool_destroy(ud_pool *p)
{
    if (!p) return;
    for (ud_block *b = p->blocks, *nx; b; b = nx) {
        nx = b->next;
        release_memory(b);
        free(b);
    }
    free(p);
}

int ud_pool_alloc(ud_pool *p, int dev, size_t bytes, ud_block **out)
{
    const int space = ud_dev_space(dev);
    ud_block *reuse = NULL;
    for (ud_block *b = p->blocks; b; b = b->next)
        if (!b->live && b->space == space && b->bytes == bytes && (!reuse || b->freed_at > reuse->freed_at)) reuse = b;
    if (!reuse) {
        reuse = calloc(1, sizeof *reuse);
        UD_ALLOC_CHECK(reuse);
        reuse->bytes = bytes;
        reuse->space = space;
        /* 64-byte alignment as ud_tensor's: kernels may use wide loads on parameters too. */
        if (space < 0) reuse->ptr = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
        else if (ud_dev_malloc(space, bytes ? bytes : 16, &reuse->ptr) != UD_OK) reuse->ptr = NULL;
        if (!reuse->ptr) {
            free(reuse);
            ud_error("pool: cannot allocate %zu bytes on %s %d", bytes, space < 0 ? "the host" : "cuda device", space);
            return space < 0 ? UD_EINTERNAL : UD_EDEVICE;
        }
        reuse->next = p->blocks;
        p->blocks = reuse;
    }
    reuse->live = 1;
    reuse->alloc_id = ud_alloc_id_next();
    reuse->version = 0;
    *out = reuse;
    return UD_OK;
}

void ud_pool_free(ud_pool *p, ud_block *b)
{
    if (!b) return;
    b->live = 0;
    b->alloc_id = 0;
    b->freed_at = ++p->frees;
}

size_t ud_pool_live(const ud_pool *p)
{
    size_t n = 0;
    for (const ud_block *b = p->blocks; b; b = b->next) n += b->live;
    return n;
}

/* ---- handles ---- */

static int copy_bytes(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{
    if (!bytes) return UD_OK;
    if (ud_dev_is_host(dst_dev) && ud_dev_is_host(src_dev)) {
        memmove(dst, src, bytes);
        return UD_OK;
    }
    return ud_dev_copy(dst, ud_dev_space(dst_dev), src, ud_dev_space(src_dev), bytes);
}

int ud_phandle_new(ud_pool *p, ud_phandle *h, const char *name, ud_dtype dt, size_t numel, int dev, const void *src)
{
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    h->dtype = dt;
    h->numel = numel;
    h->device = dev;
    UD_TRY(ud_pool_alloc(p, dev, ud_phandle_bytes(h), &h->block));
    return copy_bytes(h->block->ptr, dev, src, UD_DEV_CPU, ud_phandle_bytes(h));
}

void ud_phandle_free(ud_pool *p, ud_phandle *h)
{
    ud_pool_free(p, h->block);
    h->block = NULL;
}

int ud_phandle_write(ud_phandle *h, const void *src, int bump)
{
    UD_TRY(copy_bytes(h->block->ptr, h->device, src, UD_DEV_CPU, ud_phandle_bytes(h)));
    if (bump) h->block->version++;
    return UD_OK;
}

int ud_phandle_read(const ud_phandle *h, void *dst)
{
    return copy_bytes(dst, UD_DEV_CPU, h->block->ptr, h->device, ud_phandle_bytes(h));
}

int ud_phandle_move(ud_pool *p, ud_phandle *h, int dev)
{
    if (dev == h->device) return UD_OK;   /* .to() of a tensor already there returns it */
    ud_block *nb;
    UD_TRY(ud_pool_alloc(p, dev, ud_phandle_bytes(h), &nb));
    int rc = copy_bytes(nb->ptr, dev, h->block->ptr, h->device, ud_phandle_bytes(h));
    if (rc != UD_OK) { ud_pool_free(p, nb); return rc; }
    ud_pool_free(p, h->block);
    h->block = nb;
    h->device = dev;
    return UD_OK;
}

int ud_phandle_view(ud_phandle *h, int dev)
{
    if (!ud_dev_is_host(dev) || h->block->space >= 0) return UD_EUSAGE;
    h->device = dev;
    return UD_OK;
}

int ud_phandle_cast(ud_pool *p, ud_phandle *h, ud_dtype dt)
{
    size_t n = h->numel, osz = ud_phandle_bytes(h), nsz = n * ud_format(dt)->size;
    void *old = malloc(osz ? osz : 1), *conv = malloc(nsz ? nsz : 1);
    if (!old || !conv) { free(old); free(conv); UD_ALLOC_CHECK(NULL); }
    int rc = ud_phandle_read(h, old);
    for (size_t i = 0; rc == UD_OK && i < n; i++) ud_set(dt, conv, i, ud_get(h->dtype, old, i));
    if (rc == UD_OK) {
        int dev = h->device;
        ud_phandle_free(p, h);   /* first: a same-size reload lands on the freed address */
        char name[sizeof h->name];
        memcpy(name, h->name, sizeof name);
        rc = ud_phandle_new(p, h, name, dt, n, dev, conv);
    }
    free(old);
    free(conv);
    return rc;
}
