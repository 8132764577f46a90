"""The models the course trains, and their TFF wrappers."""

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


def tff_model_fn():
    """A fresh `tff.learning.models.VariableModel` wrapping `create_keras_model()`.

    (`tff.learning.models.from_keras_model` was `tff.learning.from_keras_model` in
    TFF releases before 0.40.)
    """
    import tensorflow as tf
    import tensorflow_federated as tff

    return tff.learning.models.from_keras_model(
        create_keras_model(),
        input_spec=input_spec(),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
    )


def compiled_keras_model(weights=None):
    """A compiled Keras model (for centralized evaluation), optionally with `weights`.

    `weights` is a list of arrays in `model.trainable_weights` order, or a
    `tff.learning.models.ModelWeights`.
    """
    import tensorflow as tf

    model = create_keras_model()
    model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])
    if weights is not None:
        trainable = getattr(weights, "trainable", weights)
        model.set_weights([w for w in trainable])
    return model


def evaluate_keras(weights, dataset) -> dict[str, float]:
    """Centralized loss and accuracy of `weights` on a batched (x, y) dataset."""
    model = compiled_keras_model(weights)
    pairs = dataset.map(lambda batch: (batch["x"], batch["y"]))
    loss, accuracy = model.evaluate(pairs, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}
