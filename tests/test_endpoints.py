"""One address parser for the node, doctor, ``listen`` and the outputs: same text, same answer."""

import pytest

from ezvtb_node.endpoints import parse_endpoint


def test_a_switchable_listener_can_be_turned_off_or_on_with_its_defaults():
    for off in ("off", "", "  ", "false", "no", "OFF"):
        assert parse_endpoint(off, "127.0.0.1", 39539, "vmc") is None
    assert parse_endpoint("on", "0.0.0.0", 49983, "x") == ("0.0.0.0", 49983)
    assert parse_endpoint("yes", "127.0.0.1", 1, "x") == ("127.0.0.1", 1)


def test_host_and_port_each_fall_back_to_the_listeners_default():
    assert parse_endpoint("0.0.0.0:49983", "127.0.0.1", 1, "x") == ("0.0.0.0", 49983)
    assert parse_endpoint("39540", "127.0.0.1", 39539, "x") == ("127.0.0.1", 39540)
    assert parse_endpoint(":39541", "127.0.0.1", 39539, "x") == ("127.0.0.1", 39541)
    assert parse_endpoint("192.168.1.2", "127.0.0.1", 39539, "x") == ("192.168.1.2", 39539)
    assert parse_endpoint("localhost", "127.0.0.1", 8765, "x") == ("localhost", 8765)
    assert parse_endpoint("0", "127.0.0.1", 8765, "x") == ("127.0.0.1", 0)


def test_ipv6_addresses_work_bracketed_with_a_port_and_bare_without_one():
    assert parse_endpoint("[::1]:9000", "127.0.0.1", 1, "x") == ("::1", 9000)
    assert parse_endpoint("[::1]", "127.0.0.1", 7, "x") == ("::1", 7)
    assert parse_endpoint("::1", "127.0.0.1", 7, "x") == ("::1", 7)


@pytest.mark.parametrize("bad", ["localhost:abc", "127.0.0.1:http", "host:99999", "[::1]x", "[::1"])
def test_a_bad_address_names_the_setting_the_forms_and_what_came(bad):
    with pytest.raises(ValueError, match=r"vmc: expected HOST:PORT, PORT or HOST, 'on' or 'off'") as info:
        parse_endpoint(bad, "127.0.0.1", 1, "vmc")
    assert repr(bad) in str(info.value)


def test_where_a_listener_cannot_be_switched_on_and_off_are_host_names_and_empty_is_an_error():
    assert parse_endpoint("on", "127.0.0.1", 8765, "output", switchable=False) == ("on", 8765)
    with pytest.raises(ValueError, match="output: expected HOST:PORT, PORT or HOST, got an empty value"):
        parse_endpoint("", "127.0.0.1", 8765, "output", switchable=False)
