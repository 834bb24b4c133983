/* The body of gated_column.c for one scalar type T; NAME(f) is f with the type's suffix. */

#include "linear.h"

/* out [n, p] = tanh(pre[:, :p]) * sigmoid(pre[:, p:]) for pre [n, 2p]: the gate. */
static void NAME(gate)(const T *pre, int n, int p, T *out) {
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < p; ++j) {
            T f = pre[(size_t)i * 2 * p + j], g = pre[(size_t)i * 2 * p + p + j];
            out[(size_t)i * p + j] = tanh(f) * ((T)1 / ((T)1 + exp(-g)));
        }
}

/* One step: channel c's parameters [n, params] into params_out. contexts [layers, n, >= 2p] are
 * every layer's horizontal pre-activations at the pixel without their centre taps (the vertical
 * stack's link and the class bias included). With first_map and rest_map (the pixel's last
 * channel) the pixel and every later layer's input are stored there. Returns 0, or 1 when out
 * of memory. */
int NAME(gated_column)(const struct gated_dims *d, const T *weights, const T *contexts, const int64_t *x,
                       T *params_out, T *first_map, T *rest_map) {
    const struct front *f = &d->front;
    const int n = f->n, p = d->features, colors = d->colors, layers = d->layers;
    const int widest = 2 * p > d->params ? 2 * p : d->params;
    /* (+ 1: never malloc(0), which may return NULL) */
    T *pixels = calloc((size_t)n * colors + 1, sizeof(T)), *pre = malloc(sizeof(T) * ((size_t)n * 2 * p + 1));
    T *value = malloc(sizeof(T) * ((size_t)n * p + 1)), *gated = malloc(sizeof(T) * ((size_t)n * p + 1));
    T *skips = malloc(sizeof(T) * ((size_t)n * p + 1)), *hidden = malloc(sizeof(T) * ((size_t)n * p + 1));
    T *acc = malloc(sizeof(T) * ((size_t)ROWS * widest + 1));
    int status = !pixels || !pre || !value || !gated || !skips || !hidden || !acc;
    if (status) goto done;
    const T *centre0 = weights;                             /* [C, 2p] */
    const T *rest = centre0 + (size_t)colors * 2 * p;       /* per later layer: centre [p, 2p], out [p, p], bias [p] */
    const size_t rest_size = (size_t)p * 2 * p + (size_t)p * p + p;
    const T *skip = rest + (size_t)(layers - 1) * rest_size; /* per layer: [p, p], bias [p] */
    const size_t skip_size = (size_t)p * p + p;
    const T *head = skip + (d->skips ? (size_t)layers * skip_size : 0);
    /* the first layer: its context plus the centre tap (mask A) on the pixel's channels */
    NAME(pixels)(f, x, colors, pixels);
    NAME(affine)(pixels, colors, n, colors, centre0, 2 * p, 0, contexts, d->ld_ctx, 0, 0, pre, 2 * p, acc);
    NAME(gate)(pre, n, p, value);
    if (d->skips) NAME(affine)(value, p, n, p, skip, p, skip + (size_t)p * p, 0, 0, 0, 0, skips, p, acc);
    for (int l = 1; l < layers; ++l) {
        const T *centre = rest + (size_t)(l - 1) * rest_size, *out_w = centre + (size_t)p * 2 * p;
        const T *out_b = out_w + (size_t)p * p;
        if (rest_map) NAME(store)(f, value, p, rest_map + (l - 1) * d->rest_layer, d->rest_image, d->rest_start, 1);
        NAME(affine)(value, p, n, p, centre, 2 * p, 0, contexts + l * d->ctx_layer, d->ld_ctx, 0, 0, pre, 2 * p, acc);
        NAME(gate)(pre, n, p, gated);
        NAME(affine)(gated, p, n, p, out_w, p, out_b, value, p, 0, 0, value, p, acc); /* residual */
        if (d->skips) {
            const T *skip_w = skip + (size_t)l * skip_size;
            NAME(affine)(gated, p, n, p, skip_w, p, skip_w + (size_t)p * p, skips, p, 0, 0, skips, p, acc);
        }
    }
    /* the head: relu, 1x1, relu, 1x1 (channel c's parameters) */
    const T *hidden_w = head, *hidden_b = hidden_w + (size_t)p * p;
    const T *out_w = hidden_b + p, *out_b = out_w + (size_t)p * d->params;
    NAME(affine)(d->skips ? skips : value, p, n, p, hidden_w, p, hidden_b, 0, 0, 1, 1, hidden, p, acc);
    NAME(affine)(hidden, p, n, p, out_w, d->params, out_b, 0, 0, 0, 0, params_out, d->params, acc);
    if (first_map) NAME(store)(f, pixels, colors, first_map, d->first_image, d->first_start, 1);
done:
    free(pixels), free(pre), free(value), free(gated), free(skips), free(hidden), free(acc);
    return status;
}
