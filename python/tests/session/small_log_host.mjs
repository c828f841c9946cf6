// A host whose store keeps only the last three commits in its event log (argv: the built
// index.js, the listen address): a watch that starts or resumes before them is answered
// `compacted`. Used by test_watch_edges.py's fixture, and started once for a whole mutation
// run by scripts/mutation.mjs.
const [index, listen] = process.argv.slice(2);
const { Bridge } = await import(index);
const bridge = await Bridge.start({ workers: 1, preload: [], store: { eventLogLimit: 3 }, bridgeService: { listen } });
process.once("SIGTERM", () => bridge.close().then(() => process.exit(0)));
console.log(JSON.stringify({ event: "ready", address: bridge.address }));
