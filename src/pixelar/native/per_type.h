/* Compiles the kernel body named by BODY once per scalar type: T float with NAME(f) = f_f32,
 * T double with NAME(f) = f_f64. A kernel source defines BODY and includes this last. */

#define T float
#define NAME(name) name##_f32
#include BODY
#undef T
#undef NAME

#define T double
#define NAME(name) name##_f64
#include BODY
#undef T
#undef NAME
