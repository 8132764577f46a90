"""The models the course trains, and their TFF wrappers.

- `create_keras_model()`: the tutorial's linear softmax model (7,850 parameters).
- `create_cnn_model()`: a small CNN (56,714 parameters, notebook 09) that takes the same
  784-pixel input, so every data pipeline and hand-built process works with it
  unchanged: pass `model_fn=models.create_cnn_model`.
- `MODELS` / `model_fn(name)`: the models by name ("linear", "cnn"), as the command
  line's `--model` chooses them.
"""

from __future__ import annotations

import collections

NUM_PIXELS = 28 * 28
NUM_CLASSES = 10


def input_spec():
    """Element spec of the preprocessed client data (`course_utils.data.preprocess`)."""
    import tensorflow as tf

    return collections.OrderedDict(
        x=tf.TensorSpec([None, NUM_PIXELS], tf.float32),
        y=tf.TensorSpec([None, 1], tf.int32),
    )


def create_keras_model():
    """The tutorial's model: one dense softmax layer over 784 pixels, zero-initialised.

    Zero initial weights make every run start from the same model, so the Keras,
    hand-written and hand-built FedAvg paths can be compared exactly.
    """
    import tensorflow as tf

    return tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(NUM_PIXELS,)),
        tf.keras.layers.Dense(NUM_CLASSES, kernel_initializer="zeros"),
        tf.keras.layers.Softmax(),
    ])


def create_cnn_model():
    """A small CNN: conv 16 -> pool -> conv 32 -> pool -> dense 64 -> 10, softmax.

    Input: the same 784 inverted pixels as the linear model, reshaped to 28x28x1 inside
    the model. 3x3 valid convolutions with ReLU, 2x2 max pooling; 56,714 parameters.
    The initial weights are random but seeded, so every call (eagerly or inside a TFF
    computation) builds the same starting model, and runs can be compared exactly.
    """
    import tensorflow as tf

    def init(seed):
        return tf.keras.initializers.GlorotUniform(seed=seed)

    layers = tf.keras.layers
    return tf.keras.Sequential([
        layers.InputLayer(input_shape=(NUM_PIXELS,)),
        layers.Reshape((28, 28, 1)),
        layers.Conv2D(16, 3, activation="relu", kernel_initializer=init(1)),
        layers.MaxPool2D(),
        layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(2)),
        layers.MaxPool2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu", kernel_initializer=init(3)),
        layers.Dense(NUM_CLASSES, kernel_initializer=init(4)),
        layers.Softmax(),
    ])


MODELS = {"linear": create_keras_model, "cnn": create_cnn_model}


def model_fn(name: str):
    """The Keras model builder called `name` ("linear" or "cnn")."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Choose one of: {', '.join(MODELS)}.")
    return MODELS[name]


def num_parameters(keras_model_fn=create_keras_model) -> int:
    """How many trainable numbers the model has (what FedAvg sends each way)."""
    import numpy as np

    return int(sum(np.prod(v.shape) for v in keras_model_fn().trainable_variables))


def tff_model_fn(keras_model_fn=create_keras_model):
    """A fresh `tff.learning.models.VariableModel` wrapping `keras_model_fn()` (default:
    `create_keras_model()`; e.g. `functools.partial(tff_model_fn, create_cnn_model)`).

    (`tff.learning.models.from_keras_model` was `tff.learning.from_keras_model` in
    TFF releases before 0.40.)
    """
    import tensorflow as tf
    import tensorflow_federated as tff

    return tff.learning.models.from_keras_model(
        keras_model_fn(),
        input_spec=input_spec(),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
    )


def compiled_keras_model(weights=None, keras_model_fn=create_keras_model):
    """A compiled Keras model (for centralized evaluation), optionally with `weights`.

    `weights` is a list of arrays in `model.trainable_weights` order, or a
    `tff.learning.models.ModelWeights`.
    """
    import tensorflow as tf

    model = keras_model_fn()
    model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])
    if weights is not None:
        trainable = getattr(weights, "trainable", weights)
        model.set_weights([w for w in trainable])
    return model


def evaluate_keras(weights, dataset, keras_model_fn=create_keras_model) -> dict[str, float]:
    """Centralized loss and accuracy of `weights` on a batched (x, y) dataset."""
    model = compiled_keras_model(weights, keras_model_fn)
    pairs = dataset.map(lambda batch: (batch["x"], batch["y"]))
    loss, accuracy = model.evaluate(pairs, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}
