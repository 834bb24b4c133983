"""Lossless compression with a trained model: its exact conditionals drive a range coder
(``constriction``), so a file costs about the model's NLL in bits, plus a few bytes.

The parts:

* :mod:`pixelar.codec.format` — the file format (format 5; format 4 is still read): the header,
  the chunks and their checks, the bounds a file is held to before any symbol is decoded;
* :mod:`pixelar.codec.schedule` — the decoder's work: what a payload buys, and the intermediate
  checks of a large chunk (so a few bytes never buy hours of decoding);
* :mod:`pixelar.codec.fingerprint` — the model's fingerprint, which names the model in a file;
* :mod:`pixelar.codec.rangecoder` — the range coder: big-endian words and the trimmed tail;
* :mod:`pixelar.codec.coding` — the coding loop: the model's conditionals, in the stepper's
  order, handed to the range coder;
* :mod:`pixelar.codec.compress` — :func:`encode`, and :func:`image_nll_bits` (the ideal size);
* :mod:`pixelar.codec.decompress` — :func:`decode_images`, :func:`decode`,
  :func:`decode_labels`, and what they refuse before decoding.

Determinism: encoder and decoder run the same code path on the same partially known image,
so the probabilities are bit-identical on the same set-up (PyTorch build, device, dtype,
thread count). Across set-ups floating-point results can differ, which the checks turn into
a clear error. In portable mode (``portable=True``) the probabilities come from an integer
network and integer tables, identical on every set-up (see :mod:`pixelar.portable`).

Any image size from 1×1 up to :data:`~pixelar.models.base.MAX_SIDE` per side is coded with the
model's weights unchanged (:meth:`~pixelar.models.base.AutoregressiveModel.at_size`).
"""

from __future__ import annotations

from pixelar.codec.coding import _code as _code
from pixelar.codec.coding import _integer_network as _integer_network
from pixelar.codec.coding import _probabilities as _probabilities
from pixelar.codec.compress import _as_list as _as_list
from pixelar.codec.compress import encode, image_nll_bits
from pixelar.codec.decompress import _check_against_model as _check_against_model
from pixelar.codec.decompress import decode, decode_images, decode_labels
from pixelar.codec.fingerprint import images_digest, model_fingerprint
from pixelar.codec.format import (
    CHECK_SIZE,
    CHUNK,
    DTYPE_SHIFT,
    DTYPES,
    FLAG_COUNT,
    FLAG_FAST,
    FLAG_LABELS,
    FLAG_PORTABLE,
    MAGIC,
    MAX_SUBPIXELS,
    MODEL_ID,
    OLD_MAGIC,
    OLDEST,
    SIZE_EACH,
    SIZE_MODEL,
    SIZE_ONE,
    SIZE_SHIFT,
    TRIM_WINDOW,
    VERSION,
    Header,
    max_chunks,
    read_header,
)
from pixelar.codec.format import _chunk_check as _chunk_check
from pixelar.codec.format import _chunks as _chunks
from pixelar.codec.format import _read_varint as _read_varint
from pixelar.codec.format import _varint as _varint
from pixelar.codec.rangecoder import TRIM_BUFFER, TRIM_MARGIN
from pixelar.codec.rangecoder import _coder as _coder
from pixelar.codec.rangecoder import _constriction as _constriction
from pixelar.codec.rangecoder import _family as _family
from pixelar.codec.rangecoder import _Stream as _Stream
from pixelar.codec.rangecoder import _uniform as _uniform
from pixelar.codec.rangecoder import _words as _words

__all__ = [
    "CHECK_SIZE",
    "CHUNK",
    "DTYPES",
    "DTYPE_SHIFT",
    "FLAG_COUNT",
    "FLAG_FAST",
    "FLAG_LABELS",
    "FLAG_PORTABLE",
    "MAGIC",
    "MAX_SUBPIXELS",
    "MODEL_ID",
    "OLDEST",
    "OLD_MAGIC",
    "SIZE_EACH",
    "SIZE_MODEL",
    "SIZE_ONE",
    "SIZE_SHIFT",
    "TRIM_BUFFER",
    "TRIM_MARGIN",
    "TRIM_WINDOW",
    "VERSION",
    "Header",
    "decode",
    "decode_images",
    "decode_labels",
    "encode",
    "image_nll_bits",
    "images_digest",
    "max_chunks",
    "model_fingerprint",
    "read_header",
]
