/* cache.h — derived state for operators: an fp32 copy of a bf16 weight, fp32 copies of norm
 * parameters, a cos/sin table. docs/cache-checks.md is the user's page.
 *
 * An operator asks the cache for the derived copy that goes with a key; the cache returns the
 * copy it holds when the key matches under its policy, else derives a new one (a "conversion",
 * counted) on the call's device. The key holds everything a derived copy depends on:
 *   parameter-derived:  data pointer, version, device, dtype and allocation id of the
 *                       parameter (ud_cache_key_param), as PyTorch code keys on data_ptr(),
 *                       _version, device and dtype — plus the id, which no address reuse fools;
 *   config-derived:     a hash of the configuration (rope: rotary_dim, base, max_position,
 *                       style), the dtype and the device (ud_cache_key_config).
 * The policy says which fields take part in the match. The production policy uses all of
 * them; the others are the known-bug keys, each named by what it misses, kept here so that
 * operators share one cache implementation and a bug is a policy, not a code path:
 *   lazy          filled once and never invalidated (the GLM gate's FIXME)
 *   ptr_only      data pointer only: misses in-place updates
 *   no_alloc_id   (pointer, version, device, dtype), the diffusion models' FP32LayerNorm key:
 *                 misses ABA — a new parameter at a freed address starts at the same version
 *   no_device     the production key without the device
 *   no_dtype      the production key without the dtype
 *   no_reuse      derives on every call: never stale, never reused — the fresh uncached
 *                 instance the checker compares with, and what `repeat` must flag
 * A derived copy's byte size always takes part: a stored copy smaller than the call needs never
 * matches — that would be an out-of-bounds read, not staleness, and the harness must survive
 * the bugs it exhibits — while a larger one can be served stale (a wider rope table).
 *
 * No key sees a parameter written in place without a version bump (param.data.copy_ in
 * engines' weight loaders); ud_cache_invalidate() is the entry point such loaders call.
 *
 * Instrumentation for the checker: every derived copy is tagged with the device it was made
 * for. A hit whose copy was made for another device than the call's is recorded (a key that
 * misses the device serves it); the caller still gets a usable pointer — host copies directly
 * (both host devices read host memory), device copies through a scratch copy on the call's
 * device — so the wrong-device bug shows up as a finding, never as a crash. */
#ifndef UD_CACHE_H
#define UD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "harness/cache/param.h"

typedef enum {
    UD_CACHE_PRODUCTION = 0,
    UD_CACHE_LAZY,
    UD_CACHE_PTR_ONLY,
    UD_CACHE_NO_ALLOC_ID,
    UD_CACHE_NO_DEVICE,
    UD_CACHE_NO_DTYPE,
    UD_CACHE_NO_REUSE,
    UD_CACHE_NPOLICIES
} ud_cache_policy;

extern const char *const ud_cache_policy_names[];   /* "production", "lazy", ... (NULL-terminated) */
/* One line: the key and what it misses. */
const char *ud_cache_policy_what(ud_cache_policy p);
/* -1 when s names no policy. */
int ud_cache_policy_parse(const char *s, ud_cache_policy *p);

enum { UD_KEY_PTR = 1, UD_KEY_VERSION = 2, UD_KEY_DEVICE = 4, UD_KEY_DTYPE = 8, UD_KEY_ALLOC = 16, UD_KEY_CONFIG = 32 };
/* Fields a policy matches (UD_KEY_*); -1 for no_reuse (never matches). */
int ud_cache_policy_fields(ud_cache_policy p);

typedef struct {
    uintptr_t ptr;
    uint64_t version;
    int device;          /* the call's device: where the derived copy must live */
    ud_dtype dtype;
    uint64_t alloc_id;
    uint64_t config;
} ud_cache_key;

ud_cache_key ud_cache_key_param(const ud_phandle *h);
ud_cache_key ud_cache_key_config(uint64_t config, ud_dtype dt, int device);
/* FNV-1a over bytes, continuing from h (start with 0). */
uint64_t ud_cache_hash(const void *p, size_t n, uint64_t h);

/* Fills the derived copy at dst (bytes on `device`; for a CUDA device it is current). */
typedef int (*ud_derive_fn)(void *arg, int device, void *dst);

#define UD_CACHE_SLOTS 4

typedef struct {
    int filled;
    ud_cache_key key;
    size_t bytes;
    ud_block *data;        /* the derived copy, made for key.device */
    ud_block *scratch;     /* a wrong-device hit's copy on the call's device */
    char what[48];         /* "fp32 copy of weight" */
    uint64_t conversions;
} ud_cache_slot;

typedef struct ud_cache {
    ud_cache_policy policy;
    ud_pool *pool;         /* derived copies: never the parameters' pool */
    ud_cache_slot slot[UD_CACHE_SLOTS];
    uint64_t conversions;  /* over all slots */
    /* Wrong-device hits since ud_cache_clear_events (the first one is described). */
    int wrong_device;
    char wrong_device_msg[200];
} ud_cache;

int ud_cache_init(ud_cache *c, ud_cache_policy p);
void ud_cache_release(ud_cache *c);
/* Every slot derives again on its next use: what a weight loader calls after writing
 * parameters in place without bumping their version. */
void ud_cache_invalidate(ud_cache *c);
void ud_cache_clear_events(ud_cache *c);

/* The derived copy of `bytes` for `key` in slot s (what: its name, for messages). On a hit
 * under the policy it is the stored copy; on a miss fn derives it on key->device and the
 * conversion is counted. *data is valid on key->device until the next call for slot s. */
int ud_cache_get(ud_cache *c, int s, const char *what, const ud_cache_key *key, size_t bytes, ud_derive_fn fn,
                 void *arg, const void **data);

/* Is allocation id `id` one of the cache's derived copies? (The state-dict check: a derived
 * copy must never be among the parameters a model saves.) */
int ud_cache_owns(const ud_cache *c, uint64_t id);

#endif
