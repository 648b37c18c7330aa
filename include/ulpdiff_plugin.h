/* ulpdiff_plugin.h — the in-process plugin ABI of ulpdiff, version 1.
 *
 * A plugin is a shared library that implements one or more ulpdiff operators
 * (`ulpdiff list ops`). `ulpdiff run --impl path/to/lib.so [CASES] [options]` loads it and,
 * for the cases of the operators it implements, calls its functions in place of ulpdiff's
 * production kernels; everything else — inputs, the exact reference, budgets, comparison,
 * findings, text/JSON/JUnit/HTML reports, shrinking of failures — is unchanged. Cases of
 * other operators are left out. docs/external.md has a walk-through.
 *
 * The library exports one C function, named ULPDIFF_PLUGIN_ENTRY:
 *
 *     const udp_plugin *ulpdiff_plugin(void);
 *
 * returning a table that lives as long as the library. ulpdiff refuses the plugin (exit 2,
 * with a message) when the table's `abi` is not ULPDIFF_PLUGIN_ABI, when `size` is smaller
 * than this version's sizeof(udp_plugin), when an operator name is unknown, or when no
 * operator accepts the memory of the selected backend.
 *
 * Calls. For every case ulpdiff allocates the inputs and outputs, fills the inputs, writes a
 * NaN "poison" pattern into every output element, and calls `run` once with a udp_call:
 *   - tensors are dense, row-major (C order), element type `dtype`; bf16/fp16/fp8 elements
 *     are raw bit patterns (uint16_t / uint8_t), i32 is int32_t, fp32/fp64 native;
 *   - the names, order, dtypes and shapes of the tensors are the operator's, as
 *     `ulpdiff list` prints them and docs/ops/<op>.md defines them;
 *   - `memory` says where every data pointer lives: UDP_MEM_HOST (backend cpu) or
 *     UDP_MEM_CUDA (backend cuda: device pointers from cudaMalloc, inputs already uploaded,
 *     outputs poisoned on the device; launch on `stream`, ulpdiff synchronises after `run`
 *     returns and then copies the outputs back);
 *   - every parameter of the case is passed by name (integers in .i, reals in .d, choices and
 *     dtypes by their names in .s), in the order `ulpdiff list` shows;
 *   - `run` must write every element of every output (an element still poisoned is an
 *     `unwritten-output` finding), must not write inputs, and returns UDP_OK, or UDP_ERROR
 *     with a message in `error` (the case then gets an `error` finding).
 * Threads: unless an operator sets UDP_SERIAL, `run` may be called from several threads at
 * once (on different buffers; `--jobs N`, the cpu backend). On the cuda backend calls are
 * serial (one case's kernel phase at a time on the device).
 *
 * Ownership: ulpdiff owns every tensor, string and array a udp_call points at; they are valid
 * only during the call — a plugin must not free them or keep pointers to them. The plugin owns
 * its table and everything it points at; ulpdiff never unloads the library while it runs.
 * A plugin must not change process-wide state that ulpdiff relies on (the CUDA device, the
 * floating-point environment, signal handlers) and must not exit.
 *
 * CUDA plugins: set memory = UDP_MEM_CUDA (or both) and pass `--backend cuda`; launch on
 * `stream` (NULL today: the default stream), check every CUDA return and report failures
 * through UDP_ERROR rather than aborting; do not synchronise or reset the device (ulpdiff
 * synchronises after `run` and reports asynchronous faults as device errors). The pointers
 * belong to the device's primary context, which every CUDA runtime in the process uses, so a
 * plugin built with `nvcc -shared -Xcompiler -fPIC` works with either cudart linkage.
 *
 * Not covered for plugins: known-bug variants (`--mutant`: the plugin replaces the kernel) and
 * cache-invalidation scenarios (they drive ulpdiff's own modules with derived state).
 *
 * `supports` (optional) is asked once per case before anything runs, with the operator name,
 * the parameters and the seed filled and no tensors (nin = nout = 0, in = out = NULL): a plugin
 * that handles only some dtypes or variants returns 0 for the others, and those cases are left
 * out (ulpdiff prints how many).
 *
 * Versioning: ULPDIFF_PLUGIN_ABI changes whenever a struct below changes in a way an old
 * plugin could misread; fields are only ever appended, and `size` lets ulpdiff tell how much
 * of a table a plugin filled in. This header has no dependencies beyond <stddef.h> and
 * <stdint.h> and compiles as C99 and C++. */
#ifndef ULPDIFF_PLUGIN_H
#define ULPDIFF_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ULPDIFF_PLUGIN_ABI 1
#define ULPDIFF_PLUGIN_ENTRY "ulpdiff_plugin"

/* Element types (the values of ulpdiff's own ud_dtype). */
enum {
    UDP_F64 = 0, UDP_F32 = 1, UDP_F16 = 2, UDP_BF16 = 3,
    UDP_E4M3 = 4,   /* OCP FP8 E4M3FN: max 448, NaN 0x7F/0xFF, no infinities */
    UDP_E5M2 = 5,
    UDP_I32 = 6
};

/* Where tensor data lives (udp_call.memory), and udp_op.memory's mask of what a function accepts. */
enum { UDP_MEM_HOST = 1, UDP_MEM_CUDA = 2 };

enum { UDP_PARAM_INT = 0, UDP_PARAM_REAL = 1, UDP_PARAM_NAME = 2 };

/* Return values of udp_op.run. */
enum { UDP_OK = 0, UDP_ERROR = 1 };

/* udp_op.flags */
enum { UDP_SERIAL = 1 };   /* never call this operator's run concurrently */

typedef struct {
    const char *name;      /* "x", "weight", "out", ... */
    int32_t dtype;         /* UDP_F32, UDP_BF16, ... */
    int32_t ndim;          /* 1..4 */
    int64_t shape[4];
    int64_t numel;         /* product of shape (may be 0) */
    void *data;            /* const for inputs */
} udp_tensor;

typedef struct {
    const char *name;      /* "dtype", "tokens", "eps", "spec", ... */
    int32_t kind;          /* UDP_PARAM_INT, UDP_PARAM_REAL or UDP_PARAM_NAME */
    int64_t i;             /* UDP_PARAM_INT */
    double d;              /* UDP_PARAM_REAL */
    const char *s;         /* UDP_PARAM_NAME: "bf16", "hf", "normal", ... */
} udp_param;

typedef struct udp_call {
    uint32_t abi;          /* ULPDIFF_PLUGIN_ABI of the calling ulpdiff */
    const char *op;        /* operator name */
    const char *label;     /* "rmsnorm(dtype=bf16, tokens=7, ..., seed=1)", for messages */
    uint64_t seed;
    int32_t memory;        /* UDP_MEM_HOST or UDP_MEM_CUDA */
    int32_t nparams;
    const udp_param *params;
    int32_t nin, nout;
    const udp_tensor *in;
    const udp_tensor *out; /* the tensors are read-only; their data is what run writes */
    void *stream;          /* UDP_MEM_CUDA: the cudaStream_t to use (NULL: the default stream) */
    char *error;           /* UDP_ERROR: write a NUL-terminated message here */
    size_t error_size;
} udp_call;

typedef struct {
    const char *op;        /* operator name, as `ulpdiff list ops` prints it */
    uint32_t memory;       /* UDP_MEM_HOST, UDP_MEM_CUDA or both */
    uint32_t flags;        /* UDP_SERIAL or 0 */
    int (*run)(const udp_call *call);
    int (*supports)(const udp_call *call);   /* optional (NULL: every case) */
} udp_op;

typedef struct {
    uint32_t abi;          /* ULPDIFF_PLUGIN_ABI the plugin was built against */
    uint32_t size;         /* sizeof(udp_plugin) as the plugin saw it */
    const char *name;      /* for reports: "my-kernels 1.2" */
    int32_t nops;
    const udp_op *ops;
} udp_plugin;

typedef const udp_plugin *(*udp_entry_fn)(void);

/* Convenience for plugins: a parameter by name, or NULL. */
static inline const udp_param *udp_find_param(const udp_call *c, const char *name)
{
    for (int32_t k = 0; k < c->nparams; k++) {
        const char *a = c->params[k].name, *b = name;
        while (*a && *a == *b) { a++; b++; }
        if (*a == *b) return &c->params[k];
    }
    return NULL;
}

#ifdef __cplusplus
}
#endif

#endif
