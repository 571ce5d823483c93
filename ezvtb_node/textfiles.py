"""The one reader for the text files users edit or redirect into: node.toml, mapping files, voice
profiles, traces and pose files.

Windows tools write text in more than one encoding (Windows PowerShell 5.1's ``>`` writes UTF-16LE
with a byte-order mark; Notepad's "UTF-8 with BOM" starts with EF BB BF). Python's "utf-8" codec
keeps the BOM as U+FEFF, which tomllib and json reject at line 1, column 1, and fails on UTF-16
with a bare "can't decode byte 0xff". So: a UTF-8 BOM is skipped, a file with a UTF-16 BOM is
decoded as UTF-16, and anything else that is not UTF-8 is refused naming the file and the fix.
"""

from __future__ import annotations

import codecs
import gzip
import io
from pathlib import Path
from typing import IO

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SAVE_AS_UTF8 = (
    "save it as UTF-8 (Notepad: File > Save as > Encoding: UTF-8; PowerShell: "
    "`Get-Content FILE | Set-Content -Encoding utf8 FILE`)"
)


class TextFileError(ValueError):
    """A file that is not text in an encoding we read; the message names the file and the fix."""


def encoding_of(head: bytes) -> str:
    """The codec for a file that starts with ``head``: UTF-16 when it has a UTF-16 BOM, else UTF-8
    with an optional BOM (``utf-8-sig`` skips one)."""
    return "utf-16" if head.startswith(_UTF16_BOMS) else "utf-8-sig"


_NO_BOM_UTF16 = "what looks like UTF-16 text without a byte-order mark (zero bytes between the letters)"


def _refusal(name: str, got: str) -> TextFileError:
    return TextFileError(f"{name}: expected UTF-8 text, got {got}; {SAVE_AS_UTF8}")


def _undecodable(exc: UnicodeDecodeError, encoding: str) -> str:
    if encoding == "utf-16":
        return f"UTF-16 text (it starts with a UTF-16 byte-order mark) cut or damaged at byte {exc.start}"
    if b"\x00" in exc.object[:200]:
        return _NO_BOM_UTF16
    byte = exc.object[exc.start : exc.start + 1].hex()
    return f"byte 0x{byte} at offset {exc.start}, which UTF-8 cannot hold"


def decode_text(data: bytes, name: str) -> str:
    """``data`` as text (see the module docstring); TextFileError names ``name`` when it is not."""
    encoding = encoding_of(data[:2])
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _refusal(name, _undecodable(exc, encoding)) from None
    if "\x00" in text[:200]:  # ASCII text in UTF-16 without a BOM decodes as UTF-8 with zero bytes
        raise _refusal(name, _NO_BOM_UTF16)
    return text


def read_text_file(path: str | Path) -> str:
    """The whole file as text; FileNotFoundError as ``open`` raises it."""
    return decode_text(Path(path).read_bytes(), str(path))


class _NamedTextFile(io.TextIOWrapper):
    """A text stream whose decoding errors name the file (they surface line by line)."""

    def __next__(self) -> str:
        try:
            return super().__next__()
        except UnicodeDecodeError as exc:
            raise _refusal(self.name_for_errors, _undecodable(exc, self.encoding)) from None

    name_for_errors = ""


def open_text_file(path: str | Path) -> IO[str]:
    """A line stream over a long file (traces, pose files); ``.gz`` files are decompressed on the fly."""
    raw = gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")  # noqa: SIM115
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    stream = _NamedTextFile(buffered, encoding=encoding_of(buffered.peek(2)[:2]))
    stream.name_for_errors = str(path)
    return stream
