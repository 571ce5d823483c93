"""The one parser for network addresses given by users (node.toml, ``run``, ``listen``, ``--output``).

Accepted forms, for a listener whose defaults are DEFAULT_HOST and DEFAULT_PORT:

=================  ======================================================
``HOST:PORT``      both given (``[::1]:9000`` for IPv6)
``PORT``           DEFAULT_HOST, that port
``:PORT``          DEFAULT_HOST, that port
``HOST``           that host, DEFAULT_PORT
``on``             DEFAULT_HOST:DEFAULT_PORT (where a listener can be switched)
``off`` or empty   no listener (where a listener can be switched)
=================  ======================================================

Port 0 asks the OS for a free port (tests use it). Every caller gets the same answer for the
same text, so doctor checks exactly the ports the node will open.
"""

from __future__ import annotations

SWITCH_OFF = frozenset({"off", "", "false", "no"})
SWITCH_ON = frozenset({"on", "true", "yes"})


def parse_endpoint(
    text: str, default_host: str, default_port: int, what: str, switchable: bool = True
) -> tuple[str, int] | None:
    """``(host, port)`` for ``text``, or None for 'off' (only when ``switchable``).

    Raises ValueError naming ``what`` (the setting), the forms expected and the text that came.
    """
    value = text.strip()
    forms = "HOST:PORT, PORT or HOST" + (", 'on' or 'off'" if switchable else "")
    if switchable and value.lower() in SWITCH_OFF:
        return None
    if switchable and value.lower() in SWITCH_ON:
        return default_host, default_port
    if not value:
        raise ValueError(f"{what}: expected {forms}, got an empty value")
    if value.startswith("["):  # [v6-address] or [v6-address]:PORT
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{what}: expected {forms}, got {text!r}")
        port_text = rest[1:] if rest else str(default_port)
    elif value.count(":") > 1:  # a bare IPv6 address: no port can follow it unbracketed
        host, port_text = value, str(default_port)
    else:
        host, colon, port_text = value.rpartition(":")
        if not colon:
            host, port_text = ("", value) if value.isdigit() else (value, str(default_port))
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{what}: expected {forms} with a port 0-65535, got {text!r}")
    return host or default_host, int(port_text)
