"""Stand-in for `google.colab.output`: libraries that see Colab import it (jax's
debugger does `from google.colab import output` when google.colab is imported). The
course calls nothing in it."""
