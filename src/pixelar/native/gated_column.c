/* Gated PixelCNN's per-step work in one call: one colour channel's horizontal stack at a
 * pixel (every gated layer, the skips and the output head), what GatedPixelCNNSampler._column
 * in pixelar/models/gated_pixelcnn.py computes with ~60 PyTorch operations, in the same order
 * per output element (BLAS may sum the products in another order; tanh and the sigmoid are the
 * C library's), so the two agree to float rounding. The vertical stack, once per row, stays in
 * PyTorch. At the pixel's last channel it also stores the pixel and every later layer's input
 * in the sampler's cached maps.
 *
 * Built and loaded by pixelar/native/build.py; called through ctypes by pixelar/native/gated.py,
 * which documents the packed weight layout. The body (gated_column_body.h) is compiled once per
 * scalar type.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "front.h"

struct gated_dims {
    struct front front;
    int colors;   /* C: image channels */
    int features; /* p: features of each stack */
    int layers;   /* gated layers, the first included */
    int skips;    /* 1: the head reads the summed skip outputs, 0: the last horizontal stack */
    int params;   /* output parameters channel c reads */
    int ld_ctx;   /* row stride of the contexts */
    int64_t ctx_layer; /* stride of a layer in the contexts */
    /* the cached horizontal input maps [batch, positions, C] of the first layer and [layers - 1,
     * batch, positions, p] of the others: strides of a layer and an image, the pixel's position */
    int64_t first_image, first_start;
    int64_t rest_layer, rest_image, rest_start;
};

#define BODY "gated_column_body.h"
#include "per_type.h"
