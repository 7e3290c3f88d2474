/* The machine's floor for `history/history_load_50x50x2_h1000`: allocate
 * the 40 MB a history of 1,000 events of the anchor grid holds (2 float
 * columns x 50 x 50 cells x 1,000 events), advised for huge pages as the load
 * does, and copy 40 MB into it in 20 KB runs from two threads, the way the
 * load copies each event's runs. No decoding, no database: the least any
 * load that returns an owned history can cost here.
 *
 *   gcc -O2 -pthread -o /tmp/copy_floor bench/copy_floor.c && /tmp/copy_floor
 *
 * Prints one line per round (30 rounds) and the median.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define ROUNDS 30
static const size_t N = 40000000;
static const size_t RUN = 20000;
static char *src, *dst;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *copy_half(void *arg) {
    size_t h = (size_t)arg, s = h * N / 2, e = (h + 1) * N / 2;
    for (size_t o = s; o < e; o += RUN)
        memcpy(dst + o, src + o, o + RUN > e ? e - o : RUN);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    double t[ROUNDS];
    src = malloc(N);
    if (!src) return 1;
    memset(src, 1, N);
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_ms();
        dst = calloc(1, N);
        if (!dst) return 1;
        madvise((void *)(((size_t)dst + 4095) & ~(size_t)4095), N - 4096, MADV_HUGEPAGE);
        pthread_t a, b;
        pthread_create(&a, NULL, copy_half, (void *)0);
        pthread_create(&b, NULL, copy_half, (void *)1);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        free(dst);
        t[r] = now_ms() - t0;
        printf("round %2d: fresh 40 MB, copied by 2 threads, freed: %.2f ms\n", r, t[r]);
    }
    qsort(t, ROUNDS, sizeof t[0], cmp);
    printf("median %.2f ms, min %.2f ms\n", t[ROUNDS / 2], t[0]);
    return 0;
}
