/* The page coder's probabilities: a template PixelCNN (num_layers = 0) in the integer arithmetic
 * of pixelar/portable.py, then an exact adaptive stage, for a bilevel page coded in horizontal
 * stripes. Every value is an integer, so the probabilities are the same on every machine.
 *
 * Coding order: step t = (row r, column c) of every stripe, r-major; at each step every stripe
 * whose height exceeds r codes its pixel (s * stripe + r, c), stripes in order. A stripe's
 * context starts fresh: the template reads the rows above the stripe as the convolution's zero
 * padding, as at the page's top. At each step all stripes are predicted first, then all are
 * updated with their bits (so the decoder can decode a step's bits together).
 *
 * Per pixel: the network's logit l (1/256 nat) from the template (cached by the template's
 * bits where the whole template lies inside the stripe); ten adaptive probabilities, one per
 * context of: the JBIG-like 16-pixel neighbourhood (2 rows above, 4 pixels left); (l's bucket,
 * the 4 nearest pixels), which recalibrates the network on the page; seven neighbourhoods of
 * 31 to 102 pixels (SHAPES: up to 16 rows above, lines, a column, a block), hashed into 2^22 entries
 * each, which remember shapes seen earlier on the page; and the distances (up to 24) to ink on
 * the left, up and up-right, with 12 nearby pixels. Three logistic mixers of l and the ten
 * stretches (context mixing, as in PAQ): one with a weight set per value of the 8 nearest pixels
 * and bucket of |l|, one per bucket of the tallest neighbourhood's stretch and count, one per
 * bucket of the three distances; the mean of their logits gives p (16 bits), which codes the
 * pixel. Adaptive probabilities start at 1/2
 * and move by 1/(n + 1.5) of the error, n their count capped at a limit; the mixers start as the
 * network alone (weight 1) and learn online at a rate of 2^-15 (per unit of input x error).
 *
 * Built and loaded by pixelar/native/build.py; called through ctypes by pixelar/codec/pages.py.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NH 7            /* hashed count models (shapes below) */
#define NIN (NH + 5)    /* mixer inputs: network, neighbourhood, calibration, NH hashed and distance counts, bias */
#define SETS 1024       /* first mixer's weight sets: the 8 nearest pixels x 4 buckets of abs(l) */
#define SETS2 64        /* second mixer's: the tallest context's stretch (16 buckets) x its count (4) */
#define CTX_BITS 16     /* the neighbourhood count model */
#define BUCKETS 48      /* calibration: network logit buckets */
#define LIMIT_A 255     /* count caps */
#define LIMIT_B 1023
#define LIMIT_H 255
#define LOGIT_MAX 3071  /* stretch domain: |logit| <= 12 nat in 1/256 nat */
#define CACHE_BITS 21
#define HASH_BITS 22    /* entries of each hashed count model: 2^22 */
#define WEIGHT_MAX (1 << 30) /* mixer weights saturate at +-2^14 */
#define TALLEST 2       /* the hashed model that picks the second mixer's weights */

/* The hashed models' neighbourhoods: runs of pixels (row dy <= 0, columns x0..x1), up to 20. */
struct span { int8_t dy, x0, x1; };
static const struct span SHAPES[NH][20] = {
    {{-1, -5, 5}, {-2, -4, 4}, {-3, -2, 2}, {0, -6, -1}},                               /* 31 pixels */
    {{-1, -7, 7}, {-2, -6, 6}, {-3, -5, 5}, {-4, -3, 3}, {0, -8, -1}},                  /* 54 */
    {{-1, -7, 7}, {-2, -6, 6}, {-3, -5, 5}, {-4, -3, 3}, {0, -8, -1}, {-5, -3, 3}, {-6, -3, 3},
     {-7, -3, 3}, {-8, -3, 3}, {-9, -2, 2}, {-10, -2, 2}, {-11, -2, 2}, {-12, -2, 2}},  /* 102: 12 rows */
    {{-1, -12, 12}, {-2, -3, 3}, {0, -12, -1}},                                           /* 44: a line */
    {{-1, -1, 1}, {-2, -1, 1}, {-3, -1, 1}, {-4, -1, 1}, {-5, -1, 1}, {-6, -1, 1}, {-7, -1, 1},
     {-8, -1, 1}, {-9, -1, 1}, {-10, -1, 1}, {-11, -1, 1}, {-12, -1, 1}, {-13, -1, 1},
     {-14, -1, 1}, {-15, -1, 1}, {-16, -1, 1}, {0, -2, -1}},                               /* 50: a column */
    {{-1, -20, 20}, {-2, -10, 10}, {0, -10, -1}},                                         /* 72: wide rows */
    {{-1, -5, 5}, {-2, -5, 5}, {-3, -5, 5}, {-4, -5, 5}, {-5, -5, 5}, {-6, -5, 5}, {0, -5, -1}}, /* 71: a block */
};
static const int NSPANS[NH] = {4, 5, 13, 3, 17, 3, 7};

struct net {
    int taps, hidden;
    const int32_t *dy, *dx;       /* template offsets, dy <= 0 */
    const int64_t *w1, *o1;       /* [taps, hidden], [hidden] */
    const int32_t *s1;            /* [hidden] right shifts (negative: left) */
    const int64_t *white;         /* [hidden]: o1 + the sum of w1's rows (an all-white template) */
    const double *w2;             /* [hidden, hidden] (row = input), integers */
    const int64_t *o2;            /* [hidden] */
    const int32_t *s2;
    const int64_t *w3;            /* [hidden] */
    int64_t o3;
    int32_t s3;
    int64_t limit;                /* activations clamped to +-limit */
    const int32_t *squash;        /* [2 * LOGIT_MAX + 1]: logit -> p (16 bits, 1..65535) */
    const int16_t *stretch;       /* [65536]: p -> logit */
    const int32_t *reciprocal;    /* [LIMIT_B + 1]: 65536 / (n + 1.5) */
    int adapt;                    /* 0: the network alone */
};

struct slot { uint64_t k0, k1; int32_t value; };

/* An adaptive probability of black (16 bits) and its count, side by side (one cache line). */
struct cell { uint16_t p, n; };

/* What a prediction keeps for its update (per stripe). */
struct kept { int32_t a, b, set1, set2, set3, p1, p2, p3; uint32_t h[NH], x; };

struct coder {
    struct net net;
    int height, width, stripe, stripes;
    uint8_t *page;                 /* [height, width] 0/1, pixels coded so far */
    struct cell *a;                /* neighbourhood counts */
    struct cell *b;                /* calibration counts */
    struct cell *h[NH];            /* hashed counts */
    struct cell *x;                /* counts by distances to ink */
    int32_t w1[SETS][NIN];         /* the mixers' weights, 16.16 */
    int32_t w2[SETS2][NIN];
    int32_t w3[64][NIN];           /* the third mixer's, by the distances to ink */
    int32_t *inputs;               /* [stripes, NIN] of the last prediction */
    int32_t *scratch;              /* [stripes]: a step's probabilities */
    struct kept *kept;             /* [stripes] */
    struct slot *cache;
    int64_t step, steps;           /* next step; stripe * width */
};

#include "pages_network.h"

static int near(const struct coder *k, int top, int y, int x) {
    return pixel(k, top, y, x) >= 0; /* white, or outside the stripe (paper, as JBIG assumes) */
}

static int32_t squash(const struct net *n, int64_t l) {
    return n->squash[clamp64(l, LOGIT_MAX) + LOGIT_MAX];
}

#define REACH_UP 16     /* the shapes reach 16 rows up and 12 columns either side */
#define REACH_SIDE 20

static uint32_t hashed(const struct coder *k, int top, int y, int c, int model, int interior) {
    uint64_t h = 0x9E3779B97F4A7C15ull * (uint64_t)(model + 1), word = 0;
    int bits = 0;
    for (int i = 0; i < NSPANS[model]; i++) {
        const struct span *sp = &SHAPES[model][i];
        const uint8_t *row = k->page + (int64_t)(y + sp->dy) * k->width + c;
        for (int dx = sp->x0; dx <= sp->x1; dx++) {
            /* inside the stripe near() is the pixel's level (1: white) */
            word = (word << 1) | (uint64_t)(interior ? row[dx] : near(k, top, y + sp->dy, c + dx));
            if (++bits == 64) { h = (h ^ word) * 0xD6E8FEB86659FD93ull; word = 0; bits = 0; }
        }
    }
    h = (h ^ word) * 0xD6E8FEB86659FD93ull;
    return (uint32_t)((h ^ (h >> 32)) * 0x9E3779B97F4A7C15ull >> (64 - HASH_BITS));
}

static int32_t mix(const int32_t *w, const int32_t *in) {
    int64_t dot = 0;
    for (int i = 0; i < NIN; i++) dot += (int64_t)w[i] * in[i];
    return (int32_t)clamp64(shift(dot, 16), LOGIT_MAX);
}

static void train(int32_t *w, const int32_t *in, int64_t err) {
    for (int i = 0; i < NIN; i++) {
        int64_t v = w[i] + shift(in[i] * err, 15);
        w[i] = (int32_t)(v > WEIGHT_MAX ? WEIGHT_MAX : (v < -WEIGHT_MAX ? -WEIGHT_MAX : v));
    }
}

/* The probability (16 bits) that the pixel of stripe s at (r, c) is black; keeps what the
 * update needs. */
static int32_t predict(struct coder *k, int s, int r, int c) {
    int top = s * k->stripe, y = top + r;
    int32_t l = (int32_t)clamp64(cached_network(k, top, y, c), LOGIT_MAX);
    int32_t *in = k->inputs + (int64_t)s * NIN;
    struct kept *kp = k->kept + s;
    if (!k->net.adapt) return kp->p1 = squash(&k->net, l);
    /* JBIG-like neighbourhood: 2 rows above (5 + 7 pixels) and 4 to the left */
    static const int8_t ay[16] = {-2, -2, -2, -2, -2, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0};
    static const int8_t ax[16] = {-2, -1, 0, 1, 2, -3, -2, -1, 0, 1, 2, 3, -4, -3, -2, -1};
    int a = 0;
    for (int i = 0; i < CTX_BITS; i++) a = (a << 1) | near(k, top, y + ay[i], c + ax[i]);
    int four = (near(k, top, y, c - 1) * 2 + near(k, top, y - 1, c)) * 4
        + near(k, top, y - 1, c - 1) * 2 + near(k, top, y - 1, c + 1);
    int bucket = (l + LOGIT_MAX) * BUCKETS / (2 * LOGIT_MAX + 1);
    int conf = (l < 0 ? -l : l) / 512;
    kp->a = a;
    kp->b = bucket * 16 + four;
    int eight = four * 16 + near(k, top, y, c - 2) * 8 + near(k, top, y - 2, c) * 4
        + near(k, top, y - 1, c - 2) * 2 + near(k, top, y - 1, c + 2);
    kp->set1 = eight * 4 + (conf > 3 ? 3 : conf);
    in[0] = l;
    in[1] = k->net.stretch[k->a[a].p];
    in[2] = k->net.stretch[k->b[kp->b].p];
    int interior = y - REACH_UP >= top && c >= REACH_SIDE && c + REACH_SIDE < k->width;
    for (int m = 0; m < NH; m++) {
        kp->h[m] = hashed(k, top, y, c, m, interior);
        in[3 + m] = k->net.stretch[k->h[m][kp->h[m]].p];
    }
    int left = 0, right = 0, up = 0;
    while (left < 24 && near(k, top, y, c - 1 - left)) left++;
    while (right < 24 && near(k, top, y - 1, c + right)) right++;
    while (up < 24 && near(k, top, y - 1 - up, c)) up++;
    uint64_t hx = (((uint64_t)left * 64 + right) * 64 + up) << 16 | (uint64_t)(a & 0xFFF);
    hx *= 0x9E3779B97F4A7C15ull;
    kp->x = (uint32_t)(hx >> (64 - HASH_BITS));
    in[3 + NH] = k->net.stretch[k->x[kp->x].p];
    in[NIN - 1] = 256;
    int n = k->h[TALLEST][kp->h[TALLEST]].n;
    kp->set2 = (in[3 + TALLEST] + LOGIT_MAX) * 16 / (2 * LOGIT_MAX + 1) * 4 + (n == 0 ? 0 : n < 4 ? 1 : n < 32 ? 2 : 3);
    int q[7] = {0, 1, 2, 2, 3, 3, 3};
    kp->set3 = (left < 7 ? q[left] : 3) * 16 + (up < 7 ? q[up] : 3) * 4 + (right < 7 ? q[right] : 3);
    int32_t l1 = mix(k->w1[kp->set1], in), l2 = mix(k->w2[kp->set2], in), l3 = mix(k->w3[kp->set3], in);
    kp->p1 = squash(&k->net, l1);
    kp->p2 = squash(&k->net, l2);
    kp->p3 = squash(&k->net, l3);
    return squash(&k->net, ((int64_t)l1 + l2 + l3) / 3);
}

static void adapt(struct cell *cell, int limit, const int32_t *reciprocal, int bit) {
    int64_t target = bit ? 65535 : 0, q = cell->p;
    q += shift((target - q) * reciprocal[cell->n], 16);
    cell->p = (uint16_t)(q < 32 ? 32 : (q > 65503 ? 65503 : q));
    if (cell->n < limit) cell->n++;
}

static void update(struct coder *k, int s, int r, int c, int bit) {
    k->page[(int64_t)(s * k->stripe + r) * k->width + c] = (uint8_t)bit;
    if (!k->net.adapt) return;
    const int32_t *in = k->inputs + (int64_t)s * NIN;
    const struct kept *kp = k->kept + s;
    int64_t target = bit ? 65536 : 0;
    train(k->w1[kp->set1], in, target - kp->p1);
    train(k->w2[kp->set2], in, target - kp->p2);
    train(k->w3[kp->set3], in, target - kp->p3);
    adapt(k->a + kp->a, LIMIT_A, k->net.reciprocal, bit);
    adapt(k->b + kp->b, LIMIT_B, k->net.reciprocal, bit);
    for (int m = 0; m < NH; m++) adapt(k->h[m] + kp->h[m], LIMIT_H, k->net.reciprocal, bit);
    adapt(k->x + kp->x, LIMIT_H, k->net.reciprocal, bit);
}

static int rows_of(const struct coder *k, int s) {
    int rest = k->height - s * k->stripe;
    return rest < k->stripe ? rest : k->stripe;
}

void pages_free(void *handle) {
    struct coder *k = handle;
    if (!k) return;
    free(k->page); free(k->a); free(k->b); free(k->x);
    for (int m = 0; m < NH; m++) free(k->h[m]);
    free(k->inputs); free(k->scratch); free(k->kept); free(k->cache); free(k);
}

void *pages_new(const struct net *net, int height, int width, int stripe, int cache) {
    if (height < 1 || width < 1 || stripe < 1 || stripe > height || height > 65536 || width > 65536) return NULL;
    struct coder *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->net = *net;
    k->height = height; k->width = width; k->stripe = stripe;
    k->stripes = (height + stripe - 1) / stripe;
    k->steps = (int64_t)stripe * width;
    k->page = calloc((size_t)height * width, 1);
    k->inputs = calloc((size_t)k->stripes * NIN, sizeof(int32_t));
    k->scratch = calloc((size_t)k->stripes, sizeof(int32_t));
    k->kept = calloc((size_t)k->stripes, sizeof(struct kept));
    k->cache = cache ? calloc((size_t)1 << CACHE_BITS, sizeof(struct slot)) : NULL;
    int ok = k->page && k->inputs && k->scratch && k->kept && (!cache || k->cache);
    if (net->adapt) {
        k->a = malloc(sizeof(struct cell) << CTX_BITS);
        k->b = malloc(sizeof(struct cell) * BUCKETS * 16);
        k->x = malloc(sizeof(struct cell) << HASH_BITS);
        ok = ok && k->a && k->b && k->x;
        for (int m = 0; m < NH; m++) ok = ok && (k->h[m] = malloc(sizeof(struct cell) << HASH_BITS));
    }
    if (!ok) { pages_free(k); return NULL; }
    const struct cell half = {32768, 0};
    if (net->adapt) {
        for (int i = 0; i < 1 << CTX_BITS; i++) k->a[i] = half;
        for (int i = 0; i < BUCKETS * 16; i++) k->b[i] = half;
        for (int i = 0; i < 1 << HASH_BITS; i++) k->x[i] = half;
        for (int m = 0; m < NH; m++)
            for (int i = 0; i < 1 << HASH_BITS; i++) k->h[m][i] = half;
    }
    for (int s = 0; s < SETS; s++) k->w1[s][0] = 65536;
    for (int s = 0; s < SETS2; s++) k->w2[s][0] = 65536;
    for (int s = 0; s < 64; s++) k->w3[s][0] = 65536;
    return k;
}

/* Predict step t's pixels into p (16-bit probabilities, one per active stripe); returns how many. */
static int predict_step(struct coder *k, int64_t t, int32_t *p) {
    int r = (int)(t / k->width), c = (int)(t % k->width), n = 0;
    for (int s = 0; s < k->stripes; s++)
        if (r < rows_of(k, s)) p[n++] = predict(k, s, r, c);
    return n;
}

static void update_step(struct coder *k, int64_t t, const int32_t *bits) {
    int r = (int)(t / k->width), c = (int)(t % k->width), n = 0;
    for (int s = 0; s < k->stripes; s++)
        if (r < rows_of(k, s)) update(k, s, r, c, bits[n++]);
}

/* Encoding: every probability, in coding order, from the whole page (0/1, [height, width]).
 * bits receives the pixels in coding order. Returns the number of pixels. */
int64_t pages_encode(void *handle, const uint8_t *page, int32_t *p, int32_t *bits) {
    struct coder *k = handle;
    int64_t done = 0;
    for (int64_t t = 0; t < k->steps; t++) {
        int r = (int)(t / k->width), c = (int)(t % k->width);
        int n = predict_step(k, t, p + done);
        for (int s = 0, i = 0; s < k->stripes; s++)
            if (r < rows_of(k, s)) bits[done + i++] = page[(int64_t)(s * k->stripe + r) * k->width + c];
        update_step(k, t, bits + done);
        done += n;
    }
    return done;
}

/* Decoding, one step per call: first the previous step's bits (none at step 0), then this
 * step's probabilities of black into p, as doubles (p / 2^16, exact). Returns how many (0 after
 * the last step). */
int pages_decode_step(void *handle, const int32_t *bits, double *p) {
    struct coder *k = handle;
    if (k->step > 0) update_step(k, k->step - 1, bits);
    if (k->step >= k->steps) return 0;
    int n = predict_step(k, k->step++, k->scratch);
    for (int i = 0; i < n; i++) p[i] = k->scratch[i] / 65536.0;
    return n;
}

/* The page decoded so far ([height, width], 0/1). */
void pages_page(void *handle, uint8_t *out) {
    struct coder *k = handle;
    memcpy(out, k->page, (size_t)k->height * k->width);
}

/* The network's logit (1/256 nat, unclamped to the stretch domain) at every pixel of a whole
 * page ([height, width], 0/1), teacher-forced, each stripe's context fresh. */
void pages_logits(void *handle, const uint8_t *page, int32_t *out) {
    struct coder *k = handle;
    memcpy(k->page, page, (size_t)k->height * k->width);
    for (int y = 0; y < k->height; y++)
        for (int x = 0; x < k->width; x++)
            out[(int64_t)y * k->width + x] = cached_network(k, y / k->stripe * k->stripe, y, x);
}
