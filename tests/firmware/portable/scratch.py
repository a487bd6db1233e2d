"""A fresh folder per test, under CPython and MicroPython alike (no tempfile there)."""

import os
import time

BASE = "/tmp/qiyas-fw-tests"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove_tree(path):
    if not _exists(path):
        return
    if os.stat(path)[0] & 0x4000:  # S_IFDIR
        for name in os.listdir(path):
            remove_tree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


class Scratch:
    """`with Scratch() as path:` a new empty folder, removed afterwards."""

    def __enter__(self):
        if not _exists(BASE):
            os.mkdir(BASE)
        self.path = f"{BASE}/{time.time_ns()}"
        os.mkdir(self.path)
        return self.path

    def __exit__(self, *exc):
        remove_tree(self.path)
