/* main.c — ulpdiff-nccl: the tensor-parallel all-reduce (tp_allreduce, tp_allreduce_rmsnorm) on
 * real GPUs through NCCL, one process per GPU, judged against the same exact reference as the
 * simulated ranks (docs/ops/tp_allreduce.md, "The NCCL path").
 *
 *   ulpdiff-nccl [CASEFILES...] [--op NAME] [--PARAM V1,V2 ...] [--collective allreduce|reduce_scatter]
 *                [--bench ITERS] [--timeout S] [--json FILE] [-v] [-q] [--one-gpu]
 *
 * The launcher (this process) builds each case's inputs and reference with the registry's own
 * functions (ud_run_case on a copy of the operator whose kernel is `nccl_run` below and whose
 * budgets are those of "any order of R - 1 additions rounded to T", TPA_ALG_ANY: NCCL picks its
 * algorithm, protocol and chunking). For the kernel it writes each rank's send buffer to a
 * private folder, fork+execs itself once per rank (`__worker`) with CUDA_VISIBLE_DEVICES set to
 * that rank's GPU, and reads the ranks' receive buffers back. A worker does only the collective:
 * ncclAllReduce, or ncclReduceScatter + ncclAllGather over token shards padded to a multiple of
 * the rank count (the layer communicator's reduce-scatter form). The spec's rounding points
 * around it (RN_T(moe_r + shared_r) before; RN_T(A + B) and the fused residual add + RMSNorm
 * after) are computed by the launcher with the cpu kernel body, which the cuda backend matches
 * bit for bit. Every rank's result is an output: ranks that disagree are a finding.
 *
 * Environment of the workers: the launcher's, plus CUDA_VISIBLE_DEVICES (the rank's entry of the
 * launcher's list, or its index), NCCL_NVLS_ENABLE=0, NVSHMEM_DISABLE_NVLS=1 and
 * TORCH_SYMM_MEM_DISABLE_MULTICAST=1 (NVLink multicast is never used: on shared machines it can
 * take the host's GPUs out of service), and NCCL_ALGO=Ring / Tree from the case's `algorithm`
 * unless NCCL_ALGO is set already, which is then respected (oneshot: NCCL's own choice).
 *
 * Exit codes: 0 every case passes, 1 findings, 2 bad input or usage, 3 internal or device error —
 * fewer than two visible GPUs included (--one-gpu: fewer than one; it runs ranks = 1 cases through
 * the whole multi-process path, a plumbing check in which nothing is reduced). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime.h>
#include <nccl.h>

#include "gpu/tp_allreduce.h"
#include "harness/cases/casefile.h"
#include "harness/cases/spec.h"
#include "harness/core/result.h"
#include "harness/exec/run.h"
#include "harness/ops/registry.h"
#include "harness/ops/tp_allreduce.h"
#include "numerics/status.h"
#include "reports/report.h"
#include "reports/text.h"
#include "spec/tp_allreduce.h"
#include "ud_git_commit.h"

#ifndef UD_VERSION
#define UD_VERSION "unknown"
#endif

enum { COLL_ALLREDUCE, COLL_REDUCE_SCATTER };

/* What the kernel of the operator copies needs besides the case (ud_op.run_cpu has no user
 * pointer; the launcher runs one case at a time). */
static struct {
    int ngpus;
    char gpu[64][64];          /* CUDA_VISIBLE_DEVICES entry of each rank */
    int collective;
    int bench_iters;
    int timeout_s;
    int verbose;
    char self[4096];           /* this program, for exec */
} g;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ulpdiff-nccl [CASEFILES...] [options]\n"
            "  the tensor-parallel all-reduce through NCCL, one process per GPU (docs/ops/tp_allreduce.md)\n"
            "  --op NAME              tp_allreduce (default without files) or tp_allreduce_rmsnorm\n"
            "  --PARAM V1,V2          a parameter's values, as in a case file (e.g. --ranks 2,4 --dtype bf16)\n"
            "  --collective allreduce|reduce_scatter   ncclAllReduce (default), or ncclReduceScatter +\n"
            "                         ncclAllGather over token shards padded to a multiple of the ranks\n"
            "  --bench ITERS          after the checked call, time ITERS more: algorithm and bus bandwidth\n"
            "  --timeout S            seconds a case's workers may take (default 300)\n"
            "  --json FILE            JSON report (docs/report-format.md), backend \"nccl\"\n"
            "  --one-gpu              run ranks = 1 cases on one GPU (checks the process plumbing only)\n"
            "  -v, -q                 details of every case / failures only\n"
            "cases with more ranks than visible GPUs are left out (and counted); known-bug variants belong\n"
            "to the simulated kernels (`ulpdiff run --backend cpu|cuda`) and are refused here.\n"
            "exit: 0 pass, 1 findings, 2 usage, 3 device or internal error (fewer than 2 GPUs included)\n");
}

/* ------------------------------------------------------------------ files */

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) { ud_error("ulpdiff-nccl: cannot write %s: %s", path, strerror(errno)); return UD_EINTERNAL; }
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    if (fclose(f) != 0 || w != n) { ud_error("ulpdiff-nccl: cannot write %s", path); return UD_EINTERNAL; }
    return UD_OK;
}

static int read_file(const char *path, void *p, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) { ud_error("ulpdiff-nccl: cannot read %s: %s", path, strerror(errno)); return UD_EINTERNAL; }
    size_t r = n ? fread(p, 1, n, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (r != n || extra) { ud_error("ulpdiff-nccl: %s holds %s than %zu bytes", path, r != n ? "fewer" : "more", n); return UD_EINTERNAL; }
    return UD_OK;
}

static void path_of(char *buf, size_t n, const char *dir, const char *what, int rank, int k)
{
    snprintf(buf, n, "%s/%s_%d_%d.bin", dir, what, rank, k);
}

/* ------------------------------------------------------------------ worker */

static ncclDataType_t nccl_type(ud_dtype dt)
{
    return dt == UD_F32 ? ncclFloat32 : dt == UD_F16 ? ncclFloat16 : ncclBfloat16;
}

#define W_CUDA(rank, x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) {                                   \
        fprintf(stderr, "ulpdiff-nccl rank %d: %s: %s (%s:%d)\n", rank, #x, cudaGetErrorString(e_), __FILE__, __LINE__); \
        return UD_EXIT_INTERNAL; } } while (0)
#define W_NCCL(rank, x) do { ncclResult_t e_ = (x); if (e_ != ncclSuccess) {                                  \
        fprintf(stderr, "ulpdiff-nccl rank %d: %s: %s (%s:%d)\n", rank, #x, ncclGetErrorString(e_), __FILE__, __LINE__); \
        return UD_EXIT_INTERNAL; } } while (0)

/* One collective on the device: recv = the sum over ranks of send ([rows, hidden]). */
static int collective(int rank, int nranks, ncclComm_t comm, cudaStream_t st, ncclDataType_t type, size_t esz,
                      int coll, int64_t rows, int64_t hidden, void *dsend, void *dfull, void *dshard)
{
    if (coll == COLL_ALLREDUCE) {
        W_NCCL(rank, ncclAllReduce(dsend, dfull, (size_t)(rows * hidden), type, ncclSum, comm, st));
    } else {
        int64_t shard = (rows + nranks - 1) / nranks;   /* rows padded to nranks * shard (zeros) */
        W_NCCL(rank, ncclReduceScatter(dsend, dshard, (size_t)(shard * hidden), type, ncclSum, comm, st));
        W_NCCL(rank, ncclAllGather(dshard, dfull, (size_t)(shard * hidden), type, comm, st));
    }
    (void)esz;
    return UD_OK;
}

/* __worker DIR RANK NRANKS DTYPE COLLECTIVE NCOLL ROWS HIDDEN BENCH UNIQUEID(hex) */
static int worker_main(int argc, char **argv)
{
    if (argc != 12) { fprintf(stderr, "ulpdiff-nccl __worker: %d arguments, expected 10\n", argc - 2); return UD_EXIT_USAGE; }
    const char *dir = argv[2];
    int rank = atoi(argv[3]), nranks = atoi(argv[4]), dti = atoi(argv[5]), coll = atoi(argv[6]), ncoll = atoi(argv[7]);
    int64_t rows = atoll(argv[8]), hidden = atoll(argv[9]);
    int bench = atoi(argv[10]);
    ud_dtype dt = (ud_dtype)dti;
    ncclUniqueId id;
    const char *hex = argv[11];
    if (strlen(hex) != 2 * sizeof id.internal) { fprintf(stderr, "ulpdiff-nccl rank %d: bad unique id\n", rank); return UD_EXIT_USAGE; }
    for (size_t i = 0; i < sizeof id.internal; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) { fprintf(stderr, "ulpdiff-nccl rank %d: bad unique id\n", rank); return UD_EXIT_USAGE; }
        id.internal[i] = (char)v;
    }
    const size_t esz = ud_format(dt)->size;
    const int64_t shard = (rows + nranks - 1) / nranks, padded = coll == COLL_REDUCE_SCATTER ? shard * nranks : rows;
    const size_t bytes = (size_t)(rows * hidden) * esz, pbytes = (size_t)(padded * hidden) * esz;
    W_CUDA(rank, cudaSetDevice(0));   /* CUDA_VISIBLE_DEVICES holds this rank's GPU only */
    ncclComm_t comm;
    W_NCCL(rank, ncclCommInitRank(&comm, nranks, id, rank));
    cudaStream_t st;
    W_CUDA(rank, cudaStreamCreate(&st));
    void *host = malloc(pbytes ? pbytes : 1), *dsend = NULL, *dfull = NULL, *dshard = NULL;
    if (!host) { fprintf(stderr, "ulpdiff-nccl rank %d: out of memory\n", rank); return UD_EXIT_INTERNAL; }
    W_CUDA(rank, cudaMalloc(&dsend, pbytes ? pbytes : 16));
    W_CUDA(rank, cudaMalloc(&dfull, pbytes ? pbytes : 16));
    W_CUDA(rank, cudaMalloc(&dshard, (size_t)(shard * hidden) * esz + 16));
    char path[4200];
    for (int k = 0; k < ncoll; k++) {
        memset(host, 0, pbytes ? pbytes : 1);   /* the padded rows of the reduce-scatter form are 0 */
        path_of(path, sizeof path, dir, "send", rank, k);
        if (read_file(path, host, bytes) != UD_OK) return UD_EXIT_INTERNAL;
        W_CUDA(rank, cudaMemcpy(dsend, host, pbytes, cudaMemcpyHostToDevice));
        W_CUDA(rank, cudaMemset(dfull, 0xff, pbytes ? pbytes : 16));   /* poison: an unwritten result shows */
        if (collective(rank, nranks, comm, st, nccl_type(dt), esz, coll, rows, hidden, dsend, dfull, dshard)) return UD_EXIT_INTERNAL;
        W_CUDA(rank, cudaStreamSynchronize(st));
        W_CUDA(rank, cudaMemcpy(host, dfull, bytes, cudaMemcpyDeviceToHost));
        path_of(path, sizeof path, dir, "recv", rank, k);
        if (write_file(path, host, bytes) != UD_OK) return UD_EXIT_INTERNAL;
    }
    if (bench > 0) {   /* the collectives of the case, `bench` times, after 5 untimed rounds */
        cudaEvent_t e0, e1;
        W_CUDA(rank, cudaEventCreate(&e0));
        W_CUDA(rank, cudaEventCreate(&e1));
        for (int i = 0; i < 5; i++)
            for (int k = 0; k < ncoll; k++)
                if (collective(rank, nranks, comm, st, nccl_type(dt), esz, coll, rows, hidden, dsend, dfull, dshard)) return UD_EXIT_INTERNAL;
        W_CUDA(rank, cudaEventRecord(e0, st));
        for (int i = 0; i < bench; i++)
            for (int k = 0; k < ncoll; k++)
                if (collective(rank, nranks, comm, st, nccl_type(dt), esz, coll, rows, hidden, dsend, dfull, dshard)) return UD_EXIT_INTERNAL;
        W_CUDA(rank, cudaEventRecord(e1, st));
        W_CUDA(rank, cudaEventSynchronize(e1));
        float ms = 0.0f;
        W_CUDA(rank, cudaEventElapsedTime(&ms, e0, e1));
        double us = 1e3 * ms / bench;
        path_of(path, sizeof path, dir, "time", rank, 0);
        if (write_file(path, &us, sizeof us) != UD_OK) return UD_EXIT_INTERNAL;
    }
    W_NCCL(rank, ncclCommDestroy(comm));
    free(host);
    cudaFree(dsend);
    cudaFree(dfull);
    cudaFree(dshard);
    return UD_EXIT_PASS;
}

/* ------------------------------------------------------------------ launcher */

static void rm_dir(const char *dir, int nranks, int ncoll)
{
    char p[4200];
    const char *what[] = {"send", "recv", "time"};
    for (int r = 0; r < nranks; r++)
        for (int w = 0; w < 3; w++)
            for (int k = 0; k < ncoll; k++) {
                path_of(p, sizeof p, dir, what[w], r, k);
                unlink(p);
            }
    rmdir(dir);
}

/* Starts one worker per rank and waits for all of them (at most g.timeout_s; then kills them). */
static int spawn_workers(const ud_case *c, const char *dir, int ncoll)
{
    const int64_t R = ud_case_int(c, "ranks");
    ncclUniqueId id;
    ncclResult_t nr = ncclGetUniqueId(&id);
    if (nr != ncclSuccess) { ud_error("ulpdiff-nccl: ncclGetUniqueId: %s", ncclGetErrorString(nr)); return UD_EDEVICE; }
    char hex[2 * sizeof id.internal + 1], a_rank[16], a_n[16], a_dt[16], a_coll[16], a_ncoll[16], a_rows[32], a_hid[32], a_bench[16];
    for (size_t i = 0; i < sizeof id.internal; i++) snprintf(hex + 2 * i, 3, "%02x", (unsigned char)id.internal[i]);
    snprintf(a_n, sizeof a_n, "%lld", (long long)R);
    snprintf(a_dt, sizeof a_dt, "%d", (int)ud_case_dtype(c, "dtype"));
    snprintf(a_coll, sizeof a_coll, "%d", g.collective);
    snprintf(a_ncoll, sizeof a_ncoll, "%d", ncoll);
    snprintf(a_rows, sizeof a_rows, "%lld", (long long)ud_case_int(c, "tokens"));
    snprintf(a_hid, sizeof a_hid, "%lld", (long long)ud_case_int(c, "hidden"));
    snprintf(a_bench, sizeof a_bench, "%d", g.bench_iters);
    const char *alg = ud_case_choice(c, "algorithm");
    const char *nccl_algo = getenv("NCCL_ALGO") ? NULL : strcmp(alg, "ring") == 0 ? "Ring" : strcmp(alg, "tree") == 0 ? "Tree" : NULL;
    pid_t pids[TPA_MAX_RANKS];
    fflush(stdout);
    fflush(stderr);
    for (int64_t r = 0; r < R; r++) {
        snprintf(a_rank, sizeof a_rank, "%lld", (long long)r);
        pid_t p = fork();
        if (p < 0) {
            ud_error("ulpdiff-nccl: fork: %s", strerror(errno));
            for (int64_t k = 0; k < r; k++) kill(pids[k], SIGKILL);
            for (int64_t k = 0; k < r; k++) waitpid(pids[k], NULL, 0);
            return UD_EINTERNAL;
        }
        if (p == 0) {
            setenv("CUDA_VISIBLE_DEVICES", g.gpu[r], 1);
            setenv("NCCL_NVLS_ENABLE", "0", 1);   /* never NVLink multicast */
            setenv("NVSHMEM_DISABLE_NVLS", "1", 1);
            setenv("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1", 1);
            if (nccl_algo) setenv("NCCL_ALGO", nccl_algo, 1);
            execl(g.self, "ulpdiff-nccl", "__worker", dir, a_rank, a_n, a_dt, a_coll, a_ncoll, a_rows, a_hid, a_bench,
                  hex, (char *)NULL);
            fprintf(stderr, "ulpdiff-nccl: exec %s: %s\n", g.self, strerror(errno));
            _exit(UD_EXIT_INTERNAL);
        }
        pids[r] = p;
    }
    int rc = UD_OK, left = (int)R;
    int done[TPA_MAX_RANKS] = {0};
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (left > 0) {
        for (int64_t r = 0; r < R; r++) {
            if (done[r]) continue;
            int status;
            pid_t w = waitpid(pids[r], &status, WNOHANG);
            if (w == 0) continue;
            done[r] = 1;
            left--;
            if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (w > 0 && WIFSIGNALED(status)) ud_error("ulpdiff-nccl: rank %lld died of signal %d", (long long)r, WTERMSIG(status));
                else if (w > 0) ud_error("ulpdiff-nccl: rank %lld exited with %d", (long long)r, WEXITSTATUS(status));
                rc = UD_EDEVICE;
            }
        }
        if (left == 0) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > g.timeout_s || (rc != UD_OK && now.tv_sec - t0.tv_sec > 10)) {
            /* a rank that failed leaves its peers waiting in NCCL: give them 10 s, then end them */
            for (int64_t r = 0; r < R; r++) if (!done[r]) kill(pids[r], SIGKILL);
            for (int64_t r = 0; r < R; r++) if (!done[r]) waitpid(pids[r], NULL, 0);
            if (rc == UD_OK) ud_error("ulpdiff-nccl: the workers ran past --timeout %d s", g.timeout_s);
            return UD_EDEVICE;
        }
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    return rc;
}

/* The kernel of the operator copies: each rank's send buffers out, the NCCL workers, each rank's
 * all-reduce result back; then the spec's rounding points after it, per rank. */
static int nccl_run(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)
{
    (void)mutant;
    const int64_t R = ud_case_int(c, "ranks"), T = ud_case_int(c, "tokens"), H = ud_case_int(c, "hidden");
    const ud_dtype dt = ud_case_dtype(c, "dtype");
    const int unfused = strcmp(ud_case_choice(c, "spec"), "unfused") == 0, fused = ud_case_noutputs(c) == 2;
    const int ncoll = unfused ? 2 : 1, kdt = (int)dt;
    const size_t n = (size_t)(T * H), esz = ud_format(dt)->size;
    char dir[] = "/tmp/ulpdiff-nccl-XXXXXX";
    if (!mkdtemp(dir)) { ud_error("ulpdiff-nccl: mkdtemp: %s", strerror(errno)); return UD_EINTERNAL; }
    void *buf = malloc((n ? n : 1) * esz), *buf2 = malloc((n ? n : 1) * esz), *zeros = calloc(n ? n : 1, esz);
    int rc = (buf && buf2 && zeros) ? UD_OK : UD_EINTERNAL;
    char path[4200];
    /* Send buffers: y_r = RN_T(moe_r + shared_r) (combined; the cpu body's own rounding), or moe_r
     * and shared_r as they are (unfused). */
    for (int64_t r = 0; rc == UD_OK && r < R; r++)
        for (int k = 0; rc == UD_OK && k < ncoll; k++) {
            const char *m = (const char *)in[0].host + (size_t)r * n * esz, *s = (const char *)in[1].host + (size_t)r * n * esz;
            if (unfused) memcpy(buf, k == 0 ? m : s, n * esz);
            else for (size_t i = 0; i < n; i++) ud_st(kdt, buf, (int64_t)i, tpa_hop(kdt, ud_ld(kdt, m, (int64_t)i), ud_ld(kdt, s, (int64_t)i)));
            path_of(path, sizeof path, dir, "send", (int)r, k);
            rc = write_file(path, buf, n * esz);
        }
    if (rc == UD_OK) rc = spawn_workers(c, dir, ncoll);
    for (int64_t q = 0; rc == UD_OK && q < R; q++) {
        path_of(path, sizeof path, dir, "recv", (int)q, 0);
        if ((rc = read_file(path, buf, n * esz)) != UD_OK) break;
        if (unfused) {   /* RN_T(A + B): the spec's rounding point after the two all-reduces */
            path_of(path, sizeof path, dir, "recv", (int)q, 1);
            if ((rc = read_file(path, buf2, n * esz)) != UD_OK) break;
            for (size_t i = 0; i < n; i++) ud_st(kdt, buf, (int64_t)i, tpa_hop(kdt, ud_ld(kdt, buf, (int64_t)i), ud_ld(kdt, buf2, (int64_t)i)));
        }
        char *oq = (char *)out[0].host + (size_t)q * n * esz;
        if (!fused) { memcpy(oq, buf, n * esz); continue; }
        /* The fused form's residual add + RMSNorm on rank q's result: the kernel body at one rank
         * (sigma + 0 is sigma), which is rmsnorm_fused_add's arithmetic. */
        tpa_args a;
        memset(&a, 0, sizeof a);
        a.dt = kdt;
        a.alg = TPA_ALG_ONESHOT;
        a.spec = TPA_SPEC_COMBINED;
        a.fused = 1;
        a.wfp32 = in[3].dtype == UD_F32 && dt != UD_F32;
        a.ranks = 1;
        a.tokens = T;
        a.hidden = H;
        a.eps = (float)ud_case_real(c, "eps");
        a.moe = buf;
        a.shared = zeros;
        a.res = in[2].host;
        a.w = in[3].host;
        a.out = oq;
        a.res_out = (char *)out[1].host + (size_t)q * n * esz;
        rc = tp_allreduce_cpu(&a, TPA_BUG_NONE);
    }
    if (rc == UD_OK && g.bench_iters > 0) {
        double worst = 0.0, us;
        for (int64_t r = 0; rc == UD_OK && r < R; r++) {
            path_of(path, sizeof path, dir, "time", (int)r, 0);
            if ((rc = read_file(path, &us, sizeof us)) == UD_OK && us > worst) worst = us;
        }
        double bytes = (double)n * (double)esz * ncoll, algbw = bytes / (worst * 1e-6) / 1e9;
        printf("bench %s: %lld ranks, %.1f MB a rank, %.1f us (slowest rank), algbw %.1f GB/s, busbw %.1f GB/s (%s)\n",
               c->label, (long long)R, bytes / 1e6, worst, algbw, algbw * 2.0 * (double)(R - 1) / (double)R,
               g.collective == COLL_ALLREDUCE ? "ncclAllReduce" : "ncclReduceScatter + ncclAllGather");
    }
    rm_dir(dir, (int)R, ncoll);
    free(buf);
    free(buf2);
    free(zeros);
    return rc;
}

/* The visible GPUs and each rank's CUDA_VISIBLE_DEVICES entry. */
static int count_gpus(char *why, size_t whyn)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(why, whyn, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        n = 0;
    } else {
        snprintf(why, whyn, "cudaGetDeviceCount");
    }
    if (n > 64) n = 64;
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    int k = 0;
    if (vis && *vis) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", vis);
        char *save = NULL;
        for (char *tok = strtok_r(tmp, ",", &save); tok && k < n; tok = strtok_r(NULL, ",", &save))
            snprintf(g.gpu[k++], sizeof g.gpu[0], "%s", tok);
    }
    for (; k < n; k++) snprintf(g.gpu[k], sizeof g.gpu[0], "%d", k);
    return n;
}

static const ud_param *find_param(const ud_op *op, const char *name)
{
    for (int i = 0; i < op->nparams; i++)
        if (strcmp(op->params[i].name, name) == 0) return &op->params[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "__worker") == 0) return worker_main(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *opname = NULL, *json = NULL;
    int one_gpu = 0, quiet = 0;
    g.timeout_s = 300;
    char *files[256];
    int nfiles = 0;
    const char *pname[UD_MAX_PARAMS * 2], *pval[UD_MAX_PARAMS * 2];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return UD_EXIT_PASS; }
        else if (strcmp(a, "-v") == 0) g.verbose = 1;
        else if (strcmp(a, "-q") == 0) quiet = 1;
        else if (strcmp(a, "--one-gpu") == 0) one_gpu = 1;
        else if (strcmp(a, "--op") == 0 && more) opname = argv[++i];
        else if (strcmp(a, "--json") == 0 && more) json = argv[++i];
        else if (strcmp(a, "--timeout") == 0 && more) g.timeout_s = atoi(argv[++i]);
        else if (strcmp(a, "--bench") == 0 && more) g.bench_iters = atoi(argv[++i]);
        else if (strcmp(a, "--collective") == 0 && more) {
            const char *v = argv[++i];
            if (strcmp(v, "allreduce") == 0) g.collective = COLL_ALLREDUCE;
            else if (strcmp(v, "reduce_scatter") == 0) g.collective = COLL_REDUCE_SCATTER;
            else { fprintf(stderr, "ulpdiff-nccl: --collective: '%s' is not allreduce or reduce_scatter\n", v); return UD_EXIT_USAGE; }
        } else if (strncmp(a, "--", 2) == 0 && more && np < UD_MAX_PARAMS * 2) {
            pname[np] = a + 2;
            pval[np++] = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "ulpdiff-nccl: unknown option '%s' (--help)\n", a);
            return UD_EXIT_USAGE;
        } else if (nfiles < 256) {
            files[nfiles++] = argv[i];
        }
    }
    if (g.timeout_s < 1 || g.bench_iters < 0) { fprintf(stderr, "ulpdiff-nccl: --timeout must be >= 1 and --bench >= 0\n"); return UD_EXIT_USAGE; }
    const ud_op *only = opname ? ud_op_find(opname) : NULL;
    if (opname && !only) { fprintf(stderr, "ulpdiff-nccl: --op: unknown operator '%s'\n", opname); return UD_EXIT_USAGE; }
    ud_op ops[2];
    if (tpa_any_order_op(ud_op_find("tp_allreduce"), &ops[0]) || tpa_any_order_op(ud_op_find("tp_allreduce_rmsnorm"), &ops[1])) {
        fprintf(stderr, "ulpdiff-nccl: the registry has no tp_allreduce operators\n");
        return UD_EXIT_INTERNAL;
    }
    ops[0].run_cpu = ops[1].run_cpu = nccl_run;
    if (only && strcmp(only->name, "tp_allreduce") != 0 && strcmp(only->name, "tp_allreduce_rmsnorm") != 0) {
        fprintf(stderr, "ulpdiff-nccl: --op %s: not an all-reduce operator (tp_allreduce, tp_allreduce_rmsnorm)\n", only->name);
        return UD_EXIT_USAGE;
    }

    /* The cases: the files', or the operator's sweep shaped by --PARAM. */
    ud_case *cases = NULL;
    size_t ncases = 0;
    ud_corpus corp;
    ud_corpus_init(&corp);
    if (nfiles) {
        if (np) { fprintf(stderr, "ulpdiff-nccl: --%s: parameters go into the case files when files are given\n", pname[0]); return UD_EXIT_USAGE; }
        if (ud_corpus_load(&corp, files, nfiles, stderr) || ud_corpus_expand(&corp, &cases, &ncases, stderr)) return UD_EXIT_USAGE;
    } else {
        const ud_op *op = only ? only : ud_op_find("tp_allreduce");
        ud_spec s;
        ud_spec_init(&s, op);
        for (int k = 0; k < np; k++) {
            const ud_param *p = find_param(op, pname[k]);
            if (!p) { fprintf(stderr, "ulpdiff-nccl: --%s: %s has no such parameter\n", pname[k], op->name); return UD_EXIT_USAGE; }
            s.vals[p - op->params] = pval[k];
        }
        char err[512];
        if (ud_spec_expand(&s, &cases, &ncases, err, sizeof err)) { fprintf(stderr, "ulpdiff-nccl: %s\n", err); return UD_EXIT_USAGE; }
    }

    /* Every case must be one this path can run, before any GPU is asked for. */
    for (size_t i = 0; i < ncases; i++) {
        const char *name = cases[i].op->name;
        if (strcmp(name, "tp_allreduce") != 0 && strcmp(name, "tp_allreduce_rmsnorm") != 0) {
            fprintf(stderr, "ulpdiff-nccl: %s:%d: %s is not an all-reduce operator (tp_allreduce, tp_allreduce_rmsnorm)\n",
                    cases[i].file ? cases[i].file : "--op", cases[i].line, name);
            return UD_EXIT_USAGE;
        }
        if (cases[i].mutant) {
            fprintf(stderr, "ulpdiff-nccl: %s:%d: known-bug variants run on the simulated ranks (ulpdiff run --backend cpu|cuda)\n",
                    cases[i].file ? cases[i].file : "--mutant", cases[i].line);
            return UD_EXIT_USAGE;
        }
    }

    char why[256];
    g.ngpus = count_gpus(why, sizeof why);
    int need = one_gpu ? 1 : 2;
    if (g.ngpus < need) {
        fprintf(stderr, "ulpdiff-nccl: the NCCL path needs at least %d GPU%s, and %d %s visible (%s). The simulated "
                        "ranks run anywhere: ulpdiff run --op tp_allreduce --backend cuda (or cpu)\n",
                need, need > 1 ? "s" : "", g.ngpus, g.ngpus == 1 ? "is" : "are", why);
        free(cases);
        ud_corpus_free(&corp);
        return UD_EXIT_INTERNAL;
    }
    ssize_t len = readlink("/proc/self/exe", g.self, sizeof g.self - 1);
    if (len <= 0) { fprintf(stderr, "ulpdiff-nccl: cannot find this program (/proc/self/exe)\n"); return UD_EXIT_INTERNAL; }
    g.self[len] = '\0';

    ud_result *res = calloc(ncases ? ncases : 1, sizeof *res);
    int *ran = calloc(ncases ? ncases : 1, sizeof *ran);
    if (!res || !ran) { fprintf(stderr, "ulpdiff-nccl: out of memory\n"); return UD_EXIT_INTERNAL; }
    ud_report_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.version = UD_VERSION;
    meta.commit = UD_GIT_COMMIT;
    char device[320];
    struct cudaDeviceProp prop;
    snprintf(device, sizeof device, "%d x %s", g.ngpus, cudaGetDeviceProperties(&prop, 0) == cudaSuccess ? prop.name : "GPU");
    meta.device = device;
    meta.backend = "nccl";
    meta.command = "ulpdiff-nccl";
    meta.jobs = 1;
    meta.shard_k = meta.shard_n = 1;
    ud_report_meta_date(&meta);
    ud_json_stream *js = json ? ud_json_open(json, &meta) : NULL;
    if (json && !js) return UD_EXIT_INTERNAL;

    size_t passed = 0, failed = 0, errors = 0, left_out = 0, nrun = 0;
    int nver = 0;
    ncclGetVersion(&nver);
    if (!quiet) printf("ulpdiff-nccl: NCCL %d, %s, %s%s\n", nver, device,
                       g.collective == COLL_ALLREDUCE ? "ncclAllReduce" : "ncclReduceScatter + ncclAllGather",
                       getenv("NCCL_ALGO") ? " (NCCL_ALGO from the environment)" : "");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < ncases; i++) {
        ud_case c = cases[i];
        int plain = strcmp(c.op->name, "tp_allreduce") == 0;
        if (only && c.op != only) continue;
        int64_t R = ud_case_int(&c, "ranks");
        if (R > g.ngpus || (one_gpu && R != 1)) {
            left_out++;
            if (g.verbose) printf("left out %s: %lld ranks, %d GPUs%s\n", c.label, (long long)R, g.ngpus, one_gpu ? " (--one-gpu: ranks = 1 only)" : "");
            continue;
        }
        c.op = plain ? &ops[0] : &ops[1];
        ud_run_opts o;
        memset(&o, 0, sizeof o);
        o.backend = UD_BACKEND_EXTERNAL;   /* outputs from outside ulpdiff's kernels: NCCL's */
        int rc = ud_run_case(&c, &o, &res[nrun]);
        ran[nrun] = 1;
        if (rc != UD_OK) errors++;
        else if (ud_result_failed(&res[nrun])) failed++;
        else passed++;
        if (!quiet || ud_result_failed(&res[nrun])) ud_text_case(stdout, &res[nrun], g.verbose);
        if (js) ud_json_append(js, &res[nrun]);
        nrun++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    meta.selected = nrun;
    meta.elapsed_seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    int jrc = js ? ud_json_finish(js, &meta, res, ran, nrun) : UD_OK;
    printf("%zu cases: %zu passed, %zu failed, %zu errors; %zu left out (more ranks than GPUs)\n", nrun, passed, failed,
           errors, left_out);
    free(res);
    free(ran);
    free(cases);
    ud_corpus_free(&corp);
    if (nrun == 0) {
        fprintf(stderr, "ulpdiff-nccl: no case fits %d GPU%s\n", g.ngpus, g.ngpus == 1 ? "" : "s");
        return UD_EXIT_USAGE;
    }
    return errors || jrc != UD_OK ? UD_EXIT_INTERNAL : failed ? UD_EXIT_FINDINGS : UD_EXIT_PASS;
}
