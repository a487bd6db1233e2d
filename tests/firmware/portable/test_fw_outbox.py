"""firmware.outbox: records survive resets, sequence numbers never repeat, the bound holds.

Plain test functions: they run under CPython (pytest) and MicroPython (tests/mpy).
"""

import os

from scratch import Scratch

from firmware.outbox import Outbox


def test_epoch_and_sequence_survive_a_reset():
    with Scratch() as root:
        box = Outbox(root, 10)
        first = box.boot()  # a new outbox starts at a random epoch (agent.core.record)
        assert 1 <= first < 2**31
        assert [box.reserve_seq(), box.reserve_seq()] == [1, 2]
        box.put(first, 2, b"two")
        again = Outbox(root, 10)  # a reset: everything comes back from flash
        assert again.boot() == first + 1
        assert again.reserve_seq() == 3
        assert again.pending() == [(first, 2)]
        assert again.read(first, 2) == b"two"


def test_a_number_reserved_before_a_cut_is_skipped_never_reused():
    with Scratch() as root:
        box = Outbox(root, 10)
        box.boot()
        box.reserve_seq()  # the cut comes before the record is written
        again = Outbox(root, 10)
        again.boot()
        assert again.reserve_seq() == 2


def test_add_builds_with_the_next_seq_and_a_refused_build_uses_none():
    # agent.core.recorder's contract, the one the Linux outbox keeps in a transaction.
    with Scratch() as root:
        box = Outbox(root, 10)
        epoch = box.boot()

        def refused(epoch, seq):
            raise ValueError("the schema refused it")

        try:
            box.add("radio", refused)
        except ValueError:
            pass
        else:
            raise AssertionError("a build that raised was kept")
        assert box.add("health", lambda epoch, seq: b"%d-%d" % (epoch, seq)) == 1
        assert box.pending() == [(epoch, 1)] and box.read(epoch, 1) == b"%d-1" % epoch
        assert Outbox(root, 10).reserve_seq() == 2  # the seq is persisted as used


def test_records_leave_only_when_removed_oldest_first():
    with Scratch() as root:
        box = Outbox(root, 10)
        for seq in (3, 1, 2):
            box.put(1, seq, b"r%d" % seq)
        assert box.pending() == [(1, 1), (1, 2), (1, 3)]
        assert box.remove(1, 2)
        assert not box.remove(1, 2)  # a second ack for the same record changes nothing
        assert not box.remove(9, 1)  # nor does an ack naming another epoch
        assert box.pending() == [(1, 1), (1, 3)]
        assert box.depth == 2


def test_bounded_drops_the_oldest_and_counts():
    with Scratch() as root:
        box = Outbox(root, 3)
        for seq in range(1, 6):
            box.put(1, seq, b"x")
        assert box.pending() == [(1, 3), (1, 4), (1, 5)]
        assert box.take_dropped() == 2
        assert box.take_dropped() == 0


def test_a_write_cut_short_leaves_no_half_record():
    with Scratch() as root:
        box = Outbox(root, 10)
        box.put(1, 1, b"whole")
        with open(root + "/records/2-1.tmp", "wb") as f:
            f.write(b"ha")
        again = Outbox(root, 10)
        assert again.pending() == [(1, 1)]
        assert "2-1.tmp" not in os.listdir(root + "/records")


def test_lost_state_is_rebuilt_in_a_new_epoch_after_every_record():
    with Scratch() as root:
        box = Outbox(root, 10)
        box.boot()
        box.put(1, 7, b"x")
        os.remove(root + "/state.json")
        again = Outbox(root, 10)
        assert "missing" in again.recovered
        assert again.boot() > 1000  # clear of every epoch whose records may be acknowledged already
        assert again.reserve_seq() == 8


def test_corrupt_state_is_rebuilt_not_trusted():
    with Scratch() as root:
        Outbox(root, 10).boot()
        with open(root + "/state.json", "wb") as f:
            f.write(b'{"epoch": "one"')
        again = Outbox(root, 10)
        assert "unreadable" in again.recovered
        assert again.reserve_seq() == 1
