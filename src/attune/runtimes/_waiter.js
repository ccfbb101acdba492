'use strict';
// A Node.js process started ahead of need (runtimes/pool.py): `node _waiter.js`, run as the
// action user with the stdio pipes of the task it will serve. Once booted it says so on fd 3, then
// blocks until the worker writes "<length>\n<json {path, argv, cwd, env}>" on stdin, then becomes
// that action as `node <path>` would: argv, environment (exactly the request's), cwd, then the
// entry script run as the main module by Node's own entry point (CommonJS, or ESM for .mjs /
// "type": "module"). Whatever the worker sends after the header stays unread in the pipe for the
// action's process.stdin. Nothing here touches globalThis or process.stdin, and the waiter leaves
// require.cache, so nothing of it is visible to the action.
const fs = require('fs');
const Module = require('module');

function readExact(length) {
  const buf = Buffer.alloc(length);
  for (let got = 0; got < length;) {
    const n = fs.readSync(0, buf, got, length - got, null);
    if (n === 0) process.exit(0); // the worker let this waiter go unused
    got += n;
  }
  return buf;
}

function readHeader() {
  let line = '';
  for (;;) { // byte by byte: not one byte of the action's stdin may be consumed here
    const ch = readExact(1).toString('latin1');
    if (ch === '\n') return JSON.parse(readExact(Number(line)).toString('utf8'));
    line += ch;
  }
}

// Preloaded while waiting (Node's internal module cache, no globals): what process.stdin/stdout
// need when the action first touches them.
require('net');
require('stream');
require('tty');

delete require.cache[__filename]; // not among the action's modules

fs.writeSync(3, 'r'); // ready (the worker waits for this before it hands a task over)
fs.closeSync(3);
const request = readHeader();
process.chdir(request.cwd);
for (const name of Object.keys(process.env)) delete process.env[name];
Object.assign(process.env, request.env);
process.argv = request.argv;
setImmediate(Module.runMain, request.path); // from the event loop: no frame of ours in its stack traces
