"""A stand-in for Google Colab's `google.colab` package, for the Colab-equivalent test
tier (`make test-colab`) only. The course looks only at whether `google.colab` is
imported, as it is in every Colab kernel from the start."""

IS_COURSE_TEST_STAND_IN = True
