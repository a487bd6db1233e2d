#!/usr/bin/env node
// A MicroPython "board" on stdin/stdout: the WebAssembly port's REPL, byte for byte, so that
// mpremote and `qiyas flash` can be run against real MicroPython without hardware. Give it a
// PTY's master side as stdin and stdout; tools open the slave side as the board's serial port.
//
// What a USB board does that the port's REPL does not, done here:
// - soft reboot (Ctrl-D at the raw REPL) and hard reset (machine.reset()): the REPL starts
//   again, the filesystem stays; main.py is not run (this board has no modem to measure);
// - raw-paste mode (Ctrl-E A Ctrl-A) is answered "not supported", so mpremote falls back to
//   the plain raw REPL, as it does with older boards.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { loadMicroPython } = await import(
  join(here, "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs")
);

const FORCED_EXIT = 0x100; // pyexec's return code when the REPL asks for a soft reset
let resetRequested = false;
let mute = false;

// The port numbers errors as Emscripten does (ENOENT 44); a board, and mpremote, as Linux does
// (ENOENT 2). "OSError: N" in the output is renumbered, which is all mpremote reads of them.
const ERRNO = { 44: 2, 20: 17, 31: 21, 54: 20 };
const MARK = "OSError: ";
let held = "";
function emit(text) {
  if (!mute) process.stdout.write(Buffer.from(text, "latin1"));
}
const out = (bytes) => {
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    if (held.length < MARK.length ? ch === MARK[held.length] : /[0-9]/.test(ch)) {
      held += ch;
      continue;
    }
    if (held.length > MARK.length) {
      const n = Number(held.slice(MARK.length));
      held = MARK + (ERRNO[n] ?? n);
    }
    emit(held + ch);
    held = "";
  }
};
const mp = await loadMicroPython({ linebuffer: false, stdout: out, stderr: out });
mp.registerJsModule("_board", { reset: () => (resetRequested = true) });
mp.FS.mkdirTree("/lib");
mp.FS.writeFile(
  "/lib/machine.py",
  "# The emulated board's machine module: reset only.\n" +
    "import _board\n\n\ndef reset():\n    _board.reset()\n    raise SystemExit\n",
);
mp.FS.chdir("/");
mp.replInit();

function restart(banner) {
  emit(banner);
  mute = true; // the REPL's own banner; a board prints it too, but tools do not need it twice
  mp.replInit();
  mute = false;
}

function feed(byte) {
  const code = mp.replProcessChar(byte);
  if (code & FORCED_EXIT) {
    restart("soft reboot\r\n");
    mp.replProcessChar(1); // a board soft-rebooted from the raw REPL is in the raw REPL
  } else if (resetRequested) {
    resetRequested = false;
    restart("\r\nMicroPython (emulated board) hard reset\r\n");
    mp.replProcessChar(13);
  }
}

// Ctrl-E A Ctrl-A asks for raw-paste mode: held back until it is complete or is not it.
const RAW_PASTE = [5, 65, 1];
let asked = [];
process.stdin.on("data", (chunk) => {
  for (const byte of chunk) {
    if (byte === RAW_PASTE[asked.length]) {
      asked.push(byte);
      if (asked.length === RAW_PASTE.length) {
        asked = [];
        process.stdout.write(Buffer.from("R\x00")); // understood, not supported
      }
      continue;
    }
    for (const b of asked) feed(b);
    asked = [];
    feed(byte);
  }
});
process.stdin.on("end", () => process.exit(0));
