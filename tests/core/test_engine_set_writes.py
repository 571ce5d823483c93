"""Every builder of an engine set (from weights, an ezvtuber-rt import, an in-place upgrade) writes
it through ``store.write_engine_set``: the new set takes the old one's place whole, or the old one
stays as it was, and no staging folder is left beside it."""

import json
import shutil

import onnx
import pytest

from ezvtb_node.core.models.layout import MANIFEST, STAGE_FILES
from ezvtb_node.core.models.store import load_engine_set, sha256_file, write_engine_set
from tests.core.tiny_engine import body_stage, eyebrow_stage, face_stage, image_stage

STAGE_GRAPHS = {"image": image_stage, "eyebrow": eyebrow_stage, "face": face_stage, "body": body_stage}


@pytest.fixture
def old_set(tmp_path, tiny_engine_dir):
    target = tmp_path / "engines" / "tha3" / "separable" / "fp32"
    shutil.copytree(tiny_engine_dir, target)
    return target


def save_stage(stage, folder, note):
    model = STAGE_GRAPHS[stage]()
    model.doc_string = note  # other bytes than the old set's file, so its digest differs
    onnx.save(model, str(folder / STAGE_FILES[stage]))


def new_set_writer(note):
    def write(staging):
        for stage in STAGE_GRAPHS:
            save_stage(stage, staging, note)
        return {"export_format": 99, "variant": "separable", "precision": "fp32", "built_at": note}

    return write


def test_a_new_set_takes_the_old_ones_place_with_a_digest_for_every_file(old_set):
    old_files = load_engine_set(old_set).manifest["files"]

    written = write_engine_set(old_set, "fp32", new_set_writer("second build"))

    reread = load_engine_set(old_set)  # every file checked against the manifest on disk
    assert written.manifest == reread.manifest
    assert reread.manifest["export_format"] == 99 and reread.manifest["built_at"] == "second build"
    assert reread.manifest["files"] == {s: sha256_file(old_set / n) for s, n in STAGE_FILES.items()}
    assert all(reread.manifest["files"][s] != old_files[s] for s in STAGE_FILES)
    assert onnx.load(str(old_set / STAGE_FILES["body"])).doc_string == "second build"
    assert [p.name for p in old_set.parent.iterdir()] == ["fp32"]


def test_a_writer_that_fails_halfway_leaves_the_old_set_and_nothing_beside_it(old_set):
    old_manifest = json.loads((old_set / MANIFEST).read_text())

    def fails_after_two_stages(staging):
        save_stage("image", staging, "half done")
        save_stage("eyebrow", staging, "half done")
        raise RuntimeError("export of face failed")

    with pytest.raises(RuntimeError, match="export of face failed"):
        write_engine_set(old_set, "fp32", fails_after_two_stages)

    assert load_engine_set(old_set).manifest == old_manifest
    assert [p.name for p in old_set.parent.iterdir()] == ["fp32"]


def test_a_new_set_that_cannot_take_its_place_puts_the_old_one_back(old_set, monkeypatch):
    from pathlib import Path

    old_manifest = json.loads((old_set / MANIFEST).read_text())
    real_rename = Path.rename

    def staging_held(path, destination):
        if path.name.startswith(".fp32-"):  # the finished staging folder, held by a scanner for good
            raise PermissionError(13, "held")
        return real_rename(path, destination)

    monkeypatch.setattr(Path, "rename", staging_held)
    with pytest.raises(PermissionError):
        write_engine_set(old_set, "fp32", new_set_writer("never installed"))

    assert load_engine_set(old_set).manifest == old_manifest
    assert [p.name for p in old_set.parent.iterdir()] == ["fp32"]


def test_a_first_set_is_written_where_no_folder_was(tmp_path):
    target = tmp_path / "engines" / "tha3" / "standard" / "fp32"

    written = write_engine_set(target, "fp32", new_set_writer("first build"))

    assert written.path == target
    assert load_engine_set(target).manifest["built_at"] == "first build"
    assert [p.name for p in target.parent.iterdir()] == ["fp32"]
