/* The body of pixelcnn_column.c for one scalar type T; NAME(f) is f with the type's suffix. */

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

/* Channels [0, channels) of the front's pixels, scaled: out [n, channels]. */
static void NAME(pixels)(const struct column_dims *d, const int64_t *x, int channels, T *out) {
    for (int i = 0; i < d->n; ++i)
        for (int ch = 0; ch < channels; ++ch) {
            int64_t at = (i / d->count) * d->x_image + ch * d->x_channel + d->x_start +
                         (i % d->count) * d->x_step;
            T scaled = (T)x[at] * (T)d->scale; /* as PyTorch: a product, rounded, then - 1 */
            out[(size_t)i * channels + ch] = scaled - (T)1;
        }
}

/* Copy rows [n, features] to a cached map at the front's positions (image stride, start, step). */
static void NAME(store)(const struct column_dims *d, const T *rows, int features, T *map,
                        int64_t image, int64_t start, int64_t step) {
    for (int i = 0; i < d->n; ++i)
        memcpy(map + (i / d->count) * image + (start + (i % d->count) * step) * features,
               rows + (size_t)i * features, sizeof(T) * (size_t)features);
}

/* One step: channel c's parameters [n, params] into params_out. y0 [n, >= wide] is the input
 * layer's output at the pixels without its centre tap; contexts [layers, n, >= narrow] the
 * blocks' 3x3 outputs without theirs; biases [layers + 1, batch, >= wide] the class biases (or
 * NULL). With input_map and blocks_map (the pixels' last channel, where narrow is every feature)
 * the pixels and every block's 3x3 input are stored there. Returns 0, or 1 when out of memory. */
int NAME(pixelcnn_column)(const struct column_dims *d, const T *weights, const T *y0,
                          const int64_t *x, const T *contexts, const T *biases, T *params_out,
                          T *input_map, T *blocks_map) {
    const int n = d->n, wide = d->wide, narrow = d->narrow, colors = d->colors;
    const int widest = wide > d->params ? wide : d->params;
    /* (+ 1: never malloc(0), which may return NULL) */
    T *y = malloc(sizeof(T) * ((size_t)n * wide + 1)), *a = malloc(sizeof(T) * ((size_t)n * narrow + 1));
    T *pre = malloc(sizeof(T) * ((size_t)n * narrow + 1)), *acc = malloc(sizeof(T) * ((size_t)ROWS * widest + 1));
    T *pixels = malloc(sizeof(T) * ((size_t)n * colors + 1)), *hidden = malloc(sizeof(T) * ((size_t)n * wide + 1));
    int status = !y || !a || !pre || !acc || !pixels || !hidden;
    if (status) goto done;
    const T *w = weights;
    /* the input layer: its context plus the centre tap on the channels < c */
    if (d->channels > 0) {
        NAME(pixels)(d, x, d->channels, pixels);
        NAME(affine)(pixels, d->channels, n, d->channels, w, wide, 0, y0, d->ld_y, 0, 0, y, wide, acc);
        w += (size_t)d->channels * wide;
    } else {
        for (int i = 0; i < n; ++i) memcpy(y + (size_t)i * wide, y0 + (size_t)i * d->ld_y, sizeof(T) * (size_t)wide);
    }
    for (int l = 0; l <= d->layers; ++l) {
        if (biases) { /* the class bias of block l (l = layers: of the head) */
            const T *bl = biases + l * d->bias_layer;
            for (int i = 0; i < n; ++i) {
                const T *bi = bl + (size_t)(i / d->count) * d->ld_bias;
                for (int j = 0; j < wide; ++j) y[(size_t)i * wide + j] += bi[j];
            }
        }
        if (l == d->layers) break;
        const T *reduce_w = w, *reduce_b = reduce_w + (size_t)wide * narrow;
        const T *centre_w = reduce_b + narrow, *expand_w = centre_w + (size_t)narrow * narrow;
        const T *expand_b = expand_w + (size_t)narrow * wide;
        w = expand_b + wide;
        NAME(affine)(y, wide, n, wide, reduce_w, narrow, reduce_b, 0, 0, 1, 1, a, narrow, acc);
        if (blocks_map)
            NAME(store)(d, a, narrow, blocks_map + l * d->blocks_layer, d->blocks_image, d->blocks_start,
                        d->blocks_step);
        NAME(affine)(a, narrow, n, narrow, centre_w, narrow, 0, contexts + l * d->ctx_layer,
                     d->ld_ctx, 0, 1, pre, narrow, acc);
        NAME(affine)(pre, narrow, n, narrow, expand_w, wide, expand_b, y, wide, 0, 0, y, wide, acc);
    }
    /* the head: relu, 1x1, relu, 1x1 */
    const T *hidden_w = w, *hidden_b = hidden_w + (size_t)wide * wide;
    const T *out_w = hidden_b + wide, *out_b = out_w + (size_t)wide * d->params;
    NAME(affine)(y, wide, n, wide, hidden_w, wide, hidden_b, 0, 0, 1, 1, hidden, wide, acc);
    NAME(affine)(hidden, wide, n, wide, out_w, d->params, out_b, 0, 0, 0, 0, params_out, d->params, acc);
    if (input_map) { /* every channel of the pixels is final now */
        NAME(pixels)(d, x, colors, pixels);
        NAME(store)(d, pixels, colors, input_map, d->input_image, d->input_start, d->input_step);
    }
done:
    free(y), free(a), free(pre), free(acc), free(pixels), free(hidden);
    return status;
}
