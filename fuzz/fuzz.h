/* fuzz.h — what the fuzz targets share (docs/fuzzing.md).
 *
 * Each fuzz/<target>.c defines LLVMFuzzerTestOneInput over one parser a user feeds, calling
 * the parser's real entry point. Built with -DUD_FUZZ=ON (clang, libFuzzer) it is a fuzzer;
 * in every other build fuzz/driver.c supplies main(), which runs the target once on each file
 * of its seed corpus (fuzz/corpus/<target>/): the corpora stay parseable, crash-free and
 * leak-free in the unit tests, the sanitizer build's included. */
#ifndef UD_FUZZ_H
#define UD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for the inputs that parsers take by path, made once per process. */
const char *ud_fuzz_dir(void);
/* Writes data to ud_fuzz_dir()/name and returns the path (static storage), or NULL. */
const char *ud_fuzz_file(const char *name, const uint8_t *data, size_t size);
/* The input as a NUL-terminated string (malloc'd; the caller frees it). */
char *ud_fuzz_text(const uint8_t *data, size_t size);
/* A sink for the parsers' messages: what they say is not what is tested. */
FILE *ud_fuzz_null(void);

#endif
