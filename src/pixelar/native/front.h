/* What every sampling kernel is told about its step's pixels (pixelar/native/kernels.py: Front). */

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

#define ROWS 4 /* rows computed together: each weight row is loaded once for all of them */

#endif
