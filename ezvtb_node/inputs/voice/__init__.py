"""Voice lip sync (source "voice"): a microphone or a WAV file in, mouth level and vowel weights out.

One job a module, each using only those above it:

* ``audio`` — WAV files and microphones (PortAudio) as blocks of float samples;
* ``features`` — loudness and cepstral features of analysis windows, room noise removal;
* ``profile`` — voice profiles and their JSON file format;
* ``classifier`` — vowel weights under a profile, the centre that follows the voice;
* ``synth`` — the built-in profile, from a formant synthesiser;
* ``calibration`` — a profile from a take of the five vowels;
* ``analyzer`` — audio blocks to one reading per hop (no threads);
* ``source`` — the :class:`~ezvtb_node.inputs.source.FrameSource` on its own thread, and
  ``open_voice_source`` for ``--audio`` and ``--voice-profile``;
* ``commands`` — ``ezvtb-node voice calibrate|devices``.

See docs/inputs.md, section Voice.
"""
