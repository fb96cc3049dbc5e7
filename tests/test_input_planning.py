"""What an input names is checked before any work: FIFOs, devices, sockets, unreadable files, link
loops and non-UTF-8 names are refused with a message naming them; each file is read once."""
import json
import os
import socket

import pytest

from conftest import read_data, read_stats, run_garden, write_recipe
from garden.io import fs
from garden.recipe import RecipeError, load_recipe


def corpus(directory, n=3) -> None:
    """n files of 4 records without ids: Garden names each record by its file and line."""
    directory.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        (directory / f"f{k}.jsonl").write_text("".join(json.dumps({"text": f"text {k} {i}"}) + "\n" for i in range(4)))


def refused(tmp_path, inputs, *needles, commands=()) -> None:
    """Loading the recipe fails with a message naming the problem; so do `garden validate` and
    `garden run` in `commands` (exit 2, one line, before any output)."""
    recipe = write_recipe(tmp_path, [], inputs, output="refused")
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    for needle in needles:
        assert needle in str(err.value)
    for command in commands:
        proc = run_garden(command, recipe, check=False, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
        for needle in needles:
            assert needle in proc.stderr
    assert not (tmp_path / "refused").exists()


def test_fifo_device_and_socket_are_refused_without_hanging(tmp_path):
    corpus(tmp_path / "d")
    os.mkfifo(tmp_path / "d" / "pipe.jsonl")
    refused(tmp_path, [{"path": str(tmp_path / "d" / "*.jsonl"), "source": "s"}],
            "inputs[0]", "pipe.jsonl' is a FIFO (named pipe)", commands=("validate", "run"))
    os.remove(tmp_path / "d" / "pipe.jsonl")
    os.symlink("/dev/zero", tmp_path / "d" / "zero.jsonl")
    refused(tmp_path, [{"path": str(tmp_path / "d" / "*.jsonl"), "source": "s"}], "zero.jsonl' is a device")
    os.remove(tmp_path / "d" / "zero.jsonl")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "d" / "s.jsonl"))
        refused(tmp_path, [{"path": str(tmp_path / "d" / "s.jsonl"), "source": "s"}], "s.jsonl' is a socket")
    finally:
        sock.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_refused(tmp_path):
    corpus(tmp_path / "d")
    os.chmod(tmp_path / "d" / "f1.jsonl", 0)
    refused(tmp_path, [{"path": str(tmp_path / "d" / "*.jsonl"), "source": "s"}], "f1.jsonl' is not readable")


@pytest.mark.slow
def test_link_loops_are_reported_and_each_file_read_once(tmp_path):
    d = tmp_path / "d"
    corpus(d / "sub")
    os.symlink("..", d / "sub" / "up")        # a loop: d/sub/up/sub/up/... (Python's glob walks it ~40 deep)
    os.symlink(".", d / "sub" / "here")      # a second loop: with two, glob's walk is exponential
    os.symlink("f0.jsonl", d / "sub" / "alias.jsonl")  # one file under two names
    recipe = write_recipe(tmp_path, [], [{"path": str(d / "**" / "*.jsonl"), "source": "s"}])
    proc = run_garden("run", recipe, "-q", timeout=120)
    assert "symlink loop not followed: '" + str(d / "sub" / "up") + "'" in proc.stderr
    assert "'" + str(d / "sub" / "here") + "'" in proc.stderr
    stats = read_stats(tmp_path / "out")
    assert stats["input_docs"] == 12 and stats["kept_docs"] == 12 and stats["quarantined_docs"] == 0
    # ids name each file by its own path, not by a detour through a link
    assert sorted({r["id"].split(":")[0] for r in read_data(tmp_path / "out")}) == [
        "s/sub/f0.jsonl", "s/sub/f1.jsonl", "s/sub/f2.jsonl"]
    os.symlink("self.jsonl", d / "sub" / "self.jsonl")  # a link to itself: ELOOP on open
    refused(tmp_path, [{"path": str(d / "sub" / "*.jsonl"), "source": "s"}], "self.jsonl' is a symbolic link loop")


def test_local_glob_matches_python_glob_without_loops(tmp_path):
    import glob

    corpus(tmp_path / "t" / "a" / "b")
    corpus(tmp_path / "t" / ".hidden")
    corpus(tmp_path / "t" / "c", 1)
    (tmp_path / "t" / "c" / ".h.jsonl").write_text("")
    os.symlink("../c", tmp_path / "t" / "a" / "lc")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for pattern in ("t/**/*.jsonl", "t/**", "t/**/", "**/*.jsonl", "t/*/**/*.jsonl", "t/**/b/*.jsonl",
                        "t/**/.*.jsonl", "t/**/*", "t/**/**/*.jsonl", "t/*/*.jsonl", "nope/**/x",
                        str(tmp_path / "t" / "**" / "f0.jsonl")):
            assert fs.local_glob(pattern) == (sorted(set(glob.glob(pattern, recursive=True))), []), pattern
        os.symlink("..", tmp_path / "t" / "a" / "b" / "up")
        matches, loops = fs.local_glob("t/**/*.jsonl")
        assert loops == ["t/a/b/up"] and len(matches) == len(set(matches)) == 3 + 1 + 1
    finally:
        os.chdir(cwd)


@pytest.mark.slow
def test_same_file_twice_is_read_once_and_two_sources_are_refused(tmp_path):
    corpus(tmp_path / "d")
    both = [{"path": str(tmp_path / "d" / "*.jsonl"), "source": "web"},
            {"path": str(tmp_path / "d" / "f1.jsonl"), "source": "books"}]
    refused(tmp_path, both, "inputs[0] (source 'web') and inputs[1] (source 'books') both name",
            "f1.jsonl': a file is read once", commands=("validate",))
    same = [{"path": str(tmp_path / "d" / "*.jsonl"), "source": "web"},
            {"path": str(tmp_path / "d" / "f[12].jsonl"), "source": "web"}]
    run_garden("run", write_recipe(tmp_path, [], same), "-q")
    stats = read_stats(tmp_path / "out")
    assert stats["input_docs"] == 12 and stats["kept_docs"] == 12


def test_non_utf8_file_name_and_directory_get_a_message(tmp_path):
    corpus(tmp_path / "d")
    bad = os.path.join(os.fsencode(tmp_path / "d"), b"caf\xe9.jsonl")
    with open(bad, "wb") as fh:
        fh.write(b'{"id": "x", "text": "latin-1 name"}\n')
    refused(tmp_path, [{"path": str(tmp_path / "d" / "*.jsonl"), "source": "s"}],
            "caf\\xe9.jsonl': file name is not valid UTF-8 (rename it")
    os.remove(bad)
    refused(tmp_path, [{"path": str(tmp_path / "d"), "source": "s"}],
            "d' is a directory: name its files with a pattern such as '" + str(tmp_path / "d" / "*.jsonl"))
