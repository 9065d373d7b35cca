/* bench/heaptrack/live_blocks.c — an LD_PRELOAD library that counts a process's live heap blocks and their usable
 * bytes (what malloc really hands out, rounded up, as against the requested bytes heaptrack reports), read from
 * the running process with gdb. Used by live_blocks.sh (docs/benchmarks.md, "Where the memory goes").
 *
 * Why not heaptrack: it reports requested bytes by stack, and its leaked-allocation counts did not add up; this
 * answers one question exactly: how many blocks, and how many usable bytes, a server holds per idle session. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stddef.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

volatile long live_blocks = 0;  /* blocks allocated and not freed */
volatile long live_usable = 0;  /* their malloc_usable_size() */
volatile long small_blocks = 0; /* those of them with at most 64 usable bytes */

static void count(void* p, long sign) {
    if (p == NULL) {
        return;
    }
    const size_t usable = malloc_usable_size(p);
    __atomic_add_fetch(&live_blocks, sign, __ATOMIC_RELAXED);
    __atomic_add_fetch(&live_usable, sign * (long)usable, __ATOMIC_RELAXED);
    if (usable <= 64) {
        __atomic_add_fetch(&small_blocks, sign, __ATOMIC_RELAXED);
    }
}

void* malloc(size_t n) {
    void* p = __libc_malloc(n);
    count(p, 1);
    return p;
}
void* calloc(size_t a, size_t b) {
    void* p = __libc_calloc(a, b);
    count(p, 1);
    return p;
}
void* realloc(void* old, size_t n) {
    const size_t old_usable = old != NULL ? malloc_usable_size(old) : 0;
    void* p = __libc_realloc(old, n);
    if (p != NULL || n == 0) { /* the old block is gone (moved, resized or freed) */
        if (old != NULL) {
            __atomic_add_fetch(&live_blocks, -1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&live_usable, -(long)old_usable, __ATOMIC_RELAXED);
            if (old_usable <= 64) {
                __atomic_add_fetch(&small_blocks, -1, __ATOMIC_RELAXED);
            }
        }
        count(p, 1);
    }
    return p;
}
void free(void* p) {
    count(p, -1);
    __libc_free(p);
}
void* memalign(size_t alignment, size_t n) {
    void* p = __libc_memalign(alignment, n);
    count(p, 1);
    return p;
}
void* aligned_alloc(size_t alignment, size_t n) {
    return memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
    void* p = __libc_memalign(alignment, n);
    if (p == NULL) {
        return 12; /* ENOMEM */
    }
    count(p, 1);
    *out = p;
    return 0;
}
