/* post_checks.c — the cache checker as a post-run check (post_checks.h). Only its public API
 * is used (harness/cache/cache_check.h). */
#include "harness/cli/post_checks.h"

#include "harness/cache/cache_check.h"

static int cache_applies(const ud_case *c) { return c->op->cached != NULL; }

const ud_post_check ud_cache_post_check = {
    .name = "cache",
    .what = "cache check",
    .applies = cache_applies,
    .owns = ud_cache_is_variant,
    .run = ud_cache_check_result,
};

const ud_post_check *const ud_post_checks[] = {&ud_cache_post_check, NULL};

void ud_attach_post_checks(ud_run_opts *ro)
{
    ro->npost = 0;
    ro->post[ro->npost++] = &ud_cache_post_check;
}
