"""The networks re-stated in PyTorch, for the peer benchmark (``bin/benchmark_peer.py``).

The speech network's ``reference`` preset, the ResNet-50 visual network and the LSTM head
of ``e2e_emotion.models.build_model``, written as a PyTorch user writes them
(``nn.Conv1d``, ``nn.Conv2d`` with symmetric padding, ``nn.BatchNorm2d``, ``nn.LSTM``),
with the same CCC loss and Adam. Same layer shapes and features: with the Keras weights
copied in (``copy_audio_weights``) the audio model gives the Keras model's predictions;
the ResNet pads its strided layers on both sides where Keras' ``same`` pads after, so its
outputs differ at the borders while its shapes and arithmetic are the same. Imported only
by the benchmark and its test (``pip install -e '.[peer]'`` installs torch).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

__all__ = [
    "MODELS",
    "AudioModel",
    "ResNet50",
    "VisualModel",
    "benchmark_model",
    "build",
    "ccc_loss",
    "copy_audio_weights",
    "environment",
    "parameter_count",
]


def ccc_loss(labels, predictions):
    """1 - mean over the two dimensions of the CCC over all frames of the batch."""
    labels = labels.reshape(-1, labels.shape[-1])
    predictions = predictions.reshape(-1, predictions.shape[-1])
    mean_l, mean_p = labels.mean(0), predictions.mean(0)
    var_l = ((labels - mean_l) ** 2).mean(0)
    var_p = ((predictions - mean_p) ** 2).mean(0)
    covariance = ((labels - mean_l) * (predictions - mean_p)).mean(0)
    ccc = 2 * covariance / (var_l + var_p + (mean_l - mean_p) ** 2 + 1e-8)
    return 1 - ccc.mean()


class SpeechReference(nn.Module):
    """``[batch, time, 640] -> [batch, time, 1280]``: conv 1x20 (40) -> max-pool 2 ->
    conv 1x40 (40) -> max over groups of 10 channels, each 40 ms frame on its own."""

    def __init__(self, frame_length=640, filters=40, kernels=(20, 40), pool=2, channel_pool=10):
        super().__init__()
        self.frame_length, self.pool, self.channel_pool = frame_length, pool, channel_pool
        self.conv1 = nn.Conv1d(1, filters, kernels[0], padding="same")
        self.conv2 = nn.Conv1d(filters, filters, kernels[1], padding="same")
        self.num_features = frame_length // pool * (filters // channel_pool)

    def forward(self, audio):
        batch, time, samples = audio.shape
        x = audio.reshape(batch * time, 1, samples)
        x = functional.max_pool1d(functional.relu(self.conv1(x)), self.pool)
        x = functional.relu(self.conv2(x))
        groups = x.shape[1] // self.channel_pool
        x = x.reshape(x.shape[0], groups, self.channel_pool, x.shape[-1]).amax(2)
        # Sample-major, channel-minor: the Keras network's feature order.
        return x.transpose(1, 2).reshape(batch, time, self.num_features)


class Bottleneck(nn.Module):
    def __init__(self, in_channels, width, expansion, stride):
        super().__init__()
        out = width * expansion
        self.reduce = _conv_bn(in_channels, width, 1, 1)
        self.spatial = _conv_bn(width, width, 3, stride)
        self.expand = _conv_bn(width, out, 1, 1)
        self.shortcut = None
        if stride != 1 or in_channels != out:
            self.shortcut = _conv_bn(in_channels, out, 1, stride)

    def forward(self, x):
        y = functional.relu(self.reduce(x))
        y = functional.relu(self.spatial(y))
        y = self.expand(y)
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return functional.relu(y + shortcut)


def _conv_bn(in_channels, out_channels, kernel, stride):
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
    # Keras' epsilon and momentum (PyTorch's momentum is one minus Keras').
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels, eps=1.001e-5, momentum=0.1))


class ResNet50(nn.Module):
    """``[N, 3, S, S] -> [N, 2048]`` (or ``stage_blocks`` / ``stage_filters`` for others)."""

    def __init__(self, stem=64, stage_blocks=(3, 4, 6, 3), stage_filters=(64, 128, 256, 512)):
        super().__init__()
        self.stem = _conv_bn(3, stem, 7, 2)
        blocks, channels = [], stem
        for stage, (count, width) in enumerate(zip(stage_blocks, stage_filters, strict=True)):
            for block in range(count):
                stride = 2 if block == 0 and stage > 0 else 1
                blocks.append(Bottleneck(channels, width, 4, stride))
                channels = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.num_features = channels

    def forward(self, images):
        x = functional.relu(self.stem(images))
        x = functional.max_pool2d(x, 3, 2, 1)
        return self.blocks(x).mean((2, 3))


class Head(nn.Module):
    """``[batch, time, F] -> [batch, time, 2]``: stacked LSTMs and a linear layer."""

    def __init__(self, features, units=256, layers=2):
        super().__init__()
        self.lstm = nn.LSTM(features, units, layers, batch_first=True)
        self.predictions = nn.Linear(units, 2)

    def forward(self, features):
        return self.predictions(self.lstm(features)[0])


class AudioModel(nn.Module):
    def __init__(self, units=256, layers=2):
        super().__init__()
        self.speech = SpeechReference()
        self.head = Head(self.speech.num_features, units, layers)

    def forward(self, audio):
        return self.head(self.speech(audio))


class VisualModel(nn.Module):
    """``[batch, time, 3, S, S]``; with ``channels_last`` the ResNet runs on images in
    PyTorch's channels-last memory format (its own weights converted by the caller)."""

    def __init__(self, units=256, layers=2, channels_last=False, **resnet):
        super().__init__()
        self.resnet = ResNet50(**resnet)
        self.head = Head(self.resnet.num_features, units, layers)
        self.channels_last = channels_last

    def forward(self, video):
        batch, time = video.shape[:2]
        images = video.flatten(0, 1)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        features = self.resnet(images)
        return self.head(features.reshape(batch, time, -1))


MODELS = ("audio_reference", "visual")


def build(name, channels_last=False, **sizes):
    """The re-stated model ``name`` (one of ``MODELS``, the names of
    ``e2e_emotion.benchmark.MODELS``)."""
    if name == "audio_reference":
        return AudioModel(**sizes)
    if name == "visual":
        model = VisualModel(channels_last=channels_last, **sizes)
        return model.to(memory_format=torch.channels_last) if channels_last else model
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")


def benchmark_model(name, batch=2, frames=150, repeats=3, warmup=1, channels_last=False, **sizes):
    """Training (one Adam step with the CCC loss) and inference frames/s of one model, the
    median of ``repeats`` runs after ``warmup``, as ``e2e_emotion.benchmark`` measures the
    Keras models."""
    import statistics

    from e2e_emotion.timing import timed_runs

    torch.manual_seed(0)
    model = build(name, channels_last, **sizes)
    generator = torch.Generator().manual_seed(0)
    if name == "audio_reference":
        inputs = torch.randn(batch, frames, 640, generator=generator) * 0.1
    else:
        inputs = torch.rand(batch, frames, 3, 96, 96, generator=generator)
    labels = torch.rand(batch, frames, 2, generator=generator) * 2 - 1
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = ccc_loss(labels, model(inputs))
        loss.backward()
        optimizer.step()
        return loss.item()

    def infer():
        model.eval()
        with torch.inference_mode():
            return model(inputs).sum().item()

    row = {"model": name, "batch": batch, "frames": frames, "parameters": parameter_count(model)}
    row["channels_last"] = channels_last
    for key, function in (("train", train), ("infer", infer)):
        seconds = statistics.median(timed_runs(function, repeats, warmup))
        row[f"{key}_s"] = seconds
        row[f"{key}_frames_per_s"] = batch * frames / seconds
    return row


def environment():
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }


def parameter_count(module):
    return sum(parameter.numel() for parameter in module.parameters())


def copy_audio_weights(keras_model, torch_model):
    """The weights of a Keras audio model (``build_model("audio", speech_preset=
    "reference")``, standard LSTM) into an ``AudioModel`` of the same sizes."""

    def tensor(value):
        return torch.from_numpy(value.numpy() if hasattr(value, "numpy") else value)

    speech = keras_model.speech_network
    with torch.no_grad():
        for name in ("conv1", "conv2"):
            kernel, bias = speech.get_layer(f"speech_{name}").get_weights()
            # Keras [1, k, in, out] -> PyTorch [out, in, k].
            getattr(torch_model.speech, name).weight.copy_(
                tensor(kernel[0].transpose(2, 1, 0).copy())
            )
            getattr(torch_model.speech, name).bias.copy_(tensor(bias))
        for index, layer in enumerate(keras_model.recurrent_layers):
            kernel, recurrent, bias = layer.get_weights()
            lstm = torch_model.head.lstm
            getattr(lstm, f"weight_ih_l{index}").copy_(tensor(kernel.T.copy()))
            getattr(lstm, f"weight_hh_l{index}").copy_(tensor(recurrent.T.copy()))
            getattr(lstm, f"bias_ih_l{index}").copy_(tensor(bias))
            getattr(lstm, f"bias_hh_l{index}").zero_()
        kernel, bias = keras_model.get_layer("predictions").get_weights()
        torch_model.head.predictions.weight.copy_(tensor(kernel.T.copy()))
        torch_model.head.predictions.bias.copy_(tensor(bias))
