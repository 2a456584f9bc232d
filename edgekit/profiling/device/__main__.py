"""Runs the profiler when this folder is run as a program: `python3 <folder> MODEL... [options]`.

Python runs a folder's __main__.py with the folder itself first on sys.path and no package around it, so this
puts the folder's parent there instead and imports the profiler as the package it is (named as the folder is:
`edgekit_device_profiler` on a board, `device` in a checkout), whose modules import each other relatively.
"""

import importlib
import os
import sys

if __name__ == "__main__":
    sys.dont_write_bytecode = True  # leave nothing beside the pushed files
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[0] = os.path.dirname(here)
    profiler = importlib.import_module(os.path.basename(here) + ".profiler")
    sys.exit(profiler.main())
