/* cache.c — the derived-state cache (cache.h): key policies, conversion counting, explicit
 * invalidation and the residency instrumentation. */
#include "harness/cache/cache.h"

#include <stdio.h>
#include <string.h>

#include "numerics/status.h"

const char *const ud_cache_policy_names[] = {
    "production", "lazy", "ptr_only", "no_alloc_id", "no_device", "no_dtype", "no_reuse", NULL,
};
_Static_assert(sizeof ud_cache_policy_names / sizeof ud_cache_policy_names[0] == UD_CACHE_NPOLICIES + 1,
               "every cache policy needs a name");

const char *ud_cache_policy_what(ud_cache_policy p)
{
    static const char *const what[UD_CACHE_NPOLICIES] = {
        "key (data pointer, version, device, dtype, allocation id): misses only writes that bump no version",
        "filled once, never invalidated (the GLM gate FIXME): misses every weight change",
        "key (data pointer): misses in-place updates",
        "key (data pointer, version, device, dtype), as diffusion models' FP32LayerNorm: misses ABA",
        "production key without the device: serves a copy made for another device",
        "production key without the dtype: serves a copy derived from another dtype",
        "no cache: derives on every call (never stale, never reused)",
    };
    return p >= 0 && p < UD_CACHE_NPOLICIES ? what[p] : "?";
}

int ud_cache_policy_parse(const char *s, ud_cache_policy *p)
{
    for (int k = 0; k < UD_CACHE_NPOLICIES; k++)
        if (strcmp(s, ud_cache_policy_names[k]) == 0) { *p = (ud_cache_policy)k; return 0; }
    return -1;
}

int ud_cache_policy_fields(ud_cache_policy p)
{
    const int all = UD_KEY_PTR | UD_KEY_VERSION | UD_KEY_DEVICE | UD_KEY_DTYPE | UD_KEY_ALLOC | UD_KEY_CONFIG;
    switch (p) {
    case UD_CACHE_PRODUCTION: return all;
    case UD_CACHE_LAZY: return 0;
    case UD_CACHE_PTR_ONLY: return UD_KEY_PTR;
    case UD_CACHE_NO_ALLOC_ID: return all & ~UD_KEY_ALLOC;
    case UD_CACHE_NO_DEVICE: return all & ~UD_KEY_DEVICE;
    case UD_CACHE_NO_DTYPE: return all & ~UD_KEY_DTYPE;
    default: return -1;
    }
}

ud_cache_key ud_cache_key_param(const ud_phandle *h)
{
    ud_cache_key k;
    memset(&k, 0, sizeof k);
    k.ptr = (uintptr_t)ud_phandle_data(h);
    k.version = ud_phandle_version(h);
    k.device = h->device;
    k.dtype = h->dtype;
    k.alloc_id = ud_phandle_alloc_id(h);
    return k;
}

ud_cache_key ud_cache_key_config(uint64_t config, ud_dtype dt, int device)
{
    ud_cache_key k;
    memset(&k, 0, sizeof k);
    k.config = config;
    k.dtype = dt;
    k.device = device;
    return k;
}

uint64_t ud_cache_hash(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    if (!h) h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

int ud_cache_init(ud_cache *c, ud_cache_policy p)
{
    memset(c, 0, sizeof *c);
    c->policy = p;
    return ud_pool_create(&c->pool);
}

void ud_cache_release(ud_cache *c)
{
    ud_pool_destroy(c->pool);
    c->pool = NULL;
    memset(c->slot, 0, sizeof c->slot);
}

void ud_cache_invalidate(ud_cache *c)
{
    for (int s = 0; s < UD_CACHE_SLOTS; s++) c->slot[s].filled = 0;
}

void ud_cache_clear_events(ud_cache *c)
{
    c->wrong_device = 0;
    c->wrong_device_msg[0] = 0;
}

static int key_match(int fields, const ud_cache_key *a, const ud_cache_key *b)
{
    if (fields < 0) return 0;
    return (!(fields & UD_KEY_PTR) || a->ptr == b->ptr) && (!(fields & UD_KEY_VERSION) || a->version == b->version) &&
           (!(fields & UD_KEY_DEVICE) || a->device == b->device) && (!(fields & UD_KEY_DTYPE) || a->dtype == b->dtype) &&
           (!(fields & UD_KEY_ALLOC) || a->alloc_id == b->alloc_id) && (!(fields & UD_KEY_CONFIG) || a->config == b->config);
}

/* A wrong-device hit: keep the process alive by serving the stored values from memory the
 * call's device can read. */
static int serve_elsewhere(ud_cache *c, ud_cache_slot *sl, int dev, const void **data)
{
    if (ud_dev_is_host(dev) && sl->data->space < 0) { *data = sl->data->ptr; return UD_OK; }
    ud_pool_free(c->pool, sl->scratch);
    sl->scratch = NULL;
    UD_TRY(ud_pool_alloc(c->pool, dev, sl->bytes, &sl->scratch));
    UD_TRY(ud_dev_copy(sl->scratch->ptr, ud_dev_space(dev), sl->data->ptr, sl->data->space, sl->bytes));
    *data = sl->scratch->ptr;
    return UD_OK;
}

int ud_cache_get(ud_cache *c, int s, const char *what, const ud_cache_key *key, size_t bytes, ud_derive_fn fn,
                 void *arg, const void **data)
{
    if (s < 0 || s >= UD_CACHE_SLOTS) { ud_error("cache: slot %d out of range", s); return UD_EINTERNAL; }
    ud_cache_slot *sl = &c->slot[s];
    /* A stored copy smaller than the call needs never matches (it would be read out of bounds);
     * a larger one may, as another shape's stale tensor would be read in engines (a cos/sin
     * table of a wider rotary_dim served to a narrower layer). */
    if (sl->filled && sl->bytes >= bytes && key_match(ud_cache_policy_fields(c->policy), &sl->key, key)) {
        if (sl->key.device != key->device) {
            if (!c->wrong_device++) {
                char a[16], b[16];
                snprintf(c->wrong_device_msg, sizeof c->wrong_device_msg,
                         "served the %s made for %s to a call on %s", sl->what, ud_dev_name(sl->key.device, a, sizeof a),
                         ud_dev_name(key->device, b, sizeof b));
            }
            return serve_elsewhere(c, sl, key->device, data);
        }
        *data = sl->data->ptr;
        return UD_OK;
    }
    /* Miss: the old copy goes back to the pool first, so a same-size copy reuses its block. */
    ud_pool_free(c->pool, sl->data);
    ud_pool_free(c->pool, sl->scratch);
    sl->data = sl->scratch = NULL;
    sl->filled = 0;
    UD_TRY(ud_pool_alloc(c->pool, key->device, bytes, &sl->data));
    if (!ud_dev_is_host(key->device)) UD_TRY(ud_dev_select(key->device));
    UD_TRY(fn(arg, key->device, sl->data->ptr));
    sl->filled = 1;
    sl->key = *key;
    sl->bytes = bytes;
    snprintf(sl->what, sizeof sl->what, "%s", what);
    sl->conversions++;
    c->conversions++;
    *data = sl->data->ptr;
    return UD_OK;
}

int ud_cache_owns(const ud_cache *c, uint64_t id)
{
    for (int s = 0; s < UD_CACHE_SLOTS; s++) {
        const ud_cache_slot *sl = &c->slot[s];
        if ((sl->data && sl->data->live && sl->data->alloc_id == id) ||
            (sl->scratch && sl->scratch->live && sl->scratch->alloc_id == id))
            return 1;
    }
    return 0;
}
