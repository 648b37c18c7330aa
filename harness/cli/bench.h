/* bench.h — `ulpdiff bench`: production CUDA kernels at realistic shapes, timed with CUDA
 * events over rotating buffers larger than L2, reported as achieved bandwidth and as a
 * fraction of the device's measured copy bandwidth. */
#ifndef UD_BENCH_H
#define UD_BENCH_H

int ud_cmd_bench(int argc, char **argv);

#endif
