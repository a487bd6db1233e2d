"""Emulated cellular modems on PTYs, driven by scenario data files."""
