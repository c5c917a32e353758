"""The base layer: errors, text and file handling, the model-file container, metrics and progress lines.

Nothing here knows about networks or n-grams; every other layer builds on it.
The names below are the layer's face for the command line and for users;
library modules import the submodule they need.
"""

from .compiling import compiling, mute as mute_compile_notice, say_on_stderr
from .errors import RnnlmpyError, StoppedBySignal, Terminated
from .executor import SHARDS_PER_WORKER, open_executor, scheduler_address, worker_slots
from .files import ARPA, CONTAINER, HMM, NGRAM_BINARY, RNNLM_CPP, claimed_output, read_file_bytes
from .system import default_threads_text, resolve_threads
from .text import SPACE_TOKEN

__all__ = ["ARPA", "CONTAINER", "HMM", "NGRAM_BINARY", "RNNLM_CPP", "SHARDS_PER_WORKER", "SPACE_TOKEN", "RnnlmpyError",
           "StoppedBySignal", "Terminated",
           "claimed_output", "compiling", "default_threads_text", "mute_compile_notice", "open_executor",
           "read_file_bytes", "resolve_threads", "say_on_stderr", "scheduler_address", "worker_slots"]
