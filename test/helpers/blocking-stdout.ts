// Preloaded into every test file's process (`npm test`: node --import). Node's test runner streams each file's
// results to the parent over the child's stdout, a pipe whose writes are asynchronous on Linux; with
// --test-force-exit the child's process.exit() can drop the last results still buffered, and the parent
// reports fewer tests than ran, with no failure (nodejs/node#64833: a CI run here reported 410 of 416, the
// last six of names.test.js missing). Blocking writes leave nothing buffered at exit (the fix proposed
// upstream, nodejs/node#64875, does the same on force exit).
const handle = (process.stdout as unknown as { _handle?: { setBlocking?: (on: boolean) => void } })._handle;
handle?.setBlocking?.(true);
