"""Loading a saved model: its directory's config names a registered family, which is built
and given the directory's weights (read with safetensors: no code from the file runs)."""

from __future__ import annotations

from pathlib import Path

import torch

from pixelar.checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_model_config, resolve_model_dir
from pixelar.errors import PixelarError
from pixelar.models.base import AutoregressiveModel
from pixelar.registry import create_model


def load(path: str | Path, device: str | torch.device = "cpu") -> AutoregressiveModel:
    """Load a model saved with ``save_pretrained`` (or the model of a training run).

    The weights are read with safetensors, which never executes code from the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = resolve_model_dir(path)
    name, config = read_model_config(directory)
    try:
        model = create_model(name, **config)
    except PixelarError as e:
        raise PixelarError(f"{directory / CONFIG_FILE} has an invalid config ({e})") from None
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        first = (str(e).splitlines() or [""])[0][:100]
        raise PixelarError(
            f"{directory / CONFIG_FILE} has an invalid config ({e.__class__.__name__}: {first})"
        ) from None
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise PixelarError(f"{weights} is missing; copy the whole model directory")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        first = (str(e).splitlines() or [e.__class__.__name__])[0][:80]
        raise PixelarError(f"{weights} is corrupt or truncated ({first}); re-copy or retrain the model") from None
    dtype = next(iter(state.values())).dtype if state else torch.float32
    if not dtype.is_floating_point:
        raise PixelarError(f"{weights} holds {dtype} weights, not floats: it is corrupt; re-copy or retrain the model")
    model.to(dtype)
    try:
        model.load_state_dict(state)
    except RuntimeError:
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        shapes = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
        what = "; ".join(
            f"{label} {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", extra), ("other shape", shapes))
            if keys
        )
        raise PixelarError(
            f"{weights} does not match the config in {directory / CONFIG_FILE} ({what}): the directory is "
            "damaged or was written by another pixelar version; retrain or re-save the model"
        ) from None
    return model.to(device).eval()
