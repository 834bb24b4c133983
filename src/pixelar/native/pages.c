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
 * bits where the whole template lies inside the stripe); five adaptive probabilities, one per
 * context of: the JBIG-like 16-pixel neighbourhood (2 rows above, 4 pixels left); (l's bucket,
 * the 4 nearest pixels), which recalibrates the network on the page; a 31-pixel, an 82-pixel
 * (8 rows above) and a 102-pixel (12 rows above) neighbourhood, hashed into 2^22 entries each,
 * which remember shapes seen earlier on the page; and a logistic mixer of l and the five
 * stretches (context-mixing as in PAQ), twice: one mixer with a weight set per value of the 4
 * nearest pixels and bucket of |l|, one per bucket of the tallest context's stretch and count;
 * the mean of their logits gives p (16 bits), which codes the pixel. Adaptive probabilities start at 1/2 and move
 * by 1/(n + 1.5) of the error, n their count capped at a limit; the mixer starts as the network
 * alone (weight 1) and learns online at a rate of 2^-15 (per unit of input × error).
 *
 * Built and loaded by pixelar/native/build.py; called through ctypes by pixelar/codec/pages.py.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WHERE 10        /* what a prediction keeps for its update, per stripe */
#define NIN 7           /* mixer inputs: network, four count models, bias */
#define SETS2 64        /* the second mixer's sets: the tallest context's stretch x its count */
#define SETS 64         /* mixer weight sets: the 4 nearest pixels x 4 buckets of abs(l) */
#define CTX_BITS 16     /* the count model's neighbourhood */
#define BUCKETS 48      /* calibration: network logit buckets */
#define LIMIT_A 255     /* count caps */
#define LIMIT_B 1023
#define LOGIT_MAX 3071  /* stretch domain: |logit| <= 12 nat in 1/256 nat */
#define CACHE_BITS 21
#define HASH_BITS 22     /* the wide count model's table */
#define LIMIT_C 255
#define WEIGHT_MAX (1 << 30) /* mixer weights saturate at +-2^14 */

struct net {
    int taps, hidden;
    const int32_t *dy, *dx;       /* template offsets, dy <= 0 */
    const int64_t *w1, *o1;       /* [taps, hidden], [hidden] */
    const int32_t *s1;            /* [hidden] right shifts (negative: left) */
    const int64_t *w2, *o2;       /* [hidden, hidden] (row = input), [hidden] */
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

struct coder {
    struct net net;
    int height, width, stripe, stripes;
    uint8_t *page;                 /* [height, width] 0/1, pixels coded so far */
    uint16_t *pa, *pb;             /* adaptive probabilities */
    uint16_t *na, *nb;             /* their counts */
    uint16_t *pc, *nc;             /* the wide count model */
    uint16_t *pd, *nd;             /* the widest */
    uint16_t *pe, *ne;             /* the tallest */
    int32_t weights[SETS][NIN];    /* mixer, 16.16 */
    int32_t weights2[SETS2][NIN];  /* the second mixer */
    int32_t *inputs;               /* [stripes, NIN] of the last prediction */
    int32_t *scratch;              /* [stripes]: a step's probabilities */
    int32_t *where;                /* [stripes, WHERE]: contexts a, b, mixer set, p, contexts c, d, -, e */
    struct slot *cache;
    int64_t step, steps;           /* next step; stripe * width */
};

static int64_t shift(int64_t v, int32_t s) {
    if (s <= 0) return v * ((int64_t)1 << -s);
    return v >= 0 ? v >> s : -((-v + ((int64_t)1 << s) - 1) >> s); /* floor */
}

static int64_t clamp64(int64_t v, int64_t m) { return v > m ? m : (v < -m ? -m : v); }

static int pixel(const struct coder *k, int top, int y, int x) {
    /* the first layer's input at (y, x): +-1 inside the stripe, 0 outside */
    if (y < top || x < 0 || x >= k->width) return 0;
    return 2 * k->page[(int64_t)y * k->width + x] - 1;
}

static int32_t network(const struct coder *k, int top, int y, int x) {
    const struct net *n = &k->net;
    int64_t h1[512], acc;
    for (int f = 0; f < n->hidden; f++) h1[f] = n->o1[f];
    for (int t = 0; t < n->taps; t++) {
        int v = pixel(k, top, y + n->dy[t], x + n->dx[t]);
        if (!v) continue;
        const int64_t *w = n->w1 + (int64_t)t * n->hidden;
        if (v > 0) for (int f = 0; f < n->hidden; f++) h1[f] += w[f];
        else for (int f = 0; f < n->hidden; f++) h1[f] -= w[f];
    }
    for (int f = 0; f < n->hidden; f++) {
        int64_t a = clamp64(shift(h1[f], n->s1[f]), n->limit);
        h1[f] = a > 0 ? a : 0;
    }
    int64_t out = n->o3;
    for (int g = 0; g < n->hidden; g++) {
        acc = n->o2[g];
        for (int f = 0; f < n->hidden; f++) acc += h1[f] * n->w2[(int64_t)f * n->hidden + g];
        acc = clamp64(shift(acc, n->s2[g]), n->limit);
        if (acc > 0) out += acc * n->w3[g];
    }
    return (int32_t)clamp64(shift(out, n->s3), n->limit);
}

static int inside(const struct coder *k, int top, int y, int x) {
    const struct net *n = &k->net;
    for (int t = 0; t < n->taps; t++) {
        int yy = y + n->dy[t], xx = x + n->dx[t];
        if (yy < top || xx < 0 || xx >= k->width) return 0;
    }
    return 1;
}

static int32_t cached_network(struct coder *k, int top, int y, int x) {
    if (!k->cache || !inside(k, top, y, x)) return network(k, top, y, x);
    const struct net *n = &k->net;
    uint64_t k0 = 0, k1 = (uint64_t)1 << 63; /* the top bit marks a used slot */
    for (int t = 0; t < n->taps; t++) {
        uint64_t b = k->page[(int64_t)(y + n->dy[t]) * k->width + x + n->dx[t]];
        if (t < 64) k0 |= b << t; else k1 |= b << (t - 64);
    }
    uint64_t h = (k0 ^ (k1 * 0x9E3779B97F4A7C15ull)) * 0xD6E8FEB86659FD93ull;
    uint64_t mask = ((uint64_t)1 << CACHE_BITS) - 1;
    for (uint64_t i = h >> (64 - CACHE_BITS), probe = 0; probe < 8; probe++, i = (i + 1) & mask) {
        struct slot *s = &k->cache[i];
        if (s->k1 == 0) {
            s->k0 = k0; s->k1 = k1; s->value = network(k, top, y, x);
            return s->value;
        }
        if (s->k0 == k0 && s->k1 == k1) return s->value;
    }
    return network(k, top, y, x);
}

static int near(const struct coder *k, int top, int y, int x) {
    return pixel(k, top, y, x) >= 0; /* white, or outside the stripe (paper, as JBIG assumes) */
}

static int32_t squash(const struct net *n, int64_t l) {
    return n->squash[clamp64(l, LOGIT_MAX) + LOGIT_MAX];
}

/* The probability (16 bits) that the pixel of stripe s at (r, c) is black; keeps what the
 * update needs. */
static int32_t predict(struct coder *k, int s, int r, int c) {
    int top = s * k->stripe, y = top + r;
    int32_t l = (int32_t)clamp64(cached_network(k, top, y, c), LOGIT_MAX);
    int32_t *in = k->inputs + (int64_t)s * NIN, *at = k->where + (int64_t)s * WHERE;
    if (!k->net.adapt) {
        at[3] = squash(&k->net, l);
        return at[3];
    }
    /* JBIG-like neighbourhood: 2 rows above (5 + 7 pixels) and 4 to the left */
    int a = 0;
    static const int8_t ay[16] = {-2, -2, -2, -2, -2, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0};
    static const int8_t ax[16] = {-2, -1, 0, 1, 2, -3, -2, -1, 0, 1, 2, 3, -4, -3, -2, -1};
    for (int i = 0; i < CTX_BITS; i++) a = (a << 1) | near(k, top, y + ay[i], c + ax[i]);
    int w = near(k, top, y, c - 1), nn = near(k, top, y - 1, c);
    int bucket = (l + LOGIT_MAX) * BUCKETS / (2 * LOGIT_MAX + 1);
    int b = (bucket * 4 + w * 2 + nn) * 4 + near(k, top, y - 1, c - 1) * 2 + near(k, top, y - 1, c + 1);
    int conf = (l < 0 ? -l : l) / 512;
    int set = ((w * 2 + nn) * 4 + near(k, top, y - 1, c - 1) * 2 + near(k, top, y - 1, c + 1)) * 4 + (conf > 3 ? 3 : conf);
    in[0] = l;
    in[1] = k->net.stretch[k->pa[a]];
    in[2] = k->net.stretch[k->pb[b]];
    uint32_t wide = 0;
    for (int dx = -5; dx <= 5; dx++) wide = (wide << 1) | near(k, top, y - 1, c + dx);
    for (int dx = -4; dx <= 4; dx++) wide = (wide << 1) | near(k, top, y - 2, c + dx);
    for (int dx = -2; dx <= 2; dx++) wide = (wide << 1) | near(k, top, y - 3, c + dx);
    for (int dx = -6; dx <= -1; dx++) wide = (wide << 1) | near(k, top, y, c + dx);
    uint32_t hc = (uint32_t)(((uint64_t)wide * 0x9E3779B97F4A7C15ull) >> (64 - HASH_BITS));
    at[4] = (int32_t)hc;
    in[3] = k->net.stretch[k->pc[hc]];
    uint64_t widest = 0;
    for (int dx = -7; dx <= 7; dx++) widest = (widest << 1) | near(k, top, y - 1, c + dx);
    for (int dx = -6; dx <= 6; dx++) widest = (widest << 1) | near(k, top, y - 2, c + dx);
    for (int dx = -5; dx <= 5; dx++) widest = (widest << 1) | near(k, top, y - 3, c + dx);
    for (int dx = -3; dx <= 3; dx++) widest = (widest << 1) | near(k, top, y - 4, c + dx);
    for (int dx = -8; dx <= -1; dx++) widest = (widest << 1) | near(k, top, y, c + dx);
    uint64_t far = 0;
    for (int dy = 5; dy <= 8; dy++)
        for (int dx = -3; dx <= 3; dx++) far = (far << 1) | near(k, top, y - dy, c + dx);
    uint64_t tallest = widest ^ far * 0xC2B2AE3D27D4EB4Full;
    for (int dy = 9; dy <= 12; dy++)
        for (int dx = -2; dx <= 2; dx++) tallest = (tallest << 1) ^ (uint64_t)near(k, top, y - dy, c + dx) ^ (tallest >> 59);
    uint32_t hd = (uint32_t)(((widest + 0x632BE59BD9B4E019ull) * 0x9E3779B97F4A7C15ull) >> (64 - HASH_BITS));
    at[5] = (int32_t)hd;
    in[4] = k->net.stretch[k->pd[hd]];
    uint32_t he = (uint32_t)(((tallest + 0x2545F4914F6CDD1Dull) * 0x9E3779B97F4A7C15ull) >> (64 - HASH_BITS));
    at[7] = (int32_t)he;
    in[5] = k->net.stretch[k->pe[he]];
    in[6] = 256;
    int64_t dot = 0;
    for (int i = 0; i < NIN; i++) dot += (int64_t)k->weights[set][i] * in[i];
    int st = in[5] + LOGIT_MAX, ne = k->ne[he];
    int set2 = (st * 16 / (2 * LOGIT_MAX + 1)) * 4 + (ne == 0 ? 0 : ne < 4 ? 1 : ne < 32 ? 2 : 3);
    int64_t dot2 = 0;
    for (int i = 0; i < NIN; i++) dot2 += (int64_t)k->weights2[set2][i] * in[i];
    int64_t l1 = clamp64(shift(dot, 16), LOGIT_MAX), l2 = clamp64(shift(dot2, 16), LOGIT_MAX);
    at[0] = a; at[1] = b; at[2] = set; at[3] = squash(&k->net, l1);
    at[8] = set2; at[9] = squash(&k->net, l2);
    return squash(&k->net, shift(l1 + l2, 1));
}

static void adapt(uint16_t *p, uint16_t *n, int limit, const int32_t *reciprocal, int bit) {
    int64_t target = bit ? 65535 : 0, q = *p;
    q += shift((target - q) * reciprocal[*n], 16);
    *p = (uint16_t)(q < 32 ? 32 : (q > 65503 ? 65503 : q));
    if (*n < limit) (*n)++;
}

static void update(struct coder *k, int s, int r, int c, int bit) {
    k->page[(int64_t)(s * k->stripe + r) * k->width + c] = (uint8_t)bit;
    if (!k->net.adapt) return;
    int32_t *in = k->inputs + (int64_t)s * NIN, *at = k->where + (int64_t)s * WHERE;
    int64_t err = (bit ? 65536 : 0) - at[3], err2 = (bit ? 65536 : 0) - at[9];
    int32_t *w = k->weights[at[2]], *w2 = k->weights2[at[8]];
    for (int i = 0; i < NIN; i++) {
        int64_t v = w2[i] + shift(in[i] * err2, 15);
        w2[i] = (int32_t)(v > WEIGHT_MAX ? WEIGHT_MAX : (v < -WEIGHT_MAX ? -WEIGHT_MAX : v));
    }
    for (int i = 0; i < NIN; i++) {
        int64_t v = w[i] + shift(in[i] * err, 15);
        w[i] = (int32_t)(v > WEIGHT_MAX ? WEIGHT_MAX : (v < -WEIGHT_MAX ? -WEIGHT_MAX : v));
    }
    adapt(k->pa + at[0], k->na + at[0], LIMIT_A, k->net.reciprocal, bit);
    adapt(k->pb + at[1], k->nb + at[1], LIMIT_B, k->net.reciprocal, bit);
    adapt(k->pc + at[4], k->nc + at[4], LIMIT_C, k->net.reciprocal, bit);
    adapt(k->pd + at[5], k->nd + at[5], LIMIT_C, k->net.reciprocal, bit);
    adapt(k->pe + at[7], k->ne + at[7], LIMIT_C, k->net.reciprocal, bit);
}

static int rows_of(const struct coder *k, int s) {
    int rest = k->height - s * k->stripe;
    return rest < k->stripe ? rest : k->stripe;
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
    k->pa = malloc(sizeof(uint16_t) << CTX_BITS);
    k->na = calloc((size_t)1 << CTX_BITS, sizeof(uint16_t));
    k->pb = malloc(sizeof(uint16_t) * BUCKETS * 16);
    k->nb = calloc(BUCKETS * 16, sizeof(uint16_t));
    k->inputs = calloc((size_t)k->stripes * NIN, sizeof(int32_t));
    k->scratch = calloc((size_t)k->stripes, sizeof(int32_t));
    k->where = calloc((size_t)k->stripes * WHERE, sizeof(int32_t));
    k->pd = malloc(sizeof(uint16_t) << HASH_BITS);
    k->pe = malloc(sizeof(uint16_t) << HASH_BITS);
    k->ne = calloc((size_t)1 << HASH_BITS, sizeof(uint16_t));
    k->nd = calloc((size_t)1 << HASH_BITS, sizeof(uint16_t));
    k->pc = malloc(sizeof(uint16_t) << HASH_BITS);
    k->nc = calloc((size_t)1 << HASH_BITS, sizeof(uint16_t));
    k->cache = cache ? calloc((size_t)1 << CACHE_BITS, sizeof(struct slot)) : NULL;
    if (!k->page || !k->pa || !k->na || !k->pb || !k->nb || !k->inputs || !k->scratch || !k->where || !k->pc || !k->nc || !k->pd || !k->nd || !k->pe || !k->ne || (cache && !k->cache)) {
        free(k->page); free(k->pa); free(k->na); free(k->pb); free(k->nb);
        free(k->inputs); free(k->scratch); free(k->where); free(k->cache); free(k->pc); free(k->nc); free(k->pd); free(k->nd); free(k->pe); free(k->ne); free(k);
        return NULL;
    }
    for (int i = 0; i < 1 << CTX_BITS; i++) k->pa[i] = 32768;
    for (int i = 0; i < BUCKETS * 16; i++) k->pb[i] = 32768;
    for (int i = 0; i < 1 << HASH_BITS; i++) k->pc[i] = k->pd[i] = k->pe[i] = 32768;
    for (int s = 0; s < SETS; s++) k->weights[s][0] = 65536;
    for (int s = 0; s < SETS2; s++) k->weights2[s][0] = 65536;
    return k;
}

void pages_free(void *handle) {
    struct coder *k = handle;
    if (!k) return;
    free(k->page); free(k->pa); free(k->na); free(k->pb); free(k->nb);
    free(k->inputs); free(k->scratch); free(k->where); free(k->cache); free(k->pc); free(k->nc); free(k->pd); free(k->nd); free(k->pe); free(k->ne); free(k);
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
