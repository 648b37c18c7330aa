/* html.c — one self-contained HTML page: no JavaScript, no external resources. It shows the
 * run's metadata, the summary table (op x dtype x backend), an inline SVG histogram of ULP
 * error per operator and dtype (log-scaled counts; bars past 1 ulp in orange, NaN/Inf
 * mismatches and the clamped top bin in red; hovering a bar shows its count through SVG
 * <title>), failures by parameter value (byparam.h: each value's failure rate as a bar),
 * the findings, and the worst cases (by error as a fraction of budget, which decides pass or
 * fail) with their worst elements. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reports/byparam.h"
#include "reports/report.h"
#include "harness/core/files.h"

#define MAX_GROUPS 256
#define MAX_WORST 25
#define MAX_FINDING_ROWS 500

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

typedef struct {
    const char *op, *dt, *be;
    size_t cases, failed;
    double max_ulp, sum_mean, frac;
    uint64_t hist[UD_HIST_BINS];
} group;

/* The largest budget fraction over a result's outputs. */
static double result_frac(const ud_result *r)
{
    double f = 0.0;
    for (int o = 0; o < r->nout; o++)
        if (r->out[o].budget_frac > f) f = r->out[o].budget_frac;
    return f;
}

static void frac_cell(FILE *f, double v)
{
    if (isinf(v)) fputs("<td class=\"num\">NaN/Inf</td>", f);
    else fprintf(f, "<td class=\"num\">%.3g</td>", v);
}

static size_t make_groups(const ud_result *res, const int *ran, size_t n, group *g, int by_backend)
{
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ran[i] || res[i].skipped) continue;
        const ud_result *r = &res[i];
        const char *op = r->c.op->name, *dt = ud_result_dtype(r), *be = by_backend ? ud_backend_name(r->backend) : "";
        size_t k = 0;
        while (k < ng && !(strcmp(g[k].op, op) == 0 && strcmp(g[k].dt, dt) == 0 && strcmp(g[k].be, be) == 0)) k++;
        if (k == ng) {
            if (ng == MAX_GROUPS) continue;
            memset(&g[ng], 0, sizeof g[ng]);
            g[ng].op = op;
            g[ng].dt = dt;
            g[ng].be = be;
            ng++;
        }
        g[k].cases++;
        if (r->nfindings) g[k].failed++;
        double m = ud_result_max_ulp(r), fr = result_frac(r);
        if (m > g[k].max_ulp) g[k].max_ulp = m;
        if (fr > g[k].frac) g[k].frac = fr;
        for (int o = 0; o < r->nout; o++) {
            g[k].sum_mean += r->out[o].mean_ulp / r->nout;
            for (int b = 0; b < UD_HIST_BINS; b++) g[k].hist[b] += r->out[o].hist[b];
        }
    }
    return ng;
}

static void bin_label(int b, char *buf, size_t n)
{
    if (b == 0) snprintf(buf, n, "0 (exact)");
    else if (b == UD_HIST_BINS - 1) snprintf(buf, n, ">= 2^%d or NaN/Inf mismatch", b - UD_HIST_BIAS - 1);
    else snprintf(buf, n, "[2^%d, 2^%d) ulp", b - UD_HIST_BIAS - 1, b - UD_HIST_BIAS);
}

static void histogram_svg(FILE *f, const group *g)
{
    /* Bin 0, then the non-empty span of bins 1.., at least 2^-12 .. 2^1 so shapes compare. */
    int lo = UD_HIST_BIAS - 11, hi = UD_HIST_BIAS + 1;
    uint64_t maxc = 1;
    for (int b = 1; b < UD_HIST_BINS; b++)
        if (g->hist[b]) { if (b < lo) lo = b; if (b > hi) hi = b; }
    for (int b = 0; b < UD_HIST_BINS; b++) if (g->hist[b] > maxc) maxc = g->hist[b];
    int nb = 1 + (hi - lo + 1);
    const int W = 460, H = 170, L = 40, B = 34, T = 22;
    double bw = (double)(W - L - 10) / nb;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n", W, H + B + T);
    fprintf(f, "<text x=\"%d\" y=\"15\" font-size=\"13\" font-weight=\"bold\">", L);
    esc(f, g->op);
    fprintf(f, " · %s</text>\n", g->dt);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n", L, T + H, W - 10, T + H);
    double lmax = log10((double)maxc + 1.0);
    for (int pw = 0; pow(10.0, pw) <= (double)maxc; pw++) {
        double y = T + H - H * log10(pow(10.0, pw) + 1.0) / lmax;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%d\" y=\"%.1f\" font-size=\"9\" text-anchor=\"end\">1e%d</text>\n",
                L, y, W - 10, y, L - 3, y + 3, pw);
    }
    for (int j = 0; j < nb; j++) {
        int b = j == 0 ? 0 : lo + j - 1;
        uint64_t c = g->hist[b];
        double h = c ? H * log10((double)c + 1.0) / lmax : 0.0;
        const char *col = b == UD_HIST_BINS - 1 ? "#c0392b" : b > UD_HIST_BIAS ? "#e67e22" : "#3a7d44";
        char lab[64];
        bin_label(b, lab, sizeof lab);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s: %llu elements</title></rect>\n",
                L + j * bw + 0.5, T + H - h, bw - 1.0, h, col, lab, (unsigned long long)c);
        if (j == 0 || (j > 1 && (b - UD_HIST_BIAS - 1) % 4 == 0)) {
            char tick[32];
            if (j == 0) snprintf(tick, sizeof tick, "0");
            else snprintf(tick, sizeof tick, "2^%d", b - UD_HIST_BIAS - 1);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" text-anchor=\"middle\">%s</text>\n",
                    L + j * bw + bw / 2, T + H + 12, tick);
        }
    }
    /* the 0.5-ulp line: the lower edge of bin bias (errors in [2^-1, 1)) */
    int half = UD_HIST_BIAS;
    if (half >= lo && half <= hi) {
        double x = L + (1 + half - lo) * bw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#555\" stroke-dasharray=\"3,3\"/>"
                   "<text x=\"%.1f\" y=\"%d\" font-size=\"9\">0.5 ulp</text>\n",
                x, T, x, T + H, x + 2, T + 9);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">ULP error (log2 bins), count on a log scale; %zu cases</text>\n",
            L + (W - L) / 2, T + H + 28, g->cases);
    fputs("</svg>\n", f);
}

typedef struct { size_t i; double v; } ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;   /* descending */
    return x->i < y->i ? -1 : x->i > y->i;
}

static void style(FILE *f)
{
    fputs("<style>\n"
          "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1400px}\n"
          "h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd}\n"
          "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d5d5d5;padding:3px 7px;text-align:left;vertical-align:top}\n"
          "th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
          "tr.fail td{background:#fdecea}tr.pass td.v{background:#e8f5e9}tr.fail td.v{background:#f8c9c4;font-weight:bold}\n"
          "code,.mono{font:12px ui-monospace,Menlo,Consolas,monospace}\n"
          ".verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:bold}\n"
          ".ok{background:#2e7d32}.bad{background:#c62828}.meta td{border:none;padding:1px 10px 1px 0}\n"
          ".hists svg{margin:0 12px 12px 0;border:1px solid #eee;background:#fff}\n"
          ".bp td{vertical-align:middle}.chip{display:inline-block;margin:2px 6px 2px 0;padding:1px 8px;border:1px solid #ccc;"
          "border-radius:3px;white-space:nowrap;font-size:12px}.chip b{margin-left:4px}.chip small{color:#666;margin-left:3px}\n"
          "h3{font-size:14px;margin:14px 0 4px}.note{color:#666;font-size:12px}\n"
          "</style>\n",
          f);
}

typedef struct {
    const ud_report_meta *m;
    const ud_result *res;
    const int *ran;
    size_t n;
} page;

static int write_page(FILE *f, void *arg)
{
    const page *pg = arg;
    const ud_report_meta *m = pg->m;
    const ud_result *res = pg->res;
    const int *ran = pg->ran;
    size_t n = pg->n;
    group *g = calloc(MAX_GROUPS, sizeof *g);
    ranked *rk = calloc(n ? n : 1, sizeof *rk);
    if (!g || !rk) { free(g); free(rk); ud_error("out of memory"); return 1; }
    size_t total = 0, failed = 0, nrk = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ran[i]) continue;
        total++;
        if (res[i].nfindings) failed++;
        if (!res[i].skipped && res[i].nout) { rk[nrk].i = i; rk[nrk].v = result_frac(&res[i]); nrk++; }
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>ulpdiff report</title>\n", f);
    style(f);
    fputs("</head><body>\n", f);
    fprintf(f, "<h1>ulpdiff report <span class=\"verdict %s\">%s</span></h1>\n", failed ? "bad" : "ok",
            failed ? "FINDINGS" : "PASS");
    fprintf(f, "<p>%zu cases: %zu passed, %zu with findings%s.</p>\n", total, total - failed, failed,
            m->not_run ? " (some cases not run: time budget)" : "");
    fputs("<table class=\"meta\">\n", f);
    const char *keys[] = {"command", "backend", "device", "ulpdiff", "commit", "date"};
    const char *vals[] = {m->command, m->backend, m->device, m->version, m->commit, m->date};
    for (int k = 0; k < 6; k++) {
        fprintf(f, "<tr><td>%s</td><td class=\"mono\">", keys[k]);
        esc(f, vals[k] ? vals[k] : "");
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "<tr><td>run</td><td>%.1f s, %d jobs, shard %d/%d, %zu selected, %zu not run</td></tr>\n</table>\n",
            m->elapsed_seconds, m->jobs, m->shard_k, m->shard_n, m->selected, m->not_run);

    /* Summary */
    size_t ng = make_groups(res, ran, n, g, 1);
    fputs("<h2>Summary</h2>\n<table><tr><th>operator</th><th>dtype</th><th>backend</th><th>cases</th><th>failed</th>"
          "<th>worst / budget</th><th>max ulp</th><th>mean ulp (avg)</th><th></th></tr>\n", f);
    for (size_t k = 0; k < ng; k++) {
        fprintf(f, "<tr class=\"%s\"><td>", g[k].failed ? "fail" : "pass");
        esc(f, g[k].op);
        fprintf(f, "</td><td>%s</td><td>%s</td><td class=\"num\">%zu</td><td class=\"num\">%zu</td>", g[k].dt, g[k].be,
                g[k].cases, g[k].failed);
        frac_cell(f, g[k].frac);
        fprintf(f, "<td class=\"num\">%.4g</td><td class=\"num\">%.3g</td><td class=\"v\">%s</td></tr>\n", g[k].max_ulp,
                g[k].cases ? g[k].sum_mean / g[k].cases : 0.0, g[k].failed ? "FAIL" : "pass");
    }
    fputs("</table>\n<p class=\"note\">worst / budget: the worst element's error as a fraction of its own budget "
          "(an element passes at &le; 1): what decides pass or fail. max ulp: the largest error in ulps, which a "
          "condition-scaled budget (cancellation) can allow to be large.</p>\n", f);

    /* Failures by parameter value */
    ud_bp_group *bp = NULL;
    size_t nbp = 0;
    if (failed && ud_byparam(res, ran, n, &bp, &nbp) == 0 && nbp) {
        fputs("<h2>Failures by parameter value</h2>\n<p class=\"note\">For each operator with failures, the share "
              "of each parameter value's cases that failed (red: failed). Parameters whose every value fails alike are "
              "left out.</p>\n", f);
        for (size_t k = 0; k < nbp; k++) {
            char name[160];
            ud_bp_name(&bp[k], name, sizeof name);
            fputs("<h3>", f);
            esc(f, name);
            fprintf(f, ": %zu of %zu cases failed</h3>\n", bp[k].failed, bp[k].cases);
            if (!bp[k].nparams) { fputs("<p class=\"note\">Every parameter value fails alike.</p>\n", f); continue; }
            fputs("<table class=\"bp\">\n", f);
            for (int p = 0; p < bp[k].nparams; p++) {
                const ud_bp_param *P = &bp[k].params[p];
                fprintf(f, "<tr><th>%s</th><td>", bp[k].op->params[P->param].name);
                for (int v = 0; v < P->nvalues; v++) {
                    const ud_bp_value *V = &P->values[v];
                    double pct = 100.0 * (double)V->failed / (double)V->cases;
                    fprintf(f, "<span class=\"chip\" style=\"background:linear-gradient(to right,#f3a59b %.1f%%,#e8f5e9 "
                               "%.1f%%)\" title=\"%zu of %zu cases failed\">", pct, pct, V->failed, V->cases);
                    esc(f, V->text);
                    fprintf(f, "<b>%.0f%%</b><small>%zu/%zu</small></span>", pct, V->failed, V->cases);
                }
                fputs("</td></tr>\n", f);
            }
            fputs("</table>\n", f);
        }
    }
    free(bp);

    /* Histograms per operator and dtype (all backends together) */
    ng = make_groups(res, ran, n, g, 0);
    fputs("<h2>ULP error per operator and dtype</h2>\n<div class=\"hists\">\n", f);
    for (size_t k = 0; k < ng; k++) histogram_svg(f, &g[k]);
    fputs("</div>\n", f);

    /* Findings */
    fputs("<h2>Findings</h2>\n", f);
    if (!failed) fputs("<p>None.</p>\n", f);
    else {
        fputs("<table><tr><th>case</th><th>backend</th><th>kind</th><th>message</th></tr>\n", f);
        size_t rows = 0;
        for (size_t i = 0; i < n && rows < MAX_FINDING_ROWS; i++) {
            if (!ran[i]) continue;
            for (int k = 0; k < res[i].nfindings && rows < MAX_FINDING_ROWS; k++, rows++) {
                fputs("<tr class=\"fail\"><td class=\"mono\">", f);
                esc(f, res[i].c.label);
                if (res[i].c.file) {
                    fputs("<br>", f);
                    esc(f, res[i].c.file);
                    fprintf(f, ":%d", res[i].c.line);
                }
                fprintf(f, "</td><td>%s</td><td>%s</td><td class=\"mono\">", ud_backend_name(res[i].backend),
                        ud_finding_names[res[i].findings[k].kind]);
                esc(f, res[i].findings[k].msg);
                fputs("</td></tr>\n", f);
            }
        }
        fputs("</table>\n", f);
        if (rows == MAX_FINDING_ROWS) fprintf(f, "<p>First %d findings shown; the JSON report has them all.</p>\n", MAX_FINDING_ROWS);
    }

    /* Worst cases */
    qsort(rk, nrk, sizeof *rk, cmp_ranked);
    fprintf(f, "<h2>Worst cases (by error as a fraction of budget)</h2>\n<table><tr><th>case</th><th>output</th>"
               "<th>worst / budget</th><th>max ulp</th><th>mean</th><th>p99.9</th><th>over budget</th>"
               "<th>worst element: got / exact</th><th>inputs</th></tr>\n");
    for (size_t j = 0; j < nrk && j < MAX_WORST; j++) {
        const ud_result *r = &res[rk[j].i];
        for (int o = 0; o < r->nout; o++) {
            const ud_out_stats *s = &r->out[o];
            fprintf(f, "<tr class=\"%s\">", r->nfindings ? "fail" : "pass");
            if (o == 0) {
                fprintf(f, "<td class=\"mono\" rowspan=\"%d\">", r->nout);
                esc(f, r->c.label);
                fprintf(f, " [%s]</td>", ud_backend_name(r->backend));
            }
            fprintf(f, "<td>%s (%s)</td>", s->name ? s->name : "?", ud_dtype_name(s->dtype));
            frac_cell(f, s->budget_frac);
            fprintf(f, "<td class=\"num\">%.4g</td><td class=\"num\">%.3g</td><td class=\"num\">%.3g</td>"
                       "<td class=\"num\">%zu/%zu</td><td class=\"mono\">",
                    s->max_ulp, s->mean_ulp, s->p999, s->n_over, s->n);
            if (s->has_worst)
                fprintf(f, "%s got %a (%.9g)<br>exact %a (%.17g)<br>= %.4g ulp", s->worst_coords, s->worst_got, s->worst_got,
                        s->worst_exact, s->worst_exact, s->worst_ulp);
            fputs("</td><td class=\"mono\">", f);
            esc(f, s->worst_inputs);
            fputs("</td></tr>\n", f);
        }
    }
    fputs("</table>\n<p style=\"color:#777;font-size:12px\">Generated by ulpdiff; the JSON report "
          "(docs/report-format.md) carries every number on this page.</p>\n</body></html>\n", f);
    free(g);
    free(rk);
    return ferror(f) != 0;
}

int ud_html_write(const char *path, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n)
{
    page pg = {m, res, ran, n};
    return ud_write_atomic(path, write_page, &pg);
}
