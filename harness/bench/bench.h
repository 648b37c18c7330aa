/* bench.h — `ulpdiff bench` (harness/bench/bench.c): every operator's production cuda kernel at
 * its bench and decode shapes, its launch configurations side by side, and a comparison with a
 * committed per-GPU baseline. Returns the exit code. */
#ifndef UD_BENCH_BENCH_H
#define UD_BENCH_BENCH_H

int ud_bench_main(int argc, char **argv);

#endif
