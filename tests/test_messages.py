"""Messages, not tracebacks (issue 12, point 8): a full disk while the driver writes, and file
names that are not UTF-8 in `garden analyze`, end in one line that names the file and the cause.

A full disk is simulated in-process: the driver's write raises OSError(ENOSPC) the way a write
through an open file does (no file name attached), and the CLI runs in this process."""
from __future__ import annotations

import errno
import json
import os

import pytest
from click.testing import CliRunner

from conftest import write_jsonl, write_recipe
from garden.cli import main
from garden.messages import os_error_message

DOCS = [{"id": str(i), "text": f"the quick brown fox number {i} jumps over the lazy dog"} for i in range(40)]


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def one_line_error(result, code: int) -> str:
    """The command exited with `code` after printing one `error:` line and no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # not an escaped exception
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def tokenizer_file(tmp_path) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<|endoftext|>": 0, "[UNK]": 1}
    for d in DOCS:
        for w in d["text"].split():
            vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(["<|endoftext|>"])
    path = str(tmp_path / "tokenizer.json")
    tok.save(path)
    return path


@pytest.mark.slow
def test_disk_full_while_writing_a_stage_fingerprint(tmp_path, monkeypatch):
    import garden.executor.runner as runner

    inp = write_jsonl(tmp_path / "in.jsonl", DOCS)
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_chars": 3}}], [{"path": inp, "source": "s"}])
    real = runner.atomic_write_bytes
    monkeypatch.setattr(runner, "atomic_write_bytes",
                        lambda path, data: disk_full() if path.endswith("fingerprint") else real(path, data))
    line = one_line_error(CliRunner().invoke(main, ["run", recipe, "-q"]), 1)
    out = str(tmp_path / "out")
    assert line == (f"error: {out}: No space left on device; the disk is full: free space (or set another "
                    f"output) and run the same command again (completed work is kept)")


@pytest.mark.slow
def test_disk_full_while_tokenize_merges_then_resume(tmp_path, monkeypatch, tokenizer_file):
    """The driver concatenates the shards' tokens; a full disk there is a message, and once space is
    free the same command finishes from the completed shards."""
    import operators.tokens.tokenize as tokenize

    inp = write_jsonl(tmp_path / "in.jsonl", DOCS)
    recipe = write_recipe(tmp_path, [{"tokenize": {"tokenizer": tokenizer_file}}], [{"path": inp, "source": "s"}])
    monkeypatch.setattr(tokenize, "merge", disk_full)
    line = one_line_error(CliRunner().invoke(main, ["run", recipe, "-q"]), 1)
    assert line.startswith(f"error: {tmp_path / 'out'}: No space left on device; the disk is full")
    assert not (tmp_path / "out" / "tokens.json").exists()
    monkeypatch.undo()  # space is free again
    result = CliRunner().invoke(main, ["run", recipe, "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "tokens.json").read_text())
    assert manifest["sources"]["s"]["documents"] == len(DOCS)


@pytest.mark.slow
def test_analyze_disk_full_is_a_message(tmp_path, monkeypatch):
    import garden.analysis.analyze as analyze

    inp = write_jsonl(tmp_path / "in.jsonl", DOCS)
    monkeypatch.setattr(analyze, "atomic_write_json", disk_full)
    out = str(tmp_path / "analysis")
    line = one_line_error(CliRunner().invoke(main, ["analyze", inp, "-o", out, "-q"]), 1)
    assert line.startswith(f"error: {out}: No space left on device; the disk is full")
    assert "completed work is kept" not in line  # analyze starts over


@pytest.fixture
def non_utf8_folder(tmp_path) -> str:
    folder = tmp_path / "corpus"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9-\xff.jsonl"), "w") as fh:  # Latin-1 name
        fh.write("".join(json.dumps(d) + "\n" for d in DOCS[:10]))
    write_jsonl(folder / "plain.jsonl", DOCS[10:15])
    return str(folder)


@pytest.mark.slow
def test_analyze_refuses_files_whose_names_are_not_utf8_in_one_line(tmp_path, non_utf8_folder):
    """As `garden run` does (ids and reports are UTF-8 text): one line naming the file, bytes shown."""
    out = tmp_path / "analysis"
    result = CliRunner().invoke(main, ["analyze", os.path.join(non_utf8_folder, "*.jsonl"), "-o", str(out), "-q"])
    line = one_line_error(result, 2)
    assert "caf\\xe9-\\xff.jsonl" in line and "not valid UTF-8" in line and "rename" in line
    assert not (out / "analysis.json").exists()


@pytest.mark.slow
def test_analyze_names_a_missing_file_in_one_line(tmp_path):
    line = one_line_error(CliRunner().invoke(main, ["analyze", str(tmp_path / "nope-*.jsonl"), "-q",
                                                    "-o", str(tmp_path / "a")]), 2)
    assert "nope-*.jsonl" in line


def test_os_error_message_names_the_file_and_what_to_do():
    exc = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/data/run/stats.json")
    assert os_error_message(exc, "/data/run") == ("/data/run/stats.json: Permission denied; permission denied: "
                                                  "check the folder's owner and permissions")
    exc = OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert os_error_message(exc, "/mnt/ro") == "/mnt/ro: Read-only file system; the file system is read-only: " \
                                               "choose another output"
    odd = os.fsdecode(b"/x/\xff.jsonl")  # a name that is not UTF-8 prints as \xff, not as an encoding error
    assert os_error_message(FileNotFoundError(errno.ENOENT, "No such file or directory", odd)).startswith(
        "/x/\\xff.jsonl: No such file or directory")
