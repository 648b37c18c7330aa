/* derive.h — derive functions (ud_derive_fn, harness/cache/cache.h) for parameter handles: the
 * derived copies the cached operators keep, made by the kernel layer's own conversion on the
 * device the copy is for. */
#ifndef UD_CACHE_DERIVE_H
#define UD_CACHE_DERIVE_H

/* The fp32 copy (gpu/upcast.h) of a bf16/fp16 parameter handle (arg: const ud_phandle *) on
 * `device`, from its data on that device. */
int ud_derive_f32(void *arg, int device, void *dst);

#endif
