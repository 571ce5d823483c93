"""Runs a voice source on a capture device and prints every frame as a JSON line, lost ones too.

Used by test_voice_live.py in a subprocess that talks to the test's own PulseAudio server (so the
PortAudio library in it sees that server's devices from the start). Stops when stdin closes and
then prints the source's counters.
"""

from __future__ import annotations

import json
import sys
import threading

from ezvtb_node.inputs.voice.source import open_voice_source


def main() -> int:
    lock = threading.Lock()

    def show(frame) -> None:
        line = {"t": round(frame.t, 3), "lost": frame.lost, "level": frame.channels["voice.level"]}
        with lock:
            print(json.dumps(line), flush=True)

    source = open_voice_source(sys.argv[1], None, on_frame=show, lost_after=0.3, reopen_interval=0.2)
    with source:
        sys.stdin.read()
    with lock:
        print(json.dumps({"stats": source.stats(), "running_until_stop": source.error is None}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
