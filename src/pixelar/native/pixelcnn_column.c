/* PixelCNN's per-step work in one call: one colour channel's column (every residual block and
 * the output head at a front's n pixels), what PixelCNNSampler._column in
 * pixelar/models/pixelcnn.py computes with ~50 PyTorch operations, in the same order per output
 * element (the products summed, then the bias, then the addend; BLAS may sum the products in
 * another order), so the two agree to float rounding. At the pixels' last channel it also stores the pixels and every
 * block's 3x3 input in the sampler's cached maps, which later steps read.
 *
 * Built and loaded by pixelar/native/build.py; called through ctypes by
 * pixelar/native/pixelcnn.py, which documents the packed weight layout. Matrices are row-major;
 * ld* are row strides in elements. The body (pixelcnn_column_body.h) is compiled once per scalar
 * type.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"

struct column_dims {
    struct front front;
    int channels; /* c: image channels before the current one (the input layer's centre tap) */
    int colors;   /* C: image channels */
    int wide;     /* residual-stream features of colour groups <= c */
    int narrow;   /* block features of colour groups <= c */
    int layers;   /* residual blocks */
    int params;   /* output parameters channel c reads */
    int ld_y;     /* row stride of the input layer's context y0 */
    int ld_ctx;   /* row stride of the blocks' contexts */
    int ld_bias;  /* row stride of the class biases */
    int64_t ctx_layer, bias_layer; /* strides of a layer in the contexts and the class biases */
    /* the cached maps [batch, positions, features] of the input layer and [layers, batch,
     * positions, features] of the blocks: strides of a layer (blocks) and an image, and the
     * front's positions start + k * step */
    int64_t input_image, input_start, input_step;
    int64_t blocks_layer, blocks_image, blocks_start, blocks_step;
};

#define BODY "pixelcnn_column_body.h"
#include "per_type.h"
