"""Distributed training with the CCC loss: one custom step for every strategy.

``strategy.run`` inside a ``tf.function`` (Keras model and optimizer) runs unchanged
under the default strategy, ``MirroredStrategy`` (local GPUs, or N logical CPU devices)
and ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (Keras 3 ``model.fit`` does not
support the latter, keras-team/keras#20585).

Model directory::

    config.json        resolved configuration (a restart must match it)
    checkpoints/       model + optimizer + step, every N steps and at the end
    logs/              TensorBoard events; history.jsonl (one row per log/eval step)
    best/model.keras   the model with the best dev CCC so far, best/scores.json
    final/model.keras  the model at the end of training

A run killed at any moment (even SIGKILL) restarts from its last checkpoint with the
same step count, optimizer state and data position (the seeded input stream is skipped
forward by the batches already consumed) when the same command is run again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from e2e_emotion import cpu
from e2e_emotion.config import (
    STRATEGIES,
    TrainConfig,
    TrainingError,
)
from e2e_emotion.data import DataError, RecordSource, training_dataset
from e2e_emotion.evaluation.scores import ccc, ccc_of_moments, moments_of_sums
from e2e_emotion.files import LockedError, atomic_path, directory_lock
from e2e_emotion.models import build_model, load_model, resolve_model_path
from e2e_emotion.models.emotion_model import level_setting
from e2e_emotion.models.fusion import (
    FusionError,
    check_late_fusion,
    choose_blend,
    set_late_fusion_head,
)
from e2e_emotion.models.speech import set_gradient_dtype
from e2e_emotion.training.distributed_loss import global_ccc_loss
from e2e_emotion.training.model_dir import (
    LATE_FUSION_FILE,
    check_model_dir,
    save_model_atomically,
    write_json,
)
from e2e_emotion.training.prediction import predict_split
from tfrecords_tools.output_paths import is_disk_full
from tfrecords_tools.schema import LABEL_NAMES

# A training-mode CCC this much above the inference-mode CCC on the same (training)
# recordings means the model computes something else in inference: warn.
MISMATCH_WARNING = 0.15


def learning_rate_schedule(config):
    """Adam's learning rate: a float, or a schedule over the optimizer's iterations
    (checkpointed with it, so a resumed run continues the same curve)."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    decay = config.steps - config.warmup_steps
    if config.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(
            0.0,
            decay,
            warmup_target=config.learning_rate,
            warmup_steps=config.warmup_steps,
        )
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay)


def ccc_moments(labels, predictions, weights):
    """``[6, D]`` weighted sums (n, x, y, xx, yy, xy) of predictions x and labels y: they add
    up over batches and replicas into the CCC of all of them (``ccc_from_moments``)."""
    dims = predictions.shape[-1]
    x = tf.reshape(tf.cast(predictions, tf.float32), [-1, dims])
    y = tf.reshape(tf.cast(labels, tf.float32), [-1, dims])
    w = tf.reshape(tf.cast(weights, tf.float32), [-1, 1])
    return tf.stack(
        [
            tf.reduce_sum(w * tf.ones_like(x), axis=0),
            tf.reduce_sum(w * x, axis=0),
            tf.reduce_sum(w * y, axis=0),
            tf.reduce_sum(w * x * x, axis=0),
            tf.reduce_sum(w * y * y, axis=0),
            tf.reduce_sum(w * x * y, axis=0),
        ]
    )


def _scores(values):
    return {
        "ccc_arousal": float(values[0]),
        "ccc_valence": float(values[1]),
        "ccc_mean": float(np.mean(values)),
    }


def ccc_from_moments(moments):
    """``{"ccc_arousal", "ccc_valence", "ccc_mean"}`` of summed ``ccc_moments``."""
    sums = np.asarray(moments, np.float64)
    return _scores([ccc_of_moments(moments_of_sums(*sums[:, d])) for d in range(sums.shape[1])])


def make_strategy(name):
    """The ``tf.distribute`` strategy for ``--strategy`` (logical CPUs are set up before)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if "TF_CONFIG" not in os.environ:
        raise TrainingError("--strategy=multiworker needs the TF_CONFIG environment variable")
    return tf.distribute.MultiWorkerMirroredStrategy()


def use_logical_cpus(count):
    """Splits the CPU into ``count`` logical devices (before TensorFlow initialises)."""
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        raise TrainingError(
            f"--logical_cpus={count}: TensorFlow was initialised already ({error})"
        ) from None


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
    )


def _load_source(path, flag):
    try:
        return load_model(resolve_model_path(path))
    except (OSError, ValueError) as error:
        raise TrainingError(f"--{flag}={path}: cannot load the model ({error})") from None


def _initialise_from(model, source, path, network_name):
    try:
        source_network = source.get_layer(network_name)
        target_network = model.get_layer(network_name)
    except ValueError:
        raise TrainingError(f"{path}: the model has no {network_name}") from None
    source_weights = source_network.get_weights()
    shapes = [w.shape for w in source_weights]
    if shapes != [w.shape for w in target_network.get_weights()]:
        raise TrainingError(f"{path}: its {network_name} has other sizes than this model's")
    if network_name == "speech_network":
        theirs, ours = level_setting(source), level_setting(model)
        if theirs != ours:
            raise TrainingError(
                f"{path}: its speech network was trained on audio with level normalisation "
                f"{theirs}, this model has {ours}; give this model the same "
                "level_norm_frames and level_norm_db (--model_config)"
            )
    target_network.set_weights(source_weights)


def _ccc_of_arrays(x, y):
    """CCC per dimension over every frame at once (the evaluation report's overall)."""
    return _scores([ccc(x[:, d], y[:, d]) for d in range(x.shape[1])])


def _describe_blend(audio_weight):
    if audio_weight == 1:
        return "from the audio head"
    if audio_weight == 0:
        return "from the visual head"
    return f"{audio_weight:g} audio + {1 - audio_weight:g} visual"


class Trainer:
    """Builds the model under the strategy and runs the custom training loop."""

    def __init__(self, config, strategy=None, verbose=True):
        config.check()
        self.config = config
        self.verbose = verbose
        self.source = RecordSource(config.records)
        self.source.check(config.train_split, config.modality)
        if config.eval_every:
            self.source.check(config.eval_split, config.modality)
            if not self.source.labelled(config.eval_split):
                raise TrainingError(f"--eval_split={config.eval_split!r} has no labels")
        self.strategy = strategy or make_strategy(config.strategy)
        replicas = self.strategy.num_replicas_in_sync
        batch = self.config.sequence_config.batch_size
        if batch % replicas:
            raise TrainingError(
                f"--batch_size={batch} is not divisible by the {replicas} replicas; "
                f"use a multiple of {replicas}"
            )
        if config.jit_compile is True and replicas > 1:
            raise TrainingError("--jit_compile=true needs a single replica (--strategy=default)")
        self.is_chief = _is_chief(self.strategy)
        self.resolved = check_model_dir(config)
        keras.utils.set_random_seed(config.seed)
        previous_policy = keras.mixed_precision.global_policy()
        if config.use_bfloat16:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            with self.strategy.scope():
                self.model = build_model(config.modality, **config.model)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        if config.use_bfloat16_gradients and not set_gradient_dtype(self.model, "bfloat16"):
            raise TrainingError(
                "--bfloat16_gradients=true is for the `reference` speech network's "
                "convolutions; this model has none (use --speech_preset=reference)"
            )
        if config.freeze_features:
            for network in (self.model.speech_network, self.model.visual_network):
                if network is not None:
                    network.trainable = False
        if config.freeze_batch_norm:
            for layer in self.model.visual_network.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        with self.strategy.scope():
            self.optimizer = keras.optimizers.Adam(
                learning_rate_schedule(config),
                use_ema=config.weight_average > 0,
                ema_momentum=config.weight_average or 0.99,
            )
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            # Evaluations since the best raw dev CCC (early stopping survives a restart).
            self.stale = tf.Variable(0, dtype=tf.int64, trainable=False, name="stale_evals")
        # Keras keeps the state of each layer's random stream (dropout) in a seed-generator
        # variable that the model's checkpoint does not hold: saved here, so a resumed run
        # draws the same masks as an uninterrupted one.
        random_states = [
            v for v in self.model.non_trainable_variables if v.path.endswith("seed_generator_state")
        ]
        self.checkpoint = tf.train.Checkpoint(
            model=self.model,
            optimizer=self.optimizer,
            step=self.step,
            stale=self.stale,
            random_states=random_states,
        )
        self._train_moments = None
        directory = os.path.join(config.model_dir, "checkpoints")
        if not self.is_chief:  # every worker saves (collective ops); only the chief keeps it
            directory = tempfile.mkdtemp(prefix="e2e_emotion_worker_ckpt_")
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=3)
        self.best_path = os.path.join(config.model_dir, "best", "scores.json")

    # ------------------------------------------------------------------ pieces

    def _restore_or_initialise(self):
        latest = self.manager.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            self._say(f"resumed from {latest} at step {int(self.step.numpy())}")
            return
        sources = {}
        for name, network in (("audio", "speech_network"), ("visual", "visual_network")):
            path = getattr(self.config, f"init_{name}")
            if path:
                sources[name] = _load_source(path, f"init_{name}")
                _initialise_from(self.model, sources[name], path, network)
                self._say(f"{network.replace('_', ' ')} initialised from {path}")
        if self.config.init_head == "late_fusion":
            self._start_from_late_fusion(sources["audio"], sources["visual"])

    def _start_from_late_fusion(self, audio_model, visual_model):
        """Sets the recurrent head to the unimodal heads side by side, blended as best on
        the eval split (``models.fusion``)."""
        config = self.config
        try:
            check_late_fusion(self.model, audio_model, visual_model)
        except FusionError as error:
            raise TrainingError(
                f"--init_head=late_fusion ({config.init_audio}, {config.init_visual}): {error}"
            ) from None
        outputs = {}
        for name, weight in (("audio", 1.0), ("visual", 0.0)):
            set_late_fusion_head(self.model, audio_model, visual_model, [weight, weight])
            outputs[name], labels = self._split_arrays(config.eval_split)

        def score(predictions):
            scores = _ccc_of_arrays(predictions, labels)
            return [scores[f"ccc_{dimension}"] for dimension in LABEL_NAMES]

        chosen, table = choose_blend(outputs["audio"], outputs["visual"], score)
        set_late_fusion_head(self.model, audio_model, visual_model, chosen)
        if self.is_chief:
            # Kept so the same start can be rebuilt from other unimodal models (a refit).
            write_json(
                os.path.join(config.model_dir, LATE_FUSION_FILE),
                {
                    "audio_weight": [float(weight) for weight in chosen],
                    "eval_split": config.eval_split,
                    "scores": {str(weight): scores for weight, scores in table.items()},
                },
            )
        described = ", ".join(
            f"{dimension} {_describe_blend(weight)} ({table[weight][index]:.3f})"
            for index, (dimension, weight) in enumerate(zip(LABEL_NAMES, chosen, strict=True))
        )
        self._say(f"recurrent head = late fusion of the unimodal heads: {described}")

    def _distributed_dataset(self, skip_batches):
        config = self.config

        def dataset_fn(input_context):
            return training_dataset(
                self.source,
                config.train_split,
                config.modality,
                config.sequence_config,
                skip_batches=skip_batches,
                input_context=input_context,
            )

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def _make_train_step(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        replicas = strategy.num_replicas_in_sync

        def replica_step(inputs, labels, weights):
            with tf.GradientTape() as tape:
                predictions = model(inputs, training=True)
                loss = global_ccc_loss(labels, predictions, weights)
                scaled = loss / replicas  # see distributed_loss: exact global gradient
            grads = tape.gradient(scaled, model.trainable_variables)
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            finite = tf.logical_and(finite, tf.math.is_finite(loss))
            # Never apply a non-finite update: the weights stay those of the last good step.
            grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            moments = ccc_moments(labels, predictions, weights)
            return loss, tf.cast(finite, tf.float32), moments

        @tf.function(jit_compile=True)
        def compiled_step(inputs, labels, weights):
            return replica_step(inputs, labels, weights)

        # XLA only for a single replica (an explicit --jit_compile=true elsewhere is refused).
        single = strategy.num_replicas_in_sync == 1 and self.config.strategy == "default"
        step_function = compiled_step if self.config.use_xla and single else replica_step

        @tf.function
        def train_step(iterator):
            loss, finite, moments = strategy.run(step_function, args=next(iterator))
            mean_loss = strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, axis=None)
            all_finite = strategy.reduce(tf.distribute.ReduceOp.MEAN, finite, axis=None)
            moments = strategy.reduce(tf.distribute.ReduceOp.SUM, moments, axis=None)
            self.step.assign_add(1)
            return mean_loss, all_finite, moments

        return train_step

    def evaluate(self, split=None, remove_streams=()):
        """Dev (or ``split``) CCC per dimension of the current model: dict of floats.
        ``remove_streams``: streams replaced by silence / black crops (``"video"``)."""
        split = split or self.config.eval_split
        return _ccc_of_arrays(*self._split_arrays(split, remove_streams))

    @property
    def selects_without_video(self):
        """Whether evaluations also score the model with its video removed (a multimodal
        model trained with ``video_dropout``) and choose on both."""
        config = self.config
        return config.modality == "multimodal" and config.sequence_config.video_dropout > 0

    def _split_arrays(self, split, remove_streams=()):
        """``(predictions, labels)``: ``[frames, 2]`` float64 over every frame of ``split``."""
        sequence = self.config.sequence_config
        if remove_streams:
            sequence = dataclasses.replace(sequence, remove_streams=tuple(remove_streams))
        try:
            predictions, labels = predict_split(
                self.model,
                self.source,
                split,
                self.config.modality,
                sequence,
                self.config.eval_context,
            )
        except tf.errors.DataLossError as error:
            kept = self.manager.latest_checkpoint or "none yet"
            raise TrainingError(
                f"{self.source.corruption_error(split, error)}; the last checkpoint ({kept}) "
                "is kept"
            ) from None
        x = np.concatenate([predictions[rid] for rid in predictions]).astype(np.float64)
        y = np.concatenate([labels[rid] for rid in predictions]).astype(np.float64)
        return x, y

    def _say(self, message):
        if self.verbose and self.is_chief:
            print(message, flush=True)

    # ------------------------------------------------------------------ loop

    def train(self):
        """Runs (or resumes) training up to ``config.steps``. Returns the last dev scores.

        The chief holds the model directory's lock meanwhile: a second run on the same
        directory is refused, naming the process and host of the first."""
        if not self.is_chief:
            return self._train()
        try:
            lock = directory_lock(self.config.model_dir, f"--model_dir={self.config.model_dir}")
            with lock:
                try:
                    return self._train()
                except (OSError, tf.errors.OpError) as error:
                    if not is_disk_full(error):
                        raise
                    raise TrainingError(self._disk_full(error)) from None
        except LockedError as error:
            raise TrainingError(str(error)) from None

    def _disk_full(self, error):
        """The message for a write that failed for lack of space; the checkpoint being
        written is removed (the complete ones stay, so a rerun resumes)."""
        directory = os.path.join(self.config.model_dir, "checkpoints")
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                if "_temp" in name:  # a checkpoint TensorFlow had not finished
                    path = os.path.join(directory, name)
                    if os.path.isdir(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.remove(path)
        detail = getattr(error, "strerror", None) or getattr(error, "message", str(error))
        kept = self.manager.latest_checkpoint or "none"
        return (
            f"disk full while writing to {self.config.model_dir} at step "
            f"{int(self.step.numpy())} ({detail.strip().splitlines()[0]}); the last complete "
            f"checkpoint ({kept}) is kept: free space and run the same command to resume"
        )

    def _train(self):
        config = self.config
        self._restore_or_initialise()
        changes = self.resolved.get("config_changes") or []
        if changes and "from_step" not in changes[-1]:
            changes[-1]["from_step"] = int(self.step.numpy())
            self._say(f"settings changed from step {changes[-1]['from_step']}: {changes[-1]}")
        if self.is_chief:
            write_json(os.path.join(config.model_dir, "config.json"), self.resolved)
        replicas = self.strategy.num_replicas_in_sync
        average = config.weight_average
        gradients = ""
        if config.use_bfloat16_gradients:
            gradients = ", bfloat16 convolution gradients" + (
                " (auto)" if config.bfloat16_gradients is None else ""
            )
        self._say(
            f"training the {config.modality} model: {type(self.strategy).__name__} with "
            f"{replicas} replica{'s' if replicas > 1 else ''}, global batch "
            f"{config.sequence_config.batch_size} x {config.sequence_config.sequence_length} frames"
            f"; XLA {'on' if config.use_xla else 'off'}"
            f"{' (auto)' if config.jit_compile is None else ''}"
            f", {'mixed_bfloat16' if config.use_bfloat16 else 'float32'}"
            f"{' (auto)' if config.mixed_precision is None else ''}"
            f"{gradients}"
            f"{f', weights averaged (momentum {average})' if average else ''}"
            f"; CPU flags: {cpu.describe()}"
        )
        start_step = int(self.step.numpy())
        if start_step >= config.steps:
            self._say(f"already trained for {start_step} steps (--steps={config.steps})")
            return self._load_best_scores()
        iterator = iter(self._distributed_dataset(start_step))
        train_step = self._make_train_step()
        log_dir = os.path.join(config.model_dir, "logs")
        writer = tf.summary.create_file_writer(log_dir) if self.is_chief else None
        history_path = os.path.join(log_dir, "history.jsonl")
        sequence = config.sequence_config
        frames_per_step = sequence.batch_size * sequence.sequence_length
        progbar = keras.utils.Progbar(
            config.steps,
            stateful_metrics=["loss", "frames/s"],
            verbose=1 if self.verbose and self.is_chief else 0,
        )
        progbar.update(start_step)
        best = self._load_best_scores()
        last_scores = best
        window_started, window_steps = time.perf_counter(), 0
        step = start_step
        if config.patience and int(self.stale.numpy()) >= config.patience:
            self._say(
                f"stopped early at step {start_step}: no better {config.eval_split} CCC in "
                f"{config.patience} evaluations (--patience); raise --patience to go on"
            )
            self._finish(best)
            return best
        self._train_moments = None
        if start_step == 0 and config.init_head == "late_fusion" and best is None:
            # The late fusion it starts from is a candidate too (step 0).
            row = {"step": 0}
            last_scores, best, _ = self._evaluation(row, best)
            if self.is_chief:
                self._log_row(writer, history_path, row)
        while step < config.steps:
            try:
                loss, finite, moments = train_step(iterator)
            except tf.errors.DataLossError as error:
                kept = self.manager.latest_checkpoint or "none yet"
                raise TrainingError(
                    f"{self.source.corruption_error(config.train_split, error)}; training "
                    f"stopped at step {int(self.step.numpy())}, the last checkpoint ({kept}) "
                    "is kept"
                ) from None
            step = int(self.step.numpy())
            moments = moments.numpy().astype(np.float64)
            if self._train_moments is None:
                self._train_moments = moments
            else:
                self._train_moments += moments
            if float(finite) < 1.0:
                kept = self.manager.latest_checkpoint
                raise TrainingError(
                    f"loss is {float(loss)} (not finite) at step {step}: stopping. The weights "
                    f"were not updated; the last good checkpoint is {kept}. Lower "
                    "--learning_rate or check the records (bin/inspect_tfrecords.py)."
                )
            window_steps += 1
            row = None
            if step % config.log_every == 0 or step == config.steps:
                elapsed = time.perf_counter() - window_started
                throughput = window_steps * frames_per_step / max(elapsed, 1e-9)
                row = {
                    "step": step,
                    "loss": float(loss),
                    "learning_rate": float(self.optimizer.learning_rate.numpy()),
                    "frames_per_second": throughput,
                }
                window_started, window_steps = time.perf_counter(), 0
                progbar.update(step, [("loss", float(loss)), ("frames/s", throughput)])
            stop_early = False
            if config.eval_every and (step % config.eval_every == 0 or step == config.steps):
                row = row or {"step": step, "loss": float(loss)}
                last_scores, best, stop_early = self._evaluation(row, best)
            if row is not None and self.is_chief:
                self._log_row(writer, history_path, row)
            if step % config.checkpoint_every == 0 or step == config.steps or stop_early:
                self.manager.save(checkpoint_number=step)
            if stop_early:
                self._say(
                    f"stopping early at step {step}: no better {config.eval_split} CCC in "
                    f"{config.patience} evaluations ({self._best_text(best)})"
                )
                break
        self._finish(best)
        if self.verbose and self.is_chief and last_scores:
            print(
                f"{config.eval_split} CCC arousal {last_scores['ccc_arousal']:.3f} valence "
                f"{last_scores['ccc_valence']:.3f} ({self._best_text(best)})",
                flush=True,
            )
        return last_scores

    @contextlib.contextmanager
    def averaged_weights(self):
        """Within: the model holds the moving average of its weights (``weight_average``),
        the weights it trains with restored on leaving. Without the average, or before the
        first step (the average starts as the weights of step 1): no change."""
        if not self.optimizer.use_ema or int(self.optimizer.iterations.numpy()) == 0:
            yield
            return
        variables = self.model.trainable_variables
        averages = self.optimizer._model_variables_moving_average
        if len(averages) != len(variables):  # the trainable set changed after the build
            raise TrainingError(
                f"the weight average holds {len(averages)} variables, the model trains "
                f"{len(variables)}"
            )
        current = [tf.identity(variable) for variable in variables]
        for variable, average in zip(variables, averages, strict=True):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(variables, current, strict=True):
                variable.assign(value)

    def _evaluation(self, row, best):
        """Scores the eval split into ``row`` (with the averaged weights when
        ``weight_average`` is on); keeps the model if best. Returns
        ``(scores, best, stop_early)``."""
        with self.averaged_weights():
            return self._evaluation_of_current(row, best)

    def _evaluation_of_current(self, row, best):
        config = self.config
        scores = self.evaluate()
        row.update(self._consistency_row(scores))
        key = f"ccc_{config.select_on}"
        selection = scores[key]
        without_video = None
        if self.selects_without_video:
            without_video = self.evaluate(remove_streams=("video",))
            row.update({f"dev_without_video_{k}": v for k, v in without_video.items()})
            selection = (scores[key] + without_video[key]) / 2
        stop_early = False
        better = best is None or selection > best.get("selection", best.get(key, -np.inf))
        below = self._below_start(scores, best) if better else []
        if better and not below:
            start = best.get("start") if best else None
            best = {**scores, "step": row["step"], "selection": selection}
            if without_video is not None:
                best["without_video"] = without_video
            if config.select_above_start:
                # The first evaluation is the late-fusion start (step 0): the floor.
                best["start"] = start or {
                    f"ccc_{name}": scores[f"ccc_{name}"] for name in LABEL_NAMES
                }
            self.stale.assign(0)
            if self.is_chief:
                save_model_atomically(
                    self.model, os.path.join(config.model_dir, "best", "model.keras")
                )
                write_json(self.best_path, best)
        else:
            self.stale.assign_add(1)
            stop_early = bool(config.patience) and int(self.stale.numpy()) >= config.patience
        self._say_scores(row, best, below)
        return scores, best, stop_early

    def _below_start(self, scores, best):
        """The dimensions on which ``scores`` fall below the start (``select_above_start``)."""
        if not (self.config.select_above_start and best and "start" in best):
            return []
        return [
            name for name in LABEL_NAMES if scores[f"ccc_{name}"] < best["start"][f"ccc_{name}"]
        ]

    def _log_row(self, writer, history_path, row):
        with writer.as_default(step=row["step"]):
            for key, value in row.items():
                if key != "step":
                    tf.summary.scalar(key, value)
        writer.flush()
        with open(history_path, "a") as stream:
            stream.write(json.dumps(row) + "\n")

    def _finish(self, best):
        """Writes ``final/model.keras``: the best model on dev if asked, else the last."""
        config = self.config
        if not self.is_chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
            return
        final = os.path.join(config.model_dir, "final", "model.keras")
        best_model = os.path.join(config.model_dir, "best", "model.keras")
        if config.restore_best and best is not None and os.path.exists(best_model):
            with atomic_path(final, suffix=".keras") as temporary:
                shutil.copyfile(best_model, temporary)
            name = config.select_on
            self._say(
                f"final model = the best on {config.eval_split} (step {best['step']}, "
                f"{name} CCC {best[f'ccc_{name}']:.3f}{self._without_text(best)}); the last "
                "weights are in the checkpoints"
            )
        else:
            with self.averaged_weights():
                save_model_atomically(self.model, final)

    def _consistency_row(self, scores):
        """History columns of one evaluation: raw dev CCC, the same model in inference mode
        on its training recordings, the training batches' CCC in training mode since the
        last evaluation, and the reference (handcrafted baseline), each per dimension."""
        config = self.config
        row = {f"dev_{k}": v for k, v in scores.items()}
        if config.eval_train:
            inference = self.evaluate(config.train_split)
            row.update({f"train_inference_{k}": v for k, v in inference.items()})
        if self._train_moments is not None:
            training = ccc_from_moments(self._train_moments)
            row.update({f"train_training_mode_{k}": v for k, v in training.items()})
            self._train_moments = None
            if config.eval_train:
                gap = training["ccc_mean"] - row["train_inference_ccc_mean"]
                row["train_mode_gap"] = gap
        if config.reference_scores:
            row.update({f"reference_{k}": v for k, v in config.reference_scores.items()})
        return row

    def _say_scores(self, row, best, below=()):
        if not (self.verbose and self.is_chief):
            return

        def pair(prefix):
            return f"{row[prefix + 'ccc_arousal']:.3f} / {row[prefix + 'ccc_valence']:.3f}"

        parts = [f"{self.config.eval_split} {pair('dev_')}"]
        if "dev_without_video_ccc_mean" in row:
            parts.append(f"{self.config.eval_split} without video {pair('dev_without_video_')}")
        if "train_inference_ccc_mean" in row:
            parts.append(f"train (inference) {pair('train_inference_')}")
        if "train_training_mode_ccc_mean" in row:
            parts.append(f"train batches (training mode) {pair('train_training_mode_')}")
        if "reference_ccc_mean" in row:
            parts.append(f"baseline {pair('reference_')}")
        print(
            f"\nstep {row['step']}: CCC arousal / valence: "
            + "; ".join(parts)
            + f" ({self._best_text(best)})",
            flush=True,
        )
        if below:
            start = best["start"]
            print(
                "not chosen (--select_above_start): "
                + ", ".join(
                    f"{name} below the start's {start[f'ccc_{name}']:.3f}" for name in below
                ),
                flush=True,
            )
        gap = row.get("train_mode_gap")
        if gap is not None and gap > MISMATCH_WARNING:
            print(
                f"warning: on its training recordings the model scores {gap:.2f} mean CCC "
                "less in inference mode than in training mode: it computes something else "
                "in inference (dropout before max-pooling, BatchNorm statistics, "
                "augmentation that inference never sees?)",
                flush=True,
            )

    def _without_text(self, best):
        """``", 0.425 without video"`` for a model chosen with its video removed too."""
        without = best.get("without_video")
        if not without:
            return ""
        return f", {without[f'ccc_{self.config.select_on}']:.3f} without video"

    def _best_text(self, best):
        name, without = self.config.select_on, self._without_text(best)
        comma = "," if without else ""
        return f"best {name} {best[f'ccc_{name}']:.3f}{without}{comma} at step {best['step']}"

    def _load_best_scores(self):
        if os.path.exists(self.best_path):
            with open(self.best_path) as stream:
                return json.load(stream)
        return None


def train(config, strategy=None, verbose=True):
    """Trains (or resumes) the model described by ``config``; returns the dev scores."""
    try:
        return Trainer(config, strategy, verbose).train()
    except DataError as error:
        raise TrainingError(str(error)) from None


__all__ = [
    "STRATEGIES",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "make_strategy",
    "save_model_atomically",
    "train",
    "use_logical_cpus",
]
