/* What every sampling kernel is told about its step: its pixels (pixelar/native/kernels.py: Front)
 * and, for the cached convolutions, their windows (ConvWindow). */

#ifndef PIXELAR_FRONT_H
#define PIXELAR_FRONT_H

#include <stdint.h>

struct front {
    int n;     /* pixels in the step: batch * count, image-major */
    int count; /* pixels per image */
    /* the images x [batch, C, H, W] (int64 levels): strides of an image and a channel; the
     * front's pixels lie at x_start + k * x_step of a channel's flattened map */
    int64_t x_image, x_channel, x_start, x_step;
    double scale; /* level v enters the network as v * scale - 1 (distributions.scale_levels) */
};

/* A stack of masked convolutions read at a front's pixels (pixelar.incremental.IncrementalConv):
 * their input maps [layers, batch, positions, in] with a window of rows x cols positions (row
 * stride `width`) whose top-left is at start + k * step for the front's k-th pixel. */
struct conv_window {
    int layers, in, out, rows, cols;
    int64_t layer, image, start, step, width;
};

#endif
