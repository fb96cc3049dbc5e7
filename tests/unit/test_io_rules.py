"""I/O owns the temp-file rule, and the I/O package does not depend on the recipe layer."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

from garden.io import fs


def test_temp_globs_find_exactly_garden_temp_files(tmp_path):
    folder = tmp_path / "data[1]"  # glob magic in a folder name must not break the patterns
    (folder / "sub").mkdir(parents=True)
    target = str(folder / "part-00000.parquet")
    mine = fs.temp_path(target)
    killed = str(folder / f".part-00000.parquet{fs.TEMP_MARK}12345")
    deeper = fs.temp_path(str(folder / "sub" / "x.json"))
    for path in (mine, killed, deeper, target, str(folder / ".part-00000.parquet.bak"),
                 str(folder / ".part-00001.parquet.garden-tmp-1")):
        open(path, "w").close()
    assert sorted(glob.glob(fs.temp_glob(target))) == sorted([mine, killed])
    found = sorted(glob.glob(fs.temp_glob_under(str(folder)), recursive=True))
    assert set(found) == {mine, killed, deeper, str(folder / ".part-00001.parquet.garden-tmp-1")}
    assert all(fs.is_temp_name(os.path.basename(p)) for p in found)
    assert not fs.is_temp_name("part-00000.parquet") and not fs.is_temp_name(".x.garden-tmp-")


def test_io_does_not_import_the_recipe_layer():
    code = ("import sys, garden.io.fs, garden.io.inputs, garden.io.reader, garden.io.writer; "
            "bad = [m for m in sys.modules if m in ('garden.recipe', 'garden.operator', 'garden.registry')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_recipe_still_offers_input_spec():
    from garden.io.inputs import InputSpec
    from garden.recipe import InputSpec as FromRecipe

    assert FromRecipe is InputSpec
