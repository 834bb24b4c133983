/* The template network of pages.c in integers: its logit at one pixel, exactly as
 * pixelar/portable.py computes it (floor shifts, clamps, ReLU), and a cache of logits by the
 * template's bits. Included by pages.c after struct coder. */

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
    int64_t h1[512];
    double acc[512];
    /* first layer from the all-white template (o1 + sum of the weights, precomputed): a black
     * pixel (-1) takes its weights off twice, a pixel outside (0) once */
    for (int f = 0; f < n->hidden; f++) h1[f] = n->white[f];
    for (int t = 0; t < n->taps; t++) {
        int v = pixel(k, top, y + n->dy[t], x + n->dx[t]);
        if (v > 0) continue;
        const int64_t *w = n->w1 + (int64_t)t * n->hidden;
        int64_t times = 1 - v;
        for (int f = 0; f < n->hidden; f++) h1[f] -= times * w[f];
    }
    /* hidden layer in doubles holding integers: every product and partial sum is an integer
     * below 2^53 (the bound pixelar.portable checks), so the sums are exact in any order */
    for (int g = 0; g < n->hidden; g++) acc[g] = (double)n->o2[g];
    for (int f = 0; f < n->hidden; f++) {
        int64_t a = clamp64(shift(h1[f], n->s1[f]), n->limit);
        if (a <= 0) continue;
        double v = (double)a;
        const double *w = n->w2 + (int64_t)f * n->hidden;
        for (int g = 0; g < n->hidden; g++) acc[g] += v * w[g];
    }
    int64_t out = n->o3;
    for (int g = 0; g < n->hidden; g++) {
        int64_t a = clamp64(shift((int64_t)acc[g], n->s2[g]), n->limit);
        if (a > 0) out += a * n->w3[g];
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
