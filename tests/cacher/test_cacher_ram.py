from ezvtb_node.core.cacher.codec import EncodedFrame
from ezvtb_node.core.cacher.ram import RamStore


def _entry(size: int) -> EncodedFrame:
    return EncodedFrame("raw", 1, 1, b"c" * size, b"")


def test_lru_stays_within_its_byte_budget_and_evicts_least_recent():
    ram = RamStore(max_bytes=300)
    for key in (b"a", b"b", b"c"):
        ram.put(key, _entry(100))
    assert ram.bytes == 300 and len(ram) == 3
    assert ram.get(b"a") is not None  # a is now the most recent
    ram.put(b"d", _entry(100))
    assert b"b" not in ram and {b"a", b"c", b"d"} <= set(ram._entries)
    assert ram.bytes == 300 and ram.evictions == 1
    ram.put(b"e", _entry(250))  # needs room for 250: three evictions
    assert ram.bytes <= 300 and b"e" in ram and len(ram) == 1
    assert ram.evictions == 4


def test_replacing_a_key_does_not_double_count():
    ram = RamStore(max_bytes=1000)
    ram.put(b"a", _entry(100))
    ram.put(b"a", _entry(300))
    assert ram.bytes == 300 and len(ram) == 1


def test_an_entry_bigger_than_the_budget_is_not_stored():
    ram = RamStore(max_bytes=50)
    ram.put(b"a", _entry(40))
    ram.put(b"big", _entry(51))
    assert b"big" not in ram and b"a" in ram


def test_zero_budget_stores_nothing_and_discard_frees_bytes():
    assert len(_fill(RamStore(0))) == 0
    ram = _fill(RamStore(1000))
    ram.discard(b"k0")
    assert b"k0" not in ram and ram.bytes == 400


def _fill(ram: RamStore) -> RamStore:
    for i in range(5):
        ram.put(f"k{i}".encode(), _entry(100))
    return ram
