"""Named training set-ups: the papers' configurations and a quick CPU demo.

A preset gives a model, its hyperparameters, a dataset and training settings; command-line
flags override any of them. Where a paper does not state a value it is marked *unsure*.
"""

from __future__ import annotations

from typing import Any

from pixelar.errors import PixelarError

# The CPU recipe of the "-fast" presets (an hour of Adam 1e-3 after a 200-step warm-up, batch 32, the
# weights' warmed-up moving average evaluated): see mnist-fast.
CPU_HOUR: dict[str, Any] = {
    "batch_size": 32,
    "lr": 1e-3,
    "warmup_steps": 200,
    "ema": 0.999,
    "steps": 1_000_000,
    "max_minutes": 60,
}

# The recipe of the 8-bit 28×28 presets below (fashion-mnist-fast and the others): see there.
OOD_RECIPE: dict[str, Any] = CPU_HOUR | {
    "model": "pixelcnn++",
    "model_args": {"num_layers": 2, "hidden_channels": 32, "num_components": 5, "dropout": 0.0},
    "eval_every": 1_000,
    "eval_images": 1_000,
}

# What a background model changes in OOD_RECIPE (see fashion-mnist-background).
BACKGROUND: dict[str, Any] = {
    "perturb": 0.7,
    "clean_targets": True,
    "optimizer": "adamw",
    "weight_decay": 1.0,
    "max_minutes": 8,
}

PRESETS: dict[str, dict[str, Any]] = {
    # About 3 minutes on 2 idle CPU cores (~5 steps/s): a PixelCNN (6 residual blocks, h = 32) on
    # the bundled binary digits. A fixed number of steps, not a time budget, so the NLL it prints
    # does not depend on the machine's load; every 150 steps the test NLL of 100 test images is
    # logged, and at the end that of the whole test split (loss.png plots both).
    "demo": {
        "model": "pixelcnn",
        "model_args": {"num_layers": 6, "hidden_channels": 32},
        "data": "digits-binary",
        "batch_size": 32,
        "steps": 900,
        "eval_every": 150,
        "eval_images": 100,
        "lr": 1e-3,
    },
    # The model shipped as pretrained "digits-binary" (pixelar.pretrained): a Gated PixelCNN
    # (10 gated layers, h = 32, vertical stack reading 2 rows above) on the bundled binary digits;
    # a fixed number of steps, so the weights do not depend on the machine's load.
    "digits-binary-pretrained": {
        "model": "gated-pixelcnn",
        "model_args": {"num_layers": 10, "hidden_channels": 32, "vertical_rows": 2},
        "data": "digits-binary",
        "batch_size": 32,
        "steps": 2000,
        "eval_every": 500,
        "eval_images": 100,
        "lr": 1e-3,
        "ema": 0.999,
    },
    # pixelar's fastest recipe to a good binarized-MNIST NLL on 2 CPU cores (benchmarks/bench_mnist.py
    # measures it against the peers): a Gated PixelCNN 10 × 32 whose vertical stack reads 2 rows above
    # per layer, on dynamically binarized MNIST, Adam 1e-3 after a 200-step warm-up, batch 32, the
    # weights' moving average (0.999, warmed up) evaluated; 60 minutes of training.
    "mnist-fast": CPU_HOUR
    | {
        "model": "gated-pixelcnn",
        "model_args": {"num_layers": 10, "hidden_channels": 32, "vertical_rows": 2},
        "data": "mnist-dynamic",
        "eval_every": 2_000,
        "eval_images": 2_000,
    },
    # pixelar's recipe for 8-bit Fashion-MNIST on 2 CPU cores, shipped as pretrained "fashion-mnist" and
    # the in-distribution model of benchmarks/bench_ood.py: a small PixelCNN++ (2 gated layers per block,
    # h = 32, 5 logistic components, no dropout: it sees about 2 epochs), Adam 1e-3 after a 200-step
    # warm-up, batch 32, the weights' moving average evaluated; 60 minutes of training.
    "fashion-mnist-fast": OOD_RECIPE | {"data": "fashion-mnist"},
    # The background model of the likelihood-ratio score (Ren et al. 2019) for fashion-mnist-fast,
    # shipped as pretrained "fashion-mnist-background": the same network predicting the clean images
    # from inputs whose pixels are replaced by noise at rate μ = 0.7 (clean_targets; Ren et al. score
    # the perturbed images, μ = 0.2, which benchmarks/bench_ood.py measures beside), kept weak (AdamW's
    # decoupled weight decay 1.0 for Ren et al.'s L2 penalty, 8 minutes). μ, clean targets and the
    # minutes were chosen by the AUROC on Fashion-MNIST → letters, the validation pair (a sweep of
    # μ 0.05-0.9 and 4-60 minutes on the first 1,000 test images of each, the Fashion-MNIST ones also
    # in the benchmark's other pairs; it printed MNIST's AUROC beside).
    "fashion-mnist-background": OOD_RECIPE | BACKGROUND | {"data": "fashion-mnist"},
    # The same two for 8-bit MNIST, shipped as pretrained "mnist" and "mnist-background".
    "mnist-8bit-fast": OOD_RECIPE | {"data": "mnist"},
    "mnist-8bit-background": OOD_RECIPE | BACKGROUND | {"data": "mnist"},
    # The page codec's template model (pixelar.codec.pages), shipped as pretrained "ccitt-pages":
    # a PixelCNN with no residual blocks whose 15×15 mask-A template (7 rows above, 7 pixels left)
    # feeds a 64-wide MLP, trained on the 128×128 tiles of bilevel pages. `data` is the folder of
    # the pages: `pixelar train --preset ccitt-pages --data folder:DATA/ccitt` (the CCITT pages:
    # python benchmarks/fetch_data.py --sets ccitt); about 15 minutes on one CPU thread.
    "ccitt-pages": {
        "model": "pixelcnn",
        "model_args": {"num_layers": 0, "hidden_channels": 32, "input_kernel": 15},
        "data": "folder:ccitt",
        "tiles": True,
        "image_size": 128,
        "levels": 2,
        "channels": 1,
        "batch_size": 16,
        "steps": 1_000,
        "lr": 0.002,
        "eval_every": 0,
        "num_samples": 0,
        "checkpoint_every": 500,
    },
    # PixelRNN paper, Table 4 (81.30 nats): 15 masked layers (7×7 A + 14 blocks); width *unsure*.
    "pixelcnn-mnist": {
        "model": "pixelcnn",
        "model_args": {"num_layers": 14, "hidden_channels": 32},
        "data": "binarized-mnist",
        "batch_size": 16,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "steps": 200_000,
        "eval_every": 5_000,
    },
    # PixelRNN paper, Table 5 (3.14 bits/dim): 15 masked layers, h = 128 (*unsure*), 256-way softmax.
    "pixelcnn-cifar10": {
        "model": "pixelcnn",
        "model_args": {"num_layers": 14, "hidden_channels": 128},
        "data": "cifar10",
        "batch_size": 16,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "steps": 500_000,
        "eval_every": 10_000,
    },
    # PixelRNN paper, Table 4: Diagonal BiLSTM on binarized MNIST, 1 layer h=32 (80.75 nats) and
    # 7 layers h=16 (79.20 nats); RMSProp, batch 16 (Section 5.3). The learning rate is *unsure*.
    "diagonal-bilstm-mnist-1": {
        "model": "diagonal-bilstm",
        "model_args": {"num_layers": 1, "hidden_channels": 32},
        "data": "binarized-mnist",
        "batch_size": 16,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "steps": 200_000,
        "eval_every": 5_000,
    },
    "diagonal-bilstm-mnist-7": {
        "model": "diagonal-bilstm",
        "model_args": {"num_layers": 7, "hidden_channels": 16},
        "data": "binarized-mnist",
        "batch_size": 16,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "steps": 200_000,
        "eval_every": 5_000,
    },
    # PixelRNN paper, Table 5 (CIFAR-10: Row LSTM 3.07, Diagonal BiLSTM 3.00 bits/dim): 12 layers;
    # h = 128 is *unsure* (a common reading of the paper).
    "row-lstm-cifar10": {
        "model": "row-lstm",
        "model_args": {"num_layers": 12, "hidden_channels": 128},
        "data": "cifar10",
        "batch_size": 16,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "steps": 500_000,
        "eval_every": 10_000,
    },
    "diagonal-bilstm-cifar10": {
        "model": "diagonal-bilstm",
        "model_args": {"num_layers": 12, "hidden_channels": 128},
        "data": "cifar10",
        "batch_size": 16,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "steps": 500_000,
        "eval_every": 10_000,
    },
    # Gated PixelCNN paper, Table 1 (3.03 bits/dim): 20 gated layers of 384 features are *unsure*
    # (the paper gives no CIFAR-10 width); RMSProp as in the PixelRNN paper.
    "gated-pixelcnn-cifar10": {
        "model": "gated-pixelcnn",
        "model_args": {"num_layers": 20, "hidden_channels": 384},
        "data": "cifar10",
        "batch_size": 16,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "steps": 500_000,
        "eval_every": 10_000,
    },
    # PixelCNN++ paper, Section 3 (2.92 bits/dim): 6 blocks of 5 layers, 160 filters, 10 logistic
    # components, dropout 0.5, Adam (beta 0.95, 0.9995), lr 1e-3 decayed x0.999995 per step,
    # Polyak 0.9995; about 5 days on 8 GPUs (torchrun --nproc-per-node 8). The global batch of 16
    # is *unsure*; activations are recomputed in the backward pass to fit the model in less memory.
    "pixelcnn++-cifar10": {
        "model": "pixelcnn++",
        "model_args": {"num_layers": 5, "hidden_channels": 160, "num_components": 10, "dropout": 0.5},
        "data": "cifar10",
        "batch_size": 16,
        "optimizer": "adam",
        "lr": 1e-3,
        "betas": [0.95, 0.9995],
        "lr_decay": 0.999995,
        "ema": 0.9995,
        "activation_checkpointing": True,
        "steps": 500_000,
        "eval_every": 10_000,
    },
    # Gated PixelCNN paper, Table 1 (ImageNet 32×32: 3.83 bits/dim): 20 gated layers; the width
    # (384) is *unsure*. RMSProp as in the PixelRNN paper, batch 64 (PixelRNN paper: 32-64 for
    # ImageNet). Read from memory-mapped arrays (pixelar.data.imagenet); meant for several GPUs.
    "gated-pixelcnn-imagenet32": {
        "model": "gated-pixelcnn",
        "model_args": {"num_layers": 20, "hidden_channels": 384},
        "data": "imagenet32",
        "batch_size": 64,
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "activation_checkpointing": True,
        "workers": 4,
        "steps": 1_000_000,
        "eval_every": 20_000,
        "eval_images": 10_000,
    },
}


def get_preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise PixelarError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    preset = dict(PRESETS[name])
    preset["model_args"] = dict(preset.get("model_args", {}))
    return preset
