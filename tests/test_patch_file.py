"""Reading a patch file back (mia.heads.patch_file): a hand-edited file is read as it says or refused in one line
naming the file."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mia.detector.detector import Detector
from tests.test_patching import hand_made_patch


@functools.cache
def _loaded(folder: Path) -> Detector:
    return Detector.load(folder)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 80) | st.floats(allow_nan=False,
                                                                                       allow_infinity=False)
                           | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_a_hand_edited_patch_file_is_read_or_refused_in_one_line(trained_detector_dir, tmp_path_factory, data):
    from mia.errors import MiaError
    from mia.heads.patch_file import read_patch_file

    detector = _loaded(trained_detector_dir)
    content = hand_made_patch(detector)
    targets = [content, *content["heads"][:3]]
    for _ in range(data.draw(st.integers(0, 3))):  # edits: a key of a head entry, or of the whole file
        target = data.draw(st.sampled_from(targets))
        key = data.draw(st.sampled_from(["layer", "head", "necessity", "sufficiency", "necessity_interval", "role",
                                         "model", "heads", "pairs", "corruption"]))
        target[key] = data.draw(JSON_VALUES)
    path = tmp_path_factory.mktemp("edited") / "patch.json"
    path.write_text(json.dumps(content))
    try:
        found = read_patch_file(str(path), detector)
    except MiaError as error:
        assert "\n" not in str(error) and str(path) in str(error)
        return
    assert isinstance(content["heads"], list) and len(found.heads) == len(content["heads"])
    for entry in content["heads"]:
        row = found.heads[(entry["layer"], entry["head"])]
        value = entry.get("necessity")
        assert (row["necessity"] != row["necessity"]) if value is None else row["necessity"] == float(value)
        assert isinstance(row["role"], str)
