#!/usr/bin/env python3
"""Find the rnnlmpy corpora, or download them from their public sources.

Where: when ``$RNNLMPY_CORPORA`` is set, that folder and no other (``--fetch``
downloads into it; a folder that does not exist is an error naming the
variable). Otherwise ``../shared/corpora`` beside the checkout, then
``corpora/data`` inside it (where ``--fetch`` puts downloads). The data itself
is never committed.

Usage:
    python corpora/locate.py            # print the corpora folder, exit 1 if none
    python corpora/locate.py --fetch    # download what is missing (into $RNNLMPY_CORPORA or corpora/data)
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tarfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
DOWNLOAD_DIR = os.path.join(HERE, "data")
ENVIRONMENT = "RNNLMPY_CORPORA"

# corpus folder -> files it must hold
CORPORA = {
    "ptb": ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"],
    "rnnlm-example": ["train.txt", "valid.txt", "test.txt"],
    "wiki-en-pos": ["wiki-en-train.norm_pos", "wiki-en-test.norm", "wiki-en-test.pos"],
    "nlptutorial-05": ["05-train-input.txt", "05-train-answer.txt", "05-test-input.txt", "05-test-answer.txt"],
}

# Public sources: Mikolov's simple-examples (PTB), the rnnlm 0.4b toolkit (its
# example data) and Graham Neubig's nlptutorial (POS data and the tiny HMM test).
SIMPLE_EXAMPLES = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
RNNLM_TOOLKIT = "http://www.fit.vutbr.cz/~imikolov/rnnlm/rnnlm-0.4b.tgz"
NLPTUTORIAL = "https://raw.githubusercontent.com/neubig/nlptutorial/master"
TARBALL_MEMBERS = {
    "ptb": (SIMPLE_EXAMPLES, {"ptb.train.txt": "data/ptb.train.txt", "ptb.valid.txt": "data/ptb.valid.txt",
                              "ptb.test.txt": "data/ptb.test.txt"}),
    "rnnlm-example": (RNNLM_TOOLKIT, {"train.txt": "train", "valid.txt": "valid", "test.txt": "test"}),
}
RAW_FILES = {
    "wiki-en-pos": {name: f"{NLPTUTORIAL}/data/{name}" for name in CORPORA["wiki-en-pos"]},
    "nlptutorial-05": {name: f"{NLPTUTORIAL}/test/{name}" for name in CORPORA["nlptutorial-05"]},
}


class CorporaError(Exception):
    """The corpora cannot be looked for where the user asked (``$RNNLMPY_CORPORA`` names no folder)."""


def chosen_folder() -> str | None:
    """The folder ``$RNNLMPY_CORPORA`` names (absolute), or None when the variable is unset or empty."""
    value = os.environ.get(ENVIRONMENT, "")
    return os.path.abspath(os.path.expanduser(value)) if value else None


def check_chosen_folder() -> None:
    """Raise CorporaError when ``$RNNLMPY_CORPORA`` is set to something that is not a folder."""
    folder = chosen_folder()
    if folder is not None and not os.path.isdir(folder):
        problem = "not a folder" if os.path.exists(folder) else "no such folder"
        raise CorporaError(f"{ENVIRONMENT}={os.environ[ENVIRONMENT]}: {problem}; point it at a folder "
                           f"(`make corpora` downloads the corpora into it) or unset it to use ../shared/corpora")


def candidates() -> list[str]:
    """Folders searched for the corpora, in order: ``$RNNLMPY_CORPORA`` alone when it is set."""
    folder = chosen_folder()
    if folder is not None:
        return [folder]
    return [os.path.join(os.path.dirname(CHECKOUT), "shared", "corpora"), DOWNLOAD_DIR]


def download_folder() -> str:
    """Where ``fetch`` puts downloads: ``$RNNLMPY_CORPORA`` when it is set, else corpora/data."""
    return chosen_folder() or DOWNLOAD_DIR


def is_complete(folder: str, corpus: str) -> bool:
    """True when ``folder/corpus`` holds every file of that corpus."""
    return all(os.path.isfile(os.path.join(folder, corpus, name)) for name in CORPORA[corpus])


def find_corpus(corpus: str) -> str | None:
    """Path of the folder holding ``corpus`` (e.g. "ptb"), or None; CorporaError for a bad ``$RNNLMPY_CORPORA``."""
    check_chosen_folder()
    for folder in candidates():
        if is_complete(folder, corpus):
            return os.path.join(folder, corpus)
    return None


def find_corpora() -> str | None:
    """The first searched folder that holds all corpora, or None; CorporaError for a bad ``$RNNLMPY_CORPORA``."""
    check_chosen_folder()
    for folder in candidates():
        if all(is_complete(folder, corpus) for corpus in CORPORA):
            return folder
    return None


def _download(url: str) -> bytes:
    print(f"downloading {url}", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _tar_member_endswith(archive: tarfile.TarFile, suffix: str) -> bytes:
    for member in archive.getmembers():
        if member.isfile() and member.name.endswith("/" + suffix):
            return archive.extractfile(member).read()
    raise FileNotFoundError(suffix)


def fetch(corpus: str) -> str:
    """Download ``corpus`` into download_folder() (atomically per file); return its folder.

    Everything is downloaded before any folder is made, so a failed download
    (no network, a DNS error) leaves no empty folder behind.
    """
    check_chosen_folder()
    target = os.path.join(download_folder(), corpus)
    if corpus in TARBALL_MEMBERS:
        url, members = TARBALL_MEMBERS[corpus]
        try:
            with tarfile.open(fileobj=io.BytesIO(_download(url)), mode="r:gz") as archive:
                contents = {name: _tar_member_endswith(archive, member) for name, member in members.items()}
        except tarfile.TarError as error:
            raise OSError(f"{url} is not the expected archive ({error})") from None
    else:
        contents = {name: _download(url) for name, url in RAW_FILES[corpus].items()}
    os.makedirs(target, exist_ok=True)
    for name, data in contents.items():
        with open(os.path.join(target, name + ".part"), "wb") as handle:
            handle.write(data)
        shutil.move(os.path.join(target, name + ".part"), os.path.join(target, name))
    return target


def searched() -> str:
    """The folders searched, for messages: ``$RNNLMPY_CORPORA`` (and what it is), then the others when it is unset."""
    folder = chosen_folder()
    if folder is not None:
        return f"${ENVIRONMENT} ({folder})"
    return f"${ENVIRONMENT} (unset), " + ", ".join(candidates())


def not_found(corpus: str, error: Exception) -> str:
    """One line: ``corpus`` is in none of the searched folders and downloading it failed with ``error``."""
    return (f"corpus {corpus!r} is not in {searched()} and could not be downloaded into {download_folder()}: "
            f"{error} (set ${ENVIRONMENT} to a folder holding it)")


def find_or_fetch(corpus: str) -> str:
    """The folder of ``corpus``, downloaded first if no searched folder holds it (for the tools); a one-line
    SystemExit if it can be neither found nor downloaded."""
    try:
        return find_corpus(corpus) or fetch(corpus)
    except (OSError, CorporaError) as error:
        raise SystemExit(not_found(corpus, error)) from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fetch", action="store_true",
                        help=f"download missing corpora (into ${ENVIRONMENT} when set, else corpora/data)")
    parser.add_argument("--corpus", choices=sorted(CORPORA), help="print the folder of one corpus")
    args = parser.parse_args()
    names = [args.corpus] if args.corpus else list(CORPORA)
    try:
        check_chosen_folder()
    except CorporaError as error:
        print(error, file=sys.stderr)
        return 1
    for name in names:
        if find_corpus(name) is None:
            if not args.fetch:
                print(f"corpus {name!r} not found in {searched()}; run with --fetch to download it into "
                      f"{download_folder()}", file=sys.stderr)
                return 1
            try:
                fetch(name)
            except OSError as error:
                print(not_found(name, error), file=sys.stderr)
                return 1
    print(find_corpus(args.corpus) if args.corpus else os.path.dirname(find_corpus(names[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
