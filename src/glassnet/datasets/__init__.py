"""Data sets and data preparation.

Every loader returns NumPy arrays whose dtype, shape and value range are given
in its docstring. Images are NCHW; class labels are int64.

- ``tutorial``, ``xor``, ``spirals``, ``moons``: small synthetic sets, generated.
- ``digits``: 1,797 8x8 handwritten digits, shipped inside the package.
- ``shakespeare``: Tiny Shakespeare (1.1M characters), shipped; ``CharTokenizer``,
  and ``windows``/``random_batch``/``sequential_windows`` to train language models;
  ``BPETokenizer``: GPT-2's byte-level BPE, read from its files or trained on a text.
- ``mnist``, ``fashion_mnist``: 28x28 images from IDX files found on disk or
  downloaded (``download=True``); ``read_idx`` reads any IDX file.
- ``train_test_split``, ``one_hot``, ``standardize``: preparing data.
- One's own data: ``from_csv`` (``read_csv``, ``Table``, ``TabularPreprocessing``),
  ``from_image_folder`` (``ImagePreprocessing``), ``from_text`` (``TextPreprocessing``);
  ``preprocessing_from_metadata``, ``apply`` and ``decode`` use a model's record on raw files;
  ``data_warnings`` points out tiny, imbalanced or leaky splits.

Example:
    >>> import glassnet.datasets as gd
    >>> x, y = gd.digits(flat=True)
    >>> x_train, x_test, y_train, y_test = gd.train_test_split(x, y, test_size=0.25, rng=0)
    >>> x_train, mean, std = gd.standardize(x_train)
    >>> x_test, _, _ = gd.standardize(x_test, mean, std)
    >>> x_train.shape, x_test.shape, gd.one_hot(y_train).shape
    ((1347, 64), (450, 64), (1347, 10))
"""

from glassnet.datasets._prep import Prepared, RecordError, Splits
from glassnet.datasets.bpe import BPETokenizer
from glassnet.datasets.checks import data_warnings
from glassnet.datasets.download import ChecksumError, DownloadError, download_file
from glassnet.datasets.idx import read_idx
from glassnet.datasets.idx_sets import FASHION_MNIST_CLASSES, fashion_mnist, mnist
from glassnet.datasets.images import ImagePreprocessing, from_image_folder
from glassnet.datasets.preprocessing import apply, decode, preprocessing_from_json, preprocessing_from_metadata
from glassnet.datasets.shipped import digits
from glassnet.datasets.tabular import Table, TabularPreprocessing, from_csv, read_csv
from glassnet.datasets.text import (
    CharTokenizer,
    TextPreprocessing,
    from_text,
    random_batch,
    sequential_windows,
    shakespeare,
    windows,
)
from glassnet.datasets.toy import moons, spirals, tutorial, xor
from glassnet.datasets.utils import one_hot, standardize, train_test_split

__all__ = [
    "tutorial",
    "xor",
    "spirals",
    "moons",
    "digits",
    "shakespeare",
    "CharTokenizer",
    "BPETokenizer",
    "windows",
    "random_batch",
    "sequential_windows",
    "mnist",
    "fashion_mnist",
    "FASHION_MNIST_CLASSES",
    "read_idx",
    "download_file",
    "DownloadError",
    "ChecksumError",
    "train_test_split",
    "one_hot",
    "standardize",
    "from_csv",
    "read_csv",
    "Table",
    "TabularPreprocessing",
    "from_image_folder",
    "ImagePreprocessing",
    "from_text",
    "TextPreprocessing",
    "Splits",
    "Prepared",
    "RecordError",
    "preprocessing_from_json",
    "preprocessing_from_metadata",
    "apply",
    "decode",
    "data_warnings",
]
