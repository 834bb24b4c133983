/* What every kernel library shares, for one scalar type T (NAME(f): f with the type's suffix):
 * helpers (a row-blocked affine map with its epilogue, the front's pixels read from the images,
 * rows stored into a cached map) and two exported entry points (store_pixels, conv_context).
 * Included by each kernel body, once per type (per_type.h), after front.h. */

#ifndef ROWS
#define ROWS 4 /* rows computed together: each weight row is loaded once for all of them */
#endif

/* The epilogue of one row: o = (relu_out)(add + (acc + b)). */
static void NAME(finish)(const T *acc, int m, const T *b, const T *add, int relu_out, T *o) {
    for (int j = 0; j < m; ++j) {
        T s = b ? b[j] + acc[j] : acc[j];
        if (add) s = add[j] + s;
        o[j] = relu_out && s < 0 ? (T)0 : s; /* as torch.relu: NaN stays NaN */
    }
}

/* out[i, :] = (relu_out)(add[i, :] + (x[i, :] @ w + b)), x rectified first when relu_in; w [k, m],
 * b and add optional; acc holds ROWS * m. out may be add (an update in place), never x. Zero
 * inputs (most, after a ReLU) are skipped: they add nothing, as the weights are finite (checked
 * when the weights are packed). */
static void NAME(affine)(const T *x, int ldx, int n, int k, const T *restrict w, int m, const T *b,
                         const T *add, int ldadd, int relu_in, int relu_out, T *out, int ldo,
                         T *restrict acc) {
    int i = 0;
    for (; i + ROWS <= n; i += ROWS) {
        T *restrict a0 = acc, *restrict a1 = acc + m, *restrict a2 = acc + 2 * m;
        T *restrict a3 = acc + 3 * m;
        memset(acc, 0, sizeof(T) * (size_t)ROWS * m);
        for (int p = 0; p < k; ++p) {
            T v0 = x[(size_t)i * ldx + p], v1 = x[(size_t)(i + 1) * ldx + p];
            T v2 = x[(size_t)(i + 2) * ldx + p], v3 = x[(size_t)(i + 3) * ldx + p];
            if (relu_in) {
                v0 = v0 < 0 ? 0 : v0, v1 = v1 < 0 ? 0 : v1, v2 = v2 < 0 ? 0 : v2, v3 = v3 < 0 ? 0 : v3;
            }
            if (v0 == 0 && v1 == 0 && v2 == 0 && v3 == 0) continue;
            const T *restrict wp = w + (size_t)p * m;
            for (int j = 0; j < m; ++j) {
                T wj = wp[j];
                a0[j] += v0 * wj, a1[j] += v1 * wj, a2[j] += v2 * wj, a3[j] += v3 * wj;
            }
        }
        for (int r = 0; r < ROWS; ++r)
            NAME(finish)(acc + (size_t)r * m, m, b, add ? add + (size_t)(i + r) * ldadd : 0,
                         relu_out, out + (size_t)(i + r) * ldo);
    }
    for (; i < n; ++i) {
        const T *xi = x + (size_t)i * ldx;
        memset(acc, 0, sizeof(T) * (size_t)m);
        for (int p = 0; p < k; ++p) {
            T v = relu_in && xi[p] < 0 ? 0 : xi[p];
            if (v == 0) continue;
            const T *restrict wp = w + (size_t)p * m;
            for (int j = 0; j < m; ++j) acc[j] += v * wp[j];
        }
        NAME(finish)(acc, m, b, add ? add + (size_t)i * ldadd : 0, relu_out, out + (size_t)i * ldo);
    }
}

/* Channels [0, channels) of the front's n = batch * count pixels, scaled: out [n, channels]. */
static void NAME(pixels)(const struct front *f, const int64_t *x, int channels, T *out) {
    for (int i = 0; i < f->n; ++i)
        for (int ch = 0; ch < channels; ++ch) {
            int64_t at = (i / f->count) * f->x_image + ch * f->x_channel + f->x_start +
                         (i % f->count) * f->x_step;
            T scaled = (T)x[at] * (T)f->scale; /* as PyTorch: a product, rounded, then - 1 */
            out[(size_t)i * channels + ch] = scaled - (T)1;
        }
}

/* Copy rows [n, features] to a cached map [batch, positions, features] (image stride) at the
 * front's positions start + k * step. */
static void NAME(store)(const struct front *f, const T *rows, int features, T *map, int64_t image,
                        int64_t start, int64_t step) {
    for (int i = 0; i < f->n; ++i)
        memcpy(map + (i / f->count) * image + (start + (i % f->count) * step) * features,
               rows + (size_t)i * features, sizeof(T) * (size_t)features);
}


/* Exported by every kernel library: the front's pixels, every channel scaled, stored in a
 * sampler's cached input map [batch, positions, colors] at positions start + k * step: what a
 * sampler does once a pixel's last channel is drawn. */
int NAME(store_pixels)(const struct front *f, const int64_t *x, int colors, T *map, int64_t image,
                       int64_t start, int64_t step, T *work) {
    NAME(pixels)(f, x, colors, work);
    NAME(store)(f, work, colors, map, image, start, step);
    return 0;
}

/* Exported by every kernel library: every layer's output at the front's pixels from its window
 * (w->rows x w->cols taps of w->in features, the centre tap zeroed in the weights), as
 * IncrementalConv.context: result [layers, n, out] = bias + window @ weight, weight [layers,
 * taps * in, out], bias [layers, out] or NULL. Returns 0, or 1 when out of memory. */
int NAME(conv_context)(const struct front *f, const struct conv_window *w, const T *map, const T *weight,
                       const T *bias, T *result) {
    const int n = f->n, width = w->rows * w->cols * w->in;
    T *rows = malloc(sizeof(T) * ((size_t)n * width + 1)), *acc = malloc(sizeof(T) * ((size_t)ROWS * w->out + 1));
    int status = !rows || !acc;
    for (int l = 0; !status && l < w->layers; ++l) {
        for (int i = 0; i < n; ++i) { /* the pixel's window, row by row, flattened */
            const T *top = map + l * w->layer + (i / f->count) * w->image +
                           (w->start + (i % f->count) * w->step) * w->in;
            for (int r = 0; r < w->rows; ++r)
                memcpy(rows + (size_t)i * width + (size_t)r * w->cols * w->in, top + r * w->width * w->in,
                       sizeof(T) * (size_t)w->cols * w->in);
        }
        NAME(affine)(rows, width, n, width, weight + (size_t)l * width * w->out, w->out,
                     bias ? bias + (size_t)l * w->out : 0, 0, 0, 0, 0, result + (size_t)l * n * w->out, w->out,
                     acc);
    }
    free(rows), free(acc);
    return status;
}
