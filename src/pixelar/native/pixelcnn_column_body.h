/* The body of pixelcnn_column.c for one scalar type T; NAME(f) is f with the type's suffix. */

#include "linear.h"

/* One step: channel c's parameters [n, params] into params_out. y0 [n, >= wide] is the input
 * layer's output at the pixels without its centre tap; contexts [layers, n, >= narrow] the
 * blocks' 3x3 outputs without theirs; biases [layers + 1, batch, >= wide] the class biases (or
 * NULL). With input_map and blocks_map (the pixels' last channel, where narrow is every feature)
 * the pixels and every block's 3x3 input are stored there. Returns 0, or 1 when out of memory. */
int NAME(pixelcnn_column)(const struct column_dims *d, const T *weights, const T *y0,
                          const int64_t *x, const T *contexts, const T *biases, T *params_out,
                          T *input_map, T *blocks_map) {
    const int n = d->front.n, wide = d->wide, narrow = d->narrow, colors = d->colors;
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
        NAME(pixels)(&d->front, x, d->channels, pixels);
        NAME(affine)(pixels, d->channels, n, d->channels, w, wide, 0, y0, d->ld_y, 0, 0, y, wide, acc);
        w += (size_t)d->channels * wide;
    } else {
        for (int i = 0; i < n; ++i) memcpy(y + (size_t)i * wide, y0 + (size_t)i * d->ld_y, sizeof(T) * (size_t)wide);
    }
    for (int l = 0; l <= d->layers; ++l) {
        if (biases) { /* the class bias of block l (l = layers: of the head) */
            const T *bl = biases + l * d->bias_layer;
            for (int i = 0; i < n; ++i) {
                const T *bi = bl + (size_t)(i / d->front.count) * d->ld_bias;
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
            NAME(store)(&d->front, a, narrow, blocks_map + l * d->blocks_layer, d->blocks_image, d->blocks_start,
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
    if (input_map) /* the pixels (their last channel is stored again once drawn: store_pixels) */
        NAME(store_pixels)(&d->front, x, colors, input_map, d->input_image, d->input_start, d->input_step, pixels);
done:
    free(y), free(a), free(pre), free(acc), free(pixels), free(hidden);
    return status;
}
