/* PixelCNN's per-step work in one call: one colour channel's column (every residual block and
 * the output head at a front's n pixels), what pixelar.models.pixelcnn.column_features computes
 * with ~50 PyTorch operations. The same arithmetic in the same order per output element (sums
 * over the inputs in index order, then the bias), so the results agree with PyTorch's to float
 * rounding. Built and loaded by pixelar/native/build.py; called through ctypes by
 * pixelar/native/pixelcnn.py, which documents the packed weight layout.
 *
 * All matrices are row-major; ld* are row strides in elements. Compiled once per scalar type.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct column_dims {
    int n;        /* pixels in the step: batch * count, image-major */
    int count;    /* pixels per image (class biases are per image) */
    int channels; /* c: input channels below the current one (mask A centre tap), 0 for c = 0 */
    int wide;     /* residual-stream features of colour groups <= c */
    int narrow;   /* block features of colour groups <= c */
    int layers;   /* residual blocks */
    int params;   /* output parameters channel c reads */
    int ld_y;     /* row stride of the input layer's context y0 */
    int ld_ctx;   /* row stride of the blocks' contexts */
    int ld_bias;  /* row stride of the class biases (0: none) */
    /* the images x [batch, C, H, W] (int64 levels): strides of an image and a channel, and the
     * front's pixels at start + i * step of a channel's flattened map */
    int64_t x_image, x_channel, x_start, x_step;
    double scale; /* level k enters the network as k * scale - 1 (pixelar.distributions.scale_levels) */
};

#define ROWS 4 /* rows computed together: each weight row is loaded once for all of them */

#define DEFINE_COLUMN(T, SUFFIX)                                                                  \
    /* The epilogue of row i: out[i, :] = (relu_out)(add[i, :] + (acc + b)). */                   \
    static void finish_##SUFFIX(const T *acc, int m, const T *b, const T *add, int relu_out,      \
                                T *o) {                                                           \
        for (int j = 0; j < m; ++j) {                                                             \
            T s = b ? b[j] + acc[j] : acc[j];                                                     \
            if (add) s = add[j] + s;                                                              \
            o[j] = relu_out && !(s > 0) ? (T)0 : s;                                               \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    /* out[i, :] = (relu_out)(add[i, :] + (x[i, :] @ w + b)), x rectified first when relu_in;    \
     * w [k, m]; acc holds ROWS * m. out may be add (an update in place), never x. Zero inputs    \
     * (most, after a ReLU) are skipped: they add nothing. */                                     \
    static void affine_##SUFFIX(const T *x, int ldx, int n, int k, const T *restrict w, int m,   \
                                const T *b, const T *add, int ldadd, int relu_in, int relu_out,   \
                                T *out, int ldo, T *restrict acc) {                               \
        int i = 0;                                                                                \
        for (; i + ROWS <= n; i += ROWS) {                                                        \
            T *restrict a0 = acc, *restrict a1 = acc + m, *restrict a2 = acc + 2 * m;             \
            T *restrict a3 = acc + 3 * m;                                                         \
            memset(acc, 0, sizeof(T) * (size_t)ROWS * m);                                         \
            for (int p = 0; p < k; ++p) {                                                         \
                T v0 = x[(size_t)i * ldx + p], v1 = x[(size_t)(i + 1) * ldx + p];                \
                T v2 = x[(size_t)(i + 2) * ldx + p], v3 = x[(size_t)(i + 3) * ldx + p];           \
                if (relu_in) {                                                                    \
                    v0 = v0 > 0 ? v0 : 0, v1 = v1 > 0 ? v1 : 0;                                   \
                    v2 = v2 > 0 ? v2 : 0, v3 = v3 > 0 ? v3 : 0;                                   \
                }                                                                                 \
                if (v0 == 0 && v1 == 0 && v2 == 0 && v3 == 0) continue;                           \
                const T *restrict wp = w + (size_t)p * m;                                         \
                for (int j = 0; j < m; ++j) {                                                     \
                    T wj = wp[j];                                                                 \
                    a0[j] += v0 * wj, a1[j] += v1 * wj, a2[j] += v2 * wj, a3[j] += v3 * wj;       \
                }                                                                                 \
            }                                                                                     \
            for (int r = 0; r < ROWS; ++r)                                                        \
                finish_##SUFFIX(acc + (size_t)r * m, m, b,                                        \
                                add ? add + (size_t)(i + r) * ldadd : 0, relu_out,                \
                                out + (size_t)(i + r) * ldo);                                     \
        }                                                                                         \
        for (; i < n; ++i) {                                                                      \
            const T *xi = x + (size_t)i * ldx;                                                    \
            memset(acc, 0, sizeof(T) * (size_t)m);                                                \
            for (int p = 0; p < k; ++p) {                                                         \
                T v = relu_in && !(xi[p] > 0) ? 0 : xi[p];                                        \
                if (v == 0) continue;                                                             \
                const T *restrict wp = w + (size_t)p * m;                                         \
                for (int j = 0; j < m; ++j) acc[j] += v * wp[j];                                  \
            }                                                                                     \
            finish_##SUFFIX(acc, m, b, add ? add + (size_t)i * ldadd : 0, relu_out,               \
                            out + (size_t)i * ldo);                                               \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    /* Returns 0, or 1 when out of memory. weights: see pixelar/native/pixelcnn.py. */           \
    int pixelcnn_column_##SUFFIX(const struct column_dims *d, const T *weights, const T *y0,      \
                                 const int64_t *x, const T *contexts, const T *biases,            \
                                 T *params_out, T *inputs_out) {                                  \
        const int n = d->n, wide = d->wide, narrow = d->narrow;                                   \
        int widest = wide > d->params ? wide : d->params;                                         \
        T *y = malloc(sizeof(T) * (size_t)n * wide);                                              \
        T *a = malloc(sizeof(T) * (size_t)n * narrow);                                            \
        T *pre = malloc(sizeof(T) * (size_t)n * narrow);                                          \
        T *acc = malloc(sizeof(T) * (size_t)ROWS * widest);                                              \
        if (!y || !a || !pre || !acc) {                                                           \
            free(y), free(a), free(pre), free(acc);                                               \
            return 1;                                                                             \
        }                                                                                         \
        const T *w = weights;                                                                     \
        /* the input layer: its context plus the centre tap on the channels < c, scaled */       \
        if (d->channels > 0) {                                                                    \
            T *pixels = malloc(sizeof(T) * (size_t)n * d->channels);                              \
            if (!pixels) {                                                                        \
                free(y), free(a), free(pre), free(acc);                                           \
                return 1;                                                                         \
            }                                                                                     \
            for (int i = 0; i < n; ++i)                                                           \
                for (int ch = 0; ch < d->channels; ++ch) {                                        \
                    int64_t at = (i / d->count) * d->x_image + ch * d->x_channel + d->x_start +   \
                                 (i % d->count) * d->x_step;                                      \
                    T scaled = (T)x[at] * (T)d->scale;                                            \
                    pixels[(size_t)i * d->channels + ch] = scaled - (T)1;                         \
                }                                                                                 \
            affine_##SUFFIX(pixels, d->channels, n, d->channels, w, wide, 0, y0, d->ld_y, 0, 0,  \
                            y, wide, acc);                                                        \
            free(pixels);                                                                         \
            w += (size_t)d->channels * wide;                                                      \
        } else {                                                                                  \
            for (int i = 0; i < n; ++i) memcpy(y + (size_t)i * wide, y0 + (size_t)i * d->ld_y,   \
                                               sizeof(T) * (size_t)wide);                         \
        }                                                                                         \
        for (int l = 0; l <= d->layers; ++l) {                                                    \
            if (d->ld_bias) { /* the class bias of block l (l = layers: of the head) */           \
                const T *bl = biases + (size_t)l * (n / d->count) * d->ld_bias;                   \
                for (int i = 0; i < n; ++i) {                                                     \
                    const T *bi = bl + (size_t)(i / d->count) * d->ld_bias;                       \
                    for (int j = 0; j < wide; ++j) y[(size_t)i * wide + j] += bi[j];              \
                }                                                                                 \
            }                                                                                     \
            if (l == d->layers) break;                                                            \
            const T *reduce_w = w, *reduce_b = reduce_w + (size_t)wide * narrow;                  \
            const T *centre_w = reduce_b + narrow, *expand_w = centre_w + (size_t)narrow * narrow; \
            const T *expand_b = expand_w + (size_t)narrow * wide;                                 \
            w = expand_b + wide;                                                                  \
            T *inputs = inputs_out ? inputs_out + (size_t)l * n * narrow : a;                     \
            affine_##SUFFIX(y, wide, n, wide, reduce_w, narrow, reduce_b, 0, 0, 1, 1, inputs,     \
                            narrow, acc);                                                         \
            affine_##SUFFIX(inputs, narrow, n, narrow, centre_w, narrow, 0,                       \
                            contexts + (size_t)l * n * d->ld_ctx, d->ld_ctx, 0, 1, pre, narrow,   \
                            acc);                                                                 \
            affine_##SUFFIX(pre, narrow, n, narrow, expand_w, wide, expand_b, y, wide, 0, 0, y,   \
                            wide, acc);                                                           \
        }                                                                                         \
        /* the head: relu, 1x1, relu, 1x1 */                                                      \
        const T *hidden_w = w, *hidden_b = hidden_w + (size_t)wide * wide;                        \
        const T *out_w = hidden_b + wide, *out_b = out_w + (size_t)wide * d->params;              \
        T *hidden = malloc(sizeof(T) * (size_t)n * wide);                                         \
        if (!hidden) {                                                                            \
            free(y), free(a), free(pre), free(acc);                                               \
            return 1;                                                                             \
        }                                                                                         \
        affine_##SUFFIX(y, wide, n, wide, hidden_w, wide, hidden_b, 0, 0, 1, 1, hidden, wide,    \
                        acc);                                                                     \
        affine_##SUFFIX(hidden, wide, n, wide, out_w, d->params, out_b, 0, 0, 0, 0, params_out,   \
                        d->params, acc);                                                          \
        free(y), free(a), free(pre), free(acc), free(hidden);                                     \
        return 0;                                                                                 \
    }

DEFINE_COLUMN(float, f32)
DEFINE_COLUMN(double, f64)
