/* expert_ids.h — expert-ID generators and the MoE dispatch permutation, shared by the MoE
 * operators (post_reorder_sum; any later combine/dispatch operator).
 *
 * topk_ids is [tokens, topk] int32, as a router's top-k produces it: distinct experts per token
 * in [0, experts), or -1 for a slot whose expert lives on another rank (expert parallelism).
 * out_of_range adds what a consumer must skip like -1 but a sign test lets through: local ids
 * >= experts and below -1 (a stale or corrupt slot, a bad global-to-local map).
 * Every id is a pure function of (seed, stream, token, slot), like every other tensor.
 *
 * src2dst is built the way MoE dispatch builds it (sglang's EP MoE preprocess: a stable sort of
 * the flattened topk_ids, then src2dst[reorder_ids[i]] = i): row r of the expert-ordered buffer
 * holds slot src2dst^-1(r). The sort is ascending by id, so ids below -1 come first, then the
 * -1 slots, the experts 0 .. experts-1, and last the ids >= experts; only the experts' rows are
 * computed by an expert GEMM (its segments start at expert 0 and end at experts - 1), every
 * other row is never written and must never be read by a combine kernel. */
#ifndef UD_EXPERT_IDS_H
#define UD_EXPERT_IDS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    UD_IDS_UNIFORM,     /* distinct experts per token, uniform */
    UD_IDS_WITH_ZERO,   /* uniform, and expert 0 at slot (t mod topk) of token t: every position */
    UD_IDS_ALL_ZERO,    /* every slot expert 0 (duplicates within a token) */
    UD_IDS_PADDED,      /* uniform, each slot -1 with probability 1/2 (expert on another rank) */
    UD_IDS_LARGEST,     /* uniform, and expert experts-1 at slot (t mod topk) of token t */
    UD_IDS_ALL_PADDED,  /* token 0 and about half the others all -1; the rest padded */
    UD_IDS_OUT_OF_RANGE,/* uniform, an id outside [-1, experts) at slot (t mod topk) of token t
                         * (cycling over experts, -2, experts + 1 + r, INT32_MAX, -3 - r, INT32_MIN),
                         * and about a quarter of the other slots -1 */
    UD_IDS_COUNT
} ud_ids_kind;

extern const char *const ud_ids_names[];   /* NULL-terminated, in ud_ids_kind order */

/* Whether the kind can be drawn for (topk, experts); writes a reason when it cannot. */
int ud_ids_validate(ud_ids_kind kind, int64_t topk, int64_t experts, char *msg, size_t n);

/* Fills ids[tokens * topk] (row-major [tokens, topk]). */
void ud_ids_fill(int32_t *ids, int64_t tokens, int64_t topk, int64_t experts, ud_ids_kind kind,
                 uint64_t seed, uint64_t stream);

/* src2dst[n] from ids[n] (n = tokens * topk) by a stable sort on id, any int32 id: a counting
 * sort over [-1, experts), the ids below -1 placed before it and those >= experts after it in
 * ascending order (ties in source order). Returns 0, or -1 on allocation failure. */
int ud_ids_src2dst(const int32_t *ids, int64_t n, int64_t experts, int32_t *src2dst);

#endif
