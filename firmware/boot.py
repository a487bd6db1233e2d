# On the board, run first at every reset: only what must happen before main.py.
import gc

gc.collect()
gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())  # collect early: signing allocates in bursts
