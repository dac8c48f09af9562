"""glassnet's benchmark suite: the same models trained with glassnet, PyTorch and scikit-learn.

Run ``python -m benchmarks.run`` (see benchmarks/README.md); ``python -m benchmarks.profile``
shows where glassnet spends its time.
"""
