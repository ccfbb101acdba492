// Reads JSON parameters from stdin and echoes them back with the node version.
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const params = JSON.parse(input || "{}");
  console.log(JSON.stringify({ ...params, runtime: "node" }));
});
