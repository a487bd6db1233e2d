#!/usr/bin/env node
// Runs Qiyas code under real MicroPython: the WebAssembly port from npm, loaded into Node.js.
//
//   node tests/mpy/run.mjs [options] [SELECTOR...]      run plain test_* functions
//   node tests/mpy/run.mjs [options] --script FILE.py   run one script (and the .py/.json
//                                                       files beside it are in /script)
//
// SELECTOR is a test file (tests/core/test_cbor.py), a module name (test_cbor) or one test
// (test_cbor::test_dumps_vectors); none means every test_*.py in the test folder.
// Options:
//   --tests DIR   folder of test modules, copied to /tests and put on sys.path (default tests/core)
//   --lib DIR     another repository folder importable under its own name (repeatable); agent/core
//                 is always there (agent/ itself only as an empty package: the rest is Linux code)
//   --bundle DIR  a `qiyas firmware build` bundle: its lib/ becomes /lib, instead of the sources
//   --heap BYTES  initial MicroPython heap (default 8 MiB); this port grows it on demand, so it
//                 does not stand for a board's limit
//
// Output: driver.py's lines (PASS/FAIL/SUMMARY); exit 0 when all passed, 1 on a failure,
// 2 on bad usage.
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve, basename } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const portPath = join(
  here,
  "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs",
);

function usage(message) {
  process.stderr.write(`run.mjs: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    tests: "tests/core",
    libs: [],
    bundle: null,
    heap: 8 * 1024 * 1024,
    script: null,
    selectors: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--tests") opts.tests = value();
    else if (arg === "--lib") opts.libs.push(value());
    else if (arg === "--script") opts.script = value();
    else if (arg === "--bundle") opts.bundle = value();
    else if (arg === "--heap") {
      opts.heap = Number(value());
      if (!Number.isInteger(opts.heap) || opts.heap < 16384) usage("--heap must be bytes >= 16384");
    } else if (arg.startsWith("--")) usage(`unknown option ${arg}`);
    else opts.selectors.push(arg);
  }
  return opts;
}

// Copies a host folder into the wasm filesystem: Python sources and small data files.
function copyTree(FS, src, dest) {
  FS.mkdirTree(dest);
  for (const name of readdirSync(src)) {
    if (name === "__pycache__" || name === "node_modules" || name.startsWith(".")) continue;
    const from = join(src, name);
    const to = `${dest}/${name}`;
    if (statSync(from).isDirectory()) copyTree(FS, from, to);
    else if (/\.(py|mpy|json|txt|bin|cbor|version)$/.test(name)) FS.writeFile(to, readFileSync(from));
  }
}

function moduleOf(selector) {
  // tests/core/test_cbor.py[::test] → test_cbor[::test]
  const [file, test] = selector.split("::");
  const mod = basename(file).replace(/\.py$/, "");
  return test ? `${mod}::${test}` : mod;
}

const opts = parseArgs(process.argv.slice(2));
if (!existsSync(portPath)) usage(`MicroPython wasm port missing at ${portPath}: run scripts/setup`);
const testsDir = resolve(repo, opts.tests);

const { loadMicroPython } = await import(portPath);
const mp = await loadMicroPython({
  heapsize: opts.heap,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

if (opts.bundle) {
  const lib = join(resolve(process.cwd(), opts.bundle), "lib");
  if (!existsSync(lib)) usage(`--bundle ${opts.bundle} has no lib/ folder`);
  copyTree(mp.FS, lib, "/lib");
} else {
  mp.FS.mkdirTree("/lib/agent");
  mp.FS.writeFile("/lib/agent/__init__.py", "");
  copyTree(mp.FS, join(repo, "agent", "core"), "/lib/agent/core");
}
for (const lib of opts.libs) {
  const src = resolve(repo, lib);
  if (!existsSync(src)) usage(`--lib ${lib} does not exist`);
  copyTree(mp.FS, src, `/lib/${relative(repo, src)}`);
}

let failed;
try {
  if (opts.script) {
    const script = resolve(process.cwd(), opts.script);
    if (!existsSync(script)) usage(`--script ${opts.script} does not exist`);
    // The script and the data files beside it (not sub-folders: the script may live in /tmp).
    mp.FS.mkdirTree("/script");
    for (const name of readdirSync(dirname(script))) {
      const from = join(dirname(script), name);
      if (/\.(py|json)$/.test(name) && statSync(from).isFile()) {
        mp.FS.writeFile(`/script/${name}`, readFileSync(from));
      }
    }
    mp.runPython(`import sys\nsys.path.insert(0, "/script")\n__file__ = "/script/${basename(script)}"`);
    mp.runPython(readFileSync(script, "utf8"));
    failed = 0;
  } else {
    if (!existsSync(testsDir)) usage(`test folder ${opts.tests} does not exist`);
    copyTree(mp.FS, testsDir, "/tests");
    mp.FS.writeFile("/lib/qiyas_mpy_driver.py", readFileSync(join(here, "driver.py")));
    const selectors = opts.selectors.length
      ? opts.selectors.map(moduleOf)
      : readdirSync(testsDir)
          .filter((n) => /^test_.*\.py$/.test(n))
          .sort()
          .map(moduleOf);
    mp.runPython(
      `import sys\nsys.path.insert(0, "/tests")\nimport qiyas_mpy_driver\n` +
        `_failed = qiyas_mpy_driver.main(${JSON.stringify(selectors)})`,
    );
    failed = mp.globals.get("_failed");
  }
} catch (err) {
  // An exception that escaped Python (a script's uncaught error, or the driver itself).
  process.stderr.write(`${err.message ?? err}\n`);
  process.exit(1);
}
process.exit(failed ? 1 : 0);
