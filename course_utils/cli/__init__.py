"""The terminal entry point, `python -m course_utils` (`main`), the experiment runner
behind `train` (`experiment`) and the ONE registry of the algorithms it runs
(`algorithms`, built by `builders`)."""
