"""Ready-made architectures built from glassnet's layers.

- ``gpt.py``: a GPT as nanoGPT builds it (``GPT``, ``gpt``, ``gpt_param_groups``);
- ``char_rnn.py``: a character-level recurrent language model (``CharRNN``);
- ``sampling.py``: what both share to generate text (``generation_args``, ``sample``);
- ``tutorial.py``: the tutorial's 3-4-1 sigmoid network (``tutorial_network``).
"""

from glassnet.models.char_rnn import CharRNN
from glassnet.models.gpt import GPT, gpt, gpt_param_groups
from glassnet.models.sampling import generation_args, sample
from glassnet.models.tutorial import tutorial_network

__all__ = ["GPT", "gpt", "gpt_param_groups", "CharRNN", "generation_args", "sample", "tutorial_network"]
