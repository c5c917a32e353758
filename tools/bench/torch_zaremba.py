"""Zaremba et al.'s "small" LSTM language model on PTB in PyTorch: the peer that ``tools.bench.lstm_pytorch`` sets
rnnlmpy beside. Run by that benchmark with the interpreter of its own PyTorch environment (never rnnlmpy's):

    TORCH_PYTHON tools/bench/torch_zaremba.py --corpus PTB_FOLDER [--epochs 13] [--max-words N] [--threads 2]
                                              [--no-eval] [--bfloat16] [--out FILE.json]

The recipe (Zaremba, Sutskever and Vinyals 2014, "small"): 2 LSTM layers of 200 units, embedding 200, a full
softmax over the training vocabulary (PTB: 10,000 words), no dropout, batch 20, BPTT window 20, SGD at
learning rate 1 on the loss summed over the window's time steps and averaged over the batch, gradients clipped
to global norm 5, every parameter uniform in [-0.1, 0.1], the learning rate halved each epoch after the 4th,
13 epochs. The text is read as Zaremba reads it: each line's words and then ``<eos>`` (rnnlm's and rnnlmpy's
``</s>``), one stream of tokens.

Training reads the stream as 20 contiguous parts, windows of 20 steps, the state carried from window to window
(and cut from the gradient). Validation and test score every token of their file in order, batch 1, the
state carried through the whole file and starting from ``<eos>`` as context: exactly the tokens ``rnnlmpy
ppl`` scores (each line's words and its ``</s>``), so the perplexities compare.

``--bfloat16`` trains under ``torch.autocast("cpu", dtype=torch.bfloat16)``, PyTorch's mixed precision (its
matrix products and LSTM layers take bfloat16 inputs; the loss, the weights and the scoring stay float32): the
peer of ``rnnlmpy train -product-precision bfloat16``.

``--max-words N`` trains on the first N tokens only (the vocabulary stays the whole training file's): a
words/s measurement. Training words/s counts the target tokens of the training windows over the seconds of
the training loop alone (no start-up, no evaluation). The JSON written to ``--out`` (or the last line of
stdout) holds words/s and train, valid and test perplexity per epoch (``test_ppl``: the last epoch's), token
counts and the peak RSS.

Only the standard library at import: torch is imported in ``main`` so that the corpus and schedule helpers
can be tested without it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
import warnings

EOS = "<eos>"
FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}


class Recipe:
    """The "small" recipe's numbers (Zaremba et al. 2014, table of their code's SmallConfig)."""

    layers = 2
    hidden = 200  # = embedding size
    batch = 20
    window = 20  # BPTT steps
    learning_rate = 1.0
    clip_norm = 5.0
    init_scale = 0.1
    decay = 0.5
    constant_epochs = 4  # epochs at the starting learning rate; halved after each later one
    epochs = 13
    eval_window = 200  # steps per forward call when scoring (batch 1; no effect on the scores)


def read_tokens(path: str) -> list[str]:
    """The tokens of a text file as Zaremba reads it: each line's whitespace-separated words, then ``<eos>``."""
    tokens = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            tokens.extend(line.split())
            tokens.append(EOS)
    return tokens


def build_vocabulary(tokens: list[str]) -> dict[str, int]:
    """Word -> id for every distinct token of ``tokens``, ``<eos>`` first, then by decreasing count (ties by
    spelling): the same list whatever the order of the text."""
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    counts.pop(EOS, None)
    words = [EOS] + sorted(counts, key=lambda word: (-counts[word], word))
    return {word: index for index, word in enumerate(words)}


def encode(tokens: list[str], vocabulary: dict[str, int], name: str) -> list[int]:
    """The ids of ``tokens``; ValueError naming ``name`` and a word the vocabulary lacks."""
    ids = []
    for token in tokens:
        index = vocabulary.get(token)
        if index is None:
            raise ValueError(f"{name}: word {token!r} is not in the training vocabulary")
        ids.append(index)
    return ids


def learning_rate(epoch: int, recipe: type[Recipe] = Recipe) -> float:
    """The learning rate of ``epoch`` (1-based): the starting rate for the first ``constant_epochs``, then times
    ``decay`` for each epoch after them."""
    return recipe.learning_rate * recipe.decay ** max(epoch - recipe.constant_epochs, 0)


def trained_tokens(count: int, batch: int = Recipe.batch, window: int = Recipe.window) -> int:
    """Target tokens one epoch trains on from a stream of ``count`` tokens: ``batch`` parts of ``count // batch``
    tokens each, in whole windows (the last target of a part needs the token after it)."""
    return ((count // batch - 1) // window) * window * batch


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--corpus", required=True, help="folder of ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    parser.add_argument("--train", default=None, help="training text instead of the corpus's ptb.train.txt")
    parser.add_argument("--epochs", type=int, default=Recipe.epochs)
    parser.add_argument("--max-words", type=int, default=None, help="train on the first N tokens only (words/s)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-eval", action="store_true", help="no validation or test scoring (words/s only)")
    parser.add_argument("--bfloat16", action="store_true",
                        help="train under torch.autocast(cpu, bfloat16): mixed precision (scoring stays float32)")
    parser.add_argument("--out", default=None, help="write the JSON here (default: the last line of stdout)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.threads < 1 or (args.max_words is not None and args.max_words < 1):
        parser.error("--epochs, --threads and --max-words must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Train and score as the module's docstring says; write the JSON."""
    started = time.perf_counter()
    args = parse(argv)
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # torch runs without NumPy here
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    paths = {name: os.path.join(args.corpus, file) for name, file in FILES.items()}
    if args.train:
        paths["train"] = args.train
    train_tokens = read_tokens(paths["train"])
    vocabulary = build_vocabulary(train_tokens)
    train_ids = encode(train_tokens, vocabulary, paths["train"])
    if args.max_words is not None:
        train_ids = train_ids[:args.max_words]
    evaluated = {}
    if not args.no_eval:
        for name in ("valid", "test"):
            evaluated[name] = encode(read_tokens(paths[name]), vocabulary, paths[name])

    class SmallLstm(nn.Module):
        def __init__(self, size: int):
            super().__init__()
            self.embedding = nn.Embedding(size, Recipe.hidden)
            self.lstm = nn.LSTM(Recipe.hidden, Recipe.hidden, Recipe.layers)
            self.decoder = nn.Linear(Recipe.hidden, size)
            for parameter in self.parameters():
                nn.init.uniform_(parameter, -Recipe.init_scale, Recipe.init_scale)

        def forward(self, inputs, state):
            outputs, state = self.lstm(self.embedding(inputs), state)
            return self.decoder(outputs.reshape(-1, Recipe.hidden)), state

    def zero_state(batch: int):
        shape = (Recipe.layers, batch, Recipe.hidden)
        return torch.zeros(shape), torch.zeros(shape)

    model = SmallLstm(len(vocabulary))
    loss_sum = nn.CrossEntropyLoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=Recipe.learning_rate)

    def score(ids: list[int]) -> tuple[float, int]:
        """(perplexity, tokens scored) of every token of ``ids``, in order, from ``<eos>`` as context."""
        stream = torch.tensor([vocabulary[EOS]] + ids, dtype=torch.long)
        model.eval()
        state, total = zero_state(1), 0.0
        with torch.no_grad():
            for start in range(0, len(ids), Recipe.eval_window):
                end = min(start + Recipe.eval_window, len(ids))
                logits, state = model(stream[start:end].view(-1, 1), state)
                total += loss_sum(logits, stream[start + 1:end + 1]).item()
        return math.exp(total / len(ids)), len(ids)

    batch, window = Recipe.batch, Recipe.window
    part = len(train_ids) // batch
    if trained_tokens(len(train_ids)) < 1:
        raise SystemExit(f"torch_zaremba: {len(train_ids)} training tokens make no window of {batch} x {window}")
    data = torch.tensor(train_ids[:part * batch], dtype=torch.long).view(batch, part).t().contiguous()  # (part, B)
    windows, per_epoch = (part - 1) // window, trained_tokens(len(train_ids))
    result = {"torch_version": torch.__version__, "threads": args.threads, "vocabulary": len(vocabulary),
              "autocast": "bfloat16" if args.bfloat16 else None,
              "train_tokens": len(train_ids), "trained_tokens_per_epoch": per_epoch,
              "recipe": {name: value for name, value in vars(Recipe).items() if not name.startswith("_")},
              "epochs": []}
    training_seconds = 0.0
    result["startup_seconds"] = round(time.perf_counter() - started, 3)
    for epoch in range(1, args.epochs + 1):
        rate = learning_rate(epoch)
        for group in optimizer.param_groups:
            group["lr"] = rate
        model.train()
        state, total = zero_state(batch), 0.0
        epoch_started = time.perf_counter()
        for index in range(windows):
            start = index * window
            inputs, targets = data[start:start + window], data[start + 1:start + window + 1]
            state = tuple(tensor.detach() for tensor in state)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bfloat16):
                logits, state = model(inputs, state)
                loss = loss_sum(logits.float(), targets.reshape(-1)) / batch
            state = tuple(tensor.float() for tensor in state)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), Recipe.clip_norm)
            optimizer.step()
            total += loss.item()
            if (index + 1) % max(windows // 10, 1) == 0 and index + 1 < windows:
                print(f"epoch {epoch}: {(index + 1) / windows:.0%} of the windows, train PPL "
                      f"{math.exp(total / ((index + 1) * window)):.1f}, "
                      f"{(index + 1) * window * batch / (time.perf_counter() - epoch_started):,.0f} words/s",
                      file=sys.stderr, flush=True)
        seconds = time.perf_counter() - epoch_started
        training_seconds += seconds
        record = {"epoch": epoch, "learning_rate": rate, "seconds": round(seconds, 3),
                  "words_per_second": round(per_epoch / seconds, 1),
                  "train_ppl": round(math.exp(total / (windows * window)), 3)}
        for name in evaluated:
            perplexity, result[f"{name}_tokens"] = score(evaluated[name])
            record[f"{name}_ppl"] = round(perplexity, 3)
        result["epochs"].append(record)
        print(json.dumps(record), file=sys.stderr, flush=True)
    result["training_seconds"] = round(training_seconds, 3)
    result["words_per_second"] = round(args.epochs * per_epoch / training_seconds, 1)
    if "test" in evaluated:
        result["test_ppl"] = result["epochs"][-1]["test_ppl"]
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["seconds"] = round(time.perf_counter() - started, 3)
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
