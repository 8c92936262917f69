"""The ground-truth cache: a hit scores exactly like a parse, any change to an XML re-parses, and a
broken cache entry is ignored (with a warning) and rewritten: never a traceback, never a wrong number."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ilsvrc_pipe.data import file_pool
from ilsvrc_pipe.evaluation import gt_cache, xml_batch
from ilsvrc_pipe.evaluation.ground_truth import load_det_ground_truth, load_loc_ground_truth

TOOL = Path(__file__).resolve().parents[2] / "tools" / "evaluate.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool_cache", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fixture_copy(scoring_fixture, tmp_path) -> Path:
    """A writable copy of the scoring fixture (tests edit and touch its XMLs)."""
    return Path(shutil.copytree(scoring_fixture, tmp_path / "scoring"))


@pytest.fixture
def count_parses(monkeypatch):
    """Number of files parsed from XML so far (cache hits parse none)."""
    calls = []
    real = gt_cache.parse_xml_files

    def counting(paths, *args, **kwargs):
        calls.append(len(paths))
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(gt_cache, "parse_xml_files", counting)
    return calls


def _loc(root: Path, cache_dir):
    return load_loc_ground_truth(root / "loc/Annotations", root / "synsets.txt", root / "loc/blacklist.txt",
                                 cache_dir=cache_dir)


def _det(root: Path, cache_dir):
    return load_det_ground_truth(root / "det/Annotations", root / "synsets.txt", root / "det/val.txt",
                                 root / "det/blacklist.txt", cache_dir=cache_dir)


def _assert_same(a, b):
    for field in vars(a):
        x, y = getattr(a, field), getattr(b, field)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), field
        else:
            assert x == y, field


def _entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "ground_truth").glob("*.npz"))


@pytest.mark.parametrize("load", [_loc, _det])
def test_cache_hit_is_identical_to_parsing(fixture_copy, tmp_path, count_parses, load):
    cache = tmp_path / "cache"
    parsed = load(fixture_copy, None)
    first = load(fixture_copy, cache)
    assert len(_entries(cache)) == 1
    second = load(fixture_copy, cache)
    assert count_parses == [count_parses[0]] * 2  # the uncached and the cold call parsed; the warm one did not
    _assert_same(parsed, first)
    _assert_same(parsed, second)


def test_touching_an_xml_invalidates_the_cache(fixture_copy, tmp_path, count_parses):
    cache = tmp_path / "cache"
    before = _loc(fixture_copy, cache)
    xml = sorted((fixture_copy / "loc/Annotations").glob("*.xml"))[7]
    st = xml.stat()
    os.utime(xml, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same bytes, new mtime
    _assert_same(before, _loc(fixture_copy, cache))
    assert len(count_parses) == 2


def test_editing_an_xml_is_seen(fixture_copy, tmp_path, count_parses):
    cache = tmp_path / "cache"
    before = _det(fixture_copy, cache)
    xml = fixture_copy / "det/Annotations" / f"{before.stems[3]}.xml"
    text = xml.read_text()
    first_x = text.split("<xmin>")[1].split("</xmin>")[0]
    xml.write_text(text.replace(f"<xmin>{first_x}</xmin>", f"<xmin>{int(first_x) + 1}</xmin>", 1))
    after = _det(fixture_copy, cache)
    assert len(count_parses) == 2
    changed = np.flatnonzero((before.object_boxes != after.object_boxes).any(axis=1))
    assert len(changed) == 1 and before.object_image[changed[0]] == 3
    assert after.object_boxes[changed[0], 0] == before.object_boxes[changed[0], 0] + 1
    _assert_same(after, _det(fixture_copy, None))


def test_adding_or_removing_an_xml_is_seen(fixture_copy, tmp_path):
    cache = tmp_path / "cache"
    folder = fixture_copy / "loc/Annotations"
    n = len(_loc(fixture_copy, cache).stems)
    victim = sorted(folder.glob("*.xml"))[-1]
    saved = victim.read_bytes()
    victim.unlink()
    (fixture_copy / "loc/blacklist.txt").write_text("1\n")
    assert len(_loc(fixture_copy, cache).stems) == n - 1
    victim.write_bytes(saved)
    assert len(_loc(fixture_copy, cache).stems) == n


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_arrays"])
def test_corrupt_cache_entry_is_ignored_and_rewritten(fixture_copy, tmp_path, caplog, damage):
    cache = tmp_path / "cache"
    good = _det(fixture_copy, cache)
    (entry,) = _entries(cache)
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(bytes(range(256)) * 50)
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # a readable entry whose arrays do not fit together
        with np.load(entry) as old:
            arrays = dict(old)
        arrays["boxes"] = arrays["boxes"][:-1]
        np.savez(entry, **arrays)
    with caplog.at_level(logging.WARNING):
        again = _det(fixture_copy, cache)
    _assert_same(good, again)
    assert "ignoring unreadable ground-truth cache" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _assert_same(good, _det(fixture_copy, cache))  # rewritten: read back without a warning
    assert "ground-truth cache" not in caplog.text


def test_unwritable_cache_dir_only_warns(fixture_copy, tmp_path, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        gt = _loc(fixture_copy, blocker)
    _assert_same(gt, _loc(fixture_copy, None))
    assert "could not write the ground-truth cache" in caplog.text


def test_changed_parser_source_misses(fixture_copy, tmp_path, count_parses, monkeypatch):
    cache = tmp_path / "cache"
    _loc(fixture_copy, cache)
    monkeypatch.setattr(gt_cache, "FORMAT", gt_cache.FORMAT + 1)
    _loc(fixture_copy, cache)
    assert len(count_parses) == 2


def test_cli_corrupt_cache_no_traceback_same_numbers(scoring_fixture, expected, tmp_path, capsys):
    args = ["det", "--pred", str(scoring_fixture / "det/pred.txt"), "--gt-xml-dir", str(scoring_fixture / "det/Annotations"),
            "--synsets", str(scoring_fixture / "synsets.txt"), "--image-list", str(scoring_fixture / "det/val.txt"),
            "--blacklist", str(scoring_fixture / "det/blacklist.txt"), "--cache-dir", str(tmp_path / "cache")]
    tool = load_tool()
    for run in range(3):
        out = tmp_path / f"det{run}.json"
        assert tool.main(args + ["--json-out", str(out)]) == 0
        assert json.loads(out.read_text())["mAP"] == pytest.approx(expected["det"]["mAP"], abs=1e-9)
        for entry in _entries(tmp_path / "cache"):
            entry.write_bytes(b"PK\x03\x04 not really a zip")
    assert "Traceback" not in capsys.readouterr().err


def test_cli_no_cache_writes_nothing(scoring_fixture, tmp_path, monkeypatch):
    monkeypatch.setenv(gt_cache.CACHE_ENV, str(tmp_path / "env_cache"))
    args = ["loc", "--pred", str(scoring_fixture / "loc/pred.txt"), "--gt-xml-dir", str(scoring_fixture / "loc/Annotations"),
            "--synsets", str(scoring_fixture / "synsets.txt")]
    tool = load_tool()
    assert tool.main(args + ["--no-cache"]) == 0
    assert not (tmp_path / "env_cache").exists()
    assert tool.main(args) == 0
    assert len(_entries(tmp_path / "env_cache")) == 1


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(gt_cache.CACHE_ENV, str(tmp_path / "x"))
    assert gt_cache.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv(gt_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gt_cache.default_cache_dir() == tmp_path / "xdg" / "ilsvrc_pipe"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert gt_cache.default_cache_dir() == Path.home() / ".cache" / "ilsvrc_pipe"


def test_parallel_parse_equals_serial(fixture_copy, monkeypatch):
    paths = sorted(str(p) for p in (fixture_copy / "det/Annotations").glob("*.xml"))
    serial = xml_batch.parse_xml_files(paths, workers=1)
    parallel = xml_batch.parse_xml_files(paths, workers=2)
    assert np.array_equal(serial.counts, parallel.counts) and np.array_equal(serial.names, parallel.names)
    assert np.array_equal(serial.boxes, parallel.boxes) and serial.error is None and parallel.error is None


def test_parallel_parse_reports_the_first_bad_file(fixture_copy):
    paths = sorted(str(p) for p in (fixture_copy / "det/Annotations").glob("*.xml"))
    for k in (5, len(paths) - 3):
        Path(paths[k]).write_text("<annotation><object>")
    for workers in (1, 2):
        parsed = xml_batch.parse_xml_files(paths, workers=workers)
        assert parsed.n_files == 5 and parsed.error[0] == 5
        assert f"{paths[5]}:1: malformed XML" in str(parsed.error[1])


def test_no_process_pool_falls_back_to_one_process(fixture_copy, monkeypatch, caplog):
    paths = sorted(str(p) for p in (fixture_copy / "det/Annotations").glob("*.xml"))

    def refuse(*args, **kwargs):
        raise OSError("no /dev/shm")

    monkeypatch.setattr(file_pool, "ProcessPoolExecutor", refuse)
    with caplog.at_level(logging.WARNING):
        parsed = xml_batch.parse_xml_files(paths, workers=2)
    assert parsed.n_files == len(paths) and "parsing in this process" in caplog.text
    assert np.array_equal(parsed.boxes, xml_batch.parse_xml_files(paths, workers=1).boxes)


def test_parallel_parse_with_threads_running(fixture_copy):
    """A process with threads does not fork its workers (a fork server starts them)."""
    import threading

    paths = sorted(str(p) for p in (fixture_copy / "loc/Annotations").glob("*.xml"))
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert file_pool.pool_context() is None or file_pool.pool_context().get_start_method() == "forkserver"
        parsed = xml_batch.parse_xml_files(paths, workers=2)
    finally:
        stop.set()
        thread.join()
    assert np.array_equal(parsed.names, xml_batch.parse_xml_files(paths, workers=1).names)
