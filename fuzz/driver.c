/* driver.c — main() for a fuzz target outside libFuzzer (fuzz.h): runs the target once on every
 * file named, and on every file of every directory named (a seed corpus). Exit 0 when every
 * input ran (a crash, a sanitizer report or a leak fails the run by itself); 2 on bad usage or
 * an input that cannot be read; also 2 when no input was found, so an empty corpus is not a
 * silent pass. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (n == cap && !(buf = realloc(buf, cap *= 2))) break;
        size_t r = fread(buf + n, 1, cap - n, f);
        if (!r) break;
        n += r;
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "%s: out of memory\n", path); return -1; }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]); return 2; }
    size_t ran = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb)) { perror(argv[i]); return 2; }
        if (!S_ISDIR(sb.st_mode)) {
            if (run_file(argv[i])) return 2;
            ran++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) { perror(argv[i]); return 2; }
        char **names = NULL;
        size_t nn = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char **p = realloc(names, (nn + 1) * sizeof *p);
            if (!p || !(p[nn] = strdup(e->d_name))) { fprintf(stderr, "out of memory\n"); return 2; }
            names = p;
            nn++;
        }
        closedir(d);
        if (nn) qsort(names, nn, sizeof *names, cmp);   /* a stable order: failures reproduce */
        for (size_t k = 0; k < nn; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
            if (run_file(path)) return 2;
            ran++;
            free(names[k]);
        }
        free(names);
    }
    if (!ran) { fprintf(stderr, "%s: no input found\n", argv[0]); return 2; }
    printf("%s: %zu inputs ran\n", argv[0], ran);
    return 0;
}
