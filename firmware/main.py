# On the board: MicroPython runs boot.py, then this. The app lives in /lib (the bundle).
import sys

from firmware.start import StartError, main

try:
    main("/qiyas.json", "/lib/firmware")
except StartError as exc:
    # A technician reads this on the serial console; the board stays at the REPL, unwatched.
    print("qiyas: cannot start:", exc)
except Exception as exc:  # anything else is a bug: show it, then reset and try again
    sys.print_exception(exc)
    import machine

    machine.reset()
