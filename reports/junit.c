/* junit.c — JUnit XML for CI systems: one <testsuite> per operator, one <testcase> per case
 * (name = the case label, classname = ulpdiff.<op>), a <failure> whose type is the first
 * finding's kind and whose body lists every finding, <error> for internal/device errors,
 * <skipped/> for skipped cases. Cases not started (--budget-seconds) are left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reports/report.h"
#include "harness/core/files.h"

static void xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (ch < 0x20 && ch != '\n' && ch != '\t') fputc('?', f);   /* not allowed in XML 1.0 */
            else fputc(ch, f);
        }
    }
}

static void write_case(FILE *f, const ud_result *r)
{
    fputs("    <testcase classname=\"ulpdiff.", f);
    xml_escape(f, r->c.op->name);
    fputs("\" name=\"", f);
    xml_escape(f, r->c.label);
    fprintf(f, " [%s]\" time=\"%.6f\"", ud_backend_name(r->backend), r->seconds);
    if (r->c.file) {
        fputs(" file=\"", f);
        xml_escape(f, r->c.file);
        fprintf(f, "\" line=\"%d\"", r->c.line);
    }
    if (!r->nfindings && !r->skipped) { fputs("/>\n", f); return; }
    fputs(">\n", f);
    if (r->skipped) {
        fputs("      <skipped/>\n", f);
    } else {
        int err = ud_result_has(r, UD_F_ERROR);
        const ud_finding *first = &r->findings[0];
        fprintf(f, "      <%s type=\"%s\" message=\"", err ? "error" : "failure", ud_finding_names[first->kind]);
        xml_escape(f, first->msg);
        fputs("\">", f);
        for (int k = 0; k < r->nfindings; k++) {
            fprintf(f, "%s: ", ud_finding_names[r->findings[k].kind]);
            xml_escape(f, r->findings[k].msg);
            fputc('\n', f);
        }
        for (int k = 0; k < r->nout; k++) {
            const ud_out_stats *s = &r->out[k];
            char line[1024];
            snprintf(line, sizeof line, "%s: max %.4g ulp, mean %.3g, over budget %zu/%zu, nan mismatches %zu, unwritten %zu\n",
                     s->name, s->max_ulp, s->mean_ulp, s->n_over, s->n, s->n_nan_mismatch, s->n_unwritten);
            xml_escape(f, line);
        }
        fprintf(f, "</%s>\n", err ? "error" : "failure");
    }
    fputs("    </testcase>\n", f);
}

typedef struct {
    const ud_report_meta *m;
    const ud_result *res;
    const int *ran;
    size_t n;
} suites;

static int write_suites(FILE *f, void *arg)
{
    const suites *su = arg;
    const ud_report_meta *m = su->m;
    const ud_result *res = su->res;
    const int *ran = su->ran;
    size_t n = su->n;
    size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ran[i]) continue;
        tests++;
        if (res[i].skipped) skipped++;
        else if (ud_result_has(&res[i], UD_F_ERROR)) errors++;
        else if (res[i].nfindings) failures++;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"ulpdiff\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\">\n",
            tests, failures, errors, skipped, m->elapsed_seconds, m->date);
    /* One suite per operator, in order of first appearance (the corpus order). */
    char *done = calloc(n ? n : 1, 1);
    if (!done) { ud_error("out of memory"); return 1; }
    for (size_t i = 0; i < n; i++) {
        if (!ran[i] || done[i]) continue;
        const ud_op *op = res[i].c.op;
        size_t t = 0, fl = 0, er = 0, sk = 0;
        double secs = 0;
        for (size_t j = i; j < n; j++) {
            if (!ran[j] || res[j].c.op != op) continue;
            t++;
            secs += res[j].seconds;
            if (res[j].skipped) sk++;
            else if (ud_result_has(&res[j], UD_F_ERROR)) er++;
            else if (res[j].nfindings) fl++;
        }
        fputs("  <testsuite name=\"", f);
        xml_escape(f, op->name);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n", t, fl, er, sk, secs);
        fputs("    <properties>\n", f);
        fprintf(f, "      <property name=\"backend\" value=\"%s\"/>\n", m->backend ? m->backend : "");
        fputs("      <property name=\"device\" value=\"", f);
        xml_escape(f, m->device ? m->device : "");
        fputs("\"/>\n      <property name=\"git_commit\" value=\"", f);
        xml_escape(f, m->commit ? m->commit : "");
        fputs("\"/>\n    </properties>\n", f);
        for (size_t j = i; j < n; j++) {
            if (!ran[j] || res[j].c.op != op) continue;
            done[j] = 1;
            write_case(f, &res[j]);
        }
        fputs("  </testsuite>\n", f);
    }
    free(done);
    fputs("</testsuites>\n", f);
    return ferror(f) != 0;
}

int ud_junit_write(const char *path, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n)
{
    suites su = {m, res, ran, n};
    return ud_write_atomic(path, write_suites, &su);
}
