'use strict';
// A Node.js process started ahead of need (runtimes/pool.py): `node _waiter.js`, run as the
// action user with the stdio pipes of the task it will serve. Once booted it says so on fd 3, then
// blocks until the worker writes "<length>\n<json {path, argv, cwd, env}>" on stdin, then becomes
// that action as `node <path>` would: argv, environment (exactly the request's), cwd, then the
// entry script run as the main module by Node's own entry point (CommonJS, or ESM for .mjs /
// "type": "module"). Whatever the worker sends after the header stays unread in the pipe for the
// action's process.stdin. Nothing here touches globalThis or process.stdin, and the waiter leaves
// require.cache, so nothing of it is visible to the action, except that process.emit is wrapped
// to say "exit N" on the ready pipe once the action exits (see pool.SelfReporting).
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
const net = require('net');
const { PassThrough } = require('stream');
require('tty');
const util = require('util');

delete require.cache[__filename]; // not among the action's modules

// Rehearsed while waiting, on throwaway objects of our own: the stream, socket and console code
// an action's first use of process.stdin, process.stdout and console.log runs. V8 compiles each
// function on its first call; that took ~4 ms of each task's critical path on the benchmark VM,
// half of a pooled fibo(10) task's whole run. Ready only once it is done: the event loop must be
// idle before we block in readHeader.
function rehearse(then) {
  const sink = new PassThrough();
  sink.setEncoding('utf8');
  sink.on('data', () => {});
  sink.on('end', () => setImmediate(then));
  new net.Socket({ readable: true, writable: false, manualStart: true }).destroy();
  // What console.log formats with; not a Console itself: its first log reads process.stderr.
  sink.end(util.format('%s %d %j', 'ready', 1, { ok: [true] }, { ok: [true] }));
}

let status = null; // the ready pipe, kept to say "exit N" (see serve)
let dev;
let ino;
rehearse(serve);

function serve() {
  fs.writeSync(3, 'r'); // ready (the worker waits for this before it hands a task over)
  // Kept to say "exit N" as the action exits: the worker then need not wait for the kernel to tear
  // down ~40 MB of node before the starter can report it. Reopened close-on-exec, so the action's
  // own child processes do not inherit it.
  try {
    status = fs.openSync('/proc/self/fd/3', 'w');
  } catch {
    // not ours to reopen: the starter's report is the only one
  }
  fs.closeSync(3);
  if (status !== null) ({ dev, ino } = fs.fstatSync(status));
  const request = readHeader();
  process.chdir(request.cwd);
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, request.env);
  process.argv = request.argv;
  // Told once every 'exit' listener has run (they may still set process.exitCode), unless one of
  // them threw or called process.exit, or an uncaught exception ends the process (node prints it
  // after 'exit'): then the starter's report is the only one.
  const emit = process.emit;
  let fatal = false;
  process.emit = function (event, ...args) {
    const handled = emit.call(this, event, ...args);
    if (event === 'uncaughtException' && !handled) fatal = true;
    if (event === 'exit' && process._exiting && !fatal) tellExit();
    return handled;
  };

  function tellExit() {
    if (status === null) return;
    try {
      const now = fs.fstatSync(status);
      if (now.dev !== dev || now.ino !== ino) return; // the action closed it and the number came back
      const code = (Number(process.exitCode) || 0) & 0xff;
      for (const fd of [0, 1, 2]) fs.closeSync(fd); // EOF for the worker now, not after the teardown
      fs.writeSync(status, `exit ${code}`);
    } catch {
      // the starter's report still comes
    }
  }

  setImmediate(Module.runMain, request.path); // from the event loop: no frame of ours in its stack traces
}
