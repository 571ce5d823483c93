from ezvtb_node.mapping.tomllines import scan_key_lines

TEXT = """# a comment with [brackets]
[mapping]
description = "an unbalanced [ string with # inside"
format = 1

[blocks.mouth]
inputs = [
  "a",
  "b",
]
shapes.aaa = [1.0, 0.0]
"quoted key" = 3

[pose]
  mouth_aaa = { from = "jawOpen" }  # trailing comment ]
mouth_iii = { from = "x" }
"""


def test_scan_records_tables_keys_dotted_keys_and_skips_array_lines():
    lines = scan_key_lines(TEXT)
    assert lines[("mapping",)] == 2
    assert lines[("mapping", "description")] == 3
    assert lines[("mapping", "format")] == 4
    assert lines[("blocks", "mouth")] == 6
    assert lines[("blocks", "mouth", "inputs")] == 7
    assert lines[("blocks", "mouth", "shapes", "aaa")] == 11
    assert lines[("blocks", "mouth", "quoted key")] == 12
    assert lines[("pose", "mouth_aaa")] == 15
    assert lines[("pose", "mouth_iii")] == 16
    assert not any(key[-1] in ('"a",', "a") for key in lines)
