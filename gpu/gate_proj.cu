/* gate_proj.cu — CUDA launcher of the router gate projection (spec: gpu/gate_proj.h).
 *
 * logits = x W^T through cuBLAS. cuBLAS is column-major, so the row-major [tokens, experts]
 * logits are the column-major experts x tokens matrix C = op(A) op(B) with A = W (stored as
 * a hidden x experts column-major matrix, transposed) and B = x (hidden x tokens, as is).
 *
 * Math modes are set explicitly on every call, never inherited:
 *   fp32  CUBLAS_PEDANTIC_MATH: "standard arithmetic and exact specified internal storage
 *         format" (cublas_api.h). CUBLAS_DEFAULT_MATH only promises "at least the same
 *         precision", and lets cuBLAS 12.9+/13 pick FP32 emulation (BF16x9) where the
 *         CUBLAS_EMULATION_STRATEGY environment asks for it; pedantic rules out TF32 and
 *         emulation whatever the environment says, which is what an fp32 router needs.
 *   tf32  CUBLAS_TF32_TENSOR_OP_MATH: the tensor cores round (or truncate) both operands to
 *         10 mantissa bits — the mode whose cost ulpdiff measures, and the tf32_on bug.
 *   bf16  CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION with
 *         cublasGemmEx(bf16, bf16 -> bf16, CUBLAS_COMPUTE_32F): the spec is fp32 accumulation
 *         rounded once to bf16, and the flag stops split-K partial sums from being reduced
 *         in bf16 (PyTorch allows that by default: allow_bf16_reduced_precision_reduction).
 * Operands in another dtype than the path consumes are converted first (bf16 -> fp32 is
 * exact; fp32 -> bf16 is RN-even, the model's own .to(bfloat16)).
 *
 * A handle is created once per device and process (a handle is bound to the device current at
 * creation) and kept until exit: destroying it from an atexit handler races the
 * CUDA runtime's own teardown. One mutex guards creation and the set-math-mode + GEMM pair,
 * since the math mode is state of the shared handle.
 *
 * Napkin math (DeepSeek-V3 shape, bf16 x 4096 x 7168, fp32 W 256 x 7168): 2 * 4096 * 256 *
 * 7168 = 15 GFLOP; fp32 SIMT SGEMM on an H100 (~50 TFLOP/s) ~0.3 ms, TF32 tensor cores several
 * times less. The x upcast reads 59 MB and writes 117 MB (~60 us at 3 TB/s). */
#include <cublas_v2.h>
#include <mutex>
#include <stdint.h>

#include "gpu/gate_proj.h"
#include "gpu/ud_cuda.h"

namespace {

std::mutex g_mutex;
/* One handle per device: a handle is bound to the device current at its creation, and the
 * cache checker's device_change runs the gate on every GPU present. */
constexpr int MAX_DEVICES = 64;
cublasHandle_t g_handle[MAX_DEVICES] = {};

/* dt -> fp32 (exact) and dt -> bf16 (RN-even), grid-stride; 8 elements a thread-step with one
 * 16-byte load of a 2-byte source when everything is aligned (the router's x: 58.7 MB read,
 * 117 MB written at the bench shape, so the upcast runs at copy speed), element by element
 * otherwise. */
__global__ void to_f32_kernel(int dt, const void *src, float *dst, int64_t n)
{
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t i0 = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (dt != UD_DT_F32 && ((uintptr_t)src & 15u) == 0 && ((uintptr_t)dst & 15u) == 0) {
        const int64_t nv = n / 8;
        for (int64_t v = i0; v < nv; v += stride) {
            uint4 raw = __ldcs(reinterpret_cast<const uint4 *>(src) + v);
            const uint16_t *h = reinterpret_cast<const uint16_t *>(&raw);
            float4 lo, hi;
            lo.x = ud_to_f32(dt, h[0]); lo.y = ud_to_f32(dt, h[1]); lo.z = ud_to_f32(dt, h[2]); lo.w = ud_to_f32(dt, h[3]);
            hi.x = ud_to_f32(dt, h[4]); hi.y = ud_to_f32(dt, h[5]); hi.z = ud_to_f32(dt, h[6]); hi.w = ud_to_f32(dt, h[7]);
            reinterpret_cast<float4 *>(dst)[2 * v] = lo;
            reinterpret_cast<float4 *>(dst)[2 * v + 1] = hi;
        }
        for (int64_t i = nv * 8 + blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = ud_ld(dt, src, i);
        return;
    }
    for (int64_t i = i0; i < n; i += stride) dst[i] = ud_ld(dt, src, i);
}

__global__ void to_bf16_kernel(int dt, const void *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = ud_f32_to_bf16(ud_ld(dt, src, i));
}

unsigned grid_for(int64_t n)
{
    int64_t b = (n + 255) / 256;
    return (unsigned)(b < 8192 ? (b > 0 ? b : 1) : 8192);
}

/* Scratch for the converted operands: kept per device and grown, never freed per call (a
 * cudaFree per call would synchronise the host and cost a malloc every GEMM). g_mutex guards
 * it with the handle; the stream is the default one, so a later call cannot overwrite a buffer
 * an earlier GEMM still reads. */
struct scratch_pool {
    void *p[3] = {nullptr, nullptr, nullptr};
    size_t cap[3] = {0, 0, 0};
};
scratch_pool g_pool[MAX_DEVICES];

struct scratch {
    scratch_pool *pool;
    int n = 0;
    int get(void **out, size_t bytes)
    {
        if (n >= 3) { ud_error("gate_proj: scratch exhausted"); return UD_EINTERNAL; }
        bytes = bytes ? bytes : 16;
        if (pool->cap[n] < bytes) {
            if (pool->p[n]) UD_CUDA_CHECK(cudaFree(pool->p[n]));
            pool->p[n] = nullptr;
            pool->cap[n] = 0;
            UD_CUDA_CHECK(cudaMalloc(&pool->p[n], bytes));
            pool->cap[n] = bytes;
        }
        *out = pool->p[n++];
        return UD_OK;
    }
};

/* The operand as the path's storage type: the tensor itself when it already is one, else a
 * converted copy in scratch. */
int as_f32(scratch &s, int dt, const void *src, int64_t n, const float **out)
{
    if (dt == UD_DT_F32) { *out = (const float *)src; return UD_OK; }
    void *buf;
    UD_TRY(s.get(&buf, (size_t)n * sizeof(float)));
    to_f32_kernel<<<grid_for(n), 256>>>(dt, src, (float *)buf, n);
    UD_CUDA_LAUNCH_CHECK();
    *out = (const float *)buf;
    return UD_OK;
}

int as_bf16(scratch &s, int dt, const void *src, int64_t n, const uint16_t **out)
{
    if (dt == UD_DT_BF16) { *out = (const uint16_t *)src; return UD_OK; }
    void *buf;
    UD_TRY(s.get(&buf, (size_t)n * sizeof(uint16_t)));
    to_bf16_kernel<<<grid_for(n), 256>>>(dt, src, (uint16_t *)buf, n);
    UD_CUDA_LAUNCH_CHECK();
    *out = (const uint16_t *)buf;
    return UD_OK;
}

int gemm_f32(cublasHandle_t h, int path, const gate_args *a, scratch &s, cublasMath_t fp32_math)
{
    const int t = (int)a->tokens, k = (int)a->hidden, e = (int)a->experts;
    const float *x, *w;
    UD_TRY(as_f32(s, a->xdt, a->x, a->tokens * a->hidden, &x));
    UD_TRY(as_f32(s, a->wdt, a->w, a->experts * a->hidden, &w));
    if (a->odt != UD_DT_F32) { ud_error("gate_proj: fp32/tf32 paths write fp32 logits"); return UD_EINTERNAL; }
    const float one = 1.0f, zero = 0.0f;
    UD_CUBLAS_CHECK(cublasSetMathMode(h, path == GATE_MODE_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : fp32_math));
    UD_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, e, t, k, &one, w, k, x, k, &zero, (float *)a->logits, e));
    return UD_OK;
}

int gemm_bf16(cublasHandle_t h, const gate_args *a, scratch &s)
{
    const int t = (int)a->tokens, k = (int)a->hidden, e = (int)a->experts;
    const uint16_t *x, *w;
    UD_TRY(as_bf16(s, a->xdt, a->x, a->tokens * a->hidden, &x));
    UD_TRY(as_bf16(s, a->wdt, a->w, a->experts * a->hidden, &w));
    /* bf16 logits; an fp32 output (the bf16_logits bug in an fp32 router) gets them widened. */
    void *l = a->logits;
    if (a->odt != UD_DT_BF16) UD_TRY(s.get(&l, (size_t)(a->tokens * a->experts) * sizeof(uint16_t)));
    const float one = 1.0f, zero = 0.0f;
    UD_CUBLAS_CHECK(cublasSetMathMode(h, (cublasMath_t)(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    UD_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, e, t, k, &one, w, CUDA_R_16BF, k, x, CUDA_R_16BF, k,
                                 &zero, l, CUDA_R_16BF, e, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (a->odt != UD_DT_BF16) {
        int64_t n = a->tokens * a->experts;
        to_f32_kernel<<<grid_for(n), 256>>>(UD_DT_BF16, l, (float *)a->logits, n);
        UD_CUDA_LAUNCH_CHECK();
    }
    return UD_OK;
}


int run(const gate_args *a, int bug, cublasMath_t fp32_math)
{
    if (a->tokens > INT32_MAX || a->hidden > INT32_MAX || a->experts > INT32_MAX) {
        ud_error("gate_proj: shape exceeds cuBLAS's int range");
        return UD_EINTERNAL;
    }
    const int path = gate_path(a->mode, bug);
    std::lock_guard<std::mutex> lock(g_mutex);
    int dev = 0;
    UD_CUDA_CHECK(cudaGetDevice(&dev));
    if (dev < 0 || dev >= MAX_DEVICES) { ud_error("gate_proj: device %d out of range", dev); return UD_EINTERNAL; }
    if (!g_handle[dev]) UD_CUBLAS_CHECK(cublasCreate(&g_handle[dev]));
    scratch s{&g_pool[dev]};
    return path == GATE_MODE_BF16 ? gemm_bf16(g_handle[dev], a, s) : gemm_f32(g_handle[dev], path, a, s, fp32_math);
}

}  // namespace

extern "C" int gate_proj_cuda(const gate_args *a, int bug) { return run(a, bug, CUBLAS_PEDANTIC_MATH); }

/* Bench configurations: production (pedantic fp32), and cuBLAS's default math for comparison —
 * what PyTorch asks for with TF32 off; not production, since the default admits FP32
 * emulation where the environment asks for it (see the file comment). */
extern "C" int gate_proj_cuda_tune(const gate_args *a, int cfg, const char **name)
{
    static const char *const names[] = {"pedantic_math", "default_math"};
    if (cfg < 0 || cfg > 1) return UD_EUSAGE;
    *name = names[cfg];
    return run(a, GATE_BUG_NONE, cfg == 0 ? CUBLAS_PEDANTIC_MATH : CUBLAS_DEFAULT_MATH);
}
