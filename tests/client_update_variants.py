"""Wrong answers to the client-step exercises, built on one copy of `fedavg.client_update`'s
structure: the tests of notebooks 06 and 10 change one part of it at a time."""

import tensorflow as tf

from course_utils import fedavg


def client_update_variant(steps=None, loss_term=None, after=None, reset=True):
    """A client update `(model, dataset, server_weights, learning_rate, extra)` with:

    - `steps(gradients, weights, server_weights, learning_rate, extra)` -> the amounts
      to subtract from the weights after each batch (default: learning_rate x gradient);
    - `loss_term(weights, server_weights, extra)` added to the loss inside the tape;
    - `after(weight, server_weight, learning_rate, extra)` subtracted once after the loop;
    - `reset=False`: training starts from the model's weights, not `server_weights`.
    """
    def plain_sgd(gradients, weights, server_weights, learning_rate, extra):
        return [learning_rate * g for g in gradients]

    steps = steps or plain_sgd

    @tf.function
    def client_update(model, dataset, server_weights, learning_rate, extra):
        weights = model.trainable_variables
        if reset:
            for variable, value in zip(weights, server_weights):
                variable.assign(value)
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

        def train_on_batch(totals, batch):
            with tf.GradientTape() as tape:
                predictions = model(batch["x"], training=True)
                loss = loss_fn(batch["y"], predictions)
                if loss_term is not None:
                    loss += loss_term(weights, server_weights, extra)
            gradients = tape.gradient(loss, weights)
            amounts = steps(gradients, weights, server_weights, learning_rate, extra)
            for variable, amount in zip(weights, amounts):
                variable.assign_sub(amount)
            return fedavg.add_batch_metrics(totals, loss, batch["y"], predictions)

        totals = dataset.reduce(fedavg.zero_metrics(), train_on_batch)
        if after is not None:
            for variable, server in zip(weights, server_weights):
                variable.assign_sub(after(variable, server, learning_rate, extra))
        return [tf.identity(w) for w in weights], totals
    return client_update
