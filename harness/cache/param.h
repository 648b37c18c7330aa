/* param.h — parameter handles and the deterministic pool allocator behind them.
 *
 * An operator that keeps derived state (an fp32 copy of a bf16 weight, a cos/sin table) sees
 * its parameters as handles {data, version, device, dtype, allocation id}, the analogue of a
 * torch.Tensor's data_ptr(), _version, device and dtype:
 *   - data and the version counter belong to the storage (a ud_block), so a view of the same
 *     storage from another device shares both, as torch views share _version;
 *   - whoever writes a parameter in place bumps its version (`param.copy_(src)` does); a write
 *     that does not (`param.data.copy_(src)`, which engines' weight loaders use) is possible
 *     too, and no key can see it — docs/cache-checks.md, scenario inplace_nobump;
 *   - every allocation gets an id that is never reused in the process, so "the same address
 *     holds a new tensor" (ABA) is visible to a key that includes it.
 *
 * The pool makes ABA happen on purpose: a freed block goes on a free list of its memory space
 * and byte size, and the next allocation of that size in that space takes the most recently
 * freed block — the same address, as PyTorch's caching allocator hands out a freed block of
 * the same size class. Memory returns to the system only when the pool is destroyed.
 *
 * Devices: UD_DEV_CPU is the host; cuda:N is N >= 0 (device memory through harness/core/device.cu);
 * UD_DEV_CPU1 is a simulated second device whose memory is host memory and whose kernels run
 * on the cpu backend. It lets `make check` on a machine with no GPU exercise device changes:
 * a view of host storage "from cpu:1" has the same address, version and allocation id as on
 * the host, the same memory that a CUDA view of pinned host memory (vLLM's CPU offload) has on
 * a GPU, and a derived copy made for one device is tagged with it (cache.h). */
#ifndef UD_PARAM_H
#define UD_PARAM_H

#include <stddef.h>
#include <stdint.h>

#include "numerics/dtype.h"

#define UD_DEV_CPU (-1)
#define UD_DEV_CPU1 (-2)

static inline int ud_dev_is_host(int dev) { return dev < 0; }
/* The memory space a device's allocations come from: -1 (host) for both host devices, else
 * the CUDA ordinal. Free blocks are shared within a space. */
static inline int ud_dev_space(int dev) { return dev < 0 ? -1 : dev; }
/* "cpu", "cpu:1", "cuda:0" */
const char *ud_dev_name(int dev, char *buf, size_t n);
/* Parses a device name; 0 on success, -1 when s names none. */
int ud_dev_parse(const char *s, int *dev);

/* Raw device memory (harness/core/device.cu; harness/device_stub.c fails them without CUDA). */
int ud_dev_count(void);                                   /* usable CUDA devices, 0 without */
int ud_dev_select(int ordinal);                           /* cudaSetDevice */
int ud_dev_current(int *ordinal);                         /* cudaGetDevice */
int ud_dev_malloc(int ordinal, size_t bytes, void **p);
int ud_dev_free(int ordinal, void *p);
/* bytes from src to dst; *_dev is the CUDA ordinal holding each pointer, or -1 for the host. */
int ud_dev_copy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes);
int ud_dev_sync(int ordinal);

/* ---- pool ---- */
typedef struct ud_block {
    void *ptr;
    size_t bytes;
    int space;                 /* ud_dev_space() of the device it was allocated for */
    int live;
    uint64_t alloc_id;         /* unique in the process, never reused; 0 while free */
    uint64_t version;          /* the storage's version counter: 0 at allocation */
    struct ud_block *next;     /* every block of the pool */
    uint64_t freed_at;         /* LIFO order of the free list */
} ud_block;

typedef struct ud_pool ud_pool;

int ud_pool_create(ud_pool **p);
void ud_pool_destroy(ud_pool *p);                      /* releases every block, live or not */
/* A block of `bytes` in dev's memory space: the most recently freed block of exactly that
 * size and space when there is one (same address), else new memory. */
int ud_pool_alloc(ud_pool *p, int dev, size_t bytes, ud_block **b);
void ud_pool_free(ud_pool *p, ud_block *b);
size_t ud_pool_live(const ud_pool *p);                 /* live blocks (leak checks) */
/* The next allocation id (allocation ids are process-wide). */
uint64_t ud_alloc_id_next(void);

/* ---- parameter handles ---- */
typedef struct {
    char name[32];
    ud_block *block;           /* storage: data pointer, version counter, allocation id */
    int device;                /* where this tensor is: the block's space, or a host view */
    ud_dtype dtype;
    size_t numel;
} ud_phandle;

static inline void *ud_phandle_data(const ud_phandle *h) { return h->block->ptr; }
static inline uint64_t ud_phandle_version(const ud_phandle *h) { return h->block->version; }
static inline uint64_t ud_phandle_alloc_id(const ud_phandle *h) { return h->block->alloc_id; }
static inline size_t ud_phandle_bytes(const ud_phandle *h) { return h->numel * ud_format(h->dtype)->size; }

/* A new parameter on dev holding `src` (host memory, dtype dt): a constructor (torch.tensor,
 * a checkpoint load), so its version is 0. */
int ud_phandle_new(ud_pool *p, ud_phandle *h, const char *name, ud_dtype dt, size_t numel, int dev, const void *src);
void ud_phandle_free(ud_pool *p, ud_phandle *h);
/* In-place write of new contents (host memory in h's dtype). bump != 0 bumps the version
 * (param.copy_); bump == 0 leaves it (param.data.copy_). */
int ud_phandle_write(ud_phandle *h, const void *src, int bump);
/* Copies the contents to host memory. */
int ud_phandle_read(const ud_phandle *h, void *dst);
/* param.data = param.data.to(dev): a new allocation on dev with the same contents (version 0);
 * the old storage is freed after the copy. */
int ud_phandle_move(ud_pool *p, ud_phandle *h, int dev);
/* The same storage seen from another device (same data, version and allocation id): only
 * between the host devices (cpu, cpu:1); UD_EUSAGE otherwise. */
int ud_phandle_view(ud_phandle *h, int dev);
/* The parameter reloaded in another dtype: its contents converted (round to nearest even),
 * the old storage freed first, then a new allocation (a weight loader that frees a layer and
 * loads it again): the same address when the byte size is the same, version 0. */
int ud_phandle_cast(ud_pool *p, ud_phandle *h, ud_dtype dt);

#endif
